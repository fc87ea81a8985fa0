"""On-chain facts → the rule engine's inputs (RULES.md; SCENARIOS.md "On chain the same facts come from state").

The transfer contract never trusts a request for what state knows: the asset's classification and
pledge come from its record, the exporter's jurisdiction, zone and CIIO flag from its organisation
record and its year-to-date counters from ``xfer/ytd/<org>``, the recipient's type and restricted
flag from the recipient organisation, and regulator evidence from decisions registered through
governance (``gov/decision/rec/<id>``), re-read at every evaluation. Only what the exporter itself
vouches for (PIPL notice, consent, PIPIA, provenance attestation, GDPR safeguard) is declared.

Evidence mapping (decision kind → ``Evidence`` field; a decision counts only for its holder):

==============================  ==================================================================
``assessment``                  ``Assessment(status, issued, expires, scope.recipients,
                                scope.purposes, scope.max_subjects, extension_filed)``; a status
                                other than PENDING/PASSED/FAILED/REVOKED is read as PENDING (R15)
``standard_contract``           ``StandardContract(effective, filing_id, ends, scope.recipients)``;
                                status FAILED/REVOKED/ENDED/PENDING → absent (R16)
``certification``               ``Certification(issued, expires, scope.recipients)``; status
                                FAILED/REVOKED/ENDED/PENDING → absent (R17)
``ftz_usage_filing``            its id, if not FAILED/REVOKED/ENDED/PENDING, not expired, and its
                                zone (when given) is the exporter's zone
``important_data_determination`` ``(id, important)`` if its ``reference`` names the asset id,
                                ``important`` is set and it is decided (not PENDING, not lapsed)
``prc_authority_approval``      its id (R03: DSL Art 36, PIPL Art 41), if PASSED or VALID, not
                                expired, and ``scope.recipients`` (when given) names the recipient
==============================  ==================================================================

Pure: no I/O, no clock. Dates are Asia/Shanghai calendar dates of the block timestamp (UTC+8 with
integer arithmetic, see :func:`chain.contracts.registry.shanghai_date`).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from typing import Any

from chain import codec, statekeys
from chain.contracts.base import Context
from chain.contracts.registry import shanghai_date
from chain.crossborder.model import (
    Assessment,
    AssessmentStatus,
    AssetFacts,
    Certification,
    Evidence,
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
from chain.errors import ContractError, ValidationError

DECISION_SLOTS = (
    "assessment", "standard_contract", "certification", "ftz_usage_filing", "important_data_determination",
    "prc_authority_approval",
)
"""Regulator decision kinds (governance ``DECISION_KINDS``) the contract maps into ``Evidence``."""
ATTESTATIONS = ("notice", "separate_consent", "pipia", "guardian_consent", "provenance_attestation")
"""Evidence the exporter declares itself (a reference to its own document; recorded with the signer)."""
_LAPSED = ("FAILED", "REVOKED", "ENDED")

RECIPIENT_TYPES = {
    "COMPANY": RecipientType.COMPANY,
    "EXCHANGE": RecipientType.COMPANY,
    "BANK": RecipientType.COMPANY,
    "APPRAISER": RecipientType.COMPANY,
    "AFFILIATE": RecipientType.AFFILIATE,
    "GOVERNMENT": RecipientType.GOVERNMENT,
    "REGULATOR": RecipientType.GOVERNMENT,
    "CUSTOMS": RecipientType.GOVERNMENT,
    "FOREIGN_JUDICIAL": RecipientType.FOREIGN_JUDICIAL,
    "FOREIGN_LAW_ENFORCEMENT": RecipientType.FOREIGN_LAW_ENFORCEMENT,
}
"""Organisation type → recipient type (R03): every type of governance ``ORG_TYPES``, named. A type
not listed is never read as a company (that would skip R03): :func:`recipient` refuses it (ADR 0014)."""


def block_date(timestamp_ms: int) -> datetime.date:
    """The Asia/Shanghai calendar date of a block timestamp (RULES.md: dates are Shanghai dates)."""
    year, month, day = shanghai_date(timestamp_ms)
    return datetime.date(year, month, day)


# --- the policy in force -----------------------------------------------------------------------------

_POLICY_CACHE: dict[str, Policy] = {}
_POLICY_CACHE_SIZE = 8


def parse_policy_text(text: str) -> Policy:
    """The :class:`Policy` of a stored canonical JSON text (memoised: a pure function of the text)."""
    policy = _POLICY_CACHE.get(text)
    if policy is None:
        policy = Policy.from_json(json.loads(text))
        if len(_POLICY_CACHE) >= _POLICY_CACHE_SIZE:
            _POLICY_CACHE.pop(next(iter(_POLICY_CACHE)))
        _POLICY_CACHE[text] = policy
    return policy


_DECODED: dict[bytes, Any] = {}
_DECODED_SIZE = 4096


def cached_value(ctx: Context, key: bytes) -> Any:
    """``ctx.get_value(key)`` memoised on the stored bytes (a pure function of them): organisation records
    and the policy are read by every transfer and rarely change."""
    raw = ctx.get(key)
    if raw is None:
        return None
    value = _DECODED.get(raw)
    if value is None:
        value = codec.decode_stored(raw)
        if len(_DECODED) >= _DECODED_SIZE:
            _DECODED.pop(next(iter(_DECODED)))
        _DECODED[raw] = value
    return value


def organisation(ctx: Context, org_id: str) -> dict[str, Any]:
    """An organisation record (a fresh dict; decoding memoised); refusal ``unknown_organisation``."""
    value = cached_value(ctx, statekeys.org_key(org_id))
    if value is None:
        raise ContractError(f"no organisation {org_id}", code="unknown_organisation")
    return codec.dict_from_pairs(value)


def current_policy(ctx: Context) -> tuple[int, Policy]:
    """``(version, policy)`` in force; refusal ``no_policy`` if genesis carried none."""
    version = cached_value(ctx, statekeys.POLICY_CURRENT)
    text = None if version is None else cached_value(ctx, statekeys.policy_key(int(version)))
    if text is None:
        raise ContractError("no cross-border policy is in force", code="no_policy")
    try:
        return int(version), parse_policy_text(str(text))
    except (ValidationError, ValueError) as exc:  # governance validated it: only a corrupt state gets here
        raise ContractError(f"stored policy v{version} is invalid", code="corrupt_state") from exc


# --- asset, exporter, recipient ----------------------------------------------------------------------


def asset_facts(record: Mapping[str, Any]) -> AssetFacts:
    """``AssetFacts`` from an asset record (chain.contracts.assets; same fields as ``queries.asset_facts``)."""
    return AssetFacts(
        grade=Grade(record["grade"]),
        important_basis=ImportantBasis(record["important_basis"]),
        suspected_important=bool(record["suspected_important"]),
        state_secret=bool(record["state_secret"]),
        contains_pi=bool(record["contains_pi"]),
        sensitive_pi=bool(record["sensitive_pi"]),
        minors_pi=bool(record["minors_pi"]),
        origin=Origin(record["origin"]),
        domestic_data_introduced=bool(record["domestic_data_introduced"]),
        eu_personal_data=bool(record["eu_personal_data"]),
        sector=str(record["sector"]),
        fields=tuple(record["fields"]),
        pledged=record["pledge"] is not None,
    )


def read_ytd(ctx: Context, org_id: str, today: datetime.date) -> Ytd:
    """The exporter's counters as stored (``Ytd(today.year, 0, 0)`` if it never sent PI abroad)."""
    value = ctx.get_value(statekeys.transfer_ytd_key(org_id))
    if value is None:
        return Ytd(today.year, 0, 0)
    year, subjects, sensitive = value
    return Ytd(int(year), int(subjects), int(sensitive))


