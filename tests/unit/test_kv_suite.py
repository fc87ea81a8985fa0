"""One KV suite for both stores: MemoryKV and the LevelDB adapter (STYLE.md habit 9, DESIGN.md §6).

Every test here runs against both; the hypothesis test replays random action lists against each
store and a plain dict model (py-evm's database tests). LevelDB-only behaviour (reopen, locking,
corruption) is at the end.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.errors import StorageError
from chain.storage.kv import KV, MemoryKV, WriteBatch, prefix_upper_bound
from chain.storage.leveldb import LevelDBKV

BACKENDS = ["memory", "leveldb"]
REPO = Path(__file__).resolve().parents[2]


def open_store(backend: str, path: Path) -> KV:
    return MemoryKV() if backend == "memory" else LevelDBKV(path / "db")


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KV]:
    kv = open_store(request.param, tmp_path)
    yield kv
    kv.close()


def put_all(kv: KV, items: dict[bytes, bytes]) -> None:
    batch = WriteBatch()
    for key, value in items.items():
        batch.put(key, value)
    kv.write(batch)


def keys(kv: KV, prefix: bytes = b"", **kwargs: object) -> list[bytes]:
    return [key for key, _ in kv.iterate(prefix, **kwargs)]  # type: ignore[arg-type]


# --- get / put / delete ------------------------------------------------------------------------------


def test_get_missing_is_none(store: KV) -> None:
    assert store.get(b"nothing") is None


def test_put_get_overwrite_delete(store: KV) -> None:
    put_all(store, {b"a": b"1", b"b": b"2"})
    assert store.get(b"a") == b"1"
    assert store.get(b"b") == b"2"
    put_all(store, {b"a": b"one"})
    assert store.get(b"a") == b"one"
    batch = WriteBatch()
    batch.delete(b"a")
    batch.delete(b"never-there")
    store.write(batch)
    assert store.get(b"a") is None
    assert store.get(b"b") == b"2"


def test_empty_key_and_empty_value(store: KV) -> None:
    put_all(store, {b"": b"root", b"k": b""})
    assert store.get(b"") == b"root"
    assert store.get(b"k") == b""
    assert list(store.iterate()) == [(b"", b"root"), (b"k", b"")]


def test_last_op_on_a_key_wins(store: KV) -> None:
    put_all(store, {b"x": b"old", b"y": b"old"})
    batch = WriteBatch()
    batch.put(b"x", b"1")
    batch.delete(b"x")
    batch.put(b"x", b"2")
    batch.put(b"y", b"1")
    batch.delete(b"y")
    batch.delete(b"z")
    batch.put(b"z", b"3")
    store.write(batch)
    assert store.get(b"x") == b"2"
    assert store.get(b"y") is None
    assert store.get(b"z") == b"3"


def test_batch_is_invisible_until_written_then_whole(store: KV) -> None:
    put_all(store, {b"gone": b"0"})
    batch = WriteBatch()
    for i in range(500):
        batch.put(b"k%04d" % i, b"v%d" % i)
    batch.delete(b"gone")
    assert store.get(b"k0000") is None and store.get(b"gone") == b"0"
    store.write(batch, sync=False)
    assert len(list(store.iterate(b"k"))) == 500
    assert store.get(b"k0499") == b"v499"
    assert store.get(b"gone") is None


def test_prefixed_entries_follow_the_single_ops(store: KV) -> None:
    put_all(store, {b"Ia": b"old", b"Ib": b"old"})
    batch = WriteBatch()
    batch.put(b"Ia", b"single")
    batch.put_prefixed(b"I", {b"a": b"segment", b"b": None, b"c": b"3"})
    batch.put_prefixed(b"J", {b"a": b"4"})
    assert len(batch) == 5
    store.write(batch)
    assert store.get(b"Ia") == b"segment" and store.get(b"Ib") is None
    assert store.get(b"Ic") == b"3" and store.get(b"Ja") == b"4"


def test_batch_rejects_non_bytes() -> None:
    batch = WriteBatch()
    with pytest.raises(StorageError):
        batch.put("a", b"1")  # type: ignore[arg-type]
    with pytest.raises(StorageError):
        batch.put(b"a", "1")  # type: ignore[arg-type]
    with pytest.raises(StorageError):
        batch.delete(1)  # type: ignore[arg-type]
    with pytest.raises(StorageError):
        batch.put_prefixed(b"", {})
    assert len(batch) == 0


# --- iteration -----------------------------------------------------------------------------------------

SAMPLE = {
    b"a": b"1",
    b"ab": b"2",
    b"abc": b"3",
    b"abd": b"4",
    b"ac": b"5",
    b"b": b"6",
    b"b\x00": b"7",
    b"ba": b"8",
}


def test_iteration_is_in_byte_order(store: KV) -> None:
    put_all(store, {b"\x01": b"", b"\x00\xff": b"", b"\x00": b"", b"\xff": b"", b"\x7f\x80": b""})
    assert keys(store) == [b"\x00", b"\x00\xff", b"\x01", b"\x7f\x80", b"\xff"]
    assert keys(store, reverse=True) == [b"\xff", b"\x7f\x80", b"\x01", b"\x00\xff", b"\x00"]


def test_prefix_iteration(store: KV) -> None:
    put_all(store, SAMPLE)
    assert list(store.iterate(b"ab")) == [(b"ab", b"2"), (b"abc", b"3"), (b"abd", b"4")]
    assert keys(store, b"b") == [b"b", b"b\x00", b"ba"]
    assert keys(store, b"abc") == [b"abc"]
    assert keys(store, b"abcd") == []
    assert keys(store, b"c") == []
    assert keys(store, b"") == sorted(SAMPLE)


def test_forward_start(store: KV) -> None:
    put_all(store, SAMPLE)
    assert keys(store, start=b"abd") == [b"abd", b"ac", b"b", b"b\x00", b"ba"]  # inclusive
    assert keys(store, start=b"abcz") == [b"abd", b"ac", b"b", b"b\x00", b"ba"]  # between keys
    assert keys(store, b"ab", start=b"abc") == [b"abc", b"abd"]
    assert keys(store, b"ab", start=b"a") == [b"ab", b"abc", b"abd"]  # start before the prefix
    assert keys(store, b"ab", start=b"ac") == []  # start after the prefix range
    assert keys(store, b"ab", start=b"abz") == []
    assert keys(store, start=b"zz") == []


def test_reverse_without_start(store: KV) -> None:
    put_all(store, SAMPLE)
    assert keys(store, reverse=True) == sorted(SAMPLE, reverse=True)
    assert keys(store, b"ab", reverse=True) == [b"abd", b"abc", b"ab"]
    assert keys(store, b"b", reverse=True) == [b"ba", b"b\x00", b"b"]
    assert keys(store, b"c", reverse=True) == []


def test_reverse_with_start(store: KV) -> None:
    put_all(store, SAMPLE)
    assert keys(store, start=b"abd", reverse=True) == [b"abd", b"abc", b"ab", b"a"]  # inclusive
    assert keys(store, start=b"abcz", reverse=True) == [b"abc", b"ab", b"a"]  # between keys
    assert keys(store, b"ab", start=b"abc", reverse=True) == [b"abc", b"ab"]
    assert keys(store, b"ab", start=b"zz", reverse=True) == [b"abd", b"abc", b"ab"]  # after the range
    assert keys(store, b"ab", start=b"ab", reverse=True) == [b"ab"]  # start == prefix
    assert keys(store, b"ab", start=b"aa", reverse=True) == []  # before the range
    assert keys(store, start=b"", reverse=True) == []
    assert keys(store, start=b"\xff", reverse=True) == sorted(SAMPLE, reverse=True)


def test_reverse_range_holding_one_key(store: KV) -> None:
    """Regression: plyvel 1.5's own reverse start/stop bounds yield nothing for a one-key range."""
    put_all(store, {b"b": b"1", b"d": b"2"})
    assert keys(store, b"b", reverse=True) == [b"b"]
    assert keys(store, b"d", reverse=True) == [b"d"]
    assert keys(store, b"b", start=b"b", reverse=True) == [b"b"]
    assert keys(store, start=b"c", reverse=True) == [b"b"]


