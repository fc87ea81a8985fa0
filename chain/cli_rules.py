"""``silkport rules check FILE.json``: run cross-border rule scenarios (chain.crossborder.scenarios)."""

from __future__ import annotations

import argparse
from typing import Any

from chain.cli_common import add_output_option, print_json


def rules_check(args: argparse.Namespace) -> int:
    from chain.crossborder.scenarios import run_check  # lazy: the rule engine is not needed elsewhere

    lines, all_ok = run_check(args.file)
    if args.json:
        print_json({"ok": all_ok, "lines": list(lines)})
    else:
        for line in lines:
            print(line)
    return 0 if all_ok else 1


def register(commands: Any) -> None:
    group = commands.add_parser("rules", help="cross-border rule engine tools")
    sub = group.add_subparsers(dest="rules_command", required=True, metavar="COMMAND")
    check = sub.add_parser("check", help="run a scenario file; exit 1 unless every scenario passes")
    check.add_argument("file", metavar="FILE.json")
    add_output_option(check)
    check.set_defaults(handler=rules_check)
