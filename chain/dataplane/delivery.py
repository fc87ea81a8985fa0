"""When a delivery is complete, and the node's signed ``crossborder.delivered`` (issue 14 parts 5 and 6;
ADR 0022, amended by ADR 0028).

The egress route tells :class:`DeliveryTracker` which chunks it writes to a recipient's key for a transfer,
one contiguous :class:`Run` per response (``?chunk=N`` and ``Range`` resumes start a new response). A
delivery is **complete** when the runs written to the same key cover every chunk ``0 .. n-1`` and the
response that wrote the last chunk also wrote the stream's final frame. Then the node signs
``crossborder.delivered`` with its validator key and submits it; coverage for that key starts over, so a
later full re-fetch is a further delivery.

What it proves: the serving node — a validator in the exporter's jurisdiction, accountable through
governance — states on chain that it sent every chunk of the dataset with that ``chunk_root``, sealed
to that recipient key, each chunk after an access check on committed state. What it does not prove:
that the bytes arrived or were opened (a written response can still be lost). That is the
recipient's own signed acknowledgement, which must name the same chunk root.

**Durable** (ADR 0028): coverage and pending deliveries live in the node's own LevelDB
(:class:`~chain.storage.deliveries.DeliveryStore`, outside the state tree), so a node restarted in the
middle of a delivery — kill -9 included — still records it when the recipient resumes from its last
verified chunk:

- *persist before send*: before a response writes chunk ``i`` the tracker makes sure a synced record
  claims it, a window of :data:`AHEAD_BYTES` at a time (one synced write per window, not per chunk);
  the record of a response that ends (finished, cut by the client, refused) is rewritten with exactly the
  chunks whose writes completed. Only a crash leaves the claim of the window in flight: those at most
  :data:`AHEAD_BYTES` were perhaps not sent, and the recipient, who resumes from what it verified, asks
  for them again — a recipient skipping them on purpose only deceives itself;
- a complete delivery's signed transaction is stored in the same synced batch that resets the coverage,
  *before* it is submitted; :meth:`DeliverySigner.retry` (at start and every :data:`RETRY_INTERVAL_S`)
  re-submits the **same bytes** until the transaction is committed, the transfer has
  :data:`MAX_DELIVERIES` or is no longer RELEASED/ACKNOWLEDGED. The contract counts every ``delivered``
  transaction, so only identical bytes (one tx id, refused once committed) keep a retry from counting
  twice; a new transaction is signed only when the stored one can never commit (a committed nonce of
  the node's key has passed it and the block store shows it is not committed).

Both are bounded: :data:`MAX_TRACKED` coverage records (least recently used dropped, also on disk), and
records of transfers that can take no more deliveries are pruned. The node's nonces are
``max(last + 1, committed + 1, wall-clock ms)``, like the CLI's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chain import crypto, statekeys
from chain.codec import decode, dict_from_pairs
from chain.crossborder.contract import ACKNOWLEDGED, MAX_DELIVERIES, RELEASED
from chain.errors import DuplicateTxError, SilkportError
from chain.storage.deliveries import MAX_RUNS, Coverage, CoverageKey, DeliveryStore, Pending
from chain.types import SignedTx, make_tx

LOG = logging.getLogger("silkport.dataplane")
MAX_TRACKED = 4096
MAX_PENDING = 1024
"""Pending deliveries kept durably; beyond, a delivery is still submitted but not retried after a crash."""
AHEAD_BYTES = 4 << 20
"""Chunks claimed durably ahead of the socket, at least one: one synced write per this many bytes sent."""
RETRY_INTERVAL_S = 3.0
PRUNE_EVERY = 10
"""Retry passes between two prunes of the coverage records."""
Get = Callable[[bytes], bytes | None]
Submit = Callable[[SignedTx], str]


@dataclass(frozen=True)
class Delivery:
    """A complete delivery: what the node signs into ``crossborder.delivered``."""

    transfer_id: str
    chunk_root: bytes
    size: int
    recipient_key: bytes


@dataclass(eq=False)
class Run:
    """One response's contiguous run of chunks ``first ..`` to one key, while it is being written."""

    key: CoverageKey
    first: int
    count: int
    size: int
    window: int = 1
    claimed: int = 0
    """Chunks ``first .. claimed - 1`` are claimed durably (persist before send)."""


