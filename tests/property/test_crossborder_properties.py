"""Properties of the cross-border rule engine over random valid requests (hypothesis).

- evaluation is deterministic (and survives a JSON round trip of its inputs);
- monotone in evidence: adding valid evidence never turns ALLOW into REQUIRE or DENY and never
  adds to ``requires`` (a PRC approval may lift R03's DENY; a determination that data *is*
  important is a fact, not satisfying evidence — ADR 0006);
- supplying every piece listed in ``requires`` (valid, dated around ``now``) yields ALLOW;
- thresholds are inclusive exactly at the policy's values (100,000 / 1,000,000 / 10,000 / 1);
- a counter from an earlier year counts as 0.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chain.crossborder.model import (
    Assessment,
    AssessmentStatus,
    AssetFacts,
    Certification,
    Decision,
    Evidence,
    EvidenceKind,
    ExporterFacts,
    GdprMechanism,
    GdprSafeguard,
    Grade,
    ImportantBasis,
    ImportantDataDetermination,
    LawfulBasis,
    Origin,
    Purpose,
    Recipient,
    RecipientType,
    StandardContract,
    TransferRequest,
    Ytd,
)
from chain.crossborder.policy import Policy
from chain.crossborder.rules import evaluate
from chain.crossborder.scenarios import default_policy, default_policy_document

POLICY = default_policy()
SETTINGS = settings(max_examples=200, deadline=None)
LISTED = sorted({f for zone in POLICY.ftz.values() for s in zone.scenarios.values() for f in s.listed_fields})
FTZ_SCENARIOS = sorted({name for zone in POLICY.ftz.values() for name in zone.scenarios})
RECIPIENTS = ["org-a", "org-b"]

dates = st.dates(datetime.date(2025, 1, 1), datetime.date(2030, 12, 31))
offsets = st.integers(-800, 800).map(lambda days: datetime.timedelta(days=days))
ids = st.sampled_from(["E-1", "E-2"])
mostly = st.sampled_from([True] * 4 + [False])


def _around(now: datetime.date, delta: datetime.timedelta) -> datetime.date:
    return now + delta


assets = st.builds(
    AssetFacts,
    grade=st.sampled_from([Grade.GENERAL] * 12 + [Grade.IMPORTANT] * 2 + [Grade.CORE]),
    important_basis=st.sampled_from([ImportantBasis.NONE] * 10 + [ImportantBasis.NOTIFIED, ImportantBasis.PUBLISHED]),
    suspected_important=st.sampled_from([False] * 4 + [True]),
    state_secret=st.sampled_from([False] * 9 + [True]),
    contains_pi=st.booleans(),
    sensitive_pi=st.booleans(),
    minors_pi=st.booleans(),
    origin=st.sampled_from([Origin.CN] * 4 + [Origin.ABROAD, Origin.MIXED]),
    domestic_data_introduced=st.booleans(),
    eu_personal_data=st.booleans(),
    sector=st.sampled_from(["civil_aviation", "retail", "pharma", "finance"]),
    fields=st.lists(st.sampled_from([*LISTED, "order_lines", "contact_email"]), unique=True, max_size=3).map(tuple),
    pledged=st.booleans(),
)


@st.composite
def exporters(draw: st.DrawFn, now: datetime.date) -> ExporterFacts:
    return ExporterFacts(
        id="org-exporter",
        jurisdiction=draw(st.sampled_from(["CN"] * 15 + ["DE", "FR", "US", "HK", "JP"])),
        is_ciio=draw(st.sampled_from([False] * 4 + [True])),
        ftz_zone=draw(st.sampled_from([None, None, "BJ-FTZ", "SH-FTZ"])),
        ytd=Ytd(
            year=now.year + draw(st.sampled_from([0, 0, 0, -1, -2, 1])),
            subjects=draw(st.integers(0, 150_000) | st.integers(0, 2_000_000)),
            sensitive_subjects=draw(st.sampled_from([0, 0]) | st.integers(0, 20_000)),
        ),
    )


@st.composite
def random_evidence(draw: st.DrawFn, now: datetime.date) -> Evidence:
    """Anything from nothing to a full set, valid or not."""

    def maybe(strategy: Any) -> Any:
        return draw(st.none() | strategy)

    assessment = maybe(st.builds(
        Assessment,
        status=st.sampled_from(AssessmentStatus),
        issued=offsets.map(lambda d: _around(now, d) - datetime.timedelta(days=800)),
        expires=offsets.map(lambda d: _around(now, d) + datetime.timedelta(days=800)),
        recipients=st.lists(st.sampled_from(RECIPIENTS), unique=True, max_size=2).map(tuple),
        purposes=st.lists(st.sampled_from(Purpose), unique=True, max_size=2).map(tuple),
        max_subjects=st.none() | st.integers(0, 3_000_000),
        extension_filed=st.none() | dates,
    ))
    contract = maybe(st.builds(
        StandardContract,
        effective=offsets.map(lambda d: _around(now, d) - datetime.timedelta(days=800)),
        filing_id=st.none() | ids,
        ends=st.none() | offsets.map(lambda d: _around(now, d) + datetime.timedelta(days=800)),
        recipients=st.lists(st.sampled_from(RECIPIENTS), unique=True, max_size=2).map(tuple),
    ))
    certification = maybe(st.builds(
        Certification,
        issued=offsets.map(lambda d: _around(now, d) - datetime.timedelta(days=800)),
        expires=offsets.map(lambda d: _around(now, d) + datetime.timedelta(days=800)),
        recipients=st.lists(st.sampled_from(RECIPIENTS), unique=True, max_size=2).map(tuple),
    ))
    gdpr = maybe(st.builds(
        GdprSafeguard, mechanism=st.sampled_from(GdprMechanism), tia=st.booleans(), bcr_id=st.none() | ids,
        art49_ground=st.none() | ids, repetitive=st.booleans(),
    ))
    return Evidence(
        notice=draw(mostly), separate_consent=draw(mostly), pipia=draw(mostly), guardian_consent=draw(mostly), assessment=assessment, standard_contract=contract,
        certification=certification, ftz_usage_filing=maybe(ids), provenance_attestation=maybe(ids),
        prc_authority_approval=maybe(ids), pledgee_consent=maybe(ids),
        important_data_determination=maybe(st.builds(ImportantDataDetermination, id=ids, important=st.booleans())),
        gdpr=gdpr,
    )


@st.composite
def requests(draw: st.DrawFn, now: datetime.date) -> TransferRequest:
    return TransferRequest(
        destination=draw(st.sampled_from(["CN", "DE", "US", "HK", "MO", "TW", "JP", "SG", "FR", "NO"] * 2 + ["DE"])),
        recipient=Recipient(
            id=draw(st.sampled_from(RECIPIENTS)),
            type=draw(st.sampled_from([RecipientType.COMPANY] * 12 + list(RecipientType))),
            restricted=draw(st.sampled_from([False] * 9 + [True])),
        ),
        purpose=draw(st.sampled_from(Purpose)),
        lawful_basis=draw(st.sampled_from(LawfulBasis)),
        subjects=draw(st.sampled_from([0, 99_999, 100_000, 999_999, 1_000_000]) | st.integers(0, 120_000)
                      | st.integers(0, 1_500_000)),
        sensitive_subjects=draw(st.sampled_from([0, 0, 0, 1, 9_999, 10_000]) | st.integers(0, 15_000)),
        ftz_scenario=draw(st.sampled_from([None, "finance/credit_scoring", *FTZ_SCENARIOS])),
        evidence=draw(random_evidence(now)),
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[AssetFacts, ExporterFacts, TransferRequest, datetime.date]:
    now = draw(dates)
    return draw(assets), draw(exporters(now)), draw(requests(now)), now


@st.composite
def valid_pieces(
    draw: st.DrawFn, kind: EvidenceKind, request: TransferRequest, now: datetime.date
) -> dict[str, Any]:
    """Evidence of ``kind`` that is valid for ``request`` on ``now`` (inclusive bounds included)."""
    before = now - datetime.timedelta(days=draw(st.integers(0, 1000)))
    after = now + datetime.timedelta(days=draw(st.integers(0, 1000)))
    recipients = draw(st.sampled_from([(), (request.recipient.id,), (request.recipient.id, "org-z")]))
    if kind is EvidenceKind.ASSESSMENT:
        purposes = draw(st.sampled_from([(), (request.purpose,)]))
        return {"assessment": Assessment(AssessmentStatus.PASSED, before, after, recipients, purposes, None,
                                         draw(st.none() | st.just(now)))}
    if kind is EvidenceKind.SC_OR_CERT:
        return {"standard_contract": StandardContract(before, "SCF-9", draw(st.none() | st.just(after)), recipients)}
    if kind is EvidenceKind.IMPORTANT_DATA_DETERMINATION:
        if request.evidence.important_data_determination is not None:
            return {}  # a determination is a fact about the data (ADR 0006): added, never overwritten
        return {"important_data_determination": ImportantDataDetermination("D-9", False)}
    if kind is EvidenceKind.GDPR_SAFEGUARD:
        return {"gdpr": draw(st.sampled_from([
            GdprSafeguard(GdprMechanism.SCC, True, None, None, False),
            GdprSafeguard(GdprMechanism.BCR, False, "BCR-9", None, True),
            GdprSafeguard(GdprMechanism.ART49, False, None, "vital_interests", False),
        ]))}
    if kind in (EvidenceKind.NOTICE, EvidenceKind.SEPARATE_CONSENT, EvidenceKind.PIPIA,
                EvidenceKind.GUARDIAN_CONSENT):
        return {kind.value: True}
    return {kind.value: "ID-9"}  # ftz_usage_filing, provenance_attestation, pledgee_consent


def _with(request: TransferRequest, pieces: dict[str, Any]) -> TransferRequest:
    return dataclasses.replace(request, evidence=dataclasses.replace(request.evidence, **pieces))


@SETTINGS
@given(cases())
def test_deterministic(case: tuple[AssetFacts, ExporterFacts, TransferRequest, datetime.date]) -> None:
    asset, exporter, request, now = case
    first = evaluate(asset, exporter, request, POLICY, now)
    assert evaluate(asset, exporter, request, POLICY, now) == first
    copied = evaluate(
        AssetFacts.from_json(asset.to_json()), ExporterFacts.from_json(exporter.to_json()),
        TransferRequest.from_json(request.to_json()), Policy.from_json(POLICY.to_json()), now,
    )
    assert copied == first
    assert list(first.requires) == sorted(set(first.requires))
    assert first.decision == ("REQUIRE" if first.requires else first.decision)
    if first.decision == "DENY":
        assert first.requires == () and first.path == "PROHIBITED" and len(first.rules) == 1


@SETTINGS
@given(cases(), st.data())
def test_monotone_in_evidence(
    case: tuple[AssetFacts, ExporterFacts, TransferRequest, datetime.date], data: st.DataObject
) -> None:
    asset, exporter, request, now = case
    before = evaluate(asset, exporter, request, POLICY, now)
    kinds = data.draw(st.lists(st.sampled_from(EvidenceKind), unique=True, min_size=1))
    pieces: dict[str, Any] = {}
    for kind in kinds:
        pieces.update(data.draw(valid_pieces(kind, request, now)))
    if data.draw(st.booleans()):
        pieces["prc_authority_approval"] = "PRC-9"
    after = evaluate(asset, exporter, _with(request, pieces), POLICY, now)
    if before.decision == "DENY":
        assert after.decision == "DENY" or before.rules == ("R03",)
        return
    assert after.decision != "DENY"
    assert set(after.requires) <= set(before.requires), (before, after)
    if before.decision == "ALLOW":
        assert after.decision == "ALLOW", (before, after)


@SETTINGS
@given(cases(), st.data())
def test_supplying_what_is_required_allows(
    case: tuple[AssetFacts, ExporterFacts, TransferRequest, datetime.date], data: st.DataObject
) -> None:
    asset, exporter, request, now = case
    before = evaluate(asset, exporter, request, POLICY, now)
    pieces: dict[str, Any] = {}
    for kind in before.requires:
        pieces.update(data.draw(valid_pieces(EvidenceKind(kind), request, now)))
    after = evaluate(asset, exporter, _with(request, pieces), POLICY, now)
    if before.decision == "DENY":
        assert after == before
    else:
        assert (after.decision, after.requires) == ("ALLOW", ()), (before, after)
        assert after.path == before.path


# --- thresholds (P3: "above" is >=) ---------------------------------------------------------------

PLAIN_ASSET = AssetFacts(Grade.GENERAL, ImportantBasis.NONE, False, False, True, False, False, Origin.CN, False,
                         False, "retail", (), False)


def _threshold_rule(policy: Policy, n_ns: int, n_s: int, split: int, split_s: int, now: datetime.date) -> Decision:
    """Decide a plain PI transfer whose year-to-date counts (this request included) are n_ns / n_s."""
    exporter = ExporterFacts("org-exporter", "CN", False, None, Ytd(now.year, n_ns - split, n_s - split_s))
    request = TransferRequest("US", Recipient("org-a", RecipientType.COMPANY, False), Purpose.OTHER,
                              LawfulBasis.CONTRACT, split, split_s, None, Evidence(notice=True, pipia=True))
    return evaluate(PLAIN_ASSET, exporter, request, policy, now)


def _mechanism(decision: Decision) -> str:
    return next(rule for rule in decision.rules if rule.startswith("R13"))


def test_default_policy_boundaries_are_the_legal_ones() -> None:
    limits = POLICY.thresholds
    assert (limits.sc_or_cert_subjects, limits.assessment_subjects, limits.assessment_sensitive_subjects) == (
        100_000, 1_000_000, 10_000)


def _check_boundaries(policy: Policy, fraction: float, fraction_s: float, now: datetime.date) -> None:
    limits = policy.thresholds
    cases = [
        (limits.sc_or_cert_subjects - 1, 0, "R13c"),
        (limits.sc_or_cert_subjects, 0, "R13b"),
        (limits.assessment_subjects - 1, 0, "R13b"),
        (limits.assessment_subjects, 0, "R13a"),
        (0, 1, "R13b"),
        (limits.sc_or_cert_subjects - 1, 1, "R13b"),
        (0, limits.assessment_sensitive_subjects - 1, "R13b"),
        (0, limits.assessment_sensitive_subjects, "R13a"),
    ]
    for n_ns, n_s, expected in cases:
        decision = _threshold_rule(policy, n_ns, n_s, int(n_ns * fraction), int(n_s * fraction_s), now)
        assert _mechanism(decision) == expected, (n_ns, n_s, decision)
        asked = {"R13a": ("assessment",), "R13b": ("sc_or_cert",), "R13c": ()}[expected]
        assert decision.requires == asked


@SETTINGS
@given(st.floats(0, 1), st.floats(0, 1), dates)
def test_thresholds_inclusive_at_policy_values(fraction: float, fraction_s: float, now: datetime.date) -> None:
    """However the count is split between earlier transfers and this one."""
    _check_boundaries(POLICY, fraction, fraction_s, now)


@SETTINGS
@given(st.integers(1, 500_000), st.integers(1, 2_000_000), st.integers(2, 50_000), st.floats(0, 1), dates)
def test_thresholds_come_from_the_policy(sc: int, extra: int, sensitive: int, fraction: float,
                                         now: datetime.date) -> None:
    doc = default_policy_document()
    doc["thresholds"] = {"sc_or_cert_subjects": sc, "assessment_subjects": sc + extra,
                         "assessment_sensitive_subjects": sensitive}
    _check_boundaries(Policy.from_json(doc), fraction, fraction, now)


@SETTINGS
@given(cases(), st.integers(1, 5))
def test_counters_from_earlier_years_count_as_zero(
    case: tuple[AssetFacts, ExporterFacts, TransferRequest, datetime.date], years_back: int
) -> None:
    asset, exporter, request, now = case
    old = dataclasses.replace(exporter, ytd=Ytd(now.year - years_back, exporter.ytd.subjects,
                                                 exporter.ytd.sensitive_subjects))
    fresh = dataclasses.replace(exporter, ytd=Ytd(now.year, 0, 0))
    assert evaluate(asset, old, request, POLICY, now) == evaluate(asset, fresh, request, POLICY, now)


# --- fail closed (ADR 0014) -----------------------------------------------------------------------
#
# Strictness: DENY < REQUIRE < ALLOW. Between two REQUIREs the stricter one asks, for every piece
# the other asks, that piece or a stronger one: the mechanisms rank ftz_usage_filing < sc_or_cert <
# assessment (R18: an assessment covers sc_or_cert; R10b keeps R10's filing), and an
# important_data_determination is covered by an assessment (the worst a determination can lead to, R11).

_RANK = {"DENY": 0, "REQUIRE": 1, "ALLOW": 2}
_STRONGER = {
    "ftz_usage_filing": {"sc_or_cert", "assessment"},
    "sc_or_cert": {"assessment"},
    "important_data_determination": {"assessment"},
}


def _at_least_as_strict(after: Decision, before: Decision) -> bool:
    if _RANK[after.decision] != _RANK[before.decision]:
        return _RANK[after.decision] < _RANK[before.decision]
    if after.decision != "REQUIRE":
        return True
    asked = set(after.requires)
    return all(kind in asked or asked & _STRONGER.get(kind, set()) for kind in before.requires)


def _grade_up(asset: AssetFacts, to: str) -> AssetFacts:
    if asset.grade is Grade.CORE:
        return asset
    if to == "CORE":
        return dataclasses.replace(asset, grade=Grade.CORE)
    return dataclasses.replace(asset, grade=Grade.IMPORTANT, important_basis=ImportantBasis.NOTIFIED)


@st.composite
def restrictions(draw: st.DrawFn, asset: AssetFacts, exporter: ExporterFacts,
                 request: TransferRequest) -> tuple[str, AssetFacts, ExporterFacts, TransferRequest]:
    """One added restriction: a listed field, a PI category, a pledge, a classification, more volume."""
    more = draw(st.integers(1, 1_200_000))
    kind = draw(st.sampled_from([
        "listed_field", "contains_pi", "sensitive_pi", "minors_pi", "eu_personal_data", "pledged",
        "suspected_important", "important", "core", "state_secret", "subjects", "sensitive_subjects",
        "ytd_subjects", "ytd_sensitive_subjects",
    ]))
    if kind == "listed_field":
        field = draw(st.sampled_from([f for f in LISTED if f not in asset.fields] or LISTED))
        asset = dataclasses.replace(asset, fields=tuple(dict.fromkeys((*asset.fields, field))))
    elif kind in ("contains_pi", "sensitive_pi", "minors_pi", "eu_personal_data", "pledged", "suspected_important",
                  "state_secret"):
        flag: dict[str, Any] = {kind: True}
        asset = dataclasses.replace(asset, **flag)
    elif kind in ("important", "core"):
        asset = _grade_up(asset, "CORE" if kind == "core" else "IMPORTANT")
    elif kind in ("subjects", "sensitive_subjects"):
        request = dataclasses.replace(request, **{kind: getattr(request, kind) + more})
    else:
        ytd = exporter.ytd
        name = kind.removeprefix("ytd_")
        exporter = dataclasses.replace(exporter, ytd=dataclasses.replace(ytd, **{name: getattr(ytd, name) + more}))
    return kind, asset, exporter, request


@SETTINGS
@given(cases(), st.data())
def test_adding_a_restriction_never_makes_a_decision_more_permissive(
    case: tuple[AssetFacts, ExporterFacts, TransferRequest, datetime.date], data: st.DataObject
) -> None:
    asset, exporter, request, now = case
    before = evaluate(asset, exporter, request, POLICY, now)
    kind, asset2, exporter2, request2 = data.draw(restrictions(asset, exporter, request))
    after = evaluate(asset2, exporter2, request2, POLICY, now)
    assert _at_least_as_strict(after, before), (kind, before, after)


@SETTINGS
@given(cases(), st.data())
def test_restrictions_stack(
    case: tuple[AssetFacts, ExporterFacts, TransferRequest, datetime.date], data: st.DataObject
) -> None:
    """Several restrictions added one after another: each step is at least as strict as the last."""
    asset, exporter, request, now = case
    decision = evaluate(asset, exporter, request, POLICY, now)
    for _ in range(data.draw(st.integers(2, 5))):
        kind, asset, exporter, request = data.draw(restrictions(asset, exporter, request))
        stricter = evaluate(asset, exporter, request, POLICY, now)
        assert _at_least_as_strict(stricter, decision), (kind, decision, stricter)
        decision = stricter


_DROPPABLE = ("notice", "separate_consent", "pipia", "guardian_consent", "assessment", "standard_contract",
              "certification", "ftz_usage_filing", "provenance_attestation", "prc_authority_approval",
              "pledgee_consent", "important_data_determination", "gdpr")


@SETTINGS
@given(cases(), st.data())
def test_dropping_evidence_never_allows(
    case: tuple[AssetFacts, ExporterFacts, TransferRequest, datetime.date], data: st.DataObject
) -> None:
    """Dropping evidence never turns REQUIRE or DENY into ALLOW, and never shrinks ``requires``.

    A determination that the data *is* important is a fact about the data (ADR 0006), not evidence
    the exporter offers; withholding it on chain is finding C1 of ADR 0014 and is left out here."""
    asset, exporter, request, now = case
    before = evaluate(asset, exporter, request, POLICY, now)
    names = data.draw(st.lists(st.sampled_from(_DROPPABLE), unique=True, min_size=1))
    determination = request.evidence.important_data_determination
    if determination is not None and determination.important:
        names = [name for name in names if name != "important_data_determination"]
    defaults = {name: getattr(Evidence(), name) for name in names}
    after = evaluate(asset, exporter, _with(request, defaults), POLICY, now)
    assert _at_least_as_strict(after, before), (names, before, after)
    if before.decision != "ALLOW":
        assert after.decision != "ALLOW", (names, before, after)
    if before.decision == after.decision == "REQUIRE":
        assert set(before.requires) <= set(after.requires), (names, before, after)


@SETTINGS
@given(cases())
def test_no_evidence_at_all_never_allows_what_evidence_was_asked_for(
    case: tuple[AssetFacts, ExporterFacts, TransferRequest, datetime.date]
) -> None:
    """With an empty evidence record a decision is ALLOW only if nothing at all was asked for."""
    asset, exporter, request, now = case
    bare = dataclasses.replace(request, evidence=Evidence())
    decision = evaluate(asset, exporter, bare, POLICY, now)
    if decision.decision == "ALLOW":
        assert decision.requires == () and not (set(decision.rules) & {"R15", "R16", "R17", "R18", "G2"})


RULE_IDS = frozenset({"P1", "R01", "R02", "R03", "R04", "R05", "R06", "R07", "R08", "R09", "R10", "R10b", "R10c",
                      "R11", "R11b", "R12", "R13a", "R13b", "R13c", "R14", "R15", "R16", "R17", "R18", "B1",
                      "G0", "G1", "G2"})
_EVALUATION_ORDER = ("P1", "G1", "G0", "R01", "R02", "R03", "R04", "R11", "R11b", "R05", "R06", "R07", "R08",
                     "R09", "R12", "R10", "R10b", "R13a", "R13b", "R13c", "R14", "B1", "R15", "R16", "R17", "R18",
                     "G2")


def test_rule_ids_are_the_ones_rules_md_defines() -> None:
    """RULE_IDS is RULES.md's table (plus the scope rule P1), read from the copy in tests/data (a fact)."""
    import re
    from pathlib import Path

    rules_md = Path(__file__).resolve().parents[1] / "data" / "crossborder" / "RULES.md"
    text = rules_md.read_text(encoding="utf-8")
    defined = set(re.findall(r"^\| (R\d\d[a-c]?|B\d|G\d) \|", text, flags=re.M)) | set(re.findall(r"\*\*(P\d) ", text))
    assert RULE_IDS <= defined, RULE_IDS - defined
    assert defined - {"P2", "P3"} == RULE_IDS


