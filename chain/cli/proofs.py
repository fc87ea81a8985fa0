"""``silkport anchor ...``, ``silkport prove asset ...``, ``silkport verify ...`` (DESIGN.md §9, ADR 0008).

- ``silkport anchor submit FILE... --key REGISTRAR [--label L] [--batch 10000]``: SHA-256 of each file
  (streamed in 1 MiB chunks; a progress bar for large sets), anchored in batches; prints the tx ids.
- ``silkport anchor receipt HASH|FILE [-o FILE] [--since H]``: the hash's receipt (canonical JSON).
- ``silkport prove asset ID -o bundle.json [--since H]``: an asset's provenance bundle (``asset`` itself
  is the asset-commands group of :mod:`chain.cli.assets`, so proofs live under ``prove``).
- ``silkport verify DOC --genesis GENESIS [--explain]``: offline; exit 0 and one line when valid, exit 1
  and the first failed check when not. ``silkport verify OLD NEW --genesis G``: both verify and NEW's
  history extends OLD's (NEW must carry ``--since OLD_HEIGHT``'s consistency proof).
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from pathlib import Path
from typing import Any

from chain.cli.common import add_node_options, client_for, print_json
from chain.cli.status import default_nonce
from chain.crypto import load_key_file
from chain.errors import ConfigError, ProofError, SilkportError
from chain.types import make_tx

CHUNK = 1024 * 1024
HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
PROGRESS_FILES = 200
PROGRESS_BYTES = 256 * 1024 * 1024


def file_digest(path: Path, progress: Any = None, task: Any = None) -> bytes:
    """SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            if progress is not None:
                progress.advance(task, len(chunk))
    return digest.digest()


