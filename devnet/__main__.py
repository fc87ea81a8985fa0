"""``python -m devnet``: run a local Silkport devnet, watch it, break it, benchmark it (DESIGN.md §10).

Commands (all take ``--dir D``, default ``./.devnet``)::

    up [--nodes N] [--detach] [--base-port P] [--fresh]   create (or reuse) and start; live table
       [--no-cast]                                        do not enrol the cast (devnet/cast.py; ADR 0024)
       [--insecure-plaintext]                             peer links without TLS (test devnets only)
       [--netns [--wan-node I --rtt-ms MS --loss P]]     one network namespace per node (root; ADR 0017)
    status [--json]                                       print the table once
    keys [--json]                                         every key file: role, organisation, file
    env                                                   ``export SILKPORT_NODE=...`` (node 0's API), for eval
    down                                                  stop all nodes (SIGTERM, then SIGKILL); remove namespaces
    net isolate N | rejoin N | cut I J | heal I J         real link cuts on a --netns devnet
    kill N                                                SIGKILL node N
    start N                                               restart node N (same home, same port)
    join [--key K] [--no-register]                        add a validator by governance, start its node (ADR 0027)
    logs N [-f] [-n LINES]                                print or follow node N's log
    bench [--nodes N] [--txs K] [--rate R] [--clients C] [--workload W] [--batch B] [--profile] [--json]
          [--insecure-plaintext]                          the same without TLS (the cost of TLS)
    chaos [--nodes N] [--duration S] [--seed X] [--byzantine K] [--rate R] [--json]
                                                          faults under load, at most f; check the chain
    crashtest [--kills K] [--seed X] [--rate R] [--json]  kill -9 during commits; durability checks
    attack [--only NAMES] [--window S] [--json]           probe as an attacker would; security figures
    demo                                                  narrated data-asset scenario on a running devnet
    valvebench [--size-mib N] [--runs K] [--chunk-kib C] [--seed X] [--json]
                                                          the data valve's figures (throughput, RSS, resume,
                                                          revocation) on a fresh devnet, or --dir D
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import time
from pathlib import Path

from pydantic import ValidationError
from rich.console import Console
from rich.live import Live

from chain.byzantine import MODES as BYZANTINE_MODES
from chain.errors import ConfigError, SilkportError
from chain.genesis import Params
from devnet import cast, layout, netns, procs
from devnet import join as devnet_join
from devnet.table import WIDE_COLUMNS, NodeRow, Sampler, caption_for, render
from devnet.wipe import cmd_wipe
from devnet.workloads import WORKLOADS

REFRESH_S = 0.5


def _title(manifest: layout.Manifest) -> str:
    return f"silkport devnet · {manifest.chain_id} · {manifest.directory}"


def cmd_up(args: argparse.Namespace) -> int:
    directory = Path(args.dir).resolve()
    if layout.has_devnet(directory) and args.fresh:
        old = layout.load_manifest(directory)
        procs.stop_nodes(old)
        procs.remove_topology(old)
        shutil.rmtree(directory)
        print(f"removed the old devnet in {directory}")
    created = not layout.has_devnet(directory)
    if not created:
        manifest = layout.load_manifest(directory)
        if args.test_mode or args.param:
            print(f"note: the devnet in {directory} keeps its genesis; --test-mode/--param ignored (use --fresh)")
        if args.nodes is not None and args.nodes != len(manifest.nodes):
            print(
                f"note: the devnet in {directory} has {len(manifest.nodes)} nodes; --nodes {args.nodes} ignored "
                "(use --fresh to recreate it)"
            )
        if (args.netns and manifest.netns is None) or args.wan_node is not None:
            print(f"note: the devnet in {directory} keeps its network settings; use --fresh to change them")
        started = procs.start_nodes(manifest)
        what = f"started node(s) {', '.join(map(str, started))}" if started else "all nodes already running"
        print(f"reusing the devnet in {directory}: {what}")
        if len(started) < len(manifest.nodes):
            print("note: nodes this command did not start keep running when it stops")
    else:
        plan = netns_plan(args, args.nodes or 4)
        try:
            manifest = layout.create_layout(
                directory,
                args.nodes or 4,
                base_port=args.base_port,
                params=genesis_params(args),
                insecure_plaintext=args.insecure_plaintext,
                netns_plan=plan,
            )
        except BaseException:
            if plan is not None:
                netns.destroy(plan)  # the slot reservation
            raise
        if args.insecure_plaintext:
            print("WARNING: --insecure-plaintext: peer links are NOT encrypted or channel-bound (test devnets only)")
        try:
            procs.init_nodes(manifest, args.log_level)
        except SilkportError:
            shutil.rmtree(directory, ignore_errors=True)  # ours, just created: leave nothing half-made
            if plan is not None:
                netns.destroy(plan)
            raise
        manifest.save()
        try:
            started = procs.start_nodes(manifest)
        except SilkportError:
            procs.stop_nodes(manifest)
            procs.remove_topology(manifest)
            raise
        print(f"created a {len(manifest.nodes)}-node devnet in {directory} (genesis: {manifest.genesis})")
        if plan is not None:
            wan = (
                f"; node {plan.wan_node} behind {plan.rtt_ms} ms RTT, {plan.loss:g} loss (relay)"
                if plan.wan_node is not None
                else ""
            )
            print(f"network namespaces {plan.namespace(0)}.. on bridge {plan.bridge}{wan}")
    # The cast is enrolled when the devnet is made, or finished on a later `up` if that was cut short;
    # a devnet made with --no-cast stays without one.
    with_cast = not args.no_cast and (created or cast.load_record(directory) is not None)
    try:
        if args.detach or with_cast:
            progress("waiting for every node to answer /v1/status …")
            procs.wait_ready(manifest, timeout=args.ready_timeout)
        if with_cast:
            provision_cast(manifest)
    except SilkportError:
        _stop_started(manifest, started)
        raise
    if args.detach:
        for entry in manifest.nodes:
            print(
                f"  node{entry.index}  {entry.api}  pid {entry.pid}  {entry.organisation} ({entry.jurisdiction})"
            )
        print(f"manifest: {directory / layout.MANIFEST}; stop with: python -m devnet down --dir {args.dir}")
        return 0
    return _watch(manifest, started)


def progress(text: str) -> None:
    print(text, flush=True)


def provision_cast(manifest: layout.Manifest) -> None:
    """Enrol the cast through node 0's API, signed by the authority quorum (devnet/cast.py; ADR 0024)."""
    from devnet import demo

    context = demo.load_context(manifest.directory)
    progress("enrolling the cast (registrar, owner, appraiser, bank, customs, recipient) …")
    cast.provision(manifest.directory, manifest.chain_id, manifest.nodes[0].api, context.quorum, say=progress)


