"""Attacks through the public REST API, as an outsider or a member with valid keys would run them.

Each attack returns an :class:`Outcome`: whether the node refused it (and how), plus what it saw. The
observer (:mod:`devnet.attack.observe`) measures the chain meanwhile. Every loop here is bounded in
count and time and talks only to the devnet's loopback addresses.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from chain.crypto import KeyPair, load_key_file
from chain.types import SignedTx, make_tx
from devnet import layout

MSGPACK = {"Content-Type": "application/msgpack"}
SYNC_SPAN = 999
"""Heights asked for per sync request (the route serves at most 1,000)."""


@dataclass
class Outcome:
    """What an attack achieved: ``refused`` is the verdict; ``detail`` says how, ``counts`` by status."""

    refused: bool
    detail: str
    counts: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"refused": self.refused, "detail": self.detail, "counts": self.counts}


@dataclass
class Target:
    """A running devnet as an attacker sees it (the manifest gives the API URLs and the authority keys
    an insider test needs to enrol its own members)."""

    manifest: layout.Manifest

    @property
    def apis(self) -> list[str]:
        return [entry.api for entry in self.manifest.nodes]

    @property
    def chain_id(self) -> str:
        return self.manifest.chain_id

    def authorities(self) -> list[KeyPair]:
        folder = Path(self.manifest.directory) / "authorities"
        return [load_key_file(path) for path in sorted(folder.glob("authority*.json"))]


async def _post(session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]) -> str:
    try:
        async with session.post(url, data=body, headers=headers) as response:
            await response.read()
            return str(response.status)
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        return type(exc).__name__


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[str, int]:
    try:
        async with session.get(url) as response:
            return str(response.status), len(await response.read())
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        return type(exc).__name__, 0


def _head(target: Target) -> int:
    from devnet import procs

    heights = [int(s["height"]) for e in target.manifest.nodes if (s := procs.fetch_status(e, 2.0))]
    return max(heights, default=0)


async def _submit_wait(session: aiohttp.ClientSession, api: str, txs: list[SignedTx], timeout_s: float) -> bool:
    for tx in txs:
        await _post(session, f"{api}/v1/txs", tx.encode(), MSGPACK)
    deadline = time.monotonic() + timeout_s
    for tx in txs:
        while True:
            async with session.get(f"{api}/v1/txs/{tx.tx_id}?wait=commit&timeout=5") as response:
                if response.status == 200 and (await response.json()).get("status") == "committed":
                    break
            if time.monotonic() > deadline:
                return False
    return True


async def enrol_registrars(target: Target, count: int) -> list[KeyPair]:
    """An insider: ``count`` fresh keys granted the registrar role by the authority quorum."""
    authorities = target.authorities()[:2]
    keys = [KeyPair.generate() for _ in range(count)]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        first_nonce = int(time.time() * 1000)  # nonces only need to increase; a clock value never repeats
        txs = [
            make_tx(target.chain_id, "governance", "grant_role", {"public_key": k.public_key, "role": "registrar"},
                    authorities, first_nonce + i)
            for i, k in enumerate(keys)
        ]
        if not await _submit_wait(session, target.apis[0], txs, 60):
            raise RuntimeError("could not enrol the attacker's registrar keys")
    return keys


async def expiring_transactions(target: Target, senders: list[KeyPair], count: int) -> Outcome:
    """Issue 12's halting attack: ``count`` anchor transactions valid only until ``H + 1``, sent the
    moment the head is H (signed ahead: signing 10,000 takes seconds), spread over every node, so most
    arrive after the primary has started block H + 1 and miss it."""
    lead = 3 + count // 2_000
    head = _head(target) + lead
    base = int(time.time() * 1000)
    txs = [make_tx(target.chain_id, "anchoring", "anchor", {"hashes": [os.urandom(32)], "label": "exp"},
                   [senders[i % len(senders)]], base + i // len(senders), valid_until_height=head + 1)
           for i in range(count)]
    while _head(target) < head:
        await asyncio.sleep(0.02)
    statuses: Counter[str] = Counter()
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        apis = target.apis
        limit = asyncio.Semaphore(64)

        async def one(i: int, tx: SignedTx) -> None:
            async with limit:
                statuses[await _post(session, f"{apis[i % len(apis)]}/v1/txs", tx.encode(), MSGPACK)] += 1

        sent = await asyncio.gather(*(one(i, tx) for i, tx in enumerate(txs)))
        del sent
        await asyncio.sleep(3.0)  # H + 1 commits; what missed it is now expired
        committed = 0
        for tx in txs[:200]:
            async with session.get(f"{apis[0]}/v1/txs/{tx.tx_id}") as response:
                committed += response.status == 200 and (await response.json()).get("status") == "committed"
    statuses[f"committed_of_first_{min(200, count)}"] = committed
    return Outcome(True, f"{count} txs valid until height {head + 1}, sent at height {head}", dict(statuses))


async def fresh_key_writes(target: Target) -> Outcome:
    """A key nobody enrolled tries to write state: noop.put, an anchor batch, an asset registration."""
    key = KeyPair.generate()
    attempts: dict[str, tuple[str, str, dict[str, Any]]] = {
        "noop.put": ("noop", "put", {"key": b"k", "value": b"v" * 64}),
        "anchoring.anchor": ("anchoring", "anchor", {"hashes": [os.urandom(32)], "label": "x"}),
    }
    results: dict[str, int] = {}
    committed_ok = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        api = target.apis[0]
        for n, (name, (contract, method, args)) in enumerate(attempts.items(), start=1):
            tx = make_tx(target.chain_id, contract, method, args, [key], n)
            status = await _post(session, f"{api}/v1/txs", tx.encode(), MSGPACK)
            results[f"{name}:{status}"] = 1
            if status.startswith("2"):
                async with session.get(f"{api}/v1/txs/{tx.tx_id}?wait=commit&timeout=10") as response:
                    body = await response.json() if response.status == 200 else {}
                receipt = body.get("receipt") or {}
                if body.get("status") == "committed" and receipt.get("ok"):
                    committed_ok.append(name)
                outcome = "ok" if receipt.get("ok") else receipt.get("error_code") or body.get("status", "?")
                results[f"{name}:receipt:{outcome}"] = 1
    refused = not committed_ok
    detail = "no write accepted" if refused else f"state written by a nobody: {', '.join(committed_ok)}"
    return Outcome(refused, detail, results)


async def sync_pull(target: Target, clients: int, seconds: float) -> Outcome:
    """Unauthenticated clients pulling ``/v1/sync/blocks`` (the whole chain, repeatedly)."""
    statuses: Counter[str] = Counter()
    received = 0
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:

        async def puller(i: int) -> None:
            nonlocal received
            api = target.apis[i % len(target.apis)]
            while time.monotonic() < deadline:
                status, size = await _get(session, f"{api}/v1/sync/blocks?from=1&to={SYNC_SPAN}")
                statuses[status] += 1
                received += size

        await asyncio.gather(*(puller(i) for i in range(clients)))
    limited = sum(v for k, v in statuses.items() if k in ("429", "503"))
    return Outcome(limited > 0, f"{received / 1e6:.1f} MB served to {clients} anonymous pullers", dict(statuses))


def nested_json(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


async def malformed_bodies(target: Target) -> Outcome:
    """Deeply nested JSON, invalid UTF-8, truncated msgpack, a huge declared msgpack length."""
    bodies = {
        "nested_json_100k": (nested_json(100_000), {"Content-Type": "application/json"}),
        "nested_object": (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, {"Content-Type": "application/json"}),
        "bad_utf8": (b'{"contract": "\xff\xfe"}', {"Content-Type": "application/json"}),
        "truncated_msgpack": (b"\x97\xa3abc", MSGPACK),
        "huge_bin_header": (b"\xc6\xff\xff\xff\xf0", MSGPACK),
        "nested_msgpack": (b"\x91" * 100_000 + b"\x90", MSGPACK),
    }
    statuses: dict[str, str] = {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        for name, (body, headers) in bodies.items():
            statuses[name] = await _post(session, f"{target.apis[0]}/v1/txs", body, headers)
    bad = [name for name, status in statuses.items() if not status.startswith("4")]
    detail = "every body a 4xx" if not bad else f"not a 4xx: {', '.join(f'{n}={statuses[n]}' for n in bad)}"
    return Outcome(not bad, detail, Counter(statuses.values()))


def tracebacks_in_logs(target: Target) -> int:
    """How many 'Traceback' lines the nodes' logs hold (a 500 usually leaves one)."""
    total = 0
    for entry in target.manifest.nodes:
        try:
            total += entry.log_file.read_text(errors="replace").count("Traceback")
        except OSError:
            continue
    return total


async def many_addresses(target: Target, senders: list[KeyPair], addresses: int, per_address: int) -> Outcome:
    """A tx flood by enrolled members from ``addresses`` distinct loopback source addresses (127.0.0.0/8
    is all loopback): a per-address limit alone lets it through."""
    statuses: Counter[str] = Counter()
    base = int(time.time() * 1000)
    api = target.apis[0]

    async def from_address(a: int) -> None:
        source = f"127.0.{1 + a // 250}.{1 + a % 250}"
        connector = aiohttp.TCPConnector(local_addr=(source, 0), limit=8)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
            sender = senders[a % len(senders)]
            for i in range(per_address):
                tx = make_tx(target.chain_id, "anchoring", "anchor", {"hashes": [os.urandom(32)], "label": "flood"},
                             [sender], base + i)
                statuses[await _post(session, f"{api}/v1/txs", tx.encode(), MSGPACK)] += 1

    await asyncio.gather(*(from_address(a) for a in range(addresses)))
    limited = sum(v for k, v in statuses.items() if k in ("429", "503"))
    return Outcome(limited > 0, f"{addresses} source addresses × {per_address} posts", dict(statuses))
