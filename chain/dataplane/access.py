"""Who may pull a transfer's data, decided against committed state (issue 14 part 4; ADR 0018).

:func:`check_access` is called before **every** chunk the egress route sends, with the node's
committed state and its latest block time, so a revocation or an evidence lapse committed
mid-stream stops the stream before the next chunk. It passes only when:

1. the transfer exists and is ``RELEASED`` (customs released it) or ``ACKNOWLEDGED`` (a re-fetch by
   the recipient) — ``DENIED``, ``PENDING_EVIDENCE``, ``CLEARED``, ``REVOKED`` get nothing;
2. every decision the transfer rests on (``decisions``) is still in state, not ``REVOKED`` /
   ``FAILED`` / ``ENDED``, and not past its ``expires`` / ``ends`` date on the Asia/Shanghai date
   of the latest block (the date the rule engine judges by, RULES.md);
3. the requester's key is a member of the recipient organisation;
4. the asset is live and has its chunk layout on chain.

Pure: reads state through ``get`` and takes the block time as an argument.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chain import codec, statekeys
from chain.contracts.registry import shanghai_date
from chain.errors import NotFoundError, NotPermittedError

Get = Callable[[bytes], bytes | None]
SERVABLE_STATES = ("RELEASED", "ACKNOWLEDGED")
LAPSED_STATUSES = ("REVOKED", "FAILED", "ENDED")


@dataclass(frozen=True)
class Grant:
    """What one access check allows: the transfer, its asset's content layout, the recipient org."""

    transfer_id: str
    asset_id: str
    recipient: str
    content_hash: bytes
    chunk_root: bytes
    chunk_size: int
    size: int


def _record(get: Get, key: bytes) -> dict[str, Any] | None:
    raw = get(key)
    return None if raw is None else codec.dict_from_pairs(codec.decode(raw))


def _as_dict(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    return dict(value) if isinstance(value, dict) else codec.dict_from_pairs(value)


def lapsed_decision(get: Get, decision_ids: dict[str, Any], today: datetime.date) -> str | None:
    """The first decision (``kind id``) the transfer rests on that no longer holds on ``today``."""
    for kind, decision_id in sorted(decision_ids.items()):
        decision = _record(get, statekeys.decision_key(str(decision_id)))
        if decision is None or decision.get("status") in LAPSED_STATUSES:
            return f"{kind} {decision_id} ({'gone' if decision is None else decision['status']})"
        for end in ("expires", "ends"):
            value = decision.get(end)
            if value is not None and datetime.date.fromisoformat(str(value)) < today:
                return f"{kind} {decision_id} (expired {value})"
    return None


def check_access(get: Get, transfer_id: str, requester: bytes, latest_block_ms: int) -> Grant:
    """The :class:`Grant` for ``requester`` on ``transfer_id`` now, or the specific refusal."""
    transfer = _record(get, statekeys.transfer_key(transfer_id))
    if transfer is None:
        raise NotFoundError(f"no transfer {transfer_id}", code="unknown_transfer")
    state = transfer["state"]
    if state == "REVOKED":
        raise NotPermittedError(f"transfer {transfer_id} is revoked", code="transfer_revoked")
    if state not in SERVABLE_STATES:
        raise NotPermittedError(f"transfer {transfer_id} is {state}, not released by customs",
                                code="transfer_not_released")
    lapsed = lapsed_decision(get, _as_dict(transfer.get("decisions")), datetime.date(*shanghai_date(latest_block_ms)))
    if lapsed is not None:
        raise NotPermittedError(f"the evidence of transfer {transfer_id} no longer holds: {lapsed}",
                                code="evidence_expired")
    org = get(statekeys.member_key(requester))
    recipient = str(transfer["recipient"])
    if org is None or codec.decode(org) != recipient:
        raise NotPermittedError(f"key {requester.hex()[:16]}… is not a member of the recipient organisation "
                                f"{recipient}", code="not_recipient")
    asset = _record(get, statekeys.asset_key(str(transfer["asset_id"])))
    if asset is None or asset.get("status") != "ACTIVE":
        raise NotPermittedError(f"the asset of transfer {transfer_id} is not live", code="asset_retired")
    if asset.get("chunk_root") is None:
        raise NotPermittedError(f"asset {asset['id']} has no chunk layout on chain", code="no_layout")
    return Grant(transfer_id, str(asset["id"]), recipient, asset["content_hash"], asset["chunk_root"],
                 int(asset["chunk_size"]), int(asset["size"]))
