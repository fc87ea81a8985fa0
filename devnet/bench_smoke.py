"""``make bench-smoke`` = ``python -m devnet.bench_smoke``: the regression guard of issue 15 part 6.

Two short benches on a fresh 4-validator devnet (one transaction per request, then batches of 100;
~20–30 s in all), printed next to the committed baseline ``docs/figures/bench-baseline.json`` with the
ratio of each figure to it. It **never fails on speed** (STYLE.md: a benchmark measures, a test checks
behaviour; CI machines are shared and noisy): it exits non-zero only when a bench could not run or
committed less than it was given, which is a broken tool or node, not a slow one. The figures that
compare across machines are the ratios to the same-run signature ceiling and the CPU and bytes per
transaction; tx/s is printed for the record. ``--write-baseline`` replaces the baseline file.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BASELINE = Path(__file__).resolve().parent.parent / "docs" / "figures" / "bench-baseline.json"
RUNS = {
    "single": ["--txs", "3000", "--clients", "2"],
    "batch100": ["--txs", "6000", "--clients", "2", "--batch", "100"],
}
FIGURES = (
    # (label, path in the report, lower is better)
    ("committed tx/s", ("committed_tx_per_s",), False),
    ("ratio to the same-run signature ceiling", ("ceiling_ratio",), False),
    ("signatures' share of node CPU", ("signature_cpu_share",), False),
    ("node CPU ms per tx (sum of 4)", ("cpu_ms_per_tx",), True),
    ("peer bytes per tx", ("wire", "peer_bytes_per_tx"), True),
    ("API bytes per tx", ("wire", "api_bytes_per_tx"), True),
    ("p99 submit→commit ms", ("latency_ms", "p99"), True),
)


def run_bench(name: str, extra: list[str], results: Path) -> dict[str, Any]:
    """One ``python -m devnet bench`` on its own temp devnet; its report.json."""
    out = results / name
    command = [sys.executable, "-m", "devnet", "bench", "--nodes", "4", *extra, "--results", str(out),
               "--log-level", "warning"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise SystemExit(f"bench-smoke: `{' '.join(command[1:])}` failed ({done.returncode}):\n"
                         f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    return report


def figure(report: dict[str, Any], path: tuple[str, ...]) -> float | None:
    value: Any = report
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value) if isinstance(value, int | float) else None


def table(current: dict[str, dict[str, Any]], baseline: dict[str, dict[str, Any]]) -> str:
    """The figures of each run beside the baseline's, with ``now / baseline``."""
    lines = [f"{'run':<9} {'figure':<40} {'now':>10} {'baseline':>10} {'now/base':>9}"]
    for name, report in current.items():
        base = baseline.get(name, {})
        for label, path, _lower_better in FIGURES:
            now, then = figure(report, path), figure(base, path)
            ratio = f"{now / then:.2f}" if now is not None and then else "–"
            lines.append(f"{name:<9} {label:<40} {_fmt(now):>10} {_fmt(then):>10} {ratio:>9}")
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devnet.bench_smoke", description=__doc__.split("\n")[0])
    parser.add_argument("--write-baseline", action="store_true", help=f"store this run as {BASELINE.name}")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-smoke-") as folder:
        current = {name: run_bench(name, extra, Path(folder)) for name, extra in RUNS.items()}
    for name, report in current.items():
        if report["committed"] != report["submitted"]:
            print(f"bench-smoke: {name}: {report['committed']} of {report['submitted']} committed", file=sys.stderr)
            return 1
    baseline = json.loads(BASELINE.read_text()) if BASELINE.exists() else {}
    print("bench-smoke (issue 15 part 6): figures only, never a failure on speed")
    print(table(current, baseline.get("runs", {})))
    if baseline.get("note"):
        print(f"baseline: {baseline['note']}")
    if args.write_baseline:
        keep = {name: {k: r[k] for k in ("committed_tx_per_s", "ceiling_ratio", "signature_cpu_share", "cpu_ms_per_tx",
                                         "wire", "latency_ms", "signature_ceiling", "batch", "submitted")}
                for name, r in current.items()}
        BASELINE.write_text(json.dumps({"note": "python -m devnet.bench_smoke --write-baseline", "runs": keep},
                                       indent=2) + "\n")
        print(f"wrote {BASELINE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
