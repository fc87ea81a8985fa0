"""The ``valuation`` contract: appraisals of data assets (DESIGN.md §7).

``appraise(asset_id, amount, currency, method, report_hash)`` — a key with the ``appraiser`` role
that is not the asset's owner (``conflict_of_interest``). ``amount`` is an integer in minor units
(``bad_amount`` otherwise), ``currency`` an ISO 4217 alphabetic code, ``method`` one of market /
income / cost (the three approaches of the Asset Appraisal Standard for data assets, CAS 2023),
``report_hash`` the SHA-256 of the off-chain report. The n-th appraisal of an asset is stored at
``asset/val/<id>/<u32 n>``; the latest is copied to the asset record's ``valuation`` and the count
to ``appraisals``. Emits ``valuation.appraised`` on the asset (linked to its previous event).
"""

from __future__ import annotations

from typing import Any

from chain import statekeys
from chain.contracts import assets
from chain.contracts.base import Amount, Bytes, Context, ContractRegistry, Schema, Str
from chain.contracts.callers import Callers
from chain.contracts.governance import member_org
from chain.errors import ContractError

CONTRACT = "valuation"
METHODS = ("market", "income", "cost")

APPRAISE = Schema(
    {
        "asset_id": Str(max_len=64, pattern=assets.ASSET_ID_PATTERN),
        "amount": Amount(),
        "currency": Str(max_len=3, pattern=r"[A-Z]{3}"),
        "method": Str(max_len=8, choices=METHODS),
        "report_hash": Bytes(size=32),
    }
)


def register(registry: ContractRegistry) -> None:
    @registry.method(CONTRACT, "appraise", APPRAISE, callers=Callers.role("appraiser"))
    def appraise(ctx: Context, args: dict[str, Any]) -> None:
        """Appraiser (not the owner). Records an appraisal; refusals ``unknown_asset``, ``asset_retired``,
        ``conflict_of_interest``, ``unknown_member``, ``bad_amount``. Emits appraised."""
        record = assets.load_active(ctx, args["asset_id"])
        appraiser = ctx.signer_with_role("appraiser")
        if appraiser == record["owner"]:
            raise ContractError("an owner cannot appraise its own asset", code="conflict_of_interest")
        number = record["appraisals"]
        appraisal = {
            **args,
            "n": number,
            "appraiser": appraiser,
            "appraiser_org": member_org(ctx, appraiser),
            "at_ms": ctx.timestamp_ms,
            "ref": ctx.ref.to_wire(),
        }
        ctx.put_record(statekeys.valuation_key(record["id"], number), appraisal)
        record["appraisals"] = number + 1
        record["valuation"] = appraisal
        assets.touch(ctx, record, CONTRACT, "appraised", n=number, amount=args["amount"], currency=args["currency"],
                     method=args["method"], report_hash=args["report_hash"], appraiser=appraiser)
