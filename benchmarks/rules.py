"""Benchmark of the cross-border rule engine (``python -m benchmarks rules``).

NOT part of the pure core: this module reads files and the performance counter
(``time.perf_counter_ns``) on purpose; ``chain/crossborder`` itself never does. A benchmark
measures speed, tests check behaviour: no test asserts on these numbers.

Budget: evaluating one request (``chain.crossborder.rules.evaluate``) takes <= 50 µs here.
"""

from __future__ import annotations

import gc
import json
import statistics
import time
from pathlib import Path
from typing import Any

from chain.crossborder.rules import evaluate
from chain.crossborder.scenarios import default_policy, load_scenarios
from chain.errors import ValidationError

BUDGET_US = 50.0
DEFAULT_SCENARIOS = Path(__file__).resolve().parents[2] / "tests" / "data" / "crossborder" / "scenarios.json"


def bench_rules(iterations: int = 2000, rounds: int = 5, scenario_file: str | Path | None = None) -> dict[str, Any]:
    """Time :func:`evaluate` on every scenario of ``scenario_file`` (default: the repository's set).

    Each scenario is evaluated ``iterations`` times per round; its cost is the best round's mean
    (least disturbed by the machine), and the result is the median of those costs over all
    scenarios, in µs per request, with the slowest scenario and the budget verdict.
    """
    if iterations < 1 or rounds < 1:
        raise ValidationError("iterations and rounds must be >= 1", code="bad_value")
    path = Path(scenario_file) if scenario_file is not None else DEFAULT_SCENARIOS
    scenarios = load_scenarios(json.loads(path.read_text(encoding="utf-8")))
    policy = default_policy()
    per_scenario: dict[str, float] = {}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for scenario in scenarios:
            args = (scenario.asset, scenario.exporter, scenario.request, policy, scenario.now)
            best = float("inf")
            for _ in range(rounds):
                start = time.perf_counter_ns()
                for _ in range(iterations):
                    evaluate(*args)
                best = min(best, (time.perf_counter_ns() - start) / iterations / 1000.0)
            per_scenario[scenario.id] = best
    finally:
        if gc_was_enabled:
            gc.enable()
    median_us = statistics.median(per_scenario.values())
    slowest = max(per_scenario, key=per_scenario.__getitem__)
    return {
        "benchmark": "crossborder.rules.evaluate",
        "scenarios": len(scenarios),
        "iterations": iterations,
        "rounds": rounds,
        "median_us": round(median_us, 3),
        "max_us": round(per_scenario[slowest], 3),
        "slowest": slowest,
        "budget_us": BUDGET_US,
        "within_budget": median_us <= BUDGET_US,
        "per_scenario_us": {key: round(value, 3) for key, value in per_scenario.items()},
    }


if __name__ == "__main__":
    result = bench_rules()
    result.pop("per_scenario_us")
    print(json.dumps(result))


def run() -> dict[str, Any]:
    """Entry point for ``python -m benchmarks rules``."""
    result = bench_rules()
    result.pop("per_scenario_us", None)
    return result
