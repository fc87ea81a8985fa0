"""``silkport rules check FILE.json``: run cross-border rule scenarios (chain.crossborder.scenarios)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from chain.cli.common import add_output_option, print_json


def rules_check(args: argparse.Namespace) -> int:
    """One compact JSON line per scenario on stdout (for scripts), then a summary for people on stderr:
    how many passed, and each mismatch with its reason."""
    import json

    from chain.crossborder.scenarios import check_file  # lazy: the rule engine is not needed elsewhere

    results = check_file(args.file)
    lines = [json.dumps(result, separators=(",", ":"), ensure_ascii=False) for result, _, _ in results]
    all_ok = all(ok for _, ok, _ in results)
    if args.json:
        print_json({"ok": all_ok, "lines": lines})
    else:
        for line in lines:
            print(line)
    failed = [(result["id"], reason) for result, ok, reason in results if not ok]
    for scenario_id, reason in failed:
        print(f"MISMATCH {scenario_id}: {reason}", file=sys.stderr)
    print(f"{args.file}: {len(results)} scenarios, {len(results) - len(failed)} as expected, {len(failed)} not",
          file=sys.stderr)
    return 0 if all_ok else 1


def register(commands: Any) -> None:
    group = commands.add_parser("rules", help="cross-border rule engine tools")
    sub = group.add_subparsers(dest="rules_command", required=True, metavar="COMMAND")
    check = sub.add_parser("check", help="run a scenario file; exit 1 unless every scenario passes")
    check.add_argument("file", metavar="FILE.json")
    add_output_option(check)
    check.set_defaults(handler=rules_check)
