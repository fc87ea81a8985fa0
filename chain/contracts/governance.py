"""The ``governance`` contract: the port authority's transactions (DESIGN.md §1, §7).

Every method needs an **authority quorum**: at least ``threshold`` distinct keys of the genesis
authority set (state ``gov/authorities`` = ``(threshold, (key, ...))``) among the signers
(declared as ``Callers.authority_quorum()``, checked before the handler; refusal ``no_quorum``).

========================  ==================================================  ===========================
method                    effect                                              event (subject)
========================  ==================================================  ===========================
register_organisation     new organisation record (+ list sequence entry)     organisation_registered (id)
update_organisation       replace name/jurisdiction/zone/CIIO/type/restricted organisation_updated (id)
add_member                public key -> organisation                          member_added (org id)
remove_member             forget a key's membership                           member_removed (org id)
grant_role / revoke_role  add / remove one of :data:`ROLES` for a key          role_granted / role_revoked
add_validator             append to the pending validator set                 validator_added
remove_validator          drop from the pending validator set                 validator_removed
rotate_validator_key      replace a validator's key, same position            validator_rotated
update_policy             cross-border policy version current+1               policy_updated
register_decision         a regulator decision readable by id                 decision_registered (id)
set_decision_status       change a decision's status (revocation, extension)  decision_status_set (id)
========================  ==================================================  ===========================

Validator changes write the **whole new set** to ``gov/validators/pending`` as
``((public_key, name, organisation, jurisdiction), ...)``; successive changes in one epoch compose
(each starts from the pending set if there is one). The host moves it to ``gov/validators`` at
the next checkpoint boundary (DESIGN.md §5). A change leaving no validator is refused
(``validator_set_empty``), as is a key already in the set (``duplicate_validator``).
"""

from __future__ import annotations

import json
from typing import Any

from chain import codec, statekeys
from chain.contracts.base import (
    Bool,
    Context,
    ContractRegistry,
    Country,
    Date,
    Int,
    List,
    Overlay,
    PublicKey,
    Record,
    Schema,
    Str,
)
from chain.contracts.callers import Callers
from chain.errors import ContractError, ValidationError

CONTRACT = "governance"
AUTHORITY = Callers.authority_quorum()

ROLES = ("registrar", "appraiser", "lender", "customs", "member")
"""Roles a key can hold; a method's :class:`~chain.contracts.callers.Callers` names the one it needs."""

ORG_TYPES = (
    "EXCHANGE", "COMPANY", "AFFILIATE", "BANK", "APPRAISER", "CUSTOMS", "GOVERNMENT", "REGULATOR",
    "FOREIGN_JUDICIAL", "FOREIGN_LAW_ENFORCEMENT",
)
DECISION_KINDS = (
    "assessment", "standard_contract", "certification", "ftz_usage_filing", "important_data_determination",
    "prc_authority_approval",
)
DECISION_STATUSES = ("PENDING", "PASSED", "FAILED", "REVOKED", "FILED", "VALID", "ENDED")
PURPOSES = (
    "intl_trade", "cross_border_transport", "academic", "multinational_mfg", "marketing",
    "contract_with_individual", "hr", "emergency", "other",
)
ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}"
ZONE_PATTERN = r"[A-Z]{2}-[A-Z0-9]{2,16}"
MAX_POLICY_CHARS = 60_000

ORGANISATION = Schema(
    {
        "id": Str(max_len=64, pattern=ID_PATTERN),
        "name": Str(max_len=128),
        "jurisdiction": Country(),
        "zone": Str(max_len=19, pattern=ZONE_PATTERN, optional=True, default=None),
        "ciio": Bool(optional=True, default=False),
        "type": Str(max_len=32, choices=ORG_TYPES),
        "restricted": Bool(optional=True, default=False),
    }
)


# --- records shared with genesis --------------------------------------------------------------------


def put_organisation(ctx: Context, org: dict[str, Any], *, new: bool) -> None:
    """Write an organisation record; a new one also gets the next list sequence number."""
    key = statekeys.org_key(org["id"])
    existing = ctx.get_record(key)
    if new and existing is not None:
        raise ContractError(f"organisation {org['id']} already exists", code="duplicate_organisation")
    if not new and existing is None:
        raise ContractError(f"no organisation {org['id']}", code="unknown_organisation")
    if existing is None:
        seq = int(ctx.get_value(statekeys.ORG_COUNT) or 0)
        ctx.put_value(statekeys.ORG_COUNT, seq + 1)
        ctx.put_value(statekeys.org_seq_key(seq), org["id"])
        registered = ctx.ref.to_wire()
    else:
        seq, registered = existing["seq"], existing["registered"]
    ctx.put_record(key, {**org, "seq": seq, "registered": registered, "updated": ctx.ref.to_wire()})


