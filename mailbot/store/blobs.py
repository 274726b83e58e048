"""Content-addressed storage for raw mail and attachments.

Every inbound message is written here before anything else happens to it.
A blob's name is the SHA-256 of its bytes (``ab/abcdef...``: 256 directories,
as Git keeps its objects), never a name the sender chose; a write goes to a
temporary file in the same directory, is flushed to disk and renamed into
place, so a crash never leaves half a blob under a valid name.  Writing the
same bytes twice stores them once.

Stores written before 2026-11-28 used two levels (``ab/cd/abcdef...``): 65,536
directories, so that nearly every blob of a desk's first years made a
directory of its own (a third of the cost of storing a message's bytes).  Their
blobs are read where they are; new ones go to the one-level place.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

_HEX = re.compile(r"^[0-9a-f]{64}$")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BlobStore:
    """A directory of immutable blobs named by the SHA-256 of their content."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._root = str(root)
        self._dirs: set[str] = set()  # fan-out directories known to exist
        self._tmp_names = itertools.count()

    def path_for(self, digest: str) -> Path:
        """Where the blob is (or would be stored): its one-level place, unless an older
        store holds it at its two-level one."""
        if not _HEX.match(digest):
            raise ValueError(f"not a SHA-256 digest: {digest!r}")
        path = self.root / digest[:2] / digest
        if not path.exists():
            older = self.root / digest[:2] / digest[2:4] / digest
            if older.exists():
                return older
        return path

    def _stored(self, directory: str, target: str, digest: str) -> bool:
        return os.path.exists(target) or os.path.exists(
            os.path.join(directory, digest[2:4], digest))

    def put(self, data: bytes, durable: bool = True) -> str:
        """Store ``data`` and return its digest (idempotent).

        ``durable=False`` skips the per-file fsync; the caller must then call
        :func:`sync` before anything depends on the blob surviving a power loss
        (intake does so once per batch, before it moves mail out of the inbox).

        Several processes write here at once (the service and its parse-ahead
        worker): each writes under a temporary name of its own (its process id,
        then a counter), created exclusively, and renames it into place.
        """
        digest = sha256_hex(data)
        directory = os.path.join(self._root, digest[:2])
        target = os.path.join(directory, digest)
        if self._stored(directory, target, digest):
            return digest
        if directory not in self._dirs:
            os.makedirs(directory, exist_ok=True)
            self._dirs.add(directory)
        fd, tmp = self._create_temporary(directory)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                if durable:
                    os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return digest

    def _create_temporary(self, directory: str) -> tuple[int, str]:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        for _ in range(100):
            tmp = os.path.join(directory, f".tmp-{os.getpid()}-{next(self._tmp_names)}")
            try:
                return os.open(tmp, flags, 0o600), tmp
            except FileExistsError:  # left by an earlier process that had this id
                continue
            except FileNotFoundError:  # the directory was removed behind our back
                os.makedirs(directory, exist_ok=True)
        raise FileExistsError(f"no free temporary name in {directory}")

    def get(self, digest: str) -> bytes:
        return self.path_for(digest).read_bytes()

    def open(self, digest: str) -> BinaryIO:
        return self.path_for(digest).open("rb")

    def exists(self, digest: str) -> bool:
        return self.path_for(digest).exists()

    def __iter__(self) -> Iterator[str]:
        for pattern in ("*/*", "*/*/*"):  # this layout, then the older one
            for p in self.root.glob(pattern):
                if _HEX.match(p.name) and p.is_file():
                    yield p.name


def sync() -> None:
    """Make every write so far durable (blobs and an SQLite WAL alike), in one call."""
    os.sync()


def safe_filename(name: str | None, fallback: str = "attachment") -> str:
    """A display name safe to show and to offer for download: no paths, no control chars."""
    if not name:
        return fallback
    name = unicodedata.normalize("NFC", name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '<>:"|?*')
    name = name.strip(" .")[:200]
    return name or fallback
