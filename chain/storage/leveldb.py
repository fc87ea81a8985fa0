"""The LevelDB adapter of the KV port (DESIGN.md §6), via plyvel.

:class:`LevelDBKV` has exactly :class:`~chain.storage.kv.MemoryKV`'s interface and passes the same
test suite (``tests/unit/test_kv_suite.py``). Every :meth:`LevelDBKV.write` is one LevelDB
``WriteBatch`` applied with ``sync=True`` by default, so a committed batch survives kill -9 and
power loss and a torn batch is never visible (LevelDB replays its log record all-or-nothing).

Every plyvel failure (the directory is locked by another process, the files are corrupt, the store
is closed) is raised as :class:`~chain.errors.StorageError` with a message that names the path.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import plyvel

from chain.errors import StorageError
from chain.storage.kv import WriteBatch, prefix_upper_bound

# LevelDB's default memtable size. Larger memtables were measured slower for block commits (a deeper
# skip list per insert: 4 MiB ~11 ms, 32 MiB ~15 ms of CPU per 2,000-tx commit, benchmarks/blockstore.py).
WRITE_BUFFER_SIZE = 4 * 1024 * 1024
BLOCK_CACHE_SIZE = 64 * 1024 * 1024
# LevelDB maps every open table file into memory: 512 open files took a 1M-asset node past 400 MB RSS
# (benchmarks/assets_state.py); 64 keeps it near 200 MB with p99 reads still under 1 ms.
MAX_OPEN_FILES = 64
# No block compression: nearly every byte we store is a hash, a signature or a tx body of hashes, which
# snappy cannot shrink; it only cost CPU in the background compactions (2.3x their CPU for 3.6M index
# entries of 10,000-hash anchor batches). Bloom filters (10 bits/key) keep misses off the table files.
COMPRESSION = None
BLOOM_FILTER_BITS = 10


def _message(exc: BaseException) -> str:
    """plyvel puts LevelDB's status string in args[0] as bytes."""
    raw = exc.args[0] if exc.args else exc
    if isinstance(raw, bytes):
        return raw.decode("utf-8", "replace")
    return str(raw)


class LevelDBKV:
    """A LevelDB database at ``path``; ``create=False`` refuses to create a missing one."""

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = Path(path)
        if create:
            try:
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(f"cannot create database directory {self.path}: {exc}") from exc
        try:
            self._db: Any = plyvel.DB(
                str(self.path),
                create_if_missing=create,
                write_buffer_size=WRITE_BUFFER_SIZE,
                lru_cache_size=BLOCK_CACHE_SIZE,
                max_open_files=MAX_OPEN_FILES,
                compression=COMPRESSION,
                bloom_filter_bits=BLOOM_FILTER_BITS,
            )
        except plyvel.IOError as exc:
            text = _message(exc)
            if "lock" in text.lower():
                raise StorageError(
                    f"database {self.path} is locked: another process (or another handle in this one) has it open"
                    f" — stop that node first ({text})"
                ) from exc
            raise StorageError(f"cannot open database {self.path}: I/O error: {text}") from exc
        except plyvel.CorruptionError as exc:
            raise StorageError(f"database {self.path} is corrupt: {_message(exc)}") from exc
        except plyvel.Error as exc:
            text = _message(exc)
            if not create and "does not exist" in text:
                raise StorageError(f"no database at {self.path} (and create=False)") from exc
            raise StorageError(f"cannot open database {self.path}: {text}") from exc
        self._closed = False

    def _closed_error(self) -> StorageError:
        return StorageError(f"store is closed ({self.path})")

    def _check_open(self) -> None:
        if self._closed:
            raise self._closed_error()

    def get(self, key: bytes) -> bytes | None:
        self._check_open()
        try:
            value: bytes | None = self._db.get(key)
        except RuntimeError as exc:
            raise self._closed_error() from exc
        except plyvel.Error as exc:
            raise StorageError(f"read from {self.path} failed: {_message(exc)}") from exc
        return value

    def iterate(
        self, prefix: bytes = b"", *, start: bytes | None = None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        """Items whose key starts with ``prefix``, in key order (descending with ``reverse``).

        ``start`` is inclusive: forward iteration begins at the smallest key ``>= start``, reverse
        iteration at the greatest key ``<= start``. plyvel's ``prefix=`` cannot be combined with
        ``start=``/``stop=``, so the range is always given as ``[lower, upper)`` explicitly, with
        :func:`~chain.storage.kv.prefix_upper_bound` handling prefixes that end in 0xff bytes.
        """
        self._check_open()
        upper = prefix_upper_bound(prefix)
        lower: bytes | None = prefix or None
        include_stop = False
        if start is not None and not reverse:
            lower = max(prefix, start) or None
        elif start is not None and reverse:
            if start < prefix:
                return
            if upper is None or start < upper:
                upper, include_stop = start, True
        if (
            lower is not None
            and upper is not None
            and (lower > upper or (lower == upper and not include_stop))
        ):
            return
        try:
            if reverse:
                # plyvel 1.5 yields nothing for a reverse range whose only key equals its ``start=``
                # (e.g. keys b, d: start=b, stop=c), so the lower bound is checked here instead.
                iterator = self._db.iterator(stop=upper, include_stop=include_stop, reverse=True)
            else:
                iterator = self._db.iterator(start=lower, stop=upper)
        except RuntimeError as exc:
            raise self._closed_error() from exc
        try:
            if reverse and lower is not None:
                for item in iterator:
                    if item[0] < lower:
                        return
                    yield item
            else:
                yield from iterator
        except RuntimeError as exc:
            raise self._closed_error() from exc
        except plyvel.Error as exc:
            raise StorageError(f"iteration over {self.path} failed: {_message(exc)}") from exc
        finally:
            try:
                iterator.close()
            except RuntimeError:
                pass

    def write(self, batch: WriteBatch, *, sync: bool = True) -> None:
        """Apply ``batch`` as one LevelDB WriteBatch; with ``sync`` it is fsynced before returning."""
        self._check_open()
        try:
            with self._db.write_batch(transaction=True, sync=sync) as leveldb_batch:
                put = leveldb_batch.put
                delete = leveldb_batch.delete
                for key, value in batch.ops.items():
                    if value is None:
                        delete(key)
                    else:
                        put(key, value)
                for prefix, entries in batch.prefixed:
                    for key, value in entries.items():
                        if value is None:
                            delete(prefix + key)
                        else:
                            put(prefix + key, value)
        except RuntimeError as exc:
            raise self._closed_error() from exc
        except plyvel.Error as exc:
            raise StorageError(f"write to {self.path} failed: {_message(exc)}") from exc

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._db.close()

    def __enter__(self) -> LevelDBKV:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
