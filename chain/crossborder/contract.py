"""The ``crossborder`` transfer contract (DESIGN.md §7–8; RULES.md; ADR 0007).

==================  =========================================  ======================================
method              who signs                                  states (from → to)
==================  =========================================  ======================================
request             a member of the exporter: the asset's      → RELEASED (ALLOW: nothing to show),
                    owner organisation or an organisation      PENDING_EVIDENCE (REQUIRE), DENIED
                    with an unexpired licence on it (+ the
                    pledgee, as its consent)
attach_evidence     an exporter member and/or the pledgee      PENDING_EVIDENCE, CLEARED → CLEARED,
                                                               PENDING_EVIDENCE or DENIED
customs_review      a ``customs`` role holder                  CLEARED → RELEASED (approve, after a
                                                               re-evaluation that still ALLOWs) or
                                                               DENIED (deny)
delivered           the serving node's validator key, in the   RELEASED, ACKNOWLEDGED (unchanged; one
                    exporter's jurisdiction (ADR 0022)         entry per complete delivery)
acknowledge         a member of the recipient organisation,    RELEASED → ACKNOWLEDGED
                    after a delivery, with its chunk root
revoke              an exporter member (before release) or     PENDING_EVIDENCE, CLEARED (exporter);
                    an authority quorum                        + RELEASED (authority) → REVOKED
==================  =========================================  ======================================

Every evaluation runs :func:`chain.crossborder.rules.evaluate` on facts read from state (see
:mod:`chain.crossborder.facts`), on the Asia/Shanghai date of the block, under the policy version in
force, and records ``decision, requires, rules, path, policy_version, date`` on the transfer.
``REQUESTED`` is the state a request is in while it is evaluated; it is never stored, because the
evaluation happens in the same transaction.

**Customs review** is for transfers that needed evidence: customs checks what was attached. A
transfer the rules ALLOW at once (exempt, domestic, unrestricted foreign sender) is released at
once. **Counters** (RULES.md P2) move at release — when the data may leave — with
:func:`chain.crossborder.counters.ytd_after` on the releasing evaluation, so neither an
unacknowledged transfer nor a split request escapes a threshold. Customs approval re-evaluates
(counters and evidence may have moved since clearance) and is refused ``stale_clearance`` unless the
result is still ALLOW; the exporter then refreshes it with ``attach_evidence``.

**Events**: each method emits one ``crossborder.transfer_<action>`` event on the **asset**
(subject = asset id, ``prev`` = the asset's last event, through :func:`chain.contracts.assets.touch`),
so the asset's provenance chain includes every decision and acknowledgement; the transfer record
(``xfer/rec/<id>``) and its numbered steps (``xfer/step/<id>/<n>``) keep its own history.

**Transfer id** = lowercase hex ``SHA-256(b"silkport/transfer/v1" || tx_hash)``: one transfer per
transaction, computable by the client before submission (:func:`transfer_id_for`).
"""

from __future__ import annotations

from typing import Any

from chain import codec, statekeys
from chain.contracts import assets
from chain.contracts.assets import ASSET_ID_PATTERN, MAX_SUBJECTS
from chain.contracts.base import (
    Bool,
    Bytes,
    Context,
    ContractRegistry,
    Country,
    Int,
    List,
    PublicKey,
    Record,
    Schema,
    Str,
)
from chain.contracts.callers import Callers
from chain.contracts.governance import ID_PATTERN, PURPOSES
from chain.crossborder import facts
from chain.crossborder.counters import carried_over, ytd_after
from chain.crossborder.model import Decision, LawfulBasis, Outcome
from chain.crossborder.rules import evaluate
from chain.errors import ContractError

CONTRACT = "crossborder"
CUSTOMS = Callers.role("customs")
MEMBER = Callers.member()
AUTHORITY = Callers.authority_quorum()

REQUESTED, PENDING_EVIDENCE, CLEARED, RELEASED, ACKNOWLEDGED = (
    "REQUESTED", "PENDING_EVIDENCE", "CLEARED", "RELEASED", "ACKNOWLEDGED")
