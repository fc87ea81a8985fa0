"""The ``registry`` contract: data assets and their registration certificates (DESIGN.md §7).

=====================  ===================================  ==========================================
method                 who signs                            event on the asset (subject = asset id)
=====================  ===================================  ==========================================
register               a registrar + the owner key          registered (+ derived on each parent)
update_classification  a registrar                          reclassified (old and new classification)
transfer               owner + new owner (+ pledgee if      transferred
                       pledged)
licence                owner (+ pledgee if pledged and      licensed
                       abroad)
retire                 owner or a registrar                 retired
set_content_layout     owner                                content_layout (chunk_root, chunk_size)
=====================  ===================================  ==========================================

**Content layout** (issue 14, ADR 0018): ``chunk_root`` (RFC 6962 root over the dataset's chunk
hashes, :mod:`chain.dataplane.chunks`) and ``chunk_size`` sit beside ``content_hash`` and ``size``;
they are optional at registration and may be set once later by the owner. An asset without them
keeps its record bytes unchanged (the keys are absent, not null), so older assets and proofs stay
as they were. A node serves a dataset only when its layout is on chain.

**Asset id** = lowercase hex of ``SHA-256(tx_hash || content_hash)``: unique per registering
transaction (a tx registers one asset), computable by the client before submission, and bound to
the content. A content hash can be registered once (``duplicate_content``).

**Certificate number** = ``SP-<year>-<sequence>``: ``year`` is the Asia/Shanghai calendar year of the
block timestamp (UTC+8, China has had no DST since 1991: ``days = (timestamp_ms + 8 h) // 1 day``,
then the proleptic-Gregorian civil-from-days conversion, pure integer arithmetic); ``sequence`` is
the 1-based count of certificates issued that year (state ``asset/cert/<u16 year>``), zero-padded
to 6 digits (more digits once past 999,999). Example: ``SP-2025-000042``.

Owners and new owners must be members of an organisation (``unknown_member``): the owner's
organisation is the exporter the cross-border rules judge. A licence is *abroad* when its flag says
so or the licensee organisation's jurisdiction is not ``CN``.
"""

from __future__ import annotations

from typing import Any

from chain import codec, statekeys
from chain.contracts import assets
from chain.contracts.assets import ASSET_ID_PATTERN, CLASSIFICATION, CLASSIFICATION_FIELDS
from chain.contracts.base import (
    Amount,
    Bool,
    Bytes,
    Context,
    ContractRegistry,
    Int,
    List,
    PublicKey,
    Record,
    Schema,
    Str,
)
from chain.contracts.callers import Callers
from chain.contracts.governance import ID_PATTERN, member_org, require_organisation
from chain.errors import ContractError

MIN_CHUNK_SIZE = 1 << 10  # = chain.dataplane.chunks.MIN_CHUNK_SIZE (contracts import no I/O packages)
MAX_CHUNK_SIZE = 1 << 24  # = chain.dataplane.chunks.MAX_CHUNK_SIZE

CONTRACT = "registry"
REGISTRAR = Callers.role("registrar")
OWNER = Callers.asset_owner()
MS_PER_DAY = 86_400_000
SHANGHAI_OFFSET_MS = 8 * 3_600_000
MAX_ASSET_BYTES = 2**62


