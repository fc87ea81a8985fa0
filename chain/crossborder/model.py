"""Inputs and output of the cross-border rule engine (``silkport-crossborder-scenarios/1``).

Frozen dataclasses with exactly the fields of ``SCENARIOS.md``; ``from_json`` parsers are strict
(unknown or missing keys, wrong types — ``true`` is not an integer —, values outside an enumeration,
codes that are not ISO 3166-1 alpha-2, negative counts and impossible date ranges all raise
:class:`~chain.errors.ValidationError` with a specific ``code``, see :mod:`chain.crossborder.parsing`).
``to_json`` gives back the same document. Dates are Asia/Shanghai calendar dates, passed in by
the caller: nothing here reads a clock.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from chain.crossborder import parsing as p
from chain.errors import ValidationError


class Grade(StrEnum):
    """Data grade under GB/T 43697-2024."""

    GENERAL = "GENERAL"
    IMPORTANT = "IMPORTANT"
    CORE = "CORE"


class ImportantBasis(StrEnum):
    """How important data became known as such (CBDF Art 2: notified or published by a regulator)."""

    NONE = "NONE"
    NOTIFIED = "NOTIFIED"
    PUBLISHED = "PUBLISHED"


class Origin(StrEnum):
    """Where the data was collected (CBDF Art 4)."""

    CN = "CN"
    ABROAD = "ABROAD"
    MIXED = "MIXED"


class RecipientType(StrEnum):
    COMPANY = "COMPANY"
    AFFILIATE = "AFFILIATE"
    GOVERNMENT = "GOVERNMENT"
    FOREIGN_JUDICIAL = "FOREIGN_JUDICIAL"
    FOREIGN_LAW_ENFORCEMENT = "FOREIGN_LAW_ENFORCEMENT"


class Purpose(StrEnum):
    INTL_TRADE = "intl_trade"
    CROSS_BORDER_TRANSPORT = "cross_border_transport"
    ACADEMIC = "academic"
    MULTINATIONAL_MFG = "multinational_mfg"
    MARKETING = "marketing"
    CONTRACT_WITH_INDIVIDUAL = "contract_with_individual"
    HR = "hr"
    EMERGENCY = "emergency"
    OTHER = "other"


class LawfulBasis(StrEnum):
    """PIPL Art 13 bases for processing personal information."""

    CONSENT = "CONSENT"
    CONTRACT = "CONTRACT"
    HR = "HR"
    LEGAL_DUTY = "LEGAL_DUTY"
    EMERGENCY = "EMERGENCY"
    OTHER = "OTHER"


class AssessmentStatus(StrEnum):
    """State of a CAC security assessment; only ``PASSED`` counts (R15)."""

    PENDING = "PENDING"
    PASSED = "PASSED"
    FAILED = "FAILED"
    REVOKED = "REVOKED"


class GdprMechanism(StrEnum):
    """GDPR Chapter V tool: Art 46(2)(c) SCC, Art 47 BCR or an Art 49 derogation."""

    SCC = "SCC"
    BCR = "BCR"
    ART49 = "ART49"


class Outcome(StrEnum):
    ALLOW = "ALLOW"
    DENY = "DENY"
    REQUIRE = "REQUIRE"


class Path(StrEnum):
    """The route a request takes (RULES.md "Outcome")."""

    DOMESTIC = "DOMESTIC"
    EXEMPT = "EXEMPT"
    FTZ = "FTZ"
    SC_OR_CERT = "SC_OR_CERT"
    ASSESSMENT = "ASSESSMENT"
    FOREIGN = "FOREIGN"
    PROHIBITED = "PROHIBITED"


class EvidenceKind(StrEnum):
    """The pieces of evidence a REQUIRE decision can ask for."""

    ASSESSMENT = "assessment"
    SC_OR_CERT = "sc_or_cert"
    FTZ_USAGE_FILING = "ftz_usage_filing"
    IMPORTANT_DATA_DETERMINATION = "important_data_determination"
    PROVENANCE_ATTESTATION = "provenance_attestation"
    NOTICE = "notice"
    SEPARATE_CONSENT = "separate_consent"
    PIPIA = "pipia"
    GUARDIAN_CONSENT = "guardian_consent"
    PLEDGEE_CONSENT = "pledgee_consent"
    GDPR_SAFEGUARD = "gdpr_safeguard"


def _date_json(value: datetime.date | None) -> str | None:
    return None if value is None else value.isoformat()


def _check_range(start: datetime.date, end: datetime.date | None, where: str, names: str) -> None:
    if end is not None and end < start:
        raise ValidationError(f"{where}: {names} out of order", code="bad_value")


# --- the asset and the exporter (on chain: from state) ------------------------------------------


@dataclass(frozen=True, slots=True)
class AssetFacts:
    """Classification facts of the data asset being sent (GB/T 43697-2024; on chain: the asset record)."""

    grade: Grade
    important_basis: ImportantBasis
    suspected_important: bool
    state_secret: bool
    contains_pi: bool
    sensitive_pi: bool
    minors_pi: bool
    origin: Origin
    domestic_data_introduced: bool
    eu_personal_data: bool
    sector: str
    fields: tuple[str, ...]
    pledged: bool

    _BOOLS = (
        "suspected_important", "state_secret", "contains_pi", "sensitive_pi", "minors_pi",
        "domestic_data_introduced", "eu_personal_data", "pledged",
    )
    _KEYS = ("grade", "important_basis", "origin", "sector", "fields", *_BOOLS)

    @classmethod
    def from_json(cls, value: Any, where: str = "asset") -> AssetFacts:
        doc = p.obj(value, where)
        p.check_keys(doc, where, cls._KEYS)
        flags = {name: p.boolean(doc, name, where) for name in cls._BOOLS}
        return cls(
            grade=p.member(Grade, doc, "grade", where, "grade"),
            important_basis=p.member(ImportantBasis, doc, "important_basis", where, "important_basis"),
            origin=p.member(Origin, doc, "origin", where, "origin"),
            sector=p.string(doc, "sector", where),
            fields=p.string_list(doc, "fields", where),
            **flags,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "grade": str(self.grade), "important_basis": str(self.important_basis),
            "suspected_important": self.suspected_important, "state_secret": self.state_secret,
            "contains_pi": self.contains_pi, "sensitive_pi": self.sensitive_pi, "minors_pi": self.minors_pi,
            "origin": str(self.origin), "domestic_data_introduced": self.domestic_data_introduced,
            "eu_personal_data": self.eu_personal_data, "sector": self.sector, "fields": list(self.fields),
            "pledged": self.pledged,
        }


@dataclass(frozen=True, slots=True)
class Ytd:
    """The exporter's counters before this request (P2): persons sent abroad in ``year``."""

    year: int
    subjects: int
    sensitive_subjects: int

    @classmethod
    def from_json(cls, value: Any, where: str = "exporter.ytd") -> Ytd:
        doc = p.obj(value, where)
        p.check_keys(doc, where, ("year", "subjects", "sensitive_subjects"))
        year = p.integer(doc, "year", where)
        if not 1 <= year <= 9999:
            raise ValidationError(f"{where}.year: out of range: {year}", code="bad_value")
        return cls(year, p.count(doc, "subjects", where), p.count(doc, "sensitive_subjects", where))

    def to_json(self) -> dict[str, Any]:
        return {"year": self.year, "subjects": self.subjects, "sensitive_subjects": self.sensitive_subjects}