def _stop_started(manifest: layout.Manifest, started: list[int]) -> list[int]:
    """Stop the nodes this command started; the others (a detached devnet it found running) keep running.

    The namespaces of a ``--netns`` devnet go only when every node was ours."""
    if not started:
        return []
    killed = procs.stop_nodes(manifest, started)
    if len(started) == len(manifest.nodes):
        procs.remove_topology(manifest)
    return killed


def genesis_params(args: argparse.Namespace) -> dict[str, object]:
    """``--param NAME=VALUE`` (integers, true/false) and ``--test-mode`` as genesis params (ADR 0012)."""
    params: dict[str, object] = {}
    for text in args.param or ():
        name, sep, value = text.partition("=")
        if not sep or not name:
            raise SilkportError(f"--param takes NAME=VALUE, not {text!r}")
        lowered = value.lower()
        params[name] = lowered == "true" if lowered in ("true", "false") else int(value) if value.isdigit() else value
    if args.test_mode:
        params["test_mode"] = True
    try:
        Params.model_validate(params)  # before any key is written
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"--param {'.'.join(map(str, first['loc']))}: {first['msg']}") from exc
    return params


def netns_plan(args: argparse.Namespace, nodes: int) -> netns.Plan | None:
    """The namespace plan ``--netns`` asks for (after a sweep of leftovers), or None; refuses WAN flags alone."""
    if not args.netns:
        if args.wan_node is not None:
            raise SilkportError("--wan-node needs --netns")
        return None
    netns.require_netns()
    swept = netns.sweep()
    if swept:
        print(f"removed leftovers of earlier netns devnets: {', '.join(swept)}")
    if args.wan_node is None and (args.rtt_ms or args.loss):
        raise SilkportError("--rtt-ms and --loss need --wan-node")
    return netns.new_plan(nodes, wan_node=args.wan_node, rtt_ms=args.rtt_ms, loss=args.loss, seed=args.wan_seed)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


