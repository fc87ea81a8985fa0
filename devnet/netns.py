"""A devnet whose nodes live in their own Linux network namespaces, so partitions are real (ADR 0017).

Topology of devnet ``ID`` (6 hex digits) in address slot ``K``::

    root namespace                          namespace silkport-ID-n<i>
    bridge spkID ── veth spkIDd<i> ──────── eth0   10.77.K.(i+1)/24   peer port, API (for peers)
    spkIDm<i> 10.78.K.(4i+1)/30 ─ veth ──── mgmt0  10.78.K.(4i+2)/30  API (for the harness)

Nodes reach each other only over the bridge (the *data* links). Each node also has a point-to-point
*management* link to the root namespace, which carries only the harness's API calls
(``devnet status``, bench, tests): namespaces have no default route, so no node can reach another
through it. A cut is therefore real: :meth:`Topology.isolate` takes the node's data link down, and
:meth:`Topology.cut` drops one pair's packets with an nftables set inside both namespaces.

A WAN node ``w`` (:class:`Plan.wan_node`) talks to every peer through :mod:`devnet.wanproxy` running
in its own namespace: its config names ``127.0.0.1:<relay>`` for each peer, and the peers' configs
name relay ports on ``w``'s address, so every byte between ``w`` and the others crosses the relay
(and, since the relay lives in ``w``'s namespace, cuts still apply by address).

Everything is named with the ``silkport-``/``spk`` prefix; :func:`sweep` removes leftovers whose
namespaces run no process. Needs root and ``ip netns`` (iproute2) and ``nft``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from chain.errors import ConfigError

NS_PREFIX = "silkport-"
LINK_PREFIX = "spk"
DATA_NET = "10.77"
MGMT_NET = "10.78"
API_PORT = 26657
P2P_PORT = 26656
WAN_IN_P2P = 27656
WAN_IN_API = 27657
WAN_OUT_BASE = 28000
MAX_NODES = 60  # 4 mgmt addresses per node in one /24
LOCK_FILE = Path("/run/silkport-netns.lock")
PROXY_READY_TIMEOUT_S = 15.0
RESERVATION_S = 600
"""A bridge reserving a slot for a devnet that has no namespaces yet is spared by sweeps this long."""
NFT_TABLE = "silkport"


class NetnsError(ConfigError):
    """A network-namespace devnet cannot be built or changed here (not root, no ``ip netns``, ...)."""


# --- the plan (pure: names and addresses) --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    """Names and addresses of one namespace devnet; saved in the manifest under ``netns``."""

    devnet_id: str
    slot: int
    nodes: int
    wan_node: int | None = None
    rtt_ms: int = 0
    loss: float = 0.0
    seed: int = 0
    proxy_pid: int | None = None

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[0-9a-f]{6}", self.devnet_id):
            raise NetnsError(f"netns devnet_id must be 6 lowercase hex digits, got {self.devnet_id!r}")
        if not 1 <= self.slot <= 250:
            raise NetnsError(f"netns slot must be in 1..250, got {self.slot}")
        if not 1 <= self.nodes <= MAX_NODES:
            raise NetnsError(f"a netns devnet has 1..{MAX_NODES} nodes, got {self.nodes}")
        if self.wan_node is not None and not 0 <= self.wan_node < self.nodes:
            raise NetnsError(f"--wan-node must be in 0..{self.nodes - 1}, got {self.wan_node}")
        if self.rtt_ms < 0 or self.rtt_ms > 10_000:
            raise NetnsError(f"--rtt-ms must be in 0..10000, got {self.rtt_ms}")
        if not 0.0 <= self.loss < 0.5:
            raise NetnsError(f"--loss must be a fraction in [0, 0.5), got {self.loss}")

    # names
    def namespace(self, index: int) -> str:
        return f"{NS_PREFIX}{self.devnet_id}-n{index}"

    @property
    def bridge(self) -> str:
        return f"{LINK_PREFIX}{self.devnet_id}"

    def data_link(self, index: int) -> str:
        """Root-side end of node ``index``'s data veth (``eth0`` inside the namespace)."""
        return f"{LINK_PREFIX}{self.devnet_id}d{index}"

    def mgmt_link(self, index: int) -> str:
        """Root-side end of node ``index``'s management veth (``mgmt0`` inside the namespace)."""
        return f"{LINK_PREFIX}{self.devnet_id}m{index}"

    # addresses
    def data_address(self, index: int) -> str:
        return f"{DATA_NET}.{self.slot}.{index + 1}"

    def mgmt_root_address(self, index: int) -> str:
        return f"{MGMT_NET}.{self.slot}.{4 * index + 1}"

    def mgmt_address(self, index: int) -> str:
        return f"{MGMT_NET}.{self.slot}.{4 * index + 2}"

    def api_url(self, index: int) -> str:
        """Where the harness (root namespace) reaches node ``index``'s API: its management address."""
        return f"http://{self.mgmt_address(index)}:{API_PORT}"

    def p2p_listen(self, index: int) -> str:
        return f"{self.data_address(index)}:{P2P_PORT}"

    def peer_endpoints(self, viewer: int, peer: int) -> tuple[str, str]:
        """(API URL, peer address) of ``peer`` as ``viewer``'s config names them (through relays on a WAN)."""
        if viewer == self.wan_node:
            return f"http://127.0.0.1:{WAN_OUT_BASE + 2 * peer + 1}", f"127.0.0.1:{WAN_OUT_BASE + 2 * peer}"
        if peer == self.wan_node:
            address = self.data_address(peer)
            return f"http://{address}:{WAN_IN_API}", f"{address}:{WAN_IN_P2P}"
        address = self.data_address(peer)
        return f"http://{address}:{API_PORT}", f"{address}:{P2P_PORT}"

    def proxy_routes(self) -> list[tuple[str, str]]:
        """``(listen, target)`` pairs of the WAN relay (all inside the WAN node's namespace)."""
        wan = self.wan_node
        if wan is None:
            return []
        own = self.data_address(wan)
        routes = [(f"{own}:{WAN_IN_P2P}", f"{own}:{P2P_PORT}"), (f"{own}:{WAN_IN_API}", f"{own}:{API_PORT}")]
        for peer in range(self.nodes):
            if peer != wan:
                address = self.data_address(peer)
                routes.append((f"127.0.0.1:{WAN_OUT_BASE + 2 * peer}", f"{address}:{P2P_PORT}"))
                routes.append((f"127.0.0.1:{WAN_OUT_BASE + 2 * peer + 1}", f"{address}:{API_PORT}"))
        return routes

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Plan:
        try:
            return cls(**document)
        except TypeError as exc:
            raise NetnsError(f"manifest key netns is malformed: {exc}") from exc


