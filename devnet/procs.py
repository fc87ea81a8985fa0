"""Node processes of a devnet: init, start, stop (SIGTERM, then SIGKILL), kill -9, readiness.

Each node runs as ``sys.executable node.py run --home D/node{i}`` in its own session (so its process
group id is its pid and a terminal's Ctrl-C reaches only the launcher, which then stops the nodes),
with stdout and stderr appended to ``D/node{i}/node.log``. The pid goes into ``devnet.json``; before
signalling a recorded pid we check that ``/proc/<pid>/cmdline`` still names that node's home, so a
stale manifest never makes us signal an unrelated process that reused the pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from chain.errors import ConfigError
from devnet import netns
from devnet.layout import Manifest, NodeEntry, init_command, locked

REPO_ROOT = Path(__file__).resolve().parent.parent
STOP_TIMEOUT_S = 10.0
READY_TIMEOUT_S = 60.0


def node_script() -> str:
    """``node.py`` at the repository root, or ``$SILKPORT_NODE_SCRIPT`` when set."""
    return os.environ.get("SILKPORT_NODE_SCRIPT") or str(REPO_ROOT / "node.py")


# --- process state -------------------------------------------------------------------------------


def _proc_state(pid: int) -> str | None:
    """The one-letter state from ``/proc/<pid>/stat`` (``Z`` = zombie), or None if there is no such pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2]


_EXIT_STATUS: dict[int, int] = {}
"""Wait statuses of the children :func:`_reap` collected (for start-up failure reports)."""


def _reap(pid: int) -> bool:
    """Reap ``pid`` if it is our exited child; True if it was reaped."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    if done == pid:
        _EXIT_STATUS[pid] = status
    return done == pid


def exit_description(pid: int | None) -> str:
    """How a child we reaped ended (``exit code 1``, ``killed by SIGKILL``), or why we cannot tell."""
    status = _EXIT_STATUS.get(pid or 0)
    if status is None:
        return "exit status unknown (not our child, or its /proc entry did not name its home)"
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit code {os.WEXITSTATUS(status)}"


def is_running(entry: NodeEntry) -> bool:
    """True if ``entry.pid`` is a live (non-zombie) process running this node's home."""
    pid = entry.pid
    if not pid:
        return False
    if _reap(pid):
        return False
    state = _proc_state(pid)
    if state is None or state in "ZX":
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return entry.home.encode() in cmdline


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of ``pid`` in seconds (``/proc/<pid>/stat`` fields 14 and 15), None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, signum)


# --- lifecycle -----------------------------------------------------------------------------------


def init_nodes(manifest: Manifest, log_level: str = "info") -> None:
    """Run ``node.py init`` for every node (writes each home's config.json, copies genesis and key).

    The inits are independent (one home each), so they run concurrently: each is mostly interpreter
    start-up, and a devnet's start no longer grows by ~0.8 s per node."""
    script = node_script()
    commands = [init_command(sys.executable, script, manifest, entry, log_level) for entry in manifest.nodes]
    running = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO_ROOT)
        for command in commands
    ]
    failures = []
    for entry, command, process in zip(manifest.nodes, commands, running, strict=True):
        output, _ = process.communicate()
        if process.returncode != 0:
            failures.append(
                f"node.py init failed for node {entry.index} (exit {process.returncode}):\n"
                f"$ {' '.join(command)}\n{output}"
            )
    if failures:
        raise ConfigError("\n".join(failures))


def start_node(entry: NodeEntry, extra_args: Sequence[str] = (), group: int | None = None) -> int:
    """Start ``entry``'s node in the background (own session); record and return its pid.

    ``extra_args`` go after ``run --home H`` (``--byzantine MODE``); ``group`` runs it with that group
    id (root only: the chaos runner's link cuts match a node's packets by it, ADR 0016)."""
    log = open(entry.log_file, "ab")  # handed to the child, closed below
    try:
        log.write(
            f"\n--- devnet: starting node {entry.index} at {time.strftime('%Y-%m-%dT%H:%M:%S')}\n".encode()
        )
        log.flush()
        command = [sys.executable, node_script(), "run", "--home", entry.home, *extra_args]
        process = subprocess.Popen(
            netns.in_namespace(entry.netns, command) if entry.netns else command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
            start_new_session=True,
            group=group,
        )
    finally:
        log.close()
    if entry.netns:
        netns.wait_exec(process)
    entry.pid = process.pid
    return process.pid


def start_nodes(
    manifest: Manifest,
    indices: Iterable[int] | None = None,
    options: Callable[[int], tuple[Sequence[str], int | None]] | None = None,
) -> list[int]:
    """Start the listed nodes (default: all) that are not running; save the manifest; return those started.

    ``options(index)`` gives a node's ``(extra_args, group)`` for :func:`start_node`."""
    started = []
    # A --netns devnet holds the host lock until its nodes run, so a concurrent sweep never sees its
    # namespaces empty and removes them (ADR 0017).
    host = netns.host_lock() if manifest.netns else contextlib.nullcontext()
    with locked(manifest.directory), host:
        ensure_topology(manifest)
        for entry in manifest.nodes:
            if (indices is None or entry.index in indices) and not is_running(entry):
                start_node(entry, *(options(entry.index) if options else ((), None)))
                started.append(entry.index)
        manifest.save()
    return started


