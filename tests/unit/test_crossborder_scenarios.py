"""The cross-border scenarios every build must pass (tests/data/crossborder/scenarios.json), the
``rules check`` runner, and further hand-written cases for the rules the file leaves out."""

from __future__ import annotations

import copy
import datetime
import json
from pathlib import Path
from typing import Any

import pytest

from chain.crossborder.counters import ytd_after
from chain.crossborder.model import Outcome, Ytd
from chain.crossborder.policy import Policy
from chain.crossborder.rules import facts, r17_certification_valid
from chain.crossborder.scenarios import (
    Scenario,
    check_file,
    check_scenario,
    decide,
    default_policy,
    default_policy_document,
    load_scenarios,
    run_check,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "crossborder"
SCENARIO_FILE = DATA / "scenarios.json"
DOC: dict[str, Any] = json.loads(SCENARIO_FILE.read_text(encoding="utf-8"))
SCENARIOS = load_scenarios(DOC)
POLICY = default_policy()


def test_package_policy_is_the_shared_default() -> None:
    shared = json.loads((DATA / "policy-default.json").read_text(encoding="utf-8"))
    assert default_policy_document() == shared
    assert POLICY.to_json() == shared


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_scenario(scenario: Scenario) -> None:
    result, ok, reason = check_scenario(scenario, POLICY)
    assert ok, f"{scenario.id} ({scenario.title}): {reason}; got {result}"
    assert reason is None


def test_scenario_file_size() -> None:
    assert len(SCENARIOS) == 31


def test_run_check_all_ok() -> None:
    lines, all_ok = run_check(SCENARIO_FILE)
    assert all_ok
    assert len(lines) == len(SCENARIOS)
    first = json.loads(lines[0])
    assert list(first) == ["id", "decision", "requires", "rules", "path"]
    assert lines[0] == '{"id":"T01","decision":"ALLOW","requires":[],"rules":["R05"],"path":"EXEMPT"}'


def _write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "scenarios.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("decision", "ALLOW", "decision REQUIRE, expected ALLOW"),
        ("requires", [], "requires ['sc_or_cert'], expected []"),
        ("requires", ["sc_or_cert", "notice"], "expected ['notice', 'sc_or_cert']"),
        ("rules", ["R13a"], "lack ['R13a']"),
        ("path", "ASSESSMENT", "path SC_OR_CERT, expected ASSESSMENT"),
    ],
)
def test_wrong_expectation_is_reported(tmp_path: Path, field: str, value: Any, why: str) -> None:
    doc = copy.deepcopy(DOC)
    target = next(s for s in doc["scenarios"] if s["id"] == "T03")
    target["expect"][field] = value
    path = _write(tmp_path, doc)
    lines, all_ok = run_check(path)
    assert not all_ok
    assert len(lines) == len(SCENARIOS)
    results = {result["id"]: (ok, reason) for result, ok, reason in check_file(path)}
    ok, reason = results["T03"]
    assert not ok and reason is not None and why in reason
    assert all(ok for key, (ok, _) in results.items() if key != "T03")


def test_run_check_with_explicit_policy(tmp_path: Path) -> None:
    strict = default_policy_document()
    strict["thresholds"]["sc_or_cert_subjects"] = 50_000  # T02 (99,999 people) now needs sc_or_cert
    lines, all_ok = run_check(SCENARIO_FILE, Policy.from_json(strict))
    assert not all_ok
    t02 = json.loads(next(line for line in lines if '"T02"' in line))
    assert t02["requires"] == ["sc_or_cert"]


# --- further cases, each a variation of T01 --------------------------------------------------------

BASE = next(s for s in DOC["scenarios"] if s["id"] == "T01")
VALID_ASSESSMENT = {
    "status": "PASSED", "issued": "2026-01-10", "expires": "2029-01-09", "recipients": ["org-eu-buyer"],
    "purposes": [], "max_subjects": None, "extension_filed": None,
}
FILED_SC = {"effective": "2026-03-01", "filing_id": "SCF-1", "ends": None, "recipients": ["org-eu-buyer"]}
PI = {"asset.contains_pi": True, "request.purpose": "other"}
FTZ = {**PI, "exporter.ftz_zone": "BJ-FTZ", "asset.sector": "civil_aviation",
       "request.ftz_scenario": "civil_aviation/passenger_services", "request.subjects": 300_000}
EU = {"asset.contains_pi": True, "asset.eu_personal_data": True, "exporter.jurisdiction": "DE",
      "request.destination": "CN", "request.subjects": 50_000}


