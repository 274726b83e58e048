"""The command line as a newcomer meets it: fast help, one clear line for each error, no
database created by looking, readable listings, ``--json`` everywhere."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mailbot.cli.inspect import parties_text
from mailbot.cli.time import obligation_line

FORMS = Path(__file__).resolve().parents[1] / "fixtures" / "forms"
ENV = {"PATH": "/usr/bin:/bin"}


def mailbot(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mailbot", *args], capture_output=True, text=True,
                          env=env or ENV, timeout=60, check=False)


def test_help_imports_neither_the_database_nor_the_mail_stack() -> None:
    code = ("import sys, contextlib\nfrom mailbot.cli import main\n"
            "with contextlib.suppress(SystemExit):\n    main(['--help'])\n"
            "print(sorted(m for m in ('sqlalchemy', 'alembic', 'imapclient', 'jinja2', "
            "'mailbot.domain.forms') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV,
                          timeout=60, check=True)
    assert proc.stdout.splitlines()[-1] == "[]"


def test_a_database_without_schema_is_one_line_and_no_file_is_created(tmp_path: Path) -> None:
    config = tmp_path / "mailbot.toml"
    config.write_text('[storage]\ndata_dir = "data"\n', encoding="utf-8")
    for args in (("incidents", "list"), ("obligations", "list"), ("messages", "show", "1")):
        proc = mailbot("--config", str(config), *args)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr == "mailbot: the database has no schema: run 'mailbot db upgrade'\n"
    assert not (tmp_path / "data").exists()


def test_an_sqlite_file_without_tables_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "mailbot.db").write_bytes(b"")
    config = tmp_path / "mailbot.toml"
    config.write_text('[storage]\ndata_dir = "data"\n', encoding="utf-8")
    proc = mailbot("--config", str(config), "incidents", "list")
    assert proc.returncode == 2
    assert proc.stderr == "mailbot: the database has no schema: run 'mailbot db upgrade'\n"


def test_a_listing_cut_short_by_its_reader_is_one_line() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "mailbot", "states", "list"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # as `| head` does once it has read enough
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 1
    assert err.splitlines()[-1] == "mailbot: the output was closed before the end"
    assert "Traceback" not in err


def test_configuration_problems_come_all_at_once(tmp_path: Path) -> None:
    config = tmp_path / "mailbot.toml"
    config.write_text('[mailbox]\npoll_intervall = 60\nport = "x"\n', encoding="utf-8")
    proc = mailbot("--config", str(config), "incidents", "list")
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert lines == [
        f"mailbot: {config}: mailbox.poll_intervall: unknown key; did you mean poll_interval?",
        f"mailbot: {config}: mailbox.port: got 'x', expected a whole number"]


def test_commands_that_only_queue_mail_do_not_ask_for_the_password(tmp_path: Path) -> None:
    env = {**ENV, "MAILBOT_STORAGE__DATA_DIR": str(tmp_path / "data")}
    assert mailbot("db", "upgrade", env=env).returncode == 0
    proc = mailbot("cycle", "open", "--session", "83", "--deadline", "2099-05-15", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "circular note queued for 0 States" in proc.stdout
    run = mailbot("run", "--once", env=env)
    assert run.returncode == 2 and "mailbox.password: missing secret" in run.stderr


def test_states_list_and_forms_check_print_json() -> None:
    states = json.loads(mailbot("states", "list", "--json").stdout)
    assert {"code": "FRA", "language": "fr", "name": "France", "observer": False} in states
    proc = mailbot("forms", "check", str(FORMS / "err_unknown_state.eml"), "--json")
    assert proc.returncode == 1
    checked = json.loads(proc.stdout)
    assert checked["ok"] is False and [p["code"] for p in checked["problems"]].count("unknown_state") == 2


def test_listings_read_in_words() -> None:
    assert parties_text([{"role": "reporting", "state": "FRA", "organization": None},
                         {"role": "host", "state": "KEN", "organization": None}]) == \
        "FRA (reporting), KEN (host)"
    row = obligation_line({"id": 3, "incident": "DCM-2027-0001", "state": "KEN", "role": "host",
                           "paragraph": "10b", "status": "open", "due_at": "2027-03-06 12:00:00",
                           "overdue": True, "reminders_sent": 1,
                           "next_action_at": "2027-04-05 12:00:00",
                           "would_send": "reminder:3:2@2027-03-06"})
    assert row == {"id": 3, "incident": "DCM-2027-0001", "state": "KEN (host)",
                   "owes": "report on measures (10 (b)), due 6 March 2027",
                   "reminders": "1 reminder sent", "status": "overdue", "next": "reminder 2 now"}
