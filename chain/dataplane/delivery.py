"""When a delivery is complete, and the node's signed ``crossborder.delivered`` (issue 14 part 5; ADR 0022).

The egress route tells :class:`DeliveryTracker` which chunks it has written to a recipient's key for a
transfer, one contiguous run per response (``?chunk=N`` resumes start a new response). A delivery is
**complete** when the runs written to the same key cover every chunk ``0 .. n-1`` and the response
that wrote the last chunk also wrote the stream's final frame. Then the node signs
``crossborder.delivered`` with its validator key and submits it; coverage for that key starts over,
so a later full re-fetch is a further delivery.

What it proves: the serving node — a validator in the exporter's jurisdiction, accountable through
governance — states on chain that it sent every chunk of the dataset with that ``chunk_root``, sealed
to that recipient key, each chunk after an access check on committed state. What it does not prove:
that the bytes arrived or were opened (a written response can still be lost). That is the
recipient's own signed acknowledgement, which must name the same chunk root.

Coverage lives in memory, bounded (:data:`MAX_TRACKED` pairs, least recently used dropped): a node
restarted in the middle of a delivery forgets what it had sent, and the recipient must fetch the
dataset again from chunk 0 for a delivery to be recorded. The node's nonces are
``max(last + 1, committed + 1, wall-clock ms)``, like the CLI's.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from chain import crypto, statekeys
from chain.codec import decode, dict_from_pairs
from chain.crossborder.contract import MAX_DELIVERIES
from chain.errors import SilkportError
from chain.types import SignedTx, make_tx

LOG = logging.getLogger("silkport.dataplane")
MAX_TRACKED = 4096
Get = Callable[[bytes], bytes | None]
Submit = Callable[[SignedTx], str]


@dataclass(frozen=True)
class Delivery:
    """A complete delivery: what the node signs into ``crossborder.delivered``."""

    transfer_id: str
    chunk_root: bytes
    size: int
    recipient_key: bytes


class DeliveryTracker:
    """Chunks written per ``(transfer, recipient key, chunk root)``, as a bit set over chunk indices."""

    def __init__(self, limit: int = MAX_TRACKED) -> None:
        self.limit = limit
        self._sent: OrderedDict[tuple[str, bytes, bytes], int] = OrderedDict()

    def record(self, transfer_id: str, recipient_key: bytes, chunk_root: bytes, first: int, end: int,
               count: int, finished: bool) -> bool:
        """Chunks ``first .. end-1`` were written; True when this completes a delivery (then coverage resets)."""
        key = (transfer_id, recipient_key, chunk_root)
        sent = self._sent.pop(key, 0)
        if end > first:
            sent |= ((1 << end) - 1) ^ ((1 << first) - 1)
        if finished and end == count and sent == (1 << count) - 1:
            return True
        self._sent[key] = sent
        while len(self._sent) > self.limit:
            self._sent.popitem(last=False)
        return False

    def __len__(self) -> int:
        return len(self._sent)


class DeliverySigner:
    """Signs and submits ``crossborder.delivered`` with the node's validator key; never raises."""

    def __init__(self, key: crypto.KeyPair, chain_id: str, get: Get, submit: Submit,
                 clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000) -> None:
        self.key, self.chain_id, self.get, self.submit, self.clock_ms = key, chain_id, get, submit, clock_ms
        self._last_nonce = 0

    def tx(self, delivery: Delivery) -> SignedTx:
        raw = self.get(statekeys.nonce_key(self.key.public_key))
        committed = 0 if raw is None else int(decode(raw))
        # wall-clock ms as a floor: after a restart, a delivery still pending in a peer's mempool keeps its nonce
        self._last_nonce = max(self._last_nonce + 1, committed + 1, self.clock_ms())
        args = {"transfer_id": delivery.transfer_id, "chunk_root": delivery.chunk_root, "bytes": delivery.size,
                "recipient_key": delivery.recipient_key}
        return make_tx(self.chain_id, "crossborder", "delivered", args, [self.key], self._last_nonce)

    def recorded(self, transfer_id: str) -> int:
        """Deliveries already committed for the transfer."""
        raw = self.get(statekeys.transfer_key(transfer_id))
        return 0 if raw is None else int(dict_from_pairs(decode(raw)).get("deliveries") or 0)

    def __call__(self, delivery: Delivery) -> str | None:
        """The submitted transaction's id, or None if it was not submitted (logged): the transfer already has
        :data:`MAX_DELIVERIES` (a recipient re-fetching in a loop costs no transactions), or the node refused it."""
        if self.recorded(delivery.transfer_id) >= MAX_DELIVERIES:
            LOG.info("transfer %s already has %d deliveries; not recording another", delivery.transfer_id,
                     MAX_DELIVERIES)
            return None
        try:
            tx = self.tx(delivery)
            tx_id = self.submit(tx)
        except SilkportError as error:
            LOG.warning("delivered event of transfer %s not submitted: %s", delivery.transfer_id, error)
            return None
        LOG.info("transfer %s delivered to %s…: tx %s", delivery.transfer_id, delivery.recipient_key.hex()[:16], tx_id)
        return tx_id