DENIED, REVOKED = "DENIED", "REVOKED"
STATES = (REQUESTED, PENDING_EVIDENCE, CLEARED, RELEASED, ACKNOWLEDGED, DENIED, REVOKED)
LAWFUL_BASES = tuple(b.value for b in LawfulBasis)
TRANSFER_ID_PATTERN = r"[0-9a-f]{64}"
OPTIONAL_FIELDS = ("recipient_node", "ftz_scenario", "gdpr", "pledgee_consent", "released", "released_by",
                   "counted", "acknowledged", "closed_note", "deliveries", "delivered", "delivered_root")
"""Transfer record fields stored only once set (read back as None)."""
REF = Str(max_len=128, pattern=r"\S.{0,127}", optional=True, default=None)

ATTESTATIONS = Schema({name: REF for name in facts.ATTESTATIONS})
NO_ATTESTATIONS: dict[str, Any] = {name: None for name in facts.ATTESTATIONS}
GDPR = Schema(
    {
        "mechanism": Str(max_len=8, choices=("SCC", "BCR", "ART49")),
        "tia": Bool(optional=True, default=False),
        "bcr_id": REF,
        "art49_ground": REF,
        "repetitive": Bool(optional=True, default=False),
    }
)
DECISION_IDS = List(Str(max_len=64, pattern=ID_PATTERN), max_items=len(facts.DECISION_SLOTS), unique=True,
                    optional=True, default=())
TRANSFER_ID = Str(max_len=64, pattern=TRANSFER_ID_PATTERN)

REQUEST = Schema(
    {
        "asset_id": Str(max_len=64, pattern=ASSET_ID_PATTERN),
        "recipient": Str(max_len=64, pattern=ID_PATTERN),
        "recipient_node": PublicKey(optional=True, default=None),
        "destination": Country(),
        "purpose": Str(max_len=32, choices=PURPOSES),
        "lawful_basis": Str(max_len=16, choices=LAWFUL_BASES),
        "subjects": Int(maximum=MAX_SUBJECTS, optional=True, default=0),
        "sensitive_subjects": Int(maximum=MAX_SUBJECTS, optional=True, default=0),
        "ftz_scenario": Str(max_len=96, pattern=r"[a-z0-9_]{1,47}/[a-z0-9_]{1,47}", optional=True, default=None),
        "decisions": DECISION_IDS,
        "attestations": Record(ATTESTATIONS, optional=True, default=NO_ATTESTATIONS),
        "gdpr": Record(GDPR, optional=True, default=None),
    }
)
ATTACH = Schema(
    {
        "transfer_id": TRANSFER_ID,
        "decisions": DECISION_IDS,
        "attestations": Record(ATTESTATIONS, optional=True, default=NO_ATTESTATIONS),
        "gdpr": Record(GDPR, optional=True, default=None),
    }
)
REVIEW = Schema({"transfer_id": TRANSFER_ID, "approve": Bool(), "note": Str(max_len=512, optional=True, default="")})
ACKNOWLEDGE = Schema({"transfer_id": TRANSFER_ID, "content_hash": Bytes(size=32), "chunk_root": Bytes(size=32)})
DELIVERED = Schema({"transfer_id": TRANSFER_ID, "chunk_root": Bytes(size=32), "bytes": Int(),
                    "recipient_key": PublicKey()})
MAX_DELIVERIES = 256
"""Deliveries recorded per transfer (resumes and re-fetches); beyond, ``too_many_deliveries``."""
VALIDATOR = Callers.validator()
REVOKE = Schema({"transfer_id": TRANSFER_ID, "reason": Str(max_len=512, optional=True, default="")})


def transfer_id_for(tx_hash: bytes) -> str:
    """The id of the transfer requested by the transaction ``tx_hash``."""
    return codec.sha256(b"silkport/transfer/v1" + tx_hash).hex()


# --- records -------------------------------------------------------------------------------------------


def load_transfer(ctx: Context, transfer_id: str) -> dict[str, Any]:
    """The transfer record (nested records as dicts); refusal ``unknown_transfer``."""
    record = ctx.get_record(statekeys.transfer_key(transfer_id))
    if record is None:
        raise ContractError(f"no transfer {transfer_id}", code="unknown_transfer")
    for name in OPTIONAL_FIELDS:
        record.setdefault(name, None)
    for name in ("decision", "decisions", "attestations", "gdpr"):
        if record[name] is not None:
            record[name] = codec.dict_from_pairs(record[name])
    return record