PLAIN_EVERY_S = 5.0
"""Seconds between two progress lines when stdout is not a terminal (``make devnet`` under a supervisor)."""


def plain_line(rows: list[NodeRow]) -> str:
    """One progress line for a log: the table's caption and each node's state, height and view."""
    nodes = " ".join(
        f"node{r.index}={r.state}" + (f"@{r.status.get('height')}/v{r.status.get('view')}" if r.status else "")
        for r in rows
    )
    return f"{time.strftime('%H:%M:%S')} {caption_for(rows)} · {nodes}"


def _watch(manifest: layout.Manifest, started: list[int]) -> int:
    """The live table (plain progress lines when stdout is not a terminal) until Ctrl-C or SIGTERM,
    which stop the nodes this command started and no others."""
    console = Console()
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)  # a supervisor's stop or a closed terminal: stop the nodes too
    sampler = Sampler(manifest)
    owned = "all nodes" if len(started) == len(manifest.nodes) else \
        ("no node (they were running already)" if not started else f"nodes {', '.join(map(str, started))}")
    hint = f"logs: python -m devnet logs N --dir {manifest.directory} · Ctrl-C stops {owned}"
    try:
        if sys.stdout.isatty():
            with Live(console=console, refresh_per_second=4, transient=False) as live:
                while True:
                    rows = sampler.sample()
                    wide = console.width >= WIDE_COLUMNS
                    live.update(render(rows, _title(manifest), f"{caption_for(rows)}\n{hint}", wide=wide))
                    time.sleep(REFRESH_S)
        else:
            progress(f"{_title(manifest)}; {hint}")
            while True:
                rows = sampler.sample()
                progress(plain_line(rows))
                time.sleep(PLAIN_EVERY_S)
    except KeyboardInterrupt:
        progress(f"stopping {owned} …")
    finally:
        sampler.close()
    killed = _stop_started(manifest, started)
    if len(started) < len(manifest.nodes):
        progress(f"the devnet in {manifest.directory} keeps running; stop it with: "
                 f"python -m devnet down --dir {manifest.directory}")
    progress(f"stopped ({'SIGKILL needed for ' + str(killed) if killed else 'clean'})")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    manifest = layout.load_manifest(Path(args.dir))
    sampler = Sampler(manifest)
    try:
        sampler.sample()
        time.sleep(1.0)  # a second sample gives tx/s
        rows = sampler.sample()
    finally:
        sampler.close()
    if args.json:
        print(json.dumps({"chain_id": manifest.chain_id, "nodes": [r.to_json() for r in rows]}, indent=2))
    else:
        console = Console()
        console.print(render(rows, _title(manifest), caption_for(rows), wide=console.width >= WIDE_COLUMNS))
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    manifest = layout.load_manifest(Path(args.dir))
    killed = procs.stop_nodes(manifest, timeout=args.timeout)
    procs.remove_topology(manifest)
    print(f"devnet in {manifest.directory} stopped" + (f" (SIGKILL needed for {killed})" if killed else ""))
    return 0


def cmd_net(args: argparse.Namespace) -> int:
    manifest = layout.load_manifest(Path(args.dir))
    plan = manifest.netns_plan
    if plan is None:
        raise SilkportError(f"the devnet in {manifest.directory} was not created with --netns: no links to cut")
    nodes = args.nodes
    expected = 1 if args.action in ("isolate", "rejoin") else 2
    if len(nodes) != expected:
        raise SilkportError(f"net {args.action} takes {expected} node index(es), got {len(nodes)}")
    for index in nodes:
        manifest.node(index)  # a clear error for a bad index
    netns.require_netns()
    if not netns.exists(plan):
        raise SilkportError(f"the namespaces of {manifest.directory} do not exist (devnet down?)")
    if args.action == "isolate":
        netns.isolate(plan, nodes[0])
    elif args.action == "rejoin":
        netns.rejoin(plan, nodes[0])
    elif args.action == "cut":
        netns.cut(plan, nodes[0], nodes[1])
    else:
        netns.heal(plan, nodes[0], nodes[1])
    print(f"net {args.action} {' '.join(map(str, nodes))}: done")
    return 0


