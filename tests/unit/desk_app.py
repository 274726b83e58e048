"""Shared by the unit tests that run the pipeline without sockets: a migrated desk on a temp dir."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mailbot.config import REPO_ROOT, build_settings
from mailbot.service.admin import db_upgrade, import_states
from mailbot.service.app import App


def desk_app(data_dir: Path, **sections: dict[str, Any]) -> App:
    """An App on the shipped configuration, its data in ``data_dir``, schema and States in place.

    ``sections`` override configuration sections (``smtp={...}``, ``policy={...}``).
    """
    data: dict[str, dict[str, Any]] = {
        "mailbox": {"host": "127.0.0.1", "tls": "none", "user": "mailbot@example.test"},
        "smtp": {"host": "127.0.0.1", "tls": "none"},
        "storage": {"data_dir": str(data_dir)},
        "desk": {"authserv_ids": ["mx.example.test"]},  # our receiving server (see as_received)
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    settings = build_settings(data, {"MAILBOT_MAILBOX__PASSWORD": "x"},
                              REPO_ROOT / "config" / "mailbot.toml")
    app = App(settings)
    db_upgrade(app)
    import_states(app)
    return app


MX = "mx.example.test"


def as_received(raw: bytes, dmarc: str = "pass") -> bytes:
    """``raw`` as our receiving server hands it over: its ``Authentication-Results`` on top,
    with ``dmarc`` (pass by default) for the From domain, so the desk holds the sender proven."""
    from email.parser import BytesHeaderParser
    from email.utils import parseaddr

    sender = parseaddr(str(BytesHeaderParser().parsebytes(raw).get("From", "")))[1]
    domain = sender.rpartition("@")[2] or "unknown.invalid"
    return f"Authentication-Results: {MX}; dmarc={dmarc} header.from={domain}\r\n".encode() + raw
