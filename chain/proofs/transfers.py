"""Offline checks of the data deliveries in a provenance bundle (ADR 0022, on top of ADR 0008).

Inclusion, signatures and completeness are already proved by :mod:`chain.proofs` for every event of
the asset. For ``crossborder.transfer_delivered`` and ``transfer_acknowledged`` events this also
checks, from the bundle alone, what the contract promised:

- a delivery names the proved record's ``chunk_root`` and ``size``, and its transaction is signed by
  a key of the validator set in effect at that height (the serving node; the recipient key named);
- an acknowledgement names a chunk root that an earlier delivery of the same transfer delivered.

Pure: no I/O, clock or randomness.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from chain.proofs.document import Fail
from chain.types import Event, EventRef, Receipt, SignedTx

DELIVERED = ("crossborder", "transfer_delivered")
ACKNOWLEDGED = ("crossborder", "transfer_acknowledged")
KeysAt = Callable[[int], tuple[bytes, ...]]


def check_deliveries(record: dict[str, Any], events: Sequence[tuple[EventRef, Event]],
                     txs: dict[tuple[int, int], tuple[SignedTx, Receipt]], validators_at: KeysAt) -> dict[str, int]:
    """Raise :class:`Fail` naming the first inconsistent delivery or acknowledgement; return the counts."""
    delivered: dict[Any, set[bytes]] = {}
    counts = {"deliveries": 0, "acknowledgements": 0}
    for ref, event in reversed(events):  # oldest first
        kind = (event.contract, event.name)
        if kind not in (DELIVERED, ACKNOWLEDGED):
            continue
        data = event.data_dict()
        where = f"{event.name} event at height {ref.height}, tx {ref.tx_index} (transfer {str(data.get('transfer_id'))[:16]}…)"
        root = data.get("chunk_root")
        if kind == DELIVERED:
            if not isinstance(root, bytes) or root != record.get("chunk_root") or data.get("bytes") != record.get("size"):
                raise Fail(f"{where}: the delivered chunk root or size is not the asset's")
            tx, _ = txs[(ref.height, ref.tx_index)]
            if tx.body.sender != data.get("node") or tx.body.sender not in validators_at(ref.height):
                raise Fail(f"{where}: not signed by a validator of the set in effect at height {ref.height}")
            delivered.setdefault(data.get("transfer_id"), set()).add(root)
            counts["deliveries"] += 1
        else:
            if root not in delivered.get(data.get("transfer_id"), set()):
                raise Fail(f"{where}: the acknowledged chunk root matches no earlier delivery of the transfer")
            counts["acknowledgements"] += 1
    return counts
