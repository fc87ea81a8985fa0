"""The classified cross-border transfer rules (``../shared/crossborder/RULES.md``, policy v1).

One small function per rule. A rule returns ``None`` when it does not apply, otherwise a
:class:`Ruling`: a prohibition (``deny``), or the evidence it asks for (an exemption asks for
nothing, or for what it is conditional on). :func:`evaluate` runs them in RULES.md's order — first
DENY wins, REQUIREs add up — and the evidence rules R15–R18 and G2 decide which of the asked
pieces are present and valid on ``now`` (inclusive bounds). Pure: no I/O, no clock, no randomness;
every number and list comes from the :class:`~chain.crossborder.policy.Policy`.

Fail closed (ADR 0014): no condition RULES.md does not state; a missing, unknown or partly
matching fact asks for the evidence that would settle it (or denies), never falls through to an
exemption; every rule and guideline applied — the evidence rules R15–R18 and G2 included — is cited.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass

from chain.crossborder.counters import carries_pi, counts_including, sensitive_in_request
from chain.crossborder.countries import ISO_3166_ALPHA2
from chain.crossborder.model import (
    AssessmentStatus,
    AssetFacts,
    Decision,
    Evidence,
    EvidenceKind,
    ExporterFacts,
    GdprMechanism,
    GdprSafeguard,
    Grade,
    ImportantBasis,
    LawfulBasis,
    Origin,
    Outcome,
    Path,
    RecipientType,
    TransferRequest,
)
from chain.crossborder.policy import CoreDataExport, FtzScenario, Policy

K = EvidenceKind


@dataclass(frozen=True, slots=True)
class Ruling:
    """What one rule decided: a prohibition, or the evidence kinds it asks for."""

    deny: bool = False
    asks: tuple[EvidenceKind, ...] = ()


DENY = Ruling(deny=True)
EXEMPT = Ruling()
ASK_ASSESSMENT = Ruling(asks=(K.ASSESSMENT,))
ASK_SC_OR_CERT = Ruling(asks=(K.SC_OR_CERT,))
_ASK = {kind: Ruling(asks=(kind,)) for kind in EvidenceKind}


@dataclass(frozen=True, slots=True)
class Facts:
    """The inputs of one evaluation plus what every rule derives from them (computed once)."""

    asset: AssetFacts
    exporter: ExporterFacts
    request: TransferRequest
    evidence: Evidence
    policy: Policy
    now: datetime.date
    has_pi: bool
    """The request carries personal information: any PI flag of the asset (EU personal data
    included) or any person counted in the request — a partial fact counts as PI (ADR 0014)."""
    notified: bool
    """Important data notified or published by a regulator (CBDF Art 2)."""
    suspected: bool
    """Suspected important (flagged, or self-graded IMPORTANT) but never notified or published."""
    important: bool
    """Known important data: notified/published, determined important, or core data not denied."""
    n_ns: int
    n_s: int


def facts(
    asset: AssetFacts, exporter: ExporterFacts, request: TransferRequest, policy: Policy, now: datetime.date
) -> Facts:
    """Derive the shared facts of one evaluation (P2 counters included)."""
    evidence = request.evidence
    notified = asset.important_basis is not ImportantBasis.NONE
    determination = evidence.important_data_determination
    important = (
        notified
        or (determination is not None and determination.important)
        or asset.grade is Grade.CORE
    )
    n_ns, n_s = counts_including(exporter.ytd, request, now)
    n_s += sensitive_in_request(asset, request) - request.sensitive_subjects  # P2, ADR 0014 A5
    return Facts(
        asset=asset, exporter=exporter, request=request, evidence=evidence, policy=policy, now=now,
        has_pi=carries_pi(asset, request),
        notified=notified,
        suspected=not notified and (asset.suspected_important or asset.grade is Grade.IMPORTANT),
        important=important, n_ns=n_ns, n_s=n_s,
    )


# --- scope --------------------------------------------------------------------------------------


def p1_mainland_sender(f: Facts) -> bool:
    """P1: the exporter is in mainland China — or its jurisdiction is not an assigned ISO 3166-1 code,
    and then it is judged as one (fail closed, ADR 0014: PRC rules apply, never G0's "unrestricted")."""
    jurisdiction = f.exporter.jurisdiction
    return jurisdiction == f.policy.mainland or jurisdiction not in ISO_3166_ALPHA2


def p1_outbound(f: Facts) -> bool:
    """P1: the exporter is in mainland China and the destination is outside it (HK, MO, TW are outside).
    An unknown destination is outside; an unknown sender's transfer is outbound (fail closed, ADR 0014)."""
    if f.exporter.jurisdiction not in ISO_3166_ALPHA2:
        return True
    return f.exporter.jurisdiction == f.policy.mainland and f.request.destination != f.policy.mainland


# --- prohibitions (no evidence cures them, except a PRC approval for R03) ------------------------


def r01_core_data(f: Facts) -> Ruling | None:
    """R01 — DSL Art 21: core data; policy ``core_data_export`` = deny [D] (or: assessment)."""
    if f.asset.grade is not Grade.CORE:
        return None
    return DENY if f.policy.core_data_export is CoreDataExport.DENY else ASK_ASSESSMENT


def r02_state_secret(f: Facts) -> Ruling | None:
    """R02 — state secrets are outside GB/T 43697 and this policy: never exported through it."""
    return DENY if f.asset.state_secret else None


def r03_foreign_justice(f: Facts) -> Ruling | None:
    """R03 — DSL Art 36, PIPL Art 41: foreign judicial or law-enforcement body without PRC approval."""
    foreign_justice = f.request.recipient.type in (
        RecipientType.FOREIGN_JUDICIAL, RecipientType.FOREIGN_LAW_ENFORCEMENT
    )
    return DENY if foreign_justice and f.evidence.prc_authority_approval is None else None


def r04_restricted_recipient(f: Facts) -> Ruling | None:
    """R04 — PIPL Art 42: recipient flagged or on the policy's ``restricted_recipients`` list."""
    recipient = f.request.recipient
    return DENY if recipient.restricted or f.policy.is_restricted(recipient.id) else None


# --- important data -----------------------------------------------------------------------------


def r11_important_data(f: Facts) -> Ruling | None:
    """R11 — CBDF Art 7(2), SAM Art 4: important data (notified, published or so determined) needs an assessment."""
    if f.asset.grade is Grade.CORE:  # R01 has spoken for core data
        return None
    return ASK_ASSESSMENT if f.important else None


def r11b_suspected_important(f: Facts) -> Ruling | None:
    """R11b — CBDF Art 2 [D review step]: suspected important data needs a regulator's determination."""
    return _ASK[K.IMPORTANT_DATA_DETERMINATION] if f.suspected else None


# --- exemptions that end the PI rules -----------------------------------------------------------


def r05_non_pi_exempt(f: Facts) -> Ruling | None:
    """R05 — CBDF Art 3: trade, transport, academic, manufacturing, marketing data without PI or important data."""
    exempt = f.request.purpose in f.policy.exempt_purposes and not f.has_pi and not f.important
    return EXEMPT if exempt else None


def r06_returned_foreign_data(f: Facts) -> Ruling | None:
    """R06 — CBDF Art 4: data collected abroad, processed in China and sent back with no domestic data added."""
    returned = f.asset.origin is Origin.ABROAD and not f.asset.domestic_data_introduced
    return _ASK[K.PROVENANCE_ATTESTATION] if returned else None


# --- personal information -----------------------------------------------------------------------


def _pi_exemption(f: Facts, rule_id: str) -> Ruling | None:
    return EXEMPT if f.policy.pi_exemption(f.request.purpose) == rule_id else None


def r07_contract_with_individual(f: Facts) -> Ruling | None:
    """R07 — CBDF Art 5(1): PI needed for a contract the individual is party to."""
    return _pi_exemption(f, "R07")


def r08_hr(f: Facts) -> Ruling | None:
    """R08 — CBDF Art 5(2): employee PI for cross-border HR management."""
    return _pi_exemption(f, "R08")


def r09_emergency(f: Facts) -> Ruling | None:
    """R09 — CBDF Art 5(3): emergency to protect life, health or property."""
    return _pi_exemption(f, "R09")


def r12_ciio(f: Facts) -> Ruling | None:
    """R12 — CBDF Art 7(1): a CIIO sending PI or important data needs an assessment (R10, R13c closed)."""
    return ASK_ASSESSMENT if f.exporter.is_ciio and (f.has_pi or f.important) else None


def _ftz_coverage(f: Facts) -> FtzScenario | None:
    """R10's scope: a non-CIIO exporter's zone list covers the request's scenario. Nothing else —
    in particular not the asset's sector (ADR 0014 finding A1: RULES.md states no such condition)."""
    if f.exporter.is_ciio:
        return None
    return f.policy.ftz_scenario(f.exporter.ftz_zone, f.request.ftz_scenario)


def _ftz_listed_mechanisms(f: Facts) -> tuple[EvidenceKind, ...]:
    """The mechanisms named by every entry of the exporter's zone list that lists a field of the asset
    ("a field of the asset is on the list": the zone's list, whichever scenario the request names —
    ADR 0014 finding A2), in list order, without repeats."""
    zone = f.policy.ftz.get(f.exporter.ftz_zone) if f.exporter.ftz_zone is not None else None
    if zone is None or not f.asset.fields:
        return ()
    named: list[EvidenceKind] = []
    for entry in zone.scenarios.values():
        if entry.mechanism not in named and not entry.listed_fields.isdisjoint(f.asset.fields):
            named.append(entry.mechanism)
    return tuple(named)


def r10_ftz_route(f: Facts) -> Ruling | None:
    """R10 — CBDF Art 6, Beijing FTZ measures: covered scenario, no field on the list: usage filing only."""
    if _ftz_coverage(f) is None or _ftz_listed_mechanisms(f):
        return None
    return _ASK[K.FTZ_USAGE_FILING]


def r10b_ftz_listed_field(f: Facts) -> Ruling | None:
    """R10b — Beijing FTZ list: "as R10" (the usage filing), but a field of the asset is on the list: also
    the mechanism(s) the listing entries name (an assessment also covers sc_or_cert, R18). Keeping
    R10's filing means listing a field never lifts a requirement (ADR 0014 finding A3)."""
    if _ftz_coverage(f) is None:
        return None
    named = _ftz_listed_mechanisms(f)
    return Ruling(asks=(*named, K.FTZ_USAGE_FILING)) if named else None


def r10c_ftz_not_covered(f: Facts) -> bool:
    """R10c — an FTZ exporter whose scenario the zone's list does not cover falls through to R13."""
    return f.exporter.ftz_zone is not None and _ftz_coverage(f) is None


def r13a_assessment_thresholds(f: Facts) -> Ruling | None:
    """R13a — CBDF Art 7(2): ``N_ns >= 1,000,000`` or ``N_s >= 10,000`` (policy thresholds, P3)."""
    limits = f.policy.thresholds
    above = f.n_ns >= limits.assessment_subjects or f.n_s >= limits.assessment_sensitive_subjects
    return ASK_ASSESSMENT if f.has_pi and above else None


def r13b_sc_or_cert_thresholds(f: Facts) -> Ruling | None:
    """R13b — CBDF Art 8, SCM, CERT: otherwise ``N_ns >= 100,000`` or any sensitive PI (``N_s >= 1``)."""
    above = f.n_ns >= f.policy.thresholds.sc_or_cert_subjects or f.n_s >= 1
    return ASK_SC_OR_CERT if f.has_pi and above else None


def r13c_below_thresholds(f: Facts) -> Ruling | None:
    """R13c — CBDF Art 5(4): otherwise (below every threshold), or no PI and no important data: exempt."""
    if not f.has_pi:
        return None if f.important else EXEMPT
    below = f.n_ns < f.policy.thresholds.sc_or_cert_subjects and f.n_s == 0
    return EXEMPT if below else None


_R14 = {
    (consent, minors): Ruling(
        asks=(K.NOTICE, K.PIPIA)
        + ((K.SEPARATE_CONSENT,) if consent else ())
        + ((K.GUARDIAN_CONSENT,) if consent and minors else ())
    )
    for consent in (False, True)
    for minors in (False, True)
}


def r14_pi_safeguards(f: Facts) -> Ruling | None:
    """R14 — PIPL Art 13, 29, 31, 39, 55: notice and PIPIA; separate (and guardian) consent on a consent basis."""
    if not f.has_pi:
        return None
    return _R14[f.request.lawful_basis is LawfulBasis.CONSENT, f.asset.minors_pi]


# --- pledged assets -----------------------------------------------------------------------------


def b1_pledged(f: Facts) -> Ruling | None:
    """B1 — [D] by analogy with pledged IP (Civil Code Art 444): moving a pledged asset abroad needs the pledgee."""
    moves_abroad = f.request.destination != f.exporter.jurisdiction
    return _ASK[K.PLEDGEE_CONSENT] if f.asset.pledged and moves_abroad else None


# --- senders outside mainland China (GDPR Chapter V) -------------------------------------------


def g1_gdpr_transfer(f: Facts) -> Ruling | None:
    """G1 — GDPR Art 44–46, Schrems II: EU/EEA exporter, EU personal data, no adequacy: a safeguard."""
    policy = f.policy
    applies = (
        f.exporter.jurisdiction in policy.eu_eea
        and f.asset.eu_personal_data
        and not policy.gdpr_adequate_or_eea(f.request.destination)
    )
    return _ASK[K.GDPR_SAFEGUARD] if applies else None


def g0_foreign_sender(f: Facts) -> Ruling | None:
    """G0 — a sender outside mainland China to which G1 does not apply: nothing in this policy restricts it."""
    return None if g1_gdpr_transfer(f) is not None else EXEMPT


# --- evidence: is an asked piece present and valid on ``now``? ---------------------------------


def _covers(scope: tuple[str, ...], item: str) -> bool:
    return not scope or item in scope


def r15_assessment_valid(f: Facts) -> bool:
    """R15 — CBDF Art 9: PASSED, ``issued <= now <= expires``, scope covers the request; a filed
    but undecided extension does not extend it [D]. ``max_subjects`` bounds ``N_ns + N_s`` [D]."""
    found = f.evidence.assessment
    if found is None or found.status is not AssessmentStatus.PASSED:
        return False
    if not found.issued <= f.now <= found.expires:
        return False
    if not (_covers(found.recipients, f.request.recipient.id) and _covers(found.purposes, f.request.purpose)):
        return False
    return found.max_subjects is None or f.n_ns + f.n_s <= found.max_subjects


def r16_standard_contract_valid(f: Facts) -> bool:
    """R16 — SCM, Filing Guide v2: effective, filed (``filing_id``), not ended, covering the recipient."""
    found = f.evidence.standard_contract
    if found is None or found.filing_id is None or found.effective > f.now:
        return False
    if found.ends is not None and f.now > found.ends:
        return False
    return _covers(found.recipients, f.request.recipient.id)


def r17_certification_valid(f: Facts) -> bool:
    """R17 — CERT (3 years): ``issued <= now <= expires``, covering the recipient; never for CIIOs or important data."""
    found = f.evidence.certification
    if found is None or f.exporter.is_ciio or f.important:
        return False
    return found.issued <= f.now <= found.expires and _covers(found.recipients, f.request.recipient.id)


def r18_sc_or_cert_met(f: Facts) -> bool:
    """R18 [D] — ``sc_or_cert`` is met by a valid standard contract, certification or assessment."""
    return r16_standard_contract_valid(f) or r17_certification_valid(f) or r15_assessment_valid(f)


def g2_derogation_valid(gdpr: GdprSafeguard) -> bool:
    """G2 — GDPR Art 49: a derogation counts only with its ground given and for a non-repetitive transfer.
    A blank ground is no ground (ADR 0014)."""
    return _given(gdpr.art49_ground) and not gdpr.repetitive


def _given(value: str | None) -> bool:
    return value is not None and value.strip() != ""


def gdpr_safeguard_met(f: Facts) -> bool:
    """G1's safeguard: SCC with a transfer impact assessment, BCR with its id, or a G2-valid derogation."""
    gdpr = f.evidence.gdpr
    if gdpr is None:
        return False
    if gdpr.mechanism is GdprMechanism.SCC:
        return gdpr.tia
    if gdpr.mechanism is GdprMechanism.BCR:
        return _given(gdpr.bcr_id)
    return g2_derogation_valid(gdpr)


_MET: dict[EvidenceKind, Callable[[Facts], bool]] = {
    K.ASSESSMENT: r15_assessment_valid,
    K.SC_OR_CERT: r18_sc_or_cert_met,
    K.FTZ_USAGE_FILING: lambda f: f.evidence.ftz_usage_filing is not None,
    K.IMPORTANT_DATA_DETERMINATION: lambda f: f.evidence.important_data_determination is not None,
    K.PROVENANCE_ATTESTATION: lambda f: f.evidence.provenance_attestation is not None,
    K.NOTICE: lambda f: f.evidence.notice,
    K.SEPARATE_CONSENT: lambda f: f.evidence.separate_consent,
    K.PIPIA: lambda f: f.evidence.pipia,
    K.GUARDIAN_CONSENT: lambda f: f.evidence.guardian_consent,
    K.PLEDGEE_CONSENT: lambda f: f.evidence.pledgee_consent is not None,
    K.GDPR_SAFEGUARD: gdpr_safeguard_met,
}


def evidence_met(f: Facts, kind: EvidenceKind) -> bool:
    """Whether the evidence of ``kind`` is present and valid for this request on ``f.now``."""
    return _MET[kind](f)


# --- evaluation ---------------------------------------------------------------------------------

Rule = Callable[[Facts], "Ruling | None"]

PROHIBITIONS: tuple[tuple[str, Rule], ...] = (
    ("R01", r01_core_data),
    ("R02", r02_state_secret),
    ("R03", r03_foreign_justice),
    ("R04", r04_restricted_recipient),
)
PI_EXEMPTIONS: tuple[tuple[str, Rule], ...] = (
    ("R07", r07_contract_with_individual),
    ("R08", r08_hr),
    ("R09", r09_emergency),
)
THRESHOLDS: tuple[tuple[str, Rule], ...] = (
    ("R13a", r13a_assessment_thresholds),
    ("R13b", r13b_sc_or_cert_thresholds),
    ("R13c", r13c_below_thresholds),
)


class _Tally:
    """The rules that decided and the evidence they asked for, in evaluation order."""

    __slots__ = ("rules", "asked")

    def __init__(self) -> None:
        self.rules: list[str] = []
        self.asked: set[EvidenceKind] = set()

    def take(self, rule_id: str, ruling: Ruling | None) -> bool:
        if ruling is None:
            return False
        self.rules.append(rule_id)
        self.asked.update(ruling.asks)
        return True

    def decision(self, f: Facts, path: Path | None = None) -> Decision:
        asked = self.asked
        judged = _evidence_rules(f, asked)
        if K.ASSESSMENT in asked:  # R18 [D]: the assessment that is needed anyway also covers sc_or_cert
            asked.discard(K.SC_OR_CERT)
        missing = tuple(sorted(kind.value for kind in asked if not _MET[kind](f)))
        if path is None:
            path = _path(asked, self.rules)
        outcome = Outcome.REQUIRE if missing else Outcome.ALLOW
        return Decision(outcome, missing, (*self.rules, *judged), path)


def _evidence_rules(f: Facts, asked: set[EvidenceKind]) -> tuple[str, ...]:
    """The evidence rules that judged something for this decision, in RULES.md order (ADR 0014): R15
    for a supplied assessment that is asked (or offered for sc_or_cert), R16/R17 for a supplied contract /
    certification offered for sc_or_cert, R18 when an assessment covers sc_or_cert (asked alongside
    it, or supplied for it), G2 for an Art 49 derogation offered as G1's safeguard (counted or refused)."""
    evidence = f.evidence
    assessment_asked, sc_asked = K.ASSESSMENT in asked, K.SC_OR_CERT in asked
    if not (assessment_asked or sc_asked or K.GDPR_SAFEGUARD in asked):
        return ()
    sc_open = sc_asked and not assessment_asked
    cited: list[str] = []
    if evidence.assessment is not None and (assessment_asked or sc_asked):
        cited.append("R15")
    if sc_open and evidence.standard_contract is not None:
        cited.append("R16")
    if sc_open and evidence.certification is not None:
        cited.append("R17")
    if sc_asked and (assessment_asked or evidence.assessment is not None):
        cited.append("R18")
    gdpr = evidence.gdpr
    if K.GDPR_SAFEGUARD in asked and gdpr is not None and gdpr.mechanism is GdprMechanism.ART49:
        cited.append("G2")
    return tuple(cited)


def _path(asked: set[EvidenceKind], rules: list[str]) -> Path:
    """The strongest mechanism asked for, met or not (RULES.md "Outcome")."""
    if K.ASSESSMENT in asked:
        return Path.ASSESSMENT
    if K.SC_OR_CERT in asked:
        return Path.SC_OR_CERT
    return Path.FTZ if "R10" in rules else Path.EXEMPT


def _personal_information(f: Facts, tally: _Tally) -> None:
    """R07–R09, else R12, else the FTZ route R10/R10b (R10c falls through), else R13a–c; then R14."""
    exempt = any(tally.take(rule_id, rule(f)) for rule_id, rule in PI_EXEMPTIONS)
    if not exempt and not tally.take("R12", r12_ciio(f)):
        # R10c routes on to R13 and decides nothing itself, so it is not cited (RULES.md "Outcome", ADR 0014)
        routed = not r10c_ftz_not_covered(f) and (
            tally.take("R10", r10_ftz_route(f)) or tally.take("R10b", r10b_ftz_listed_field(f))
        )
        if not routed:
            for rule_id, rule in THRESHOLDS:
                if tally.take(rule_id, rule(f)):
                    break
    tally.take("R14", r14_pi_safeguards(f))


def _foreign_sender(f: Facts) -> Decision:
    """A sender outside mainland China: G0–G2 and B1 only (G2 is cited by the evidence step)."""
    tally = _Tally()
    if not tally.take("G1", g1_gdpr_transfer(f)):
        tally.take("G0", g0_foreign_sender(f))
    tally.take("B1", b1_pledged(f))
    return tally.decision(f, Path.FOREIGN)


_DOMESTIC = Decision(Outcome.ALLOW, (), ("P1",), Path.DOMESTIC)


def evaluate(
    asset: AssetFacts, exporter: ExporterFacts, request: TransferRequest, policy: Policy, now: datetime.date
) -> Decision:
    """Decide one transfer request on ``now`` (an Asia/Shanghai calendar date) under ``policy``.

    Order (RULES.md): scope P1 (foreign senders: G0–G2 and B1) → R01–R04 (first DENY wins) →
    R11/R11b → R05 → R06 (ends the PI rules) → PI: R07–R09, else R12, else R10/R10b (R10c: on to
    R13), else R13a–c; R14 → B1 → the evidence rules R15–R18, G2 that judged something.
    ``requires`` is the sorted set of asked evidence not present and valid.
    """
    f = facts(asset, exporter, request, policy, now)
    if not p1_mainland_sender(f):
        return _foreign_sender(f)
    if not p1_outbound(f):
        return _DOMESTIC
    tally = _Tally()
    for rule_id, rule in PROHIBITIONS:
        ruling = rule(f)
        if ruling is not None and ruling.deny:
            return Decision(Outcome.DENY, (), (rule_id,), Path.PROHIBITED)
        tally.take(rule_id, ruling)
    tally.take("R11", r11_important_data(f))
    tally.take("R11b", r11b_suspected_important(f))
    if not (tally.take("R05", r05_non_pi_exempt(f)) or tally.take("R06", r06_returned_foreign_data(f))):
        if f.has_pi:
            _personal_information(f, tally)
        elif not tally.take("R12", r12_ciio(f)):  # R12: a CIIO's important data (cited, ADR 0014)
            tally.take("R13c", r13c_below_thresholds(f))
    tally.take("B1", b1_pledged(f))
    return tally.decision(f)