@SETTINGS
@given(cases())
def test_every_cited_rule_exists_and_is_cited_once_in_order(
    case: tuple[AssetFacts, ExporterFacts, TransferRequest, datetime.date]
) -> None:
    asset, exporter, request, now = case
    decision = evaluate(asset, exporter, request, POLICY, now)
    assert set(decision.rules) <= RULE_IDS, decision
    assert len(set(decision.rules)) == len(decision.rules), decision
    positions = [_EVALUATION_ORDER.index(rule) for rule in decision.rules]
    assert positions == sorted(positions), decision
    assert decision.rules, decision  # every decision cites at least the rule that made it


@st.composite
def ftz_cases(draw: st.DrawFn) -> tuple[AssetFacts, ExporterFacts, TransferRequest, datetime.date]:
    """Cases on the FTZ route: a non-CIIO BJ-FTZ exporter naming a covered scenario, PI in the asset."""
    asset, exporter, request, now = draw(cases())
    asset = dataclasses.replace(asset, contains_pi=True, grade=Grade.GENERAL, important_basis=ImportantBasis.NONE,
                                suspected_important=False, state_secret=False, origin=Origin.CN)
    exporter = dataclasses.replace(exporter, jurisdiction="CN", is_ciio=False, ftz_zone="BJ-FTZ")
    request = dataclasses.replace(
        request, destination=draw(st.sampled_from(["DE", "US", "HK"])), purpose=Purpose.OTHER,
        recipient=dataclasses.replace(request.recipient, type=RecipientType.COMPANY, restricted=False),
        ftz_scenario=draw(st.sampled_from(FTZ_SCENARIOS)),
    )
    return asset, exporter, request, now