def write_ytd(ctx: Context, org_id: str, ytd: Ytd) -> None:
    ctx.put_value(statekeys.transfer_ytd_key(org_id), (ytd.year, ytd.subjects, ytd.sensitive_subjects))


def exporter_facts(org: Mapping[str, Any], ytd: Ytd) -> ExporterFacts:
    """``ExporterFacts`` from an organisation record and its counters."""
    return ExporterFacts(id=str(org["id"]), jurisdiction=str(org["jurisdiction"]), is_ciio=bool(org["ciio"]),
                         ftz_zone=org["zone"], ytd=ytd)


def recipient(org: Mapping[str, Any]) -> Recipient:
    """The recipient organisation as the engine sees it: its type (R03) and restricted flag (R04)."""
    kind = RECIPIENT_TYPES.get(str(org["type"]))
    if kind is None:
        raise ContractError(f"organisation {org['id']} has unknown type {org['type']!r}", code="corrupt_state")
    return Recipient(id=str(org["id"]), type=kind, restricted=bool(org["restricted"]))


# --- evidence ----------------------------------------------------------------------------------------


def _date(text: Any) -> datetime.date | None:
    return None if text is None else datetime.date.fromisoformat(str(text))


def _scope(decision: Mapping[str, Any]) -> dict[str, Any]:
    raw = decision.get("scope")
    return {"recipients": (), "purposes": (), "max_subjects": None} if raw is None else codec.dict_from_pairs(raw)


def _assessment(d: Mapping[str, Any]) -> Assessment:
    scope = _scope(d)
    status = d["status"] if d["status"] in AssessmentStatus.__members__ else "PENDING"
    issued, expires = _date(d["issued"]), _date(d["expires"])
    assert issued is not None and expires is not None  # governance requires both for assessments
    return Assessment(
        status=AssessmentStatus(status), issued=issued, expires=expires, recipients=tuple(scope["recipients"]),
        purposes=tuple(Purpose(p) for p in scope["purposes"]), max_subjects=scope["max_subjects"],
        extension_filed=_date(d.get("extension_filed")),
    )


def _standard_contract(d: Mapping[str, Any]) -> StandardContract | None:
    effective = _date(d["effective"])
    if d["status"] in (*_LAPSED, "PENDING") or effective is None:  # R16: a pending filing is no filing
        return None
    return StandardContract(effective, d.get("filing_id"), _date(d.get("ends")), tuple(_scope(d)["recipients"]))