@dataclass(frozen=True, slots=True)
class ExporterFacts:
    """The sending organisation (on chain: its organisation record and counters)."""

    id: str
    jurisdiction: str
    is_ciio: bool
    ftz_zone: str | None
    ytd: Ytd

    @classmethod
    def from_json(cls, value: Any, where: str = "exporter") -> ExporterFacts:
        doc = p.obj(value, where)
        p.check_keys(doc, where, ("id", "jurisdiction", "is_ciio", "ftz_zone", "ytd"))
        return cls(
            id=p.string(doc, "id", where),
            jurisdiction=p.country(doc, "jurisdiction", where),
            is_ciio=p.boolean(doc, "is_ciio", where),
            ftz_zone=p.optional_string(doc, "ftz_zone", where),
            ytd=Ytd.from_json(doc["ytd"], f"{where}.ytd"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "jurisdiction": self.jurisdiction, "is_ciio": self.is_ciio,
            "ftz_zone": self.ftz_zone, "ytd": self.ytd.to_json(),
        }


# --- evidence -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Assessment:
    """A CAC security assessment result (SAM; CBDF Art 9: valid 3 years). Empty lists: not limited."""

    status: AssessmentStatus
    issued: datetime.date
    expires: datetime.date
    recipients: tuple[str, ...]
    purposes: tuple[Purpose, ...]
    max_subjects: int | None
    extension_filed: datetime.date | None

    @classmethod
    def from_json(cls, value: Any, where: str = "evidence.assessment") -> Assessment:
        doc = p.obj(value, where)
        keys = ("status", "issued", "expires", "recipients", "purposes", "max_subjects", "extension_filed")
        p.check_keys(doc, where, keys)
        issued, expires = p.date(doc, "issued", where), p.date(doc, "expires", where)
        _check_range(issued, expires, where, "issued/expires")
        purposes = p.string_list(doc, "purposes", where)
        return cls(
            status=p.member(AssessmentStatus, doc, "status", where, "assessment_status"),
            issued=issued,
            expires=expires,
            recipients=p.string_list(doc, "recipients", where),
            purposes=tuple(
                p.enum_value(Purpose, item, f"{where}.purposes[{i}]", "purpose") for i, item in enumerate(purposes)
            ),
            max_subjects=p.optional_count(doc, "max_subjects", where),
            extension_filed=p.optional_date(doc, "extension_filed", where),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "status": str(self.status), "issued": self.issued.isoformat(), "expires": self.expires.isoformat(),
            "recipients": list(self.recipients), "purposes": [str(x) for x in self.purposes],
            "max_subjects": self.max_subjects, "extension_filed": _date_json(self.extension_filed),
        }


@dataclass(frozen=True, slots=True)
class StandardContract:
    """A PI export standard contract (SCM 2023); counts only once filed (R16)."""

    effective: datetime.date
    filing_id: str | None
    ends: datetime.date | None
    recipients: tuple[str, ...]

    @classmethod
    def from_json(cls, value: Any, where: str = "evidence.standard_contract") -> StandardContract:
        doc = p.obj(value, where)
        p.check_keys(doc, where, ("effective", "filing_id", "ends", "recipients"))
        effective, ends = p.date(doc, "effective", where), p.optional_date(doc, "ends", where)
        _check_range(effective, ends, where, "effective/ends")
        return cls(effective, p.optional_string(doc, "filing_id", where), ends, p.string_list(doc, "recipients", where))

    def to_json(self) -> dict[str, Any]:
        return {
            "effective": self.effective.isoformat(), "filing_id": self.filing_id,
            "ends": _date_json(self.ends), "recipients": list(self.recipients),
        }


@dataclass(frozen=True, slots=True)
class Certification:
    """A PI protection certification for outbound transfer (CERT, 3 years)."""

    issued: datetime.date
    expires: datetime.date
    recipients: tuple[str, ...]

    @classmethod
    def from_json(cls, value: Any, where: str = "evidence.certification") -> Certification:
        doc = p.obj(value, where)
        p.check_keys(doc, where, ("issued", "expires", "recipients"))
        issued, expires = p.date(doc, "issued", where), p.date(doc, "expires", where)
        _check_range(issued, expires, where, "issued/expires")
        return cls(issued, expires, p.string_list(doc, "recipients", where))

    def to_json(self) -> dict[str, Any]:
        return {"issued": self.issued.isoformat(), "expires": self.expires.isoformat(), "recipients": list(self.recipients)}


@dataclass(frozen=True, slots=True)
class ImportantDataDetermination:
    """A regulator's answer on whether suspected data is important data (R11b)."""

    id: str
    important: bool

    @classmethod
    def from_json(cls, value: Any, where: str = "evidence.important_data_determination") -> ImportantDataDetermination:
        doc = p.obj(value, where)
        p.check_keys(doc, where, ("id", "important"))
        return cls(p.string(doc, "id", where), p.boolean(doc, "important", where))

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "important": self.important}