def cmd_kill(args: argparse.Namespace) -> int:
    manifest = layout.load_manifest(Path(args.dir))
    was_running = procs.kill_node(manifest, args.node)
    print(f"node {args.node} killed (SIGKILL)" if was_running else f"node {args.node} was not running")
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    manifest = layout.load_manifest(Path(args.dir))
    manifest.node(args.node)  # a clear error for a bad index
    started = procs.start_nodes(manifest, [args.node])
    if not started:
        print(f"node {args.node} is already running (pid {manifest.node(args.node).pid})")
        return 0
    if not args.no_wait:
        procs.wait_ready(manifest, [args.node], timeout=args.ready_timeout)
    print(f"node {args.node} started (pid {manifest.node(args.node).pid})")
    return 0


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of blocks >= 1, got {text!r}")
    return int(text)


def cmd_logs(args: argparse.Namespace) -> int:
    manifest = layout.load_manifest(Path(args.dir))
    path = manifest.node(args.node).log_file
    if not path.exists():
        print(f"no log yet at {path}", file=sys.stderr)
        return 1
    with open(path, "rb") as handle:
        lines = handle.read().splitlines(keepends=True)
        sys.stdout.buffer.write(b"".join(lines[-args.lines :] if args.lines else lines))
        sys.stdout.flush()
        if not args.follow:
            return 0
        try:
            while True:
                chunk = handle.read()
                if chunk:
                    sys.stdout.buffer.write(chunk)
                    sys.stdout.flush()
                else:
                    if path.stat().st_size < handle.tell():  # truncated or replaced: start over
                        handle.seek(0)
                    time.sleep(0.2)
        except KeyboardInterrupt:
            return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from devnet import bench  # imports aiohttp; keep the other commands light

    return bench.main(args)


def cmd_chaos(args: argparse.Namespace) -> int:
    from devnet import chaos

    return chaos.main(args)


def cmd_crashtest(args: argparse.Namespace) -> int:
    from devnet import crashtest

    return crashtest.main(args)


def cmd_attack(args: argparse.Namespace) -> int:
    from devnet import attack

    return attack.main(args)


def cmd_valvebench(args: argparse.Namespace) -> int:
    from devnet import valvebench

    return valvebench.main(args)


def cmd_demo(args: argparse.Namespace) -> int:
    from devnet import demo

    return demo.main(args)


