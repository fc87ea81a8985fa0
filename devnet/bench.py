"""``python -m devnet bench``: drive signed transactions through a running devnet and measure it.

- ``--clients C`` separate processes (multiprocessing, spawn), each with its own sender keys, build
  and sign their share of the transactions (a :mod:`devnet.workloads` generator) **before** the
  timed phase, commit their setup transactions, then wait for a common start signal.
- Each client POSTs canonical msgpack to ``/v1/txs`` on all nodes round-robin through one aiohttp
  session (keep-alive), at ``--rate R`` tx/s in total (open loop: transaction ``i`` is due at
  ``start + i / rate`` and its latency counts from that due time, so a slow node cannot hide its
  queueing — no coordinated omission) or as fast as ``--concurrency`` in-flight requests allow.
- The parent tracks commits by following the chain: it polls ``/v1/blocks/latest`` and fetches each
  new block's ``tx_ids`` (one request per block, not one per transaction).
- It reports committed tx/s (committed / (last commit - first submission)), submit→commit latency
  p50/p99, the blocks committed, and CPU seconds used by each node process (``/proc/<pid>/stat``).

This measures; it asserts nothing (STYLE.md: a benchmark measures speed, a test checks behaviour).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import json
import math
import multiprocessing
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from queue import Empty
from typing import Any

import aiohttp

from chain.consensus.quorum import quorum
from chain.errors import ConfigError
from chain.genesis import load_genesis
from devnet import layout, netns, procs
from devnet.workloads import WORKLOADS, WorkloadContext

MSGPACK = {"Content-Type": "application/msgpack"}
BLOCK_POLL_S = 0.05
PR_SET_PDEATHSIG = 1
SETUP_TIMEOUT_S = 120.0


@dataclass(frozen=True, slots=True)
class ClientJob:
    index: int
    clients: int
    count: int
    apis: tuple[str, ...]
    chain_id: str
    devnet_dir: str
    workload: str
    rate: float  # this client's share, tx/s; 0 = as fast as possible
    concurrency: int
    parent_pid: int


# --- client processes ----------------------------------------------------------------------------


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this client when the bench process dies, however it dies (even kill -9),
    so no client is ever left behind (``prctl(PR_SET_PDEATHSIG)``; a no-op elsewhere). A bench that
    died while this process was still starting is caught by the parent check after the call."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent_pid:
        os._exit(1)


def _client_main(job: ClientJob, ready: Any, go: Any, results: Any) -> None:
    """Body of one client process: sign, set up, wait for ``go``, submit, report records."""
    _die_with_parent(job.parent_pid)
    try:
        plan = WORKLOADS[job.workload](
            WorkloadContext(job.chain_id, job.index, job.clients, job.count, job.devnet_dir)
        )
        payloads = [(tx.tx_id, tx.encode()) for tx in plan.timed]
        if plan.setup:
            asyncio.run(_setup(job, [(tx.tx_id, tx.encode()) for tx in plan.setup]))
        ready.put(("ready", job.index, ""))
        go.wait()
        records = asyncio.run(_submit_all(job, payloads))
        results.put(("done", job.index, records))
    except Exception as exc:  # report, never hang the parent
        ready.put(("error", job.index, f"{type(exc).__name__}: {exc}"))
        results.put(("error", job.index, f"{type(exc).__name__}: {exc}"))


async def _setup(job: ClientJob, payloads: list[tuple[str, bytes]]) -> None:
    """Submit setup transactions in order to the first node and wait until each is committed."""
    api = job.apis[0]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        for tx_id, body in payloads:
            async with session.post(f"{api}/v1/txs", data=body, headers=MSGPACK) as response:
                if response.status >= 300:
                    raise ConfigError(
                        f"setup tx {tx_id[:16]} refused: {response.status} {await response.text()}"
                    )
        deadline = time.monotonic() + SETUP_TIMEOUT_S
        for tx_id, _ in payloads:
            while True:
                url = f"{api}/v1/txs/{tx_id}?wait=commit&timeout=10"
                async with session.get(url) as response:
                    if response.status == 200 and (await response.json()).get("status") == "committed":
                        break
                if time.monotonic() > deadline:
                    raise ConfigError(f"setup tx {tx_id[:16]} not committed within {SETUP_TIMEOUT_S:.0f} s")


async def _submit_all(
    job: ClientJob, payloads: list[tuple[str, bytes]]
) -> list[tuple[str, float, bool, str]]:
    """POST every payload; return ``(tx_id, submitted_at, accepted, error)`` per transaction."""
    records: list[tuple[str, float, bool, str]] = [("", 0.0, False, "")] * len(payloads)
    limit = asyncio.Semaphore(job.concurrency)
    connector = aiohttp.TCPConnector(limit=job.concurrency, keepalive_timeout=60)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:

        async def post(i: int, tx_id: str, body: bytes, due: float | None) -> None:
            async with limit:
                sent = time.monotonic()
                try:
                    api = job.apis[(i + job.index) % len(job.apis)]
                    async with session.post(f"{api}/v1/txs", data=body, headers=MSGPACK) as response:
                        accepted = 200 <= response.status < 300
                        error = "" if accepted else f"{response.status} {(await response.text())[:200]}"
                except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                    accepted, error = False, f"{type(exc).__name__}: {exc}"
            records[i] = (tx_id, due if due is not None else sent, accepted, error)

        start = time.monotonic()
        tasks = []
        for i, (tx_id, body) in enumerate(payloads):
            due = None
            if job.rate > 0:
                due = start + i / job.rate
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(i, tx_id, body, due)))
            if job.rate <= 0 and len(tasks) % job.concurrency == 0:
                await asyncio.sleep(0)  # let the first requests go out while the rest are queued
        await asyncio.gather(*tasks)
    return records


# --- the parent: commit tracking and the report --------------------------------------------------


class CommitTracker:
    """Follows the chain through one node (falling back to the others) and notes when each tx commits."""

    def __init__(self, apis: list[str]) -> None:
        self.apis = apis
        self.source = 0
        self.height: int | None = None
        self.committed_at: dict[str, float] = {}
        self.block_times: dict[int, tuple[float, int]] = {}

    async def _get(self, session: aiohttp.ClientSession, path: str) -> Any | None:
        for attempt in range(len(self.apis)):
            api = self.apis[(self.source + attempt) % len(self.apis)]
            try:
                async with session.get(f"{api}{path}") as response:
                    if response.status == 200:
                        self.source = (self.source + attempt) % len(self.apis)
                        return await response.json()
            except (TimeoutError, aiohttp.ClientError, OSError):
                continue
        return None

    async def start(self, session: aiohttp.ClientSession) -> None:
        latest = await self._get(session, "/v1/blocks/latest")
        if latest is None:
            raise ConfigError("no node answers /v1/blocks/latest")
        self.height = block_height(latest)

    async def poll(self, session: aiohttp.ClientSession) -> None:
        latest = await self._get(session, "/v1/blocks/latest")
        if latest is None or self.height is None:
            return
        top = block_height(latest)
        for height in range(self.height + 1, top + 1):
            block = latest if height == top else await self._get(session, f"/v1/blocks/{height}")
            if block is None:
                return
            now = time.monotonic()
            for tx_id in block.get("tx_ids", []):
                self.committed_at.setdefault(tx_id, now)
            self.block_times[height] = (now, len(block.get("tx_ids", [])))
            self.height = height


def block_height(block: dict[str, Any]) -> int:
    """The height of a ``/v1/blocks/...`` answer (``header.height``)."""
    header = block.get("header")
    return int(header["height"] if isinstance(header, dict) else block["height"])


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of ``values`` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


def summarize(
    records: list[tuple[str, float, bool, str]],
    tracker: CommitTracker,
    cpu_before: dict[int, float | None],
    cpu_after: dict[int, float | None],
    meta: dict[str, Any],
) -> dict[str, Any]:
    """The bench report as a JSON-ready dict."""
    accepted = [r for r in records if r[2]]
    latencies = [tracker.committed_at[r[0]] - r[1] for r in accepted if r[0] in tracker.committed_at]
    first_submit = min((r[1] for r in records), default=0.0)
    commit_times = [tracker.committed_at[r[0]] for r in accepted if r[0] in tracker.committed_at]
    last_commit = max(commit_times, default=first_submit)
    duration = max(last_commit - first_submit, 1e-9)
    blocks = {h: n for h, (t, n) in tracker.block_times.items() if first_submit <= t <= last_commit}
    errors: dict[str, int] = {}
    for r in records:
        if not r[2]:
            errors[r[3]] = errors.get(r[3], 0) + 1
    cpu = {
        str(index): round(after - before, 3)
        for index, after in cpu_after.items()
        if after is not None and (before := cpu_before.get(index)) is not None
    }
    committed = len(commit_times)
    return {
        **meta,
        "submitted": len(records),
        "accepted": len(accepted),
        "rejected": len(records) - len(accepted),
        "committed": committed,
        "uncommitted": len(accepted) - committed,  # accepted but not seen in a block by the drain deadline
        "duration_s": round(duration, 3),
        "committed_tx_per_s": round(committed / duration, 1) if committed else 0.0,
        "latency_ms": {
            "p50": _ms(percentile(latencies, 0.50)),
            "p99": _ms(percentile(latencies, 0.99)),
            "max": _ms(max(latencies, default=None)),
        },
        "blocks": len(blocks),
        "txs_per_block": round(sum(blocks.values()) / len(blocks), 1) if blocks else 0.0,
        "cpu_s": cpu,
        "cpu_ms_per_tx": round(1000 * sum(cpu.values()) / committed, 3) if committed else None,
        "errors": dict(sorted(errors.items(), key=lambda kv: -kv[1])[:5]),
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def run(
    manifest: layout.Manifest,
    *,
    txs: int,
    rate: float,
    clients: int,
    workload: str,
    concurrency: int,
    drain_timeout: float,
) -> dict[str, Any]:
    """Run one bench against the (running) devnet of ``manifest``; return the report."""
    if workload not in WORKLOADS:
        raise ConfigError(f"unknown workload {workload!r} (known: {', '.join(sorted(WORKLOADS))})")
    clients = max(1, min(clients, txs))
    live = live_nodes(manifest)
    apis = tuple(e.api for e in live)
    context = multiprocessing.get_context("spawn")
    ready, results, go = context.Queue(), context.Queue(), context.Event()
    shares = [txs // clients + (1 if i < txs % clients else 0) for i in range(clients)]
    workers = [
        context.Process(
            target=_client_main,
            args=(
                ClientJob(
                    i,
                    clients,
                    shares[i],
                    apis,
                    manifest.chain_id,
                    str(manifest.directory),
                    workload,
                    rate / clients if rate > 0 else 0.0,
                    concurrency,
                    os.getpid(),
                ),
                ready,
                go,
                results,
            ),
            daemon=True,
        )
        for i in range(clients)
    ]
    for worker in workers:
        worker.start()
    try:
        for _ in workers:
            kind, index, message = ready.get(timeout=SETUP_TIMEOUT_S + 60)
            if kind == "error":
                raise ConfigError(f"bench client {index} failed while preparing: {message}")
        return asyncio.run(
            _drive(
                workers,
                go,
                results,
                drain_timeout,
                live,
                {
                    "workload": workload,
                    "nodes": len(manifest.nodes),
                    "nodes_down": sorted(e.index for e in manifest.nodes if e not in live),
                    "clients": clients,
                    "offered_rate": rate or None,
                    "concurrency": concurrency,
                },
            )
        )
    except Empty as exc:
        raise ConfigError("bench clients did not get ready in time") from exc
    finally:
        for worker in workers:
            worker.join(timeout=5)
            if worker.is_alive():
                worker.kill()


async def _drive(
    workers: list[Any],
    go: Any,
    results: Any,
    drain_timeout: float,
    live: list[layout.NodeEntry],
    meta: dict[str, Any],
) -> dict[str, Any]:
    tracker = CommitTracker([e.api for e in live])
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        await tracker.start(session)
        cpu_before = {e.index: procs.cpu_seconds(e.pid) if e.pid else None for e in live}
        go.set()
        return await _collect(workers, results, drain_timeout, tracker, session, cpu_before, live, meta)


async def _collect(
    workers: list[Any],
    results: Any,
    drain_timeout: float,
    tracker: CommitTracker,
    session: aiohttp.ClientSession,
    cpu_before: dict[int, float | None],
    live: list[layout.NodeEntry],
    meta: dict[str, Any],
) -> dict[str, Any]:
    records: list[tuple[str, float, bool, str]] = []
    reported = 0
    all_exited_at: float | None = None
    while reported < len(workers):
        await tracker.poll(session)
        await asyncio.sleep(BLOCK_POLL_S)
        while reported < len(workers):
            try:
                kind, index, payload = results.get_nowait()
            except Empty:
                break
            if kind == "error":
                raise ConfigError(f"bench client {index} failed: {payload}")
            records.extend(payload)
            reported += 1
        if reported < len(workers) and not any(worker.is_alive() for worker in workers):
            all_exited_at = all_exited_at or time.monotonic()
            if time.monotonic() - all_exited_at > 10:  # a client died without reporting
                codes = [worker.exitcode for worker in workers]
                raise ConfigError(f"bench clients exited without reporting (exit codes {codes})")
    wanted = {r[0] for r in records if r[2]}
    deadline = time.monotonic() + drain_timeout
    while not wanted <= tracker.committed_at.keys() and time.monotonic() < deadline:
        await tracker.poll(session)
        await asyncio.sleep(BLOCK_POLL_S)
    cpu_after = {e.index: procs.cpu_seconds(e.pid) if e.pid else None for e in live}
    return summarize(records, tracker, cpu_before, cpu_after, meta)


def live_nodes(manifest: layout.Manifest) -> list[layout.NodeEntry]:
    """The nodes that answer ``/v1/status``; refuse (ConfigError naming the nodes) if fewer than a
    quorum do, since the chain cannot commit then."""
    live = [e for e in manifest.nodes if procs.fetch_status(e, timeout=2.0) is not None]
    need = quorum(len(manifest.nodes))
    if len(live) < need:
        down = ", ".join(str(e.index) for e in manifest.nodes if e not in live)
        raise ConfigError(
            f"only {len(live)} of {len(manifest.nodes)} nodes answer (down: {down}); "
            f"the chain needs {need} to commit — start them with: python -m devnet start N"
        )
    return live


def format_report(report: dict[str, Any]) -> str:
    latency = report["latency_ms"]
    cpu = ", ".join(f"node{i} {s:.2f}" for i, s in report["cpu_s"].items()) or "–"
    lines = [
        f"workload {report['workload']}: {report['submitted']} txs from {report['clients']} clients to "
        f"{report['nodes']} nodes, offered {report['offered_rate'] or 'max'} tx/s"
        + (f" (node(s) {', '.join(map(str, report['nodes_down']))} down: not used)" if report.get("nodes_down") else ""),
        f"  committed     {report['committed']} / accepted {report['accepted']} (rejected {report['rejected']})",
        f"  throughput    {report['committed_tx_per_s']:,.1f} tx/s over {report['duration_s']:.2f} s",
        f"  latency       p50 {latency['p50']} ms · p99 {latency['p99']} ms · max {latency['max']} ms",
        f"  blocks        {report['blocks']} ({report['txs_per_block']} txs/block)",
        f"  cpu seconds   {cpu}  ({report['cpu_ms_per_tx']} ms per committed tx)",
    ]
    if "peer_links" in report:
        lines.append(f"  peer links    {report['peer_links']}")
    if "network" in report:
        relay = f" (relay cpu {report['relay_cpu_s']:.2f} s)" if "relay_cpu_s" in report else ""
        lines.append(f"  network       {report['network']}{relay}")
    if report["uncommitted"]:
        lines.append(f"  NOT COMMITTED {report['uncommitted']} accepted txs by the drain deadline")
    for error, count in report["errors"].items():
        lines.append(f"  error ×{count}: {error}")
    return "\n".join(lines)


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(args: Any) -> int:
    """Entry point from ``python -m devnet bench`` (``args`` from :mod:`devnet.__main__`)."""
    signal.signal(signal.SIGTERM, _terminate)  # run the clean-up below on `kill` too
    own_dir: Path | None = None
    needs_test_mode = args.workload.startswith("noop")
    if args.dir is not None:
        manifest = layout.load_manifest(Path(args.dir))
        if needs_test_mode and not load_genesis(manifest.genesis).params.test_mode:
            raise ConfigError(
                f"workload {args.workload} needs a test chain: python -m devnet up --test-mode (ADR 0012)"
            )
    else:
        from devnet.__main__ import netns_plan

        plan = netns_plan(args, args.nodes)
        own_dir = Path(tempfile.mkdtemp(prefix="silkport-bench-"))
        params = {"test_mode": True} if needs_test_mode else None
        try:
            manifest = layout.create_layout(
                own_dir / "devnet", args.nodes, params=params, insecure_plaintext=args.insecure_plaintext,
                netns_plan=plan,
            )
        except BaseException:
            shutil.rmtree(own_dir, ignore_errors=True)
            if plan is not None:
                netns.destroy(plan)  # the slot reservation
            raise
        manifest.save()
    try:
        if own_dir is not None:
            procs.init_nodes(manifest, args.log_level)
            procs.start_nodes(manifest)
            procs.wait_ready(manifest)
        else:
            down = [e.index for e in manifest.nodes if e not in live_nodes(manifest)]
            if down:
                print(f"note: node(s) {', '.join(map(str, down))} down; benchmarking the others", flush=True)
        plan = manifest.netns_plan
        relay_pid = plan.proxy_pid if plan is not None else None  # the WAN relay's CPU counts too (ADR 0017)
        relay_before = procs.cpu_seconds(relay_pid) if relay_pid else None
        report = run(
            manifest,
            txs=args.txs,
            rate=args.rate,
            clients=args.clients,
            workload=args.workload,
            concurrency=args.concurrency,
            drain_timeout=args.drain_timeout,
        )
        relay_after = procs.cpu_seconds(relay_pid) if relay_pid else None
        if relay_before is not None and relay_after is not None:
            report["relay_cpu_s"] = round(relay_after - relay_before, 2)  # set-up phase included
        report["peer_links"] = "plaintext (insecure)" if manifest.insecure_plaintext else "TLS 1.3"
        if plan is not None:
            report["network"] = f"netns; node {plan.wan_node} at {plan.rtt_ms} ms RTT, loss {plan.loss:g}" if (
                plan.wan_node is not None
            ) else "netns (bridge, no WAN)"
    finally:
        if own_dir is not None:
            procs.stop_nodes(manifest)
            procs.remove_topology(manifest)
            if args.keep:
                print(f"devnet kept in {manifest.directory}")
            else:
                shutil.rmtree(own_dir, ignore_errors=True)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0
