"""``python -m devnet valvebench``: the data valve's figures on loopback (issue 14; ADR 0018; docs/performance.md).

On a fresh devnet (or ``--dir D``, running), a random file of ``--size-mib`` MiB is registered as an asset
with its chunk layout, uploaded to node 0 with ``silkport data put``, and one transfer is cleared and
released by customs. Then:

1. **Throughput** (``--runs`` times; the median is reported): the recipient pulls it with the real
   ``silkport data fetch --genesis`` in its own process (layout proved from genesis; every chunk decrypted,
   hashed and checked against the chunk root; the whole file hashed at the end), and, in the same run, a
   plain unencrypted aiohttp download of the same file from a tiny aiohttp server in its own process.
   Peak RSS: the client's from ``wait4`` (``ru_maxrss``), node 0's from ``VmHWM`` in ``/proc/PID/status``,
   reset through ``/proc/PID/clear_refs`` before each pull (Linux), so it is the peak while moving the data.
2. **Resume**: the fetching CLI is killed (SIGKILL) once its ``.part`` reaches a random chunk, then run
   again. Re-sent bytes, as the recipient sees them: bytes that had reached its file before the kill and
   were fetched again (``.part`` size after the kill minus ``resumed_from_chunk × chunk_size``). As the
   node sees them: chunks its first response wrote to the socket that the second response wrote again
   (from its ``event=data_stream_end`` log lines; includes what sat in socket buffers when the client died).
3. **Revocation**: a pull (the same client code, in this process) stops reading at a random chunk while
   the authorities commit ``crossborder.revoke``; once the revoking block is committed at node 0 at height
   R, reading goes on. The node's ``event=data_stream_end`` line counts each chunk under the head height
   at which its write completed; chunks served after the revocation are those counted at heights ``>= R``.

Budgets (issue 14): ≥ 150 MB/s, ratio to the plain download ≥ 0.5 (goal), peak RSS ≤ 200 MB for node and
client, resume re-sends ≤ 1 chunk, revocation serves ≤ 1 chunk after the revoking block. No figure is
asserted here; the report says which budgets were met. Exit 1 if a step failed (not for a missed budget).
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from chain import codec
from chain.client import ApiError, Client
from chain.crossborder.contract import transfer_id_for
from chain.crypto import KeyPair, load_key_file, save_key_file
from chain.dataplane import chunks, fetch
from chain.dataplane.store import summarize_file
from chain.errors import ConfigError, SilkportError
from chain.genesis import load_genesis
from chain.types import make_tx
from devnet import layout, procs

MB = 1_000_000
STREAM_END = re.compile(r"event=data_stream_end transfer=(\w+) first=(\d+) last=(\d+) sent=(\d+) "
                        r"complete=(\w+) heights=([\d:,]+|-)")
BUDGETS = {"valve_mb_s": 150.0, "ratio": 0.5, "rss_mb": 200.0, "resume_resent_chunks": 1, "revoked_after": 1}


class BenchError(SilkportError):
    """A valvebench step did not do its job."""

    code = "valvebench_failed"


# --- measuring ---------------------------------------------------------------------------------------------


def vm_hwm_mb(pid: int) -> float | None:
    """Peak resident set of ``pid`` (``VmHWM``) in MB, or None off Linux / when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / MB
    except OSError:
        return None
    return None


