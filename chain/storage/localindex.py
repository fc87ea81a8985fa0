"""Node-local secondary indexes kept outside the state tree (ADR 0009).

An entry is a deterministic function of the committed blocks: contracts write it through
``Context.index`` during execution, the executor returns the writes with the block's result and the
ledger stores them under ``INDEX_PREFIX + key`` in the block's one synced batch. Every replica
therefore holds the same entries at the same height, and a contract may read them (the anchoring
contract's duplicate check) without making each entry a state-tree key.

Most reads ask for a key that does not exist (a hash anchored for the first time). A one-probe
bitmap filter over every committed key answers those without touching LevelDB; it lives in memory,
is rebuilt from the keys at start-up, and only ever gives false positives (then LevelDB answers).
"""

from __future__ import annotations

from collections.abc import Mapping

from chain.storage.kv import KV, WriteBatch
from chain.storage.schema import INDEX_PREFIX

FILTER_BITS = 1 << 27
"""16 MiB of filter: ~0.75% false positives at 1M keys, ~7% at 10M (each costs one LevelDB read)."""


class LocalIndex:
    """Committed local-index entries of one store, behind a bitmap filter."""

    __slots__ = ("_bits", "_kv", "_mask")

    def __init__(self, kv: KV, *, filter_bits: int = FILTER_BITS) -> None:
        if filter_bits < 8 or filter_bits & (filter_bits - 1):
            raise ValueError("filter_bits must be a power of two of at least 8")
        self._kv = kv
        self._mask = filter_bits - 1
        self._bits = bytearray(filter_bits >> 3)
        for key, _value in kv.iterate(INDEX_PREFIX):
            self._remember(key[1:])

    def _remember(self, key: bytes) -> None:
        slot = hash(key) & self._mask
        self._bits[slot >> 3] |= 1 << (slot & 7)

    def get(self, key: bytes) -> bytes | None:
        """The committed value of ``key`` (without the storage prefix), or ``None``."""
        slot = hash(key) & self._mask
        if not self._bits[slot >> 3] >> (slot & 7) & 1:
            return None
        return self._kv.get(INDEX_PREFIX + key)

    def get_many(self, keys: list[bytes]) -> list[bytes | None]:
        """:meth:`get` of every key, in order, with the filter tested in one pass."""
        mask, bits = self._mask, self._bits
        out: list[bytes | None] = [None] * len(keys)
        hits = [i for i, key in enumerate(keys) if bits[(slot := hash(key) & mask) >> 3] >> (slot & 7) & 1]
        for i in hits:
            out[i] = self._kv.get(INDEX_PREFIX + keys[i])
        return out

    def add_to_batch(self, batch: WriteBatch, writes: Mapping[bytes, bytes | None]) -> None:
        """Put ``writes`` (``None`` deletes) into the block's ``batch`` and the filter.

        The filter learns the keys before the batch is written: a key it knows but the store lacks
        only costs a read, while the reverse would hide a committed entry.
        """
        batch.put_prefixed(INDEX_PREFIX, writes)
        mask, bits = self._mask, self._bits
        for slot in [hash(key) & mask for key, value in writes.items() if value is not None]:
            bits[slot >> 3] |= 1 << (slot & 7)