def require_organisation(ctx: Context, org_id: str) -> dict[str, Any]:
    org = ctx.get_record(statekeys.org_key(org_id))
    if org is None:
        raise ContractError(f"no organisation {org_id}", code="unknown_organisation")
    return org


def set_member(ctx: Context, public_key: bytes, org_id: str) -> None:
    require_organisation(ctx, org_id)
    ctx.put_value(statekeys.member_key(public_key), org_id)


def member_org(ctx: Context, public_key: bytes) -> str:
    """The organisation a key belongs to; refusal ``unknown_member``."""
    org_id = ctx.get_value(statekeys.member_key(public_key))
    if org_id is None:
        raise ContractError(f"key {public_key.hex()[:16]}… is not a member of any organisation", code="unknown_member")
    return str(org_id)


def set_role(ctx: Context, public_key: bytes, role: str, *, grant: bool) -> None:
    held = set(ctx.roles_of(public_key))
    if grant and role in held:
        raise ContractError(f"role {role} is already granted", code="role_already_granted")
    if not grant and role not in held:
        raise ContractError(f"role {role} is not held", code="role_not_granted")
    held = held | {role} if grant else held - {role}
    if held:
        ctx.put_value(statekeys.roles_key(public_key), tuple(sorted(held)))
    else:
        ctx.delete(statekeys.roles_key(public_key))


# --- validators ---------------------------------------------------------------------------------------

ValidatorTuple = tuple[bytes, str, str, str]


def _validator_base(ctx: Context) -> list[ValidatorTuple]:
    value = ctx.get_value(statekeys.PENDING_VALIDATORS)
    if value is None:
        value = ctx.get_value(statekeys.VALIDATORS) or ()
    return [tuple(v) for v in value]


def _write_validators(ctx: Context, validators: list[ValidatorTuple]) -> None:
    if not validators:
        raise ContractError("the validator set cannot be empty", code="validator_set_empty")
    keys = [v[0] for v in validators]
    if len(set(keys)) != len(keys):
        raise ContractError("duplicate validator key", code="duplicate_validator")
    ctx.put_value(statekeys.PENDING_VALIDATORS, tuple(validators))


def _index_of(validators: list[ValidatorTuple], public_key: bytes) -> int:
    for index, validator in enumerate(validators):
        if validator[0] == public_key:
            return index
    raise ContractError(f"{public_key.hex()[:16]}… is not a validator", code="unknown_validator")


# --- policy and decisions -------------------------------------------------------------------------------


def check_policy_document(text: str, version: int) -> str:
    """Parse ``text`` as the policy document of ``version``; return its canonical JSON text."""
    from chain.crossborder.policy import Policy
    from chain.genesis import canonical_json

    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ContractError(f"policy document is not JSON: {exc}", code="bad_policy") from exc
    if not isinstance(document, dict):
        raise ContractError("policy document must be a JSON object", code="bad_policy")
    if document.get("version") != version or isinstance(document.get("version"), bool):
        raise ContractError(f"policy document must have version {version}", code="policy_version")
    try:
        Policy.from_json(document)
    except ValidationError as exc:
        raise ContractError(f"policy document: {exc.message}", code="bad_policy") from exc
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:  # never halt a node
        raise ContractError(f"policy document: {exc}", code="bad_policy") from exc
    return canonical_json(document)


def _check_decision_dates(args: dict[str, Any]) -> None:
    required = {
        "assessment": ("issued", "expires"),
        "certification": ("issued", "expires"),
        "standard_contract": ("effective",),
    }.get(args["kind"], ("issued",))
    for name in required:
        if args[name] is None:
            raise ContractError(f"a {args['kind']} decision needs {name}", code="missing_argument")
    for start, end in (("issued", "expires"), ("effective", "ends")):
        if args[start] is not None and args[end] is not None and args[end] < args[start]:
            raise ContractError(f"{end} is before {start}", code="bad_date_range")


SCOPE = Schema(
    {
        "recipients": List(Str(max_len=64, pattern=ID_PATTERN), max_items=64, unique=True, optional=True, default=()),
        "purposes": List(Str(max_len=32, choices=PURPOSES), max_items=16, unique=True, optional=True, default=()),
        "max_subjects": Int(optional=True, default=None),
    }
)


