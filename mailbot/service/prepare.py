"""Parse-ahead: fetching and reading the next part of a backlog, done on another core.

Place in the flow: between the watcher's fetch and intake.  When the inbox
holds a backlog, the watcher asks :class:`Preparer` for the next part while it
files the current one (:meth:`Preparer.fetch_ahead`): a worker process
fetches those messages itself on its own read-only IMAP connection (the
inbox examined, bodies read with ``BODY.PEEK[]``), stores their raw bytes and
attachments, parses them (``mail.parse``) and, for a focal point's mail,
reads the form in it with intake's own reading step (``service.reading``).
A batch the watcher fetched itself can be handed over the same way
(:meth:`Preparer.submit`).  Intake, on the watcher thread, takes each result
when it reaches that message and does the rest (record, classify,
file, commit, then the move) exactly as before.  The worker writes nothing
but blobs to the content-addressed blob store (idempotent, and made durable
by the batch's barrier before the mail is moved); it never touches the
database and never changes the mailbox, so exactly-once filing does not
depend on it.

Nothing here is needed for correctness.  A single message, a message larger
than :data:`INLINE_OVER` (fetched and parsed where it is filed, so it is never
held in two processes at once), a worker that fails, cannot start or cannot
log in, a mailbox renumbered under it: each falls back to fetching and
reading the message in the service itself.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from mailbot.config import MailboxSettings
from mailbot.domain.classify import classify
from mailbot.domain.forms import FormCatalog, RawForm
from mailbot.domain.types import Classification, InboundMail, MailContext
from mailbot.mail.parse import ParseError, parse_message
from mailbot.service.fetchahead import FetchRequest, _Fetcher
from mailbot.service.reading import FormReading, read_if_state_mail
from mailbot.store.blobs import BlobStore

log = logging.getLogger("mailbot.prepare")

#: Messages larger than this (bytes) are parsed by the service itself.
INLINE_OVER = 2 * 1024 * 1024
#: Batches smaller than this are parsed by the service itself (a lone message is
#: filed sooner without the round trip to the worker).
MIN_BATCH = 4
#: Messages per request to the worker, after a smaller first one: the first
#: result comes back quickly, and the per-request overhead is shared.
FIRST_CHUNK = 2
CHUNK = 8
#: Bytes a request or answer pipe buffers (where the system allows it).
PIPE_SIZE = 1 << 20
#: Seconds intake waits for the chunk the worker is reading right now.
WAIT_CURRENT = 0.05
#: Seconds without an answer after which the worker is taken to be stuck.
STUCK_AFTER = 60.0


@dataclass(frozen=True)
class Prepared:
    """One message as read ahead: its parse (or why it failed) and, when read, its form."""

    mail: InboundMail | None
    parse_error: str | None = None
    form_read: bool = False  # False: the form was not looked for (not a focal point's mail)
    form: RawForm | None = None
    digest: str | None = None  # the raw bytes, stored in the blob store under this SHA-256
    #: each attachment's bytes, stored in the blob store under these SHA-256s (in order)
    attachment_digests: tuple[str, ...] | None = None
    #: the message's bytes, when the worker fetched it itself (:meth:`Preparer.fetch_ahead`)
    raw: bytes | None = None
    #: the rule table's answer for the message under ``context`` (without bounce details)
    classification: Classification | None = None
    #: who was who when it was classified: the service's own view, handed over with the
    #: request (set on taking; intake reuses the classification only under the same view)
    context: MailContext | None = None

    @property
    def reading(self) -> FormReading | None:
        """The form as read ahead; None when it was not looked for."""
        return FormReading(self.form) if self.form_read else None


def prepare(raw: bytes, catalog: FormCatalog | None, context: MailContext | None,
            blobs: BlobStore | None = None) -> Prepared:
    """Parse ``raw``; read its form when ``context`` classifies it as a focal point's mail.

    The classification here only decides whether to look for a form; intake
    classifies the message itself (with the bounce details and its own view of
    who is who), and reads the form there if this one did not.

    With ``blobs``, the raw bytes and each attachment are stored (content-
    addressed and atomic, so the same bytes stored twice, here and by the
    service, are one file); the service's batch barrier makes them durable
    before the move.
    """
    digest = blobs.put(raw, durable=False) if blobs is not None else None
    try:
        mail = parse_message(raw)
    except ParseError as exc:
        return Prepared(None, str(exc), digest=digest)
    stored = (tuple(blobs.put(att.data, durable=False) for att in mail.attachments)
              if blobs is not None else None)
    cls = classify(mail, context) if context is not None else None
    reading = read_if_state_mail(mail, cls, catalog)
    if reading is None:
        return Prepared(mail, digest=digest, attachment_digests=stored, classification=cls)
    return Prepared(mail, form_read=True, form=reading.form, digest=digest,
                    attachment_digests=stored, classification=cls)


# -- the worker process ------------------------------------------------------------------------
#
# The worker is ``python -m mailbot.service.prepare FORMS_FILE BLOB_ROOT``: it imports only
# this module (the service's own entry point is not run again in it, as multiprocessing
# would), so it is ready in a fraction of a second.  Requests and answers are pickles
# framed by an 8-byte length on its stdin and stdout: (chunk id, raw messages, who is
# who) in, (chunk id, results) out, a result None where reading failed.

_FRAME = struct.Struct("!Q")


def _write_frame(stream: IO[bytes], payload: object) -> None:
    data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_FRAME.pack(len(data)) + data)
    stream.flush()


def _read_frame(stream: IO[bytes]) -> Any:
    head = stream.read(_FRAME.size)
    if len(head) < _FRAME.size:
        raise EOFError
    (size,) = _FRAME.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)  # our own child, on its own pipe


def _prepare_chunk(raws: Sequence[bytes | None], catalog: FormCatalog, context: MailContext,
                   blobs: BlobStore, fetched: bool = False) -> list[Prepared | None]:
    out: list[Prepared | None] = []
    for raw in raws:
        if raw is None:
            out.append(None)
            continue
        try:
            result = prepare(raw, catalog, context, blobs)
        except Exception:  # read again in the service, where the failure is quarantined with its reason
            out.append(None)
            continue
        out.append(replace(result, raw=raw) if fetched else result)
    return out


def worker_main(argv: Sequence[str]) -> int:
    """The worker's loop: answer each chunk until stdin closes."""
    forms_file, blob_root = argv
    # Ctrl-C, or a service manager's SIGTERM, reaches the whole process group: the
    # service stops the worker itself, by closing its input, once it no longer needs it
    # (and the worker also ends when the service dies, at the end of its input)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    catalog = FormCatalog.from_toml_data(tomllib.loads(Path(forms_file).read_text("utf-8")))
    blobs = BlobStore(Path(blob_root))
    # the answers go on the original stdout; anything a library prints goes to stderr
    source, sink = sys.stdin.buffer, os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    _write_frame(sink, (0, []))  # ready
    fetcher = _Fetcher()
    while True:
        try:
            chunk_id, work, context = _read_frame(source)
        except EOFError:
            fetcher.disconnect()
            return 0
        if not isinstance(work, FetchRequest):
            _write_frame(sink, (chunk_id, _prepare_chunk(work, catalog, context, blobs)))
            continue
        raws = fetcher.fetch(work)
        start = 0
        for part_id, count in work.chunks:  # answered as read, the first soon
            _write_frame(sink, (part_id, _prepare_chunk(raws[start:start + count], catalog,
                                                        context, blobs, fetched=True)))
            start += count


