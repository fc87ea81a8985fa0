"""The key-value port and its in-memory twin (STYLE.md habit 9; py-evm's ``AtomicDatabase``).

A store is an ordered byte-string map. Reads go through :class:`KVReader`; every write goes
through a :class:`WriteBatch` applied atomically by :meth:`KV.write` (LevelDB's ``WriteBatch``
with ``sync=True`` in production). :class:`MemoryKV` and the LevelDB adapter pass one test suite.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping
from typing import Protocol

from chain.errors import StorageError


class KVReader(Protocol):
    def get(self, key: bytes) -> bytes | None: ...

    def iterate(
        self, prefix: bytes = b"", *, start: bytes | None = None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        """Items whose key starts with ``prefix``, in key order (descending with ``reverse``).

        ``start`` is the first key visited, inclusive: forward iteration begins at the smallest key
        ``>= start``; reverse iteration begins at the greatest key ``<= start``.
        """
        ...


class WriteBatch:
    """An ordered list of puts and deletes applied all-or-nothing; the last op on a key wins.

    ``ops`` holds single keys; ``prefixed`` holds whole mappings under one key prefix (the local index
    adds 10,000 entries per anchor batch without building a second dict), applied after ``ops``.
    """

    __slots__ = ("ops", "prefixed")

    def __init__(self) -> None:
        self.ops: dict[bytes, bytes | None] = {}
        self.prefixed: list[tuple[bytes, Mapping[bytes, bytes | None]]] = []

    def put(self, key: bytes, value: bytes) -> None:
        if not isinstance(key, bytes) or not isinstance(value, bytes):
            raise StorageError("keys and values are bytes")
        self.ops[key] = value

    def delete(self, key: bytes) -> None:
        if not isinstance(key, bytes):
            raise StorageError("keys are bytes")
        self.ops[key] = None

    def put_prefixed(self, prefix: bytes, entries: Mapping[bytes, bytes | None]) -> None:
        """Write every ``prefix + key`` of ``entries`` (``None`` deletes); ``entries`` must not change."""
        if not isinstance(prefix, bytes) or not prefix:
            raise StorageError("a key prefix is non-empty bytes")
        self.prefixed.append((prefix, entries))

    def update(self, other: WriteBatch) -> None:
        self.ops.update(other.ops)
        self.prefixed.extend(other.prefixed)

    def items(self) -> Iterator[tuple[bytes, bytes | None]]:
        """Every op in application order (later ops on the same key win)."""
        yield from self.ops.items()
        for prefix, entries in self.prefixed:
            for key, value in entries.items():
                yield prefix + key, value

    def __len__(self) -> int:
        return len(self.ops) + sum(len(entries) for _, entries in self.prefixed)


class KV(KVReader, Protocol):
    def write(self, batch: WriteBatch, *, sync: bool = True) -> None:
        """Apply ``batch`` atomically; with ``sync`` it is on disk before this returns."""
        ...

    def close(self) -> None: ...


def prefix_upper_bound(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key starting with ``prefix`` (None: no bound)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


class MemoryKV:
    """In-memory twin of the LevelDB adapter: a dict plus a lazily rebuilt sorted key list."""

    def __init__(self) -> None:
        self._data: dict[bytes, bytes] = {}
        self._sorted: list[bytes] | None = []
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("store is closed")

    def get(self, key: bytes) -> bytes | None:
        self._check_open()
        return self._data.get(key)

    def write(self, batch: WriteBatch, *, sync: bool = True) -> None:
        self._check_open()
        for key, value in batch.items():
            if value is None:
                if self._data.pop(key, None) is not None:
                    self._sorted = None
            else:
                if key not in self._data:
                    self._sorted = None
                self._data[key] = value

    def _keys(self) -> list[bytes]:
        if self._sorted is None:
            self._sorted = sorted(self._data)
        return self._sorted

    def iterate(
        self, prefix: bytes = b"", *, start: bytes | None = None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        self._check_open()
        keys = self._keys()
        low = max(prefix, start) if start is not None and not reverse else prefix
        upper = prefix_upper_bound(prefix)
        lo = bisect.bisect_left(keys, low)
        hi = len(keys) if upper is None else bisect.bisect_left(keys, upper)
        if reverse and start is not None:
            hi = min(hi, bisect.bisect_right(keys, start))
        selected = keys[lo:hi]
        if reverse:
            selected = selected[::-1]
        for key in selected:
            value = self._data.get(key)
            if value is not None:
                yield key, value

    def close(self) -> None:
        self._closed = True

    def __len__(self) -> int:
        return len(self._data)
