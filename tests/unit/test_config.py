"""Settings are checked at start-up: a wrong value names the key, the value and what was expected."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mailbot.config import REPO_ROOT, ConfigError, build_settings, load_settings

ENV = {"MAILBOT_MAILBOX__PASSWORD": "secret"}
BASE = {"mailbox": {"user": "mailbot@example.test"}}


def build(data: dict[str, dict[str, object]], env: dict[str, str] | None = None) -> object:
    return build_settings(data, ENV if env is None else env, REPO_ROOT / "config" / "mailbot.toml")


@pytest.mark.parametrize(("data", "env", "needle"), [
    ({"mailbox": {"user": "x@y.z", "hots": "a"}}, ENV, "mailbox.hots: unknown key"),
    ({"mailbox": {"user": "x@y.z", "port": "993"}}, ENV, "mailbox.port: got '993', expected a whole number"),
    ({"mailbox": {"user": "x@y.z"}, "smtpp": {}}, ENV, "smtpp: unknown section"),
    ({"mailbox": {"user": "x@y.z"}}, {}, "mailbox.password: missing secret"),
    ({"mailbox": {"user": "x@y.z", "password": "p"}}, ENV, "secrets do not belong in the file"),
    ({"mailbox": {"user": "x@y.z", "tls": "maybe"}}, ENV, "mailbox.tls: got 'maybe'"),
    ({"mailbox": {"user": "x@y.z", "host": "imap.un.org", "tls": "none"}}, ENV,
     "plain text is allowed only for loopback hosts"),
    ({"mailbox": {"user": "x@y.z"}, "smtp": {"user": "bot"}}, ENV, "smtp.password: missing secret"),
    ({"mailbox": {"user": "x@y.z"}, "policy": {"mask_addresses": "yes"}}, ENV,
     "policy.mask_addresses: unknown key"),
    ({"mailbox": {"user": "x@y.z"}, "desk": {"mask_addresses": "yes"}}, ENV,
     "desk.mask_addresses: got 'yes', expected true or false"),
    ({"mailbox": {"user": "x@y.z"}, "smtp": {"from_address": "not an address"}}, ENV,
     "smtp.from_address: got 'not an address'"),
    ({"mailbox": {"user": "x@y.z"}}, {**ENV, "MAILBOT_SMTP__PORT": "abc"},
     "smtp.port: got 'abc', expected a whole number"),
    ({"mailbox": {"user": "x@y.z"}}, {**ENV, "MAILBOT_SMTP__PROT": "25"}, "MAILBOT_SMTP__PROT: unknown key"),
    ({"mailbox": {"user": "x@y.z"}, "policy": {"cycle_deadline": "2028-13-01", "cycle_session": 83,
                                               "cycle_opens_on": "2026-12-01"}}, ENV,
     "policy.cycle_deadline: got '2028-13-01'"),
])
def test_wrong_settings_name_the_key(data: dict[str, dict[str, object]], env: dict[str, str],
                                     needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        build(data, env)
    assert needle in str(err.value)


def test_environment_overrides_and_password_file(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("from-file\n")
    s = build({"mailbox": {"user": "x@y.z", "password_file": str(secret)}},
              {"MAILBOT_SMTP__PORT": "2525", "MAILBOT_DESK__AUTHSERV_IDS": "mx1.un.org, mx2.un.org",
               "MAILBOT_DESK__MASK_ADDRESSES": "true"})
    assert s.mailbox.password == "from-file"  # type: ignore[attr-defined]
    assert s.smtp.port == 2525  # type: ignore[attr-defined]
    assert s.desk.authserv_ids == ("mx1.un.org", "mx2.un.org")  # type: ignore[attr-defined]
    assert s.desk.mask_addresses is True  # type: ignore[attr-defined]
    assert "from-file" not in repr(s)  # secrets never show in logs or tracebacks


def test_missing_password_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"mailbox\.password_file: cannot read"):
        build({"mailbox": {"user": "x@y.z", "password_file": str(tmp_path / "nope")}}, {})


def test_settings_are_frozen() -> None:
    s = build(BASE)
    with pytest.raises(AttributeError):
        s.smtp = None  # type: ignore[attr-defined]


def test_shipped_config_loads_with_only_the_secret() -> None:
    s = load_settings(REPO_ROOT / "config" / "mailbot.toml", ENV)
    assert s.database_url.startswith("sqlite:///") and s.policy.reasonable_period_days == 90


def test_cli_fails_at_start_up_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[mailbox]\nuser = "x@y.z"\nport = "nine"\n')
    proc = subprocess.run([sys.executable, "-m", "mailbot", "--config", str(bad), "run", "--once"],
                          capture_output=True, text=True, env={"MAILBOT_MAILBOX__PASSWORD": "x",
                                                               "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 2
    assert "mailbox.port: got 'nine', expected a whole number" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_states_import_names_the_bad_entry(tmp_path: Path) -> None:
    bad = tmp_path / "focal.toml"
    bad.write_text('[[focal_point]]\nstate = "FRA"\naddress = "fp.fra@example.test"\n\n'
                   '[[focal_point]]\nstate = "XYZ"\naddress = "fp.xyz@example.test"\n\n'
                   '[[focal_point]]\nstate = "DEU"\naddress = "not an address"\n')
    env = {"PATH": "/usr/bin:/bin", "MAILBOT_STORAGE__DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.run([sys.executable, "-m", "mailbot", "states", "import", str(bad)],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 2, proc.stderr
    assert "unknown State 'XYZ' in focal_point #2" in proc.stderr
    assert "focal_point #3" in proc.stderr and "Traceback" not in proc.stderr
    listed = subprocess.run([sys.executable, "-m", "mailbot", "states", "list"],
                            capture_output=True, text=True, env=env)
    assert listed.returncode == 0 and "FRA  fr  France" in listed.stdout
    assert len(listed.stdout.splitlines()) == 195


def test_every_problem_at_once_with_the_file_and_a_suggestion() -> None:
    with pytest.raises(ConfigError) as err:
        build({"mailbox": {"user": "x@y.z", "poll_intervall": 60, "port": "nine"},
               "policy": {"max_reminders": "3"}})
    lines = str(err.value).splitlines()
    assert len(lines) == 3
    assert all(line.startswith(str(REPO_ROOT / "config" / "mailbot.toml") + ": ") for line in lines)
    assert "mailbox.poll_intervall: unknown key; did you mean poll_interval?" in lines[0]
    assert "mailbox.port: got 'nine'" in str(err.value)
    assert "policy.max_reminders: got '3'" in str(err.value)


def test_a_misspelt_environment_variable_is_named_with_a_suggestion() -> None:
    with pytest.raises(ConfigError, match=r"MAILBOT_MAILBOX__POLL_INTERVALL: unknown key "
                                          r"mailbox.poll_intervall; did you mean poll_interval\?"):
        build(BASE, {**ENV, "MAILBOT_MAILBOX__POLL_INTERVALL": "60"})


def test_commands_that_only_queue_mail_need_no_secret() -> None:
    settings = build_settings(BASE, {}, REPO_ROOT / "config" / "mailbot.toml", secrets=False)
    assert settings.mailbox.password == ""
    with pytest.raises(ConfigError, match=r"mailbox\.password: missing secret"):
        build_settings(BASE, {}, REPO_ROOT / "config" / "mailbot.toml")
    with pytest.raises(ConfigError, match=r"mailbox\.tls"):  # the other checks still run
        build_settings({"mailbox": {"tls": "maybe"}}, {}, REPO_ROOT / "config" / "mailbot.toml",
                       secrets=False)