@SETTINGS
@given(ftz_cases(), st.data())
def test_adding_a_listed_field_on_the_ftz_route_never_makes_a_decision_more_permissive(
    case: tuple[AssetFacts, ExporterFacts, TransferRequest, datetime.date], data: st.DataObject
) -> None:
    asset, exporter, request, now = case
    before = evaluate(asset, exporter, request, POLICY, now)
    field = data.draw(st.sampled_from(LISTED))
    listed = dataclasses.replace(asset, fields=tuple(dict.fromkeys((*asset.fields, field))))
    after = evaluate(listed, exporter, request, POLICY, now)
    assert _at_least_as_strict(after, before), (field, before, after)
    assert "R10b" in after.rules and "ftz_usage_filing" not in set(before.requires) - set(after.requires), after


@SETTINGS
@given(st.one_of(cases(), ftz_cases()), st.sampled_from(["civil_aviation", "retail", "pharma", "finance", "ai", "x"]))
def test_the_asset_sector_decides_nothing(
    case: tuple[AssetFacts, ExporterFacts, TransferRequest, datetime.date], sector: str
) -> None:
    """RULES.md states no condition on the asset's sector (ADR 0014 finding A1)."""
    asset, exporter, request, now = case
    assert evaluate(dataclasses.replace(asset, sector=sector), exporter, request, POLICY, now) == evaluate(
        asset, exporter, request, POLICY, now)