def test_prefix_ending_in_ff_bytes(store: KV) -> None:
    """The prefix upper bound must skip trailing 0xff bytes: b'a\\xff' ends before b'b', not b'a\\x100'."""
    items = {
        b"a": b"",
        b"a\xfe": b"",
        b"a\xff": b"",
        b"a\xff\x00": b"",
        b"a\xff\xff": b"",
        b"a\xff\xff\xff": b"",
        b"b": b"",
        b"\xff": b"",
        b"\xff\x00": b"",
        b"\xff\xff": b"",
    }
    put_all(store, items)
    assert keys(store, b"a\xff") == [b"a\xff", b"a\xff\x00", b"a\xff\xff", b"a\xff\xff\xff"]
    assert keys(store, b"a\xff\xff") == [b"a\xff\xff", b"a\xff\xff\xff"]
    assert keys(store, b"a\xff", reverse=True) == [b"a\xff\xff\xff", b"a\xff\xff", b"a\xff\x00", b"a\xff"]
    assert keys(store, b"\xff") == [b"\xff", b"\xff\x00", b"\xff\xff"]
    assert keys(store, b"\xff\xff") == [b"\xff\xff"]
    assert keys(store, b"\xff", reverse=True) == [b"\xff\xff", b"\xff\x00", b"\xff"]
    assert keys(store, b"\xff", start=b"\xff\x01", reverse=True) == [b"\xff\x00", b"\xff"]
    assert keys(store, b"\xff", start=b"\xff\x01") == [b"\xff\xff"]
    assert keys(store, b"a", start=b"a\xff") == [b"a\xff", b"a\xff\x00", b"a\xff\xff", b"a\xff\xff\xff"]


