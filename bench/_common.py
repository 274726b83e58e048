"""Shared helpers of the intake benchmarks (``bench_intake``, ``bench_latency``, ``bench_memory``).

Place in the project: benchmark support, never imported by the product.  It
starts the loopback mail stack of ``tests/mailstack`` and a desk deployment
like ``tests/integration/desk.py`` (a config file, a fresh SQLite database,
States imported), builds a corpus of realistic inbound mail, loads it into the
bot's Dovecot inbox with IMAP MULTIAPPEND, and runs the measured work in a
child process so that its peak RSS is its own:

    python bench/_common.py intake CONFIG   # Watcher.run_once + Service.handle, then dispatch
    python bench/_common.py floor CONFIG    # bare imapclient fetch + stdlib parse

Each child prints one JSON line with its timings and memory figures.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import email.utils
import json
import logging
import os
import random
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
TESTS = PROJECT / "tests"
for _path in (TESTS, TESTS / "integration"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from desk import Desk  # noqa: E402
from mailstack.stack import BOT_ADDRESS, OFFICER_ADDRESS, MailStack, focal_point_address  # noqa: E402

from mailbot.config import load_settings  # noqa: E402
from mailbot.domain.forms import FormCatalog, FormKind, render_blank  # noqa: E402
from mailbot.service.registry import catalog as form_catalog  # noqa: E402

#: Reporting States of the corpus (all registered in the desk) and the host State of every incident.
REPORTERS = ("FRA", "DEU", "BRA", "MEX", "ESP")
HOST = "KEN"
NAMES = {"FRA": "France", "DEU": "Germany", "BRA": "Brazil", "MEX": "Mexico", "ESP": "Spain",
         "KEN": "Kenya"}
CITIES = ("Nairobi", "Mombasa", "Kisumu", "Nakuru", "Eldoret", "Malindi", "Thika", "Garissa")
STREETS = ("Riverside Drive", "Harambee Avenue", "Moi Avenue", "Kenyatta Avenue", "Ngong Road",
           "Waiyaki Way", "Limuru Road", "Argwings Kodhek Road")
WORDS = ("the", "mission", "premises", "security", "protest", "gate", "staff", "police",
         "consular", "section", "vehicle", "damaged", "inquiry", "ministry", "note", "verbale",
         "authorities", "measures", "protection", "convention", "article", "diplomatic",
         "representatives", "incident", "report", "requested", "immediate", "guard")

#: The share of each kind of mail in a corpus (sums to 1).
MIX = (
    ("violation", 0.20),     # registered focal point, valid violation report form
    ("follow_up", 0.08),     # the host State's valid follow-up on an earlier incident
    ("views", 0.07),         # registered focal point, valid views form
    ("form_error", 0.10),    # registered focal point, a form with a bad date (correction reply)
    ("unknown", 0.20),       # unknown sender (polite reply, held for review)
    ("auto_reply", 0.10),    # out-of-office from a focal point (ignored, never answered)
    ("cc_letter", 0.15),     # a State writes to another, the desk in copy (filed, not answered)
    ("officer_cc", 0.10),    # the Secretariat officer writes to a State, the desk in copy
)


# -- the stack and the desk ---------------------------------------------------------------


def make_desk(stack: MailStack, extra: str = "") -> Desk:
    """A fresh desk deployment (config, SQLite, States imported), as the end-to-end tests use."""
    return Desk(stack, extra=extra).setup()


def desk_catalog(desk: Desk) -> FormCatalog:
    return form_catalog(load_settings(desk.config, desk.env))


# -- the corpus ---------------------------------------------------------------------------


def filler(rng: random.Random, size: int) -> str:
    """Plain prose of about ``size`` characters, in paragraphs."""
    out: list[str] = []
    length = 0
    while length < size:
        sentence = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 18))).capitalize() + ". "
        out.append(sentence)
        length += len(sentence)
        if rng.random() < 0.15:
            out.append("\n\n")
    return "".join(out)


def pdf_bytes(rng: random.Random, size: int) -> bytes:
    """A small valid one-page PDF whose text stream pads it to about ``size`` bytes."""
    lines = []
    while sum(len(x) for x in lines) < size - 600:
        lines.append(f"BT /F1 9 Tf 40 {rng.randint(40, 800)} Td ({filler(rng, 80).strip()}) Tj ET\n")
    stream = "".join(lines).replace("\n\n", " ").encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    return _pdf(objects)


def scanned_pdf_bytes(rng: random.Random, size: int) -> bytes:
    """A one-page PDF like a scan: one grey image of about ``size`` bytes and a line of text."""
    width = 4096
    height = max(1, size // width)
    image = rng.randbytes(width * height)
    text = b"BT /F1 9 Tf 40 40 Td (Note verbale, scanned copy) Tj ET\nq 612 0 0 842 0 0 cm /Im1 Do Q\n"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> /XObject << /Im1 6 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(text) + text + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
        b"/BitsPerComponent 8 /Length %d >>\nstream\n" % (width, height, len(image))
        + image + b"\nendstream",
    ]
    return _pdf(objects)


def _pdf(objects: Sequence[bytes]) -> bytes:
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def jpeg_bytes(rng: random.Random, size: int) -> bytes:
    """Bytes that look like a photo (JFIF header, random payload)."""
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + rng.randbytes(size - 13) + b"\xff\xd9"


def _message(sender: str, to: Sequence[str], subject: str, body: str, *, cc: Sequence[str] = (),
             headers: dict[str, str] | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain="sender.example.test")
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg


class Corpus:
    """Builds mixed inbound mail for the desk; every incident is hosted by Kenya."""

    def __init__(self, cat: FormCatalog, seed: int = 6131, year: int | None = None,
                 text_size: int = 10_000) -> None:
        self.cat = cat
        self.rng = random.Random(seed)
        self.year = year or date.today().year
        self.text_size = text_size
        self.violations = 0  # incidents the corpus has opened so far, in order

    def letter(self, size: int | None = None) -> str:
        return "Excellency,\n\n" + filler(self.rng, size or self.text_size) + "\n\nPlease accept...\n"

    def make(self, kind: str, index: int) -> EmailMessage:
        rng = self.rng
        state = rng.choice(REPORTERS)
        fp = focal_point_address(state)
        if kind in ("violation", "form_error"):
            day = date(self.year, 1, 1) + timedelta(days=rng.randint(0, 300))
            values = {
                "reporting_state": NAMES[state],
                "date": day.isoformat() if kind == "violation" else "sometime last spring",
                "place": f"{rng.choice(CITIES)}, {rng.choice(STREETS)} {rng.randint(1, 999)}",
                "host_state": NAMES[HOST], "affected": f"Embassy of {NAMES[state]} ({index})",
                "affected_kind": "diplomatic_mission", "sending_state": NAMES[state],
                "description": filler(rng, 600).replace("\n", " ").strip(),
                "persons_harmed": "One guard injured.", "offenders": "Unknown persons",
                "measures_taken": "Police called.", "circulate": rng.choice(("yes", "yes", "no")),
                "contact": fp,
            }
            form = render_blank(self.cat, FormKind.VIOLATION, "en", values)
            if kind == "violation":
                self.violations += 1
            body = self.letter(self.text_size - len(form)) + "\n" + form
            return _message(fp, [BOT_ADDRESS], "Report of a violation", body)
        if kind == "follow_up":
            ref = f"DCM-{self.year}-{rng.randint(1, self.violations):04d}"
            values = {"reporting_state": NAMES[HOST], "reference": ref, "capacity": "host",
                      "measures_justice": "Two suspects arrested.",
                      "proceedings_status": "Trial pending.", "final_outcome": "no",
                      "measures_prevention": "Police post at the gate.", "circulate": "yes",
                      "contact": focal_point_address(HOST)}
            form = render_blank(self.cat, FormKind.FOLLOW_UP, "en", values)
            body = self.letter(self.text_size - len(form)) + "\n" + form
            return _message(focal_point_address(HOST), [BOT_ADDRESS], f"[{ref}] Follow-up report", body)
        if kind == "views":
            values = {"reporting_state": NAMES[state], "views": filler(rng, 800).replace("\n", " "),
                      "circulate": "yes", "contact": fp}
            form = render_blank(self.cat, FormKind.VIEWS, "en", values)
            body = self.letter(self.text_size - len(form)) + "\n" + form
            return _message(fp, [BOT_ADDRESS], "Views of the Government", body)
        if kind == "unknown":
            sender = f"citizen{rng.randint(1, 400)}@elsewhere.example.org"
            return _message(sender, [BOT_ADDRESS], "Question about the convention", self.letter())
        if kind == "auto_reply":
            return _message(fp, [BOT_ADDRESS], "Out of office: your note verbale", self.letter(),
                            headers={"Auto-Submitted": "auto-replied", "X-Autoreply": "yes"})
        ref = f"DCM-{self.year}-{rng.randint(1, max(self.violations, 1)):04d}"
        if kind == "cc_letter":
            return _message(fp, [focal_point_address(HOST)], f"[{ref}] Our note verbale",
                            self.letter(), cc=[BOT_ADDRESS])
        return _message(OFFICER_ADDRESS, [fp], f"Re: [{ref}] your report", self.letter(),
                        cc=[BOT_ADDRESS])

    def build(self, n: int, attachment_every: int = 5, attachment_size: int = 20_000) -> list[bytes]:
        kinds = [k for k, _ in MIX]
        weights = [w for _, w in MIX]
        out: list[bytes] = []
        for i in range(n):
            kind = self.rng.choices(kinds, weights)[0]
            if kind == "follow_up" and self.violations == 0:
                kind = "violation"
            msg = self.make(kind, i)
            if attachment_every and i % attachment_every == attachment_every - 1:
                if self.rng.random() < 0.5:
                    msg.add_attachment(pdf_bytes(self.rng, attachment_size), maintype="application",
                                       subtype="pdf", filename=f"annex-{i}.pdf")
                else:
                    msg.add_attachment(jpeg_bytes(self.rng, attachment_size), maintype="image",
                                       subtype="jpeg", filename=f"photo-{i}.jpg")
            out.append(as_received(msg.as_bytes(policy=email.policy.SMTP)))
        return out


def small_message(i: int) -> bytes:
    """A short letter (about 700 bytes): a copy of a State's letter, an out-of-office or a stranger's."""
    kind = ("cc_letter", "cc_letter", "auto_reply", "cc_letter", "unknown")[i % 5]
    fp = focal_point_address(REPORTERS[i % len(REPORTERS)])
    body = f"Dear colleague, this is letter {i} of the backlog.\n" * 10
    if kind == "cc_letter":
        msg = _message(fp, [focal_point_address(HOST)], f"Our note {i}", body, cc=[BOT_ADDRESS])
    elif kind == "auto_reply":
        msg = _message(fp, [BOT_ADDRESS], "Out of office", body, headers={"Auto-Submitted": "auto-replied"})
    else:
        msg = _message(f"citizen{i % 300}@elsewhere.example.org", [BOT_ADDRESS], f"Question {i}", body)
    return as_received(msg.as_bytes(policy=email.policy.SMTP))


def as_received(raw: bytes) -> bytes:
    """``raw`` as the desk's receiving server leaves it in the mailbox: its DMARC verdict for
    the From domain on top (the corpus is put in the inbox with APPEND, past no server)."""
    head = email.message_from_bytes(raw.split(b"\r\n\r\n", 1)[0])
    sender = email.utils.parseaddr(str(head.get("From", "")))[1]
    domain = sender.rpartition("@")[2] or "unknown.invalid"
    return f"Authentication-Results: mx.example.test; dmarc=pass header.from={domain}\r\n".encode() + raw


# -- loading the inbox --------------------------------------------------------------------


def append_all(stack: MailStack, raws: Sequence[bytes], user: str = BOT_ADDRESS,
               folder: str = "INBOX", chunk: int = 200) -> float:
    """APPEND ``raws`` to ``folder`` with MULTIAPPEND, ``chunk`` messages a command; returns seconds."""
    started = time.perf_counter()
    with stack.imap(user, timeout=120) as client:
        for start in range(0, len(raws), chunk):
            client.multiappend(folder, list(raws[start:start + chunk]))
    return time.perf_counter() - started


def inbox_count(stack: MailStack, user: str = BOT_ADDRESS) -> int:
    with stack.imap(user) as client:
        return int(client.folder_status("INBOX", [b"MESSAGES"])[b"MESSAGES"])


# -- measuring ----------------------------------------------------------------------------


def cpu_split(pid: int | str = "self") -> tuple[float, float]:
    """User and system CPU seconds of a process so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def cpu_s(pid: int | str = "self") -> float:
    """User + system CPU seconds of a process so far (all its threads)."""
    return sum(cpu_split(pid))