@dataclass(frozen=True, slots=True)
class GdprSafeguard:
    """The GDPR Chapter V tool relied on (G1/G2)."""

    mechanism: GdprMechanism
    tia: bool
    bcr_id: str | None
    art49_ground: str | None
    repetitive: bool

    @classmethod
    def from_json(cls, value: Any, where: str = "evidence.gdpr") -> GdprSafeguard:
        doc = p.obj(value, where)
        p.check_keys(doc, where, ("mechanism", "tia", "bcr_id", "art49_ground", "repetitive"))
        return cls(
            mechanism=p.member(GdprMechanism, doc, "mechanism", where, "gdpr_mechanism"),
            tia=p.boolean(doc, "tia", where),
            bcr_id=p.optional_string(doc, "bcr_id", where),
            art49_ground=p.optional_string(doc, "art49_ground", where),
            repetitive=p.boolean(doc, "repetitive", where),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "mechanism": str(self.mechanism), "tia": self.tia, "bcr_id": self.bcr_id,
            "art49_ground": self.art49_ground, "repetitive": self.repetitive,
        }


@dataclass(frozen=True, slots=True)
class Evidence:
    """Everything attached to a request; whether each piece counts is judged by R15–R18 and G2."""

    notice: bool = False
    separate_consent: bool = False
    pipia: bool = False
    guardian_consent: bool = False
    assessment: Assessment | None = None
    standard_contract: StandardContract | None = None
    certification: Certification | None = None
    ftz_usage_filing: str | None = None
    provenance_attestation: str | None = None
    prc_authority_approval: str | None = None
    pledgee_consent: str | None = None
    important_data_determination: ImportantDataDetermination | None = None
    gdpr: GdprSafeguard | None = None

    _KEYS = ("notice", "separate_consent", "pipia", "guardian_consent", "ftz_usage_filing",
             "provenance_attestation", "prc_authority_approval", "pledgee_consent", "assessment", "standard_contract", "certification",
             "important_data_determination", "gdpr")

    @classmethod
    def from_json(cls, value: Any, where: str = "request.evidence") -> Evidence:
        doc = p.obj(value, where)
        p.check_keys(doc, where, cls._KEYS)

        def nested(key: str, parser: Any) -> Any:
            return None if doc[key] is None else parser(doc[key], f"{where}.{key}")

        return cls(
            notice=p.boolean(doc, "notice", where),
            separate_consent=p.boolean(doc, "separate_consent", where),
            pipia=p.boolean(doc, "pipia", where),
            guardian_consent=p.boolean(doc, "guardian_consent", where),
            ftz_usage_filing=p.optional_string(doc, "ftz_usage_filing", where),
            provenance_attestation=p.optional_string(doc, "provenance_attestation", where),
            prc_authority_approval=p.optional_string(doc, "prc_authority_approval", where),
            pledgee_consent=p.optional_string(doc, "pledgee_consent", where),
            assessment=nested("assessment", Assessment.from_json),
            standard_contract=nested("standard_contract", StandardContract.from_json),
            certification=nested("certification", Certification.from_json),
            important_data_determination=nested("important_data_determination", ImportantDataDetermination.from_json),
            gdpr=nested("gdpr", GdprSafeguard.from_json),
        )

    def to_json(self) -> dict[str, Any]:
        def nested(item: Any) -> Any:
            return None if item is None else item.to_json()

        return {
            "notice": self.notice, "separate_consent": self.separate_consent, "pipia": self.pipia,
            "guardian_consent": self.guardian_consent, "assessment": nested(self.assessment),
            "standard_contract": nested(self.standard_contract), "certification": nested(self.certification),
            "ftz_usage_filing": self.ftz_usage_filing, "provenance_attestation": self.provenance_attestation,
            "prc_authority_approval": self.prc_authority_approval, "pledgee_consent": self.pledgee_consent,
            "important_data_determination": nested(self.important_data_determination), "gdpr": nested(self.gdpr),
        }


