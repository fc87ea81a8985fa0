"""The ``collateral`` contract: pledges of data assets (DESIGN.md §7; Civil Code Art 440–446, rights pledges).

=======  ==========================================  ============================================
method   who signs                                   effect
=======  ==========================================  ============================================
pledge   owner + pledgee (a ``lender`` member) —     ``pledge`` record on the asset: pledgee, its
         and, never twice: ``asset_pledged``          organisation, secured amount, currency, due
release  the pledgee                                 pledge removed
enforce  the pledgee, block timestamp > due          ownership moves to the pledgee, pledge removed
=======  ==========================================  ============================================

While pledged, an asset cannot be transferred or licensed abroad without the pledgee's signature,
nor pledged again or retired (``asset_pledged``, see :mod:`chain.contracts.registry`). Amounts are
integers in minor units (``bad_amount``); ``due_ms`` must be after the pledge's block time
(``bad_due_time``). Each method emits ``collateral.<pledged|released|enforced>`` on the asset.
"""

from __future__ import annotations

from typing import Any

from chain.contracts import assets
from chain.contracts.base import Amount, Context, ContractRegistry, Int, PublicKey, Schema, Str
from chain.contracts.callers import Callers
from chain.contracts.governance import member_org
from chain.errors import ContractError

CONTRACT = "collateral"
ASSET_ID = Str(max_len=64, pattern=assets.ASSET_ID_PATTERN)

PLEDGE = Schema(
    {
        "asset_id": ASSET_ID,
        "pledgee": PublicKey(),
        "amount": Amount(),
        "currency": Str(max_len=3, pattern=r"[A-Z]{3}"),
        "due_ms": Int(),
    }
)


def _current_pledge(record: dict[str, Any]) -> dict[str, Any]:
    """The pledge the ``Callers.pledgee()`` declaration already found (``not_pledged``, ``not_pledgee``)."""
    pledge = assets.pledge_of(record)
    assert pledge is not None
    return pledge


def register(registry: ContractRegistry) -> None:
    @registry.method(CONTRACT, "pledge", PLEDGE, callers=Callers.asset_owner())
    def pledge(ctx: Context, args: dict[str, Any]) -> None:
        """Owner + pledgee (lender role) co-sign. Refusals ``unknown_asset``, ``asset_retired``, ``not_owner``,
        ``asset_pledged``, ``missing_signature``, ``missing_role``, ``unknown_member``, ``self_pledge``,
        ``bad_due_time``, ``bad_amount``. Emits pledged."""
        record = assets.load_active(ctx, args["asset_id"])
        if record["pledge"] is not None:
            raise ContractError("the asset is already pledged", code="asset_pledged")
        pledgee = args["pledgee"]
        if pledgee == record["owner"]:
            raise ContractError("an owner cannot pledge to itself", code="self_pledge")
        ctx.require_signer(pledgee, "pledgee")
        if not ctx.has_role(pledgee, "lender"):
            raise ContractError("the pledgee needs the lender role", code="missing_role")
        if args["due_ms"] <= ctx.timestamp_ms:
            raise ContractError("the due time must be after the block time", code="bad_due_time")
        record["pledge"] = {
            "pledgee": pledgee,
            "pledgee_org": member_org(ctx, pledgee),
            "amount": args["amount"],
            "currency": args["currency"],
            "due_ms": args["due_ms"],
            "since_ms": ctx.timestamp_ms,
            "ref": ctx.ref.to_wire(),
        }
        assets.touch(ctx, record, CONTRACT, "pledged", pledgee=pledgee, amount=args["amount"],
                     currency=args["currency"], due_ms=args["due_ms"])

    @registry.method(CONTRACT, "release", Schema({"asset_id": ASSET_ID}), callers=Callers.pledgee())
    def release(ctx: Context, args: dict[str, Any]) -> None:
        """Pledgee. Ends the pledge; refusals ``unknown_asset``, ``asset_retired``, ``not_pledged``,
        ``not_pledgee``. Emits released."""
        record = assets.load_active(ctx, args["asset_id"])
        current = _current_pledge(record)
        record["pledge"] = None
        assets.touch(ctx, record, CONTRACT, "released", pledgee=current["pledgee"])

    @registry.method(CONTRACT, "enforce", Schema({"asset_id": ASSET_ID}), callers=Callers.pledgee())
    def enforce(ctx: Context, args: dict[str, Any]) -> None:
        """Pledgee, once the block timestamp is past the due time. Ownership moves to the pledgee; refusals
        ``unknown_asset``, ``asset_retired``, ``not_pledged``, ``not_pledgee``, ``not_due``,
        ``unknown_member``. Emits enforced."""
        record = assets.load_active(ctx, args["asset_id"])
        current = _current_pledge(record)
        if ctx.timestamp_ms <= current["due_ms"]:
            raise ContractError(f"the pledge is due at {current['due_ms']} ms", code="not_due")
        previous, previous_org = record["owner"], record["owner_org"]
        record["owner"] = current["pledgee"]
        record["owner_org"] = member_org(ctx, current["pledgee"])
        record["pledge"] = None
        assets.touch(ctx, record, CONTRACT, "enforced", previous=previous, previous_org=previous_org,
                     owner=record["owner"], owner_org=record["owner_org"], amount=current["amount"],
                     currency=current["currency"])
