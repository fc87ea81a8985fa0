"""The chaos fault schedule keeps PBFT's fault budget and is replayable from its seed (ADR 0016 §1–2)."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path
from typing import Any

import pytest

from devnet import layout
from devnet.chaos import faults, links


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def injector(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, nodes: int, budget: int, seed: int,
             exempt: tuple[int, ...] = ()) -> tuple[faults.FaultInjector, Clock, list[tuple[str, int]]]:
    """An injector over a fake manifest: process actions are recorded instead of performed."""
    entries = [
        layout.NodeEntry(i, f"id{i}", f"node{i}", "org", "CN", f"127.0.0.1:{40000 + i}", "", str(tmp_path / f"n{i}"),
                         "", pid=1000 + i)
        for i in range(nodes)
    ]
    manifest = layout.Manifest(tmp_path, "chain", "", entries)
    actions: list[tuple[str, int]] = []
    monkeypatch.setattr(faults.procs, "is_running", lambda entry: True)
    monkeypatch.setattr(faults.procs, "kill_node", lambda m, i: actions.append(("kill", i)))
    monkeypatch.setattr(faults.procs, "start_nodes", lambda m, ids, opts=None: actions.extend(("start", i) for i in ids))
    monkeypatch.setattr(faults.FaultInjector, "_signal", lambda self, i, s: actions.append((f"signal{int(s)}", i)))
    monkeypatch.setattr(faults.links, "available", lambda: "not in a unit test")
    clock = Clock()
    made = faults.FaultInjector(manifest, rng=random.Random(seed), budget=budget, exempt=exempt,
                                start_options=lambda i: ((), None), clock=clock, log=lambda line: None)
    return made, clock, actions


def run_schedule(made: faults.FaultInjector, clock: Clock, steps: int) -> list[int]:
    """Inject every second with random hold times; return the number of active faults after each step."""
    active = []
    rng = random.Random(1)
    for _ in range(steps):
        clock.now += 1.0
        made.heal_due()
        made.inject(rng.uniform(0.5, 4.0))
        active.append(len(made.active))
    return active


@pytest.mark.parametrize(("nodes", "budget"), [(4, 1), (7, 2), (10, 3)])
def test_never_more_than_the_budget(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, nodes: int, budget: int) -> None:
    made, clock, _ = injector(monkeypatch, tmp_path, nodes, budget, seed=nodes)
    active = run_schedule(made, clock, 200)
    assert max(active) == budget
    for fault in made.history:
        overlapping = {f.node for f in made.history if f.start <= fault.start < (f.end or 1e9)}
        assert len(overlapping) <= budget


def test_byzantine_nodes_are_never_chosen_and_use_the_budget(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    made, clock, _ = injector(monkeypatch, tmp_path, 7, budget=1, seed=3, exempt=(2,))
    run_schedule(made, clock, 100)
    assert made.history and all(f.node != 2 for f in made.history)
    zero, clock0, actions = injector(monkeypatch, tmp_path, 4, budget=0, seed=3)
    assert run_schedule(zero, clock0, 20) == [0] * 20 and actions == []


def test_every_kind_comes_in_each_round_and_heals(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    made, clock, actions = injector(monkeypatch, tmp_path, 4, budget=1, seed=9)
    for _ in range(3):
        clock.now += 10
        made.heal_due()
        made.inject(2.0)
    clock.now += 10
    made.heal_all()
    kinds = [f.kind for f in made.history]
    # a cut cannot be made in a unit test (links.available() says why): it becomes a pause and says so
    assert sorted(kinds) == ["kill", "pause", "pause"]
    assert any("link cut unavailable" in f.note for f in made.history)
    kills = [a for a in actions if a[0] == "kill"]
    starts = [a for a in actions if a[0] == "start"]
    assert [i for _, i in kills] == [i for _, i in starts]  # every killed node restarted
    assert not made.active and all(f.end is not None for f in made.history)


def test_the_seed_replays_the_schedule(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def schedule(seed: int) -> list[Any]:
        made, clock, _ = injector(monkeypatch, tmp_path, 7, budget=2, seed=seed)
        run_schedule(made, clock, 50)
        return [(f.kind, f.node, f.start) for f in made.history]

    assert schedule(5) == schedule(5)
    assert schedule(5) != schedule(6)


@pytest.mark.skipif(links.available() is not None, reason="needs root and a working iptables")
def test_cut_rules_are_added_removed_and_swept() -> None:
    cutter = links.LinkCutter()
    try:
        cutter.cut(0, 1, [61001, 62001], links.group_for_port(61001), [61002, 62002], links.group_for_port(61002))
        listing = subprocess.run(["iptables", "-w", "-S", "OUTPUT"], capture_output=True, text=True).stdout
        assert listing.count(cutter.tag) == 4
        assert all(f"--dport {port}" in listing for port in (61001, 62001, 61002, 62002))
        cutter.heal(0, 1)
        assert cutter.tag not in subprocess.run(["iptables", "-w", "-S", "OUTPUT"], capture_output=True, text=True).stdout
        # a rule left by a runner that died (pid gone) is swept; ours (alive) is not
        dead = subprocess.Popen(["true"])
        dead.wait()
        stale_tag = f"{links.TAG}:{dead.pid}"
        subprocess.run(["iptables", "-w", "-A", *links._rule(61003, 123456, stale_tag)], check=True)
        cutter.cut(0, 1, [61001], 1, [61002], 2)
        links.sweep_stale()  # (a chaos run in parallel may have swept it first: check the listing)
        listing = subprocess.run(["iptables", "-w", "-S", "OUTPUT"], capture_output=True, text=True).stdout
        assert stale_tag not in listing and listing.count(cutter.tag) == 2
    finally:
        cutter.heal_all()
    assert cutter.tag not in subprocess.run(["iptables", "-w", "-S", "OUTPUT"], capture_output=True, text=True).stdout
