"""Read-side helpers over the transfer contract's state, returning JSON-ready dicts (API, CLI, demo).

Like :mod:`chain.contracts.queries`, every function takes ``get(key) -> bytes | None`` reading the state
at some height. Lists walk the in-state sequences the contract keeps (all transfers, per asset, per
exporter; the state tree cannot be iterated by prefix). A ``state`` filter is applied while walking:
a page then reads at most :data:`MAX_SCAN` entries and says where to continue (``next_offset``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from chain import codec, statekeys
from chain.contracts import queries
from chain.errors import ValidationError

Get = Callable[[bytes], bytes | None]
MAX_PAGE = queries.MAX_PAGE
MAX_SCAN = 10_000

_NESTED = ("decision", "decisions", "attestations", "gdpr")
_REFS = ("requested", "released", "acknowledged", "delivered", "updated", "ref")


def _value(get: Get, key: bytes) -> Any:
    raw = get(key)
    return None if raw is None else codec.decode(raw)


def _json(value: Any, name: str = "") -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if name in _REFS and isinstance(value, tuple | list) and len(value) == 2:
        return {"height": value[0], "tx_index": value[1]}
    if name in _NESTED and isinstance(value, tuple | list):
        return {k: _json(v, k) for k, v in codec.dict_from_pairs(value).items()}
    if isinstance(value, tuple | list):
        return [_json(v) for v in value]
    return value


def _record(get: Get, key: bytes) -> dict[str, Any] | None:
    value = _value(get, key)
    return None if value is None else {k: _json(v, k) for k, v in codec.dict_from_pairs(value).items()}


def transfer(get: Get, transfer_id: str, *, steps: bool = True) -> dict[str, Any] | None:
    """The transfer record (None if unknown); with ``steps``, every step oldest first under ``"history"``."""
    record = _record(get, statekeys.transfer_key(transfer_id))
    if record is None or not steps:
        return record
    history = [_record(get, statekeys.transfer_step_key(transfer_id, n)) for n in range(int(record["steps"]))]
    record["history"] = [step for step in history if step is not None]
    return record


def transfers(
    get: Get,
    *,
    asset: str | None = None,
    exporter: str | None = None,
    state: str | None = None,
    offset: int = 0,
    limit: int = 50,
    newest_first: bool = True,
) -> dict[str, Any]:
    """A page of transfers: ``{"total", "offset", "limit", "items", "next_offset"}``.

    The walk is over the asset's transfers when ``asset`` is given, else the exporter's, else all;
    ``total`` is that sequence's length. Other filters are applied while walking.
    """
    if offset < 0 or not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"offset must be >= 0 and limit in [1, {MAX_PAGE}]", code="bad_page")
    if asset is not None:
        count_key, item_key = statekeys.transfer_by_asset_count_key(asset), (
            lambda n: statekeys.transfer_by_asset_key(asset, n))
    elif exporter is not None:
        count_key, item_key = statekeys.transfer_by_exporter_count_key(exporter), (
            lambda n: statekeys.transfer_by_exporter_key(exporter, n))
    else:
        count_key, item_key = statekeys.TRANSFER_COUNT, statekeys.transfer_seq_key
    total = int(_value(get, count_key) or 0)
    items: list[dict[str, Any]] = []
    position = offset
    scanned = 0
    while position < total and len(items) < limit and scanned < MAX_SCAN:
        n = total - 1 - position if newest_first else position
        position += 1
        scanned += 1
        record = transfer(get, str(_value(get, item_key(n))), steps=False)
        if record is None:
            continue
        if (exporter is not None and record["exporter"] != exporter) or (state is not None and record["state"] != state):
            continue
        items.append(record)
    return {"total": total, "offset": offset, "limit": limit, "items": items,
            "next_offset": position if position < total else None}


def counters(get: Get, org_id: str) -> dict[str, Any] | None:
    """An exporter's year-to-date counters as stored (RULES.md P2), or None if it never sent PI abroad."""
    value = _value(get, statekeys.transfer_ytd_key(org_id))
    if value is None:
        return None
    year, subjects, sensitive = value
    return {"exporter": org_id, "year": year, "subjects": subjects, "sensitive_subjects": sensitive}


def policy(get: Get, version: int | None = None) -> dict[str, Any] | None:
    """``{"version", "current", "sha256", "document"}`` of a policy version (default: the one in force)."""
    found = queries.policy(get, version)
    if found is None:
        return None
    text = str(found["document"])
    current = _value(get, statekeys.POLICY_CURRENT)
    return {"version": found["version"], "current": None if current is None else int(current),
            "sha256": codec.sha256(text.encode()).hex(), "document": json.loads(text)}