def new_plan(
    nodes: int, *, wan_node: int | None = None, rtt_ms: int = 0, loss: float = 0.0, seed: int | None = None
) -> Plan:
    """A plan with a fresh id and the lowest address slot no other devnet on this host uses.

    The slot is reserved at once by creating the devnet's bridge with the alias
    ``silkport slot=K reserved=T``, so two devnets set up at the same time never share addresses.
    """
    require_netns()
    with host_lock():
        used = _used_slots()
        slot = next((k for k in range(1, 251) if k not in used), None)
        if slot is None:
            raise NetnsError(f"all 250 address slots {DATA_NET}.K.0/24 are in use; `devnet down` some")
        plan = Plan(
            secrets.token_hex(3),
            slot,
            nodes,
            wan_node,
            rtt_ms,
            loss,
            secrets.randbits(32) if seed is None else seed,
        )
        _run("ip", "link", "add", plan.bridge, "type", "bridge")
        _run("ip", "link", "set", plan.bridge, "alias", f"silkport slot={slot} reserved={int(time.time())}")
    return plan


# --- running commands -----------------------------------------------------------------------------


def require_netns() -> None:
    """Raise a clear :class:`NetnsError` unless we are root and ``ip netns`` and ``nft`` work."""
    if os.geteuid() != 0:
        raise NetnsError("--netns needs root (network namespaces, veth pairs and a bridge); run as root")
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            raise NetnsError(f"--netns needs the `{tool}` command, which is not installed")
    result = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    if result.returncode != 0:
        raise NetnsError(f"`ip netns` is unavailable here: {result.stderr.strip() or result.returncode}")