def test_prefix_upper_bound() -> None:
    assert prefix_upper_bound(b"") is None
    assert prefix_upper_bound(b"\xff\xff") is None
    assert prefix_upper_bound(b"a") == b"b"
    assert prefix_upper_bound(b"a\xff\xff") == b"b"
    assert prefix_upper_bound(b"a\x00") == b"a\x01"


# --- closing -------------------------------------------------------------------------------------------


def test_closed_store_raises_storage_error(store: KV) -> None:
    put_all(store, {b"a": b"1"})
    store.close()
    with pytest.raises(StorageError, match="closed"):
        store.get(b"a")
    with pytest.raises(StorageError, match="closed"):
        list(store.iterate())
    batch = WriteBatch()
    batch.put(b"b", b"2")
    with pytest.raises(StorageError, match="closed"):
        store.write(batch)
    store.close()  # idempotent


def test_close_during_iteration_raises_storage_error(store: KV) -> None:
    put_all(store, {b"a": b"1", b"b": b"2", b"c": b"3"})
    iterator = store.iterate()
    assert next(iterator) == (b"a", b"1")
    store.close()
    if isinstance(store, LevelDBKV):  # MemoryKV iterates over a snapshot of its key list
        with pytest.raises(StorageError):
            list(iterator)


# --- model-based: random action lists against a dict ------------------------------------------------

key_bytes = st.lists(st.sampled_from(b"\x00\x01a\xfe\xff"), max_size=4).map(bytes)
values = st.binary(max_size=8)
batch_ops = st.lists(st.tuples(key_bytes, st.none() | values), max_size=12)
actions = st.lists(
    st.one_of(
        st.tuples(st.just("write"), batch_ops, st.booleans()),
        st.tuples(st.just("get"), key_bytes),
        st.tuples(st.just("iterate"), key_bytes, st.none() | key_bytes, st.booleans()),
    ),
    max_size=30,
)


