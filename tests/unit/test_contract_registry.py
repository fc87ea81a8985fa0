"""The registry contract: registration, certificates, classification, transfer, licences, retirement, queries."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain import codec, statekeys
from chain.contracts import queries
from chain.contracts.registry import asset_id_for, civil_from_days, shanghai_date
from testkit.contracts import (
    APPRAISER,
    BUYER,
    FOREIGN,
    LENDER,
    OUTSIDER,
    OWNER,
    REGISTRAR,
    classification,
    key,
    port_chain,
    register_args,
    register_asset,
)

HOUR_MS = 3_600_000


def test_register_records_facts_ids_and_certificate() -> None:
    chain = port_chain()
    args = register_args(b"manifests", classification=classification(
        grade="IMPORTANT", important_basis="NOTIFIED", contains_pi=True, sensitive_pi=True, subjects=1000,
        sensitive_subjects=10, origin="MIXED", fields=["vin", "gps"], eu_personal_data=True))
    receipt = chain.submit("registry", "register", args, [REGISTRAR, OWNER])
    assert receipt.ok
    asset_id = receipt.events[0].subject
    assert asset_id == asset_id_for(chain.last_tx.tx_hash, codec.sha256(b"manifests"))
    record = queries.asset(chain.get, asset_id)
    assert record is not None
    assert record["certificate"] == "SP-2025-000001" and record["owner_org"] == "owner-co"
    assert record["registered"] == record["last_event"] == {"height": 1, "tx_index": 0}
    assert record["registrar"] == REGISTRAR.public_hex and record["status"] == "ACTIVE"
    assert queries.asset_facts(chain.get, asset_id) == {
        "grade": "IMPORTANT", "important_basis": "NOTIFIED", "suspected_important": False, "state_secret": False,
        "contains_pi": True, "sensitive_pi": True, "minors_pi": False, "origin": "MIXED",
        "domestic_data_introduced": False, "eu_personal_data": True, "sector": "logistics",
        "fields": ["vin", "gps"], "pledged": False,
    }
    assert queries.asset_id_by_content(chain.get, codec.sha256(b"manifests")) == asset_id
    second = register_asset(chain, b"second")
    assert queries.asset(chain.get, second)["certificate"] == "SP-2025-000002"  # type: ignore[index]


def test_register_refusals() -> None:
    chain = port_chain()
    register_asset(chain, b"taken")
    cases = [
        ([OWNER], register_args(b"a"), "missing_role"),
        ([REGISTRAR], register_args(b"a"), "missing_signature"),
        ([REGISTRAR, OUTSIDER], register_args(b"a", owner=OUTSIDER), "unknown_member"),
        ([REGISTRAR, OWNER], register_args(b"taken"), "duplicate_content"),
        ([REGISTRAR, OWNER], register_args(b"a", parents=["ab" * 32]), "unknown_asset"),
        ([REGISTRAR, OWNER], register_args(b"a", parents=["AB" * 32]), "bad_format"),
        ([REGISTRAR, OWNER], register_args(b"a", title="x" * 300), "oversize"),
        ([REGISTRAR, OWNER], register_args(b"a", description="x" * 3000), "oversize"),
        ([REGISTRAR, OWNER], register_args(b"a", content_hash=b"short"), "bad_length"),
        ([REGISTRAR, OWNER], register_args(b"a", size=-1), "out_of_range"),
        ([REGISTRAR, OWNER], register_args(b"a", classification=classification(grade="SECRET")), "bad_enum"),
        ([REGISTRAR, OWNER], register_args(b"a", classification=classification(important_basis="NOTIFIED")),
         "inconsistent_classification"),
        ([REGISTRAR, OWNER], register_args(b"a", classification=classification(subjects=5)),
         "inconsistent_classification"),
        ([REGISTRAR, OWNER], register_args(b"a", classification=classification(
            contains_pi=True, subjects=5, sensitive_subjects=6, sensitive_pi=True)), "inconsistent_classification"),
        ([REGISTRAR, OWNER], register_args(b"a", classification=classification(fields=["x"] * 2)), "duplicate"),
    ]
    for signers, args, code in cases:
        assert chain.submit("registry", "register", args, signers).error_code == code, code
    assert queries.assets(chain.get)["total"] == 1


def test_derived_assets_link_to_their_parents() -> None:
    chain = port_chain()
    parent = register_asset(chain, b"raw")
    child = register_asset(chain, b"cleaned", parents=[parent])
    assert queries.asset(chain.get, child)["parents"] == [parent]  # type: ignore[index]
    parent_history = queries.history(chain.get, chain.events_at, parent)
    assert [e["name"] for e in parent_history] == ["derived", "registered"]
    assert parent_history[0]["data"]["child"] == child
    assert chain.submit("registry", "retire", {"asset_id": parent}, [OWNER]).ok
    args = register_args(b"more", parents=[parent])
    assert chain.submit("registry", "register", args, [REGISTRAR, OWNER]).error_code == "asset_retired"


def test_update_classification_keeps_history_in_events() -> None:
    chain = port_chain()
    asset_id = register_asset(chain, b"data")
    new = classification(grade="IMPORTANT", important_basis="PUBLISHED")
    args = {"asset_id": asset_id, "classification": new, "reason": "notified by MIIT"}
    assert chain.submit("registry", "update_classification", args, [OWNER]).error_code == "missing_role"
    receipt = chain.submit("registry", "update_classification", args, [REGISTRAR])
    assert receipt.ok
    data = receipt.events[0].data_dict()
    assert codec.dict_from_pairs(data["old"])["grade"] == "GENERAL"
    assert codec.dict_from_pairs(data["new"])["grade"] == "IMPORTANT"
    assert queries.asset(chain.get, asset_id)["important_basis"] == "PUBLISHED"  # type: ignore[index]
    unknown = {**args, "asset_id": "00" * 32}
    assert chain.submit("registry", "update_classification", unknown, [REGISTRAR]).error_code == "unknown_asset"


def test_transfer_needs_owner_and_buyer() -> None:
    chain = port_chain()
    asset_id = register_asset(chain, b"data")
    sale = {"asset_id": asset_id, "new_owner": BUYER.public_key, "price": 125_000, "currency": "CNY"}
    assert chain.submit("registry", "transfer", sale, [BUYER]).error_code == "not_owner"
    assert chain.submit("registry", "transfer", sale, [OWNER]).error_code == "missing_signature"
    assert chain.submit("registry", "transfer", {**sale, "new_owner": OWNER.public_key}, [OWNER]).error_code \
        == "same_owner"
    stranger = {**sale, "new_owner": OUTSIDER.public_key}
    assert chain.submit("registry", "transfer", stranger, [OWNER, OUTSIDER]).error_code == "unknown_member"
    assert chain.submit("registry", "transfer", {**sale, "price": -5}, [OWNER, BUYER]).error_code == "bad_amount"
    assert chain.submit("registry", "transfer", {**sale, "price": "5"}, [OWNER, BUYER]).error_code == "bad_amount"
    assert chain.submit("registry", "transfer", {**sale, "currency": None}, [OWNER, BUYER]).error_code \
        == "bad_amount"
    receipt = chain.submit("registry", "transfer", sale, [OWNER, BUYER])
    assert receipt.ok and receipt.events[0].data_dict()["price"] == 125_000
    record = queries.asset(chain.get, asset_id)
    assert record is not None and (record["owner"], record["owner_org"]) == (BUYER.public_hex, "buyer-co")
    resale = {**sale, "new_owner": LENDER.public_key}
    assert chain.submit("registry", "transfer", resale, [OWNER, LENDER]).error_code == "not_owner"


def test_licences_domestic_and_abroad() -> None:
    chain = port_chain()
    asset_id = register_asset(chain, b"data")
    licence = {"asset_id": asset_id, "licensee": "buyer-co", "scope": "analytics", "purpose": "intl_trade",
               "expires_ms": chain.timestamp_ms + 10 * HOUR_MS}
    assert chain.submit("registry", "licence", licence, [BUYER]).error_code == "not_owner"
    assert chain.submit("registry", "licence", {**licence, "licensee": "ghost"}, [OWNER]).error_code \
        == "unknown_organisation"
    assert chain.submit("registry", "licence", {**licence, "expires_ms": 5}, [OWNER]).error_code == "bad_expiry"
    assert chain.submit("registry", "licence", licence, [OWNER]).ok
    receipt = chain.submit("registry", "licence", {**licence, "licensee": "foreign-co"}, [OWNER])
    assert receipt.ok and receipt.events[0].data_dict()["abroad"] is True  # DE licensee: abroad
    issued = queries.licences(chain.get, asset_id)
    assert [(lic["n"], lic["licensee"], lic["abroad"]) for lic in issued] == [(0, "buyer-co", False),
                                                                             (1, "foreign-co", True)]


def test_retire_by_owner_or_registrar_then_nothing() -> None:
    chain = port_chain()
    mine, theirs = register_asset(chain, b"mine"), register_asset(chain, b"theirs")
    assert chain.submit("registry", "retire", {"asset_id": mine}, [BUYER]).error_code == "not_owner"
    assert chain.submit("registry", "retire", {"asset_id": mine, "reason": "superseded"}, [OWNER]).ok
    assert chain.submit("registry", "retire", {"asset_id": theirs}, [REGISTRAR]).ok
    sale = {"asset_id": mine, "new_owner": BUYER.public_key}
    assert chain.submit("registry", "retire", {"asset_id": mine}, [OWNER]).error_code == "asset_retired"
    assert chain.submit("registry", "transfer", sale, [OWNER, BUYER]).error_code == "asset_retired"
    appraisal = {"asset_id": mine, "amount": 1, "currency": "CNY", "method": "cost", "report_hash": bytes(32)}
    assert chain.submit("valuation", "appraise", appraisal, [APPRAISER]).error_code == "asset_retired"
    pledge = {"asset_id": mine, "pledgee": LENDER.public_key, "amount": 1, "currency": "CNY",
              "due_ms": chain.timestamp_ms + HOUR_MS}
    assert chain.submit("collateral", "pledge", pledge, [OWNER, LENDER]).error_code == "asset_retired"
    history = queries.history(chain.get, chain.events_at, mine)
    assert [e["name"] for e in history] == ["retired", "registered"]


def test_asset_list_is_paged_in_registration_order() -> None:
    chain = port_chain()
    ids = [register_asset(chain, bytes([i])) for i in range(5)]
    page = queries.assets(chain.get, offset=1, limit=2)
    assert page["total"] == 5 and [a["id"] for a in page["items"]] == ids[1:3]
    assert [a["id"] for a in queries.assets(chain.get, limit=2, newest_first=True)["items"]] == ids[:-3:-1]
    assert queries.assets(chain.get, offset=10)["items"] == []
    assert queries.organisations(chain.get, limit=3)["items"][2]["id"] == "buyer-co"
    assert chain.value(statekeys.asset_seq_key(4)) == ids[4]


def test_certificate_numbers_follow_the_shanghai_year() -> None:
    shanghai_new_year = 1_767_196_800_000  # 2025-12-31T16:00Z = 2026-01-01 00:00 in Shanghai
    chain = port_chain()
    chain.submit("registry", "register", register_args(b"late-2025"), [REGISTRAR, OWNER],
                 at_ms=shanghai_new_year - 1)
    a = asset_id_for(chain.last_tx.tx_hash, codec.sha256(b"late-2025"))
    chain.submit("registry", "register", register_args(b"just-2026"), [REGISTRAR, OWNER], at_ms=shanghai_new_year)
    b = chain.last_tx
    assert queries.asset(chain.get, a)["certificate"] == "SP-2025-000001"  # type: ignore[index]
    b_id = asset_id_for(b.tx_hash, codec.sha256(b"just-2026"))
    assert queries.asset(chain.get, b_id)["certificate"] == "SP-2026-000001"  # type: ignore[index]
    assert chain.value(statekeys.cert_counter_key(2026)) == 1


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=-(10**13), max_value=10**14))
def test_shanghai_date_matches_the_standard_library(timestamp_ms: int) -> None:
    tz = datetime.timezone(datetime.timedelta(hours=8))
    expected = datetime.datetime.fromtimestamp(timestamp_ms / 1000, tz).date()
    assert shanghai_date(timestamp_ms) == (expected.year, expected.month, expected.day)


def test_civil_from_days_edges() -> None:
    assert civil_from_days(0) == (1970, 1, 1)
    assert civil_from_days(-1) == (1969, 12, 31)
    assert civil_from_days(11_016) == (2000, 2, 29)


@pytest.mark.parametrize("who", [FOREIGN, key("nobody")])
def test_only_members_can_own(who: object) -> None:
    chain = port_chain()
    asset_id = register_asset(chain, b"x")
    sale = {"asset_id": asset_id, "new_owner": who.public_key}  # type: ignore[attr-defined]
    code = chain.submit("registry", "transfer", sale, [OWNER, who]).error_code  # type: ignore[list-item]
    assert code == ("" if who is FOREIGN else "unknown_member")
