"""The node-local index (ADR 0009): filter, batch writes, restart, and the overlay's bulk reads."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain import merkle
from chain.contracts.base import Overlay
from chain.storage.kv import MemoryKV, WriteBatch
from chain.storage.leveldb import LevelDBKV
from chain.storage.localindex import LocalIndex
from chain.storage.schema import INDEX_PREFIX


def commit(index: LocalIndex, kv: MemoryKV | LevelDBKV, writes: dict[bytes, bytes | None]) -> None:
    batch = WriteBatch()
    index.add_to_batch(batch, writes)
    kv.write(batch)


def test_entries_are_stored_under_the_index_prefix_and_found_again() -> None:
    kv = MemoryKV()
    index = LocalIndex(kv, filter_bits=1 << 10)
    commit(index, kv, {b"anchor/a": b"1", b"anchor/b": b"2"})
    assert kv.get(INDEX_PREFIX + b"anchor/a") == b"1"
    assert index.get(b"anchor/a") == b"1" and index.get(b"anchor/c") is None
    assert index.get_many([b"anchor/c", b"anchor/b", b"anchor/a"]) == [None, b"2", b"1"]
    commit(index, kv, {b"anchor/a": None})
    assert index.get(b"anchor/a") is None and kv.get(INDEX_PREFIX + b"anchor/a") is None


def test_a_tiny_filter_only_costs_reads_never_answers(tmp_path: pytest.TempPathFactory) -> None:
    """Eight bits for hundreds of keys: every probe collides, answers still come from the store."""
    kv = LevelDBKV(str(tmp_path))
    index = LocalIndex(kv, filter_bits=8)
    keys = [os.urandom(32) for _ in range(300)]
    commit(index, kv, {k: k[:4] for k in keys[:200]})
    assert index.get_many(keys) == [k[:4] for k in keys[:200]] + [None] * 100
    kv.close()


def test_the_filter_is_rebuilt_from_the_store_at_start(tmp_path: pytest.TempPathFactory) -> None:
    kv = LevelDBKV(str(tmp_path))
    keys = [os.urandom(32) for _ in range(500)]
    commit(LocalIndex(kv), kv, {k: b"v" for k in keys})
    kv.close()
    kv = LevelDBKV(str(tmp_path), create=False)
    reopened = LocalIndex(kv)
    assert all(value == b"v" for value in reopened.get_many(keys))
    kv.close()


def test_filter_size_must_be_a_power_of_two() -> None:
    with pytest.raises(ValueError):
        LocalIndex(MemoryKV(), filter_bits=1000)


@settings(max_examples=200, deadline=None)
@given(
    base=st.dictionaries(st.binary(min_size=1, max_size=3), st.binary(max_size=2), max_size=8),
    levels=st.lists(st.dictionaries(st.binary(min_size=1, max_size=3), st.none() | st.binary(max_size=2),
                                    max_size=8), max_size=3),
    keys=st.lists(st.binary(min_size=1, max_size=3), max_size=12),
    bulk_base=st.booleans(),
)
def test_overlay_get_many_equals_get(base: dict[bytes, bytes], levels: list[dict[bytes, bytes | None]],
                                     keys: list[bytes], bulk_base: bool) -> None:
    overlay = Overlay(base.get, (lambda ks: [base.get(k) for k in ks]) if bulk_base else None)
    for writes in levels:
        overlay.writes.update(writes)
        overlay = overlay.child()
    assert overlay.get_many(keys) == [overlay.get(k) for k in keys]


@given(st.lists(st.binary(max_size=40), max_size=70))
def test_root_of_data_is_the_root_of_leaf_hashes(items: list[bytes]) -> None:
    assert merkle.root_of_data(items) == merkle.root([merkle.leaf_hash(d) for d in items])
