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
