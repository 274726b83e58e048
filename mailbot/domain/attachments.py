"""Attachment policy: which attachments the desk accepts, and which it quarantines.

Pure rules applied by intake to every attachment before anything is filed:
executables (by extension, by type or by their first bytes), names made to
deceive (direction overrides and other invisible characters, an executable
extension hidden before another one or behind trailing dots), archives
that contain any of these at any depth, archives the desk cannot look into
safely (too deep, too many members, too large once unpacked, compressed
beyond any honest ratio, encrypted or unreadable), and attachments over the
size limits are refused; the message that carries them is quarantined for
the Secretariat, never silently dropped.

Names are judged as the sender gave them, in full, before any shortening
for storage.  An archive's table of contents is checked before anything in
it is unpacked, and only nested archives are unpacked, each within the
limits left.
"""

from __future__ import annotations

import io
import unicodedata
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass

EXECUTABLE_TYPES = frozenset({
    "application/x-msdownload", "application/x-msdos-program", "application/x-executable",
    "application/x-dosexec", "application/vnd.microsoft.portable-executable",
    "application/x-sh", "application/x-bat", "application/hta", "application/x-ms-installer",
    "application/x-msi", "application/java-archive",
})
ZIP_TYPES = frozenset({"application/zip", "application/x-zip-compressed", "application/x-zip"})
#: ZIP containers whose members are inspected (Office files are ZIPs with macros inside)
ARCHIVE_EXTENSIONS = frozenset({"zip", "jar", "docm", "xlsm", "pptm", "docx", "xlsx", "pptx"})
#: archives the desk cannot look into: refused rather than passed on unseen
OPAQUE_ARCHIVES = frozenset({"rar", "7z", "ace", "arj", "cab", "lzh", "tar", "tgz", "gz", "bz2", "xz",
                             "z", "zst"})
EXECUTABLE_MAGIC = (b"MZ", b"\x7fELF", b"\xca\xfe\xba\xbe", b"\xcf\xfa\xed\xfe")
#: how many dot-separated parts before the last one are checked ("invoice.pdf.exe" and
#: "invoice.exe.pdf" both carry an executable extension)
INNER_EXTENSIONS = 3


@dataclass(frozen=True)
class ArchiveLimits:
    """What the desk unpacks of an archive before it refuses it (settings: ``policy.archive_*``)."""

    max_depth: int = 3  # archives inside archives
    max_members: int = 10_000
    max_unpacked: int = 200 * 1024 * 1024  # bytes, all members at every depth together
    max_ratio: int = 100  # unpacked / packed size of one member


@dataclass(frozen=True)
class AttachmentVerdict:
    verdict: str  # ok | blocked | too_large
    reason: str = ""


class _Refused(Exception):
    """An archive's member (or the archive itself) breaks the policy: the reason."""


def extension(name: str) -> str:
    """The last extension, lower-case, of a name as Windows reads it (trailing dots and spaces
    dropped)."""
    name = name.rstrip(". ")
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def _extensions(name: str) -> list[str]:
    parts = name.rstrip(". ").lower().split(".")[1:]
    return [p.strip() for p in parts[-(INNER_EXTENSIONS + 1):]]


#: format characters that writing needs (marks of direction, joiners in Arabic and Persian
#: names, the soft hyphen): every other invisible character in a name is a trick
_WRITING_MARKS = frozenset("\u200c\u200d\u200e\u200f\u061c\u00ad")


def deceptive(name: str) -> str | None:
    """Why a name is made to deceive a reader, or None: direction overrides and isolates
    ("invoice\u202efdp.exe" shows as "invoiceexe.pdf"), zero-width spaces and other
    invisible characters, control characters."""
    for char in name:
        category = unicodedata.category(char)
        if category == "Cf" and char not in _WRITING_MARKS:
            return f"the name holds an invisible character (U+{ord(char):04X})"
        if category == "Cc":
            return "the name holds a control character"
    return None


def _name_problem(name: str, blocked: frozenset[str]) -> str | None:
    trick = deceptive(name)
    if trick:
        return trick
    if extension(name) in OPAQUE_ARCHIVES:
        return f"archives of type .{extension(name)} cannot be inspected and are not accepted"
    hidden = [e for e in _extensions(name) if e in blocked]
    if hidden:
        return f"files of type .{hidden[-1]} are not accepted"
    return None