def _sparse(record: dict[str, Any]) -> dict[str, Any]:
    """The record as stored: optional fields that are unset are left out (smaller state, faster encoding)."""
    return {k: v for k, v in record.items() if v is not None or k not in OPTIONAL_FIELDS}


def _require_state(record: dict[str, Any], *allowed: str) -> None:
    if record["state"] not in allowed:
        raise ContractError(f"transfer is {record['state']}; this needs {' or '.join(allowed)}", code="bad_state")


def _member_signer(ctx: Context, org_id: str) -> bytes | None:
    """The first signer that is a member of ``org_id``."""
    for public_key in ctx.signers:
        if ctx.get_value(statekeys.member_key(public_key)) == org_id:
            return public_key
    return None


def _exporting_node(ctx: Context, record: dict[str, Any]) -> bytes:
    """The signing validator, if it stands in the exporter's jurisdiction (the data leaves from there)."""
    validators = {v[0]: v for v in ctx.get_value(statekeys.VALIDATORS) or ()}
    jurisdiction = facts.organisation(ctx, record["exporter"])["jurisdiction"]
    for public_key in ctx.signers:
        if public_key in validators and validators[public_key][3] == jurisdiction:
            return public_key
    raise ContractError(f"no signer is a validator in the exporter's jurisdiction {jurisdiction}",
                        code="not_exporting_node")


def _is_authority(ctx: Context) -> bool:
    return AUTHORITY.refusal(ctx, {}) is None


def _pledgee_signed(ctx: Context, asset: dict[str, Any]) -> bool:
    pledge = assets.pledge_of(asset)
    return pledge is not None and pledge["pledgee"] in ctx.signers


def _exporter_of(ctx: Context, asset: dict[str, Any]) -> str:
    """The requester's organisation if it may export the asset (owner organisation or licensee)."""
    org_id = ctx.get_value(statekeys.member_key(ctx.sender))
    if org_id is None:
        raise ContractError("the requester is not a member of any organisation", code="unknown_member")
    if org_id == asset["owner_org"]:
        return str(org_id)
    for n in range(int(asset["licences"])):
        licence = ctx.get_record(statekeys.licence_key(asset["id"], n))
        if licence is not None and licence["licensee"] == org_id and licence["expires_ms"] > ctx.timestamp_ms:
            return str(org_id)
    raise ContractError(f"{org_id} neither owns nor holds a licence on the asset", code="not_exporter")


def _check_counts(asset: dict[str, Any], subjects: int, sensitive: int) -> None:
    if not asset["contains_pi"] and (subjects or sensitive):
        raise ContractError("subject counts need an asset with personal information", code="inconsistent_counts")
    if sensitive and not asset["sensitive_pi"]:
        raise ContractError("sensitive subjects need an asset with sensitive PI", code="inconsistent_counts")


def _merge_evidence(ctx: Context, record: dict[str, Any], args: dict[str, Any]) -> None:
    """Add the decisions (one per kind: a later one replaces an earlier one), declarations and GDPR tool."""
    decisions = dict(record["decisions"] or {})
    seen: set[str] = set()
    for decision_id in args["decisions"]:
        decision = facts.load_decision(ctx, decision_id, record["exporter"])
        if decision["kind"] in seen:
            raise ContractError(f"two {decision['kind']} decisions in one call", code="duplicate")
        seen.add(decision["kind"])
        decisions[decision["kind"]] = decision_id
    record["decisions"] = decisions
    attestations = dict(record["attestations"] or {})
    attestations.update({k: v for k, v in args["attestations"].items() if v is not None})
    record["attestations"] = attestations
    if args["gdpr"] is not None:
        record["gdpr"] = args["gdpr"]


# --- evaluation ------------------------------------------------------------------------------------------


