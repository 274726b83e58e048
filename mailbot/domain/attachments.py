"""Attachment policy: which attachments the desk accepts, and which it quarantines.

Pure rules applied by intake to every attachment before anything is filed:
executables (by extension or by type), archives that contain executables,
and attachments over the size limits are refused; the message that carries
them is quarantined for the Secretariat, never silently dropped.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass

EXECUTABLE_TYPES = frozenset({
    "application/x-msdownload", "application/x-msdos-program", "application/x-executable",
    "application/x-dosexec", "application/vnd.microsoft.portable-executable",
    "application/x-sh", "application/x-bat", "application/hta", "application/x-ms-installer",
    "application/x-msi", "application/java-archive",
})
ARCHIVE_EXTENSIONS = frozenset({"zip", "jar", "docm", "xlsm"})
MAX_ARCHIVE_MEMBERS = 10_000


@dataclass(frozen=True)
class AttachmentVerdict:
    verdict: str  # ok | blocked | too_large
    reason: str = ""


def extension(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def _zip_members(data: bytes) -> list[str] | None:
    """Member names of a ZIP archive given as bytes, or None when it is not a readable ZIP."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return [info.filename for info in zf.infolist()[:MAX_ARCHIVE_MEMBERS]]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        return None


def judge(
    name: str,
    content_type: str,
    data: bytes,
    *,
    blocked_extensions: Sequence[str],
    max_size: int,
) -> AttachmentVerdict:
    """The verdict on one attachment under the configured limits."""
    blocked = {e.lower().lstrip(".") for e in blocked_extensions}
    ext = extension(name)
    if len(data) > max_size:
        return AttachmentVerdict("too_large", f"{name}: {len(data)} bytes, over the limit of {max_size}")
    if ext in blocked:
        return AttachmentVerdict("blocked", f"{name}: files of type .{ext} are not accepted")
    if content_type.lower() in EXECUTABLE_TYPES or data[:2] == b"MZ" or data[:4] == b"\x7fELF":
        return AttachmentVerdict("blocked", f"{name}: executable content is not accepted")
    if ext in ARCHIVE_EXTENSIONS or content_type.lower() in ("application/zip",
                                                            "application/x-zip-compressed"):
        members = _zip_members(data)
        for member in members or ():
            if extension(member) in blocked:
                return AttachmentVerdict(
                    "blocked", f"{name}: the archive contains {member!r}, an executable type"
                )
    return AttachmentVerdict("ok")
