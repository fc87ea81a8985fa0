"""The collateral contract: pledge, release, enforce after due time; what a pledge blocks."""

from __future__ import annotations

from typing import Any

from chain.contracts import queries
from testkit.contracts import (
    BUYER,
    LENDER,
    OUTSIDER,
    OWNER,
    REGISTRAR,
    TestChain,
    key,
    port_chain,
    register_asset,
)

DAY_MS = 86_400_000


def pledge_args(chain: TestChain, asset_id: str, **overrides: Any) -> dict[str, Any]:
    return {"asset_id": asset_id, "pledgee": LENDER.public_key, "amount": 5_000_000, "currency": "CNY",
            "due_ms": chain.timestamp_ms + 30 * DAY_MS, **overrides}


def pledged_chain() -> tuple[TestChain, str]:
    chain = port_chain()
    asset_id = register_asset(chain, b"collateral")
    receipt = chain.submit("collateral", "pledge", pledge_args(chain, asset_id), [OWNER, LENDER])
    assert receipt.ok, receipt.error_code
    return chain, asset_id


def test_pledge_records_the_pledge_on_the_asset() -> None:
    chain, asset_id = pledged_chain()
    record = queries.asset(chain.get, asset_id)
    assert record is not None and record["pledge"]["pledgee"] == LENDER.public_hex
    assert record["pledge"]["pledgee_org"] == "bank" and record["pledge"]["amount"] == 5_000_000
    assert queries.asset_facts(chain.get, asset_id)["pledged"] is True  # type: ignore[index]


def test_pledge_refusals() -> None:
    chain = port_chain()
    asset_id = register_asset(chain, b"collateral")
    lender2 = key("lender-2")
    cases = [
        ([LENDER], pledge_args(chain, asset_id), "not_owner"),
        ([OWNER], pledge_args(chain, asset_id), "missing_signature"),
        ([OWNER, BUYER], pledge_args(chain, asset_id, pledgee=BUYER.public_key), "missing_role"),
        ([OWNER], pledge_args(chain, asset_id, pledgee=OWNER.public_key), "self_pledge"),
        ([OWNER, LENDER], pledge_args(chain, asset_id, amount=-1), "bad_amount"),
        ([OWNER, LENDER], pledge_args(chain, asset_id, due_ms=chain.timestamp_ms), "bad_due_time"),
        ([OWNER, LENDER], pledge_args(chain, "11" * 32), "unknown_asset"),
    ]
    for signers, args, code in cases:
        assert chain.submit("collateral", "pledge", args, signers).error_code == code, code
    assert chain.submit("collateral", "pledge", pledge_args(chain, asset_id), [OWNER, LENDER]).ok
    chain.governance("grant_role", {"public_key": lender2.public_key, "role": "lender"})
    again = pledge_args(chain, asset_id, pledgee=lender2.public_key)
    assert chain.submit("collateral", "pledge", again, [OWNER, lender2]).error_code == "asset_pledged"
    assert chain.submit("collateral", "pledge", again, [OWNER, lender2, LENDER]).error_code == "asset_pledged"


def test_a_pledged_asset_needs_the_pledgee_to_move() -> None:
    chain, asset_id = pledged_chain()
    sale = {"asset_id": asset_id, "new_owner": BUYER.public_key}
    assert chain.submit("registry", "transfer", sale, [OWNER, BUYER]).error_code == "asset_pledged"
    abroad = {"asset_id": asset_id, "licensee": "foreign-co", "scope": "s", "purpose": "p",
              "expires_ms": chain.timestamp_ms + DAY_MS}
    assert chain.submit("registry", "licence", abroad, [OWNER]).error_code == "asset_pledged"
    domestic_flagged = {**abroad, "licensee": "buyer-co", "abroad": True}
    assert chain.submit("registry", "licence", domestic_flagged, [OWNER]).error_code == "asset_pledged"
    assert chain.submit("registry", "licence", {**abroad, "licensee": "buyer-co"}, [OWNER]).ok
    assert chain.submit("registry", "licence", abroad, [OWNER, LENDER]).ok
    assert chain.submit("registry", "retire", {"asset_id": asset_id}, [REGISTRAR]).error_code == "asset_pledged"
    assert chain.submit("registry", "transfer", sale, [OWNER, BUYER, LENDER]).ok
    record = queries.asset(chain.get, asset_id)
    assert record is not None and record["owner"] == BUYER.public_hex
    assert record["pledge"]["pledgee"] == LENDER.public_hex  # the pledge follows the asset


def test_release_by_the_pledgee_only() -> None:
    chain, asset_id = pledged_chain()
    assert chain.submit("collateral", "release", {"asset_id": asset_id}, [OWNER]).error_code == "not_pledgee"
    receipt = chain.submit("collateral", "release", {"asset_id": asset_id}, [LENDER])
    assert receipt.ok and receipt.events[0].name == "released"
    assert queries.asset(chain.get, asset_id)["pledge"] is None  # type: ignore[index]
    assert chain.submit("collateral", "release", {"asset_id": asset_id}, [LENDER]).error_code == "not_pledged"
    assert chain.submit("collateral", "enforce", {"asset_id": asset_id}, [LENDER]).error_code == "not_pledged"
    sale = {"asset_id": asset_id, "new_owner": BUYER.public_key}
    assert chain.submit("registry", "transfer", sale, [OWNER, BUYER]).ok


def test_enforce_only_after_the_due_time() -> None:
    chain, asset_id = pledged_chain()
    due = queries.asset(chain.get, asset_id)["pledge"]["due_ms"]  # type: ignore[index]
    assert chain.submit("collateral", "enforce", {"asset_id": asset_id}, [OWNER]).error_code == "not_pledgee"
    assert chain.submit("collateral", "enforce", {"asset_id": asset_id}, [LENDER], at_ms=due).error_code \
        == "not_due"
    receipt = chain.submit("collateral", "enforce", {"asset_id": asset_id}, [LENDER], at_ms=due + 1)
    assert receipt.ok and receipt.events[0].data_dict()["previous_org"] == "owner-co"
    record = queries.asset(chain.get, asset_id)
    assert record is not None and (record["owner"], record["owner_org"], record["pledge"]) == (
        LENDER.public_hex, "bank", None)
    names = [e["name"] for e in queries.history(chain.get, chain.events_at, asset_id)]
    assert names == ["enforced", "pledged", "registered"]


def test_enforce_needs_the_pledgee_to_still_be_a_member() -> None:
    chain, asset_id = pledged_chain()
    chain.governance("remove_member", {"public_key": LENDER.public_key})
    due = queries.asset(chain.get, asset_id)["pledge"]["due_ms"]  # type: ignore[index]
    code = chain.submit("collateral", "enforce", {"asset_id": asset_id}, [LENDER], at_ms=due + 1).error_code
    assert code == "unknown_member"
    assert chain.submit("collateral", "release", {"asset_id": asset_id}, [OUTSIDER, LENDER]).ok
