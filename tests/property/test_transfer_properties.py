"""Hypothesis: the transfer contract decides exactly as the pure rule engine on the same facts, and more
evidence never asks for more (RULES.md "REQUIRE lists every missing piece"; ADR 0006 monotonicity)."""

from __future__ import annotations

import datetime
import itertools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chain.crossborder import transfer_queries
from chain.crossborder.contract import transfer_id_for
from chain.crossborder.model import (
    Assessment,
    AssessmentStatus,
    AssetFacts,
    Evidence,
    ExporterFacts,
    GdprMechanism,
    GdprSafeguard,
    Grade,
    ImportantBasis,
    LawfulBasis,
    Origin,
    Purpose,
    Recipient,
    RecipientType,
    StandardContract,
    TransferRequest,
    Ytd,
)
from chain.crossborder.rules import evaluate
from chain.crossborder.scenarios import default_policy
from testkit import contracts as tk

POLICY = default_policy()
IDS = itertools.count()
CHAIN: list[tk.TestChain] = []
TODAY = datetime.date(2025, 1, 1)
DECLARED = ("notice", "separate_consent", "pipia", "guardian_consent", "provenance_attestation")


def chain() -> tk.TestChain:
    if not CHAIN:
        CHAIN.append(tk.port_chain())
    return CHAIN[0]


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    grade = draw(st.sampled_from(["GENERAL", "IMPORTANT", "CORE"]))
    pi = draw(st.booleans())
    sensitive = pi and draw(st.booleans())
    classification = {
        "sector": draw(st.sampled_from(["logistics", "civil_aviation"])),
        "grade": grade,
        "important_basis": "NONE" if grade == "GENERAL" else draw(st.sampled_from(["NONE", "NOTIFIED", "PUBLISHED"])),
        "suspected_important": draw(st.booleans()),
        "state_secret": draw(st.booleans()) and draw(st.booleans()),
        "contains_pi": pi,
        "sensitive_pi": sensitive,
        "minors_pi": pi and draw(st.booleans()),
        "origin": draw(st.sampled_from(["CN", "ABROAD", "MIXED"])),
        "domestic_data_introduced": draw(st.booleans()),
        "eu_personal_data": draw(st.booleans()),
        "fields": draw(st.lists(st.sampled_from(["sensitive_cargo_manifest", "vin"]), unique=True)),
    }
    day = st.integers(-800, 800).map(lambda d: TODAY + datetime.timedelta(days=d))
    issued, expires = sorted([draw(day), draw(day)])
    scopes = st.sampled_from([[], ["recipient"], ["someone-else"]])
    return {
        "classification": classification,
        "exporter": {"jurisdiction": draw(st.sampled_from(["CN", "CN", "DE", "FR", "US"])), "ciio": draw(st.booleans()),
                     "zone": draw(st.sampled_from([None, "BJ-FTZ"]))},
        "recipient": {"type": draw(st.sampled_from(["COMPANY", "AFFILIATE", "GOVERNMENT", "FOREIGN_JUDICIAL"])),
                      "restricted": draw(st.booleans()) and draw(st.booleans())},
        "destination": draw(st.sampled_from(["CN", "DE", "US", "HK", "JP"])),
        "purpose": draw(st.sampled_from([p.value for p in Purpose])),
        "lawful_basis": draw(st.sampled_from([b.value for b in LawfulBasis])),
        "subjects": draw(st.integers(0, 1_200_000)) if pi else 0,
        "sensitive_subjects": draw(st.integers(0, 12_000)) if sensitive else 0,
        "ftz_scenario": draw(st.sampled_from([None, "civil_aviation/cargo_logistics"])),
        "declared": draw(st.lists(st.sampled_from(DECLARED), unique=True)),
        "gdpr": draw(st.sampled_from([None, {"mechanism": "SCC", "tia": False}, {"mechanism": "BCR", "bcr_id": "B1"},
                                      {"mechanism": "ART49", "art49_ground": "contract", "repetitive": True}])),
        "assessment": draw(st.none() | st.fixed_dictionaries({
            "status": st.sampled_from(["PASSED", "PASSED", "PENDING", "REVOKED"]), "issued": st.just(issued),
            "expires": st.just(expires), "recipients": scopes,
            "purposes": st.sampled_from([[], ["other"], ["intl_trade"]]),
            "max_subjects": st.none() | st.integers(0, 2_000_000)})),
        "contract": draw(st.none() | st.fixed_dictionaries({
            "status": st.sampled_from(["FILED", "REVOKED"]), "effective": st.just(issued),
            "ends": st.none() | st.just(expires), "recipients": scopes})),
    }


def scope_ids(names: list[str], recipient: str) -> list[str]:
    return [recipient if name == "recipient" else name for name in names]


