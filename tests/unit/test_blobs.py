"""The blob store: content-addressed, written atomically, shared by the service and its worker."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from mailbot.store.blobs import BlobStore, sha256_hex


def _leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob(".tmp-*")]


def test_a_blob_is_named_by_its_digest_and_stored_once(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    digest = store.put(b"one message")
    assert digest == sha256_hex(b"one message")
    assert store.path_for(digest) == tmp_path / digest[:2] / digest
    assert store.get(digest) == b"one message"
    mtime = store.path_for(digest).stat().st_mtime_ns
    assert store.put(b"one message", durable=False) == digest
    assert store.path_for(digest).stat().st_mtime_ns == mtime  # not written again
    assert list(store) == [digest]
    assert not _leftovers(tmp_path)


def test_two_stores_on_one_directory_write_the_same_blobs_at_once(tmp_path: Path) -> None:
    """As the service and its parse-ahead worker do: every blob whole, no temporary left."""
    blobs = [os.urandom(1000 + i) for i in range(200)]
    stores = [BlobStore(tmp_path), BlobStore(tmp_path)]
    errors: list[BaseException] = []

    def write(store: BlobStore) -> None:
        try:
            for data in blobs:
                store.put(data, durable=False)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(stores[0]) == sorted(sha256_hex(b) for b in blobs)
    assert all(stores[1].get(sha256_hex(b)) == b for b in blobs)
    assert not _leftovers(tmp_path)


def test_a_temporary_name_left_by_an_earlier_process_is_passed_over(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    digest = sha256_hex(b"after a crash")
    directory = tmp_path / digest[:2]
    directory.mkdir(parents=True)
    stale = directory / f".tmp-{os.getpid()}-0"
    stale.write_bytes(b"half a blob")
    assert store.put(b"after a crash") == digest
    assert store.get(digest) == b"after a crash"
    assert stale.read_bytes() == b"half a blob"  # not ours to remove or overwrite


def test_a_fan_out_directory_removed_behind_its_back_is_made_again(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    first = store.put(b"first")
    (tmp_path / first[:2] / first).unlink()
    (tmp_path / first[:2]).rmdir()
    assert store.put(b"first") == first
    assert store.get(first) == b"first"


def test_blobs_of_a_store_with_two_levels_are_read_where_they_are(tmp_path: Path) -> None:
    """Stores written before one-level directories: their blobs are found, never stored twice."""
    old = b"stored in 2025"
    digest = sha256_hex(old)
    where = tmp_path / digest[:2] / digest[2:4] / digest
    where.parent.mkdir(parents=True)
    where.write_bytes(old)
    store = BlobStore(tmp_path)
    assert store.exists(digest) and store.get(digest) == old
    assert store.path_for(digest) == where
    assert store.put(old) == digest
    assert not (tmp_path / digest[:2] / digest).exists()  # not written again at the new place
    new = store.put(b"stored today")
    assert store.path_for(new) == tmp_path / new[:2] / new
    assert sorted(store) == sorted([digest, new])
