"""A bounded, pure mempool: dedup by tx hash, per-sender nonce order (DESIGN.md §3, §5).

Transactions are kept in arrival order. :meth:`Mempool.select` walks them in that order but never puts
a sender's higher nonce before a lower one still in the pool (a heap of each sender's lowest pending
nonce, keyed by arrival). Bounded in count and bytes (:class:`~chain.errors.MempoolFullError`);
a known hash or a second transaction for a pending (sender, nonce) is a
:class:`~chain.errors.DuplicateTxError`; a nonce at or below the sender's committed nonce is a
:class:`~chain.errors.NonceError`. Committing a block removes its transactions and every pending
transaction its nonces made stale; :meth:`Mempool.purge_expired` drops the transactions whose
``valid_until_height`` is below the next height, in O(expired) through an index by that height
(DESIGN.md §5: a transaction that turned invalid leaves the mempool and the request timers; ADR 0013).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from chain.errors import DuplicateTxError, MempoolFullError, NonceError, QuotaError
from chain.types import SignedTx

TX_OVERHEAD_BYTES = 16


def tx_size(tx: SignedTx) -> int:
    """Approximate encoded size (body bytes + signatures) without re-encoding the transaction."""
    return len(tx.body_bytes) + 66 * len(tx.signatures) + TX_OVERHEAD_BYTES


class Mempool:
    """Pending transactions; no I/O, no clock (the runtime forwards them and reports RequestReceived)."""

    def __init__(self, max_txs: int = 50_000, max_bytes: int = 64 * 1024 * 1024, max_per_sender: int = 4096) -> None:
        self.max_txs = max_txs
        self.max_bytes = max_bytes
        self.max_per_sender = max_per_sender
        self._by_hash: dict[bytes, tuple[int, SignedTx]] = {}
        self._by_sender: dict[bytes, dict[int, bytes]] = {}
        self._committed_nonce: dict[bytes, int] = {}
        self._arrival = 0
        self._by_expiry: dict[int, set[bytes]] = {}
        """valid_until_height -> hashes of the pending transactions that expire after it (0: never)."""
        self._expiry_heap: list[int] = []
        """The keys of ``_by_expiry``, as a min-heap (a height is pushed when its set is created)."""
        self.size_bytes = 0

    def __len__(self) -> int:
        return len(self._by_hash)

    def __contains__(self, tx_hash: bytes) -> bool:
        return tx_hash in self._by_hash

    def committed_nonce(self, sender: bytes) -> int:
        return self._committed_nonce.get(sender, 0)

    def add(self, tx: SignedTx, committed_nonce: int | None = None) -> None:
        """Admit ``tx`` (signatures are the caller's job). ``committed_nonce`` updates the sender's floor."""
        sender, nonce = tx.sender, tx.body.nonce
        if committed_nonce is not None and committed_nonce > self._committed_nonce.get(sender, 0):
            self._committed_nonce[sender] = committed_nonce
        if tx.tx_hash in self._by_hash:
            raise DuplicateTxError(f"transaction {tx.tx_id} is already pending")
        if nonce <= self._committed_nonce.get(sender, 0):
            raise NonceError(f"nonce {nonce} is not above the committed nonce {self._committed_nonce[sender]}")
        if nonce in self._by_sender.get(sender, {}):
            raise DuplicateTxError(f"sender already has a pending transaction with nonce {nonce}")
        pending = len(self._by_sender.get(sender, ()))
        if pending >= self.max_per_sender:
            raise QuotaError(
                f"sender {sender.hex()[:16]}… already has {pending} pending transactions (limit {self.max_per_sender})",
                code="too_many_pending",
            )
        size = tx_size(tx)
        if len(self._by_hash) >= self.max_txs or self.size_bytes + size > self.max_bytes:
            raise MempoolFullError(f"mempool holds {len(self._by_hash)} txs / {self.size_bytes} bytes")
        self._arrival += 1
        self._by_hash[tx.tx_hash] = (self._arrival, tx)
        self._by_sender.setdefault(sender, {})[nonce] = tx.tx_hash
        self.size_bytes += size
        expiry = tx.body.valid_until_height
        if expiry:
            if expiry not in self._by_expiry:
                self._by_expiry[expiry] = set()
                heapq.heappush(self._expiry_heap, expiry)
            self._by_expiry[expiry].add(tx.tx_hash)

    def select(self, max_txs: int, max_bytes: int | None = None) -> list[SignedTx]:
        """Up to ``max_txs`` (and ``max_bytes``) transactions in arrival order, each sender's in nonce order."""
        queues = {
            sender: [self._by_hash[nonces[n]] for n in sorted(nonces)] for sender, nonces in self._by_sender.items()
        }
        heap = [(queue[0][0], sender, 0) for sender, queue in queues.items() if queue]
        heapq.heapify(heap)
        chosen: list[SignedTx] = []
        used = 0
        while heap and len(chosen) < max_txs:
            _, sender, position = heapq.heappop(heap)
            tx = queues[sender][position][1]
            size = tx_size(tx)
            if max_bytes is not None and used + size > max_bytes:
                continue  # this sender's later nonces must wait too
            chosen.append(tx)
            used += size
            if position + 1 < len(queues[sender]):
                heapq.heappush(heap, (queues[sender][position + 1][0], sender, position + 1))
        return chosen

    def get(self, tx_hash: bytes) -> SignedTx | None:
        entry = self._by_hash.get(tx_hash)
        return None if entry is None else entry[1]

    def discard(self, tx_hash: bytes) -> bool:
        """Drop one pending transaction (e.g. one that became invalid); False if it was not here."""
        return self._remove(tx_hash)

    def _remove(self, tx_hash: bytes) -> bool:
        entry = self._by_hash.pop(tx_hash, None)
        if entry is None:
            return False
        tx = entry[1]
        nonces = self._by_sender.get(tx.sender, {})
        nonces.pop(tx.body.nonce, None)
        if not nonces:
            self._by_sender.pop(tx.sender, None)
        self.size_bytes -= tx_size(tx)
        expiring = self._by_expiry.get(tx.body.valid_until_height)
        if expiring is not None:
            expiring.discard(tx_hash)  # an emptied set stays until purge_expired pops its height
        return True

    def purge_expired(self, next_height: int) -> list[bytes]:
        """Drop every pending transaction with ``0 < valid_until_height < next_height`` (it can no longer
        commit); return their hashes. Costs O(expired + heights passed), not O(mempool)."""
        removed: list[bytes] = []
        while self._expiry_heap and self._expiry_heap[0] < next_height:
            height = heapq.heappop(self._expiry_heap)
            for tx_hash in sorted(self._by_expiry.pop(height, ())):
                if self._remove(tx_hash):
                    removed.append(tx_hash)
        return removed

    def remove_committed(self, txs: Iterable[SignedTx]) -> list[bytes]:
        """Drop committed txs and every pending tx made stale by a committed nonce; return removed hashes."""
        removed: list[bytes] = []
        for tx in txs:
            sender, nonce = tx.sender, tx.body.nonce
            if nonce > self._committed_nonce.get(sender, 0):
                self._committed_nonce[sender] = nonce
            if self._remove(tx.tx_hash):
                removed.append(tx.tx_hash)
            floor = self._committed_nonce[sender]
            for stale_nonce in [n for n in self._by_sender.get(sender, {}) if n <= floor]:
                stale_hash = self._by_sender[sender][stale_nonce]
                if self._remove(stale_hash):
                    removed.append(stale_hash)
        return removed