def civil_from_days(days: int) -> tuple[int, int, int]:
    """(year, month, day) of ``days`` since 1970-01-01 (H. Hinnant, "chrono-compatible date algorithms")."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (1 if month <= 2 else 0), month, day


def shanghai_date(timestamp_ms: int) -> tuple[int, int, int]:
    """The Asia/Shanghai calendar date of a block timestamp (fixed UTC+8)."""
    return civil_from_days((timestamp_ms + SHANGHAI_OFFSET_MS) // MS_PER_DAY)


def asset_id_for(tx_hash: bytes, content_hash: bytes) -> str:
    return codec.sha256(tx_hash + content_hash).hex()


def issue_certificate(ctx: Context) -> str:
    year = shanghai_date(ctx.timestamp_ms)[0]
    key = statekeys.cert_counter_key(year)
    number = int(ctx.get_value(key) or 0) + 1
    ctx.put_value(key, number)
    return f"SP-{year}-{number:06d}"


REGISTER = Schema(
    {
        "content_hash": Bytes(size=32),
        "size": Int(maximum=MAX_ASSET_BYTES),
        "format": Str(max_len=64, pattern=r"[A-Za-z0-9][A-Za-z0-9.+/_-]{0,63}"),
        "title": Str(max_len=256),
        "description": Str(max_len=2048, optional=True, default=""),
        "owner": PublicKey(),
        "classification": Record(CLASSIFICATION),
        "parents": List(Str(max_len=64, pattern=ASSET_ID_PATTERN), max_items=32, unique=True, optional=True,
                        default=()),
        "chunk_root": Bytes(size=32, optional=True, default=None),
        "chunk_size": Int(minimum=MIN_CHUNK_SIZE, maximum=MAX_CHUNK_SIZE, optional=True, default=None),
    }
)
ASSET_ID = Str(max_len=64, pattern=ASSET_ID_PATTERN)
LAYOUT = Schema(
    {
        "asset_id": ASSET_ID,
        "chunk_root": Bytes(size=32),
        "chunk_size": Int(minimum=MIN_CHUNK_SIZE, maximum=MAX_CHUNK_SIZE),
    }
)


def check_layout(chunk_root: bytes | None, chunk_size: int | None) -> dict[str, Any]:
    """The layout fields to store: both or neither; a power-of-two chunk size; refusal ``bad_layout``."""
    if chunk_root is None and chunk_size is None:
        return {}
    if chunk_root is None or chunk_size is None:
        raise ContractError("chunk_root and chunk_size go together", code="bad_layout")
    if chunk_size & (chunk_size - 1):
        raise ContractError(f"chunk_size {chunk_size} is not a power of two", code="bad_layout")
    return {"chunk_root": chunk_root, "chunk_size": chunk_size}


def register(registry: ContractRegistry) -> None:
    method = registry.method

    @method(CONTRACT, "register", REGISTER, callers=REGISTRAR)
    def register_asset(ctx: Context, args: dict[str, Any]) -> None:
        """Registrar + owner key. Registers an asset, issues its certificate; refusals ``missing_signature``
        (owner), ``unknown_member``, ``duplicate_content``, ``unknown_asset``/``asset_retired`` (parent),
        ``inconsistent_classification``. Emits registered (+ derived on each parent)."""
        owner = args["owner"]
        ctx.require_signer(owner, "owner")
        owner_org = member_org(ctx, owner)
        classification = args["classification"]
        assets.check_classification(classification)
        layout = check_layout(args["chunk_root"], args["chunk_size"])
        content_key = statekeys.asset_content_key(args["content_hash"])
        if ctx.get_value(content_key) is not None:
            raise ContractError("this content is already registered", code="duplicate_content")
        asset_id = asset_id_for(ctx.tx_hash, args["content_hash"])
        parents = [assets.load_active(ctx, parent) for parent in args["parents"]]
        seq = int(ctx.get_value(statekeys.ASSET_COUNT) or 0)
        certificate = issue_certificate(ctx)
        record: dict[str, Any] = {
            "id": asset_id,
            "seq": seq,
            "content_hash": args["content_hash"],
            "size": args["size"],
            **layout,
            "format": args["format"],
            "title": args["title"],
            "description": args["description"],
            **{name: classification[name] for name in CLASSIFICATION_FIELDS},
            "parents": args["parents"],
            "owner": owner,
            "owner_org": owner_org,
            "registrar": ctx.signer_with_role("registrar"),
            "certificate": certificate,
            "registered_ms": ctx.timestamp_ms,
            "registered": ctx.ref.to_wire(),
            "last_event": None,
            "status": assets.ACTIVE,
            "pledge": None,
            "valuation": None,
            "appraisals": 0,
            "licences": 0,
        }
        ctx.put_value(statekeys.ASSET_COUNT, seq + 1)
        ctx.put_value(statekeys.asset_seq_key(seq), asset_id)
        ctx.put_value(content_key, asset_id)
        assets.touch(
            ctx, record, CONTRACT, "registered", certificate=certificate, owner=owner, owner_org=owner_org,
            content_hash=args["content_hash"], parents=args["parents"], grade=classification["grade"],
        )
        for parent in parents:
            assets.touch(ctx, parent, CONTRACT, "derived", child=asset_id)

    reclassify = Schema(
        {"asset_id": ASSET_ID, "classification": Record(CLASSIFICATION), "reason": Str(max_len=512, optional=True,
                                                                                        default="")}
    )

    @method(CONTRACT, "update_classification", reclassify, callers=REGISTRAR)
    def update_classification(ctx: Context, args: dict[str, Any]) -> None:
        """Registrar. Replaces the classification and PI profile; refusals ``unknown_asset``, ``asset_retired``,
        ``inconsistent_classification``. Emits reclassified (old, new, reason)."""
        record = assets.load_active(ctx, args["asset_id"])
        new = args["classification"]
        assets.check_classification(new)
        old = {name: record[name] for name in CLASSIFICATION_FIELDS}
        record.update(new)
        assets.touch(ctx, record, CONTRACT, "reclassified", old=old, new=new, reason=args["reason"])

    transfer_schema = Schema(
        {
            "asset_id": ASSET_ID,
            "new_owner": PublicKey(),
            "price": Amount(optional=True, default=None),
            "currency": Str(max_len=3, pattern=r"[A-Z]{3}", optional=True, default=None),
        }
    )

    @method(CONTRACT, "transfer", transfer_schema, callers=OWNER)
    def transfer(ctx: Context, args: dict[str, Any]) -> None:
        """Owner (sale) + new owner (buyer) co-sign; the pledgee too when pledged (the pledge stays attached).
        Refusals ``unknown_asset``, ``asset_retired``, ``not_owner``, ``missing_signature``, ``same_owner``,
        ``unknown_member``, ``asset_pledged``. Emits transferred."""
        record = assets.load_active(ctx, args["asset_id"])
        new_owner = args["new_owner"]
        if new_owner == record["owner"]:
            raise ContractError("the new owner is the current owner", code="same_owner")
        ctx.require_signer(new_owner, "new owner")
        new_org = member_org(ctx, new_owner)
        assets.require_pledgee_consent(ctx, record, "a transfer")
        if (args["price"] is None) != (args["currency"] is None):
            raise ContractError("price and currency go together", code="bad_amount")
        previous, previous_org = record["owner"], record["owner_org"]
        record["owner"], record["owner_org"] = new_owner, new_org
        assets.touch(ctx, record, CONTRACT, "transferred", previous=previous, previous_org=previous_org,
                     owner=new_owner, owner_org=new_org, price=args["price"], currency=args["currency"])

    licence_schema = Schema(
        {
            "asset_id": ASSET_ID,
            "licensee": Str(max_len=64, pattern=ID_PATTERN),
            "scope": Str(max_len=512),
            "purpose": Str(max_len=128),
            "expires_ms": Int(),
            "abroad": Bool(optional=True, default=False),
        }
    )

    @method(CONTRACT, "licence", licence_schema, callers=OWNER)
    def licence(ctx: Context, args: dict[str, Any]) -> None:
        """Owner (+ pledgee when pledged and the licence is abroad). Grants a use licence to an organisation;
        refusals ``unknown_asset``, ``asset_retired``, ``not_owner``, ``unknown_organisation``, ``bad_expiry``,
        ``asset_pledged``. Emits licensed (licence number n)."""
        record = assets.load_active(ctx, args["asset_id"])
        org = require_organisation(ctx, args["licensee"])
        if args["expires_ms"] <= ctx.timestamp_ms:
            raise ContractError("the licence would already have expired", code="bad_expiry")
        abroad = args["abroad"] or org["jurisdiction"] != "CN"
        if abroad:
            assets.require_pledgee_consent(ctx, record, "a licence abroad")
        number = record["licences"]
        ctx.put_record(
            statekeys.licence_key(record["id"], number),
            {**args, "n": number, "abroad": abroad, "licensor": record["owner"], "licensor_org": record["owner_org"],
             "granted_ms": ctx.timestamp_ms, "ref": ctx.ref.to_wire()},
        )
        record["licences"] = number + 1
        assets.touch(ctx, record, CONTRACT, "licensed", n=number, licensee=args["licensee"], abroad=abroad,
                     purpose=args["purpose"], expires_ms=args["expires_ms"])

    retire_schema = Schema({"asset_id": ASSET_ID, "reason": Str(max_len=512, optional=True, default="")})

    @method(CONTRACT, "retire", retire_schema, callers=Callers.any_of(OWNER, REGISTRAR, code="not_owner"))
    def retire(ctx: Context, args: dict[str, Any]) -> None:
        """Owner or a registrar. Retires the asset for good (it then accepts nothing); refusals
        ``unknown_asset``, ``asset_retired``, ``not_owner``, ``asset_pledged`` (release or enforce first)."""
        record = assets.load_active(ctx, args["asset_id"])
        if record["pledge"] is not None:
            raise ContractError("a pledged asset cannot be retired", code="asset_pledged")
        record["status"] = assets.RETIRED
        assets.touch(ctx, record, CONTRACT, "retired", reason=args["reason"])

    @method(CONTRACT, "set_content_layout", LAYOUT, callers=OWNER)
    def set_content_layout(ctx: Context, args: dict[str, Any]) -> None:
        """Owner. Records the chunk layout of an asset registered without one (once: the chunk root is
        what every node serves and every recipient verifies against). Refusals ``unknown_asset``,
        ``asset_retired``, ``not_owner``, ``bad_layout``, ``layout_already_set``. Emits content_layout."""
        record = assets.load_active(ctx, args["asset_id"])
        if record.get("chunk_root") is not None:
            raise ContractError("the asset's content layout is already recorded", code="layout_already_set")
        record.update(check_layout(args["chunk_root"], args["chunk_size"]))
        assets.touch(ctx, record, CONTRACT, "content_layout", chunk_root=args["chunk_root"],
                     chunk_size=args["chunk_size"])