class _Chunk:
    """Messages handed to the worker together, and their results once back."""

    def __init__(self, chunk_id: int, context: MailContext) -> None:
        self.id = chunk_id
        self.context = context
        self.sent_at = time.monotonic()
        self.done = threading.Event()
        self.results: list[Prepared | None] | None = None


def _widen(pipe: IO[bytes] | None) -> None:
    """Give a pipe a 1 MiB buffer (Linux; 64 KiB by default): a batch then passes in a few
    writes, each of which hands the interpreter to another thread and back."""
    setpipe = getattr(fcntl, "F_SETPIPE_SZ", None)
    if pipe is None or setpipe is None:
        return
    with contextlib.suppress(OSError):  # over the system's limit, or not a pipe: keep the default
        fcntl.fcntl(pipe.fileno(), setpipe, PIPE_SIZE)


class Preparer:
    """A worker process that reads batches ahead of intake; results are taken by UID."""

    def __init__(self, forms_file: Path, blob_root: Path, enabled: bool = True) -> None:
        self.forms_file = forms_file
        self.blob_root = blob_root
        self._enabled = enabled
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._writer: threading.Thread | None = None
        # requests go through a queue and a writer thread: a pipe holds 64 KiB, and a
        # batch's chunks would otherwise block intake until the worker had read them
        self._requests: queue.SimpleQueue[
            tuple[int, list[bytes] | FetchRequest, MailContext] | None] = \
            queue.SimpleQueue()
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._chunks: dict[int, _Chunk] = {}  # sent, not answered yet
        self._next_id = 1
        self._pending: dict[tuple[int, int], tuple[_Chunk, int]] = {}
        self.used = 0  # results intake took from the worker
        self.missed = 0  # handed over, but read by the service (not ready, or failed)

    # -- the process ---------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker now (it takes a moment to import), not at the first batch."""
        if not self._enabled or self._proc is not None:
            return
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", __name__, str(self.forms_file), str(self.blob_root)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None, close_fds=True)
        except OSError as exc:
            log.warning("parse-ahead unavailable, parsing in the service: %s", exc)
            self._enabled = False
            return
        for pipe in (self._proc.stdin, self._proc.stdout):
            _widen(pipe)
        self._reader = threading.Thread(target=self._read_answers, name="parse-ahead-reader",
                                        daemon=True)
        self._reader.start()
        self._writer = threading.Thread(target=self._write_requests, name="parse-ahead-writer",
                                        daemon=True)
        self._writer.start()

    def _write_requests(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        try:
            while (request := self._requests.get()) is not None:
                _write_frame(proc.stdin, request)
        except (OSError, ValueError) as exc:  # the worker died: its reader thread cleans up
            log.warning("parse-ahead worker unavailable (%s); parsing in the service", exc)
            self._enabled = False
        finally:
            with contextlib.suppress(OSError):
                proc.stdin.close()  # the worker exits at the end of its input

    def _read_answers(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        try:
            while True:
                chunk_id, results = _read_frame(proc.stdout)
                if chunk_id == 0:
                    self._ready.set()
                    continue
                with self._lock:
                    chunk = self._chunks.pop(chunk_id, None)
                if chunk is not None:
                    chunk.results = results
                    chunk.done.set()
        except Exception as exc:  # EOF (the worker exited), a broken pipe, a bad answer
            if self._enabled:
                log.warning("parse-ahead worker stopped (%s); parsing in the service",
                            type(exc).__name__)
        finally:
            self._enabled = False
            with self._lock:
                orphans = list(self._chunks.values())
                self._chunks.clear()
            for chunk in orphans:
                chunk.done.set()  # no results: taken as not read ahead

    # -- batches -------------------------------------------------------------------------

    def submit(self, batch: Sequence[tuple[int, int, bytes]], context: MailContext) -> int:
        """Hand (uidvalidity, uid, raw) messages to the worker; how many were handed over.

        Results of an earlier drain not taken (the watcher stopped mid-batch) are dropped
        by its next :meth:`fetch_ahead` (with ``fresh``).
        """
        small = [(v, u, raw) for v, u, raw in batch if len(raw) <= INLINE_OVER]
        if len(small) < MIN_BATCH or not self._available():
            return 0
        start = 0
        for chunk_id, count in self._chunk([(v, u) for v, u, _ in small], context):
            self._requests.put((chunk_id, [raw for _, _, raw in small[start:start + count]],
                                context))
            start += count
        return len(small)

    def fetch_ahead(self, mailbox: MailboxSettings, uidvalidity: int,
                    sizes: Sequence[tuple[int, int]], context: MailContext,
                    fresh: bool = False) -> set[int]:
        """Have the worker fetch these (uid, size) messages itself and read them; the UIDs
        it was given (none: the watcher fetches them all).

        The watcher asks for the next part of a backlog while it files this one,
        so that part is fetched, stored and parsed by the time it gets there.
        Messages over :data:`INLINE_OVER` are left to the watcher.  ``fresh``
        drops what an earlier drain asked for and never took.
        """
        if fresh:
            self._pending.clear()
        uids = [u for u, size in sizes if size <= INLINE_OVER]
        if len(uids) < MIN_BATCH or not self._available() or not self._ready.is_set():
            return set()  # a worker still starting would leave them to be fetched one by one
        chunks = self._chunk([(uidvalidity, u) for u in uids], context)
        self._requests.put((chunks[0][0], FetchRequest(mailbox, uidvalidity, tuple(uids), tuple(
            chunks)), context))
        return set(uids)

    def _available(self) -> bool:
        if not self._enabled or self._stuck():
            return False
        self.start()
        return self._proc is not None

    def _chunk(self, keys: list[tuple[int, int]], context: MailContext) -> list[tuple[int, int]]:
        """Register ``keys`` as chunks awaited from the worker; (chunk id, size) of each."""
        out: list[tuple[int, int]] = []
        start, size = 0, FIRST_CHUNK  # a small first chunk: the first message comes back soon
        while start < len(keys):
            end = min(start + size, len(keys))
            with self._lock:
                chunk = _Chunk(self._next_id, context)
                self._next_id += 1
                self._chunks[chunk.id] = chunk
            for index, key in enumerate(keys[start:end]):
                self._pending[key] = (chunk, index)
            out.append((chunk.id, end - start))
            start, size = end, CHUNK
        return out

    def _stuck(self) -> bool:
        """A worker that has not answered a chunk for STUCK_AFTER seconds (a reader caught in
        a hostile attachment) is stopped, and the service reads for itself from then on;
        otherwise the batches queued for it would pile up in memory."""
        with self._lock:
            oldest = min(self._chunks.values(), key=lambda c: c.id, default=None)
        if oldest is None or time.monotonic() - oldest.sent_at < STUCK_AFTER:
            return False
        log.warning("parse-ahead worker has not answered for %.0f s; stopped, parsing in the "
                    "service", time.monotonic() - oldest.sent_at)
        self._enabled = False
        if self._proc is not None:
            with contextlib.suppress(OSError):
                self._proc.kill()
        return True

    def take(self, uidvalidity: int, uid: int) -> Prepared | None:
        """The result for this message; None when it was not read ahead or is not ready.

        Intake waits for the worker only while it is reading this very message's
        chunk (the oldest one it holds), and then briefly; a message the worker
        has not reached (it is still starting, or behind) is read by the service.
        """
        entry = self._pending.get((uidvalidity, uid))
        result = self._result(uidvalidity, uid)
        self._pending.pop((uidvalidity, uid), None)
        self.used += result is not None
        self.missed += result is None
        if result is not None and entry is not None and result.classification is not None:
            result = replace(result, context=entry[0].context)
        return result

    def fetched(self, uidvalidity: int, uid: int) -> bytes | None:
        """The raw bytes of a message the worker was asked to fetch (waiting as :meth:`take`
        does); None: the watcher fetches it itself.  Its result stays for :meth:`take`."""
        result = self._result(uidvalidity, uid)
        if result is None or result.raw is None:
            self._pending.pop((uidvalidity, uid), None)  # read by the service, from its own fetch
            return None
        return result.raw

    def _result(self, uidvalidity: int, uid: int) -> Prepared | None:
        entry = self._pending.get((uidvalidity, uid))
        if entry is None:
            return None
        chunk, index = entry
        if not chunk.done.is_set() and self._ready.is_set():
            with self._lock:
                current = min(self._chunks, default=None) == chunk.id
            if current:
                chunk.done.wait(WAIT_CURRENT)
        return chunk.results[index] if chunk.done.is_set() and chunk.results else None

    def close(self) -> None:
        if self.used or self.missed:
            log.info("parse-ahead: %d messages read by the worker, %d by the service",
                     self.used, self.missed)
        self._pending.clear()
        proc, self._proc = self._proc, None
        self._enabled = False
        if proc is None:
            return
        self._requests.put(None)  # the writer closes the worker's input once it is through
        if self._writer is not None:
            self._writer.join(timeout=5)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if self._reader is not None:
            self._reader.join(timeout=5)

    def worker_pids(self) -> list[int]:
        """The worker process's id (for measuring it)."""
        return [self._proc.pid] if self._proc is not None else []


if __name__ == "__main__":
    # run the module's importable twin, so that what is pickled names mailbot.service.prepare
    from mailbot.service.prepare import worker_main as _worker_main

    sys.exit(_worker_main(sys.argv[1:]))