def _status_mb(field: str, pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def rss_mb() -> float:
    """Current resident set size of this process, in MiB (``VmRSS``)."""
    return _status_mb("VmRSS")


def peak_rss_mb() -> float:
    """Peak resident set size of this process since it was exec'd, in MiB (``VmHWM``).

    Not ``getrusage().ru_maxrss``: Linux carries the forked parent's RSS
    across exec into it, so a child of a big parent would report the parent's size.
    """
    return _status_mb("VmHWM")


def run_child(mode: str, desk: Desk, *args: str, env: dict[str, str] | None = None,
              timeout: float = 900) -> dict[str, Any]:
    """Run this file as a child process in ``mode`` against the desk's config; return its JSON."""
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), mode, str(desk.config), *args],
        env={**desk.env, **(env or {})}, capture_output=True, text=True, timeout=timeout,
        cwd=desk.root)
    if proc.returncode != 0:
        raise RuntimeError(f"child {mode} exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


# -- the children -------------------------------------------------------------------------


def _time_calls(obj: Any, name: str, spent: dict[str, float]) -> None:
    """Wrap ``obj.name`` so that the seconds spent in it add up in ``spent[name]`` (the
    thread's CPU seconds in ``spent[name + "_cpu"]``)."""
    inner = getattr(obj, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - started
            spent[name + "_cpu"] = spent.get(name + "_cpu", 0.0) + time.thread_time() - cpu

    setattr(obj, name, timed)


def child_intake(config: Path, sample_every: int, dispatch: bool, profile: str) -> dict[str, Any]:
    """The first stage of ``mailbot run --once`` (Watcher.run_once + Service.handle), timed alone."""
    from mailbot.config import load_settings
    from mailbot.mail.imap import FetchedMail, Watcher
    from mailbot.service.app import App
    from mailbot.service.runner import Service

    settings = load_settings(config)
    logging.basicConfig(level=logging.INFO, filename=str(config.parent / "intake.log"),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    started_at = rss_mb()
    service = Service(App(settings))
    samples: list[tuple[int, float]] = []
    count = 0

    def handle(fetched: FetchedMail) -> str:
        nonlocal count
        folder = service.handle(fetched)
        count += 1
        if sample_every and count % sample_every == 0:
            samples.append((count, round(rss_mb(), 1)))
        return folder

    watcher = Watcher(settings.mailbox, handle, before_move=service.intake.barrier,
                      on_fetched=service.prepare, fetch_ahead=service.fetch_ahead,
                      # looked up at each call, so that the timing wrapper below sees them
                      fetched_ahead=lambda validity, uid: service.preparer.fetched(validity, uid))
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    # where the watcher thread's time goes: IMAP fetch and move, the batch barrier, handing
    # the batch to the parse-ahead worker, filing
    spent: dict[str, float] = {}
    _time_calls(watcher.conn, "fetch", spent)
    _time_calls(watcher.conn, "move", spent)
    _time_calls(watcher, "before_move", spent)
    _time_calls(watcher, "on_fetched", spent)
    _time_calls(watcher, "handle", spent)
    _time_calls(service.preparer, "take", spent)
    for name in ("connect", "ensure_folders", "select_inbox", "pending_uids", "sizes", "close"):
        _time_calls(watcher.conn, name, spent)
    _time_calls(watcher, "fetch_ahead", spent)
    _time_calls(service.preparer, "fetched", spent)
    t0 = time.perf_counter()
    cpu0 = time.thread_time()
    process_cpu0 = cpu_s()
    service.preparer.start()  # as Service.run_once does
    service.checkpointer.start()
    worker_start_s = time.perf_counter() - t0
    handled = watcher.run_once()
    intake_s = time.perf_counter() - t0
    watcher_cpu = time.thread_time() - cpu0
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    peak_intake = peak_rss_mb()
    process_cpu = cpu_s() - process_cpu0
    worker_peaks = [_status_mb("VmHWM", pid) for pid in service.preparer.worker_pids()]
    worker_split = [cpu_split(pid) for pid in service.preparer.worker_pids()]
    worker_cpu = sum(u + k for u, k in worker_split)
    worker_sys = sum(k for _u, k in worker_split)
    ahead = {"used": service.preparer.used, "missed": service.preparer.missed,
             "checkpoints": service.checkpointer.checkpoints}
    service.preparer.close()
    service.checkpointer.close()
    result: dict[str, Any] = {"handled": handled, "intake_s": intake_s, "outcomes": service.stats.outcomes,
                              "rss_start_mb": round(started_at, 1), "peak_rss_mb": round(peak_intake, 1),
                              "rss_end_mb": round(rss_mb(), 1), "samples": samples,
                              "worker_peak_rss_mb": [round(w, 1) for w in worker_peaks],
                              "parse_ahead": ahead, "watcher_cpu_s": round(watcher_cpu, 2),
                              "process_cpu_s": round(process_cpu, 2), "worker_cpu_s": round(worker_cpu, 2),
                              "worker_sys_s": round(worker_sys, 2),
                              "worker_start_s": worker_start_s,
                              "spent_s": {k: round(v, 2) for k, v in spent.items()}}
    if dispatch:
        t1 = time.perf_counter()
        service.sweep()
        stats = asyncio.run(service.dispatch_all())
        result.update(dispatch_s=time.perf_counter() - t1, sent=stats.sent, retried=stats.retried,
                      failed=stats.failed)
    return result


def child_floor(config: Path, batch: int) -> dict[str, Any]:
    """The floor: a bare imapclient fetch in batches + ``email.message_from_bytes`` of each."""
    from mailbot.config import load_settings
    from mailbot.mail.imap import MailboxConnection

    settings = load_settings(config)
    conn = MailboxConnection(settings.mailbox)
    t0 = time.perf_counter()
    conn.connect()
    client = conn.c
    client.select_folder("INBOX", readonly=True)
    uids = sorted(client.search("ALL"))
    parsed = 0
    for start in range(0, len(uids), batch):
        for _uid, data in client.fetch(uids[start:start + batch], ["BODY.PEEK[]"]).items():
            msg = email.message_from_bytes(data[b"BODY[]"], policy=email.policy.default)
            parsed += msg["Message-ID"] is not None
    elapsed = time.perf_counter() - t0
    conn.close()
    return {"handled": len(uids), "parsed": parsed, "intake_s": elapsed,
            "peak_rss_mb": round(peak_rss_mb(), 1)}


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=("intake", "floor"))
    parser.add_argument("config", type=Path)
    parser.add_argument("--sample-every", type=int, default=0)
    parser.add_argument("--dispatch", action="store_true")
    parser.add_argument("--profile", default="")
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args(argv)
    if args.mode == "intake":
        result = child_intake(args.config, args.sample_every, args.dispatch, args.profile)
    else:
        result = child_floor(args.config, args.batch)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