def variant(changes: dict[str, Any]) -> Scenario:
    doc = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        node = doc
        for key in parents:
            node = node[key]
        node[leaf] = copy.deepcopy(value)
    return Scenario.from_json(doc, "variant")


def _assessment(**changes: Any) -> dict[str, Any]:
    return {**VALID_ASSESSMENT, **changes}


def _sc(**changes: Any) -> dict[str, Any]:
    return {**FILED_SC, **changes}


EV = "request.evidence."
CASES: list[tuple[str, dict[str, Any], str, list[str], list[str], str | None]] = [
    # (name, changes, decision, requires, rules ⊆, path)
    ("sensitive 9,999", {**PI, "request.sensitive_subjects": 9_999}, "REQUIRE", ["sc_or_cert"], ["R13b"], "SC_OR_CERT"),
    ("sensitive ytd 9,999 + 1", {**PI, "exporter.ytd.sensitive_subjects": 9_999, "request.sensitive_subjects": 1},
     "REQUIRE", ["assessment"], ["R13a"], "ASSESSMENT"),
    ("same-year counters add up", {**PI, "exporter.ytd.subjects": 95_000, "request.subjects": 10_000},
     "REQUIRE", ["sc_or_cert"], ["R13b"], None),
    ("counter dated after now still counts", {**PI, "exporter.ytd.year": 2027, "exporter.ytd.subjects": 95_000,
                                              "request.subjects": 10_000}, "REQUIRE", ["sc_or_cert"], ["R13b"], None),
    ("R06 not when domestic data was added", {**PI, "asset.origin": "ABROAD", "asset.domestic_data_introduced": True,
                                              "request.subjects": 800_000}, "REQUIRE", ["sc_or_cert"], ["R13b"], None),
    ("R06 needs the provenance attestation", {**PI, "asset.origin": "ABROAD", "request.subjects": 800_000},
     "REQUIRE", ["provenance_attestation"], ["R06"], "EXEMPT"),
    ("MIXED origin is not returned data", {**PI, "asset.origin": "MIXED", EV + "provenance_attestation": "PA-1"},
     "ALLOW", [], ["R13c", "R14"], "EXEMPT"),
    ("FTZ listed field needs the named assessment", {**FTZ, "asset.fields": ["passenger_biometrics"]},
     "REQUIRE", ["assessment", "ftz_usage_filing"], ["R10b"], "ASSESSMENT"),
    ("FTZ listed field naming sc_or_cert", {**FTZ, "asset.sector": "retail", "asset.fields": ["payment_card_full"],
                                            "request.ftz_scenario": "retail/cross_border_ecommerce"},
     "REQUIRE", ["ftz_usage_filing", "sc_or_cert"], ["R10b"], "SC_OR_CERT"),
    ("FTZ scenario covers an asset filed under another sector (ADR 0014 A1)", {**FTZ, "asset.sector": "retail"},
     "REQUIRE", ["ftz_usage_filing"], ["R10"], "FTZ"),
    ("unknown FTZ zone falls through", {**FTZ, "exporter.ftz_zone": "SH-FTZ"}, "REQUIRE", ["sc_or_cert"], ["R13b"], None),
    ("CIIO in an FTZ still needs an assessment", {**FTZ, "exporter.is_ciio": True, EV + "ftz_usage_filing": "F-1"},
     "REQUIRE", ["assessment"], ["R12"], "ASSESSMENT"),
    ("CIIO HR transfer is exempt", {**PI, "exporter.is_ciio": True, "request.purpose": "hr",
                                    "request.lawful_basis": "HR"}, "ALLOW", [], ["R08", "R14"], "EXEMPT"),
    ("emergency is exempt", {**PI, "request.purpose": "emergency", "request.lawful_basis": "EMERGENCY",
                             "request.subjects": 5_000_000}, "ALLOW", [], ["R09", "R14"], "EXEMPT"),
    ("assessment expired the day before", {**PI, "now": "2027-06-01", "exporter.ytd.year": 2027,
                                           "request.subjects": 1_200_000,
                                           EV + "assessment": _assessment(expires="2027-05-31")},
     "REQUIRE", ["assessment"], ["R13a"], None),
    ("filed extension does not extend", {**PI, "request.subjects": 1_500_000, EV + "assessment": _assessment(
        issued="2023-05-10", expires="2025-05-09", extension_filed="2025-03-01")},
     "REQUIRE", ["assessment"], ["R13a"], None),
    ("assessment valid from its issue day", {**PI, "now": "2026-01-10", "request.subjects": 1_200_000,
                                             EV + "assessment": _assessment()}, "ALLOW", [], ["R13a"], None),
    ("assessment issued after now", {**PI, "now": "2026-01-09", "request.subjects": 1_200_000,
                                     EV + "assessment": _assessment()}, "REQUIRE", ["assessment"], ["R13a"], None),
    ("pending assessment", {**PI, "request.subjects": 1_200_000, EV + "assessment": _assessment(status="PENDING")},
     "REQUIRE", ["assessment"], ["R13a"], None),
    ("assessment for other purposes", {**PI, "request.subjects": 1_200_000,
                                       EV + "assessment": _assessment(purposes=["academic"])},
     "REQUIRE", ["assessment"], ["R13a"], None),
    ("assessment max_subjects exceeded", {**PI, "request.subjects": 1_200_000,
                                          EV + "assessment": _assessment(max_subjects=1_199_999)},
     "REQUIRE", ["assessment"], ["R13a"], None),
    ("assessment max_subjects exactly met", {**PI, "request.subjects": 1_200_000,
                                             EV + "assessment": _assessment(max_subjects=1_200_000)},
     "ALLOW", [], ["R13a"], None),
    ("assessment also meets sc_or_cert (R18)", {**PI, "request.subjects": 200_000, EV + "assessment": _assessment()},
     "ALLOW", [], ["R13b"], "SC_OR_CERT"),
    ("standard contract ended yesterday", {**PI, "request.subjects": 200_000, EV + "standard_contract": _sc(ends="2026-06-14")},
     "REQUIRE", ["sc_or_cert"], ["R13b"], None),
    ("standard contract ends today", {**PI, "request.subjects": 200_000, EV + "standard_contract": _sc(ends="2026-06-15")},
     "ALLOW", [], ["R13b"], None),
    ("standard contract not yet effective", {**PI, "request.subjects": 200_000,
                                             EV + "standard_contract": _sc(effective="2026-06-16")},
     "REQUIRE", ["sc_or_cert"], ["R13b"], None),
    ("standard contract with another recipient", {**PI, "request.subjects": 200_000,
                                                  EV + "standard_contract": _sc(recipients=["org-other"])},
     "REQUIRE", ["sc_or_cert"], ["R13b"], None),
    ("certification through its expiry day", {**PI, "request.subjects": 200_000, EV + "certification": {
        "issued": "2026-01-01", "expires": "2026-06-15", "recipients": []}}, "ALLOW", [], ["R13b"], None),
    ("important data and PI: one assessment", {**PI, "asset.grade": "IMPORTANT", "asset.important_basis": "PUBLISHED",
                                               "request.subjects": 200_000},
     "REQUIRE", ["assessment"], ["R11", "R13b"], "ASSESSMENT"),
    ("notified data graded GENERAL is important", {"asset.important_basis": "NOTIFIED", "request.purpose": "other"},
     "REQUIRE", ["assessment"], ["R11"], "ASSESSMENT"),
    ("self-graded important data needs a determination", {"asset.grade": "IMPORTANT", "request.purpose": "other"},
     "REQUIRE", ["important_data_determination"], ["R11b"], None),
    ("determined not important", {"asset.suspected_important": True, "request.purpose": "intl_trade",
                                  EV + "important_data_determination": {"id": "D-1", "important": False}},
     "ALLOW", [], ["R11b", "R05"], "EXEMPT"),
    ("determined important", {"asset.suspected_important": True,
                              EV + "important_data_determination": {"id": "D-1", "important": True}},
     "REQUIRE", ["assessment"], ["R11"], "ASSESSMENT"),
    ("R05 does not cover PI", {"asset.contains_pi": True, "request.subjects": 200_000},
     "REQUIRE", ["sc_or_cert"], ["R13b"], None),
    ("no notice, no PIPIA", {**PI, EV + "notice": False, EV + "pipia": False},
     "REQUIRE", ["notice", "pipia"], ["R14"], "EXEMPT"),
    ("minors on a contract basis: no guardian consent asked", {**PI, "asset.minors_pi": True,
                                                               "request.lawful_basis": "CONTRACT"},
     "ALLOW", [], ["R14"], None),
    ("contract with the individual on consent basis", {**PI, "request.purpose": "contract_with_individual",
                                                       EV + "separate_consent": False},
     "REQUIRE", ["separate_consent"], ["R07", "R14"], "EXEMPT"),
    ("Macao is outside the mainland", {**PI, "request.destination": "MO", "request.subjects": 150_000},
     "REQUIRE", ["sc_or_cert"], ["R13b"], None),
    ("Taiwan is outside the mainland", {**PI, "request.destination": "TW", "request.subjects": 150_000},
     "REQUIRE", ["sc_or_cert"], ["R13b"], None),
    ("state secret", {"asset.state_secret": True}, "DENY", [], ["R02"], "PROHIBITED"),
    ("first DENY wins", {"asset.grade": "CORE", "asset.state_secret": True,
                         "request.recipient.type": "FOREIGN_LAW_ENFORCEMENT"}, "DENY", [], ["R01"], "PROHIBITED"),
    ("foreign police with PRC approval", {"request.recipient.type": "FOREIGN_LAW_ENFORCEMENT",
                                          EV + "prc_authority_approval": "MPS-2026-1"}, "ALLOW", [], ["R05"], None),
    ("flagged recipient", {"request.recipient.restricted": True}, "DENY", [], ["R04"], "PROHIBITED"),
    ("pledged, consent given", {"asset.pledged": True, EV + "pledgee_consent": "PLG-1"}, "ALLOW", [], ["R05", "B1"], None),
    ("pledged, domestic", {"asset.pledged": True, "request.destination": "CN"}, "ALLOW", [], ["P1"], "DOMESTIC"),
    ("GDPR: Art 49 for a repetitive transfer", {**EU, EV + "gdpr": {
        "mechanism": "ART49", "tia": False, "bcr_id": None, "art49_ground": "explicit_consent", "repetitive": True}},
     "REQUIRE", ["gdpr_safeguard"], ["G1"], "FOREIGN"),
    ("GDPR: Art 49 occasional with a ground", {**EU, EV + "gdpr": {
        "mechanism": "ART49", "tia": False, "bcr_id": None, "art49_ground": "explicit_consent", "repetitive": False}},
     "ALLOW", [], ["G1"], "FOREIGN"),
    ("GDPR: Art 49 without a ground", {**EU, EV + "gdpr": {
        "mechanism": "ART49", "tia": False, "bcr_id": None, "art49_ground": None, "repetitive": False}},
     "REQUIRE", ["gdpr_safeguard"], ["G1"], "FOREIGN"),
    ("GDPR: SCC without TIA", {**EU, EV + "gdpr": {
        "mechanism": "SCC", "tia": False, "bcr_id": None, "art49_ground": None, "repetitive": False}},
     "REQUIRE", ["gdpr_safeguard"], ["G1"], "FOREIGN"),
    ("GDPR: BCR", {**EU, EV + "gdpr": {
        "mechanism": "BCR", "tia": False, "bcr_id": "BCR-DE-7", "art49_ground": None, "repetitive": False}},
     "ALLOW", [], ["G1"], "FOREIGN"),
    ("GDPR: adequate destination", {**EU, "request.destination": "JP"}, "ALLOW", [], ["G0"], "FOREIGN"),
    ("GDPR: EEA destination", {**EU, "request.destination": "NO"}, "ALLOW", [], ["G0"], "FOREIGN"),
    ("GDPR: no EU personal data", {**EU, "asset.eu_personal_data": False}, "ALLOW", [], ["G0"], "FOREIGN"),
    ("non-EU foreign sender", {**EU, "exporter.jurisdiction": "US"}, "ALLOW", [], ["G0"], "FOREIGN"),
    ("Hong Kong sender is foreign", {**PI, "exporter.jurisdiction": "HK", "request.destination": "US",
                                     "request.subjects": 5_000_000}, "ALLOW", [], ["G0"], "FOREIGN"),
    ("foreign sender, pledged asset", {**EU, "asset.pledged": True, "request.destination": "US",
                                       "asset.eu_personal_data": False},
     "REQUIRE", ["pledgee_consent"], ["G0", "B1"], "FOREIGN"),
    ("foreign sender ignores PRC prohibitions", {**EU, "asset.grade": "CORE", "asset.eu_personal_data": False},
     "ALLOW", [], ["G0"], "FOREIGN"),
]


