"""``python -m devnet bench`` as an operator uses it: against a devnet with a node down (it says so and
measures the others), refused with a clear message below a quorum, and never leaving client processes
behind — even when the bench itself is killed with SIGKILL (issue 13, part 8)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import REPO, Devnet, devnet_cli, running_devnet, wait_until

pytestmark = [pytest.mark.blackbox, pytest.mark.timeout(240)]


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[Devnet]:
    """The bench's default workload drives ``noop``: a test chain (``--test-mode``, ADR 0012)."""
    yield from running_devnet(tmp_path, 4, "--test-mode")


def children_of(pid: int) -> list[int]:
    """Every live process whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_bench_runs_with_a_node_down_and_says_so(devnet: Devnet) -> None:
    devnet.cli("kill", 3)
    result = devnet.cli("bench", "--txs", "300", "--clients", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "node(s) 3 down" in result.stdout
    assert "committed     300 / accepted 300" in result.stdout

    devnet.cli("kill", 2)  # two of four down: below a quorum
    refused = devnet_cli("bench", "--txs", "10", "--clients", "1", "--dir", devnet.directory)
    assert refused.returncode != 0
    assert "only 2 of 4 nodes answer (down: 2, 3)" in refused.stdout + refused.stderr
    assert "Traceback" not in refused.stdout + refused.stderr


def test_a_killed_bench_leaves_no_client_behind(devnet: Devnet) -> None:
    bench = subprocess.Popen(
        [sys.executable, "-m", "devnet", "bench", "--dir", str(devnet.directory), "--txs", "200000",
         "--clients", "2", "--rate", "200"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    def two_or_more() -> list[int] | None:
        found = children_of(bench.pid)
        return found if len(found) >= 2 else None

    clients = wait_until(two_or_more, 60, "the bench's client processes")
    time.sleep(1.0)  # let them start signing
    os.kill(bench.pid, signal.SIGKILL)
    bench.wait(timeout=10)
    wait_until(lambda: not any(alive(pid) for pid in clients), 20, "the orphaned clients to exit")
