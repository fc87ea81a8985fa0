"""``silkport asset ...``, ``silkport pledge ...``, ``silkport appraise``, ``silkport gov ...`` (ADR 0005).

Each write command builds one contract transaction, signs it with every ``--key FILE`` in the order
given (the first key is the sender, whose nonce counts; repeat ``--key`` for co-signers: registrar +
owner, owner + buyer, owner + pledgee, or several authority keys for a governance quorum), submits
it and prints the transaction id. The nonce defaults to the current time in milliseconds (nonces
only need to increase per sender). With ``--wait`` the command waits for the commit and prints the
receipt; a refused transaction (failure receipt) then exits 1 with its error code on stderr.
Public keys are given as 64 hex characters or as the path of a key file.
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chain import codec
from chain.cli.common import add_node_options, client_for, print_fields, print_json, wait_outcome
from chain.cli.status import default_nonce
from chain.contracts.assets import GRADES, IMPORTANT_BASES, ORIGINS
from chain.contracts.governance import DECISION_KINDS, DECISION_STATUSES, ORG_TYPES, PURPOSES, ROLES
from chain.contracts.registry import asset_id_for
from chain.contracts.valuation import METHODS
from chain.crypto import KeyPair, key_file_public_key, load_key_file
from chain.dataplane.chunks import DEFAULT_CHUNK_SIZE
from chain.dataplane.store import summarize_file
from chain.errors import ValidationError
from chain.types import SignedTx, make_tx

HEX_KEY = re.compile(r"^[0-9a-fA-F]{64}$")
MS_PER_DAY = 86_400_000


# --- argument helpers ----------------------------------------------------------------------------------


def public_key(text: str) -> bytes:
    """A public key: 64 hex characters, or a key file whose public key is used."""
    if HEX_KEY.match(text):
        return bytes.fromhex(text)
    return key_file_public_key(text)


def hash_arg(text: str) -> bytes:
    if not HEX_KEY.match(text):
        raise ValidationError(f"{text!r} is not a SHA-256 hash (64 hex characters)")
    return bytes.fromhex(text)


def add_tx_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key", action="append", required=True, metavar="FILE",
                        help="signer key file; repeat for co-signers (the first is the sender)")
    parser.add_argument("--nonce", type=int, default=None, help="sender nonce (default: current time in ms)")
    parser.add_argument("--chain-id", default=None, help="default: the node's chain id")
    parser.add_argument("--valid-until", type=int, default=0, metavar="HEIGHT", help="expiry height (0 = none)")
    parser.add_argument("--wait", action="store_true", help="wait for the commit and show the receipt")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait (max 30)")
    add_node_options(parser)


def receipt_line(info: dict[str, Any]) -> str:
    receipt = info.get("receipt") or {}
    return "ok" if receipt.get("ok") else f"refused: {receipt.get('error_code')}"


def send(args: argparse.Namespace, contract: str, method: str, call: dict[str, Any],
         extra: Callable[[SignedTx], dict[str, Any]] | None = None) -> int:
    """Sign ``contract.method(call)`` with every ``--key``, submit, and (``--wait``) report the receipt."""
    keys: list[KeyPair] = [load_key_file(path) for path in args.key]
    client = client_for(args)
    chain_id = args.chain_id or str(client.status()["chain_id"])
    nonce = args.nonce if args.nonce is not None else default_nonce()
    tx = make_tx(chain_id, contract, method, call, keys, nonce, args.valid_until)
    derived = extra(tx) if extra is not None else {}
    tx_id = client.submit(tx)
    if not args.wait:
        if args.json:
            print_json({"tx_id": tx_id, **derived})
        else:
            print(tx_id)
            for name, value in derived.items():
                print(f"{name}: {value}")
        return 0
    info = client.tx(tx_id, wait=True, timeout=args.timeout)
    accepted = info.get("status") == "committed" and (info.get("receipt") or {}).get("ok")
    if not accepted:
        derived = {}  # an asset id of a refused registration names nothing: never print it
    if args.json:
        print_json({**info, **derived})
    elif info.get("status") == "committed":
        rows: list[tuple[str, Any]] = [("tx_id", tx_id), ("call", f"{contract}.{method}"),
                                       ("height", info.get("height")), ("index", info.get("index")),
                                       ("receipt", receipt_line(info))]
        rows += list(derived.items())
        for event in (info.get("receipt") or {}).get("events") or []:
            certificate = (event.get("data") or {}).get("certificate")
            if certificate:
                rows.append(("certificate", certificate))
        print_fields(rows)
    return wait_outcome(tx_id, info, args.timeout)


# --- assets --------------------------------------------------------------------------------------------

CLASSIFICATION_FLAGS = ("suspected_important", "state_secret", "contains_pi", "sensitive_pi", "minors_pi",
                        "domestic_data_introduced", "eu_personal_data")


def add_classification_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("classification (GB/T 43697-2024) and personal-information profile")
    group.add_argument("--sector", required=True, help="e.g. logistics")
    group.add_argument("--grade", required=True, choices=GRADES)
    group.add_argument("--origin", default="CN", choices=ORIGINS)
    group.add_argument("--important-basis", default="NONE", choices=IMPORTANT_BASES)
    for flag in CLASSIFICATION_FLAGS:
        group.add_argument(f"--{flag.replace('_', '-')}", action="store_true")
    group.add_argument("--subjects", type=int, default=0, help="number of personal-information subjects")
    group.add_argument("--sensitive-subjects", type=int, default=0)
    group.add_argument("--field", action="append", default=[], dest="fields", help="data field name (repeat)")


def classification_of(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"sector": args.sector, "grade": args.grade, "origin": args.origin,
                           "important_basis": args.important_basis, "subjects": args.subjects,
                           "sensitive_subjects": args.sensitive_subjects, "fields": list(args.fields)}
    out.update({flag: getattr(args, flag) for flag in CLASSIFICATION_FLAGS})
    return out


def asset_register(args: argparse.Namespace) -> int:
    layout: dict[str, Any] = {}
    if args.content is not None:
        summary = summarize_file(Path(args.content), args.chunk_size)
        content_hash, size = summary.content_hash, summary.size
        layout = {"chunk_root": summary.chunk_root, "chunk_size": summary.chunk_size}
    elif args.content_hash is not None and args.size is not None:
        content_hash, size = hash_arg(args.content_hash), args.size
    else:
        raise ValidationError("give --content FILE, or --content-hash HEX and --size BYTES")
    if args.owner is None and len(args.key) < 2:
        raise ValidationError("give --owner, or the owner's key as the second --key")
    owner = public_key(args.owner if args.owner is not None else args.key[-1])
    call = {"content_hash": content_hash, "size": size, "format": args.format, "title": args.title,
            "description": args.description, "owner": owner, "classification": classification_of(args),
            "parents": list(args.parent), **layout}
    return send(args, "registry", "register", call,
                lambda tx: {"asset_id": asset_id_for(tx.tx_hash, content_hash)})


def asset_show(args: argparse.Namespace) -> int:
    record = client_for(args).asset(args.asset_id)
    if args.json:
        print_json(record)
        return 0
    pledge = record.get("pledge")
    valuation = record.get("valuation")
    print_fields([
        ("id", record["id"]), ("title", record.get("title")), ("certificate", record.get("certificate")),
        ("status", record.get("status")), ("owner", record.get("owner")), ("owner_org", record.get("owner_org")),
        ("grade", record.get("grade")), ("sector", record.get("sector")), ("origin", record.get("origin")),
        ("contains_pi", record.get("contains_pi")), ("format", record.get("format")), ("size", record.get("size")),
        ("content_hash", record.get("content_hash")), ("parents", ", ".join(record.get("parents") or []) or None),
        ("pledge", None if pledge is None else
         f"{pledge['amount']} {pledge['currency']} to {pledge['pledgee_org']} until {pledge['due_ms']} ms"),
        ("valuation", None if valuation is None else
         f"{valuation['amount']} {valuation['currency']} ({valuation['method']}, {valuation['appraiser_org']})"),
        ("licences", record.get("licences")),
        ("last_event", f"{record['last_event']['height']}:{record['last_event']['tx_index']}"),
    ], title=f"asset {record['id']}")
    return 0


def asset_list(args: argparse.Namespace) -> int:
    owner = public_key(args.owner).hex() if args.owner else None
    page = client_for(args).assets(args.page, args.per_page, owner=owner, owner_org=args.owner_org,
                                   status=args.status, order=args.order, cursor=args.cursor)
    if args.json:
        print_json(page)
        return 0
    for record in page["items"]:
        print(f"{record['id']}  {record['certificate']:<16} {record['status']:<8} {record['grade']:<9} "
              f"{record['owner_org']:<24} {record['title']}")
    shown = f"page {page['page']} of {page['pages']}" if "pages" in page else \
        f"next cursor {page.get('next_cursor')}"
    print(f"{len(page['items'])} of {page['total']} assets ({shown})")
    return 0


def asset_history(args: argparse.Namespace) -> int:
    history = client_for(args).asset_history(args.asset_id)
    if args.json:
        print_json(history)
        return 0
    print(f"asset {history['asset_id']}: {len(history['events'])} events, newest first (complete chain)")
    for event in history["events"]:
        ref = event["ref"]
        data = ", ".join(f"{k}={v}" for k, v in sorted(event["data"].items()) if v not in (None, "", []))
        print(f"  {ref['height']:>6}:{ref['tx_index']:<4} {event['contract']}.{event['name']:<14} "
              f"tx {str(event.get('tx_id'))[:16]}  {data[:120]}")
    lineage = history["lineage"]
    print(f"parents:  {', '.join(lineage['parents']) or '-'}")
    print(f"children: {', '.join(lineage['children']) or '-'}")
    return 0


def asset_transfer(args: argparse.Namespace) -> int:
    call = {"asset_id": args.asset_id, "new_owner": public_key(args.to), "price": args.price, "currency": args.currency}
    return send(args, "registry", "transfer", call)


def expiry_ms(at_ms: int | None, days: float | None, what: str) -> int:
    if at_ms is not None:
        return at_ms
    if days is None:
        raise ValidationError(f"give --{what}-ms or --days")
    return int(time.time() * 1000) + int(days * MS_PER_DAY)


def asset_licence(args: argparse.Namespace) -> int:
    call = {"asset_id": args.asset_id, "licensee": args.licensee, "scope": args.scope, "purpose": args.purpose,
            "expires_ms": expiry_ms(args.expires_ms, args.days, "expires"), "abroad": args.abroad}
    return send(args, "registry", "licence", call)


def asset_retire(args: argparse.Namespace) -> int:
    return send(args, "registry", "retire", {"asset_id": args.asset_id, "reason": args.reason})


def asset_classify(args: argparse.Namespace) -> int:
    call = {"asset_id": args.asset_id, "classification": classification_of(args), "reason": args.reason}
    return send(args, "registry", "update_classification", call)


def appraise(args: argparse.Namespace) -> int:
    if args.report is not None:
        report_hash = codec.sha256(Path(args.report).read_bytes())
    elif args.report_hash is not None:
        report_hash = hash_arg(args.report_hash)
    else:
        raise ValidationError("give --report FILE or --report-hash HEX")
    call = {"asset_id": args.asset_id, "amount": args.amount, "currency": args.currency, "method": args.method,
            "report_hash": report_hash}
    return send(args, "valuation", "appraise", call)


def add_appraise_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("asset_id", metavar="ASSET")
    parser.add_argument("--amount", type=int, required=True, help="integer, minor units (fen, cents)")
    parser.add_argument("--currency", default="CNY")
    parser.add_argument("--method", required=True, choices=METHODS)
    parser.add_argument("--report", metavar="FILE", help="appraisal report (its SHA-256 goes on chain)")
    parser.add_argument("--report-hash", metavar="HEX")
    add_tx_options(parser)
    parser.set_defaults(handler=appraise)


# --- pledges -------------------------------------------------------------------------------------------


def pledge_create(args: argparse.Namespace) -> int:
    call = {"asset_id": args.asset_id, "pledgee": public_key(args.pledgee), "amount": args.amount,
            "currency": args.currency, "due_ms": expiry_ms(args.due_ms, args.days, "due")}
    return send(args, "collateral", "pledge", call)


def pledge_release(args: argparse.Namespace) -> int:
    return send(args, "collateral", "release", {"asset_id": args.asset_id})


def pledge_enforce(args: argparse.Namespace) -> int:
    return send(args, "collateral", "enforce", {"asset_id": args.asset_id})


def pledge_show(args: argparse.Namespace) -> int:
    record = client_for(args).asset(args.asset_id)
    pledge = record.get("pledge")
    if args.json:
        print_json({"asset_id": record["id"], "pledge": pledge})
    elif pledge is None:
        print(f"asset {record['id']} is not pledged")
    else:
        print_fields([("asset_id", record["id"]), *sorted(pledge.items())], title="pledge")
    return 0


# --- governance ----------------------------------------------------------------------------------------


def gov(method: str, build: Any) -> Any:
    def handler(args: argparse.Namespace) -> int:
        return send(args, "governance", method, build(args))

    return handler


def _decision(args: argparse.Namespace) -> dict[str, Any]:
    call = {name: getattr(args, name) for name in ("id", "kind", "holder", "status", "issued", "expires", "effective",
                                                     "ends", "filing_id", "zone", "reference")}
    call["important"] = True if args.important else None
    call["scope"] = {"recipients": list(args.recipient), "purposes": list(args.purpose),
                     "max_subjects": args.max_subjects}
    return {k: v for k, v in call.items() if v is not None}


GOV_COMMANDS: tuple[tuple[str, str, str, Any], ...] = (
    ("org-register", "register_organisation", "register an organisation",
     lambda a: {"id": a.id, "name": a.name, "jurisdiction": a.jurisdiction, "zone": a.zone, "ciio": a.ciio,
                "type": a.type, "restricted": a.restricted}),
    ("role-grant", "grant_role", "grant a role to a key", lambda a: {"public_key": public_key(a.public_key),
                                                                     "role": a.role}),
    ("role-revoke", "revoke_role", "revoke a role from a key", lambda a: {"public_key": public_key(a.public_key),
                                                                          "role": a.role}),
    ("member-add", "add_member", "make a key a member of an organisation",
     lambda a: {"public_key": public_key(a.public_key), "organisation": a.organisation}),
    ("member-remove", "remove_member", "forget a key's membership", lambda a: {"public_key": public_key(a.public_key)}),
    ("validator-add", "add_validator", "add a validator (from the next checkpoint)",
     lambda a: {"public_key": public_key(a.public_key), "name": a.name, "organisation": a.organisation,
                "jurisdiction": a.jurisdiction}),
    ("validator-remove", "remove_validator", "remove a validator (from the next checkpoint)",
     lambda a: {"public_key": public_key(a.public_key)}),
    ("validator-rotate", "rotate_validator_key", "replace a validator's key",
     lambda a: {"old_key": public_key(a.old_key), "new_key": public_key(a.new_key)}),
    ("policy-update", "update_policy", "install the next cross-border policy version",
     lambda a: {"document": Path(a.document).read_text()}),
    ("decision-register", "register_decision", "record a regulator decision", _decision),
)


def _gov_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    if name == "org-register":
        parser.add_argument("--id", required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument("--jurisdiction", required=True, help="ISO 3166-1 alpha-2, e.g. CN, DE")
        parser.add_argument("--type", required=True, choices=ORG_TYPES)
        parser.add_argument("--zone", default=None, help="e.g. BJ-FTZ")
        parser.add_argument("--ciio", action="store_true", help="critical information infrastructure operator")
        parser.add_argument("--restricted", action="store_true")
    elif name in ("role-grant", "role-revoke"):
        parser.add_argument("public_key", metavar="KEY", help="hex public key or key file")
        parser.add_argument("--role", required=True, choices=ROLES)
    elif name == "member-add":
        parser.add_argument("public_key", metavar="KEY", help="hex public key or key file")
        parser.add_argument("--organisation", required=True)
    elif name in ("member-remove", "validator-remove"):
        parser.add_argument("public_key", metavar="KEY", help="hex public key or key file")
    elif name == "validator-add":
        parser.add_argument("public_key", metavar="KEY", help="hex public key or key file")
        parser.add_argument("--name", required=True)
        parser.add_argument("--organisation", required=True)
        parser.add_argument("--jurisdiction", required=True)
    elif name == "validator-rotate":
        parser.add_argument("--old-key", required=True, metavar="KEY")
        parser.add_argument("--new-key", required=True, metavar="KEY")
    elif name == "policy-update":
        parser.add_argument("--document", required=True, metavar="FILE", help="policy JSON, version = current + 1")
    elif name == "decision-register":
        parser.add_argument("--id", required=True)
        parser.add_argument("--kind", required=True, choices=DECISION_KINDS)
        parser.add_argument("--holder", required=True, help="organisation id")
        parser.add_argument("--status", required=True, choices=DECISION_STATUSES)
        for date in ("issued", "expires", "effective", "ends"):
            parser.add_argument(f"--{date}", default=None, metavar="YYYY-MM-DD")
        parser.add_argument("--filing-id", default=None)
        parser.add_argument("--zone", default=None)
        parser.add_argument("--reference", default=None)
        parser.add_argument("--important", action="store_true")
        parser.add_argument("--recipient", action="append", default=[], help="scope: recipient org (repeat)")
        parser.add_argument("--purpose", action="append", default=[], choices=PURPOSES, help="scope (repeat)")
        parser.add_argument("--max-subjects", type=int, default=None)


# --- registration ----------------------------------------------------------------------------------------


def _asset_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("asset_id", metavar="ASSET", help="asset id (64 hex characters)")


def register(commands: Any) -> None:
    """Add the ``asset``, ``pledge``, ``appraise`` and ``gov`` groups."""
    asset = commands.add_parser("asset", help="register, inspect and trade data assets")
    sub = asset.add_subparsers(dest="asset_command", required=True, metavar="COMMAND")
    from chain.cli.proofs import add_prove_asset_command

    add_prove_asset_command(sub, "prove")

    p = sub.add_parser("register", help="register a data asset (sign: registrar + owner)",
                       description="Register a data asset. Sign with the registrar's key and the owner's key "
                       "(--key REGISTRAR --key OWNER; the owner defaults to the last --key). The asset id is "
                       "SHA-256(tx hash || content hash), printed before the commit. The nonce defaults to the "
                       "current time in ms; with --wait a refused registration exits 1 with its error code.")
    p.add_argument("--content", metavar="FILE",
                   help="the data itself: its SHA-256, size and chunk root (ADR 0018) go on chain")
    p.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE, metavar="BYTES",
                   help="chunk size of the chunk tree (power of two, 1 KiB..16 MiB; default 1 MiB)")
    p.add_argument("--content-hash", metavar="HEX")
    p.add_argument("--size", type=int, help="bytes (with --content-hash)")
    p.add_argument("--format", default="csv")
    p.add_argument("--title", required=True)
    p.add_argument("--description", default="")
    p.add_argument("--owner", default=None, metavar="KEY", help="owner key (hex or key file; default: last --key)")
    p.add_argument("--parent", action="append", default=[], metavar="ASSET", help="parent asset of derived data")
    add_classification_options(p)
    add_tx_options(p)
    p.set_defaults(handler=asset_register)

    p = sub.add_parser("show", help="show an asset's record")
    _asset_arg(p)
    add_node_options(p)
    p.set_defaults(handler=asset_show)

    p = sub.add_parser("list", help="list assets (paged)")
    p.add_argument("--page", type=int, default=1)
    p.add_argument("--per-page", type=int, default=20, help="at most 100")
    p.add_argument("--owner", default=None, metavar="KEY")
    p.add_argument("--owner-org", default=None)
    p.add_argument("--status", default=None, choices=("ACTIVE", "RETIRED"))
    p.add_argument("--order", default="oldest", choices=("oldest", "newest"))
    p.add_argument("--cursor", type=int, default=None, help="continue a filtered scan from next_cursor (ADR 0024)")
    add_node_options(p)
    p.set_defaults(handler=asset_list)

    p = sub.add_parser("history", help="every event on an asset back to its registration, and its lineage")
    _asset_arg(p)
    add_node_options(p)
    p.set_defaults(handler=asset_history)

    p = sub.add_parser("transfer", help="sell / transfer ownership (sign: owner + new owner [+ pledgee])")
    _asset_arg(p)
    p.add_argument("--to", required=True, metavar="KEY", help="new owner (hex or key file)")
    p.add_argument("--price", type=int, default=None, help="integer, minor units")
    p.add_argument("--currency", default=None)
    add_tx_options(p)
    p.set_defaults(handler=asset_transfer)

    p = sub.add_parser("licence", help="grant a use licence to an organisation (sign: owner [+ pledgee])")
    _asset_arg(p)
    p.add_argument("--licensee", required=True, help="organisation id")
    p.add_argument("--scope", required=True)
    p.add_argument("--purpose", required=True)
    p.add_argument("--expires-ms", type=int, default=None)
    p.add_argument("--days", type=float, default=None, help="licence length from now")
    p.add_argument("--abroad", action="store_true")
    add_tx_options(p)
    p.set_defaults(handler=asset_licence)

    p = sub.add_parser("retire", help="retire an asset (sign: owner or registrar)")
    _asset_arg(p)
    p.add_argument("--reason", default="")
    add_tx_options(p)
    p.set_defaults(handler=asset_retire)

    p = sub.add_parser("classify", help="replace an asset's classification (sign: registrar)")
    _asset_arg(p)
    p.add_argument("--reason", default="")
    add_classification_options(p)
    add_tx_options(p)
    p.set_defaults(handler=asset_classify)

    add_appraise_options(sub.add_parser("appraise", help="record an appraisal (sign: appraiser)"))
    add_appraise_options(commands.add_parser("appraise", help="record an appraisal of an asset (sign: appraiser)"))

    pledge = commands.add_parser("pledge", help="pledge data assets as collateral")
    sub = pledge.add_subparsers(dest="pledge_command", required=True, metavar="COMMAND")
    p = sub.add_parser("create", help="pledge an asset (sign: owner + pledgee)")
    _asset_arg(p)
    p.add_argument("--pledgee", required=True, metavar="KEY", help="lender key (hex or key file)")
    p.add_argument("--amount", type=int, required=True, help="secured amount, minor units")
    p.add_argument("--currency", default="CNY")
    p.add_argument("--due-ms", type=int, default=None)
    p.add_argument("--days", type=float, default=None, help="due in this many days")
    add_tx_options(p)
    p.set_defaults(handler=pledge_create)
    for name, handler, text in (("release", pledge_release, "end a pledge (sign: pledgee)"),
                                ("enforce", pledge_enforce, "enforce after the due time (sign: pledgee)")):
        p = sub.add_parser(name, help=text)
        _asset_arg(p)
        add_tx_options(p)
        p.set_defaults(handler=handler)
    p = sub.add_parser("show", help="show an asset's pledge")
    _asset_arg(p)
    add_node_options(p)
    p.set_defaults(handler=pledge_show)

    governance = commands.add_parser("gov", help="port-authority governance (sign: an authority quorum)")
    sub = governance.add_subparsers(dest="gov_command", required=True, metavar="COMMAND")
    for name, method, text, build in GOV_COMMANDS:
        p = sub.add_parser(name, help=text, description=f"{text} (governance.{method}; repeat --key for each "
                           "authority of the quorum)")
        _gov_arguments(name, p)
        add_tx_options(p)
        p.set_defaults(handler=gov(method, build))
