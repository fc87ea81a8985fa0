"""``python -m devnet bench``: drive signed transactions through a running devnet and measure it.

- ``--clients C`` separate processes (multiprocessing, spawn), each with its own sender keys, build
  and sign their share of the transactions (a :mod:`devnet.workloads` generator) **before** the
  timed phase, commit their setup transactions, then wait for a common start signal.
- Each client POSTs canonical msgpack to ``/v1/txs`` on all nodes round-robin through one aiohttp
  session (keep-alive), at ``--rate R`` tx/s in total (open loop: transaction ``i`` is due at
  ``start + i / rate`` and its latency counts from that due time, so a slow node cannot hide its
  queueing — no coordinated omission) or as fast as ``--concurrency`` in-flight requests allow.
  ``--batch B`` posts ``B`` transactions per ``POST /v1/txs/batch`` instead (ADR 0023).
- The parent tracks commits by following the chain: it polls ``/v1/blocks/latest`` and fetches each
  new block's ``tx_ids`` (one request per block, not one per transaction).
- It reports committed tx/s (committed / (last commit - first submission)), submit→commit latency
  p50/p99, the blocks committed, and CPU seconds used by each node process (``/proc/<pid>/stat``).
- Next to them (:mod:`devnet.bench_probe`): the **signature ceiling measured in the same run** and
  the ratio to it (the headline), peer and API bytes per committed transaction, and with
  ``--profile`` a py-spy flame graph per node. ``report.json`` goes to ``--results DIR``.

This measures; it asserts nothing (STYLE.md: a benchmark measures speed, a test checks behaviour).
"""

from __future__ import annotations

import asyncio
import json
import math
import multiprocessing
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path
from queue import Empty
from typing import Any

import aiohttp

from chain.api.routes_batch import MAX_BATCH_TXS
from chain.consensus.quorum import quorum
from chain.errors import ConfigError
from chain.genesis import load_genesis
from devnet import bench_probe, layout, netns, procs
from devnet.bench_clients import SETUP_TIMEOUT_S, ClientJob, _client_main
from devnet.workloads import WORKLOADS

BLOCK_POLL_S = 0.05


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
    batch: int = 1,
    profile_dir: Path | None = None,
) -> dict[str, Any]:
    """Run one bench against the (running) devnet of ``manifest``; return the report. With
    ``profile_dir`` every node is profiled by py-spy for the timed phase (:mod:`devnet.bench_probe`)."""
    if workload not in WORKLOADS:
        raise ConfigError(f"unknown workload {workload!r} (known: {', '.join(sorted(WORKLOADS))})")
    if not 1 <= batch <= MAX_BATCH_TXS:
        raise ConfigError(f"--batch must be between 1 and {MAX_BATCH_TXS}, not {batch}")
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
                    batch,
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
                profile_dir,
                {
                    "workload": workload,
                    "nodes": len(manifest.nodes),
                    "nodes_down": sorted(e.index for e in manifest.nodes if e not in live),
                    "clients": clients,
                    "offered_rate": rate or None,
                    "concurrency": concurrency,
                    "batch": batch,
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
    profile_dir: Path | None,
    meta: dict[str, Any],
) -> dict[str, Any]:
    tracker = CommitTracker([e.api for e in live])
    verify_rates = [bench_probe.verifies_per_second()]  # the same-run ceiling: before and after
    profiles = bench_probe.Profiles(profile_dir, {e.index: e.pid for e in live if e.pid}) if profile_dir else None
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        await tracker.start(session)
        net_before = {e.index: bench_probe.net_counters(e.api) for e in live}
        cpu_before = {e.index: procs.cpu_seconds(e.pid) if e.pid else None for e in live}
        if profiles is not None:
            profiles.start()
        go.set()
        try:
            report, extra = await _collect(workers, results, drain_timeout, tracker, session, cpu_before, live, meta)
        finally:
            flames = profiles.stop() if profiles is not None else {}
        net_after = {e.index: bench_probe.net_counters(e.api) for e in live}
    verify_rates.append(bench_probe.verifies_per_second())
    report["wire"] = bench_probe.wire_bytes(net_before, net_after, extra["api_bytes"], report["committed"])
    ceiling = bench_probe.signature_ceiling(verify_rates, len(live), extra["signatures_per_tx"])
    report["signature_ceiling"] = ceiling
    report["ceiling_ratio"] = round(report["committed_tx_per_s"] / ceiling["tx_per_s"], 3)
    report["signature_cpu_share"] = bench_probe.signature_cpu_share(ceiling, report["cpu_ms_per_tx"])
    if profile_dir is not None:
        report["profiles"] = {str(index): path for index, path in sorted(flames.items())}
        report["profile_self_time"] = {
            str(index): bench_probe.self_time(Path(path).read_text(), top=10) for index, path in sorted(flames.items())
        }
    return report


async def _collect(
    workers: list[Any],
    results: Any,
    drain_timeout: float,
    tracker: CommitTracker,
    session: aiohttp.ClientSession,
    cpu_before: dict[int, float | None],
    live: list[layout.NodeEntry],
    meta: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    records: list[tuple[str, float, bool, str]] = []
    api_bytes = signatures = txs = 0
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
            records.extend(payload["records"])
            api_bytes += payload["api_bytes"]
            signatures += payload["signatures"]
            txs += payload["txs"]
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
    extra = {"api_bytes": api_bytes, "signatures_per_tx": signatures / txs if txs else 1.0}
    return summarize(records, tracker, cpu_before, cpu_after, meta), extra


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
    if "wire" in report:
        wire = report["wire"]
        lines.append(f"  wire          {wire['peer_bytes_per_tx']} peer bytes + {wire['api_bytes_per_tx']} API bytes "
                     "per committed tx")
    if headline := bench_probe.headline(report):
        lines.insert(0, headline)
    for index, path in report.get("profiles", {}).items():
        top = ", ".join(f"{name.split(' (')[0]} {share:.0%}" for name, share in report["profile_self_time"][index][:4])
        lines.append(f"  profile       node{index}: {path} (most self time: {top})")
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
    results_dir = Path(args.results or time.strftime("bench-results/%Y%m%d-%H%M%S"))
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
            batch=args.batch,
            profile_dir=results_dir / "profiles" if args.profile else None,
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
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0