def ensure_topology(manifest: Manifest) -> None:
    """For a ``--netns`` devnet: build the namespaces if missing and start the WAN relay (ADR 0017)."""
    plan = manifest.netns_plan
    if plan is None:
        return
    netns.create(plan)
    manifest.netns = netns.start_proxy(plan, manifest.directory / "wanproxy.log", REPO_ROOT).to_json()


def remove_topology(manifest: Manifest) -> None:
    """For a ``--netns`` devnet whose nodes are stopped: remove the relay, namespaces, veths and bridge."""
    plan = manifest.netns_plan
    if plan is None:
        return
    with locked(manifest.directory):
        netns.destroy(plan)
        manifest.netns = {**plan.to_json(), "proxy_pid": None}
        manifest.save()


def kill_node(manifest: Manifest, index: int) -> bool:
    """SIGKILL node ``index`` (its whole process group); True if it was running."""
    with locked(manifest.directory):
        entry = manifest.node(index)
        running = is_running(entry)
        if running and entry.pid:
            _signal_group(entry.pid, signal.SIGKILL)
            _wait_gone([entry], 5.0)
            _wait_reaped(entry.pid, 10.0)
        entry.pid = None
        manifest.save()
    return running


def stop_nodes(
    manifest: Manifest, indices: Iterable[int] | None = None, timeout: float = STOP_TIMEOUT_S
) -> list[int]:
    """SIGTERM the listed nodes (default: all), wait up to ``timeout``, SIGKILL the rest; save the manifest.

    Returns the indices that had to be killed.
    """
    with locked(manifest.directory):
        targets = [e for e in manifest.nodes if (indices is None or e.index in indices) and is_running(e)]
        for entry in targets:
            if entry.pid:
                _signal_group(entry.pid, signal.SIGTERM)
        stubborn = _wait_gone(targets, timeout)
        for entry in stubborn:
            if entry.pid:
                _signal_group(entry.pid, signal.SIGKILL)
        _wait_gone(stubborn, 5.0)
        for entry in manifest.nodes:
            if indices is None or entry.index in indices:
                entry.pid = None
        manifest.save()
    return [e.index for e in stubborn]


def _wait_reaped(pid: int, timeout: float) -> None:
    """Wait until ``pid`` has no ``/proc`` entry left (reaping it if it is our child).

    ``is_running`` turns false as soon as a dying process has dropped its memory (its cmdline reads
    empty), and a killed leader shows as a zombie while its other threads still exit; only when the
    whole thread group is gone are its files closed and its LevelDB lock released, so a restart can
    open the store."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if _proc_state(pid) is None:
            return
        time.sleep(0.01)


def _wait_gone(entries: list[NodeEntry], timeout: float) -> list[NodeEntry]:
    deadline = time.monotonic() + timeout
    alive = [e for e in entries if is_running(e)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [e for e in alive if is_running(e)]
    return alive


# --- the API -------------------------------------------------------------------------------------


def fetch_json(url: str, timeout: float = 1.0) -> Any | None:
    """GET ``url`` and decode JSON; None on any connection or HTTP error."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.loads(response.read())
    except (OSError, urllib.error.URLError, ValueError):
        return None


def fetch_status(entry: NodeEntry, timeout: float = 1.0) -> dict[str, Any] | None:
    status = fetch_json(f"{entry.api}/v1/status", timeout)
    return status if isinstance(status, dict) else None


def log_tail(entry: NodeEntry, lines: int = 20) -> str:
    try:
        text = entry.log_file.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def wait_ready(
    manifest: Manifest, indices: Iterable[int] | None = None, timeout: float = READY_TIMEOUT_S
) -> None:
    """Wait until the listed nodes (default: all) answer ``/v1/status``; raise if one dies or time runs out."""
    pending = [e for e in manifest.nodes if indices is None or e.index in indices]
    deadline = time.monotonic() + timeout
    while pending:
        for entry in list(pending):
            if fetch_status(entry, timeout=0.5) is not None:
                pending.remove(entry)
            elif not is_running(entry):
                raise ConfigError(
                    f"node {entry.index} (pid {entry.pid}) exited during start-up ({exit_description(entry.pid)});"
                    f" last log lines:\n{log_tail(entry)}"
                )
        if pending and time.monotonic() > deadline:
            names = ", ".join(str(e.index) for e in pending)
            raise ConfigError(f"nodes {names} did not answer /v1/status within {timeout:.0f} s")
        if pending:
            time.sleep(0.2)
