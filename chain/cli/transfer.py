"""``silkport transfer request|evidence|review|ack|revoke|show|list``: the cross-border transfer contract.

Writes sign a ``crossborder`` transaction with ``--key`` (repeated for co-signers, e.g. the
pledgee), submit it, wait for the commit and show the transfer with its decision; a refused
transaction prints its receipt's error code and exits 1.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from chain import codec
from chain.cli.audit import audit, render
from chain.cli.common import add_node_options, client_for, fail, print_fields, print_json
from chain.cli.status import default_nonce
from chain.client import Client
from chain.crossborder.contract import STATES, transfer_id_for
from chain.crossborder.facts import ATTESTATIONS
from chain.crypto import load_key_file
from chain.dataplane.acknowledge import Received, received
from chain.errors import ValidationError
from chain.types import SignedTx, TxBody


def _declared(items: list[str]) -> dict[str, str]:
    """``--declare notice=REF`` pairs (the exporter's own documents; see ADR 0007)."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, ref = item.partition("=")
        if not sep or name not in ATTESTATIONS or not ref:
            raise ValidationError(f"--declare {item!r}: expected one of {', '.join(ATTESTATIONS)}=REF")
        out[name] = ref
    return out


def _gdpr(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ValidationError(f"--gdpr is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValidationError('--gdpr must be an object, e.g. {"mechanism": "SCC", "tia": true}')
    return value


def _submit(args: argparse.Namespace, method: str, tx_args: dict[str, Any]) -> tuple[Client, SignedTx, dict[str, Any]]:
    if args.one_signer and len(args.key) > 1:
        raise ValidationError(f"this command is signed by one key; got {len(args.key)} --key options")
    keypairs = [load_key_file(path) for path in args.key]
    client = client_for(args)
    chain_id = args.chain_id or str(client.status()["chain_id"])
    body = TxBody(chain_id=chain_id, contract="crossborder", method=method,
                  args=codec.pairs_from_dict({k: v for k, v in tx_args.items() if v is not None}),
                  signer_pubkeys=tuple(kp.public_key for kp in keypairs), nonce=default_nonce())
    tx = SignedTx.create(TxBody.from_wire(body.to_wire()), keypairs)
    client.submit(tx)
    deadline = time.monotonic() + args.timeout
    info = client.tx(tx.tx_id, wait=True, timeout=args.timeout)
    while info.get("status") != "committed" and time.monotonic() < deadline:
        time.sleep(0.05)
        info = client.tx(tx.tx_id, wait=True, timeout=max(0.1, deadline - time.monotonic()))
    return client, tx, info


def _finish(args: argparse.Namespace, client: Client, info: dict[str, Any], transfer_id: str) -> int:
    receipt = info.get("receipt") or {}
    if info.get("status") != "committed":
        fail(f"transaction {info.get('tx_id')} not committed yet")
        return 1
    if not receipt.get("ok"):
        fail(f"refused: {receipt.get('error_code')}")
        if args.json:
            print_json({"tx_id": info.get("tx_id"), "ok": False, "error_code": receipt.get("error_code")})
        return 1
    record = client.transfer(transfer_id)
    if args.json:
        print_json(record)
    else:
        show(record)
    return 0


def show(record: dict[str, Any]) -> None:
    decision = record.get("decision") or {}
    print_fields([
        ("transfer", record["id"]), ("state", record["state"]), ("asset", record["asset_id"]),
        ("exporter", record["exporter"]), ("recipient", record["recipient"]), ("destination", record["destination"]),
        ("purpose", record["purpose"]), ("decision", decision.get("decision")), ("requires", decision.get("requires")),
        ("rules", decision.get("rules")), ("path", decision.get("path")),
        ("policy", decision.get("policy_version")), ("decided on", decision.get("date")),
        ("decisions", record.get("decisions") or {}), ("declarations", record.get("attestations") or {}),
        ("gdpr tool", record.get("gdpr")), ("steps", [s["action"] for s in record.get("history", [])]),
    ])


def request(args: argparse.Namespace) -> int:
    tx_args = {
        "asset_id": args.asset, "recipient": args.recipient, "destination": args.destination,
        "purpose": args.purpose, "lawful_basis": args.basis, "subjects": args.subjects,
        "sensitive_subjects": args.sensitive, "ftz_scenario": args.ftz_scenario, "decisions": args.decision,
        "attestations": _declared(args.declare), "gdpr": _gdpr(args.gdpr),
        "recipient_node": bytes.fromhex(args.recipient_node) if args.recipient_node else None,
    }
    client, tx, info = _submit(args, "request", tx_args)
    return _finish(args, client, info, transfer_id_for(tx.tx_hash))


def evidence(args: argparse.Namespace) -> int:
    tx_args = {"transfer_id": args.transfer_id, "decisions": args.decision, "attestations": _declared(args.declare),
               "gdpr": _gdpr(args.gdpr)}
    client, _, info = _submit(args, "attach_evidence", tx_args)
    return _finish(args, client, info, args.transfer_id)


def review(args: argparse.Namespace) -> int:
    client, _, info = _submit(args, "customs_review",
                              {"transfer_id": args.transfer_id, "approve": args.approve, "note": args.note})
    return _finish(args, client, info, args.transfer_id)


def ack(args: argparse.Namespace) -> int:
    """Acknowledge with the received file (hashed with the asset's chunk size) or with both hashes given."""
    if args.file is not None:
        if args.content_hash is not None or args.chunk_root is not None:
            raise ValidationError("give --file PATH, or --content-hash HEX with --chunk-root HEX, not both")
        got = received(client_for(args), args.transfer_id, Path(args.file))
    else:
        if args.content_hash is None or args.chunk_root is None:
            raise ValidationError("give --file PATH, or both --content-hash HEX and --chunk-root HEX")
        got = Received(_hash32(args.content_hash, "--content-hash"), _hash32(args.chunk_root, "--chunk-root"))
    client, _, info = _submit(args, "acknowledge", {"transfer_id": args.transfer_id, "content_hash": got.content_hash,
                                                    "chunk_root": got.chunk_root})
    return _finish(args, client, info, args.transfer_id)


def _hash32(text: str, option: str) -> bytes:
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise ValidationError(f"{option} must be 64 lowercase hex characters", code="bad_hash")
    return bytes.fromhex(text)


def audit_command(args: argparse.Namespace) -> int:
    if len(args.transfer_id) != 64 or any(c not in "0123456789abcdef" for c in args.transfer_id):
        raise ValidationError("TRANSFER must be a transfer id (64 lowercase hex characters)", code="bad_transfer_id")
    document = audit(client_for(args), args.transfer_id)
    if args.json:
        print_json(document)
    else:
        print("\n".join(render(document)))
    return 0


def revoke(args: argparse.Namespace) -> int:
    client, _, info = _submit(args, "revoke", {"transfer_id": args.transfer_id, "reason": args.reason})
    return _finish(args, client, info, args.transfer_id)


def show_command(args: argparse.Namespace) -> int:
    record = client_for(args).transfer(args.transfer_id)
    if args.json:
        print_json(record)
    else:
        show(record)
    return 0


def list_command(args: argparse.Namespace) -> int:
    if args.offset is not None or args.limit is not None:
        raise ValidationError("--offset/--limit are now --page (from 1) and --per-page (ADR 0024)",
                              code="renamed_parameter")
    page = client_for(args).transfers(asset=args.asset, exporter=args.exporter, state=args.state,
                                      page=args.page, per_page=args.per_page, cursor=args.cursor)
    if args.json:
        print_json(page)
        return 0
    where = f"page {page['page']} of {page['pages']}" if "pages" in page else f"scan from cursor {page['cursor']}"
    print(f"{page['total']} transfers ({where})")
    for item in page["items"]:
        decision = item.get("decision") or {}
        print(f"  {item['id'][:16]}  {item['state']:<16} {decision.get('decision', '-'):<8} "
              f"{item['exporter']} -> {item['recipient']} ({item['destination']})  "
              f"rules {','.join(decision.get('rules', []))}  v{decision.get('policy_version')}")
    if page.get("next_page") is not None:
        print(f"  ... more with --page {page['next_page']}")
    if page.get("next_cursor") is not None:
        print(f"  ... more with --cursor {page['next_cursor']}")
    return 0


def _write_options(parser: argparse.ArgumentParser, *, cosigners: bool = True) -> None:
    help_text = ("signer key file; repeat for co-signers, e.g. the pledgee's: its signature is its consent "
                 "(the first is the sender)") if cosigners else "key file of the sender (one signer)"
    parser.add_argument("--key", action="append", required=True, metavar="FILE", help=help_text)
    parser.set_defaults(one_signer=not cosigners)
    parser.add_argument("--signer", action="append", dest="key", metavar="FILE", help=argparse.SUPPRESS)  # old name
    parser.add_argument("--chain-id", default=None, help="default: the node's chain id")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the commit (max 30)")
    add_node_options(parser)


def _evidence_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--decision", action="append", default=[], metavar="ID",
                        help="regulator decision id registered through governance (repeat)")
    parser.add_argument("--declare", action="append", default=[], metavar="KIND=REF",
                        help=f"declared evidence, KIND one of {', '.join(ATTESTATIONS)} (repeat)")
    parser.add_argument("--gdpr", default=None, metavar="JSON",
                        help='GDPR Chapter V tool, e.g. {"mechanism": "SCC", "tia": true}')


def register(commands: Any) -> None:
    """Add this group's subcommands."""
    group = commands.add_parser("transfer", help="cross-border data transfers")
    sub = group.add_subparsers(dest="transfer_command", required=True, metavar="COMMAND")

    req = sub.add_parser("request", help="request a transfer (evaluated at once)")
    req.add_argument("--asset", required=True, metavar="ID")
    req.add_argument("--recipient", required=True, metavar="ORG", help="registered recipient organisation")
    req.add_argument("--recipient-node", default=None, metavar="HEX", help="the recipient's validator key")
    req.add_argument("--destination", required=True, metavar="CC", help="ISO 3166-1 alpha-2")
    req.add_argument("--purpose", required=True)
    req.add_argument("--basis", required=True, help="lawful basis: CONSENT, CONTRACT, HR, LEGAL_DUTY, ...")
    req.add_argument("--subjects", type=int, default=0, help="persons whose PI is sent")
    req.add_argument("--sensitive", type=int, default=0, help="persons whose sensitive PI is sent")
    req.add_argument("--ftz-scenario", default=None, metavar="SECTOR/SCENARIO")
    _evidence_options(req)
    _write_options(req)
    req.set_defaults(handler=request)

    ev = sub.add_parser("evidence", help="attach evidence and re-evaluate")
    ev.add_argument("transfer_id", metavar="TRANSFER")
    _evidence_options(ev)
    _write_options(ev)
    ev.set_defaults(handler=evidence)

    rv = sub.add_parser("review", help="customs: approve or deny release of a cleared transfer")
    rv.add_argument("transfer_id", metavar="TRANSFER")
    verdict = rv.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--approve", action="store_true", dest="approve")
    verdict.add_argument("--deny", action="store_false", dest="approve")
    rv.add_argument("--note", default="")
    _write_options(rv, cosigners=False)
    rv.set_defaults(handler=review)

    ak = sub.add_parser("ack", help="recipient: acknowledge a delivered transfer (content hash and chunk root)")
    ak.add_argument("transfer_id", metavar="TRANSFER")
    ak.add_argument("--content-hash", default=None, metavar="HEX", help="SHA-256 of the received file")
    ak.add_argument("--chunk-root", default=None, metavar="HEX", help="its chunk root (must be the delivered one)")
    ak.add_argument("--file", default=None, metavar="PATH", help="hash this file instead (both hashes)")
    _write_options(ak, cosigners=False)
    ak.set_defaults(handler=ack)

    rk = sub.add_parser("revoke", help="exporter (before release) or authority quorum (--key repeated): revoke")
    rk.add_argument("transfer_id", metavar="TRANSFER")
    rk.add_argument("--reason", default="")
    _write_options(rk)
    rk.set_defaults(handler=revoke)

    sh = sub.add_parser("show", help="show a transfer, its decision and steps")
    sh.add_argument("transfer_id", metavar="TRANSFER")
    add_node_options(sh)
    sh.set_defaults(handler=show_command)

    au = sub.add_parser("audit", help="customs: the whole flow — decisions, evidence, release, deliveries, "
                                      "acknowledgement — with heights and tx ids")
    au.add_argument("transfer_id", metavar="TRANSFER")
    add_node_options(au)
    au.set_defaults(handler=audit_command)

    ls = sub.add_parser("list", help="list transfers, newest first")
    ls.add_argument("--asset", default=None, metavar="ID")
    ls.add_argument("--exporter", default=None, metavar="ORG")
    ls.add_argument("--state", default=None, choices=STATES)
    ls.add_argument("--page", type=int, default=1)
    ls.add_argument("--per-page", type=int, default=20, help="at most 100")
    ls.add_argument("--cursor", type=int, default=None, help="continue a filtered scan (--state) from next_cursor")
    ls.add_argument("--offset", type=int, default=None, help=argparse.SUPPRESS)  # renamed: a clear error
    ls.add_argument("--limit", type=int, default=None, help=argparse.SUPPRESS)
    add_node_options(ls)
    ls.set_defaults(handler=list_command)