def hash_files(paths: list[Path]) -> list[bytes]:
    total = sum(p.stat().st_size for p in paths)
    if len(paths) < PROGRESS_FILES and total < PROGRESS_BYTES:
        return [file_digest(p) for p in paths]
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    columns = (TextColumn("hashing"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"), TransferSpeedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, transient=True) as progress:
        task = progress.add_task("hashing", total=total)
        return [file_digest(p, progress, task) for p in paths]


def anchor_submit(args: argparse.Namespace) -> int:
    if not 1 <= args.batch <= 10_000:
        raise ConfigError("--batch must be in 1..10000")
    paths = [Path(p) for p in args.files]
    digests = hash_files(paths)
    keys = [load_key_file(path) for path in args.key]
    client = client_for(args)
    chain_id = args.chain_id or str(client.status()["chain_id"])
    nonce = args.nonce if args.nonce is not None else default_nonce()
    tx_ids = []
    for number, start in enumerate(range(0, len(digests), args.batch)):
        batch = digests[start:start + args.batch]
        tx = make_tx(chain_id, "anchoring", "anchor", {"hashes": batch, "label": args.label}, keys, nonce + number)
        tx_ids.append(client.submit(tx))
        if not args.json:
            print(tx_ids[-1])
    already: list[tuple[str, str]] = []
    if args.wait:
        for number, tx_id in enumerate(tx_ids):
            info = client.tx(tx_id, wait=True, timeout=args.timeout)
            receipt = info.get("receipt") or {}
            if info.get("status") != "committed" or not receipt.get("ok"):
                raise SilkportError(f"batch {tx_id} not anchored: {info.get('status')} {receipt.get('error_code') or ''}")
            start = number * args.batch
            for event in receipt.get("events") or []:
                if event.get("name") == "anchored":
                    positions = list((event.get("data") or {}).get("known") or [])
                    positions += list((event.get("data") or {}).get("repeated") or [])
                    already += [(str(paths[start + p]), digests[start + p].hex()) for p in sorted(positions)]
        for path, digest in already:
            print(f"already anchored (not counted again): {path} {digest}; its receipt is the first anchoring's: "
                  f"silkport anchor receipt {digest}", file=sys.stderr)
    if args.json:
        print_json({"tx_ids": tx_ids, "hashes": {str(p): d.hex() for p, d in zip(paths, digests, strict=True)},
                    "already_anchored": [digest for _, digest in already]})
    return 0


def _hash_argument(text: str) -> str:
    if HEX64.match(text):
        return text.lower()
    path = Path(text)
    if path.is_file():
        return file_digest(path).hex()
    raise ConfigError(f"{text!r} is neither 64 hex characters nor a file")


def _save(text: str, output: str | None) -> None:
    if output:
        Path(output).write_text(text)
        print(f"written to {output}", file=sys.stderr)
    else:
        sys.stdout.write(text)


def anchor_receipt(args: argparse.Namespace) -> int:
    _save(client_for(args).anchor_receipt_text(_hash_argument(args.hash), since=args.since), args.output)
    return 0


def prove_asset(args: argparse.Namespace) -> int:
    if not re.fullmatch(r"[0-9a-f]{64}", args.asset_id):
        raise ConfigError("an asset id is 64 lowercase hex characters")
    _save(client_for(args).asset_proof_text(args.asset_id, since=args.since), args.output)
    return 0


def canonicalise(args: argparse.Namespace) -> int:
    """Rewrite a proof document in canonical form (whitespace, key order, escapes); nothing is verified
    here, and a changed value still fails ``verify``."""
    from chain.proofs.document import canonical_json, parse_document

    try:
        document, _ = parse_document(Path(args.document).read_bytes())
    except OSError as exc:
        raise ConfigError(f"cannot read {args.document}: {exc.strerror}") from None
    except ProofError as exc:
        raise ConfigError(f"{args.document}: {exc.message}") from None
    _save(canonical_json(document), args.output)
    return 0


def verify(args: argparse.Namespace) -> int:
    from chain.genesis import load_genesis
    from chain.proofs.verify import Verifier

    if len(args.documents) > 2:
        raise ConfigError("verify takes one document, or two receipts (older first)")
    verifier = Verifier(load_genesis(args.genesis))
    results = []
    for name in args.documents:
        data = Path(name).read_bytes()
        try:
            results.append(verifier.verify_text(data))
        except ProofError as exc:
            print(f"invalid: {name}: {exc.message}")
            return 1
    if len(results) == 2:
        try:
            line = verifier.verify_extends(results[0], results[1])
        except ProofError as exc:
            print(f"invalid: {exc.message}")
            return 1
        print(f"{line}; {results[0].summary()} | {results[1].summary()}")
    else:
        print(results[0].summary())
    if args.explain:
        from chain.proofs.explain import explain

        for result in results:
            explain(result)
    return 0


def add_prove_asset_command(subcommands: Any, name: str = "asset") -> None:
    """``silkport prove asset ID`` — also offered as ``silkport asset prove ID`` by :mod:`chain.cli.assets`."""
    p = subcommands.add_parser(name, help="the provenance bundle of a data asset (-o bundle.json)")
    p.add_argument("asset_id", metavar="ID")
    p.add_argument("-o", "--output", metavar="FILE", help="write the bundle here (default: stdout)")
    p.add_argument("--since", type=int, default=None, metavar="HEIGHT")
    add_node_options(p)
    p.set_defaults(handler=prove_asset)


def register(commands: Any) -> None:
    """Add this group's subcommands."""
    anchor = commands.add_parser("anchor", help="anchor file hashes and fetch their receipts")
    sub = anchor.add_subparsers(dest="anchor_command", required=True, metavar="SUBCOMMAND")
    p = sub.add_parser("submit", help="hash files (SHA-256) and anchor the hashes in batches (sign: registrar)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--label", default="", help="label recorded with each batch (≤ 128 characters)")
    p.add_argument("--batch", type=int, default=10_000, help="hashes per transaction (≤ 10,000)")
    p.add_argument("--key", action="append", required=True, metavar="FILE", help="registrar key file")
    p.add_argument("--nonce", type=int, default=None, help="first batch's nonce (default: current time in ms)")
    p.add_argument("--chain-id", default=None, help="default: the node's chain id")
    p.add_argument("--wait", action="store_true", help="wait until every batch is committed")
    p.add_argument("--timeout", type=float, default=30.0)
    add_node_options(p)
    p.set_defaults(handler=anchor_submit)
    p = sub.add_parser("receipt", help="fetch the self-contained receipt of an anchored hash")
    p.add_argument("hash", metavar="HASH", help="64 hex characters, or a file whose SHA-256 is meant")
    p.add_argument("-o", "--output", metavar="FILE", help="write the receipt here (default: stdout)")
    p.add_argument("--since", type=int, default=None, metavar="HEIGHT",
                   help="include the history consistency proof from an older receipt's certified height")
    add_node_options(p)
    p.set_defaults(handler=anchor_receipt)

    prove = commands.add_parser("prove", help="fetch proof bundles (silkport prove asset ID -o bundle.json)")
    sub = prove.add_subparsers(dest="prove_command", required=True, metavar="SUBCOMMAND")
    add_prove_asset_command(sub)

    p = commands.add_parser("canonicalise", help="rewrite a receipt/bundle in canonical form (-o FIXED.json)")
    p.add_argument("document", metavar="DOC")
    p.add_argument("-o", "--output", default=None, help="output file (default: standard output)")
    p.set_defaults(handler=canonicalise)

    p = commands.add_parser("verify", help="verify a receipt or bundle offline against the genesis file")
    p.add_argument("documents", nargs="+", metavar="DOC", help="a receipt/bundle, or OLD NEW receipts")
    p.add_argument("--genesis", required=True, metavar="GENESIS", help="the chain's genesis.json")
    p.add_argument("--explain", action="store_true", help="print the proof as a tree for a person")
    p.set_defaults(handler=verify)
