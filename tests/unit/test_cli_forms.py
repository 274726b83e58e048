"""``mailbot forms show|check`` as a user runs them: no mailbox, no password needed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

FORMS = Path(__file__).resolve().parents[1] / "fixtures" / "forms"
ENV = {"PATH": "/usr/bin:/bin"}


def mailbot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mailbot", *args], capture_output=True, text=True,
                          env=ENV, timeout=60)


def test_check_reads_a_valid_form_as_intake_does() -> None:
    out = mailbot("forms", "check", str(FORMS / "gmail_alternative.eml"))
    assert out.returncode == 0, out.stderr
    assert "Sender State:  " in out.stdout and "No problems." in out.stdout


def test_check_lists_every_problem_with_suggestions() -> None:
    out = mailbot("forms", "check", str(FORMS / "err_unknown_state.eml"))
    assert out.returncode == 1
    assert out.stdout.count("[unknown_state]") == 2 and "Did you mean France?" in out.stdout


def test_check_of_a_missing_file_is_one_line() -> None:
    out = mailbot("forms", "check", "/nonexistent.eml")
    assert out.returncode == 2 and "cannot read" in out.stderr and "Traceback" not in out.stderr


def test_show_prints_the_form_in_french() -> None:
    out = mailbot("forms", "show", "violation", "--lang", "fr")
    assert out.returncode == 0 and out.stdout.startswith("RAPPORT DE VIOLATION")
