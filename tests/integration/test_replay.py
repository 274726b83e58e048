"""Quarantine and replay on the real mail stack: a parked message is filed later and moved."""

from __future__ import annotations

import json

from desk import Desk
from test_e2e_filing import FRA, violation_form


def test_quarantined_report_is_replayed_filed_and_moved(desk: Desk) -> None:
    desk.send(FRA, violation_form(desk), "Report with photographs",
              attachments=[("gate.pdf", "application/pdf", b"%PDF-1.4 photographs")])
    strict = {**desk.env, "MAILBOT_POLICY__BLOCKED_EXTENSIONS": "exe,pdf"}
    desk.cli("run", "--once", env=strict)
    rows = json.loads(desk.cli("messages", "list", "--status", "quarantined", "--json").stdout)
    assert len(rows) == 1 and ".pdf are not accepted" in rows[0]["reason"]
    assert desk.stack.folder_counts("mailbot@example.test")["Quarantine"] == 1
    held = desk.stack.wait_for(FRA, 1)  # the sender learns what to fix
    assert len(held) == 1 and b"not accepted" in held[0].replace(b"=\r\n", b"")
    assert len(desk.stack.wait_for("secretariat@example.test", 1)) == 1  # and the Secretariat sees it

    out = desk.cli("messages", "replay", str(rows[0]["id"])).stdout
    assert "processed" in out and "moved to processed" in out
    counts = desk.stack.folder_counts("mailbot@example.test")
    assert counts["Quarantine"] == 0 and counts["Processed"] == 1
    shown = json.loads(desk.cli("messages", "show", str(rows[0]["id"]), "--json").stdout)
    assert shown["incident"] and shown["attachments"][0]["verdict"] == "ok"
    desk.run_once()
    assert len(desk.stack.wait_for(FRA, 2)) == 2  # then the acknowledgement, once

    again = desk.cli("messages", "replay", str(rows[0]["id"]), check=False)
    assert again.returncode == 2 and "filed already" in again.stderr
