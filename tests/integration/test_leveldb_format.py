"""Every supported Python reads and extends a LevelDB store written by the other's binding (ADR 0015).

CPython 3.11 and 3.12 install plyvel's wheel (LevelDB 1.22 linked in); 3.13 builds plyvel from source
against Debian's LevelDB 1.23. A node's data directory must survive a change of interpreter, so
``tests/data/leveldb/`` holds one store written by each (``python tests/integration/test_leveldb_format.py
write DIR``): a compacted table file (``.ldb``, LevelDB's table_format.md) plus later overwrites and
deletions still in the write-ahead log (``.log``, log_format.md). Each test opens a copy with whatever
binding this interpreter has, checks every key against the model, then writes and compacts with it
and checks again — so the matrix run by ``make test-pythons`` crosses both bindings in both directions.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import plyvel
import pytest

from chain.storage.kv import WriteBatch
from chain.storage.leveldb import LevelDBKV

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "leveldb"
KEYS = 300


def _writers() -> dict[str, dict[str, str]]:
    """Which interpreter, plyvel and LevelDB wrote each fixture (``{}`` before the first is written)."""
    path = FIXTURES / "writers.json"
    return json.loads(path.read_text()) if path.exists() else {}


WRITERS = _writers()


def _value(i: int, salt: bytes) -> bytes:
    """0, 32 or 64 bytes: empty values must survive too."""
    return hashlib.sha256(salt + i.to_bytes(4, "big")).digest() * (i % 3)


def _phase_table() -> dict[bytes, bytes | None]:
    """Written first and compacted into a table file."""
    ops: dict[bytes, bytes | None] = {b"k/%05d" % i: _value(i, b"table") for i in range(KEYS)}
    ops[b"\xff\xff/edge"] = b"\x00" * 7
    return ops


def _phase_log() -> dict[bytes, bytes | None]:
    """Written after the compaction, so it is still in the write-ahead log when the store closes."""
    ops: dict[bytes, bytes | None] = {}
    for i in range(0, KEYS, 7):
        ops[b"k/%05d" % i] = _value(i, b"log")
    for i in range(0, KEYS, 11):
        ops[b"k/%05d" % i] = None
    ops[b"\xff\xff/edge"] = None
    ops[b"\x00/first"] = b"first"
    return ops


def _phase_reader() -> dict[bytes, bytes | None]:
    """Written by the binding under test on top of the fixture."""
    ops: dict[bytes, bytes | None] = {b"k/%05d" % i: _value(i, b"reader") for i in range(1, KEYS, 5)}
    ops[b"\x00/first"] = None
    return ops


def _apply(model: dict[bytes, bytes], ops: dict[bytes, bytes | None]) -> None:
    for key, value in ops.items():
        if value is None:
            model.pop(key, None)
        else:
            model[key] = value


def _batch(ops: dict[bytes, bytes | None]) -> WriteBatch:
    batch = WriteBatch()
    for key, value in ops.items():
        if value is None:
            batch.delete(key)
        else:
            batch.put(key, value)
    return batch


def expected(*phases: dict[bytes, bytes | None]) -> dict[bytes, bytes]:
    model: dict[bytes, bytes] = {}
    for ops in phases:
        _apply(model, ops)
    return model


def write_fixture(directory: Path) -> None:
    """Write the fixture store at ``directory`` with this interpreter's binding and record the writer."""
    if directory.exists():
        raise SystemExit(f"refusing to overwrite {directory}")
    with LevelDBKV(directory) as kv:
        kv.write(_batch(_phase_table()))
        kv._db.compact_range()
        kv.write(_batch(_phase_log()))
    for info_log in directory.glob("LOG*"):
        info_log.unlink()
    writers = _writers()
    writers[directory.name] = {
        "python": ".".join(map(str, sys.version_info[:3])),
        "plyvel": plyvel.__version__,
        "leveldb": plyvel.__leveldb_version__,
    }
    (FIXTURES / "writers.json").write_text(json.dumps(writers, indent=2, sort_keys=True) + "\n")


@pytest.fixture(params=sorted(WRITERS), ids=lambda name: f"written-by-{name}")
def fixture_copy(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A private copy: opening a LevelDB store rewrites its MANIFEST and log."""
    copy = tmp_path / request.param
    shutil.copytree(FIXTURES / request.param, copy)
    return copy


def test_fixtures_hold_a_table_file_and_a_log() -> None:
    """Both fixtures exercise both on-disk formats, and they come from two different LevelDB versions."""
    assert WRITERS, "tests/data/leveldb/writers.json lists no fixture"
    for name in WRITERS:
        files = {path.suffix for path in (FIXTURES / name).iterdir()}
        assert ".ldb" in files, f"{name} has no table file"
        assert ".log" in files, f"{name} has no write-ahead log"
        assert (FIXTURES / name / "CURRENT").is_file()
    assert len({writer["leveldb"] for writer in WRITERS.values()}) >= 2


def test_this_binding_reads_the_fixture(fixture_copy: Path) -> None:
    with LevelDBKV(fixture_copy, create=False) as kv:
        assert dict(kv.iterate()) == expected(_phase_table(), _phase_log())
        assert kv.get(b"k/00000") is None
        assert kv.get(b"k/00007") == _value(7, b"log")
        assert kv.get(b"k/00001") == _value(1, b"table")


def test_this_binding_extends_and_compacts_the_fixture(fixture_copy: Path) -> None:
    model = expected(_phase_table(), _phase_log(), _phase_reader())
    with LevelDBKV(fixture_copy, create=False) as kv:
        kv.write(_batch(_phase_reader()))
    with LevelDBKV(fixture_copy, create=False) as kv:
        assert dict(kv.iterate()) == model
        kv._db.compact_range()
        assert dict(kv.iterate(reverse=True)) == model
    with LevelDBKV(fixture_copy, create=False) as kv:
        assert dict(kv.iterate()) == model
        assert [key for key, _ in kv.iterate(b"k/0000")] == sorted(k for k in model if k.startswith(b"k/0000"))


def test_a_store_written_here_matches_the_model(tmp_path: Path) -> None:
    """The fixture recipe itself, with this binding: the model above describes what a writer stores."""
    with LevelDBKV(tmp_path / "db") as kv:
        kv.write(_batch(_phase_table()))
        kv._db.compact_range()
        kv.write(_batch(_phase_log()))
    with LevelDBKV(tmp_path / "db", create=False) as kv:
        assert dict(kv.iterate()) == expected(_phase_table(), _phase_log())


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "write":
        raise SystemExit("usage: python tests/integration/test_leveldb_format.py write DIR")
    write_fixture(Path(sys.argv[2]))