# --- the request --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recipient:
    """The foreign party receiving the data; ``restricted`` = flagged under PIPL Art 42."""

    id: str
    type: RecipientType
    restricted: bool

    @classmethod
    def from_json(cls, value: Any, where: str = "request.recipient") -> Recipient:
        doc = p.obj(value, where)
        p.check_keys(doc, where, ("id", "type", "restricted"))
        return cls(
            p.string(doc, "id", where),
            p.member(RecipientType, doc, "type", where, "recipient_type"),
            p.boolean(doc, "restricted", where),
        )

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "type": str(self.type), "restricted": self.restricted}


@dataclass(frozen=True, slots=True)
class TransferRequest:
    """One transfer: where to, to whom, why, how many persons (this request only), with evidence."""

    destination: str
    recipient: Recipient
    purpose: Purpose
    lawful_basis: LawfulBasis
    subjects: int
    sensitive_subjects: int
    ftz_scenario: str | None
    evidence: Evidence

    @classmethod
    def from_json(cls, value: Any, where: str = "request") -> TransferRequest:
        doc = p.obj(value, where)
        keys = ("destination", "recipient", "purpose", "lawful_basis", "subjects", "sensitive_subjects",
                "ftz_scenario", "evidence")
        p.check_keys(doc, where, keys)
        return cls(
            destination=p.country(doc, "destination", where),
            recipient=Recipient.from_json(doc["recipient"], f"{where}.recipient"),
            purpose=p.member(Purpose, doc, "purpose", where, "purpose"),
            lawful_basis=p.member(LawfulBasis, doc, "lawful_basis", where, "lawful_basis"),
            subjects=p.count(doc, "subjects", where),
            sensitive_subjects=p.count(doc, "sensitive_subjects", where),
            ftz_scenario=p.optional_string(doc, "ftz_scenario", where),
            evidence=Evidence.from_json(doc["evidence"], f"{where}.evidence"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "destination": self.destination, "recipient": self.recipient.to_json(), "purpose": str(self.purpose),
            "lawful_basis": str(self.lawful_basis), "subjects": self.subjects,
            "sensitive_subjects": self.sensitive_subjects, "ftz_scenario": self.ftz_scenario,
            "evidence": self.evidence.to_json(),
        }


# --- the output ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    """ALLOW | DENY | REQUIRE; ``requires`` sorted, ``rules`` in the order they decided."""

    decision: Outcome
    requires: tuple[str, ...]
    rules: tuple[str, ...]
    path: Path

    def to_json(self) -> dict[str, Any]:
        return {
            "decision": str(self.decision), "requires": [str(x) for x in self.requires],
            "rules": list(self.rules), "path": str(self.path),
        }
