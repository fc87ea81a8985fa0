"""The data-asset record shared by the registry, valuation and collateral contracts.

An asset record (state ``asset/rec/<id>``, sorted pairs) holds the facts the cross-border rule
engine reads (RULES.md, ``AssetFacts``), ownership, the current pledge and latest appraisal, and
``last_event``: the ``(height, tx_index)`` of the latest event whose subject is the asset. Every
handler that changes an asset goes through :func:`touch`, which emits the event with
``prev = last_event`` and moves ``last_event`` to this transaction, so the events on an asset form
a hash-linked chain back to its registration (DESIGN.md §4). A transaction emits at most one event
per asset, so ``(height, tx_index, subject)`` names one event.
"""

from __future__ import annotations

from typing import Any

from chain import codec, statekeys
from chain.contracts.base import Bool, Context, Int, List, Schema, Str
from chain.errors import ContractError
from chain.types import EventRef

ACTIVE = "ACTIVE"
RETIRED = "RETIRED"
GRADES = ("GENERAL", "IMPORTANT", "CORE")
IMPORTANT_BASES = ("NONE", "NOTIFIED", "PUBLISHED")
ORIGINS = ("CN", "ABROAD", "MIXED")
ASSET_ID_PATTERN = r"[0-9a-f]{64}"
MAX_SUBJECTS = 10**12

CLASSIFICATION = Schema(
    {
        "sector": Str(max_len=64, pattern=r"[a-z0-9][a-z0-9_.-]{0,63}"),
        "grade": Str(max_len=16, choices=GRADES),
        "important_basis": Str(max_len=16, choices=IMPORTANT_BASES, optional=True, default="NONE"),
        "suspected_important": Bool(optional=True, default=False),
        "state_secret": Bool(optional=True, default=False),
        "contains_pi": Bool(optional=True, default=False),
        "sensitive_pi": Bool(optional=True, default=False),
        "minors_pi": Bool(optional=True, default=False),
        "subjects": Int(maximum=MAX_SUBJECTS, optional=True, default=0),
        "sensitive_subjects": Int(maximum=MAX_SUBJECTS, optional=True, default=0),
        "origin": Str(max_len=8, choices=ORIGINS),
        "domestic_data_introduced": Bool(optional=True, default=False),
        "eu_personal_data": Bool(optional=True, default=False),
        "fields": List(Str(max_len=64, pattern=r"[A-Za-z0-9_.:-]{1,64}"), max_items=256, unique=True,
                       optional=True, default=()),
    }
)
"""Classification (GB/T 43697-2024 grade and basis) and personal-information profile of an asset."""

CLASSIFICATION_FIELDS = tuple(CLASSIFICATION.fields)


def check_classification(c: dict[str, Any]) -> None:
    """Consistency the schema alone cannot express; refusal ``inconsistent_classification``."""
    problem = None
    if c["grade"] == "GENERAL" and c["important_basis"] != "NONE":
        problem = "general data has no important-data basis"
    elif not c["contains_pi"] and (c["sensitive_pi"] or c["minors_pi"] or c["subjects"] or c["sensitive_subjects"]):
        problem = "sensitive, minors' PI or subject counts need contains_pi"
    elif c["sensitive_subjects"] > c["subjects"]:
        problem = "sensitive_subjects exceeds subjects"
    elif c["sensitive_subjects"] and not c["sensitive_pi"]:
        problem = "sensitive_subjects needs sensitive_pi"
    if problem:
        raise ContractError(problem, code="inconsistent_classification")


def load(ctx: Context, asset_id: str) -> dict[str, Any]:
    """The asset record; refusal ``unknown_asset``."""
    record = ctx.get_record(statekeys.asset_key(asset_id))
    if record is None:
        raise ContractError(f"no asset {asset_id}", code="unknown_asset")
    return record


def load_active(ctx: Context, asset_id: str) -> dict[str, Any]:
    """The asset record of a live asset; refusals ``unknown_asset``, ``asset_retired``."""
    record = load(ctx, asset_id)
    if record["status"] != ACTIVE:
        raise ContractError(f"asset {asset_id} is retired", code="asset_retired")
    return record


def pledge_of(record: dict[str, Any]) -> dict[str, Any] | None:
    return None if record["pledge"] is None else codec.dict_from_pairs(record["pledge"])


def require_pledgee_consent(ctx: Context, record: dict[str, Any], action: str) -> None:
    """A pledged asset needs its pledgee's signature for ``action``; refusal ``asset_pledged``."""
    pledge = pledge_of(record)
    if pledge is not None and pledge["pledgee"] not in ctx.signers:
        raise ContractError(f"asset is pledged: {action} needs the pledgee's signature", code="asset_pledged")


def touch(ctx: Context, record: dict[str, Any], contract: str, name: str, **data: Any) -> None:
    """Emit ``contract.name`` on the asset linked to its previous event, then save the record."""
    prev = record.get("last_event")
    ctx.emit_record(contract, name, record["id"], None if prev is None else EventRef.from_wire(prev), data)
    record["last_event"] = ctx.ref.to_wire()
    ctx.put_record(statekeys.asset_key(record["id"]), record)