def register(registry: ContractRegistry) -> None:
    method = registry.method

    @method(CONTRACT, "register_organisation", ORGANISATION, callers=AUTHORITY)
    def register_organisation(ctx: Context, args: dict[str, Any]) -> None:
        """Authority quorum. New organisation; refused ``duplicate_organisation``. Emits organisation_registered."""
        put_organisation(ctx, args, new=True)
        ctx.emit_record(CONTRACT, "organisation_registered", args["id"], None, args)

    @method(CONTRACT, "update_organisation", ORGANISATION, callers=AUTHORITY)
    def update_organisation(ctx: Context, args: dict[str, Any]) -> None:
        """Authority quorum. Replace an organisation's facts; ``unknown_organisation``. Emits organisation_updated."""
        put_organisation(ctx, args, new=False)
        ctx.emit_record(CONTRACT, "organisation_updated", args["id"], None, args)

    member_schema = Schema({"public_key": PublicKey(), "organisation": Str(max_len=64, pattern=ID_PATTERN)})

    @method(CONTRACT, "add_member", member_schema, callers=AUTHORITY)
    def add_member(ctx: Context, args: dict[str, Any]) -> None:
        """Authority quorum. Bind a key to an organisation (moves it if already a member). Emits member_added."""
        set_member(ctx, args["public_key"], args["organisation"])
        ctx.emit(CONTRACT, "member_added", args["organisation"], public_key=args["public_key"])

    @method(CONTRACT, "remove_member", Schema({"public_key": PublicKey()}), callers=AUTHORITY)
    def remove_member(ctx: Context, args: dict[str, Any]) -> None:
        """Authority quorum. Forget a key's membership; ``unknown_member``. Emits member_removed."""
        org_id = member_org(ctx, args["public_key"])
        ctx.delete(statekeys.member_key(args["public_key"]))
        ctx.emit(CONTRACT, "member_removed", org_id, public_key=args["public_key"])

    role_schema = Schema({"public_key": PublicKey(), "role": Str(max_len=16, choices=ROLES)})

    @method(CONTRACT, "grant_role", role_schema, callers=AUTHORITY)
    def grant_role(ctx: Context, args: dict[str, Any]) -> None:
        """Authority quorum. Grant a role; ``role_already_granted``. Emits role_granted."""
        set_role(ctx, args["public_key"], args["role"], grant=True)
        ctx.emit(CONTRACT, "role_granted", public_key=args["public_key"], role=args["role"])

    @method(CONTRACT, "revoke_role", role_schema, callers=AUTHORITY)
    def revoke_role(ctx: Context, args: dict[str, Any]) -> None:
        """Authority quorum. Revoke a role; ``role_not_granted``. Emits role_revoked."""
        set_role(ctx, args["public_key"], args["role"], grant=False)
        ctx.emit(CONTRACT, "role_revoked", public_key=args["public_key"], role=args["role"])

    validator_schema = Schema(
        {
            "public_key": PublicKey(),
            "name": Str(max_len=64, pattern=r".+"),
            "organisation": Str(max_len=64, pattern=r".+"),
            "jurisdiction": Country(),
        }
    )

    @method(CONTRACT, "add_validator", validator_schema, callers=AUTHORITY)
    def add_validator(ctx: Context, args: dict[str, Any]) -> None:
        """Authority quorum. Append a validator to the pending set; ``duplicate_validator``. Emits validator_added."""
        validators = _validator_base(ctx)
        validators.append((args["public_key"], args["name"], args["organisation"], args["jurisdiction"]))
        _write_validators(ctx, validators)
        ctx.emit(CONTRACT, "validator_added", public_key=args["public_key"], size=len(validators))

    @method(CONTRACT, "remove_validator", Schema({"public_key": PublicKey()}), callers=AUTHORITY)
    def remove_validator(ctx: Context, args: dict[str, Any]) -> None:
        """Authority quorum. Drop a validator; ``unknown_validator``, ``validator_set_empty``. Emits validator_removed."""
        validators = _validator_base(ctx)
        del validators[_index_of(validators, args["public_key"])]
        _write_validators(ctx, validators)
        ctx.emit(CONTRACT, "validator_removed", public_key=args["public_key"], size=len(validators))

    @method(CONTRACT, "rotate_validator_key", Schema({"old_key": PublicKey(), "new_key": PublicKey()}), callers=AUTHORITY)
    def rotate_validator_key(ctx: Context, args: dict[str, Any]) -> None:
        """Authority quorum. Replace a validator's key in place; ``unknown_validator``, ``duplicate_validator``.
        Emits validator_rotated."""
        validators = _validator_base(ctx)
        index = _index_of(validators, args["old_key"])
        _, name, organisation, jurisdiction = validators[index]
        validators[index] = (args["new_key"], name, organisation, jurisdiction)
        _write_validators(ctx, validators)
        ctx.emit(CONTRACT, "validator_rotated", old_key=args["old_key"], new_key=args["new_key"], index=index)

    @method(CONTRACT, "update_policy", Schema({"document": Str(max_len=MAX_POLICY_CHARS)}), callers=AUTHORITY)
    def update_policy(ctx: Context, args: dict[str, Any]) -> None:
        """Authority quorum. Store policy version current+1 (canonical JSON); ``bad_policy``, ``policy_version``.
        Emits policy_updated (version, sha256 of the canonical text)."""
        version = int(ctx.get_value(statekeys.POLICY_CURRENT) or 0) + 1
        text = check_policy_document(args["document"], version)
        ctx.put_value(statekeys.POLICY_CURRENT, version)
        ctx.put_value(statekeys.policy_key(version), text)
        ctx.emit(CONTRACT, "policy_updated", version=version, sha256=codec.sha256(text.encode()))

    decision_schema = Schema(
        {
            "id": Str(max_len=64, pattern=ID_PATTERN),
            "kind": Str(max_len=32, choices=DECISION_KINDS),
            "holder": Str(max_len=64, pattern=ID_PATTERN),
            "status": Str(max_len=16, choices=DECISION_STATUSES),
            "issued": Date(optional=True),
            "expires": Date(optional=True),
            "effective": Date(optional=True),
            "ends": Date(optional=True),
            "filing_id": Str(max_len=64, optional=True),
            "extension_filed": Date(optional=True),
            "important": Bool(optional=True),
            "zone": Str(max_len=19, pattern=ZONE_PATTERN, optional=True),
            "scope": Record(SCOPE, optional=True, default={"recipients": (), "purposes": (), "max_subjects": None}),
            "reference": Str(max_len=128, optional=True, default=""),
        }
    )

    @method(CONTRACT, "register_decision", decision_schema, callers=AUTHORITY)
    def register_decision(ctx: Context, args: dict[str, Any]) -> None:
        """Authority quorum. Record a regulator decision (kind, holder organisation, status, dates, scope);
        ``duplicate_decision``, ``unknown_organisation``, ``bad_date_range``. Emits decision_registered."""
        _check_decision_dates(args)
        require_organisation(ctx, args["holder"])
        key = statekeys.decision_key(args["id"])
        if ctx.get_record(key) is not None:
            raise ContractError(f"decision {args['id']} already exists", code="duplicate_decision")
        seq = int(ctx.get_value(statekeys.DECISION_COUNT) or 0)
        ctx.put_value(statekeys.DECISION_COUNT, seq + 1)
        ctx.put_value(statekeys.decision_seq_key(seq), args["id"])
        ctx.put_record(key, {**args, "seq": seq, "registered": ctx.ref.to_wire()})
        ctx.emit(CONTRACT, "decision_registered", args["id"], kind=args["kind"], holder=args["holder"],
                 status=args["status"])

    status_schema = Schema(
        {
            "id": Str(max_len=64, pattern=ID_PATTERN),
            "status": Str(max_len=16, choices=DECISION_STATUSES),
            "expires": Date(optional=True),
            "extension_filed": Date(optional=True),
        }
    )

    @method(CONTRACT, "set_decision_status", status_schema, callers=AUTHORITY)
    def set_decision_status(ctx: Context, args: dict[str, Any]) -> None:
        """Authority quorum. Change a decision's status (and expiry / extension filing date, when given);
        ``unknown_decision``, ``bad_date_range``. Emits decision_status_set."""
        key = statekeys.decision_key(args["id"])
        decision = ctx.get_record(key)
        if decision is None:
            raise ContractError(f"no decision {args['id']}", code="unknown_decision")
        decision["status"] = args["status"]
        for name in ("expires", "extension_filed"):
            if args[name] is not None:
                decision[name] = args[name]
        _check_decision_dates(decision)
        ctx.put_record(key, {**decision, "updated": ctx.ref.to_wire()})
        ctx.emit(CONTRACT, "decision_status_set", args["id"], status=args["status"])


# --- genesis ------------------------------------------------------------------------------------------


def genesis_writes(organisations: list[dict[str, Any]], roles: list[tuple[bytes, str]]) -> dict[bytes, bytes]:
    """State writes seeding organisations (with their member keys) and roles at height 0.

    ``organisations``: dicts with the :data:`ORGANISATION` fields plus ``members`` (public keys);
    ``roles``: ``(public_key, role)`` pairs. Records are exactly those the handlers write.
    """
    overlay = Overlay(lambda key: None)
    ctx = Context(chain_id="", height=0, timestamp_ms=0, tx_index=0, tx_hash=b"", signers=(), state=overlay)
    for entry in organisations:
        members = entry.get("members", ())
        org = ORGANISATION.validate({k: v for k, v in entry.items() if k != "members"})
        put_organisation(ctx, org, new=True)
        for public_key in members:
            set_member(ctx, public_key, org["id"])
    for public_key, role in roles:
        if role not in ROLES:
            raise ContractError(f"unknown role {role!r}", code="bad_enum")
        set_role(ctx, public_key, role, grant=True)
    return {key: value for key, value in overlay.writes.items() if value is not None}
