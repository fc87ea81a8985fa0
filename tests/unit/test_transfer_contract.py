"""The crossborder transfer contract: every method allowed and refused, evidence mapping, counters, dates."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest

from chain import codec, statekeys
from chain.contracts import queries
from chain.crossborder import transfer_queries
from chain.crossborder.contract import transfer_id_for
from chain.crossborder.facts import block_date
from chain.dataplane import chunks
from chain.types import Receipt
from testkit import contracts as tk

CUSTOMS = tk.key("customs-officer")
EXPORTER2 = tk.key("exporter-2")
EU_SENDER = tk.key("eu-sender")
COURT = tk.key("court")
HOUR_MS = 3_600_000


def utc_ms(text: str) -> int:
    return int(datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.UTC).timestamp() * 1000)


def xb_chain() -> tk.TestChain:
    """The testkit port plus customs, a foreign court and an EU exporter."""
    organisations = [
        *tk.PORT_ORGANISATIONS,
        {"id": "customs", "name": "Daxing Customs", "jurisdiction": "CN", "type": "CUSTOMS",
         "members": [CUSTOMS.public_hex]},
        {"id": "court", "name": "Foreign Court", "jurisdiction": "US", "type": "FOREIGN_JUDICIAL",
         "members": [COURT.public_hex]},
        {"id": "eu-co", "name": "EU Co", "jurisdiction": "FR", "type": "COMPANY", "members": [EU_SENDER.public_hex]},
        {"id": "exporter-2", "name": "Second exporter", "jurisdiction": "CN", "type": "COMPANY",
         "members": [EXPORTER2.public_hex]},
    ]
    roles = [*tk.PORT_ROLES, (CUSTOMS, "customs")]
    return tk.TestChain(tk.genesis_document(organisations=organisations, roles=roles))


def pi_asset(chain: tk.TestChain, content: bytes, **overrides: Any) -> str:
    return tk.register_asset(chain, content, classification=tk.classification(
        contains_pi=True, sensitive_pi=True, subjects=100_000, sensitive_subjects=100, **overrides))


def request_args(asset_id: str, **overrides: Any) -> dict[str, Any]:
    return {"asset_id": asset_id, "recipient": "foreign-co", "destination": "DE", "purpose": "intl_trade",
            "lawful_basis": "CONTRACT", **overrides}


def request(chain: tk.TestChain, args: dict[str, Any], signers: list[Any] | None = None,
            at_ms: int | None = None) -> tuple[Receipt, str]:
    receipt = chain.submit("crossborder", "request", args, signers or [tk.OWNER], at_ms=at_ms)
    return receipt, transfer_id_for(chain.last_tx.tx_hash)


def transfer(chain: tk.TestChain, transfer_id: str) -> dict[str, Any]:
    record = transfer_queries.transfer(chain.get, transfer_id)
    assert record is not None
    return record


NOBODY_CODES = ("unknown_member", "missing_role", "no_quorum", "not_exporter")


def assert_refused(chain: tk.TestChain, receipt: Receipt, code: str) -> None:
    """Failed with ``code`` and nothing written but the sender's nonce — not even that when the signers
    are nobody to the method (ADR 0012: no member, role or quorum its callers declaration accepts)."""
    assert not receipt.ok and receipt.error_code == code, (receipt.error_code, code)
    tx = chain.last_tx
    method = chain.executor.registry.lookup(tx.body.contract, tx.body.method)
    assert method is not None
    nobody = method.callers.admissible(tx.body.signer_pubkeys, chain.get) is not None
    if nobody:
        assert code in NOBODY_CODES and not chain.last_changes
    else:
        assert set(chain.last_changes) == {statekeys.nonce_key(tx.sender)}


def standard_contract(chain: tk.TestChain, decision_id: str, holder: str = "owner-co", **extra: Any) -> None:
    args = {"id": decision_id, "kind": "standard_contract", "holder": holder, "status": "FILED",
            "effective": "2025-01-01", "filing_id": f"F-{decision_id}", **extra}
    receipt = chain.governance("register_decision", args)
    assert receipt.ok, receipt.error_code


# --- request --------------------------------------------------------------------------------------


def test_exempt_transfer_is_released_at_once_and_acknowledged_into_the_asset_history() -> None:
    chain = xb_chain()
    layout = chunks.summarize([b"manifests"], 1024)
    asset_id = tk.register_asset(chain, b"manifests", chunk_root=layout.chunk_root, chunk_size=1024)
    receipt, transfer_id = request(chain, request_args(asset_id))
    assert receipt.ok
    record = transfer(chain, transfer_id)
    assert record["state"] == "RELEASED" and record["released_by"] == "automatic"
    assert record["decision"]["decision"] == "ALLOW" and record["decision"]["rules"] == ["R05"]
    assert record["decision"]["policy_version"] == 1 and record["decision"]["path"] == "EXEMPT"
    assert record["exporter"] == "owner-co" and not record["review_required"]
    event = receipt.events[0]
    assert (event.contract, event.name, event.subject) == ("crossborder", "transfer_requested", asset_id)

    early = chain.submit("crossborder", "acknowledge", {"transfer_id": transfer_id, "chunk_root": layout.chunk_root,
                                                        "content_hash": codec.sha256(b"manifests")}, [tk.FOREIGN])
    assert_refused(chain, early, "not_delivered")  # ADR 0022: the exporting node's delivery comes first
    delivered = chain.submit("crossborder", "delivered", {"transfer_id": transfer_id, "chunk_root": layout.chunk_root,
                                                          "bytes": 9, "recipient_key": tk.FOREIGN.public_key},
                             [tk.key("validator-0")])
    assert delivered.ok, delivered.error_code
    bad = chain.submit("crossborder", "acknowledge", {"transfer_id": transfer_id, "chunk_root": layout.chunk_root,
                                                      "content_hash": b"\0" * 32}, [tk.FOREIGN])
    assert_refused(chain, bad, "content_mismatch")
    outsider = chain.submit("crossborder", "acknowledge",
                            {"transfer_id": transfer_id, "content_hash": codec.sha256(b"manifests"),
                             "chunk_root": layout.chunk_root}, [tk.BUYER])
    assert_refused(chain, outsider, "not_recipient")
    ack = chain.submit("crossborder", "acknowledge",
                       {"transfer_id": transfer_id, "content_hash": codec.sha256(b"manifests"),
                             "chunk_root": layout.chunk_root}, [tk.FOREIGN])
    assert ack.ok
    assert transfer(chain, transfer_id)["state"] == "ACKNOWLEDGED"
    again = chain.submit("crossborder", "acknowledge",
                         {"transfer_id": transfer_id, "content_hash": codec.sha256(b"manifests"),
                             "chunk_root": layout.chunk_root}, [tk.FOREIGN])
    assert_refused(chain, again, "bad_state")

    history = queries.history(chain.get, chain.events_at, asset_id)
    assert [h["name"] for h in history] == ["transfer_acknowledged", "transfer_delivered", "transfer_requested",
                                            "registered"]
    assert history[2]["data"]["rules"] == ["R05"] and history[2]["data"]["transfer_id"] == transfer_id
    steps = transfer(chain, transfer_id)["history"]
    assert [s["action"] for s in steps] == ["requested", "delivered", "acknowledged"]


def test_require_then_standard_contract_then_customs_release_moves_counters() -> None:
    chain = xb_chain()
    asset_id = pi_asset(chain, b"customers")
    args = request_args(asset_id, purpose="other", subjects=500, sensitive_subjects=5,
                        attestations={"notice": "sha256:aa", "pipia": "sha256:bb"})
    receipt, transfer_id = request(chain, args)
    assert receipt.ok
    record = transfer(chain, transfer_id)
    assert record["state"] == "PENDING_EVIDENCE" and record["review_required"]
    assert record["decision"]["requires"] == ["sc_or_cert"] and "R13b" in record["decision"]["rules"]

    early = chain.submit("crossborder", "customs_review", {"transfer_id": transfer_id, "approve": True}, [CUSTOMS])
    assert_refused(chain, early, "bad_state")
    standard_contract(chain, "SC-1")
    attach = chain.submit("crossborder", "attach_evidence", {"transfer_id": transfer_id, "decisions": ["SC-1"]},
                          [tk.OWNER])
    assert attach.ok
    record = transfer(chain, transfer_id)
    assert record["state"] == "CLEARED" and record["decision"]["decision"] == "ALLOW"
    assert record["decisions"] == {"standard_contract": "SC-1"}

    no_role = chain.submit("crossborder", "customs_review", {"transfer_id": transfer_id, "approve": True},
                           [tk.OWNER])
    assert_refused(chain, no_role, "missing_role")
    assert transfer_queries.counters(chain.get, "owner-co") is None
    review = chain.submit("crossborder", "customs_review",
                          {"transfer_id": transfer_id, "approve": True, "note": "filing checked"}, [CUSTOMS])
    assert review.ok
    record = transfer(chain, transfer_id)
    assert record["state"] == "RELEASED" and record["released_by"] == CUSTOMS.public_hex
    assert transfer_queries.counters(chain.get, "owner-co") == {
        "exporter": "owner-co", "year": 2025, "subjects": 500, "sensitive_subjects": 5}
    assert record["counted"] == [2025, 500, 5]
    assert [s["action"] for s in record["history"]] == ["requested", "evidence", "reviewed"]
    assert record["history"][2]["note"] == "filing checked"


def test_core_data_is_denied_and_stays_denied() -> None:
    chain = xb_chain()
    asset_id = tk.register_asset(chain, b"core", classification=tk.classification(grade="CORE"))
    receipt, transfer_id = request(chain, request_args(asset_id))
    assert receipt.ok
    record = transfer(chain, transfer_id)
    assert (record["state"], record["decision"]["rules"], record["decision"]["path"]) == (
        "DENIED", ["R01"], "PROHIBITED")
    later = chain.submit("crossborder", "attach_evidence", {"transfer_id": transfer_id}, [tk.OWNER])
    assert_refused(chain, later, "bad_state")
    revoke = chain.submit("crossborder", "revoke", {"transfer_id": transfer_id}, [tk.OWNER])
    assert_refused(chain, revoke, "bad_state")


def test_a_prc_authority_approval_lifts_r03_for_its_recipient_until_it_expires() -> None:
    """R03 (DSL Art 36, PIPL Art 41): data to a foreign court needs a competent PRC authority's
    approval, registered through governance like any regulator decision."""
    chain = xb_chain()
    asset_id = tk.register_asset(chain, b"evidence bundle")
    approvals = {"MOJ-1": ["court"], "MOJ-2": ["someone-else"]}
    for decision_id, recipients in approvals.items():
        assert chain.governance("register_decision", {
            "id": decision_id, "kind": "prc_authority_approval", "holder": "owner-co", "status": "VALID",
            "issued": "2025-01-01", "expires": "2025-12-31", "scope": {"recipients": recipients}}).ok
    to_court = request_args(asset_id, recipient="court", destination="US")
    in_force = utc_ms("2025-12-31T15:59:59")  # the approval's last day in Shanghai
    _, approved = request(chain, {**to_court, "decisions": ["MOJ-1"]}, at_ms=in_force)
    record = transfer(chain, approved)
    assert "R03" not in record["decision"]["rules"] and record["decision"]["decision"] != "DENY"
    _, other = request(chain, {**to_court, "decisions": ["MOJ-2"]}, at_ms=in_force + 1)
    assert transfer(chain, other)["decision"]["rules"] == ["R03"]  # approved for another recipient
    _, late = request(chain, {**to_court, "decisions": ["MOJ-1"]}, at_ms=utc_ms("2025-12-31T16:00:00"))
    assert transfer(chain, late)["decision"]["rules"] == ["R03"]  # expired


def test_recipient_facts_come_from_its_organisation() -> None:
    chain = xb_chain()
    asset_id = tk.register_asset(chain, b"trade")
    _, to_court = request(chain, request_args(asset_id, recipient="court", destination="US"))
    assert transfer(chain, to_court)["decision"]["rules"] == ["R03"]
    restricted = {**tk.PORT_ORGANISATIONS[5], "restricted": True}
    restricted.pop("members")
    assert chain.governance("update_organisation", restricted).ok
    _, flagged = request(chain, request_args(asset_id))
    assert transfer(chain, flagged)["decision"]["rules"] == ["R04"]


def test_request_refusals_record_nothing_but_the_nonce() -> None:
    chain = xb_chain()
    asset_id = tk.register_asset(chain, b"data")
    pi_id = pi_asset(chain, b"pi")
    standard_contract(chain, "SC-OTHER", holder="buyer-co")
    standard_contract(chain, "SC-A")
    standard_contract(chain, "SC-B")
    validator = tk.key("validator-0").public_key
    cases: list[tuple[dict[str, Any], list[Any], str]] = [
        (request_args(asset_id, destination="ZZ"), [tk.OWNER], "bad_country"),
        (request_args(asset_id, destination="de"), [tk.OWNER], "bad_country"),
        (request_args(asset_id, purpose="espionage"), [tk.OWNER], "bad_enum"),
        (request_args(asset_id, lawful_basis="WHIM"), [tk.OWNER], "bad_enum"),
        (request_args(pi_id, subjects=-1), [tk.OWNER], "out_of_range"),
        (request_args(pi_id, sensitive_subjects=-5), [tk.OWNER], "out_of_range"),
        (request_args(pi_id, subjects=True), [tk.OWNER], "bad_args"),
        (request_args(asset_id, subjects=10), [tk.OWNER], "inconsistent_counts"),
        (request_args(asset_id, decisions=["NO-SUCH-APPROVAL"]), [tk.OWNER], "unknown_decision"),
        (request_args(asset_id, decisions=["SC-OTHER"]), [tk.OWNER], "evidence_not_holder"),
        (request_args(asset_id, decisions=["SC-A", "SC-B"]), [tk.OWNER], "duplicate"),
        (request_args(asset_id, decisions=["SC-A", "SC-A"]), [tk.OWNER], "duplicate"),
        (request_args(asset_id, recipient="not-registered"), [tk.OWNER], "unknown_organisation"),
        (request_args(asset_id, recipient="bad id!"), [tk.OWNER], "bad_format"),
        (request_args("ab" * 32), [tk.OWNER], "unknown_asset"),
        (request_args(asset_id), [tk.BUYER], "not_exporter"),
        (request_args(asset_id), [tk.OUTSIDER], "unknown_member"),
        (request_args(asset_id, recipient_node=b"\1" * 32), [tk.OWNER], "unknown_node"),
        (request_args(asset_id, recipient_node=validator), [tk.OWNER], "destination_mismatch"),
        (request_args(asset_id, pledgee_consent=True), [tk.OWNER], "unknown_argument"),
        (request_args(asset_id, attestations={"notice": ""}), [tk.OWNER], "bad_format"),
        (request_args(asset_id, gdpr={"mechanism": "DPA"}), [tk.OWNER], "bad_enum"),
        ({k: v for k, v in request_args(asset_id).items() if k != "destination"}, [tk.OWNER], "missing_argument"),
    ]
    for args, signers, code in cases:
        receipt, _ = request(chain, args, signers)
        assert_refused(chain, receipt, code)
    assert chain.value(statekeys.TRANSFER_COUNT) is None
    assert transfer_queries.transfers(chain.get)["total"] == 0


def test_a_licensee_exports_under_its_own_name() -> None:
    chain = xb_chain()
    asset_id = tk.register_asset(chain, b"licensed")
    licence = {"asset_id": asset_id, "licensee": "buyer-co", "scope": "analytics", "purpose": "trade",
               "expires_ms": chain.timestamp_ms + 10 * HOUR_MS}
    assert chain.submit("registry", "licence", licence, [tk.OWNER]).ok
    receipt, transfer_id = request(chain, request_args(asset_id), [tk.BUYER])
    assert receipt.ok and transfer(chain, transfer_id)["exporter"] == "buyer-co"
    expired, _ = request(chain, request_args(asset_id), [tk.BUYER], at_ms=chain.timestamp_ms + 11 * HOUR_MS)
    assert_refused(chain, expired, "not_exporter")


# --- evidence ---------------------------------------------------------------------------------------


def test_pledged_asset_needs_the_pledgee_signature_not_a_flag() -> None:
    chain = xb_chain()
    asset_id = tk.register_asset(chain, b"pledged")
    pledge = {"asset_id": asset_id, "pledgee": tk.LENDER.public_key, "amount": 1000, "currency": "CNY",
              "due_ms": chain.timestamp_ms + 1000 * HOUR_MS}
    assert chain.submit("collateral", "pledge", pledge, [tk.OWNER, tk.LENDER]).ok
    _, transfer_id = request(chain, request_args(asset_id))
    record = transfer(chain, transfer_id)
    assert record["decision"]["requires"] == ["pledgee_consent"] and "B1" in record["decision"]["rules"]
    stranger = chain.submit("crossborder", "attach_evidence", {"transfer_id": transfer_id}, [tk.BUYER])
    assert_refused(chain, stranger, "not_exporter")
    pledgee_adds = chain.submit("crossborder", "attach_evidence",
                                {"transfer_id": transfer_id, "attestations": {"notice": "x"}}, [tk.LENDER])
    assert_refused(chain, pledgee_adds, "not_exporter")
    consent = chain.submit("crossborder", "attach_evidence", {"transfer_id": transfer_id}, [tk.LENDER])
    assert consent.ok
    record = transfer(chain, transfer_id)
    assert record["state"] == "CLEARED" and record["pledgee_consent"] == tk.LENDER.public_hex
    # co-signed at request time: cleared at once
    receipt, second = request(chain, request_args(asset_id), [tk.OWNER, tk.LENDER])
    assert receipt.ok and transfer(chain, second)["state"] == "RELEASED"


def test_customs_deny_and_stale_clearance() -> None:
    chain = xb_chain()
    asset_id = pi_asset(chain, b"stale")
    standard_contract(chain, "SC-9")
    args = request_args(asset_id, purpose="other", subjects=10, sensitive_subjects=1,
                        attestations={"notice": "n", "pipia": "p"})
    _, first = request(chain, args)
    _, second = request(chain, args)
    for transfer_id in (first, second):
        assert chain.submit("crossborder", "attach_evidence", {"transfer_id": transfer_id, "decisions": ["SC-9"]},
                            [tk.OWNER]).ok
        assert transfer(chain, transfer_id)["state"] == "CLEARED"
    deny = chain.submit("crossborder", "customs_review",
                        {"transfer_id": first, "approve": False, "note": "manifest incomplete"}, [CUSTOMS])
    assert deny.ok and transfer(chain, first)["state"] == "DENIED"
    assert transfer(chain, first)["closed_note"] == "manifest incomplete"
    assert chain.governance("set_decision_status", {"id": "SC-9", "status": "REVOKED"}).ok
    stale = chain.submit("crossborder", "customs_review", {"transfer_id": second, "approve": True}, [CUSTOMS])
    assert_refused(chain, stale, "stale_clearance")
    refresh = chain.submit("crossborder", "attach_evidence", {"transfer_id": second}, [tk.OWNER])
    assert refresh.ok
    record = transfer(chain, second)
    assert record["state"] == "PENDING_EVIDENCE" and record["decision"]["requires"] == ["sc_or_cert"]


def test_eu_sender_needs_a_gdpr_safeguard() -> None:
    chain = xb_chain()
    asset_id = tk.register_asset(chain, b"eu-customers", owner=EU_SENDER, classification=tk.classification(
        contains_pi=True, subjects=50, eu_personal_data=True, origin="ABROAD"))
    receipt, transfer_id = request(chain, request_args(asset_id, recipient="owner-co", destination="CN",
                                                       purpose="other", subjects=50), [EU_SENDER])
    assert receipt.ok
    record = transfer(chain, transfer_id)
    assert (record["decision"]["requires"], record["decision"]["rules"], record["decision"]["path"]) == (
        ["gdpr_safeguard"], ["G1"], "FOREIGN")
    no_tia = chain.submit("crossborder", "attach_evidence",
                          {"transfer_id": transfer_id, "gdpr": {"mechanism": "SCC"}}, [EU_SENDER])
    assert no_tia.ok and transfer(chain, transfer_id)["state"] == "PENDING_EVIDENCE"
    scc = chain.submit("crossborder", "attach_evidence",
                       {"transfer_id": transfer_id, "gdpr": {"mechanism": "SCC", "tia": True}}, [EU_SENDER])
    assert scc.ok and transfer(chain, transfer_id)["state"] == "CLEARED"


def assessment(chain: tk.TestChain, decision_id: str, issued: str, expires: str, **extra: Any) -> None:
    args = {"id": decision_id, "kind": "assessment", "holder": "owner-co", "status": "PASSED", "issued": issued,
            "expires": expires, **extra}
    receipt = chain.governance("register_decision", args)
    assert receipt.ok, receipt.error_code


def test_an_approval_is_valid_on_its_last_day_and_not_the_day_after() -> None:
    chain = xb_chain()
    asset_id = tk.register_asset(chain, b"important", classification=tk.classification(
        grade="IMPORTANT", important_basis="NOTIFIED"))
    assessment(chain, "CAC-1", "2024-06-01", "2027-05-31")
    last_day = utc_ms("2027-05-31T15:59:59")  # 23:59:59 in Shanghai
    assert block_date(last_day) == datetime.date(2027, 5, 31)
    receipt, on_time = request(chain, request_args(asset_id, decisions=["CAC-1"]), at_ms=last_day)
    assert receipt.ok
    record = transfer(chain, on_time)
    assert record["decision"]["decision"] == "ALLOW" and record["decision"]["date"] == "2027-05-31"
    assert record["decision"]["path"] == "ASSESSMENT" and record["state"] == "RELEASED"
    day_after = utc_ms("2027-05-31T16:00:00")  # 00:00 on 1 June in Shanghai
    receipt, late = request(chain, request_args(asset_id, decisions=["CAC-1"]), at_ms=day_after)
    assert receipt.ok
    record = transfer(chain, late)
    assert record["decision"]["requires"] == ["assessment"] and record["decision"]["date"] == "2027-06-01"
    assert record["state"] == "PENDING_EVIDENCE"


def test_assessment_out_of_scope_does_not_count() -> None:
    chain = xb_chain()
    asset_id = tk.register_asset(chain, b"important", classification=tk.classification(
        grade="IMPORTANT", important_basis="PUBLISHED"))
    assessment(chain, "CAC-2", "2025-01-01", "2027-12-31",
               scope={"recipients": ["someone-else"], "purposes": [], "max_subjects": None})
    _, transfer_id = request(chain, request_args(asset_id, decisions=["CAC-2"]))
    assert transfer(chain, transfer_id)["decision"]["requires"] == ["assessment"]


def test_counters_follow_the_shanghai_calendar_year() -> None:
    chain = xb_chain()
    asset_id = tk.register_asset(chain, b"pi-bulk", classification=tk.classification(contains_pi=True,
                                                                                      subjects=200_000))
    declared = {"notice": "n", "pipia": "p"}
    base = request_args(asset_id, purpose="other", attestations=declared)
    receipt, first = request(chain, {**base, "subjects": 90_000}, at_ms=utc_ms("2026-06-01T00:00:00"))
    assert receipt.ok and transfer(chain, first)["state"] == "RELEASED"
    assert transfer_queries.counters(chain.get, "owner-co") == {
        "exporter": "owner-co", "year": 2026, "subjects": 90_000, "sensitive_subjects": 0}
    # 15:59:59 UTC on 31 Dec is still 2026 in Shanghai: 90,000 + 20,000 crosses 100,000 (R13b)
    _, crossing = request(chain, {**base, "subjects": 20_000}, at_ms=utc_ms("2026-12-31T15:59:59"))
    assert transfer(chain, crossing)["decision"]["requires"] == ["sc_or_cert"]
    # 16:00 UTC on 31 Dec is 1 Jan 2027 in Shanghai: the counters start again
    new_year = utc_ms("2026-12-31T16:00:00")
    assert block_date(new_year) == datetime.date(2027, 1, 1)
    _, fresh = request(chain, {**base, "subjects": 20_000}, at_ms=new_year)
    record = transfer(chain, fresh)
    assert record["decision"]["rules"] == ["R13c", "R14"] and record["state"] == "RELEASED"
    assert transfer_queries.counters(chain.get, "owner-co") == {
        "exporter": "owner-co", "year": 2027, "subjects": 20_000, "sensitive_subjects": 0}
    assert record["counted"] == [2027, 20_000, 0]


def test_split_requests_cannot_escape_the_threshold() -> None:
    chain = xb_chain()
    asset_id = tk.register_asset(chain, b"split", classification=tk.classification(contains_pi=True))
    base = request_args(asset_id, purpose="other", attestations={"notice": "n", "pipia": "p"})
    outcomes = []
    for _ in range(3):
        _, transfer_id = request(chain, {**base, "subjects": 40_000})
        outcomes.append(transfer(chain, transfer_id)["state"])
    assert outcomes == ["RELEASED", "RELEASED", "PENDING_EVIDENCE"]


# --- revoke, policy versions, lists -------------------------------------------------------------------


def test_revoke_by_exporter_before_release_or_by_authority_quorum() -> None:
    chain = xb_chain()
    pi_id = pi_asset(chain, b"rev")
    args = request_args(pi_id, purpose="other", subjects=1, sensitive_subjects=1)
    _, pending = request(chain, args)
    outsider = chain.submit("crossborder", "revoke", {"transfer_id": pending}, [tk.BUYER])
    assert_refused(chain, outsider, "not_exporter")
    one_authority = chain.submit("crossborder", "revoke", {"transfer_id": pending}, [tk.AUTHORITIES[0]])
    assert_refused(chain, one_authority, "not_exporter")
    assert chain.submit("crossborder", "revoke", {"transfer_id": pending, "reason": "changed mind"},
                        [tk.OWNER]).ok
    assert transfer(chain, pending)["state"] == "REVOKED"

    asset_id = tk.register_asset(chain, b"released")
    _, released = request(chain, request_args(asset_id))
    too_late = chain.submit("crossborder", "revoke", {"transfer_id": released}, [tk.OWNER])
    assert_refused(chain, too_late, "bad_state")
    assert chain.submit("crossborder", "revoke", {"transfer_id": released, "reason": "court order"},
                        list(tk.AUTHORITIES[:2])).ok
    assert transfer(chain, released)["state"] == "REVOKED"
    unknown = chain.submit("crossborder", "revoke", {"transfer_id": "00" * 32}, [tk.OWNER])
    assert_refused(chain, unknown, "unknown_transfer")


def test_each_decision_records_the_policy_version_in_force() -> None:
    from chain.genesis import default_policy

    chain = xb_chain()
    asset_id = tk.register_asset(chain, b"pol", classification=tk.classification(contains_pi=True))
    base = request_args(asset_id, purpose="other", subjects=500, attestations={"notice": "n", "pipia": "p"})
    _, before = request(chain, base)
    policy = {**default_policy(), "version": 2}
    policy["thresholds"] = {**policy["thresholds"], "sc_or_cert_subjects": 100}
    assert chain.governance("update_policy", {"document": json.dumps(policy)}).ok
    _, after = request(chain, base)
    assert transfer(chain, before)["decision"] | {"ref": None, "date": None} == {
        "decision": "ALLOW", "requires": [], "rules": ["R13c", "R14"], "path": "EXEMPT", "policy_version": 1,
        "ref": None, "date": None}
    assert transfer(chain, after)["decision"]["policy_version"] == 2
    assert transfer(chain, after)["decision"]["requires"] == ["sc_or_cert"]
    current = transfer_queries.policy(chain.get)
    assert current is not None and current["version"] == 2 and current["document"]["thresholds"]["sc_or_cert_subjects"] == 100
    old = transfer_queries.policy(chain.get, 1)
    assert old is not None and old["document"]["thresholds"]["sc_or_cert_subjects"] == 100_000


def test_lists_filter_by_asset_exporter_and_state() -> None:
    chain = xb_chain()
    first = tk.register_asset(chain, b"one")
    second = tk.register_asset(chain, b"two")
    core = tk.register_asset(chain, b"three", classification=tk.classification(grade="CORE"))
    ids = [request(chain, request_args(a))[1] for a in (first, second, first, core)]
    everything = transfer_queries.transfers(chain.get)
    assert everything["total"] == 4 and [t["id"] for t in everything["items"]] == ids[::-1]
    by_asset = transfer_queries.transfers(chain.get, asset=first, newest_first=False)
    assert [t["id"] for t in by_asset["items"]] == [ids[0], ids[2]]
    denied = transfer_queries.transfers(chain.get, state="DENIED")
    assert [t["id"] for t in denied["items"]] == [ids[3]]
    page = transfer_queries.transfers(chain.get, exporter="owner-co", limit=2)
    assert page["total"] == 4 and len(page["items"]) == 2 and page["next_offset"] == 2
    assert transfer_queries.transfers(chain.get, exporter="exporter-2")["total"] == 0
    with pytest.raises(Exception, match="limit"):
        transfer_queries.transfers(chain.get, limit=0)
