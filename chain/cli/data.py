"""``silkport data``: put a dataset into the owner's node, fetch a released one (ADR 0018).

``data put ASSET FILE --key OWNER.key`` checks the file against the asset's registered size,
content hash and chunk root before sending a byte, then streams it (never whole in memory) with a
progress bar; the node checks every hash again and stores nothing on a mismatch.
``data status ASSET`` says whether the node stores the content. Exit 1 when the job was not done.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path
from typing import Any, BinaryIO

from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from chain.cli.common import add_node_options, client_for, fail, print_fields, print_json
from chain.cli.status import default_nonce
from chain.client import ApiError, Client
from chain.crypto import KeyPair, load_key_file
from chain.dataplane import requests
from chain.dataplane.acknowledge import acknowledge_tx, received, wait_for_delivery
from chain.dataplane.fetch import fetch
from chain.dataplane.store import check_asset_id, summarize_file
from chain.errors import ValidationError
from chain.genesis import load_genesis

UPLOAD_VALIDITY_MS = 5 * 60 * 1000


class _ProgressReader:
    """A file wrapper that advances a progress bar as ``http.client`` reads it."""

    def __init__(self, file: BinaryIO, progress: Progress | None, task: Any) -> None:
        self.file, self.progress, self.task = file, progress, task

    def read(self, n: int = -1) -> bytes:
        data = self.file.read(max(n, 1 << 16) if n > 0 else 1 << 20)
        if self.progress is not None:
            self.progress.advance(self.task, len(data))
        return data


def registered_layout(record: dict[str, Any], asset_id: str) -> tuple[bytes, int, bytes, int]:
    """``(chunk_root, chunk_size, content_hash, size)`` of an asset record, or a clear error."""
    if not record.get("chunk_root") or not record.get("chunk_size"):
        raise ValidationError(
            f"asset {asset_id} has no chunk layout on chain: register it with --content, or have its owner "
            "call registry.set_content_layout", code="no_layout")
    return (bytes.fromhex(record["chunk_root"]), int(record["chunk_size"]), bytes.fromhex(record["content_hash"]),
            int(record["size"]))


def data_put(args: argparse.Namespace) -> int:
    asset_id = check_asset_id(args.asset)
    path = Path(args.file)
    key = load_key_file(args.key)
    client = client_for(args)
    chunk_root, chunk_size, content_hash, size = registered_layout(client.asset(asset_id), asset_id)
    summary = summarize_file(path, chunk_size)
    wrong = [name for name, got, want in (("size", summary.size, size), ("content_hash", summary.content_hash,
             content_hash), ("chunk_root", summary.chunk_root, chunk_root)) if got != want]
    if wrong:
        raise ValidationError(f"{path} does not match the asset's registered {', '.join(wrong)}; nothing was sent",
                              code="content_mismatch")
    chain_id = str(client.status()["chain_id"])
    valid_until = time.time_ns() // 1_000_000 + UPLOAD_VALIDITY_MS
    headers = requests.put_headers(key, chain_id, asset_id, chunk_root, size, valid_until)
    show = not args.json and not args.quiet
    with open(path, "rb") as file:
        if show:
            columns = (*Progress.get_default_columns()[:1], BarColumn(), DownloadColumn(), TransferSpeedColumn())
            with Progress(*columns, transient=True) as progress:
                task = progress.add_task(f"put {path.name}", total=size)
                result = client.put_data(asset_id, _ProgressReader(file, progress, task), size, headers)
        else:
            result = client.put_data(asset_id, _ProgressReader(file, None, None), size, headers)
    if args.json:
        print_json(result)
    else:
        print_fields([("asset", asset_id), ("stored", f"{result['size']} bytes in {result['chunks']} chunks"),
                      ("chunk_root", result["chunk_root"])])
    return 0


def data_fetch(args: argparse.Namespace) -> int:
    if not re.fullmatch(r"[0-9a-f]{64}", args.transfer):
        raise ValidationError("a transfer id is 64 lowercase hex characters", code="bad_transfer_id")
    if args.genesis is None and not args.trust_node:
        raise ValidationError("give --genesis GENESIS (the chain's genesis.json) so the dataset's layout is proved, "
                              "or --trust-node to take it from the node's word", code="no_genesis")
    genesis = None if args.genesis is None else load_genesis(args.genesis)
    key = load_key_file(args.key)
    client = client_for(args)
    out = Path(args.output)
    if args.json or args.quiet:
        result = fetch(client, args.transfer, out, key, genesis=genesis)
    else:
        columns = (*Progress.get_default_columns()[:1], BarColumn(), DownloadColumn(), TransferSpeedColumn())
        with Progress(*columns, transient=True) as progress:
            total = int(client.asset(str(client.transfer(args.transfer)["asset_id"]))["size"])
            task = progress.add_task(f"fetch {out.name}", total=total)
            result = fetch(client, args.transfer, out, key, lambda n: progress.advance(task, n), genesis=genesis)
    fields: dict[str, Any] = {"file": str(result.path), "size": result.size, "chunks": result.chunks,
                              "resumed_from_chunk": result.resumed_from, "attempts": result.attempts,
                              "sha256": "verified"}
    code = 0
    if args.ack:
        fields["acknowledged"], code = acknowledge(client, key, args.transfer, result.path, args.timeout)
    if args.json:
        print_json(fields)
    else:
        print_fields(list(fields.items()))
    return code


def acknowledge(client: Client, key: KeyPair, transfer_id: str, path: Path, timeout: float) -> tuple[str, int]:
    """Wait for the node's ``delivered`` event, then commit ``crossborder.acknowledge`` with the file's SHA-256
    and chunk root, signed by the recipient; (outcome, exit code)."""
    got = received(client, transfer_id, path)
    if wait_for_delivery(client, transfer_id, timeout) is None:
        fail(f"no delivery of transfer {transfer_id} committed within {timeout:g} s; run `silkport transfer ack "
             f"{transfer_id} --file {path}` later (the serving node records a delivery once its responses "
             "have covered every chunk)")
        return "waiting for the delivery", 1
    chain_id = str(client.status()["chain_id"])
    tx = acknowledge_tx(chain_id, key, transfer_id, got, default_nonce())
    info = client.submit_and_wait(tx, timeout=timeout)
    if info.get("status") != "committed":
        fail(f"acknowledgement {tx.tx_id} not committed within {timeout:g} s; run the same command again")
        return "pending", 1
    receipt = info.get("receipt") or {}
    if not receipt.get("ok"):
        fail(f"acknowledgement refused: {receipt.get('error_code')}")
        return f"refused: {receipt.get('error_code')}", 1
    return f"committed at height {info.get('height')} (chunk root {got.chunk_root.hex()[:16]}…)", 0


def data_status(args: argparse.Namespace) -> int:
    """``ID`` is a transfer (its state, its asset's layout, whether this node holds the data) or an asset."""
    identifier = check_asset_id(args.id)  # transfer and asset ids have the same shape
    client = client_for(args)
    try:
        transfer = client.transfer(identifier)
    except ApiError as error:
        if error.status != 404:
            raise
        transfer = None
    result: dict[str, Any] = {}
    if transfer is not None:
        result = {"transfer": identifier, "state": transfer["state"], "recipient": transfer["recipient"],
                  "servable": transfer["state"] in ("RELEASED", "ACKNOWLEDGED"),
                  "deliveries": int(transfer.get("deliveries") or 0),
                  "acknowledged": transfer.get("acknowledged") is not None}
        identifier = str(transfer["asset_id"])
    result.update(client.data_status(identifier))
    if args.json:
        print_json(result)
    else:
        print_fields(list(result.items()))
    return 0 if result.get("stored") else 1


def register(commands: Any) -> None:
    group = commands.add_parser("data", help="move datasets through the data valve (ADR 0018)")
    sub = group.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")
    p = sub.add_parser("put", help="upload an asset's content to the owner's node (sign: owner)",
                       description="Check FILE against the asset's registered size, content hash and chunk root, "
                       "then stream it to the node, signed by the owner's key. Exits 1 if nothing was stored.")
    p.add_argument("asset", metavar="ASSET")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--key", required=True, metavar="OWNER.key", help="the asset owner's key file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_node_options(p)
    p.set_defaults(handler=data_put)
    p = sub.add_parser("fetch", help="pull a released transfer's dataset (sign: a recipient member)",
                       description="Answer the exporting node's challenge with the recipient's key and pull the "
                       "dataset, end to end encrypted to that key; every chunk is verified against the chunk root "
                       "proved from GENESIS and FILE appears only once its SHA-256 matches. Run it again to resume.")
    p.add_argument("transfer", metavar="TRANSFER")
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    p.add_argument("--key", required=True, metavar="RECIPIENT.key", help="a recipient member's key file")
    p.add_argument("--genesis", metavar="GENESIS", help="the chain's genesis.json: prove the asset's chunk root, "
                   "size and content hash, and the transfer's asset, from it (a state proof, as `silkport verify`)")
    p.add_argument("--trust-node", action="store_true",
                   help="without --genesis: take the layout from the node's JSON (trusts the node)")
    p.add_argument("--ack", action="store_true",
                   help="then wait for the node's delivered event and commit crossborder.acknowledge with the "
                        "file's SHA-256 and chunk root, signed by the same key")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the acknowledgement")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_node_options(p)
    p.set_defaults(handler=data_fetch)
    p = sub.add_parser("status", help="a transfer's data state, or an asset's (exit 1 if the node lacks the data)",
                       description="For a TRANSFER: its state, recipient, whether it may be served, and whether this "
                       "node holds its asset's data; for an ASSET: whether this node holds its data.")
    p.add_argument("id", metavar="TRANSFER|ASSET")
    add_node_options(p)
    p.set_defaults(handler=data_status)