def setup(c: tk.TestChain, case: dict[str, Any]) -> tuple[str, str, Any, list[str]]:
    """Exporter, member, recipient, asset and decisions on chain; returns (asset, recipient, key, decision ids)."""
    n = next(IDS)
    exporter, recipient, member = f"exp-{n}", f"rcp-{n}", tk.key(f"exporter-member-{n}")
    org = {"id": exporter, "name": "Exporter", "type": "COMPANY", "jurisdiction": case["exporter"]["jurisdiction"],
           "ciio": case["exporter"]["ciio"], "zone": case["exporter"]["zone"]}
    assert c.governance("register_organisation", org).ok
    assert c.governance("register_organisation", {"id": recipient, "name": "Recipient", "jurisdiction": "DE",
                                                  **case["recipient"]}).ok
    assert c.governance("add_member", {"public_key": member.public_key, "organisation": exporter}).ok
    asset_id = tk.register_asset(c, f"content-{n}".encode(), owner=member,
                                 classification=case["classification"])
    ids = []
    if case["assessment"] is not None:
        a = case["assessment"]
        scope = {"recipients": scope_ids(a["recipients"], recipient), "purposes": a["purposes"],
                 "max_subjects": a["max_subjects"]}
        ids.append(f"cac-{n}")
        assert c.governance("register_decision", {
            "id": ids[-1], "kind": "assessment", "holder": exporter, "status": a["status"],
            "issued": a["issued"].isoformat(), "expires": a["expires"].isoformat(), "scope": scope}).ok
    if case["contract"] is not None:
        s = case["contract"]
        ids.append(f"sc-{n}")
        assert c.governance("register_decision", {
            "id": ids[-1], "kind": "standard_contract", "holder": exporter, "status": s["status"],
            "effective": s["effective"].isoformat(), "filing_id": f"F-{n}",
            "ends": None if s["ends"] is None else s["ends"].isoformat(),
            "scope": {"recipients": scope_ids(s["recipients"], recipient), "purposes": [], "max_subjects": None}}).ok
    return asset_id, recipient, member, ids


def engine_decision(case: dict[str, Any], exporter_id: str, recipient: str, now: datetime.date) -> Any:
    """The pure engine on the same facts, built here independently of chain.crossborder.facts."""
    c = case["classification"]
    asset = AssetFacts(Grade(c["grade"]), ImportantBasis(c["important_basis"]), c["suspected_important"],
                       c["state_secret"], c["contains_pi"], c["sensitive_pi"], c["minors_pi"], Origin(c["origin"]),
                       c["domestic_data_introduced"], c["eu_personal_data"], c["sector"], tuple(c["fields"]), False)
    e = case["exporter"]
    exporter = ExporterFacts(exporter_id, e["jurisdiction"], e["ciio"], e["zone"], Ytd(now.year, 0, 0))
    a, s, g = case["assessment"], case["contract"], case["gdpr"]
    evidence = Evidence(
        notice="notice" in case["declared"], separate_consent="separate_consent" in case["declared"],
        pipia="pipia" in case["declared"], guardian_consent="guardian_consent" in case["declared"],
        provenance_attestation="ref" if "provenance_attestation" in case["declared"] else None,
        assessment=None if a is None else Assessment(
            AssessmentStatus(a["status"]), a["issued"], a["expires"], tuple(scope_ids(a["recipients"], recipient)),
            tuple(Purpose(p) for p in a["purposes"]), a["max_subjects"], None),
        standard_contract=None if s is None or s["status"] == "REVOKED" else StandardContract(
            s["effective"], "F", s["ends"], tuple(scope_ids(s["recipients"], recipient))),
        gdpr=None if g is None else GdprSafeguard(GdprMechanism(g["mechanism"]), g.get("tia", False),
                                                  g.get("bcr_id"), g.get("art49_ground"), g.get("repetitive", False)),
    )
    r = case["recipient"]
    request = TransferRequest(case["destination"], Recipient(recipient, RecipientType(r["type"]), r["restricted"]),
                              Purpose(case["purpose"]), LawfulBasis(case["lawful_basis"]), case["subjects"],
                              case["sensitive_subjects"], case["ftz_scenario"], evidence)
    return evaluate(asset, exporter, request, POLICY, now)


@settings(max_examples=200, deadline=None)
@given(cases())
def test_contract_decides_as_the_engine_and_is_monotone_in_evidence(case: dict[str, Any]) -> None:
    c = chain()
    asset_id, recipient, member, decision_ids = setup(c, case)
    args = {"asset_id": asset_id, "recipient": recipient, "destination": case["destination"],
            "purpose": case["purpose"], "lawful_basis": case["lawful_basis"], "subjects": case["subjects"],
            "sensitive_subjects": case["sensitive_subjects"], "ftz_scenario": case["ftz_scenario"],
            "decisions": decision_ids, "attestations": {name: "ref" for name in case["declared"]},
            "gdpr": case["gdpr"]}
    receipt = c.submit("crossborder", "request", args, [member])
    assert receipt.ok, receipt.error_code
    record = transfer_queries.transfer(c.get, transfer_id_for(c.last_tx.tx_hash))
    assert record is not None
    decided = record["decision"]
    now = datetime.date.fromisoformat(decided["date"])
    expected = engine_decision(case, record["exporter"], recipient, now).to_json()
    assert {k: decided[k] for k in ("decision", "requires", "rules", "path")} == expected
    assert decided["policy_version"] == 1
    assert record["state"] == {"ALLOW": "RELEASED", "REQUIRE": "PENDING_EVIDENCE", "DENY": "DENIED"}[
        expected["decision"]]

    if record["state"] == "PENDING_EVIDENCE":  # everything declarable added: requires can only shrink
        more = {"transfer_id": record["id"], "attestations": {name: "ref" for name in DECLARED},
                "gdpr": {"mechanism": "SCC", "tia": True}}
        assert c.submit("crossborder", "attach_evidence", more, [member]).ok
        after = transfer_queries.transfer(c.get, record["id"])
        assert after is not None and after["decision"]["decision"] != "DENY"
        assert set(after["decision"]["requires"]) <= set(decided["requires"])
        assert (after["state"] == "CLEARED") == (after["decision"]["requires"] == [])
