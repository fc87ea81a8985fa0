"""Committed state at the head, read through a bounded cache (ADR 0023).

Every transaction reads the same few keys of committed state several times on every node: its
sender's nonce and quota record at admission, then again when its block is built or re-executed.
Each :meth:`StateTree.get` is a LevelDB iterator seek (~8–10 % of a node's CPU in the devnet bench's
profile). This cache answers reads **at the head version only**; a read at any other version goes to
the tree. It stays exact because committed versions never change: an entry is either read from the
tree at the head version, or written by :meth:`advance` from the exact diff (``BlockResult.changes``)
that turned the head into the next version. A jump of more than one version (a snapshot installed,
a reload) empties it. It is used only from the thread that created it (the event loop's); reads from
the API's heavy-read threads go to the tree.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

MISSING = object()
DEFAULT_CAPACITY = 200_000
"""Entries kept; when full the cache starts again empty (a block's worth of keys refills it)."""


class HeadState:
    """``get(key, version)`` like the state tree's, cached for ``version == head``."""

    def __init__(
        self, read: Callable[[bytes, int], bytes | None], head: int, capacity: int = DEFAULT_CAPACITY
    ) -> None:
        self._read = read
        self.head = head
        self.capacity = capacity
        self._values: dict[bytes, bytes | None] = {}
        self._owner = threading.get_ident()
        self.hits = 0
        self.misses = 0

    def get(self, key: bytes, version: int) -> bytes | None:
        if version != self.head or threading.get_ident() != self._owner:
            return self._read(key, version)
        value = self._values.get(key, MISSING)
        if value is not MISSING:
            self.hits += 1
            return value  # type: ignore[return-value]
        self.misses += 1
        value = self._read(key, version)
        if len(self._values) >= self.capacity:
            self._values.clear()
        self._values[key] = value
        return value

    def advance(self, version: int, changes: Mapping[bytes, bytes | None]) -> None:
        """The head moved to ``version``; ``changes`` is the state diff from the old head to it."""
        if threading.get_ident() != self._owner:
            self._values.clear()
        elif version == self.head + 1:
            if len(self._values) + len(changes) > self.capacity:
                self._values.clear()
            self._values.update(changes)
        elif version != self.head:
            self._values.clear()
        self.head = version

    def reset(self, head: int) -> None:
        """Forget everything (the state was replaced by other means than a block)."""
        self._values.clear()
        self.head = head
