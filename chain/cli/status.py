"""``silkport status``, ``silkport tx submit|show``, ``silkport block show``: talk to a node's REST API."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from chain.api.jsonwire import args_from_json
from chain.cli.common import add_node_options, client_for, print_fields, print_json, wait_outcome
from chain.crypto import load_key_file
from chain.errors import ValidationError
from chain.types import SignedTx, TxBody

STATUS_FIELDS = (
    "chain_id",
    "node_id",
    "height",
    "view",
    "primary",
    "last_block_hash",
    "peers_connected",
    "mempool_size",
)


def default_nonce() -> int:
    """Milliseconds since the epoch: nonces only need to increase per sender (DESIGN.md §3)."""
    return int(time.time() * 1000)


def status(args: argparse.Namespace) -> int:
    info = client_for(args).status()
    if args.json:
        print_json(info)
    else:
        rest = sorted(key for key in info if key not in STATUS_FIELDS)
        print_fields([(key, info.get(key)) for key in (*STATUS_FIELDS, *rest)])
    return 0


def parse_args_json(text: str) -> tuple[tuple[str, Any], ...]:
    """``--args``: a JSON object, or ``@FILE`` holding one (bytes as ``{"hex": ...}``)."""
    if text.startswith("@"):
        text = Path(text[1:]).read_text()
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ValidationError(f"--args is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ValidationError("--args must be a JSON object")
    return args_from_json(document)


def show_tx(info: dict[str, Any]) -> None:
    tx = info.get("tx") or {}
    body = tx.get("body") or {}
    receipt = info.get("receipt") or {}
    rows: list[tuple[str, Any]] = [
        ("tx_id", info.get("tx_id")),
        ("status", info.get("status")),
        ("height", info.get("height")),
        ("index", info.get("index")),
    ]
    if receipt:
        outcome = (
            "ok" if receipt.get("ok", receipt.get("status") == 0) else f"failed: {receipt.get('error_code')}"
        )
        rows.append(("receipt", outcome))
        rows.append(("events", len(receipt.get("events") or [])))
    if body:
        rows += [
            ("call", f"{body.get('contract')}.{body.get('method')}"),
            ("sender", (body.get("signer_pubkeys") or ["?"])[0]),
            ("signers", len(body.get("signer_pubkeys") or [])),
            ("nonce", body.get("nonce")),
            ("args", json.dumps(body.get("args"), sort_keys=True)),
        ]
    print_fields(rows)


def tx_submit(args: argparse.Namespace) -> int:
    keypairs = [load_key_file(path) for path in args.key]
    client = client_for(args)
    chain_id = args.chain_id or str(client.status()["chain_id"])
    body = TxBody(
        chain_id=chain_id,
        contract=args.contract,
        method=args.method,
        args=parse_args_json(args.args),
        signer_pubkeys=tuple(kp.public_key for kp in keypairs),
        nonce=args.nonce if args.nonce is not None else default_nonce(),
        valid_until_height=args.valid_until,
    )
    tx = SignedTx.create(TxBody.from_wire(body.to_wire()), keypairs)  # from_wire: same checks as the node
    tx_id = client.submit(tx)
    info = client.tx(tx_id, wait=True, timeout=args.timeout) if args.wait else None
    if args.json:
        print_json(info if info is not None else {"tx_id": tx_id})
    elif info is not None:
        show_tx(info)
    else:
        print(tx_id)
    return 0 if info is None else wait_outcome(tx_id, info, args.timeout)



def tx_show(args: argparse.Namespace) -> int:
    info = client_for(args).tx(args.tx_id, wait=args.wait, timeout=args.timeout)
    if args.json:
        print_json(info)
    else:
        show_tx(info)
    return 0


def block_ref(text: str) -> int | None:
    if text == "latest":
        return None
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is neither a height nor 'latest'")
    return int(text)


def block_show(args: argparse.Namespace) -> int:
    block = client_for(args).block(args.height)
    if args.json:
        print_json(block)
        return 0
    tx_ids = block.get("tx_ids") or []
    certificate = block.get("certificate") or {}
    rows = [(key, value) for key, value in block.items() if key not in ("tx_ids", "certificate")]
    rows.append(
        ("certificate", f"{len(certificate.get('signatures') or [])} signatures" if certificate else None)
    )
    rows.append(("transactions", len(tx_ids)))
    print_fields(rows, title=f"block {block.get('height')}")
    for tx_id in tx_ids:
        print(f"  {tx_id}")
    return 0


def register(commands: Any) -> None:
    status_parser = commands.add_parser("status", help="show the node's status")
    add_node_options(status_parser)
    status_parser.set_defaults(handler=status)

    tx_group = commands.add_parser("tx", help="submit and inspect transactions")
    tx_commands = tx_group.add_subparsers(dest="tx_command", required=True, metavar="COMMAND")
    submit = tx_commands.add_parser(
        "submit",
        help="sign and submit a transaction",
        description="Sign and submit a transaction. The nonce defaults to the current time in milliseconds: "
        "nonces only need to increase per sender.",
    )
    submit.add_argument("--key", action="append", required=True, metavar="FILE",
                        help="signer key file; repeat for co-signers (the first is the sender)")
    submit.add_argument("--contract", required=True)
    submit.add_argument("--method", required=True)
    submit.add_argument(
        "--args",
        default="{}",
        metavar="JSON",
        help='arguments as a JSON object or @FILE; bytes as {"hex": "..."}',
    )
    submit.add_argument("--nonce", type=int, default=None, help="default: current time in ms")
    submit.add_argument("--signer", action="append", dest="key", metavar="FILE", help=argparse.SUPPRESS)  # old name
    submit.add_argument("--chain-id", default=None, help="default: the node's chain id")
    submit.add_argument(
        "--valid-until", type=int, default=0, metavar="HEIGHT", help="expiry height (0 = none)"
    )
    submit.add_argument("--wait", action="store_true", help="wait until committed and show the result")
    submit.add_argument("--timeout", type=float, default=10.0, help="seconds to wait (max 30)")
    add_node_options(submit)
    submit.set_defaults(handler=tx_submit)

    show = tx_commands.add_parser("show", help="show a transaction and its receipt")
    show.add_argument("tx_id", metavar="ID")
    show.add_argument("--wait", action="store_true", help="wait until committed")
    show.add_argument("--timeout", type=float, default=10.0, help="seconds to wait (max 30)")
    add_node_options(show)
    show.set_defaults(handler=tx_show)

    block_group = commands.add_parser("block", help="inspect blocks")
    block_commands = block_group.add_subparsers(dest="block_command", required=True, metavar="COMMAND")
    block = block_commands.add_parser("show", help="show a block (default: latest)")
    block.add_argument("height", nargs="?", default=None, type=block_ref, metavar="HEIGHT|latest")
    add_node_options(block)
    block.set_defaults(handler=block_show)