@dataclass(eq=False)
class _Entry:
    count: int
    sent: list[tuple[int, int]] = field(default_factory=list)
    open: list[Run] = field(default_factory=list)
    stored: tuple[tuple[int, int], ...] = ()
    """The runs of the record last written (a write that would not change them is skipped)."""


def add_run(runs: list[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    """``runs ∪ [start, end)``, sorted, disjoint, adjacent runs merged; at most :data:`MAX_RUNS` (shortest dropped)."""
    if end <= start:
        return runs
    out: list[tuple[int, int]] = []
    for s, e in runs:
        if e < start or s > end:
            out.append((s, e))
        else:
            start, end = min(s, start), max(e, end)
    out.append((start, end))
    out.sort()
    while len(out) > MAX_RUNS:
        out.remove(min(out, key=lambda run: run[1] - run[0]))
    return out


class DeliveryTracker:
    """Chunks written per ``(transfer, recipient key, chunk root)``, in memory and, with a store, on disk."""

    def __init__(self, limit: int = MAX_TRACKED, store: DeliveryStore | None = None) -> None:
        self.limit, self.store = limit, store
        self._entries: OrderedDict[CoverageKey, _Entry] = OrderedDict()
        self._touched = 0
        if store is not None:
            records = store.load_coverage()
            for record in records:
                self._entries[record.key] = _Entry(record.count, list(record.runs), stored=record.runs)
            self._touched = max((r.touched for r in records), default=0)
            store.write(forget=self._evict())

    def start(self, transfer_id: str, recipient_key: bytes, chunk_root: bytes, first: int, count: int, size: int,
              window: int = 1) -> Run:
        """A response to ``recipient_key`` starts at chunk ``first``; ``window`` chunks are claimed at a time."""
        run = Run((transfer_id, recipient_key, chunk_root), first, count, size, max(1, window), first)
        self._entry(run).open.append(run)
        return run

    def ahead(self, run: Run, index: int) -> None:
        """Chunk ``index`` of ``run`` is about to be written: make sure a synced record claims it."""
        if index < run.claimed:
            return
        run.claimed = min(run.count, index + run.window)
        entry = self._entry(run)
        if run not in entry.open:  # evicted meanwhile: claim again
            entry.open.append(run)
        self._save(run.key, entry)

    def finish(self, run: Run, end: int, finished: bool, signer: DeliverySigner | None = None) -> bool:
        """Chunks ``run.first .. end-1`` were written; True when this completes a delivery.

        On completion the coverage starts over and, with ``signer``, the signed ``delivered`` is stored
        in the same synced batch, then submitted. Otherwise the record keeps exactly the completed writes.
        """
        entry = self._entry(run)
        if run in entry.open:
            entry.open.remove(run)
        entry.sent = add_run(entry.sent, run.first, end)
        complete = finished and end == run.count and entry.sent == [(0, run.count)]
        if not complete:
            self._save(run.key, entry)
            return False
        entry.sent = []
        tx = None if signer is None else signer.sign(Delivery(run.key[0], run.key[2], run.size, run.key[1]))
        self._save(run.key, entry, pending=tx, signer=signer)
        if tx is not None and signer is not None:
            signer.send(tx)
        return True

    def record(self, transfer_id: str, recipient_key: bytes, chunk_root: bytes, first: int, end: int,
               count: int, finished: bool) -> bool:
        """A whole run at once (:meth:`start` + :meth:`finish`, nothing signed); True when it completes a delivery."""
        return self.finish(self.start(transfer_id, recipient_key, chunk_root, first, count, 0), end, finished)

    def prune(self, closed: Callable[[str], bool]) -> int:
        """Drop the records of transfers for which ``closed(transfer_id)``; how many were dropped."""
        gone = [key for key, entry in self._entries.items() if not entry.open and closed(key[0])]
        for key in gone:
            del self._entries[key]
        if self.store is not None:
            self.store.write(forget=gone)
        return len(gone)

    def coverage(self, transfer_id: str, recipient_key: bytes, chunk_root: bytes) -> list[tuple[int, int]]:
        """The runs of completed writes recorded for a key (tests, diagnostics)."""
        entry = self._entries.get((transfer_id, recipient_key, chunk_root))
        return [] if entry is None else list(entry.sent)

    def __len__(self) -> int:
        return len(self._entries)

    def _entry(self, run: Run) -> _Entry:
        entry = self._entries.get(run.key)
        if entry is None or entry.count != run.count:
            entry = self._entries[run.key] = _Entry(run.count)
        return entry

    def _evict(self) -> list[CoverageKey]:
        evicted = []
        while len(self._entries) > self.limit:
            evicted.append(self._entries.popitem(last=False)[0])
        return evicted

    def _save(self, key: CoverageKey, entry: _Entry, *, pending: SignedTx | None = None,
              signer: DeliverySigner | None = None) -> None:
        """Write what the record of ``key`` must claim now (completed writes ∪ open claims), in one synced batch."""
        self._entries.move_to_end(key)
        durable = list(entry.sent)
        for run in entry.open:
            durable = add_run(durable, run.first, run.claimed)
        if not durable and not entry.open:
            del self._entries[key]
        evicted = self._evict()
        kept = None if pending is None or signer is None else signer.keep(pending)
        add = [] if kept is None else [kept]
        if self.store is None or (tuple(durable) == entry.stored and not evicted and not add):
            return  # e.g. a response that ends exactly where its last claim did
        self._touched += 1
        save = [Coverage(key, entry.count, tuple(durable), self._touched)] if durable else []
        self.store.write(forget=[*evicted, *([] if durable else [key])], save=save, add=add)
        entry.stored = tuple(durable)


class DeliverySigner:
    """Signs, stores and submits ``crossborder.delivered`` with the node's validator key; never raises.

    ``committed(tx_hash)`` says whether the node's block store holds a transaction; it can tell only for
    blocks above ``indexed_above()`` (a store installed from a snapshot has no transactions at or below its
    base, ADR 0021). ``height()`` is the node's head height, stored with each pending transaction.
    """

    def __init__(self, key: crypto.KeyPair, chain_id: str, get: Get, submit: Submit,
                 clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000, *,
                 store: DeliveryStore | None = None, committed: Callable[[bytes], bool] | None = None,
                 height: Callable[[], int] = lambda: 0, indexed_above: Callable[[], int] = lambda: 0) -> None:
        self.key, self.chain_id, self.get, self.submit, self.clock_ms = key, chain_id, get, submit, clock_ms
        self.store, self.committed, self.height, self.indexed_above = store, committed, height, indexed_above
        self._last_nonce = 0
        self.pending: dict[bytes, Pending] = {}
        """Stored ``delivered`` transactions not yet seen committed, by tx hash."""
        if store is not None:
            self.pending = {p.tx.tx_hash: p for p in store.load_pending()}

    def tx(self, delivery: Delivery) -> SignedTx:
        # wall-clock ms as a floor: after a restart, a delivery still pending in a peer's mempool keeps its nonce
        self._last_nonce = max(self._last_nonce + 1, self._committed_nonce() + 1, self.clock_ms())
        args = {"transfer_id": delivery.transfer_id, "chunk_root": delivery.chunk_root, "bytes": delivery.size,
                "recipient_key": delivery.recipient_key}
        return make_tx(self.chain_id, "crossborder", "delivered", args, [self.key], self._last_nonce)

    def _committed_nonce(self) -> int:
        raw = self.get(statekeys.nonce_key(self.key.public_key))
        return 0 if raw is None else int(decode(raw))

    def _transfer(self, transfer_id: str) -> dict[str, Any] | None:
        raw = self.get(statekeys.transfer_key(transfer_id))
        return None if raw is None else dict_from_pairs(decode(raw))

    def recorded(self, transfer_id: str) -> int:
        """Deliveries already committed for the transfer."""
        record = self._transfer(transfer_id)
        return 0 if record is None else int(record.get("deliveries") or 0)

    def closed(self, transfer_id: str) -> bool:
        """True when the transfer can take no further delivery: unknown, not RELEASED/ACKNOWLEDGED, or full."""
        record = self._transfer(transfer_id)
        return (record is None or record.get("state") not in (RELEASED, ACKNOWLEDGED)
                or int(record.get("deliveries") or 0) >= MAX_DELIVERIES)

    def sign(self, delivery: Delivery) -> SignedTx | None:
        """The transaction for ``delivery``, or None (logged) once the transfer has :data:`MAX_DELIVERIES`
        (a recipient re-fetching in a loop costs no transactions)."""
        if self.recorded(delivery.transfer_id) >= MAX_DELIVERIES:
            LOG.info("transfer %s already has %d deliveries; not recording another", delivery.transfer_id,
                     MAX_DELIVERIES)
            return None
        return self.tx(delivery)

    def keep(self, tx: SignedTx) -> Pending | None:
        """Remember ``tx`` as pending and return the record to store, or None when :data:`MAX_PENDING` are
        pending already. The caller writes it to the store in its own batch, before :meth:`send`."""
        if self.store is None or len(self.pending) >= MAX_PENDING:
            if self.store is not None:
                LOG.warning("%d deliveries pending; tx %s will not be retried after a restart", MAX_PENDING,
                            tx.tx_id)
            return None
        pending = self.pending[tx.tx_hash] = Pending(tx, self.height())
        return pending

    def send(self, tx: SignedTx) -> str | None:
        """Submit ``tx``; its id, or None if the node refused it (logged; a stored one is retried)."""
        transfer_id = str(tx.body.args_dict()["transfer_id"])
        try:
            tx_id = self.submit(tx)
        except DuplicateTxError:
            return tx.tx_id  # already pending here, or committed: the retry learns which
        except SilkportError as error:
            LOG.warning("delivered event of transfer %s not submitted: %s", transfer_id, error)
            return None
        LOG.info("transfer %s delivered: tx %s", transfer_id, tx_id)
        return tx_id

    def __call__(self, delivery: Delivery) -> str | None:
        """Sign, store (persist before send) and submit ``delivery``; the tx id, or None if not submitted."""
        tx = self.sign(delivery)
        if tx is None:
            return None
        pending = self.keep(tx)
        if pending is not None and self.store is not None:
            self.store.write(add=[pending])
        return self.send(tx)

    def retry(self) -> int:
        """Settle every pending delivery: forget it once committed or unable to count, sign it anew only if its
        transaction can never commit (a later nonce of this key committed and the block store shows it is not
        among the committed transactions), else submit the same bytes again. Returns how many are pending."""
        for tx_hash, pending in list(self.pending.items()):
            tx = pending.tx
            args = tx.body.args_dict()
            transfer_id = str(args["transfer_id"])
            if (self.committed is not None and self.committed(tx_hash)) or self.closed(transfer_id):
                self._replace(pending, None)
            elif tx.body.nonce <= self._committed_nonce():
                if self.committed is None or self.indexed_above() > pending.height:
                    LOG.warning("delivered tx %s of transfer %s: nonce passed, and this store cannot tell whether "
                                "it committed (installed from a snapshot); not signed again", tx.tx_id, transfer_id)
                    self._replace(pending, None)
                    continue
                fresh = self.tx(Delivery(transfer_id, args["chunk_root"], int(args["bytes"]), args["recipient_key"]))
                self._replace(pending, Pending(fresh, self.height()))
                LOG.info("delivered tx %s of transfer %s can no longer commit; re-signed as %s", tx.tx_id,
                         transfer_id, fresh.tx_id)
                self.send(fresh)
            else:
                self.send(tx)
        return len(self.pending)

    def _replace(self, old: Pending, new: Pending | None) -> None:
        del self.pending[old.tx.tx_hash]
        if new is not None:
            self.pending[new.tx.tx_hash] = new
        if self.store is not None:
            self.store.write(drop=[old.tx.tx_hash], add=[] if new is None else [new])


def settle(signer: DeliverySigner, tracker: DeliveryTracker, *, prune: bool = True) -> None:
    """One pass: :meth:`DeliverySigner.retry`, then (with ``prune``) drop coverage of closed transfers. Logs, never
    raises (a bug or a closing store: the next pass tries again)."""
    try:
        signer.retry()
        if prune:
            tracker.prune(signer.closed)
    except Exception:
        LOG.exception("delivery retry pass failed")


async def keep_delivering(signer: DeliverySigner, tracker: DeliveryTracker,
                          interval_s: float = RETRY_INTERVAL_S) -> None:
    """Every ``interval_s``, :func:`settle` (pruning every :data:`PRUNE_EVERY` passes). The node runs one pass
    itself before the API serves anything, so a stored delivery goes back to the mempool ahead of any new one
    (whose wall-clock nonce is higher)."""
    passes = 0
    while True:
        await asyncio.sleep(interval_s)
        passes += 1
        settle(signer, tracker, prune=passes % PRUNE_EVERY == 0)
