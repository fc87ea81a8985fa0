"""Pure read-side helpers over contract state, returning JSON-ready dicts (API, CLI, proofs).

Every function takes ``get(key) -> bytes | None`` reading the state at some height (for example
``lambda key: tree.get(key, height)``). The state tree cannot be iterated by prefix, so lists use
the in-state sequences the contracts keep (``asset/seq/<n>``, ``org/seq/<n>``, ...): a page is one
read of the count plus one read per item. Bytes come out as lowercase hex, event references as
``{"height", "tx_index"}``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from chain import codec, statekeys
from chain.errors import ValidationError
from chain.types import Event, EventRef

Get = Callable[[bytes], bytes | None]
EventsAt = Callable[[EventRef], Sequence[Event]]
MAX_PAGE = 500

_RECORD_FIELDS = {"pledge", "valuation", "scope", "old", "new", "classification"}
_REF_FIELDS = {"last_event", "registered", "updated", "ref"}


def to_json(value: Any, name: str = "") -> Any:
    """Canonical state values as JSON: bytes -> hex, records -> objects, refs -> {height, tx_index}."""
    if isinstance(value, bytes):
        return value.hex()
    if name in _REF_FIELDS and isinstance(value, tuple) and len(value) == 2:
        return {"height": value[0], "tx_index": value[1]}
    if name in _RECORD_FIELDS and isinstance(value, tuple):
        return {k: to_json(v, k) for k, v in codec.dict_from_pairs(value).items()}
    if isinstance(value, tuple | list):
        return [to_json(v) for v in value]
    return value


def _value(get: Get, key: bytes) -> Any:
    raw = get(key)
    return None if raw is None else codec.decode(raw)


def _record(get: Get, key: bytes) -> dict[str, Any] | None:
    value = _value(get, key)
    return None if value is None else {k: to_json(v, k) for k, v in codec.dict_from_pairs(value).items()}


def _page(get: Get, count_key: bytes, seq_key: Callable[[int], bytes], item: Callable[[str], Any],
          offset: int, limit: int, newest_first: bool) -> dict[str, Any]:
    if offset < 0 or not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"offset must be >= 0 and limit in [1, {MAX_PAGE}]", code="bad_page")
    total = int(_value(get, count_key) or 0)
    positions = range(offset, min(total, offset + limit))
    seqs = [total - 1 - p for p in positions] if newest_first else list(positions)
    items = [item(str(_value(get, seq_key(seq)))) for seq in seqs]
    return {"total": total, "offset": offset, "limit": limit, "items": items}


# --- assets ----------------------------------------------------------------------------------------


def asset(get: Get, asset_id: str) -> dict[str, Any] | None:
    """The asset record (None if unknown)."""
    return _record(get, statekeys.asset_key(asset_id))


def assets(get: Get, offset: int = 0, limit: int = 50, *, newest_first: bool = False) -> dict[str, Any]:
    """A page of assets in registration order: ``{"total", "offset", "limit", "items": [record...]}``."""
    return _page(get, statekeys.ASSET_COUNT, statekeys.asset_seq_key, lambda i: asset(get, i), offset, limit,
                 newest_first)


def asset_id_by_content(get: Get, content_hash: bytes) -> str | None:
    value = _value(get, statekeys.asset_content_key(content_hash))
    return None if value is None else str(value)


def valuations(get: Get, asset_id: str) -> list[dict[str, Any]]:
    """Every appraisal of the asset, oldest first (empty for an unknown asset)."""
    record = asset(get, asset_id)
    count = 0 if record is None else int(record["appraisals"])
    return [r for n in range(count) if (r := _record(get, statekeys.valuation_key(asset_id, n))) is not None]


def licences(get: Get, asset_id: str) -> list[dict[str, Any]]:
    """Every licence granted on the asset, oldest first."""
    record = asset(get, asset_id)
    count = 0 if record is None else int(record["licences"])
    return [r for n in range(count) if (r := _record(get, statekeys.licence_key(asset_id, n))) is not None]


def asset_facts(get: Get, asset_id: str) -> dict[str, Any] | None:
    """The asset as the rule engine's ``AssetFacts`` JSON (RULES.md, SCENARIOS.md ``asset``)."""
    record = asset(get, asset_id)
    if record is None:
        return None
    names = ("grade", "important_basis", "suspected_important", "state_secret", "contains_pi", "sensitive_pi",
             "minors_pi", "origin", "domestic_data_introduced", "eu_personal_data", "sector", "fields")
    return {**{n: record[n] for n in names}, "pledged": record["pledge"] is not None}