@pytest.mark.parametrize(
    ("changes", "decision", "requires", "rules", "path"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_rule_case(
    changes: dict[str, Any], decision: str, requires: list[str], rules: list[str], path: str | None
) -> None:
    scenario = variant(changes)
    got = decide(scenario, POLICY)
    assert (got.decision, list(got.requires)) == (decision, requires), got
    assert set(rules) <= set(got.rules), got
    if path is not None:
        assert got.path == path, got


def test_restricted_list_from_policy() -> None:
    doc = default_policy_document()
    doc["restricted_recipients"] = ["org-eu-buyer"]
    got = decide(variant({}), Policy.from_json(doc))
    assert (got.decision, got.rules) == ("DENY", ("R04",))


def test_core_data_under_assessment_policy() -> None:
    doc = default_policy_document()
    doc["core_data_export"] = "assessment"
    policy = Policy.from_json(doc)
    got = decide(variant({"asset.grade": "CORE"}), policy)
    assert (got.decision, got.requires, got.path) == ("REQUIRE", ("assessment",), "ASSESSMENT")
    assert "R01" in got.rules
    granted = decide(variant({"asset.grade": "CORE", EV + "assessment": _assessment()}), policy)
    assert granted.decision == "ALLOW"


def test_certification_never_for_ciio_or_important_data() -> None:
    cert = {"issued": "2026-01-01", "expires": "2028-12-31", "recipients": []}
    plain = variant({**PI, EV + "certification": cert})
    ciio = variant({**PI, "exporter.is_ciio": True, EV + "certification": cert})
    important = variant({**PI, "asset.important_basis": "NOTIFIED", EV + "certification": cert})
    results = [
        r17_certification_valid(facts(s.asset, s.exporter, s.request, POLICY, s.now)) for s in (plain, ciio, important)
    ]
    assert results == [True, False, False]


def test_rules_report_in_evaluation_order() -> None:
    got = decide(variant({**PI, "asset.suspected_important": True, "asset.pledged": True,
                          "request.subjects": 200_000}), POLICY)
    assert got.rules == ("R11b", "R13b", "R14", "B1")
    assert got.requires == ("important_data_determination", "pledgee_consent", "sc_or_cert")


# --- counters (P2) --------------------------------------------------------------------------------


def test_ytd_after_adds_this_request_and_resets_old_years() -> None:
    scenario = variant({**PI, "exporter.ytd.year": 2025, "exporter.ytd.subjects": 95_000, "request.subjects": 10_000,
                        "request.sensitive_subjects": 0})
    decision = decide(scenario, POLICY)
    assert decision.decision == Outcome.ALLOW
    after = ytd_after(scenario.asset, scenario.exporter, scenario.request, decision, POLICY, scenario.now)
    assert after == Ytd(2026, 10_000, 0)
    again = variant({**PI, "exporter.ytd.subjects": 95_000, "request.subjects": 4_999})
    after = ytd_after(again.asset, again.exporter, again.request, decide(again, POLICY), POLICY, again.now)
    assert after == Ytd(2026, 99_999, 0)


def test_ytd_after_exempt_transfers_follow_policy_flag() -> None:
    scenario = next(s for s in SCENARIOS if s.id == "T14")
    decision = decide(scenario, POLICY)
    counted = ytd_after(scenario.asset, scenario.exporter, scenario.request, decision, POLICY, scenario.now)
    assert counted.subjects == scenario.exporter.ytd.subjects + scenario.request.subjects
    doc = default_policy_document()
    doc["count_exempt_transfers"] = False
    uncounted = ytd_after(scenario.asset, scenario.exporter, scenario.request, decision, Policy.from_json(doc),
                          scenario.now)
    assert uncounted == scenario.exporter.ytd


@pytest.mark.parametrize("scenario_id", ["T16", "T37", "T34b", "T01", "T03"])
def test_ytd_after_not_counted(scenario_id: str) -> None:
    """Returned foreign data, domestic and foreign-sender transfers, no PI, or not allowed."""
    scenario = next(s for s in SCENARIOS if s.id == scenario_id)
    decision = decide(scenario, POLICY)
    after = ytd_after(scenario.asset, scenario.exporter, scenario.request, decision, POLICY, scenario.now)
    assert after == scenario.exporter.ytd


def test_now_is_an_input() -> None:
    scenario = next(s for s in SCENARIOS if s.id == "T23a")
    on_day = decide(scenario, POLICY)
    day_after = check_scenario(
        Scenario(scenario.id, scenario.title, scenario.now + datetime.timedelta(days=1), scenario.asset,
                 scenario.exporter, scenario.request, scenario.expect),
        POLICY,
    )
    assert on_day.decision == "ALLOW"
    assert day_after[0]["requires"] == ["assessment"] and not day_after[1]
