"""The cross-border policy document (RULES.md: thresholds, periods and lists are policy data).

A :class:`Policy` is parsed strictly from the JSON document that genesis embeds as version 1 and
governance replaces; the rule engine reads every number and list from it, never from constants.
Invalid documents raise :class:`~chain.errors.ValidationError` (codes as in
:mod:`chain.crossborder.parsing`, plus ``bad_policy`` for documents that are well-typed but
inconsistent, e.g. thresholds out of order).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from chain.crossborder import parsing as p
from chain.crossborder.model import EvidenceKind, Purpose
from chain.errors import ValidationError

PI_EXEMPTION_RULES = ("R07", "R08", "R09")
"""The rule ids a ``pi_exempt_purposes`` entry may name (CBDF Art 5(1)–(3))."""


class CoreDataExport(StrEnum):
    """What R01 does with core data: deny (v1 default [D]) or ask for a security assessment."""

    DENY = "deny"
    ASSESSMENT = "assessment"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """CBDF Art 7(2) and 8 (persons since 1 January, this request included; ``>=`` per P3)."""

    sc_or_cert_subjects: int
    assessment_subjects: int
    assessment_sensitive_subjects: int

    @classmethod
    def from_json(cls, value: Any, where: str = "thresholds") -> Thresholds:
        doc = p.obj(value, where)
        keys = ("sc_or_cert_subjects", "assessment_subjects", "assessment_sensitive_subjects")
        p.check_keys(doc, where, keys)
        out = cls(*(p.count(doc, key, where) for key in keys))
        if not 1 <= out.sc_or_cert_subjects < out.assessment_subjects:
            raise ValidationError(f"{where}: need 1 <= sc_or_cert_subjects < assessment_subjects", code="bad_policy")
        if out.assessment_sensitive_subjects < 1:
            raise ValidationError(f"{where}: assessment_sensitive_subjects must be >= 1", code="bad_policy")
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "sc_or_cert_subjects": self.sc_or_cert_subjects,
            "assessment_subjects": self.assessment_subjects,
            "assessment_sensitive_subjects": self.assessment_sensitive_subjects,
        }


@dataclass(frozen=True, slots=True)
class FtzScenario:
    """One covered scenario of a zone's list: ``sector/scenario``, its listed fields and mechanism."""

    name: str
    sector: str
    listed_fields: frozenset[str]
    listed_order: tuple[str, ...]
    mechanism: EvidenceKind

    @classmethod
    def from_json(cls, name: str, value: Any, where: str) -> FtzScenario:
        sector, slash, rest = name.partition("/")
        if not (sector and slash and rest):
            raise ValidationError(f"{where}: scenario names are 'sector/scenario'", code="bad_policy")
        doc = p.obj(value, where)
        p.check_keys(doc, where, ("listed_fields", "mechanism"))
        mechanism = p.string(doc, "mechanism", where)
        if mechanism not in (EvidenceKind.ASSESSMENT, EvidenceKind.SC_OR_CERT):
            raise ValidationError(f"{where}.mechanism: unknown mechanism {mechanism!r}", code="unknown_mechanism")
        listed = p.string_list(doc, "listed_fields", where)
        return cls(name, sector, frozenset(listed), listed, EvidenceKind(mechanism))

    def to_json(self) -> dict[str, Any]:
        return {"listed_fields": list(self.listed_order), "mechanism": str(self.mechanism)}


@dataclass(frozen=True, slots=True)
class FtzZone:
    """A free-trade zone's data-export negative list (CBDF Art 6)."""

    zone: str
    name: str
    note: str | None
    scenarios: Mapping[str, FtzScenario]

    @classmethod
    def from_json(cls, zone: str, value: Any, where: str) -> FtzZone:
        doc = p.obj(value, where)
        p.check_keys(doc, where, ("name", "scenarios"), ("note",))
        listed = p.obj(doc["scenarios"], f"{where}.scenarios")
        scenarios = {
            name: FtzScenario.from_json(name, item, f"{where}.scenarios.{name}") for name, item in listed.items()
        }
        note = p.string(doc, "note", where) if "note" in doc else None
        return cls(zone, p.string(doc, "name", where), note, MappingProxyType(scenarios))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.note is not None:
            out["note"] = self.note
        out["scenarios"] = {name: item.to_json() for name, item in self.scenarios.items()}
        return out


def _countries(doc: Mapping[str, Any], key: str) -> tuple[str, ...]:
    codes = p.string_list(doc, key, "")
    return tuple(p.country_code(code, f"{key}[{i}]") for i, code in enumerate(codes))


def _purposes(doc: Mapping[str, Any], key: str) -> tuple[Purpose, ...]:
    names = p.string_list(doc, key, "")
    return tuple(p.enum_value(Purpose, name, f"{key}[{i}]", "purpose") for i, name in enumerate(names))


SUPPORTED_TIMEZONE = "Asia/Shanghai"
"""The one timezone a policy may name (China has had no daylight saving since 1991)."""