def _is_zip(name: str, content_type: str, data: bytes) -> bool:
    return (extension(name) in ARCHIVE_EXTENSIONS or content_type.lower() in ZIP_TYPES
            or data[:4] == b"PK\x03\x04")


def _executable(content_type: str, data: bytes) -> bool:
    return content_type.lower() in EXECUTABLE_TYPES or data.startswith(EXECUTABLE_MAGIC)


@dataclass
class _Budget:
    """What is left to unpack across one attachment's archives."""

    unpacked: int


def _check_archive(data: bytes, path: str, depth: int, blocked: frozenset[str],
                   limits: ArchiveLimits, budget: _Budget) -> None:
    """Raise :class:`_Refused` for the first member (at any depth) that breaks the policy."""
    if depth > limits.max_depth:
        raise _Refused(f"{path}: archives nested deeper than {limits.max_depth} levels")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            _check_contents(members, path, blocked, limits, budget)
            for info in members:
                _check_member(archive, info, path, depth, blocked, limits, budget)
    except _Refused:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError,
            NotImplementedError, RuntimeError, KeyError) as exc:
        if depth == 0 and not data.startswith(b"PK"):
            return  # named like an archive but not one: judged by its name and type alone
        raise _Refused(f"{path}: the archive cannot be read ({type(exc).__name__})") from None


def _check_contents(members: Sequence[zipfile.ZipInfo], path: str, blocked: frozenset[str],
                    limits: ArchiveLimits, budget: _Budget) -> None:
    """The table of contents, before anything is unpacked; what it holds is taken from the
    budget of the whole attachment (every level counts)."""
    if len(members) > limits.max_members:
        raise _Refused(f"{path}: more than {limits.max_members} files in the archive")
    budget.unpacked -= sum(i.file_size for i in members)
    if budget.unpacked < 0:
        raise _Refused(f"{path}: more than {limits.max_unpacked} bytes once unpacked")
    for info in members:
        problem = _name_problem(info.filename.rsplit("/", 1)[-1], blocked)
        if problem:
            raise _Refused(f"{path}: the archive contains {info.filename!r}: {problem}")
        if info.flag_bits & 0x1:
            raise _Refused(f"{path}: {info.filename!r} is encrypted and cannot be inspected")
        if info.compress_size and info.file_size / info.compress_size > limits.max_ratio:
            raise _Refused(f"{path}: {info.filename!r} is compressed {info.file_size // info.compress_size}"
                           f" times, over the limit of {limits.max_ratio}")


def _check_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: str, depth: int,
                  blocked: frozenset[str], limits: ArchiveLimits, budget: _Budget) -> None:
    """Unpack a member only as far as needed: its first bytes, or all of a nested archive."""
    if info.is_dir():
        return
    inner = f"{path}/{info.filename}"
    with archive.open(info) as member:
        head = member.read(4)
        nested = extension(info.filename) in ARCHIVE_EXTENSIONS or head == b"PK\x03\x04"
        if head.startswith(EXECUTABLE_MAGIC):
            raise _Refused(f"{inner}: executable content is not accepted")
        if not nested:
            return
        data = head + member.read(info.file_size - len(head) + 1)  # +1: a size that lies shows
    if len(data) > info.file_size:
        raise _Refused(f"{inner}: the archive misstates its size")
    _check_archive(data, inner, depth + 1, blocked, limits, budget)


def judge(
    name: str,
    content_type: str,
    data: bytes,
    *,
    blocked_extensions: Sequence[str],
    max_size: int,
    limits: ArchiveLimits | None = None,
) -> AttachmentVerdict:
    """The verdict on one attachment under the configured limits; ``name`` as the sender gave it."""
    limits = limits or ArchiveLimits()
    blocked = frozenset(e.lower().lstrip(".") for e in blocked_extensions)
    if len(data) > max_size:
        return AttachmentVerdict("too_large", f"{name}: {len(data)} bytes, over the limit of {max_size}")
    problem = _name_problem(name, blocked)
    if problem:
        return AttachmentVerdict("blocked", f"{name}: {problem}")
    if _executable(content_type, data):
        return AttachmentVerdict("blocked", f"{name}: executable content is not accepted")
    if _is_zip(name, content_type, data):
        try:
            _check_archive(data, name, 0, blocked, limits, _Budget(limits.max_unpacked))
        except _Refused as refused:
            return AttachmentVerdict("blocked", str(refused))
    return AttachmentVerdict("ok")
