"""The ``silkport`` command (entry point ``chain.cli:main``, also ``python -m chain.cli``).

Subcommand groups live in small modules, each with ``register(subparsers)`` setting a ``handler``
(``args -> exit code``); add a group by listing its module in :data:`GROUPS`. Failures print one
line to stderr and exit 1 (never a traceback); usage errors exit 2 (argparse's convention).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

from chain.cli.common import fail
from chain.errors import SilkportError

GROUPS = (
    "chain.cli.keys",
    "chain.cli.status",
    "chain.cli.rules",
    "chain.cli.assets",
    "chain.cli.transfer",
    "chain.cli.proofs",
    "chain.cli.data",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="silkport",
        description="Silkport: permissioned PBFT chain for data assets and cross-border data.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in GROUPS:
        importlib.import_module(name).register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
        return code
    except SilkportError as error:
        fail(str(error) if error.code in str(error) else f"{error} ({error.code})")
    except OSError as error:
        where = f": {error.filename}" if error.filename else ""
        fail(f"{error.strerror or error}{where}")
    except KeyboardInterrupt:
        fail("interrupted")
        return 130
    return 1

