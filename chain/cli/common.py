"""Shared pieces of the ``silkport`` subcommands: node/--json options and output for people or scripts."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.text import Text

from chain.client import Client

DEFAULT_NODE = "http://127.0.0.1:26657"
NODE_ENV = "SILKPORT_NODE"
CACERT_ENV = "SILKPORT_CACERT"


def add_output_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def add_node_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--node",
        default=None,
        metavar="URL",
        help=f"node API URL (default: ${NODE_ENV} or {DEFAULT_NODE})",
    )
    parser.add_argument(
        "--cacert",
        default=None,
        metavar="FILE",
        help=f"CA certificate (PEM) that signed an https node's certificate (default: ${CACERT_ENV})",
    )
    add_output_option(parser)


def node_url(args: argparse.Namespace) -> str:
    return str(args.node or os.environ.get(NODE_ENV) or DEFAULT_NODE)


def client_for(args: argparse.Namespace) -> Client:
    cacert = getattr(args, "cacert", None) or os.environ.get(CACERT_ENV) or None
    return Client(node_url(args), cacert=cacert)


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


def print_fields(rows: Iterable[tuple[str, Any]], *, title: str | None = None) -> None:
    """Aligned ``name  value`` lines for people (values never interpreted as markup)."""
    console = Console(highlight=False, soft_wrap=True)
    rows = list(rows)
    if title:
        console.print(Text(title, style="bold"))
    width = max((len(name) for name, _ in rows), default=0)
    for name, value in rows:
        shown = "-" if value is None else value if isinstance(value, str) else json.dumps(value)
        console.print(Text.assemble((f"{name:<{width}}  ", "bold"), shown))


def fail(message: str) -> None:
    print(f"silkport: error: {message}", file=sys.stderr)


def wait_outcome(tx_id: str, info: dict[str, Any], timeout: float) -> int:
    """Exit status of a ``--wait``: 0 only for a committed transaction whose receipt is ok; otherwise
    say why on stderr (refused with its code, or not committed in time) and return 1."""
    if info.get("status") != "committed":
        fail(f"transaction {tx_id} not committed within {timeout:g} s (still {info.get('status')})")
        return 1
    receipt = info.get("receipt") or {}
    if not receipt.get("ok"):
        fail(f"transaction {tx_id} refused: {receipt.get('error_code')}")
        return 1
    return 0
