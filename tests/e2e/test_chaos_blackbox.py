"""Black-box: the chaos runner, the Byzantine modes and crash durability on real node processes (ADR 0016).

Each test runs ``python -m devnet chaos|crashtest --json`` (its own temp devnet) and asserts the
correct behaviour from the report: zero safety violations, zero lost acknowledged transactions, every
node at one head after the last heal. By default one bounded chaos run (kills, pauses, a link cut), the
forge and stale Byzantine peers and a 5-kill crash run; ``SILKPORT_LONG=1`` adds the equivocating chaos
run, 20 seeds of 2-minute chaos runs and a 100-kill crash run. The consensus catch-up defects of issue 13 make these fail until they are fixed;
they are not weakened for it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from devnet.chaos import links

from .conftest import REPO, Devnet, devnet_cli, noop_tx, teardown_devnet, wait_until

pytestmark = pytest.mark.blackbox
LONG = os.environ.get("SILKPORT_LONG") == "1"


def run_json(*args: str, timeout: float) -> tuple[int, dict[str, Any], str]:
    result = devnet_cli(*args, "--json", timeout=timeout)
    try:
        report = json.loads(result.stdout)
    except ValueError:
        pytest.fail(f"no JSON report (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.returncode, report, result.stderr


def assert_clean(code: int, report: dict[str, Any], stderr: str) -> None:
    summary = {k: v for k, v in report.items() if k != "events"}
    detail = f"{json.dumps(summary, indent=1)}\n{chr(10).join(report.get('events', []))}\n{stderr}"
    assert report["safety_violations"] == [], detail
    assert report["lost_acknowledged_count"] == 0, detail
    assert report["converged"], detail
    assert report["passed"] and code == 0, detail
    assert report["load"]["acknowledged"] > 0, detail  # the load really ran and was checked
    # every node was at one head after the last heal, and the chain checks covered at least that head
    assert report["checked_height"] >= report["converged_height"] > 0, detail


def test_chaos_run_with_kills_pauses_and_a_link_cut() -> None:
    code, report, stderr = run_json(
        "chaos", "--nodes", "4", "--duration", "30", "--interval", "8", "--rate", "50", "--seed", "7",
        "--converge-timeout", "60", timeout=150,
    )
    kinds = [fault["kind"] for fault in report["faults"]]
    assert "kill" in kinds and "pause" in kinds, kinds
    if links.available() is None:
        assert "cut" in kinds, report["faults"]
        assert report["link_cuts"] == "iptables"
    else:  # no root or no iptables here: the runner says it paused instead (ADR 0016)
        assert any("link cut unavailable" in fault.get("note", "") for fault in report["faults"])
    assert all(f["end_s"] is not None for f in report["faults"])
    assert_clean(code, report, stderr)
    if links.available() is None:  # the runner has exited: no rule may carry a dead runner's tag
        leftovers = [tag for tag, _ in links._tagged_rules() if not Path(f"/proc/{tag.rsplit(':', 1)[1]}").exists()]
        assert leftovers == [], "the run left iptables rules behind"


@pytest.mark.skipif(not LONG, reason="a second bounded chaos run (Byzantine forge/stale peers run by default): set SILKPORT_LONG=1")
def test_chaos_run_with_an_equivocating_node() -> None:
    code, report, stderr = run_json(
        "chaos", "--nodes", "4", "--duration", "25", "--interval", "8", "--rate", "50", "--seed", "11",
        "--byzantine", "1", "--byzantine-mode", "equivocate", "--converge-timeout", "60", timeout=150,
    )
    assert list(report["byzantine"].values()) == ["equivocate"]
    assert report["faults"] == []  # K = f: the Byzantine node is the whole fault budget
    assert_clean(code, report, stderr)


def test_byzantine_refused_without_the_test_flag(devnet: Devnet) -> None:
    result = devnet_cli("chaos", "--dir", devnet.directory, "--byzantine", "1", "--duration", "5")
    assert result.returncode == 1
    assert "test_mode" in result.stderr and "Traceback" not in result.stderr, result.stderr
    devnet.cli("kill", 3)
    home = devnet.manifest.node(3).home
    node = subprocess.run(
        [sys.executable, "node.py", "run", "--home", home, "--byzantine", "silent"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )
    assert node.returncode == 1
    assert "test_mode" in node.stderr and "Traceback" not in node.stderr, node.stderr
    bad_mode = subprocess.run(
        [sys.executable, "node.py", "run", "--home", home, "--byzantine", "loud"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )
    assert bad_mode.returncode != 0 and "invalid choice" in bad_mode.stderr
    devnet.cli("start", 3)  # the refused runs changed nothing: the node starts and follows the chain
    head = devnet.height(0) or 0
    devnet.wait_height(3, head)


def test_byzantine_count_above_f_is_refused() -> None:
    result = devnet_cli("chaos", "--nodes", "4", "--byzantine", "2", "--duration", "5")
    assert result.returncode == 1
    assert "--byzantine must be between 0 and f = 1" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.timeout(3900 if LONG else 600)
def test_crash_durability_bounded() -> None:
    kills = "100" if LONG else "5"
    code, report, stderr = run_json(
        "crashtest", "--kills", kills, "--seed", "5", "--rate", "50", timeout=3600 if LONG else 240
    )
    detail = json.dumps({k: v for k, v in report.items() if k != "rounds"}, indent=1) + stderr
    assert report["kills"] == int(kills), detail
    assert report["opened_without_repair"] == report["kills"], detail
    assert report["lost_committed_heads"] == [] and report["double_votes"] == [], detail
    assert report["safety_violations"] == [] and report["lost_acknowledged_count"] == 0, detail
    assert report["passed"] and code == 0, detail


@pytest.mark.slow
@pytest.mark.skipif(not LONG, reason="20 two-minute chaos runs: set SILKPORT_LONG=1")
@pytest.mark.parametrize("seed", range(1, 21))
def test_chaos_long_seeds(seed: int, tmp_path: Path) -> None:
    code, report, stderr = run_json(
        "chaos", "--duration", "120", "--interval", "10", "--seed", str(seed), timeout=600
    )
    (tmp_path / "report.json").write_text(json.dumps(report, indent=1))
    assert_clean(code, report, stderr)  # converge_s is a figure for docs/reliability.md, not asserted


def dropped(devnet: Devnet, index: int, reason: str) -> float:
    """``silkport_consensus_dropped{reason=...}`` from node ``index``'s ``/metrics`` (0 if absent)."""
    try:
        with urllib.request.urlopen(f"{devnet.api(index)}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return 0.0
    for line in text.splitlines():
        if line.startswith("silkport_consensus_dropped{") and f'reason="{reason}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


# A stale replay is mostly of a height node 0 has committed ("old_height"); "duplicate" only when the
# replayed message's instance is still open, which depends on timing (it failed once in 60 s).
@pytest.mark.parametrize(("mode", "reason"), [("forge", "bad_signature"), ("stale", "old_height")])
def test_a_byzantine_peer_is_dropped_and_counted(tmp_path: Path, mode: str, reason: str) -> None:
    """A real node in ``mode`` (test chain): the honest three keep committing and count its messages."""
    directory = tmp_path / "devnet"
    result = devnet_cli("up", "--dir", directory, "--nodes", "4", "--detach", "--test-mode", "--ready-timeout", "60", "--no-cast")
    assert result.returncode == 0, result.stdout + result.stderr
    devnet = Devnet(directory)
    byzantine: subprocess.Popen[bytes] | None = None
    try:
        devnet.cli("kill", 3)
        honest_drops = dropped(devnet, 0, reason)
        entry = devnet.manifest.node(3)
        with open(entry.log_file, "ab") as log:
            byzantine = subprocess.Popen(
                [sys.executable, "node.py", "run", "--home", entry.home, "--byzantine", mode],
                cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        wait_until(lambda: dropped(devnet, 0, reason) > honest_drops, 60, f"node 0 counting {reason} drops from node 3")
        for index in (0, 1, 2):
            tx_id = devnet.submit(index, noop_tx(devnet.chain_id, f"{mode} {index}"))
            devnet.wait_committed((index + 1) % 3, tx_id)
        head = min(devnet.height(i) or 0 for i in (0, 1, 2))
        devnet.assert_agree([0, 1, 2], head)
        assert byzantine.poll() is None, "the Byzantine node itself must keep running"
    finally:
        if byzantine is not None and byzantine.poll() is None:
            os.killpg(byzantine.pid, signal.SIGKILL)
            byzantine.wait(10)
        teardown_devnet(directory)