def _run(*command: str, stdin: str | None = None, check: bool = True) -> str:
    result = subprocess.run(list(command), input=stdin, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise NetnsError(f"`{' '.join(command)}` failed: {result.stderr.strip() or result.returncode}")
    return result.stdout


def in_namespace(namespace: str, command: list[str]) -> list[str]:
    """``command`` prefixed to run inside ``namespace`` (``ip netns exec`` execs in place: same pid)."""
    return ["ip", "netns", "exec", namespace, *command]


_lock_depth = 0


@contextlib.contextmanager
def host_lock() -> Iterator[None]:
    """Serialise topology changes, node starts and sweeps of every devnet on this host (re-entrant)."""
    global _lock_depth
    if _lock_depth:
        _lock_depth += 1
        try:
            yield
        finally:
            _lock_depth -= 1
        return
    with open(LOCK_FILE, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        _lock_depth = 1
        try:
            yield
        finally:
            _lock_depth = 0
            fcntl.flock(handle, fcntl.LOCK_UN)


def wait_exec(process: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """Wait until ``ip netns exec`` has exec'd its command in ``process``.

    During that second exec ``/proc/<pid>/cmdline`` reads empty for a moment, and a liveness check
    (``procs.is_running``) must not see a node that is starting as one that died.
    """
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        try:
            argv = Path(f"/proc/{process.pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return
        if argv[0] and os.path.basename(argv[0]) != b"ip":
            return
        time.sleep(0.005)


def _namespaces() -> list[str]:
    return [line.split()[0] for line in _run("ip", "netns", "list").splitlines() if line.strip()]


def _links() -> list[str]:
    return [line.split()[0].split("@")[0] for line in _run("ip", "-o", "-br", "link").splitlines() if line]


def _bridges() -> dict[str, tuple[int, int]]:
    """Our bridges: name -> (slot, reservation time; 0 once the topology is built)."""
    found = {}
    for line in _run("ip", "-o", "link", "show", "type", "bridge").splitlines():
        match = re.search(
            rf": ({LINK_PREFIX}[0-9a-f]{{6}}):.*alias silkport slot=(\d+)(?: reserved=(\d+))?", line
        )
        if match:
            found[match.group(1)] = (int(match.group(2)), int(match.group(3) or 0))
    return found


def _used_slots() -> set[int]:
    used = {slot for slot, _ in _bridges().values()}
    for line in _run("ip", "-4", "-o", "addr").splitlines():
        for prefix in (DATA_NET, MGMT_NET):
            match = re.search(rf"inet {re.escape(prefix)}\.(\d+)\.", line)
            if match:
                used.add(int(match.group(1)))
    return used


def _pids(namespace: str) -> list[int]:
    return [int(p) for p in _run("ip", "netns", "pids", namespace, check=False).split()]


# --- building and removing -------------------------------------------------------------------------

_NFT_RULES = f"""
table inet {NFT_TABLE} {{
  set cut {{ type ipv4_addr; }}
  chain input {{ type filter hook input priority 0; policy accept; ip saddr @cut drop; }}
  chain output {{ type filter hook output priority 0; policy accept; ip daddr @cut drop; }}
}}
"""


def exists(plan: Plan) -> bool:
    names = set(_namespaces())
    return all(plan.namespace(i) in names for i in range(plan.nodes)) and plan.bridge in _links()


def create(plan: Plan) -> None:
    """Build the bridge, the namespaces and both veths per node (idempotent: a partial one is rebuilt)."""
    require_netns()
    with host_lock():
        if exists(plan):
            return
        _destroy_locked(plan)
        try:
            _run("ip", "link", "add", plan.bridge, "type", "bridge")
            _run("ip", "link", "set", plan.bridge, "alias", f"silkport slot={plan.slot}")
            _run("ip", "link", "set", plan.bridge, "up")
            for i in range(plan.nodes):
                ns = plan.namespace(i)
                _run("ip", "netns", "add", ns)
                _run("ip", "-n", ns, "link", "set", "lo", "up")
                _run(
                    "ip",
                    "link",
                    "add",
                    plan.data_link(i),
                    "type",
                    "veth",
                    "peer",
                    "name",
                    "eth0",
                    "netns",
                    ns,
                )
                _run("ip", "link", "set", plan.data_link(i), "master", plan.bridge, "up")
                _run("ip", "-n", ns, "addr", "add", f"{plan.data_address(i)}/24", "dev", "eth0")
                _run("ip", "-n", ns, "link", "set", "eth0", "up")
                _run(
                    "ip",
                    "link",
                    "add",
                    plan.mgmt_link(i),
                    "type",
                    "veth",
                    "peer",
                    "name",
                    "mgmt0",
                    "netns",
                    ns,
                )
                _run("ip", "addr", "add", f"{plan.mgmt_root_address(i)}/30", "dev", plan.mgmt_link(i))
                _run("ip", "link", "set", plan.mgmt_link(i), "up")
                _run("ip", "-n", ns, "addr", "add", f"{plan.mgmt_address(i)}/30", "dev", "mgmt0")
                _run("ip", "-n", ns, "link", "set", "mgmt0", "up")
                _run(*in_namespace(ns, ["nft", "-f", "-"]), stdin=_NFT_RULES)
        except BaseException:
            _destroy_locked(plan)
            raise


def destroy(plan: Plan) -> None:
    """Stop the WAN relay and remove the namespaces, veths and bridge (missing pieces are fine)."""
    require_netns()
    with host_lock():
        _destroy_locked(plan)


def _destroy_locked(plan: Plan) -> None:
    stop_proxy(plan)
    names = set(_namespaces())
    for i in range(plan.nodes):
        ns = plan.namespace(i)
        if ns in names:
            for pid in _pids(ns):  # nodes are stopped first; anything left here is ours
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            _run("ip", "netns", "del", ns, check=False)
    links = set(_links())
    for name in [plan.bridge] + [f(i) for i in range(plan.nodes) for f in (plan.data_link, plan.mgmt_link)]:
        if name in links:
            _run("ip", "link", "del", name, check=False)


def sweep() -> list[str]:
    """Remove leftovers tagged ``silkport-``/``spk`` whose namespaces run no process; return what went."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return []
    removed = []
    with host_lock():
        by_id: dict[str, list[str]] = {}
        for ns in _namespaces():
            match = re.fullmatch(rf"{NS_PREFIX}([0-9a-f]{{6}})-n\d+", ns)
            if match:
                by_id.setdefault(match.group(1), []).append(ns)
        live = {devnet_id for devnet_id, spaces in by_id.items() if any(_pids(ns) for ns in spaces)}
        now = int(time.time())
        for bridge, (_, reserved) in _bridges().items():  # a slot reserved by a devnet still being set up
            if reserved and now - reserved < RESERVATION_S:
                live.add(bridge.removeprefix(LINK_PREFIX))
        for devnet_id, spaces in by_id.items():
            if devnet_id not in live:
                for ns in spaces:
                    _run("ip", "netns", "del", ns, check=False)
                    removed.append(ns)
        for link in _links():
            match = re.fullmatch(rf"{LINK_PREFIX}([0-9a-f]{{6}})([dm]\d+)?", link)
            if match and match.group(1) not in live:
                _run("ip", "link", "del", link, check=False)
                removed.append(link)
    return removed


# --- cuts --------------------------------------------------------------------------------------------


def _set_link(plan: Plan, index: int, state: str) -> None:
    _run("ip", "link", "set", plan.data_link(index), state)


def isolate(plan: Plan, index: int) -> None:
    """Cut node ``index`` off every peer: its data link goes down (its API stays reachable)."""
    _set_link(plan, index, "down")


def rejoin(plan: Plan, index: int) -> None:
    _set_link(plan, index, "up")


def _cut_element(plan: Plan, index: int, other: int, verb: str) -> None:
    _run(
        *in_namespace(plan.namespace(index), ["nft", verb, "element", "inet", NFT_TABLE, "cut"]),
        f"{{ {plan.data_address(other)} }}",
        check=verb == "add",
    )


def cut(plan: Plan, i: int, j: int) -> None:
    """Drop every packet between nodes ``i`` and ``j`` (both directions, in both namespaces)."""
    if i == j:
        raise NetnsError(f"cannot cut node {i} from itself")
    _cut_element(plan, i, j, "add")
    _cut_element(plan, j, i, "add")


def heal(plan: Plan, i: int, j: int) -> None:
    _cut_element(plan, i, j, "delete")
    _cut_element(plan, j, i, "delete")


# --- the WAN relay -------------------------------------------------------------------------------------


def proxy_command(plan: Plan) -> list[str]:
    if plan.wan_node is None:
        raise NetnsError("this netns devnet has no WAN node")
    command = [
        sys.executable,
        "-m",
        "devnet.wanproxy",
        "--rtt-ms",
        str(plan.rtt_ms),
        "--loss",
        repr(plan.loss),
        "--seed",
        str(plan.seed),
    ]
    for listen, target in plan.proxy_routes():
        command += ["--route", f"{listen}={target}"]
    return in_namespace(plan.namespace(plan.wan_node), command)


def start_proxy(plan: Plan, log_file: Path, cwd: Path) -> Plan:
    """Start the WAN relay in the WAN node's namespace unless it runs; return the plan with its pid."""
    if plan.wan_node is None or _proxy_running(plan):
        return plan
    with open(log_file, "ab") as log:
        offset = log.tell()
        process = subprocess.Popen(
            proxy_command(plan),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
        )
    deadline = time.monotonic() + PROXY_READY_TIMEOUT_S
    while b"wanproxy ready" not in log_file.read_bytes()[offset:]:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            tail = log_file.read_bytes()[offset:].decode(errors="replace")[-2000:]
            raise NetnsError(f"the WAN relay did not start (see {log_file}):\n{tail}")
        time.sleep(0.05)
    return Plan(**{**plan.to_json(), "proxy_pid": process.pid})


def _proxy_running(plan: Plan) -> bool:
    if not plan.proxy_pid:
        return False
    try:
        cmdline = Path(f"/proc/{plan.proxy_pid}/cmdline").read_bytes()
        state = Path(f"/proc/{plan.proxy_pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return b"devnet.wanproxy" in cmdline and state not in ("Z", "X")


def stop_proxy(plan: Plan) -> None:
    if _proxy_running(plan) and plan.proxy_pid:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(plan.proxy_pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(plan.proxy_pid, 0)