def history_refs(get: Get, asset_id: str) -> dict[str, Any] | None:
    """Where the asset's event chain starts and ends: ``{"registered", "last_event"}``."""
    record = asset(get, asset_id)
    return None if record is None else {"registered": record["registered"], "last_event": record["last_event"]}


def event_on(events: Sequence[Event], subject: str) -> Event | None:
    """The (one) event on ``subject`` among a transaction's receipt events."""
    return next((e for e in events if e.subject == subject), None)


def history(get: Get, events_at: EventsAt, asset_id: str) -> list[dict[str, Any]]:
    """The asset's events newest first, following ``prev`` from ``last_event`` to the registration.

    ``events_at(ref)`` returns the receipt events of the transaction at ``ref``. Raises
    :class:`ValidationError` (``broken_history``) if a link is missing or the chain does not end
    at the registration.
    """
    record = asset(get, asset_id)
    if record is None:
        return []
    out: list[dict[str, Any]] = []
    ref: EventRef | None = EventRef(record["last_event"]["height"], record["last_event"]["tx_index"])
    while ref is not None:
        event = event_on(events_at(ref), asset_id)
        if event is None:
            raise ValidationError(f"no event on {asset_id} at {ref.to_wire()}", code="broken_history")
        out.append({"ref": {"height": ref.height, "tx_index": ref.tx_index}, "contract": event.contract,
                    "name": event.name, "data": {k: to_json(v, k) for k, v in event.data_dict().items()}})
        ref = event.prev
    if out[-1]["ref"] != record["registered"] or out[-1]["name"] != "registered":
        raise ValidationError(f"history of {asset_id} does not end at its registration", code="broken_history")
    return out


# --- governance ---------------------------------------------------------------------------------------


def organisation(get: Get, org_id: str) -> dict[str, Any] | None:
    return _record(get, statekeys.org_key(org_id))


def organisations(get: Get, offset: int = 0, limit: int = 50) -> dict[str, Any]:
    """A page of organisations in registration order."""
    return _page(get, statekeys.ORG_COUNT, statekeys.org_seq_key, lambda i: organisation(get, i), offset, limit,
                 False)


def exporter_facts(get: Get, org_id: str) -> dict[str, Any] | None:
    """An organisation as the rule engine's exporter facts (without the year-to-date counters)."""
    org = organisation(get, org_id)
    if org is None:
        return None
    return {"id": org["id"], "jurisdiction": org["jurisdiction"], "is_ciio": org["ciio"], "ftz_zone": org["zone"]}


def member_of(get: Get, public_key: bytes) -> str | None:
    value = _value(get, statekeys.member_key(public_key))
    return None if value is None else str(value)


def roles(get: Get, public_key: bytes) -> list[str]:
    return list(_value(get, statekeys.roles_key(public_key)) or ())


def decision(get: Get, decision_id: str) -> dict[str, Any] | None:
    """A regulator decision by id (the transfer contract's evidence)."""
    return _record(get, statekeys.decision_key(decision_id))


def decisions(get: Get, offset: int = 0, limit: int = 50) -> dict[str, Any]:
    return _page(get, statekeys.DECISION_COUNT, statekeys.decision_seq_key, lambda i: decision(get, i), offset,
                 limit, False)


def validators(get: Get, *, pending: bool = False) -> list[dict[str, Any]] | None:
    """The validator set (or the pending one, None when there is no pending change)."""
    value = _value(get, statekeys.PENDING_VALIDATORS if pending else statekeys.VALIDATORS)
    if value is None:
        return None
    return [{"public_key": k.hex(), "name": n, "organisation": o, "jurisdiction": j} for k, n, o, j in value]


def authorities(get: Get) -> dict[str, Any] | None:
    value = _value(get, statekeys.AUTHORITIES)
    return None if value is None else {"threshold": value[0], "public_keys": [k.hex() for k in value[1]]}


def policy(get: Get, version: int | None = None) -> dict[str, Any] | None:
    """``{"version", "document"}`` (the canonical JSON text) of a policy version, default the current."""
    if version is None:
        current = _value(get, statekeys.POLICY_CURRENT)
        if current is None:
            return None
        version = int(current)
    text = _value(get, statekeys.policy_key(version))
    return None if text is None else {"version": version, "document": text}
