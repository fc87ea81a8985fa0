"""The namespace topology itself (ADR 0017): cuts really drop packets, and nothing is left behind.

Tiny TCP servers and clients run inside our own namespaces (``ip netns exec``); no node is started.
Needs root and ``ip netns``; skipped with the reason otherwise (CI runs as root).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from devnet import netns

pytestmark = pytest.mark.timeout(120)

try:
    netns.require_netns()
    REASON = ""
except netns.NetnsError as exc:
    REASON = exc.message
if REASON:
    pytestmark = [pytestmark, pytest.mark.skip(reason=f"network namespaces unavailable here: {REASON}")]

PORT = 24000
SERVER = f"""
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", {PORT})); s.listen(16)
print("listening", flush=True)
while True:
    c, _ = s.accept(); c.sendall(b"hi"); c.close()
"""
CLIENT = """
import socket, sys
try:
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1.5)
    print(c.recv(2).decode() or "closed")
except OSError as exc:
    print("unreachable", type(exc).__name__)
"""


def reach(plan: netns.Plan, source: int | None, address: str) -> bool:
    """Can ``source``'s namespace (None: the root namespace) open a TCP connection to ``address``?"""
    command = [sys.executable, "-c", CLIENT, address, str(PORT)]
    if source is not None:
        command = netns.in_namespace(plan.namespace(source), command)
    out = subprocess.run(command, capture_output=True, text=True, timeout=20).stdout
    return out.strip() == "hi"


@pytest.fixture
def topology() -> Iterator[netns.Plan]:
    netns.sweep()
    plan = netns.new_plan(3)
    servers: list[subprocess.Popen[str]] = []
    try:
        with netns.host_lock():  # a concurrent sweep must not see these namespaces before they run anything
            netns.create(plan)
            for index in range(plan.nodes):
                server = subprocess.Popen(
                    netns.in_namespace(plan.namespace(index), [sys.executable, "-c", SERVER]),
                    stdout=subprocess.PIPE,
                    text=True,
                )
                servers.append(server)
                assert server.stdout is not None and server.stdout.readline().strip() == "listening"
        yield plan
    finally:
        for server in servers:
            server.kill()
            server.wait()
        netns.destroy(plan)


def test_bridge_connects_nodes_and_management_links_reach_only_their_node(topology: netns.Plan) -> None:
    plan = topology
    assert reach(plan, 0, plan.data_address(1)) and reach(plan, 2, plan.data_address(0))
    assert reach(plan, None, plan.mgmt_address(1)), "the harness reaches every node's management address"
    assert not reach(plan, 0, plan.mgmt_address(1)), "a node must not reach another through management links"


def test_isolate_and_pair_cut_drop_traffic_and_heal_restores_it(topology: netns.Plan) -> None:
    plan = topology
    netns.isolate(plan, 1)
    assert not reach(plan, 0, plan.data_address(1)) and not reach(plan, 1, plan.data_address(2))
    assert reach(plan, 0, plan.data_address(2)), "the others still talk"
    assert reach(plan, None, plan.mgmt_address(1)), "the isolated node's API stays reachable for the harness"
    netns.rejoin(plan, 1)
    assert reach(plan, 0, plan.data_address(1))

    netns.cut(plan, 0, 2)
    assert not reach(plan, 0, plan.data_address(2)) and not reach(plan, 2, plan.data_address(0))
    assert reach(plan, 0, plan.data_address(1)) and reach(plan, 1, plan.data_address(2))
    netns.cut(plan, 0, 2)  # cutting twice is harmless
    netns.heal(plan, 0, 2)
    assert reach(plan, 0, plan.data_address(2)) and reach(plan, 2, plan.data_address(0))
    netns.heal(plan, 0, 2)  # and so is healing twice
    with pytest.raises(netns.NetnsError, match="cannot cut node 1 from itself"):
        netns.cut(plan, 1, 1)


def test_a_reserved_slot_is_not_handed_out_twice_and_survives_a_sweep() -> None:
    first = netns.new_plan(2)
    try:
        second = netns.new_plan(2)
        try:
            assert second.slot != first.slot
            netns.sweep()  # neither has namespaces yet: their reservations must survive
            links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
            assert first.bridge in links and second.bridge in links
        finally:
            netns.destroy(second)
    finally:
        netns.destroy(first)


def test_destroy_and_sweep_leave_nothing_behind() -> None:
    def ours(plan: netns.Plan) -> list[str]:
        names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
        return [w for w in (names + links).split() if plan.devnet_id in w]

    plan = netns.new_plan(2)
    leftover: netns.Plan | None = None
    try:
        netns.create(plan)
        assert len(ours(plan)) >= 2 + 1 + 4  # namespaces, bridge, two veths per node
        netns.destroy(plan)
        assert ours(plan) == []

        leftover = netns.new_plan(2)  # as if a run had died before its finally
        netns.create(leftover)
        removed = netns.sweep()
        assert leftover.namespace(0) in removed and ours(leftover) == []
    finally:
        netns.destroy(plan)
        if leftover is not None:
            netns.destroy(leftover)


def test_a_topology_with_a_running_process_survives_a_sweep(topology: netns.Plan) -> None:
    netns.sweep()  # the fixture's servers run inside its namespaces
    assert netns.exists(topology)


def test_a_process_started_in_a_namespace_shows_its_command_line_at_once(topology: netns.Plan) -> None:
    """``ip netns exec`` execs a second time; until then /proc/<pid>/cmdline can read empty, and the
    devnet's liveness check took a starting node for a dead one (a flaky ``bench --netns``)."""
    for _ in range(10):
        process = subprocess.Popen(
            netns.in_namespace(topology.namespace(0), [sys.executable, "-c", "import sys; sys.stdin.read()"]),
            stdin=subprocess.PIPE,
        )
        try:
            netns.wait_exec(process)
            argv = open(f"/proc/{process.pid}/cmdline", "rb").read().split(b"\0")
            assert argv[0] == sys.executable.encode() and argv[1] == b"-c"
        finally:
            process.kill()
            process.wait()
