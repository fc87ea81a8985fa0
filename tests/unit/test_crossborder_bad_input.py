"""Strict parsing of cross-border requests, policies and scenario files: each kind of bad input
raises a ValidationError with its own stable code, never anything outside chain.errors."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from chain.crossborder.model import AssetFacts, ExporterFacts, TransferRequest
from chain.crossborder.policy import Policy
from chain.crossborder.scenarios import Scenario, default_policy_document, load_scenarios, run_check
from chain.errors import NotFoundError, SilkportError, ValidationError

DATA = Path(__file__).resolve().parent.parent / "data" / "crossborder"
DOC: dict[str, Any] = json.loads((DATA / "scenarios.json").read_text(encoding="utf-8"))
T22 = next(s for s in DOC["scenarios"] if s["id"] == "T22")  # has an assessment
T34B = next(s for s in DOC["scenarios"] if s["id"] == "T34b")  # has a gdpr safeguard
T04 = next(s for s in DOC["scenarios"] if s["id"] == "T04")  # has a standard contract


def _set(doc: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    *parents, leaf = dotted.split(".")
    node = out
    for key in parents:
        node = node[key]
    if value is _DELETE:
        del node[leaf]
    else:
        node[leaf] = value
    return out


_DELETE = object()


def _code(base: dict[str, Any], dotted: str, value: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        Scenario.from_json(_set(base, dotted, value), "scenario")
    assert isinstance(caught.value, SilkportError)
    return caught.value.code


@pytest.mark.parametrize(
    ("dotted", "value"),
    [
        ("request.destination", "XX"),
        ("request.destination", "de"),
        ("request.destination", "DEU"),
        ("request.destination", "EU"),
        ("request.destination", "UK"),
        ("request.destination", ""),
        ("exporter.jurisdiction", "ZZ"),
        ("exporter.jurisdiction", "Cn"),
    ],
)
def test_unknown_country_code(dotted: str, value: str) -> None:
    assert _code(T22, dotted, value) == "bad_country_code"


def test_country_code_of_wrong_type() -> None:
    assert _code(T22, "request.destination", 49) == "bad_type"


@pytest.mark.parametrize(
    ("dotted", "value", "code"),
    [
        ("request.purpose", "espionage", "unknown_purpose"),
        ("request.purpose", "INTL_TRADE", "unknown_purpose"),
        ("request.evidence.assessment.purposes", ["hr", "tourism"], "unknown_purpose"),
        ("request.lawful_basis", "LEGITIMATE_INTEREST", "unknown_lawful_basis"),
        ("request.recipient.type", "NGO", "unknown_recipient_type"),
        ("asset.grade", "SECRET", "unknown_grade"),
        ("asset.important_basis", "RUMOURED", "unknown_important_basis"),
        ("asset.origin", "MARS", "unknown_origin"),
        ("request.evidence.assessment.status", "APPROVED", "unknown_assessment_status"),
    ],
)
def test_unknown_enum_value(dotted: str, value: Any, code: str) -> None:
    assert _code(T22, dotted, value) == code


def test_unknown_gdpr_mechanism() -> None:
    assert _code(T34B, "request.evidence.gdpr.mechanism", "CODE_OF_CONDUCT") == "unknown_gdpr_mechanism"


@pytest.mark.parametrize(
    "dotted",
    ["request.subjects", "request.sensitive_subjects", "exporter.ytd.subjects", "exporter.ytd.sensitive_subjects",
     "request.evidence.assessment.max_subjects"],
)
def test_negative_count(dotted: str) -> None:
    assert _code(T22, dotted, -1) == "negative_count"


@pytest.mark.parametrize(
    "where",
    ["asset", "exporter", "exporter.ytd", "request", "request.recipient", "request.evidence",
     "request.evidence.assessment", "expect"],
)
def test_unknown_key(where: str) -> None:
    assert _code(T22, f"{where}.colour", "blue") == "unknown_field"


@pytest.mark.parametrize(
    ("base", "where"),
    [(T34B, "request.evidence.gdpr"), (T04, "request.evidence.standard_contract")],
)
def test_unknown_key_in_other_evidence(base: dict[str, Any], where: str) -> None:
    assert _code(base, f"{where}.extra", None) == "unknown_field"


def test_unknown_key_at_top_level() -> None:
    assert _code(T22, "comment", "x") == "unknown_field"


@pytest.mark.parametrize(
    "dotted",
    ["asset.pledged", "exporter.ytd", "request.evidence.notice", "request.evidence.gdpr", "request.ftz_scenario"],
)
def test_missing_key(dotted: str) -> None:
    assert _code(T22, dotted, _DELETE) == "missing_field"


@pytest.mark.parametrize(
    ("dotted", "value"),
    [
        ("request.subjects", True),
        ("request.sensitive_subjects", False),
        ("exporter.ytd.year", True),
        ("exporter.ytd.subjects", True),
        ("request.evidence.assessment.max_subjects", True),
        ("request.subjects", 1.0),
        ("request.subjects", "100"),
    ],
)
def test_bool_or_other_type_for_int(dotted: str, value: Any) -> None:
    assert _code(T22, dotted, value) == "bad_type"


@pytest.mark.parametrize(
    ("dotted", "value"),
    [
        ("request.evidence.notice", 1),
        ("asset.contains_pi", "true"),
        ("exporter.is_ciio", None),
        ("asset.fields", "passenger_biometrics"),
        ("asset.fields", [1]),
        ("request.recipient", "org-eu-buyer"),
        ("request.evidence.ftz_usage_filing", 7),
    ],
)
def test_wrong_type(dotted: str, value: Any) -> None:
    code = _code(T22, dotted, value)
    assert code in ("bad_type", "not_object")


@pytest.mark.parametrize(
    ("dotted", "value", "code"),
    [
        ("now", "2026-13-01", "bad_date"),
        ("now", "2026/06/15", "bad_date"),
        ("now", "20260615", "bad_date"),
        ("now", "2026-02-30", "bad_date"),
        ("request.evidence.assessment.issued", "2030-01-01", "bad_value"),  # issued after expires
        ("request.evidence.pledgee_consent", "", "bad_value"),  # an empty id is not evidence
        ("request.recipient.id", "", "bad_value"),
        ("asset.fields", ["a", "a"], "bad_value"),
        ("exporter.ytd.year", 0, "bad_value"),
    ],
)
def test_bad_values(dotted: str, value: Any, code: str) -> None:
    assert _code(T22, dotted, value) == code


def test_each_model_parser_alone() -> None:
    asset = AssetFacts.from_json(T22["asset"])
    assert AssetFacts.from_json(asset.to_json()) == asset
    exporter = ExporterFacts.from_json(T22["exporter"])
    assert exporter.to_json() == T22["exporter"]
    request = TransferRequest.from_json(T22["request"])
    assert request.to_json() == T22["request"]
    with pytest.raises(ValidationError) as caught:
        TransferRequest.from_json([])
    assert caught.value.code == "not_object"


def test_every_scenario_round_trips() -> None:
    for raw in DOC["scenarios"]:
        scenario = Scenario.from_json(raw, "s")
        assert scenario.asset.to_json() == raw["asset"]
        assert scenario.exporter.to_json() == raw["exporter"]
        assert scenario.request.to_json() == raw["request"]


# --- policy documents -----------------------------------------------------------------------------


def _policy_code(dotted: str, value: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        Policy.from_json(_set(default_policy_document(), dotted, value))
    return caught.value.code


@pytest.mark.parametrize(
    ("dotted", "value", "code"),
    [
        ("colour", "blue", "unknown_field"),
        ("thresholds.colour", 1, "unknown_field"),
        ("ftz.BJ-FTZ.scenarios.ai/training_data.colour", 1, "unknown_field"),
        ("thresholds.sc_or_cert_subjects", _DELETE, "missing_field"),
        ("thresholds.sc_or_cert_subjects", True, "bad_type"),
        ("thresholds.assessment_subjects", -5, "negative_count"),
        ("thresholds.assessment_subjects", 100_000, "bad_policy"),
        ("thresholds.assessment_sensitive_subjects", 0, "bad_policy"),
        ("count_exempt_transfers", 1, "bad_type"),
        ("version", 0, "bad_policy"),
        ("mainland", "PRC", "bad_country_code"),
        ("eu_eea", ["DE", "XX"], "bad_country_code"),
        ("eu_adequate", ["DE"], "bad_policy"),
        ("exempt_purposes", ["intl_trade", "smuggling"], "unknown_purpose"),
        ("exempt_purposes", ["hr"], "bad_policy"),
        ("pi_exempt_purposes", {"hr": "R05"}, "bad_policy"),
        ("pi_exempt_purposes", {"tourism": "R07"}, "unknown_purpose"),
        ("core_data_export", "allow", "unknown_core_data_export"),
        ("ftz.BJ-FTZ.scenarios.ai/training_data.mechanism", "none", "unknown_mechanism"),
        ("ftz.BJ-FTZ.scenarios", {"no_sector": {"listed_fields": [], "mechanism": "assessment"}}, "bad_policy"),
        ("restricted_recipients", [""], "bad_value"),
        ("timezone", "Europe/Berlin", "bad_policy"),  # dates are Shanghai dates, fixed UTC+8 on chain
    ],
)
def test_bad_policy(dotted: str, value: Any, code: str) -> None:
    assert _policy_code(dotted, value) == code


def test_policy_round_trips() -> None:
    doc = default_policy_document()
    assert Policy.from_json(doc).to_json() == doc
    assert Policy.from_json(doc) == Policy.from_json(copy.deepcopy(doc))


# --- scenario files -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dotted", "value", "code"),
    [
        ("format", "silkport-crossborder-scenarios/2", "bad_format"),
        ("scenarios", {}, "bad_type"),
        ("extra", 1, "unknown_field"),
        ("scenarios.1.id", "T01", "duplicate_id"),
        ("scenarios.0.expect.rules", ["R99"], "unknown_rule"),
        ("scenarios.0.expect.requires", ["blessing"], "unknown_evidence_kind"),
        ("scenarios.0.expect.decision", "MAYBE", "unknown_decision"),
        ("scenarios.0.expect.path", "SOMEWHERE", "unknown_path"),
    ],
)
def test_bad_scenario_file(dotted: str, value: Any, code: str) -> None:
    doc = copy.deepcopy(DOC)
    *parents, leaf = dotted.split(".")
    node: Any = doc
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[leaf] = value
    with pytest.raises(ValidationError) as caught:
        load_scenarios(doc)
    assert caught.value.code == code


def test_run_check_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        run_check(tmp_path / "absent.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    with pytest.raises(ValidationError) as caught:
        run_check(broken)
    assert caught.value.code == "bad_json"
