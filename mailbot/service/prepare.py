"""Parse-ahead: the pure, CPU-bound reading of a fetched batch, done on another core.

Place in the flow: between the watcher's fetch and intake.  When the watcher
has fetched a batch, :class:`Preparer` hands its messages to a worker
process, which parses each one (``mail.parse``) and, for mail from a
registered focal point, reads the form in it (:func:`read_form`: the body,
else the PDF, Word or text attachments).  Intake, on the watcher
thread, takes each result when it reaches that message and does the rest
(record, classify, file, commit) exactly as before.  The worker writes
nothing but the raw bytes to the content-addressed blob store (idempotent,
and made durable by the batch's barrier before the mail is moved); it never
touches the database, so exactly-once filing does not depend on it.

Nothing here is needed for correctness.  A single message, a message larger
than :data:`INLINE_OVER` (parsed where it is filed, so it is never held in
two processes at once), a worker that fails or a pool that cannot start:
each falls back to reading the message in the service itself.
"""

from __future__ import annotations

import logging
import multiprocessing
import tomllib
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from mailbot.domain.forms import FormCatalog, RawForm, find_form
from mailbot.domain.types import InboundMail
from mailbot.mail.formfiles import form_from_attachment
from mailbot.mail.parse import ParseError, html_to_text, parse_message
from mailbot.store.blobs import BlobStore

log = logging.getLogger("mailbot.prepare")

#: Messages larger than this (bytes) are parsed by the service itself.
INLINE_OVER = 2 * 1024 * 1024
#: Batches smaller than this are parsed by the service itself (a lone message is
#: filed sooner without the round trip to the worker).
MIN_BATCH = 4
#: Messages per task handed to the worker: the first result comes back quickly,
#: and the per-task overhead is shared.
CHUNK = 8


class NotRead:
    """A message's form was not looked for yet (unlike None: looked for, none found)."""


NOT_READ = NotRead()


@dataclass(frozen=True)
class Prepared:
    """One message as read ahead: its parse (or why it failed) and, when read, its form."""

    mail: InboundMail | None
    parse_error: str | None = None
    form_read: bool = False  # False: the form was not looked for (not a focal point's mail)
    form: RawForm | None = None
    digest: str | None = None  # the raw bytes, stored in the blob store under this SHA-256


def read_form(mail: InboundMail, catalog: FormCatalog) -> RawForm | None:
    """The form of a message: its body (text, then HTML), else its attachments.

    Attachments are read (a PDF's page text is slow) only when the body has no form.
    """
    in_body = find_form(mail, catalog, [], html_to_text=html_to_text)
    if (in_body is not None and in_body.kind is not None) or not mail.attachments:
        return in_body
    from_attachments = [f for a in mail.attachments
                        if (f := form_from_attachment(a, catalog)) is not None]
    return find_form(mail, catalog, from_attachments, html_to_text=html_to_text)


def prepare(raw: bytes, catalog: FormCatalog | None, form_senders: frozenset[str],
            blobs: BlobStore | None = None) -> Prepared:
    """Parse ``raw``; read its form when its sender is in ``form_senders``.

    With ``blobs``, the raw bytes are stored first (content-addressed and
    atomic, so the same bytes stored twice, here and by the service, are one
    file); the service's batch barrier makes them durable before the move.
    """
    digest = blobs.put(raw, durable=False) if blobs is not None else None
    try:
        mail = parse_message(raw)
    except ParseError as exc:
        return Prepared(None, str(exc), digest=digest)
    if catalog is None or mail.from_addr not in form_senders:
        return Prepared(mail, digest=digest)
    return Prepared(mail, form_read=True, form=read_form(mail, catalog), digest=digest)


# -- the worker process ------------------------------------------------------------------------

_CATALOG: FormCatalog | None = None
_BLOBS: BlobStore | None = None


def _init_worker(forms_file: str, blob_root: str) -> None:
    global _CATALOG, _BLOBS
    _CATALOG = FormCatalog.from_toml_data(tomllib.loads(Path(forms_file).read_text("utf-8")))
    _BLOBS = BlobStore(Path(blob_root))