def engine_inputs(ctx: Context, record: dict[str, Any], asset: dict[str, Any],
                  recipient_org: dict[str, Any] | None = None) -> tuple[Any, ...]:
    """``(asset_facts, exporter_facts, request, policy_version, policy, today)`` of a transfer."""
    today = facts.block_date(ctx.timestamp_ms)
    version, policy = facts.current_policy(ctx)
    exporter_org = facts.organisation(ctx, record["exporter"])
    if recipient_org is None:
        recipient_org = facts.organisation(ctx, record["recipient"])
    exporter = facts.exporter_facts(exporter_org, facts.read_ytd(ctx, record["exporter"], today))
    pledge = assets.pledge_of(asset)
    consented = pledge is not None and record["pledgee_consent"] == pledge["pledgee"]
    found = facts.evidence(
        ctx, asset_id=asset["id"], exporter=exporter, recipient_id=str(recipient_org["id"]),
        decisions=record["decisions"] or {},
        attestations=record["attestations"] or {}, gdpr=record["gdpr"], pledgee_consent=consented, today=today,
    )
    request = facts.transfer_request(record, recipient_org, found)
    return facts.asset_facts(asset), exporter, request, version, policy, today


def _evaluate(ctx: Context, record: dict[str, Any], asset: dict[str, Any],
              recipient_org: dict[str, Any] | None = None) -> tuple[Decision, int, tuple[Any, ...]]:
    inputs = engine_inputs(ctx, record, asset, recipient_org)
    asset_facts, exporter, request, version, policy, today = inputs
    return evaluate(asset_facts, exporter, request, policy, today), version, inputs


def _decision_record(ctx: Context, decision: Decision, version: int) -> dict[str, Any]:
    return {
        "decision": decision.decision.value, "requires": tuple(decision.requires), "rules": tuple(decision.rules),
        "path": decision.path.value, "policy_version": version,
        "date": facts.block_date(ctx.timestamp_ms).isoformat(), "ref": ctx.ref.to_wire(),
    }


def _state_after(decision: Decision, *, at_request: bool) -> str:
    if decision.decision is Outcome.DENY:
        return DENIED
    if decision.decision is Outcome.REQUIRE:
        return PENDING_EVIDENCE
    return RELEASED if at_request else CLEARED


def _release(ctx: Context, record: dict[str, Any], decision: Decision, inputs: tuple[Any, ...], by: str) -> None:
    """RELEASED: the exporter's counters take this transfer in (RULES.md P2, ``counters.ytd_after``)."""
    asset_facts, exporter, request, _, policy, today = inputs
    after = ytd_after(asset_facts, exporter, request, decision, policy, today)
    if after != exporter.ytd:
        facts.write_ytd(ctx, record["exporter"], after)
    record["state"] = RELEASED
    record["released"] = ctx.ref.to_wire()
    record["released_by"] = by
    base = carried_over(exporter.ytd, today)
    record["counted"] = (after.year, after.subjects - base.subjects, after.sensitive_subjects - base.sensitive_subjects)


