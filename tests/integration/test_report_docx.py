"""The report's DOCX opens in LibreOffice: converted to PDF headless, the PDF has its pages.

LibreOffice Writer is installed with apt-get when ``soffice`` is missing
(Debian package ``libreoffice-writer-nogui``, else ``libreoffice-writer``);
the test fails, never skips, when it cannot be installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pypdf import PdfReader

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "unit"))

from test_report import ISSUED, SECRET, build_database

from mailbot.service.report import build_report_docx

PACKAGES = ("libreoffice-writer-nogui", "libreoffice-writer")


def _apt(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(["apt-get", *args], capture_output=True, text=True, env=env,
                          timeout=1800, check=False)


def _candidate(package: str) -> bool:
    out = subprocess.run(["apt-cache", "policy", package], capture_output=True, text=True,
                         check=False).stdout
    return "Candidate:" in out and "Candidate: (none)" not in out


def ensure_soffice() -> str:
    """The path of ``soffice``, installing LibreOffice Writer if needed; fails if it cannot."""
    found = shutil.which("soffice")
    if found:
        return found
    if shutil.which("apt-get") is None:
        pytest.fail("soffice is missing and apt-get is not available to install LibreOffice")
    update = _apt("update")
    if update.returncode != 0:
        pytest.fail(f"apt-get update failed:\n{update.stderr[-2000:]}")
    package = next((p for p in PACKAGES if _candidate(p)), None)
    if package is None:
        pytest.fail(f"none of {', '.join(PACKAGES)} is available from apt")
    install = _apt("install", "-y", "--no-install-recommends", package)
    found = shutil.which("soffice")
    if install.returncode != 0 or not found:
        pytest.fail(f"apt-get install {package} failed:\n{install.stderr[-2000:]}")
    return found


@pytest.mark.slow
def test_report_docx_converts_to_pdf(tmp_path: Path) -> None:
    soffice = ensure_soffice()
    filed = build_database(tmp_path / "db", count_confidential=True)
    name, data = build_report_docx(filed.sessions, filed.settings, 83, False, issued_on=ISSUED)
    docx = tmp_path / name
    docx.write_bytes(data)
    out = tmp_path / "pdf"
    profile = tmp_path / "lo-profile"
    started = time.monotonic()
    result = subprocess.run(
        [soffice, f"-env:UserInstallation=file://{profile}", "--headless", "--norestore",
         "--convert-to", "pdf", "--outdir", str(out), str(docx)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    elapsed = time.monotonic() - started
    pdf = out / (docx.stem + ".pdf")
    assert result.returncode == 0, result.stderr
    assert pdf.exists(), f"no PDF after {elapsed:.1f} s: {result.stdout} {result.stderr}"
    reader = PdfReader(pdf)
    assert len(reader.pages) >= 3
    text = "\n".join(page.extract_text() or "" for page in reader.pages)
    assert "Report of the Secretary-General" in text
    assert "Vienna Convention on Diplomatic Relations" in text
    assert "Marseille" in text
    assert SECRET not in text
    print(f"soffice conversion: {elapsed:.2f} s, {len(reader.pages)} pages")
