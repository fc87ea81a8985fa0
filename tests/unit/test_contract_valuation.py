"""The valuation contract: appraisals by appraisers, latest on the record, full list queryable."""

from __future__ import annotations

from typing import Any

from chain.contracts import queries
from testkit.contracts import APPRAISER, OWNER, REGISTRAR, key, port_chain, register_asset


def appraisal(asset_id: str, **overrides: Any) -> dict[str, Any]:
    return {"asset_id": asset_id, "amount": 1_250_000, "currency": "CNY", "method": "income",
            "report_hash": b"\x42" * 32, **overrides}


def test_appraisals_are_recorded_latest_and_history() -> None:
    chain = port_chain()
    asset_id = register_asset(chain, b"data")
    assert chain.submit("valuation", "appraise", appraisal(asset_id), [APPRAISER]).ok
    receipt = chain.submit("valuation", "appraise", appraisal(asset_id, amount=0, method="market"), [APPRAISER])
    assert receipt.ok and receipt.events[0].name == "appraised"
    record = queries.asset(chain.get, asset_id)
    assert record is not None and record["appraisals"] == 2
    assert (record["valuation"]["amount"], record["valuation"]["method"]) == (0, "market")
    assert record["valuation"]["appraiser_org"] == "appraiser-co"
    listed = queries.valuations(chain.get, asset_id)
    assert [(v["n"], v["amount"], v["currency"]) for v in listed] == [(0, 1_250_000, "CNY"), (1, 0, "CNY")]
    assert listed[0]["report_hash"] == "42" * 32
    assert [e["name"] for e in queries.history(chain.get, chain.events_at, asset_id)] == [
        "appraised", "appraised", "registered"]


def test_appraisal_refusals() -> None:
    chain = port_chain()
    asset_id = register_asset(chain, b"data")
    cases = [
        ([REGISTRAR], appraisal(asset_id), "missing_role"),
        ([APPRAISER], appraisal("00" * 32), "unknown_asset"),
        ([APPRAISER], appraisal(asset_id, amount=-1), "bad_amount"),
        ([APPRAISER], appraisal(asset_id, amount="12.5"), "bad_amount"),
        ([APPRAISER], appraisal(asset_id, amount=True), "bad_amount"),
        ([APPRAISER], appraisal(asset_id, currency="cny"), "bad_format"),
        ([APPRAISER], appraisal(asset_id, method="vibes"), "bad_enum"),
        ([APPRAISER], appraisal(asset_id, report_hash=b"\x01"), "bad_length"),
    ]
    for signers, args, code in cases:
        assert chain.submit("valuation", "appraise", args, signers).error_code == code, code
    assert queries.valuations(chain.get, asset_id) == []


def test_an_owner_cannot_appraise_its_own_asset() -> None:
    chain = port_chain()
    asset_id = register_asset(chain, b"mine", owner=APPRAISER)
    assert chain.submit("valuation", "appraise", appraisal(asset_id), [APPRAISER]).error_code \
        == "conflict_of_interest"


def test_an_appraiser_outside_any_organisation_is_refused() -> None:
    chain = port_chain()
    asset_id = register_asset(chain, b"data")
    loner = key("loner")
    assert chain.governance("grant_role", {"public_key": loner.public_key, "role": "appraiser"}).ok
    assert chain.submit("valuation", "appraise", appraisal(asset_id), [loner]).error_code == "unknown_member"
    assert chain.submit("valuation", "appraise", appraisal(asset_id), [OWNER, APPRAISER]).ok