def _save(ctx: Context, record: dict[str, Any], asset: dict[str, Any], action: str, by: bytes,
          note: str = "", decided: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> None:
    """Write the record and step ``n``; emit ``transfer_<action>`` on the asset's history chain."""
    step = int(record["steps"])
    record["steps"] = step + 1
    record["updated"] = ctx.ref.to_wire()
    ctx.put_record(statekeys.transfer_key(record["id"]), _sparse(record))
    entry: dict[str, Any] = {"n": step, "action": action, "by": by, "state": record["state"], "ref": ctx.ref.to_wire()}
    if note:
        entry["note"] = note
    if decided is not None:
        entry["decision"] = decided
    if extra is not None:
        entry.update(extra)
    ctx.put_record(statekeys.transfer_step_key(record["id"], step), entry)
    data: dict[str, Any] = {"transfer_id": record["id"], "state": record["state"], "step": step}
    if decided is not None:
        data.update({k: decided[k] for k in ("decision", "requires", "rules", "path", "policy_version")})
    if note:
        data["note"] = note
    if extra is not None:
        data.update(extra)
    assets.touch(ctx, asset, CONTRACT, f"transfer_{action}", **data)


def _index(ctx: Context, transfer_id: str, count_key: bytes, item_key: Any) -> None:
    n = int(ctx.get_value(count_key) or 0)
    ctx.put_value(count_key, n + 1)
    ctx.put_value(item_key(n), transfer_id)


# --- methods ---------------------------------------------------------------------------------------------


def register(registry: ContractRegistry) -> None:
    """Add the transfer methods to ``registry``."""
    method = registry.method

    @method(CONTRACT, "request", REQUEST, callers=MEMBER)
    def request(ctx: Context, args: dict[str, Any]) -> None:
        """Exporter member (owner organisation or licensee; + pledgee as consent). Records and evaluates a
        transfer: ALLOW → RELEASED (counters move), REQUIRE → PENDING_EVIDENCE, DENY → DENIED. Refusals
        ``unknown_asset``, ``asset_retired``, ``unknown_member``, ``not_exporter``, ``unknown_organisation``
        (recipient), ``unknown_node``, ``destination_mismatch``, ``inconsistent_counts``, ``unknown_decision``,
        ``evidence_not_holder``, ``bad_evidence``, ``duplicate``, ``bad_country``, ``bad_enum``,
        ``out_of_range``. Emits transfer_requested on the asset."""
        asset = assets.load_active(ctx, args["asset_id"])
        exporter = _exporter_of(ctx, asset)
        recipient_org = facts.organisation(ctx, args["recipient"])
        node = args["recipient_node"]
        if node is not None:
            validators = {v[0]: v for v in ctx.get_value(statekeys.VALIDATORS) or ()}
            if node not in validators:
                raise ContractError("recipient_node is not a validator", code="unknown_node")
            if validators[node][3] != args["destination"]:
                raise ContractError(f"the recipient node is in {validators[node][3]}, not {args['destination']}",
                                    code="destination_mismatch")
        _check_counts(asset, args["subjects"], args["sensitive_subjects"])
        transfer_id = transfer_id_for(ctx.tx_hash)
        seq = int(ctx.get_value(statekeys.TRANSFER_COUNT) or 0)
        record: dict[str, Any] = {
            "id": transfer_id, "seq": seq, "asset_id": asset["id"], "exporter": exporter, "requester": ctx.sender,
            "recipient": args["recipient"], "recipient_node": node, "destination": args["destination"],
            "purpose": args["purpose"], "lawful_basis": args["lawful_basis"], "subjects": args["subjects"],
            "sensitive_subjects": args["sensitive_subjects"], "ftz_scenario": args["ftz_scenario"],
            "decisions": {}, "attestations": {}, "gdpr": None,
            "pledgee_consent": None, "state": REQUESTED, "review_required": False, "decision": None,
            "requested": ctx.ref.to_wire(), "requested_ms": ctx.timestamp_ms, "released": None,
            "released_by": None, "counted": None, "acknowledged": None, "closed_note": None, "steps": 0,
        }
        _merge_evidence(ctx, record, args)
        if _pledgee_signed(ctx, asset):
            record["pledgee_consent"] = assets.pledge_of(asset)["pledgee"]  # type: ignore[index]
        decision, version, inputs = _evaluate(ctx, record, asset, recipient_org)
        decided = _decision_record(ctx, decision, version)
        record["decision"] = decided
        record["state"] = _state_after(decision, at_request=True)
        record["review_required"] = record["state"] == PENDING_EVIDENCE
        if record["state"] == RELEASED:
            _release(ctx, record, decision, inputs, "automatic")
        ctx.put_value(statekeys.TRANSFER_COUNT, seq + 1)
        ctx.put_value(statekeys.transfer_seq_key(seq), transfer_id)
        _index(ctx, transfer_id, statekeys.transfer_by_asset_count_key(asset["id"]),
               lambda n: statekeys.transfer_by_asset_key(asset["id"], n))
        _index(ctx, transfer_id, statekeys.transfer_by_exporter_count_key(exporter),
               lambda n: statekeys.transfer_by_exporter_key(exporter, n))
        _save(ctx, record, asset, "requested", ctx.sender, decided=decided)

    @method(CONTRACT, "attach_evidence", ATTACH, callers=MEMBER)
    def attach_evidence(ctx: Context, args: dict[str, Any]) -> None:
        """Exporter member and/or the asset's pledgee (its signature is its consent). Adds regulator decisions
        (by id), declarations and a GDPR tool, then re-evaluates: ALLOW → CLEARED (customs review next),
        REQUIRE → PENDING_EVIDENCE, DENY → DENIED. Refusals ``unknown_transfer``, ``bad_state``,
        ``not_exporter``, ``asset_retired``, ``unknown_decision``, ``evidence_not_holder``, ``bad_evidence``,
        ``duplicate``. Emits transfer_evidence on the asset."""
        record = load_transfer(ctx, args["transfer_id"])
        _require_state(record, PENDING_EVIDENCE, CLEARED)
        asset = assets.load_active(ctx, record["asset_id"])
        member = _member_signer(ctx, record["exporter"])
        pledgee = _pledgee_signed(ctx, asset)
        if member is None and not pledgee:
            raise ContractError("an exporter member or the pledgee must sign", code="not_exporter")
        if member is None and (args["decisions"] or args["gdpr"] is not None
                               or any(v is not None for v in args["attestations"].values())):
            raise ContractError("only the exporter attaches evidence; the pledgee only consents", code="not_exporter")
        _merge_evidence(ctx, record, args)
        if pledgee:
            record["pledgee_consent"] = assets.pledge_of(asset)["pledgee"]  # type: ignore[index]
        decision, version, _ = _evaluate(ctx, record, asset)
        decided = _decision_record(ctx, decision, version)
        record["decision"] = decided
        record["state"] = _state_after(decision, at_request=False)
        _save(ctx, record, asset, "evidence", member or ctx.sender, decided=decided)

    @method(CONTRACT, "customs_review", REVIEW, callers=CUSTOMS)
    def customs_review(ctx: Context, args: dict[str, Any]) -> None:
        """Customs role. Approve (re-evaluated: must still ALLOW, else ``stale_clearance``; → RELEASED, the
        exporter's counters move) or deny (→ DENIED) a CLEARED transfer, with a note. Refusals
        ``missing_role``, ``unknown_transfer``, ``bad_state``, ``asset_retired``, ``stale_clearance``.
        Emits transfer_reviewed on the asset."""
        record = load_transfer(ctx, args["transfer_id"])
        _require_state(record, CLEARED)
        officer = ctx.signer_with_role("customs")
        if not args["approve"]:
            asset = assets.load(ctx, record["asset_id"])
            record["state"] = DENIED
            record["closed_note"] = args["note"]
            _save(ctx, record, asset, "reviewed", officer, note=args["note"])
            return
        asset = assets.load_active(ctx, record["asset_id"])
        decision, version, inputs = _evaluate(ctx, record, asset)
        if decision.decision is not Outcome.ALLOW:
            raise ContractError(f"re-evaluation gives {decision.decision.value} {list(decision.requires)}",
                                code="stale_clearance")
        decided = _decision_record(ctx, decision, version)
        record["decision"] = decided
        _release(ctx, record, decision, inputs, officer.hex())
        _save(ctx, record, asset, "reviewed", officer, note=args["note"], decided=decided)

    @method(CONTRACT, "delivered", DELIVERED, callers=VALIDATOR)
    def delivered(ctx: Context, args: dict[str, Any]) -> None:
        """The serving node's validator key (ADR 0022): it has sent every chunk of the dataset, sealed to
        ``recipient_key``. Allowed on RELEASED or ACKNOWLEDGED (a re-fetch), by a validator in the exporter's
        jurisdiction, for the asset's ``chunk_root`` and ``size``, to a member of the recipient organisation;
        the state does not change and every delivery is kept (at most :data:`MAX_DELIVERIES`). Refusals
        ``not_validator``, ``unknown_transfer``, ``bad_state``, ``not_exporting_node``, ``no_layout``,
        ``chunk_root_mismatch``, ``size_mismatch``, ``not_recipient``, ``too_many_deliveries``. Emits
        transfer_delivered on the asset."""
        record = load_transfer(ctx, args["transfer_id"])
        _require_state(record, RELEASED, ACKNOWLEDGED)
        node = _exporting_node(ctx, record)
        asset = assets.load(ctx, record["asset_id"])
        if asset.get("chunk_root") is None:
            raise ContractError(f"asset {asset['id']} has no chunk layout on chain", code="no_layout")
        if args["chunk_root"] != asset["chunk_root"]:
            raise ContractError(f"chunk_root {args['chunk_root'].hex()} is not the asset's "
                                f"{asset['chunk_root'].hex()}", code="chunk_root_mismatch")
        if args["bytes"] != asset["size"]:
            raise ContractError(f"bytes {args['bytes']} is not the asset's size {asset['size']}", code="size_mismatch")
        if ctx.get_value(statekeys.member_key(args["recipient_key"])) != record["recipient"]:
            raise ContractError(f"recipient_key is not a member of {record['recipient']}", code="not_recipient")
        count = int(record["deliveries"] or 0)
        if count >= MAX_DELIVERIES:
            raise ContractError(f"transfer already has {MAX_DELIVERIES} deliveries", code="too_many_deliveries")
        record["deliveries"] = count + 1
        record["delivered"] = ctx.ref.to_wire()
        record["delivered_root"] = args["chunk_root"]
        delivery = {"chunk_root": args["chunk_root"], "bytes": args["bytes"], "recipient_key": args["recipient_key"],
                    "node": node, "delivery": count}
        _save(ctx, record, asset, "delivered", node, extra=delivery)

    @method(CONTRACT, "acknowledge", ACKNOWLEDGE, callers=MEMBER)
    def acknowledge(ctx: Context, args: dict[str, Any]) -> None:
        """A member of the recipient organisation. Confirms receipt of a RELEASED, delivered transfer with the
        content hash (the asset's) and the chunk root (the delivered one) → ACKNOWLEDGED. Refusals
        ``unknown_transfer``, ``bad_state``, ``not_recipient``, ``not_delivered``, ``chunk_root_mismatch``,
        ``content_mismatch``. Emits transfer_acknowledged on the asset."""
        record = load_transfer(ctx, args["transfer_id"])
        _require_state(record, RELEASED)
        member = _member_signer(ctx, record["recipient"])
        if member is None:
            raise ContractError(f"a member of {record['recipient']} must sign", code="not_recipient")
        if not record["deliveries"]:
            raise ContractError("no delivery of this transfer is recorded; fetch the data first",
                                code="not_delivered")
        if args["chunk_root"] != record["delivered_root"]:
            raise ContractError(f"chunk_root {args['chunk_root'].hex()} is not the delivered chunk root "
                                f"{record['delivered_root'].hex()}", code="chunk_root_mismatch")
        asset = assets.load(ctx, record["asset_id"])
        if args["content_hash"] != asset["content_hash"]:
            raise ContractError("content_hash is not the asset's", code="content_mismatch")
        record["state"] = ACKNOWLEDGED
        record["acknowledged"] = ctx.ref.to_wire()
        _save(ctx, record, asset, "acknowledged", member, note=args["content_hash"].hex(),
              extra={"chunk_root": args["chunk_root"]})

    @method(CONTRACT, "revoke", REVOKE, callers=Callers.any_of(MEMBER, AUTHORITY, code="not_exporter"))
    def revoke(ctx: Context, args: dict[str, Any]) -> None:
        """An exporter member before release (PENDING_EVIDENCE, CLEARED), or an authority quorum (also
        RELEASED). → REVOKED; counters are not given back (released data has left). Refusals
        ``unknown_transfer``, ``bad_state``, ``not_exporter``. Emits transfer_revoked on the asset."""
        record = load_transfer(ctx, args["transfer_id"])
        if _is_authority(ctx):
            _require_state(record, PENDING_EVIDENCE, CLEARED, RELEASED)
            by = ctx.sender
        else:
            member = _member_signer(ctx, record["exporter"])
            if member is None:
                raise ContractError("an exporter member or an authority quorum must sign", code="not_exporter")
            _require_state(record, PENDING_EVIDENCE, CLEARED)
            by = member
        asset = assets.load(ctx, record["asset_id"])
        record["state"] = REVOKED
        record["closed_note"] = args["reason"]
        _save(ctx, record, asset, "revoked", by, note=args["reason"])