def add_netns_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--netns", action="store_true", help="one network namespace per node, real link cuts (root; ADR 0017)"
    )
    sub.add_argument("--wan-node", type=int, default=None, help="put this node behind the WAN relay")
    sub.add_argument("--rtt-ms", type=int, default=0, help="round-trip time the relay adds (with --wan-node)")
    sub.add_argument("--loss", type=float, default=0.0, help="per-segment loss, as TCP stalls (with --wan-node)")
    sub.add_argument("--wan-seed", type=int, default=None, help="seed of the relay's loss dice")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m devnet", description="Run a local Silkport devnet.")
    commands = top.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument(
            "--dir",
            default=None if name in ("bench", "chaos", "valvebench") else str(layout.DEFAULT_DIR),
            help="devnet directory (default ./.devnet)"
            + ("; default: start one in a temp dir" if name in ("bench", "chaos", "valvebench") else ""),
        )
        return sub

    up = command("up", "create (or reuse) a devnet and start it")
    up.add_argument("--nodes", type=int, default=None, help="number of validators (default 4)")
    up.add_argument("--detach", action="store_true", help="return once every node answers /v1/status")
    up.add_argument(
        "--base-port", type=int, default=None, help="node i: API on base-port + i, peers on base-port + N + i"
    )
    up.add_argument(
        "--insecure-plaintext", action="store_true", help="peer links without TLS (test devnets only)"
    )
    up.add_argument("--fresh", action="store_true", help="stop and delete an existing devnet first")
    add_netns_arguments(up)
    up.add_argument("--log-level", default="info")
    up.add_argument("--ready-timeout", type=float, default=procs.READY_TIMEOUT_S)
    up.add_argument(
        "--test-mode", action="store_true", help="a test chain: genesis params.test_mode (noop contract, Byzantine modes)"
    )
    up.add_argument("--param", action="append", metavar="NAME=VALUE", help="a genesis parameter (repeat)")
    up.add_argument(
        "--no-cast", action="store_true",
        help="do not enrol the cast (registrar, owner, appraiser, bank, customs, recipient; devnet/cast.py)",
    )
    up.set_defaults(run=cmd_up)

    status = command("status", "print the status table once")
    status.add_argument("--json", action="store_true")
    status.set_defaults(run=cmd_status)

    keys = command("keys", "list the devnet's key files: role, organisation, file")
    keys.add_argument("--json", action="store_true")
    keys.set_defaults(run=cast.cmd_keys)

    env = command("env", "print export lines for SILKPORT_NODE (node 0's API) and SILKPORT_GENESIS")
    env.set_defaults(run=cast.cmd_env)

    down = command("down", "stop all nodes (SIGTERM, then SIGKILL)")
    down.add_argument("--timeout", type=float, default=procs.STOP_TIMEOUT_S, help="seconds before SIGKILL")
    down.set_defaults(run=cmd_down)

    net = command("net", "cut and heal links of a --netns devnet (ADR 0017)")
    net.add_argument("action", choices=["isolate", "rejoin", "cut", "heal"])
    net.add_argument("nodes", type=int, nargs="+", help="N for isolate/rejoin, I J for cut/heal")
    net.set_defaults(run=cmd_net)

    kill = command("kill", "SIGKILL one node")
    kill.add_argument("node", type=int)
    kill.set_defaults(run=cmd_kill)

    start = command("start", "restart one node (same home, same port)")
    start.add_argument("node", type=int)
    start.add_argument("--no-wait", action="store_true", help="do not wait for /v1/status")
    start.add_argument("--ready-timeout", type=float, default=procs.READY_TIMEOUT_S)
    start.set_defaults(run=cmd_start)

    wipe = command("wipe", "kill one node, delete its store and start it with --state-sync (ADR 0021)")
    wipe.add_argument("node", type=int)
    wipe.add_argument("--min-blocks", type=_positive, default=1,
                      help="state-sync only if the peers' checkpoint is this far above the empty store (default 1)")
    wipe.add_argument("--replay", action="store_true", help="replay every block instead (to compare)")
    wipe.add_argument("--no-wait", action="store_true", help="do not wait for /v1/status")
    wipe.add_argument("--ready-timeout", type=float, default=procs.READY_TIMEOUT_S)
    wipe.set_defaults(run=cmd_wipe)
    devnet_join.add_parser(command)

    logs = command("logs", "print or follow one node's log")
    logs.add_argument("node", type=int)
    logs.add_argument("-f", "--follow", action="store_true")
    logs.add_argument("-n", "--lines", type=int, default=0, help="only the last LINES lines")
    logs.set_defaults(run=cmd_logs)

    bench = command("bench", "drive signed transactions through a devnet and measure it")
    bench.add_argument(
        "--nodes", type=int, default=4, help="size of the devnet started when --dir is not given"
    )
    bench.add_argument("--txs", type=int, default=2000)
    bench.add_argument(
        "--insecure-plaintext",
        action="store_true",
        help="the temp devnet's peer links without TLS (to measure the cost of TLS; ADR 0010)",
    )
    bench.add_argument(
        "--rate", type=float, default=0.0, help="offered tx/s in total (0: as fast as possible)"
    )
    bench.add_argument("--clients", type=int, default=2, help="client processes")
    bench.add_argument("--concurrency", type=int, default=64, help="in-flight requests per client")
    bench.add_argument(
        "--batch", type=int, default=1, help="transactions per request (>1: POST /v1/txs/batch, ADR 0023)"
    )
    bench.add_argument(
        "--profile", action="store_true", help="py-spy flame graph of every node (root) in the results dir"
    )
    bench.add_argument(
        "--results", default=None, help="where report.json and profiles go (default bench-results/<time>)"
    )
    bench.add_argument("--workload", default="noop", choices=sorted(WORKLOADS))
    bench.add_argument(
        "--drain-timeout", type=float, default=60.0, help="seconds to wait for the last commits"
    )
    bench.add_argument("--keep", action="store_true", help="keep the temp devnet (without --dir)")
    add_netns_arguments(bench)
    bench.add_argument("--log-level", default="info")
    bench.add_argument("--json", action="store_true")
    bench.set_defaults(run=cmd_bench)

    chaos = command("chaos", "faults under load (kill -9, pause, link cuts, Byzantine), then check the chain")
    chaos.add_argument("--nodes", type=int, default=4, help="size of the devnet started when --dir is not given")
    chaos.add_argument("--duration", type=float, default=60.0, help="seconds of faults and load")
    chaos.add_argument("--interval", type=float, default=10.0, help="seconds between faults")
    chaos.add_argument("--seed", type=int, default=None, help="replay a run (printed in the report)")
    chaos.add_argument("--rate", type=float, default=250.0, help="offered tx/s (0: no load)")
    chaos.add_argument("--byzantine", type=int, default=0, help="nodes in a Byzantine mode (<= f; test chains)")
    chaos.add_argument(
        "--byzantine-mode", default="mixed", choices=["mixed", *BYZANTINE_MODES], help="mixed: seeded choice per node"
    )
    chaos.add_argument(
        "--converge-timeout", type=float, default=90.0, help="seconds to wait for one head after the last heal"
    )
    chaos.add_argument("--keep", action="store_true", help="keep the temp devnet (kept anyway on failure)")
    chaos.add_argument("--log-level", default="info")
    chaos.add_argument("--json", action="store_true", help="print the report as JSON")
    chaos.set_defaults(run=cmd_chaos)

    crash = commands.add_parser("crashtest", help="kill -9 nodes during commits, restart, check durability")
    crash.add_argument("--nodes", type=int, default=4)
    crash.add_argument("--kills", type=int, default=100)
    crash.add_argument("--seed", type=int, default=None)
    crash.add_argument("--rate", type=float, default=100.0, help="offered tx/s during the kills")
    crash.add_argument("--keep", action="store_true", help="keep the temp devnet (kept anyway on failure)")
    crash.add_argument("--log-level", default="info")
    crash.add_argument("--json", action="store_true")
    crash.set_defaults(run=cmd_crashtest)

    attack = commands.add_parser("attack", help="probe a devnet as an attacker would and measure it")
    attack.add_argument("--dir", default=None, help="a running devnet (default: start a temporary one)")
    attack.add_argument("--nodes", type=int, default=4, help="validators of the temporary devnet")
    attack.add_argument("--only", default="", help="comma-separated attack names (default: all)")
    attack.add_argument("--window", type=float, default=6.0, help="seconds per quiet/attack/recovery window")
    attack.add_argument("--keep", action="store_true", help="keep the temporary devnet")
    attack.add_argument("--json", action="store_true")
    attack.set_defaults(run=cmd_attack)

    demo = command("demo", "narrated data-asset scenario against a running devnet")
    demo.set_defaults(run=cmd_demo)

    valvebench = command("valvebench", "the data valve's figures: MB/s vs plain aiohttp, peak RSS, resume, revocation")
    valvebench.add_argument("--size-mib", type=int, default=1024, help="dataset size in MiB (default 1024)")
    valvebench.add_argument("--chunk-kib", type=int, default=1024, help="chunk size in KiB (default 1024)")
    valvebench.add_argument("--runs", type=int, default=1, help="throughput runs (the median is reported)")
    valvebench.add_argument("--nodes", type=int, default=4, help="size of the devnet started when --dir is not given")
    valvebench.add_argument("--seed", type=int, default=None, help="replay the kill and revocation points")
    valvebench.add_argument("--keep", action="store_true", help="keep the temp directory")
    valvebench.add_argument("--json", action="store_true")
    valvebench.set_defaults(run=cmd_valvebench)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (SilkportError, FileExistsError, KeyError) as exc:
        message = exc.message if isinstance(exc, SilkportError) else str(exc).strip("'\"")
        print(f"devnet {args.command}: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
