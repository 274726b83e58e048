"""The watcher fetches a batch a part at a time when its messages are large (``mail.imap.split_by_size``)."""

from __future__ import annotations

from mailbot.mail.imap import split_by_size

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
