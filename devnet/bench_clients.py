"""The client processes of ``python -m devnet bench`` (see :mod:`devnet.bench`).

Each client signs its share of a workload before the timed phase, commits the setup transactions,
waits for the common start signal, then posts: one transaction per ``POST /v1/txs``, or ``batch``
per ``POST /v1/txs/batch`` (ADR 0023). It reports, per transaction, ``(tx_id, submitted_at,
accepted, error)``, plus the request bytes it sent and the signatures its transactions carry.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import signal
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from chain.client import encode_batch
from chain.errors import ConfigError
from devnet.workloads import WORKLOADS, WorkloadContext

MSGPACK = {"Content-Type": "application/msgpack"}
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
    batch: int = 1
    """Transactions per request: 1 posts each to ``/v1/txs``, more post arrays to ``/v1/txs/batch``."""


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
        signatures = sum(len(tx.signatures) for tx in plan.timed)
        if plan.setup:
            asyncio.run(_setup(job, [(tx.tx_id, tx.encode()) for tx in plan.setup]))
        ready.put(("ready", job.index, ""))
        go.wait()
        if job.batch > 1:
            records, api_bytes = asyncio.run(_submit_batches(job, payloads))
        else:
            records, api_bytes = asyncio.run(_submit_all(job, payloads))
        results.put(("done", job.index, {"records": records, "api_bytes": api_bytes,
                                          "signatures": signatures, "txs": len(payloads)}))
    except Exception as exc:  # report, never hang the parent
        ready.put(("error", job.index, f"{type(exc).__name__}: {exc}"))
        results.put(("error", job.index, f"{type(exc).__name__}: {exc}"))


async def _setup(job: ClientJob, payloads: list[tuple[str, bytes]]) -> None:
    """Submit setup transactions in order to the first node and wait until each is committed. A tx
    refused because what it needs is not committed yet (a role granted by the tx before it: admission
    checks committed state, ADR 0012) is posted again once everything before it has committed."""
    api = job.apis[0]
    deadline = time.monotonic() + SETUP_TIMEOUT_S
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:

        async def committed(tx_id: str) -> None:
            while True:
                url = f"{api}/v1/txs/{tx_id}?wait=commit&timeout=10"
                async with session.get(url) as response:
                    if response.status == 200 and (await response.json()).get("status") == "committed":
                        return
                if time.monotonic() > deadline:
                    raise ConfigError(f"setup tx {tx_id[:16]} not committed within {SETUP_TIMEOUT_S:.0f} s")

        posted: list[str] = []
        for tx_id, body in payloads:
            for attempt in range(2):
                async with session.post(f"{api}/v1/txs", data=body, headers=MSGPACK) as response:
                    if response.status < 300:
                        break
                    text = await response.text()
                if attempt == 0 and response.status == 403 and posted:
                    await committed(posted[-1])  # in order: every earlier setup tx is then committed
                    continue
                raise ConfigError(f"setup tx {tx_id[:16]} refused: {response.status} {text}")
            posted.append(tx_id)
        for tx_id in posted:
            await committed(tx_id)


async def _submit_all(
    job: ClientJob, payloads: list[tuple[str, bytes]]
) -> tuple[list[tuple[str, float, bool, str]], int]:
    """POST every payload; return ``(tx_id, submitted_at, accepted, error)`` per transaction and the
    request body bytes sent."""
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
    return records, sum(len(body) for _, body in payloads)


async def _submit_batches(
    job: ClientJob, payloads: list[tuple[str, bytes]]
) -> tuple[list[tuple[str, float, bool, str]], int]:
    """Like :func:`_submit_all`, ``job.batch`` transactions per ``POST /v1/txs/batch`` (ADR 0023);
    each transaction's latency counts from its batch's due time (or send time)."""
    records: list[tuple[str, float, bool, str]] = [("", 0.0, False, "")] * len(payloads)
    batches = [list(range(i, min(i + job.batch, len(payloads)))) for i in range(0, len(payloads), job.batch)]
    bodies = [encode_batch([payloads[i][1] for i in batch]) for batch in batches]
    in_flight = max(1, min(job.concurrency, 8))  # a few batches in flight are as good as many single posts
    limit = asyncio.Semaphore(in_flight)
    connector = aiohttp.TCPConnector(limit=in_flight, keepalive_timeout=60)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:

        async def post(k: int, due: float | None) -> None:
            async with limit:
                sent = time.monotonic()
                outcomes: list[str] = []
                try:
                    api = job.apis[(k + job.index) % len(job.apis)]
                    async with session.post(f"{api}/v1/txs/batch", data=bodies[k], headers=MSGPACK) as response:
                        if response.status == 200:
                            answer = await response.json()
                            outcomes = [
                                "" if "tx_id" in item else f"{item['error']['status']} {item['error']['code']}"
                                for item in answer["results"]
                            ]
                        else:
                            outcomes = [f"{response.status} {(await response.text())[:200]}"] * len(batches[k])
                except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                    outcomes = [f"{type(exc).__name__}: {exc}"] * len(batches[k])
            for i, error in zip(batches[k], outcomes, strict=False):
                records[i] = (payloads[i][0], due if due is not None else sent, not error, error)

        start = time.monotonic()
        tasks = []
        for k, batch in enumerate(batches):
            due = None
            if job.rate > 0:
                due = start + batch[0] / job.rate
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(k, due)))
        await asyncio.gather(*tasks)
    return records, sum(len(body) for body in bodies)