def reset_peak(pid: int) -> bool:
    """Reset ``VmHWM`` of ``pid`` to its current RSS (``clear_refs`` 5, Linux >= 4.0); False if not possible."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class Measured:
    """One child process run: exit code, output, wall seconds, CPU seconds and peak RSS (``wait4``)."""

    def __init__(self, code: int, stdout: str, stderr: str, seconds: float, cpu_s: float, rss_mb: float) -> None:
        self.code, self.stdout, self.stderr = code, stdout, stderr
        self.seconds, self.cpu_s, self.rss_mb = seconds, cpu_s, rss_mb


def run_measured(argv: list[str], *, kill_when: Any = None) -> Measured:
    """Run ``argv`` and measure it (``wait4`` gives the child's CPU time and ``ru_maxrss``).

    ``kill_when``: polled every 2 ms; when it returns True the child gets SIGKILL.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        began = time.perf_counter()
        child = subprocess.Popen(argv, stdout=out, stderr=err, cwd=Path(__file__).resolve().parents[1])
        if kill_when is not None:
            while child.poll() is None and not kill_when():
                time.sleep(0.002)
            if child.returncode is None:
                child.send_signal(signal.SIGKILL)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - began
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Measured(child.returncode, out.read().decode(), err.read().decode(), seconds,
                        usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024 / MB)


def silkport(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "chain.cli", *map(str, args)]


def stream_ends(log_file: Path, offset: int, transfer_id: str) -> list[dict[str, Any]]:
    """The node's ``data_stream_end`` lines for ``transfer_id`` written after byte ``offset`` of its log."""
    with open(log_file, "rb") as f:
        f.seek(offset)
        text = f.read().decode(errors="replace")
    ends = []
    for match in STREAM_END.finditer(text):
        if match.group(1) != transfer_id:
            continue
        heights = {} if match.group(6) == "-" else {
            int(h): int(n) for h, n in (pair.split(":") for pair in match.group(6).split(","))}
        ends.append({"first": int(match.group(2)), "last": int(match.group(3)), "sent": int(match.group(4)),
                     "complete": match.group(5) == "yes", "heights": heights})
    return ends


def wait_stream_ends(log_file: Path, offset: int, transfer_id: str, count: int, timeout: float = 15.0) -> list[
        dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        ends = stream_ends(log_file, offset, transfer_id)
        if len(ends) >= count or time.monotonic() > deadline:
            return ends
        time.sleep(0.05)


def log_size(entry: layout.NodeEntry) -> int:
    return entry.log_file.stat().st_size if entry.log_file.exists() else 0


# --- the story: organisations, asset, released transfer ----------------------------------------------------


class Story:
    """Signs and commits through node 0, with fresh organisations and keys each run."""

    def __init__(self, manifest: layout.Manifest, work: Path) -> None:
        self.manifest, self.work = manifest, work
        self.client = Client(manifest.node(0).api, timeout_s=30.0)
        self.chain_id = manifest.chain_id
        paths = sorted((manifest.directory / "authorities").glob("authority*.json"))
        self.quorum = [load_key_file(p) for p in paths][:2]
        self.keys = {name: KeyPair.generate() for name in ("registrar", "exporter", "recipient", "customs")}
        for name, pair in self.keys.items():
            save_key_file(work / f"{name}.key", pair)
        self.nonces: dict[bytes, int] = {}
        self.tag = f"vb{os.urandom(3).hex()}"

    def commit(self, contract: str, method: str, args: dict[str, Any], signers: list[KeyPair]) -> tuple[bytes, int]:
        """Commit one transaction at node 0; ``(tx hash, height)``; BenchError unless it succeeded."""
        sender = signers[0].public_key
        nonce = max(int(time.time() * 1000), self.nonces.get(sender, 0) + 1)
        self.nonces[sender] = nonce
        tx = make_tx(self.chain_id, contract, method, args, signers, nonce)
        info = self.client.submit_and_wait(tx, timeout=30.0)
        receipt = info.get("receipt") or {}
        if info.get("status") != "committed" or not receipt.get("ok"):
            raise BenchError(f"{contract}.{method} was not committed: {receipt.get('error_code') or info.get('status')}")
        return tx.tx_hash, int(info["height"])

    def release(self, summary: chunks.ChunkSummary) -> tuple[str, str]:
        """Register the dataset's asset and take one transfer of it to RELEASED; ``(asset id, transfer id)``."""
        k, q, t = self.keys, self.quorum, self.tag
        for org, jurisdiction, kind, member in [(f"{t}-exporter", "CN", "COMPANY", "exporter"),
                                                (f"{t}-partner", "DE", "COMPANY", "recipient"),
                                                (f"{t}-customs", "CN", "CUSTOMS", "customs")]:
            self.commit("governance", "register_organisation",
                        {"id": org, "name": org, "jurisdiction": jurisdiction, "type": kind}, q)
            self.commit("governance", "add_member", {"public_key": k[member].public_key, "organisation": org}, q)
        self.commit("governance", "add_member", {"public_key": k["registrar"].public_key,
                                                 "organisation": f"{t}-exporter"}, q)
        self.commit("governance", "grant_role", {"public_key": k["registrar"].public_key, "role": "registrar"}, q)
        self.commit("governance", "grant_role", {"public_key": k["customs"].public_key, "role": "customs"}, q)
        tx_hash, _ = self.commit("registry", "register", {
            "content_hash": summary.content_hash, "size": summary.size, "format": "bin", "title": f"{t} valvebench",
            "owner": k["exporter"].public_key, "chunk_root": summary.chunk_root, "chunk_size": summary.chunk_size,
            "classification": {"sector": "retail", "grade": "GENERAL", "origin": "CN", "contains_pi": True,
                               "sensitive_pi": True, "subjects": 100, "sensitive_subjects": 3}},
            [k["registrar"], k["exporter"]])
        asset_id = codec.sha256(tx_hash + summary.content_hash).hex()
        request = {"asset_id": asset_id, "recipient": f"{t}-partner", "destination": "DE", "purpose": "other",
                   "lawful_basis": "CONTRACT", "subjects": 100, "sensitive_subjects": 3,
                   "attestations": {"notice": "doc:notice", "pipia": "doc:pipia"}}
        tx_hash, _ = self.commit("crossborder", "request", request, [k["exporter"]])
        transfer_id = transfer_id_for(tx_hash)
        self.commit("governance", "register_decision", {  # sensitive PI: a standard-contract filing (R13b)
            "id": f"{t}-SC", "kind": "standard_contract", "holder": f"{t}-exporter", "status": "FILED",
            "effective": "2024-01-01", "filing_id": f"BJ-{t}"}, q)
        self.commit("crossborder", "attach_evidence", {"transfer_id": transfer_id, "decisions": [f"{t}-SC"]},
                    [k["exporter"]])
        self.commit("crossborder", "customs_review", {"transfer_id": transfer_id, "approve": True, "note": "bench"},
                    [k["customs"]])
        return asset_id, transfer_id

    def revoke(self, transfer_id: str) -> int:
        return self.commit("crossborder", "revoke", {"transfer_id": transfer_id, "reason": "valvebench"},
                           self.quorum)[1]


# --- the plain baseline ------------------------------------------------------------------------------------


def serve_plain(directory: str, port_file: str) -> None:
    """A tiny aiohttp static server over ``directory`` (run in its own process); writes its port, then serves."""
    import asyncio

    from aiohttp import web

    async def serve() -> None:
        app = web.Application()
        app.router.add_static("/files", directory)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        Path(port_file + ".tmp").write_text(str(port))
        os.replace(port_file + ".tmp", port_file)
        await asyncio.Event().wait()

    asyncio.run(serve())


class PlainServer:
    """The plain server's process, started once per valvebench run."""

    def __init__(self, directory: Path) -> None:
        port_file = directory.parent / "plain.port"
        code = f"from devnet.valvebench import serve_plain; serve_plain({str(directory)!r}, {str(port_file)!r})"
        self.process = subprocess.Popen([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1])
        deadline = time.monotonic() + 30
        while not port_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise BenchError("the plain aiohttp server did not start")
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{port_file.read_text()}/files"

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def plain_download(url: str, dest: Path) -> float:
    """Seconds to download ``url`` into ``dest`` with an aiohttp client (1 MiB reads, written as they come)."""
    import asyncio

    import aiohttp

    async def download() -> float:
        began = time.perf_counter()
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            response.raise_for_status()
            with open(dest, "wb") as f:
                async for piece in response.content.iter_chunked(1 << 20):
                    f.write(piece)
        return time.perf_counter() - began

    return asyncio.run(download())


# --- the three figures -------------------------------------------------------------------------------------


class Bench:
    def __init__(self, manifest: layout.Manifest, work: Path, size: int, chunk_size: int, seed: int) -> None:
        self.manifest, self.work, self.size, self.chunk_size = manifest, work, size, chunk_size
        self.rng = random.Random(seed)
        self.node = manifest.node(0)
        self.story = Story(manifest, work)
        self.dataset = work / "data" / "dataset.bin"
        self.count = chunks.chunk_count(size, chunk_size)
        self.transfer_id = ""

    def fetch_argv(self, out: Path) -> list[str]:
        return silkport("data", "fetch", self.transfer_id, "-o", out, "--key", self.work / "recipient.key",
                        "--genesis", self.manifest.genesis, "--node", self.node.api, "--json")

    def prepare(self) -> dict[str, Any]:
        self.dataset.parent.mkdir(parents=True, exist_ok=True)
        with open(self.dataset, "wb") as f:
            left = self.size
            while left:
                piece = os.urandom(min(left, 1 << 20))
                f.write(piece)
                left -= len(piece)
        summary = summarize_file(self.dataset, self.chunk_size)
        asset_id, self.transfer_id = self.story.release(summary)
        put = run_measured(silkport(
            "data", "put", asset_id, self.dataset, "--key", self.work / "exporter.key", "--node", self.node.api,
            "--quiet"))
        if put.code != 0:
            raise BenchError(f"silkport data put failed: {put.stderr.strip()[-300:]}")
        return {"asset_id": asset_id, "transfer_id": self.transfer_id,
                "upload_mb_s": round(self.size / MB / put.seconds, 1)}

    def throughput(self, plain: PlainServer) -> dict[str, Any]:
        out = self.work / "fetched.bin"
        pid = self.node.pid
        reset = pid is not None and reset_peak(pid)
        node_cpu = procs.cpu_seconds(pid) if pid is not None else None
        pulled = run_measured(self.fetch_argv(out))
        if pulled.code != 0:
            raise BenchError(f"silkport data fetch failed: {pulled.stderr.strip()[-300:]}")
        node_rss = vm_hwm_mb(pid) if pid is not None else None
        node_after = procs.cpu_seconds(pid) if pid is not None else None
        node_cpu = None if node_cpu is None or node_after is None else node_after - node_cpu
        if out.stat().st_size != self.size:
            raise BenchError(f"the fetched file has {out.stat().st_size} bytes, not {self.size}")
        out.unlink()
        copy = self.work / "plain.bin"
        plain_seconds = plain_download(f"{plain.url}/{self.dataset.name}", copy)
        if copy.stat().st_size != self.size:
            raise BenchError("the plain download is incomplete")
        copy.unlink()
        valve, baseline = self.size / MB / pulled.seconds, self.size / MB / plain_seconds
        # each process on a core of its own: the wall time could not be below the larger CPU time
        bound = self.size / MB / max(pulled.cpu_s, node_cpu or 0.0)
        return {"valve_mb_s": round(valve, 1), "plain_mb_s": round(baseline, 1), "ratio": round(valve / baseline, 3),
                "client_cpu_s": round(pulled.cpu_s, 2), "node_cpu_s": None if node_cpu is None else round(node_cpu, 2),
                "cpu_bound_mb_s": round(bound, 1), "load_average": round(os.getloadavg()[0], 2),
                "client_peak_rss_mb": round(pulled.rss_mb, 1),
                "node_peak_rss_mb": None if node_rss is None else round(node_rss, 1),
                "node_peak_is_since": "this pull" if reset else "node start"}

    def resume(self) -> dict[str, Any]:
        out = self.work / "resumed.bin"
        part = out.with_name(out.name + ".part")
        target = self.rng.randrange(1, max(2, self.count - 1))
        offset = log_size(self.node)
        first = run_measured(self.fetch_argv(out), kill_when=lambda: part.exists()
                             and part.stat().st_size >= target * self.chunk_size)
        killed = first.code == -signal.SIGKILL
        at_kill = part.stat().st_size if part.exists() else 0
        again = run_measured(self.fetch_argv(out))
        if again.code != 0:
            raise BenchError(f"the resumed fetch failed: {again.stderr.strip()[-300:]}")
        resumed_from = int(json.loads(again.stdout)["resumed_from_chunk"])
        out.unlink()
        ends = wait_stream_ends(self.node.log_file, offset, self.transfer_id, 2)
        node_resent = None
        if killed and len(ends) >= 2:
            node_resent = max(0, ends[0]["first"] + ends[0]["sent"] - resumed_from)
        resent = max(0, at_kill - resumed_from * self.chunk_size) if killed else None
        return {"killed": killed, "kill_target_chunk": target, "part_bytes_at_kill": at_kill,
                "resumed_from_chunk": resumed_from, "resent_bytes": resent,
                "resent_chunks": None if resent is None else round(resent / self.chunk_size, 3),
                "node_resent_chunks_incl_socket_buffers": node_resent}

    def revocation(self) -> dict[str, Any]:
        out = self.work / "revoked.bin"
        target = self.rng.randrange(1, max(2, self.count // 2))  # early enough to outlast the socket buffers
        offset = log_size(self.node)
        seen = {"bytes": 0, "height": 0}

        def progress(n: int) -> None:
            seen["bytes"] += n
            if not seen["height"] and seen["bytes"] >= target * self.chunk_size:
                seen["height"] = self.story.revoke(self.transfer_id)  # reading waits for the commit at node 0

        client = Client(self.node.api, timeout_s=30.0)
        key = load_key_file(self.work / "recipient.key")
        try:
            fetch.fetch(client, self.transfer_id, out, key, progress, genesis=load_genesis(self.manifest.genesis))
            outcome = "completed before the revocation committed"
        except (ApiError, SilkportError) as error:
            outcome = error.code
        ends = wait_stream_ends(self.node.log_file, offset, self.transfer_id, 1)
        revoked_at = seen["height"] or None
        after = None
        if revoked_at is not None and ends and not all(end["complete"] for end in ends):
            after = sum(n for end in ends for height, n in end["heights"].items() if height >= revoked_at)
        return {"revoke_target_chunk": target, "revoked_at_height": revoked_at, "client_outcome": outcome,
                "chunks_sent": sum(end["sent"] for end in ends), "served_after_revocation": after}


def budgets(report: dict[str, Any]) -> dict[str, bool | None]:
    """Which budgets the figures meet (None: not measured)."""
    t, r, v = report["throughput"], report["resume"], report["revocation"]
    rss = [x for x in (t["client_peak_rss_mb"], t["node_peak_rss_mb"]) if x is not None]
    return {
        "valve_mb_s>=150": t["valve_mb_s"] >= BUDGETS["valve_mb_s"],
        "ratio>=0.5": t["ratio"] >= BUDGETS["ratio"],
        "peak_rss<=200MB": max(rss) <= BUDGETS["rss_mb"] if rss else None,
        "resume_resent<=1_chunk": None if r["resent_chunks"] is None else r["resent_chunks"] <= 1,
        "revocation_after<=1_chunk": None if v["served_after_revocation"] is None
        else v["served_after_revocation"] <= 1,
    }


def run(manifest: layout.Manifest, work: Path, size: int, chunk_size: int, runs: int, seed: int,
        log: Any) -> dict[str, Any]:
    bench = Bench(manifest, work, size, chunk_size, seed)
    log(f"valvebench: {size / MB:.0f} MB in {bench.count} chunks of {chunk_size} bytes (seed {seed})")
    report: dict[str, Any] = {"size_bytes": size, "chunk_size": chunk_size, "seed": seed, **bench.prepare()}
    log(f"uploaded at {report['upload_mb_s']} MB/s; transfer {bench.transfer_id} released")
    plain = PlainServer(bench.dataset.parent)
    try:
        rounds = []
        for number in range(runs):
            rounds.append(bench.throughput(plain))
            log(f"run {number + 1}: {rounds[-1]}")
    finally:
        plain.close()
    median = {key: statistics.median(r[key] for r in rounds)
              for key in ("valve_mb_s", "plain_mb_s", "ratio", "cpu_bound_mb_s")}
    report["throughput"] = {**median, "runs": rounds,
                            "client_peak_rss_mb": max(r["client_peak_rss_mb"] for r in rounds),
                            "node_peak_rss_mb": max((r["node_peak_rss_mb"] or 0 for r in rounds), default=None)}
    report["resume"] = bench.resume()
    log(f"resume: {report['resume']}")
    report["revocation"] = bench.revocation()
    log(f"revocation: {report['revocation']}")
    report["budgets"] = budgets(report)
    return report


def main(args: Any) -> int:
    """Entry point from ``python -m devnet valvebench``."""
    if args.size_mib < 1 or args.runs < 1:
        raise ConfigError(f"--size-mib and --runs must be at least 1, not {args.size_mib} and {args.runs}")
    chunk_size = chunks.check_chunk_size(args.chunk_kib * 1024)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    own = Path(tempfile.mkdtemp(prefix="silkport-valvebench-"))
    manifest = None
    started = False

    def log(line: str) -> None:
        if not args.json:
            print(line, flush=True)

    try:
        if args.dir is not None:
            manifest = layout.load_manifest(Path(args.dir))
        else:
            manifest = layout.create_layout(own / "devnet", args.nodes)
            manifest.save()
            procs.init_nodes(manifest, "info")
            procs.start_nodes(manifest)
            started = True
            procs.wait_ready(manifest)
        work = own / "work"
        work.mkdir()
        report = run(manifest, work, args.size_mib << 20, chunk_size, args.runs, seed, log)
    except KeyboardInterrupt:
        print("valvebench: interrupted", file=sys.stderr)
        return 130
    finally:
        if started and manifest is not None:
            procs.stop_nodes(manifest)
        if args.keep:
            print(f"kept {own}", file=sys.stderr)
        else:
            import shutil

            shutil.rmtree(own, ignore_errors=True)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        t = report["throughput"]
        print(f"valve {t['valve_mb_s']} MB/s · plain aiohttp {t['plain_mb_s']} MB/s · ratio {t['ratio']} · peak RSS "
              f"node {t['node_peak_rss_mb']} MB, client {t['client_peak_rss_mb']} MB · resume re-sent "
              f"{report['resume']['resent_bytes']} bytes · chunks served after the revocation "
              f"{report['revocation']['served_after_revocation']}")
        print("budgets: " + ", ".join(f"{k} {'met' if v else 'MISSED' if v is False else 'not measured'}"
                                      for k, v in report["budgets"].items()))
    return 0