def model_iterate(
    model: dict[bytes, bytes], prefix: bytes, start: bytes | None, reverse: bool
) -> list[tuple[bytes, bytes]]:
    selected = sorted(key for key in model if key.startswith(prefix))
    if start is not None:
        selected = [key for key in selected if (key <= start if reverse else key >= start)]
    if reverse:
        selected.reverse()
    return [(key, model[key]) for key in selected]


def run_actions(kv: KV, script: list[tuple[Any, ...]]) -> None:
    model: dict[bytes, bytes] = {}
    for action in script:
        if action[0] == "write":
            _, ops, sync = action
            batch = WriteBatch()
            for key, value in ops:
                if value is None:
                    batch.delete(key)
                    model.pop(key, None)
                else:
                    batch.put(key, value)
                    model[key] = value
            kv.write(batch, sync=sync)
        elif action[0] == "get":
            assert kv.get(action[1]) == model.get(action[1])
        else:
            _, prefix, start, reverse = action
            assert list(kv.iterate(prefix, start=start, reverse=reverse)) == model_iterate(
                model, prefix, start, reverse
            )
    assert list(kv.iterate()) == sorted(model.items())


@contextmanager
def _memory() -> Iterator[KV]:
    yield MemoryKV()


@contextmanager
def _leveldb() -> Iterator[KV]:
    with tempfile.TemporaryDirectory(prefix="silkport-kv-") as tmp:
        kv = LevelDBKV(Path(tmp) / "db")
        try:
            yield kv
        finally:
            kv.close()


FACTORIES: dict[str, Callable[[], AbstractContextManager[KV]]] = {"memory": _memory, "leveldb": _leveldb}


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=200, deadline=None)
@given(script=actions)
def test_matches_dict_model(backend: str, script: list[tuple[Any, ...]]) -> None:
    with FACTORIES[backend]() as kv:
        run_actions(kv, script)


# --- LevelDB only ----------------------------------------------------------------------------------------


def test_leveldb_reopen_sees_data(tmp_path: Path) -> None:
    kv = LevelDBKV(tmp_path / "db")
    put_all(kv, {b"a": b"1", b"b": b"2"})
    batch = WriteBatch()
    batch.delete(b"a")
    kv.write(batch)
    kv.close()
    with LevelDBKV(tmp_path / "db", create=False) as reopened:
        assert list(reopened.iterate()) == [(b"b", b"2")]


def test_leveldb_creates_parent_directories(tmp_path: Path) -> None:
    with LevelDBKV(tmp_path / "home" / "data" / "chain") as kv:
        put_all(kv, {b"k": b"v"})
        assert kv.get(b"k") == b"v"


def test_leveldb_missing_without_create(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="no database"):
        LevelDBKV(tmp_path / "absent", create=False)


def test_leveldb_locked_in_this_process(tmp_path: Path) -> None:
    with LevelDBKV(tmp_path / "db"):
        with pytest.raises(StorageError, match="locked"):
            LevelDBKV(tmp_path / "db")
    LevelDBKV(tmp_path / "db").close()  # released on close


def test_leveldb_locked_by_another_process(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from chain.storage.leveldb import LevelDBKV; "
            f"kv = LevelDBKV({str(tmp_path / 'db')!r}); print('ready', flush=True); sys.stdin.read(); kv.close()",
        ],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(StorageError, match="locked"):
            LevelDBKV(tmp_path / "db")
    finally:
        holder.communicate(input="", timeout=30)
    assert holder.returncode == 0
    LevelDBKV(tmp_path / "db").close()  # the lock died with the holder


def test_leveldb_corrupt_store(tmp_path: Path) -> None:
    kv = LevelDBKV(tmp_path / "db")
    put_all(kv, {b"a": b"1"})
    kv.close()
    manifest = next((tmp_path / "db").glob("MANIFEST-*"))
    manifest.write_bytes(b"\x01" * 100)
    with pytest.raises(StorageError, match="corrupt"):
        LevelDBKV(tmp_path / "db")
