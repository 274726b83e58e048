"""``mailbot check`` against the real mail stack: one clear line per component, no tracebacks."""

from __future__ import annotations

import socket

from desk import Desk


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def check(desk: Desk, **env: str) -> tuple[int, str]:
    proc = desk.cli("check", check=False, env={**desk.env, **env})
    assert "Traceback" not in proc.stdout + proc.stderr
    return proc.returncode, proc.stdout


def test_every_component_passes(desk: Desk) -> None:
    code, out = check(desk)
    lines = out.strip().splitlines()
    assert code == 0, out
    assert [line.split()[1] for line in lines] == ["config", "mailbox", "smtp", "database"]
    assert all(line.startswith("ok") for line in lines)
    assert "IDLE" in out


def test_wrong_password(desk: Desk) -> None:
    code, out = check(desk, MAILBOT_MAILBOX__PASSWORD="wrong")
    assert code == 1
    assert "FAIL  mailbox" in out and "login refused" in out


def test_closed_port(desk: Desk) -> None:
    port = str(free_port())
    code, out = check(desk, MAILBOT_MAILBOX__PORT=port, MAILBOT_SMTP__PORT=port)
    assert code == 1
    assert "FAIL  mailbox" in out and "connection refused" in out
    assert "FAIL  smtp" in out


def test_bad_tls_setting(desk: Desk) -> None:
    # implicit TLS against the STARTTLS port, and a CA that did not sign the server's certificate
    code, out = check(desk, MAILBOT_MAILBOX__TLS="tls",
                      MAILBOT_SMTP__CA_FILE="/etc/ssl/certs/ca-certificates.crt")
    assert code == 1
    assert "FAIL  mailbox" in out and "TLS" in out
    assert "FAIL  smtp" in out


def test_database_not_upgraded(desk: Desk, tmp_path_factory: object) -> None:
    code, out = check(desk, MAILBOT_STORAGE__DATA_DIR=str(desk.root / "elsewhere"))
    assert code == 1 and "FAIL  database" in out and "mailbot db upgrade" in out