def _ready() -> bool:
    return _CATALOG is not None


def _prepare_chunk(raws: Sequence[bytes], form_senders: frozenset[str]) -> list[Prepared | None]:
    out: list[Prepared | None] = []
    for raw in raws:
        try:
            out.append(prepare(raw, _CATALOG, form_senders, _BLOBS))
        except Exception:  # read again in the service, where the failure is quarantined with its reason
            out.append(None)
    return out


class Preparer:
    """A worker process that reads batches ahead of intake; results are taken by UID."""

    def __init__(self, forms_file: Path, blob_root: Path, workers: int = 1) -> None:
        self.forms_file = forms_file
        self.blob_root = blob_root
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._broken = workers < 1
        self._pending: dict[tuple[int, int], tuple[Future[list[Prepared | None]], int]] = {}
        self.used = 0  # results intake took from the worker
        self.missed = 0  # handed over, but read by the service (not ready, or failed)

    def start(self) -> None:
        """Start the workers now (they take a moment to import), not at the first batch."""
        pool = self._executor()
        if pool is not None:
            try:
                for _ in range(self.workers):
                    pool.submit(_ready)
            except RuntimeError as exc:
                self._give_up(exc)

    def _executor(self) -> ProcessPoolExecutor | None:
        if self._broken:
            return None
        if self._pool is None:
            try:
                # not fork: the service has threads (the watcher, the event loop).  The fork
                # server imports only this module, not the service's entry point, and forks
                # the workers from it.
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload([__name__])
                self._pool = ProcessPoolExecutor(
                    max_workers=self.workers, mp_context=context,
                    initializer=_init_worker, initargs=(str(self.forms_file), str(self.blob_root)))
            except (OSError, ValueError) as exc:
                log.warning("parse-ahead unavailable, parsing in the service: %s", exc)
                self._broken = True
                return None
        return self._pool

    def submit(self, batch: Sequence[tuple[int, int, bytes]], form_senders: frozenset[str]) -> int:
        """Hand (uidvalidity, uid, raw) messages to the worker; how many were handed over."""
        small = [(v, u, raw) for v, u, raw in batch if len(raw) <= INLINE_OVER]
        if len(small) < MIN_BATCH:
            return 0
        pool = self._executor()
        if pool is None:
            return 0
        for start in range(0, len(small), CHUNK):
            chunk = small[start:start + CHUNK]
            try:
                future = pool.submit(_prepare_chunk, [raw for _, _, raw in chunk], form_senders)
            except RuntimeError as exc:  # the pool broke (a worker died) or is shut down
                self._give_up(exc)
                return start
            for index, (v, u, _raw) in enumerate(chunk):
                self._pending[(v, u)] = (future, index)
        return len(small)

    def take(self, uidvalidity: int, uid: int) -> Prepared | None:
        """The result for this message; None when it was not read ahead or is not ready yet.

        Intake never waits for the worker: a message whose result is not ready
        (the worker is still starting, or is behind) is read by the service.
        """
        entry = self._pending.pop((uidvalidity, uid), None)
        if entry is None:
            return None
        future, index = entry
        if not future.done():
            self.missed += 1
            return None
        try:
            result = future.result()[index]
            self.used += result is not None
            self.missed += result is None
            return result
        except Exception as exc:  # a worker that died (BrokenProcessPool): read it here instead
            self._give_up(exc)
            return None

    def discard(self) -> None:
        """Forget results not taken (the watcher stopped mid-batch)."""
        for future, _ in self._pending.values():
            future.cancel()
        self._pending.clear()

    def _give_up(self, exc: BaseException) -> None:
        log.warning("parse-ahead failed, parsing in the service from now on: %s: %s",
                    type(exc).__name__, exc)
        self._broken = True
        self.discard()

    def worker_pids(self) -> list[int]:
        """The worker processes' ids (for measuring them)."""
        procs = getattr(self._pool, "_processes", None) or {}
        return [int(pid) for pid in procs]

    def close(self) -> None:
        if self.used or self.missed:
            log.info("parse-ahead: %d messages read by the worker, %d by the service",
                     self.used, self.missed)
        self.discard()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