def _certification(d: Mapping[str, Any]) -> Certification | None:
    issued, expires = _date(d["issued"]), _date(d["expires"])
    if d["status"] in (*_LAPSED, "PENDING") or issued is None or expires is None:
        return None
    return Certification(issued, expires, tuple(_scope(d)["recipients"]))


def _prc_approval(d: Mapping[str, Any], recipient_id: str, today: datetime.date) -> str | None:
    """A competent PRC authority's approval to provide data to a foreign judicial or law-enforcement body
    (R03): granted (PASSED/VALID), not past ``expires``, and for this recipient if it names any."""
    if d["status"] not in ("PASSED", "VALID"):
        return None
    expires = _date(d.get("expires"))
    if expires is not None and today > expires:
        return None
    recipients = _scope(d)["recipients"]
    if recipients and recipient_id not in recipients:
        return None
    return str(d["id"])


def _ftz_filing(d: Mapping[str, Any], exporter: ExporterFacts, today: datetime.date) -> str | None:
    if d["status"] in (*_LAPSED, "PENDING"):
        return None
    expires = _date(d.get("expires"))
    if expires is not None and today > expires:
        return None
    if d.get("zone") is not None and d["zone"] != exporter.ftz_zone:
        return None
    return str(d["id"])


def _determination(d: Mapping[str, Any], asset_id: str) -> ImportantDataDetermination | None:
    if d.get("important") is None or d.get("reference") != asset_id or d["status"] in (*_LAPSED, "PENDING"):
        return None
    return ImportantDataDetermination(str(d["id"]), bool(d["important"]))


def load_decision(ctx: Context, decision_id: str, exporter_id: str) -> dict[str, Any]:
    """A regulator decision usable as this exporter's evidence; refusals ``unknown_decision``,
    ``evidence_not_holder`` (the decision was issued to another organisation), ``bad_evidence``
    (a kind the transfer contract does not take)."""
    decision = ctx.get_record(statekeys.decision_key(decision_id))
    if decision is None:
        raise ContractError(f"no regulator decision {decision_id}", code="unknown_decision")
    if decision["kind"] not in DECISION_SLOTS:
        raise ContractError(f"decision {decision_id} is of kind {decision['kind']}", code="bad_evidence")
    if decision["holder"] != exporter_id:
        raise ContractError(f"decision {decision_id} was issued to {decision['holder']}, not {exporter_id}",
                            code="evidence_not_holder")
    return decision


def gdpr_safeguard(value: Mapping[str, Any] | None) -> GdprSafeguard | None:
    if value is None:
        return None
    return GdprSafeguard(
        mechanism=GdprMechanism(value["mechanism"]), tia=bool(value["tia"]), bcr_id=value.get("bcr_id"),
        art49_ground=value.get("art49_ground"), repetitive=bool(value["repetitive"]),
    )


def evidence(
    ctx: Context,
    *,
    asset_id: str,
    exporter: ExporterFacts,
    recipient_id: str,
    decisions: Mapping[str, str],
    attestations: Mapping[str, Any],
    gdpr: Mapping[str, Any] | None,
    pledgee_consent: bool,
    today: datetime.date,
) -> Evidence:
    """The ``Evidence`` of a transfer on ``today``: decisions re-read from state (a revoked or lapsed
    one stops counting), the exporter's declarations, and the pledgee's consent (its signature)."""
    found: dict[str, Any] = {}
    for kind, decision_id in decisions.items():
        record = ctx.get_record(statekeys.decision_key(decision_id))
        if record is None or record["holder"] != exporter.id or record["kind"] != kind:
            continue
        if kind == "assessment":
            found[kind] = _assessment(record)
        elif kind == "standard_contract":
            found[kind] = _standard_contract(record)
        elif kind == "certification":
            found[kind] = _certification(record)
        elif kind == "ftz_usage_filing":
            found[kind] = _ftz_filing(record, exporter, today)
        elif kind == "prc_authority_approval":
            found[kind] = _prc_approval(record, recipient_id, today)
        else:
            found[kind] = _determination(record, asset_id)
    return Evidence(
        notice=attestations.get("notice") is not None,
        separate_consent=attestations.get("separate_consent") is not None,
        pipia=attestations.get("pipia") is not None,
        guardian_consent=attestations.get("guardian_consent") is not None,
        provenance_attestation=attestations.get("provenance_attestation"),
        pledgee_consent="pledgee-signature" if pledgee_consent else None,
        gdpr=gdpr_safeguard(gdpr),
        **found,
    )


def transfer_request(record: Mapping[str, Any], recipient_org: Mapping[str, Any], found: Evidence) -> TransferRequest:
    """The engine's ``TransferRequest`` for a stored transfer record."""
    return TransferRequest(
        destination=str(record["destination"]), recipient=recipient(recipient_org),
        purpose=Purpose(record["purpose"]), lawful_basis=LawfulBasis(record["lawful_basis"]),
        subjects=int(record["subjects"]), sensitive_subjects=int(record["sensitive_subjects"]),
        ftz_scenario=record["ftz_scenario"], evidence=found,
    )
