"""The data valve's node-local delivery records in the node's LevelDB (ADR 0028).

Two families under the ``D`` prefix of :mod:`chain.storage.schema`, beside the chain data and never
in the state tree (they are one node's memory of what it sent, not consensus state):

- ``Dc || transfer id || recipient key || chunk root`` → ``canonical([touched, count, [s0, e0, s1, e1, ...]])``:
  the chunk runs ``[s, e)`` this node has sent (or is about to send) to that key, sorted and disjoint;
  ``touched`` orders the records for the tracker's least-recently-used bound;
- ``Dp || tx_hash`` → ``canonical([height, signed tx])``: the signed ``crossborder.delivered`` transaction,
  exactly as submitted, and the node's head height when it was signed (it can only commit above), until
  the node sees it committed (or it can no longer count).

Every :meth:`DeliveryStore.write` is one LevelDB batch with ``sync=True``: after kill -9 a record is
either the one last written or an earlier one, never a mix. A record that does not decode (a bug, a
foreign writer) is dropped at load with a warning: this data only ever makes the node record *fewer*
deliveries, never a false one. :class:`~chain.storage.kv.MemoryKV` is the in-memory twin for tests.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from chain import codec
from chain.errors import SilkportError
from chain.storage import schema
from chain.storage.kv import KV, WriteBatch
from chain.types import SignedTx

LOG = logging.getLogger("silkport.dataplane")
CoverageKey = tuple[str, bytes, bytes]
"""``(transfer id in hex, recipient key, chunk root)``."""
Runs = tuple[tuple[int, int], ...]
MAX_RUNS = 64
"""Runs kept per record; a recipient scattering single chunks past this loses the shortest run (it
only means fewer chunks counted as sent, so no false delivery)."""


@dataclass(frozen=True)
class Coverage:
    """One stored record: chunks ``[s, e)`` of ``runs`` sent to ``key``'s recipient, out of ``count``."""

    key: CoverageKey
    count: int
    runs: Runs
    touched: int


@dataclass(frozen=True)
class Pending:
    """A stored ``delivered`` transaction and the node's head height when it was signed."""

    tx: SignedTx
    height: int


def _coverage_key(key: CoverageKey) -> bytes:
    transfer_id, recipient_key, chunk_root = key
    return schema.coverage_key(bytes.fromhex(transfer_id), recipient_key, chunk_root)


def check_runs(runs: Iterable[tuple[int, int]], count: int) -> Runs:
    """``runs`` as a tuple if sorted, disjoint, non-adjacent and inside ``[0, count)``; ValueError otherwise."""
    out = tuple((int(s), int(e)) for s, e in runs)
    previous_end = -1
    for start, end in out:
        if not previous_end < start < end <= count:
            raise ValueError(f"runs {out} are not sorted, disjoint runs inside [0, {count})")
        previous_end = end
    return out


def encode_coverage(record: Coverage) -> bytes:
    flat = [bound for run in record.runs for bound in run]
    return codec.encode([record.touched, record.count, flat])


def decode_coverage(key: bytes, value: bytes) -> Coverage:
    """The record stored under ``key``; ValueError / DecodeError if either does not parse."""
    body = key[len(schema.COVERAGE_PREFIX):]
    if len(body) != 96:
        raise ValueError(f"coverage key of {len(key)} bytes")
    touched, count, flat = codec.decode(value)
    if not (isinstance(touched, int) and isinstance(count, int) and isinstance(flat, list | tuple)
            and touched >= 0 and count >= 1 and len(flat) % 2 == 0 and len(flat) <= 2 * MAX_RUNS
            and all(isinstance(b, int) for b in flat)):
        raise ValueError("coverage value is not [touched, count, [bounds]]")
    runs = check_runs(zip(flat[::2], flat[1::2], strict=True), count)
    return Coverage((body[:32].hex(), body[32:64], body[64:]), count, runs, touched)


class DeliveryStore:
    """Load and write the delivery records of one node's store (one synced batch per write)."""

    def __init__(self, kv: KV) -> None:
        self.kv = kv

    def load_coverage(self) -> list[Coverage]:
        """Every coverage record, least recently touched first; undecodable ones are deleted."""
        found, bad = [], []
        for key, value in self.kv.iterate(schema.COVERAGE_PREFIX):
            try:
                found.append(decode_coverage(key, value))
            except (ValueError, TypeError, SilkportError) as error:
                LOG.warning("dropping an unreadable delivery coverage record %s: %s", key.hex()[:24], error)
                bad.append(key)
        self._delete(bad)
        return sorted(found, key=lambda record: record.touched)

    def load_pending(self) -> list[Pending]:
        """Every pending ``delivered`` transaction, in tx-hash order; undecodable ones are deleted."""
        found, bad = [], []
        for key, value in self.kv.iterate(schema.PENDING_DELIVERY_PREFIX):
            try:
                height, raw = codec.decode(value)
                if not isinstance(height, int) or height < 0 or not isinstance(raw, bytes):
                    raise ValueError("a pending delivery is [height, signed tx]")
                tx = SignedTx.decode(raw)
                if schema.pending_delivery_key(tx.tx_hash) != key:
                    raise ValueError("the key is not the transaction's hash")
                found.append(Pending(tx, height))
            except (ValueError, TypeError, SilkportError) as error:
                LOG.warning("dropping an unreadable pending delivery %s: %s", key.hex()[:24], error)
                bad.append(key)
        self._delete(bad)
        return found

    def _delete(self, keys: list[bytes]) -> None:
        if keys:
            batch = WriteBatch()
            for key in keys:
                batch.delete(key)
            self.kv.write(batch, sync=True)

    def write(self, *, save: Iterable[Coverage] = (), forget: Iterable[CoverageKey] = (),
              add: Iterable[Pending] = (), drop: Iterable[bytes] = ()) -> None:
        """One synced batch: ``forget`` then ``save`` coverage records, ``drop`` then ``add`` pending txs."""
        batch = WriteBatch()
        for key in forget:
            batch.delete(_coverage_key(key))
        for record in save:
            batch.put(_coverage_key(record.key), encode_coverage(record))
        for tx_hash in drop:
            batch.delete(schema.pending_delivery_key(tx_hash))
        for pending in add:
            batch.put(schema.pending_delivery_key(pending.tx.tx_hash), codec.encode([pending.height, pending.tx.encode()]))
        if len(batch):
            self.kv.write(batch, sync=True)