@dataclass(frozen=True)
class Policy:
    """A validated cross-border policy version; sets and maps are precomputed for the engine."""

    version: int
    timezone: str
    mainland: str
    core_data_export: CoreDataExport
    count_exempt_transfers: bool
    thresholds: Thresholds
    exempt_purpose_order: tuple[Purpose, ...]
    pi_exempt_purposes: Mapping[Purpose, str]
    restricted_recipient_order: tuple[str, ...]
    eu_eea_order: tuple[str, ...]
    eu_adequate_order: tuple[str, ...]
    ftz: Mapping[str, FtzZone]
    exempt_purposes: frozenset[Purpose] = field(init=False, repr=False, compare=False)
    restricted_recipients: frozenset[str] = field(init=False, repr=False, compare=False)
    eu_eea: frozenset[str] = field(init=False, repr=False, compare=False)
    eu_adequate: frozenset[str] = field(init=False, repr=False, compare=False)

    _KEYS = ("version", "timezone", "mainland", "core_data_export", "count_exempt_transfers", "thresholds",
             "exempt_purposes", "pi_exempt_purposes", "restricted_recipients", "eu_eea", "eu_adequate", "ftz")

    def __post_init__(self) -> None:
        object.__setattr__(self, "exempt_purposes", frozenset(self.exempt_purpose_order))
        object.__setattr__(self, "restricted_recipients", frozenset(self.restricted_recipient_order))
        object.__setattr__(self, "eu_eea", frozenset(self.eu_eea_order))
        object.__setattr__(self, "eu_adequate", frozenset(self.eu_adequate_order))

    @classmethod
    def from_json(cls, value: Any) -> Policy:
        """Parse and validate a policy document (strict: unknown or missing keys are errors)."""
        doc = p.obj(value, "policy")
        p.check_keys(doc, "", cls._KEYS)
        version = p.integer(doc, "version", "")
        if version < 1:
            raise ValidationError(f"version: must be >= 1, got {version}", code="bad_policy")
        exempt = _purposes(doc, "exempt_purposes")
        pi_exempt = cls._pi_exemptions(doc["pi_exempt_purposes"])
        if set(exempt) & set(pi_exempt):
            raise ValidationError("exempt_purposes and pi_exempt_purposes overlap", code="bad_policy")
        eu_eea, eu_adequate = _countries(doc, "eu_eea"), _countries(doc, "eu_adequate")
        mainland = p.country(doc, "mainland", "")
        if set(eu_eea) & set(eu_adequate) or mainland in eu_eea or mainland in eu_adequate:
            raise ValidationError("eu_eea, eu_adequate and mainland must be disjoint", code="bad_policy")
        zones = p.obj(doc["ftz"], "ftz")
        timezone = p.string(doc, "timezone", "")
        if timezone != SUPPORTED_TIMEZONE:
            raise ValidationError(
                f"timezone: {timezone!r} is not supported; dates are {SUPPORTED_TIMEZONE} calendar dates (RULES.md),"
                " computed on chain as fixed UTC+8 so every validator agrees without a tz database",
                code="bad_policy",
            )
        return cls(
            version=version,
            timezone=timezone,
            mainland=mainland,
            core_data_export=p.member(CoreDataExport, doc, "core_data_export", "", "core_data_export"),
            count_exempt_transfers=p.boolean(doc, "count_exempt_transfers", ""),
            thresholds=Thresholds.from_json(doc["thresholds"]),
            exempt_purpose_order=exempt,
            pi_exempt_purposes=MappingProxyType(pi_exempt),
            restricted_recipient_order=p.string_list(doc, "restricted_recipients", ""),
            eu_eea_order=eu_eea,
            eu_adequate_order=eu_adequate,
            ftz=MappingProxyType({zone: FtzZone.from_json(zone, item, f"ftz.{zone}") for zone, item in zones.items()}),
        )

    @staticmethod
    def _pi_exemptions(value: Any) -> dict[Purpose, str]:
        doc = p.obj(value, "pi_exempt_purposes")
        out: dict[Purpose, str] = {}
        for name in doc:
            purpose = p.enum_value(Purpose, name, f"pi_exempt_purposes.{name}", "purpose")
            rule = p.string(doc, name, "pi_exempt_purposes")
            if rule not in PI_EXEMPTION_RULES or rule in out.values():
                raise ValidationError(f"pi_exempt_purposes.{name}: rule must be one of R07–R09, once", code="bad_policy")
            out[purpose] = rule
        return out

    def to_json(self) -> dict[str, Any]:
        """The document this policy was parsed from (key and list order kept)."""
        return {
            "version": self.version, "timezone": self.timezone, "mainland": self.mainland,
            "core_data_export": str(self.core_data_export), "count_exempt_transfers": self.count_exempt_transfers,
            "thresholds": self.thresholds.to_json(),
            "exempt_purposes": [str(x) for x in self.exempt_purpose_order],
            "pi_exempt_purposes": {str(k): v for k, v in self.pi_exempt_purposes.items()},
            "restricted_recipients": list(self.restricted_recipient_order),
            "eu_eea": list(self.eu_eea_order), "eu_adequate": list(self.eu_adequate_order),
            "ftz": {zone: item.to_json() for zone, item in self.ftz.items()},
        }

    # --- accessors used by the rules ---

    def is_restricted(self, recipient_id: str) -> bool:
        """On the PIPL Art 42 list kept by governance."""
        return recipient_id in self.restricted_recipients

    def pi_exemption(self, purpose: Purpose) -> str | None:
        """The rule id (R07–R09) that exempts PI sent for ``purpose``, if any."""
        return self.pi_exempt_purposes.get(purpose)

    def ftz_scenario(self, zone: str | None, scenario: str | None) -> FtzScenario | None:
        """The covered scenario of ``zone``'s list, or None when either is unknown or not given."""
        if zone is None or scenario is None:
            return None
        listed = self.ftz.get(zone)
        return None if listed is None else listed.scenarios.get(scenario)

    def gdpr_adequate_or_eea(self, country: str) -> bool:
        """A GDPR destination needing no Chapter V tool: EU/EEA or an Art 45 adequacy decision."""
        return country in self.eu_eea or country in self.eu_adequate
