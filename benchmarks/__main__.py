"""``python -m benchmarks {core,merkle,statetree,blockstore,consensus,rules,all} [--json]``.

Benchmarks measure speed; tests never assert on time (STYLE.md). Each module has ``run() -> dict``;
this prints the figures with the budget each issue names and the ratio to it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any

# name -> (module, the key of the headline figure in its result, the budget an issue names, unit)
BENCHES: dict[str, tuple[str, str | None, float | None, str]] = {
    "merkle": ("benchmarks.merkle", "median_ms", None, "ms for an RFC 6962 root over 100,000 leaves"),
    "statetree": ("benchmarks.statetree", "us_per_key", 40.0, "µs per key, 10,000 keys into 1,000,000"),
    "blockstore": ("benchmarks.blockstore", "median_ms", 20.0, "ms per synced commit of a 2,000-tx block"),
    "consensus": ("benchmarks.consensus", "cpu_ms_per_block_per_replica", 5.0, "ms CPU per block per replica"),
    "rules": ("benchmarks.rules", "median_us", 50.0, "µs per cross-border rule evaluation"),
    "proofs": ("benchmarks.proofs", "receipts_per_s", 2000.0, "receipts verified per second (budget: at least)"),
}
GROUPS = {"core": ["merkle", "statetree", "blockstore"], "all": list(BENCHES)}


def run_one(name: str) -> dict[str, Any]:
    module_name, key, budget, unit = BENCHES[name]
    result: dict[str, Any] = importlib.import_module(module_name).run()
    figure = result.get(key) if key else None
    summary = {"bench": name, "figure": figure, "unit": unit, "budget": budget}
    if budget and isinstance(figure, int | float):
        summary["ratio_to_budget"] = round(figure / budget, 3)
    return {**summary, "details": result}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("which", choices=sorted(BENCHES) + sorted(GROUPS))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    for name in GROUPS.get(args.which, [args.which]):
        outcome = run_one(name)
        if args.json:
            print(json.dumps(outcome))
        else:
            ratio = f"  ({outcome['ratio_to_budget']:.2f} of the {outcome['budget']} budget)" if "ratio_to_budget" in outcome else ""
            print(f"{name:10s} {outcome['figure']} {outcome['unit']}{ratio}")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
