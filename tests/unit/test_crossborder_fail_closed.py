"""Regression tests for the fail-closed audit of the rule engine (ADR 0014, one case per finding).

Each case is a variation of scenario T01 (a CN exporter sending non-PI trade data to DE) or a direct
call with facts a scenario file cannot express (the strict parser refuses them, state may not).
``rules`` is compared exactly: every rule and guideline applied is cited, in order (RULES.md).
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import json
from pathlib import Path
from typing import Any

import pytest

from chain.contracts.governance import ORG_TYPES
from chain.crossborder import facts as chain_facts
from chain.crossborder.counters import ytd_after
from chain.crossborder.model import GdprMechanism, GdprSafeguard, RecipientType
from chain.crossborder.rules import evaluate
from chain.crossborder.scenarios import Scenario, decide, default_policy
from chain.errors import ContractError

DATA = Path(__file__).resolve().parent.parent / "data" / "crossborder"
DOC: dict[str, Any] = json.loads((DATA / "scenarios.json").read_text(encoding="utf-8"))
BASE = next(s for s in DOC["scenarios"] if s["id"] == "T01")
POLICY = default_policy()
EV = "request.evidence."

PI = {"asset.contains_pi": True, "request.purpose": "other"}
FTZ = {**PI, "exporter.ftz_zone": "BJ-FTZ", "asset.sector": "civil_aviation",
       "request.ftz_scenario": "civil_aviation/passenger_services", "request.subjects": 300_000}
EU = {"asset.contains_pi": True, "asset.eu_personal_data": True, "exporter.jurisdiction": "DE",
      "request.destination": "CN", "request.subjects": 50_000}
ASSESSMENT: dict[str, Any] = {"status": "PASSED", "issued": "2026-01-10", "expires": "2029-01-09", "recipients": [],
              "purposes": [], "max_subjects": None, "extension_filed": None}
CONTRACT: dict[str, Any] = {"effective": "2026-03-01", "filing_id": "SCF-1", "ends": None, "recipients": []}
CERTIFICATE: dict[str, Any] = {"issued": "2026-01-01", "expires": "2028-12-31", "recipients": []}


def _gdpr(mechanism: str, *, ground: str | None = None, repetitive: bool = False, tia: bool = False,
          bcr: str | None = None) -> dict[str, Any]:
    return {"mechanism": mechanism, "tia": tia, "bcr_id": bcr, "art49_ground": ground, "repetitive": repetitive}


def variant(changes: dict[str, Any]) -> Scenario:
    doc = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        node = doc
        for key in parents:
            node = node[key]
        node[leaf] = copy.deepcopy(value)
    return Scenario.from_json(doc, "variant")


# (finding, changes, decision, requires, exact rules, path)
CASES: list[tuple[str, dict[str, Any], str, list[str], list[str], str]] = [
    # A1: no sector-equality condition on the FTZ route
    ("A1 other sector, no listed field: R10", {**FTZ, "asset.sector": "retail"},
     "REQUIRE", ["ftz_usage_filing"], ["R10", "R14"], "FTZ"),
    ("A1 other sector, listed field: R10b", {**FTZ, "asset.sector": "retail", "asset.fields": ["passenger_biometrics"]},
     "REQUIRE", ["assessment", "ftz_usage_filing"], ["R10b", "R14"], "ASSESSMENT"),
    # A2: a field listed under another entry of the zone's list is on the list
    ("A2 field listed under another scenario", {**FTZ, "request.ftz_scenario": "retail/cross_border_ecommerce",
                                                "asset.fields": ["passenger_biometrics"]},
     "REQUIRE", ["assessment", "ftz_usage_filing"], ["R10b", "R14"], "ASSESSMENT"),
    ("A2 two entries: the assessment covers sc_or_cert", {**FTZ, "asset.fields": ["payment_card_full", "genetic_data"]},
     "REQUIRE", ["assessment", "ftz_usage_filing"], ["R10b", "R14", "R18"], "ASSESSMENT"),
    # A3: R10b keeps R10's usage filing ("as R10, but"): listing a field never lifts a requirement
    ("A3 sc_or_cert entry met by a contract, filing still asked", {**FTZ, "asset.fields": ["payment_card_full"],
                                                                   EV + "standard_contract": CONTRACT},
     "REQUIRE", ["ftz_usage_filing"], ["R10b", "R14", "R16"], "SC_OR_CERT"),
    ("A3 listed field with contract and filing", {**FTZ, "asset.fields": ["payment_card_full"],
                                                  EV + "standard_contract": CONTRACT, EV + "ftz_usage_filing": "F-1"},
     "ALLOW", [], ["R10b", "R14", "R16"], "SC_OR_CERT"),
    ("A2 uncovered scenario still falls through (R10c)", {**FTZ, "request.ftz_scenario": "finance/credit_scoring",
                                                          "asset.fields": ["passenger_biometrics"]},
     "REQUIRE", ["sc_or_cert"], ["R13b", "R14"], "SC_OR_CERT"),
    # A3–A5: contradictory PI facts count as PI
    ("A3 EU personal data is PI for a CN sender", {"asset.eu_personal_data": True, EV + "notice": False},
     "REQUIRE", ["notice"], ["R13c", "R14"], "EXEMPT"),
    ("A4 counted persons are PI", {"request.subjects": 200_000},
     "REQUIRE", ["sc_or_cert"], ["R13b", "R14"], "SC_OR_CERT"),
    ("A4 counted sensitive persons are PI", {"request.sensitive_subjects": 3},
     "REQUIRE", ["sc_or_cert"], ["R13b", "R14"], "SC_OR_CERT"),
    ("A5 sensitive PI with no sensitive count", {**PI, "asset.sensitive_pi": True, "request.subjects": 10},
     "REQUIRE", ["sc_or_cert"], ["R13b", "R14"], "SC_OR_CERT"),
    ("A5 sensitive ytd 9,999 + this request's sensitive PI", {**PI, "asset.sensitive_pi": True,
                                                               "exporter.ytd.sensitive_subjects": 9_999},
     "REQUIRE", ["assessment"], ["R13a", "R14"], "ASSESSMENT"),
    # A7: R12 applied to a CIIO's important data without PI is cited
    ("A7 CIIO important data without PI", {"exporter.is_ciio": True, "asset.grade": "IMPORTANT",
                                           "asset.important_basis": "NOTIFIED", "request.purpose": "other"},
     "REQUIRE", ["assessment"], ["R11", "R12"], "ASSESSMENT"),
    # A8–A10: the evidence rules that judged something are cited
    ("A8 Art 49 refused as repetitive cites G2", {**EU, EV + "gdpr": _gdpr("ART49", ground="explicit_consent",
                                                                         repetitive=True)},
     "REQUIRE", ["gdpr_safeguard"], ["G1", "G2"], "FOREIGN"),
    ("A8 Art 49 accepted cites G2", {**EU, EV + "gdpr": _gdpr("ART49", ground="explicit_consent")},
     "ALLOW", [], ["G1", "G2"], "FOREIGN"),
    ("A8 SCC does not cite G2", {**EU, EV + "gdpr": _gdpr("SCC", tia=True)}, "ALLOW", [], ["G1"], "FOREIGN"),
    ("A9 assessment judged for sc_or_cert", {**PI, "request.subjects": 200_000, EV + "assessment": ASSESSMENT},
     "ALLOW", [], ["R13b", "R14", "R15", "R18"], "SC_OR_CERT"),
    ("A9 refused assessment is cited too", {**PI, "request.subjects": 1_200_000,
                                             EV + "assessment": {**ASSESSMENT, "status": "PENDING"}},
     "REQUIRE", ["assessment"], ["R13a", "R14", "R15"], "ASSESSMENT"),
    ("A9 certification judged", {**PI, "request.subjects": 200_000, EV + "certification": CERTIFICATE},
     "ALLOW", [], ["R13b", "R14", "R17"], "SC_OR_CERT"),
    ("A9 contract and certification both judged", {**PI, "request.subjects": 200_000,
                                                   EV + "standard_contract": {**CONTRACT, "filing_id": None},
                                                   EV + "certification": CERTIFICATE},
     "ALLOW", [], ["R13b", "R14", "R16", "R17"], "SC_OR_CERT"),
    ("A10 R18 subsumes sc_or_cert under an assessment", {**PI, "asset.grade": "IMPORTANT",
                                                         "asset.important_basis": "PUBLISHED",
                                                         "request.subjects": 200_000},
     "REQUIRE", ["assessment"], ["R11", "R13b", "R14", "R18"], "ASSESSMENT"),
    ("A10 evidence not asked for is not cited", {EV + "standard_contract": CONTRACT, EV + "gdpr": _gdpr("ART49")},
     "ALLOW", [], ["R05"], "EXEMPT"),
]


@pytest.mark.parametrize(
    ("changes", "decision", "requires", "rules", "path"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_audit_finding(changes: dict[str, Any], decision: str, requires: list[str], rules: list[str], path: str) -> None:
    got = decide(variant(changes), POLICY)
    assert (got.decision, list(got.requires), list(got.rules), got.path) == (decision, requires, rules, path), got


# --- A6: unknown countries (state is not re-parsed; the engine must not trust a code it does not know) ----


def _direct(changes: dict[str, Any], *, jurisdiction: str | None = None, destination: str | None = None) -> Any:
    scenario = variant(changes)
    exporter = scenario.exporter if jurisdiction is None else dataclasses.replace(
        scenario.exporter, jurisdiction=jurisdiction)
    request = scenario.request if destination is None else dataclasses.replace(scenario.request, destination=destination)
    return evaluate(scenario.asset, exporter, request, POLICY, scenario.now)


@pytest.mark.parametrize("code", ["XX", "", "cn", "EU"])
def test_unknown_sender_is_judged_under_prc_rules(code: str) -> None:
    core = _direct({"asset.grade": "CORE"}, jurisdiction=code)
    assert (core.decision, core.rules, core.path) == ("DENY", ("R01",), "PROHIBITED")
    home = _direct({**PI, "request.subjects": 200_000}, jurisdiction=code, destination="CN")
    assert (home.decision, home.requires, home.rules) == ("REQUIRE", ("sc_or_cert",), ("R13b", "R14"))


@pytest.mark.parametrize("code", ["ZZ", "", "cn"])
def test_unknown_destination_is_outbound(code: str) -> None:
    got = _direct({**PI, "request.subjects": 200_000}, destination=code)
    assert (got.decision, got.requires, got.rules) == ("REQUIRE", ("sc_or_cert",), ("R13b", "R14"))
    eu = _direct(EU, destination=code)
    assert (eu.decision, eu.requires, eu.rules, eu.path) == ("REQUIRE", ("gdpr_safeguard",), ("G1",), "FOREIGN")


@pytest.mark.parametrize(
    "safeguard",
    [GdprSafeguard(GdprMechanism.ART49, False, None, "  ", False), GdprSafeguard(GdprMechanism.ART49, False, None, "", False),
     GdprSafeguard(GdprMechanism.BCR, False, " ", None, False)],
)
def test_blank_ground_or_bcr_id_is_missing(safeguard: GdprSafeguard) -> None:
    scenario = variant(EU)
    request = dataclasses.replace(scenario.request, evidence=dataclasses.replace(scenario.request.evidence, gdpr=safeguard))
    got = evaluate(scenario.asset, scenario.exporter, request, POLICY, scenario.now)
    assert (got.decision, got.requires) == ("REQUIRE", ("gdpr_safeguard",))


# --- A11–A13: on-chain facts (chain/crossborder/facts.py) ---------------------------------------------


def test_every_organisation_type_has_a_recipient_type() -> None:
    assert set(chain_facts.RECIPIENT_TYPES) == set(ORG_TYPES)
    assert chain_facts.recipient({"id": "c", "type": "FOREIGN_JUDICIAL", "restricted": False}).type is (
        RecipientType.FOREIGN_JUDICIAL)


def test_unknown_organisation_type_is_refused_not_read_as_a_company() -> None:
    with pytest.raises(ContractError) as caught:
        chain_facts.recipient({"id": "court-x", "type": "FOREIGN_COURT", "restricted": False})
    assert caught.value.code == "corrupt_state" and "court-x" in str(caught.value)


def _decision(**fields: Any) -> dict[str, Any]:
    return {"id": "D-1", "status": "FILED", "effective": "2026-01-01", "filing_id": "SCF-1", "ends": None,
            "scope": None, "reference": "asset-1", "important": False, **fields}


@pytest.mark.parametrize("status", ["PENDING", "FAILED", "REVOKED", "ENDED"])
def test_undecided_or_lapsed_standard_contract_is_absent(status: str) -> None:
    assert chain_facts._standard_contract(_decision(status=status)) is None


@pytest.mark.parametrize("status", ["FILED", "VALID", "PASSED"])
def test_filed_standard_contract_counts(status: str) -> None:
    found = chain_facts._standard_contract(_decision(status=status))
    assert found is not None and found.effective == datetime.date(2026, 1, 1)


@pytest.mark.parametrize("status", ["PENDING", "FAILED", "REVOKED", "ENDED"])
def test_pending_or_lapsed_determination_is_absent(status: str) -> None:
    assert chain_facts._determination(_decision(status=status), "asset-1") is None


def test_decided_determination_counts_for_its_asset_only() -> None:
    assert chain_facts._determination(_decision(status="PASSED"), "asset-1") is not None
    assert chain_facts._determination(_decision(status="PASSED"), "asset-2") is None


# --- A15: the counters take in what the engine judged as PI (splitting never escapes a threshold) ----


def _released(scenario: Scenario) -> Any:
    decision = decide(scenario, POLICY)
    assert decision.decision == "ALLOW", decision
    return ytd_after(scenario.asset, scenario.exporter, scenario.request, decision, POLICY, scenario.now)


@pytest.mark.parametrize(
    ("changes", "added"),
    [
        ({"asset.eu_personal_data": True, "request.subjects": 500}, (500, 0)),
        ({"request.subjects": 500}, (500, 0)),
        ({"request.subjects": 500, "request.sensitive_subjects": 0, "asset.contains_pi": True,
          "asset.sensitive_pi": True, EV + "standard_contract": CONTRACT}, (500, 1)),
    ],
    ids=["EU personal data", "counted persons", "sensitive PI with no sensitive count"],
)
def test_counters_take_in_what_the_engine_judged_as_pi(changes: dict[str, Any], added: tuple[int, int]) -> None:
    scenario = variant(changes)
    after = _released(scenario)
    ytd = scenario.exporter.ytd
    assert (after.subjects - ytd.subjects, after.sensitive_subjects - ytd.sensitive_subjects) == added


def test_split_transfers_without_pi_flags_reach_the_threshold() -> None:
    exporter_ytd = {"year": 2026, "subjects": 0, "sensitive_subjects": 0}
    for _ in range(2):
        scenario = variant({"request.subjects": 40_000, "exporter.ytd": exporter_ytd})
        after = _released(scenario)
        exporter_ytd = {"year": after.year, "subjects": after.subjects, "sensitive_subjects": after.sensitive_subjects}
    third = decide(variant({"request.subjects": 40_000, "exporter.ytd": exporter_ytd}), POLICY)
    assert (third.decision, third.requires, third.rules) == ("REQUIRE", ("sc_or_cert",), ("R13b", "R14"))


def test_unknown_sender_is_counted_like_a_mainland_one() -> None:
    scenario = variant({**PI, "request.subjects": 500})
    exporter = dataclasses.replace(scenario.exporter, jurisdiction="XX")
    decision = evaluate(scenario.asset, exporter, scenario.request, POLICY, scenario.now)
    after = ytd_after(scenario.asset, exporter, scenario.request, decision, POLICY, scenario.now)
    assert decision.decision == "ALLOW" and after.subjects == scenario.exporter.ytd.subjects + 500
