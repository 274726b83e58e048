"""The watcher fetches a batch a part at a time when its messages are large (``mail.imap.split_by_size``),
and asks a fetch-ahead worker for the next part while it files one (``Watcher.drain``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from mailbot.config import MailboxSettings
from mailbot.mail import imap
from mailbot.mail.imap import FetchedMail, Watcher, split_by_size

MB = 1024 * 1024


def test_small_messages_stay_one_part() -> None:
    uids = list(range(1, 51))
    assert split_by_size(uids, dict.fromkeys(uids, 16_000), 64 * MB, 35 * MB) == [uids]


def test_large_messages_are_fetched_within_the_budget_in_order() -> None:
    sizes = {1: 30 * MB, 2: 30 * MB, 3: 10 * MB, 4: 1 * MB, 5: 60 * MB, 6: 2 * MB}
    parts = split_by_size(list(sizes), sizes, 64 * MB, 100 * MB)
    assert parts == [[1, 2], [3, 4], [5, 6]]
    assert [u for part in parts for u in part] == list(sizes)
    for part in parts:
        assert len(part) == 1 or sum(sizes[u] for u in part) <= 64 * MB


def test_a_message_over_the_budget_is_a_part_of_its_own_and_oversized_ones_count_nothing() -> None:
    sizes = {1: 1 * MB, 2: 80 * MB, 3: 1 * MB, 4: 500 * MB, 5: 1 * MB}
    # 4 is over the message size limit: only its header is fetched, so it costs nothing
    assert split_by_size(list(sizes), sizes, 64 * MB, 100 * MB) == [[1], [2], [3, 4, 5]]


# -- the order of a drain (the watcher over a recording connection) --------------------------


class _Recording:
    """The mailbox connection as the watcher drives it, recording each step."""

    def __init__(self, sizes: dict[int, int], events: list[str]) -> None:
        self.inbox = dict(sizes)
        self.events = events
        self.uidvalidity = 7

    def select_inbox(self) -> int:
        return self.uidvalidity

    def pending_uids(self) -> list[int]:
        return sorted(self.inbox)

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        self.events.append(f"sizes {len(uids)}")
        return {u: self.inbox[u] for u in uids}

    def fetch(self, uids: Sequence[int], sizes: dict[int, int]) -> list[FetchedMail]:
        self.events.append(f"fetch {uids[0]}-{uids[-1]}")
        return [FetchedMail(self.uidvalidity, u, sizes[u], b"x" * 10, False) for u in uids]

    def move(self, uids: Sequence[int], folder: str) -> None:
        self.events.append(f"move {uids[0]}-{uids[-1]} {folder}")
        for u in uids:
            del self.inbox[u]


def _watcher(sizes: dict[int, int], events: list[str], barrier: Callable[[], None],
             batch_size: int = 3, ahead: set[int] | None = None,
             brought: set[int] | None = None) -> tuple[Watcher, _Recording]:
    """A watcher over a recording connection; ``ahead``: the UIDs a fetch-ahead worker takes
    when asked, ``brought``: those of them it has brought by the time they are filed."""
    conn = _Recording(sizes, events)

    def handle(fetched: FetchedMail) -> str:
        events.append(f"handle {fetched.uid}{' (ahead)' if fetched.raw == b'ahead' else ''}")
        return "Processed"

    def fetch_ahead(validity: int, part: list[tuple[int, int]], fresh: bool) -> set[int]:
        assert validity == conn.uidvalidity
        given = {u for u, _size in part if ahead is not None and u in ahead}
        events.append(f"ask ahead {part[0][0]}-{part[-1][0]}{' fresh' if fresh else ''}")
        return given

    def fetched_ahead(validity: int, uid: int) -> bytes | None:
        return b"ahead" if brought is not None and uid in brought else None

    watcher = Watcher(MailboxSettings(batch_size=batch_size), handle, before_move=barrier,
                      connection=conn,  # type: ignore[arg-type]
                      on_fetched=lambda batch: events.append(f"hand over {len(batch)}"),
                      fetch_ahead=fetch_ahead, fetched_ahead=fetched_ahead)
    return watcher, conn


def test_without_a_worker_each_part_is_fetched_filed_made_durable_and_moved(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imap, "MOVE_EVERY", 3)  # settle after every part of 3
    events: list[str] = []
    watcher, conn = _watcher(dict.fromkeys(range(1, 8), 1000), events,
                             lambda: events.append("barrier"))
    assert watcher.drain() == 7
    assert conn.inbox == {}
    assert events == [
        "sizes 7",  # one round trip for the sizes of the whole backlog
        "ask ahead 1-3 fresh",
        "fetch 1-3", "hand over 3", "ask ahead 4-6", "handle 1", "handle 2", "handle 3",
        "barrier", "move 1-3 Processed",
        "fetch 4-6", "hand over 3", "ask ahead 7-7", "handle 4", "handle 5", "handle 6",
        "barrier", "move 4-6 Processed",
        "fetch 7-7", "hand over 1", "handle 7", "barrier", "move 7-7 Processed",
    ]


def test_the_worker_fetches_ahead_and_what_it_did_not_bring_is_fetched_here(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imap, "MOVE_EVERY", 3)
    events: list[str] = []
    # the worker takes 1-6 (7 is too large for it, say) but has not brought 5
    watcher, conn = _watcher(dict.fromkeys(range(1, 8), 1000), events,
                             lambda: events.append("barrier"), ahead={1, 2, 3, 4, 5, 6},
                             brought={1, 2, 3, 4, 6})
    assert watcher.drain() == 7
    assert conn.inbox == {}
    assert events == [
        "sizes 7",
        "ask ahead 1-3 fresh",
        "ask ahead 4-6",  # the next part is asked for before this one is filed
        "handle 1 (ahead)", "handle 2 (ahead)", "handle 3 (ahead)",
        "barrier", "move 1-3 Processed",
        "ask ahead 7-7",
        "handle 4 (ahead)", "fetch 5-5", "handle 5", "handle 6 (ahead)",
        "barrier", "move 4-6 Processed",
        "fetch 7-7", "hand over 1", "handle 7", "barrier", "move 7-7 Processed",
    ]


def test_a_backlog_is_made_durable_and_moved_together_at_the_end(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imap, "MOVE_EVERY", 5)
    events: list[str] = []
    watcher, conn = _watcher(dict.fromkeys(range(1, 8), 1000), events,
                             lambda: events.append("barrier"))
    assert watcher.drain() == 7
    assert conn.inbox == {}
    settle = [e for e in events if e.startswith(("barrier", "move", "handle"))]
    assert settle == [
        "handle 1", "handle 2", "handle 3", "handle 4", "handle 5", "handle 6",
        "barrier", "move 1-6 Processed",  # six waiting after the second part: at least five
        "handle 7", "barrier", "move 7-7 Processed",  # the end of the backlog
    ]


def test_filed_messages_wait_at_most_move_after_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imap, "MOVE_AFTER", 0.0)  # every part is due at once
    events: list[str] = []
    watcher, _conn = _watcher(dict.fromkeys(range(1, 8), 1000), events,
                             lambda: events.append("barrier"))
    assert watcher.drain() == 7
    assert [e for e in events if e.startswith("move")] == [
        "move 1-3 Processed", "move 4-6 Processed", "move 7-7 Processed"]


def test_nothing_moves_when_the_barrier_fails() -> None:
    events: list[str] = []

    def failing() -> None:
        raise OSError("disk full")

    watcher, conn = _watcher(dict.fromkeys(range(1, 5), 1000), events, failing)
    with pytest.raises(OSError):
        watcher.drain()
    assert not [e for e in events if e.startswith("move")]
    assert sorted(conn.inbox) == [1, 2, 3, 4]  # filed, committed, still in the inbox: seen again


def test_a_worker_that_was_starting_is_asked_again_for_the_next_part(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imap, "ASK_AGAIN_EVERY", 2)
    events: list[str] = []
    conn = _Recording(dict.fromkeys(range(1, 9), 1000), events)
    asked: list[int] = []

    def fetch_ahead(validity: int, part: list[tuple[int, int]], fresh: bool) -> set[int]:
        asked.append(part[0][0])
        return {u for u, _ in part} if len(asked) >= 3 else set()  # ready at the third ask

    def handle(fetched: FetchedMail) -> str:
        events.append(f"handle {fetched.uid}{' (ahead)' if fetched.raw == b'ahead' else ''}")
        return "Processed"

    watcher = Watcher(MailboxSettings(batch_size=4), handle, before_move=lambda: None,
                      connection=conn,  # type: ignore[arg-type]
                      fetch_ahead=fetch_ahead, fetched_ahead=lambda v, u: b"ahead")
    assert watcher.drain() == 8
    # part 1-4 (fresh, not taken), then 5-8 at messages 1 and 3 of the first part: taken
    assert asked == [1, 5, 5]
    assert [e for e in events if e.startswith(("fetch", "handle"))] == [
        "fetch 1-4", "handle 1", "handle 2", "handle 3", "handle 4",
        "handle 5 (ahead)", "handle 6 (ahead)", "handle 7 (ahead)", "handle 8 (ahead)"]
