"""Joining a running chain as a validator that governance added (ADR 0027; DESIGN.md §5 epochs).

A node initialised with ``node.py init --join`` holds a key that is not in the genesis set. It starts by
state sync (ADR 0021) and votes only once the **installed, certified state** names its key as validator
``index`` (:func:`membership_problem`); peers' word (``GET /v1/validators``) is used only to refuse early
with a clear reason (:func:`peers_membership_problem`, needing ``f + 1`` agreeing answers, so ``f`` lying
peers cannot keep a validator out). Before the snapshot, the peers' newest checkpoints may be certified
by a validator set this node has not seen: :func:`trusted_validators` learns it from a trust chain
(``GET /v1/sync/validators``) checked from the genesis file, never from a peer's word.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import aiohttp
import yarl

from chain.consensus.quorum import max_faulty
from chain.errors import ConfigError, ProofError, SilkportError
from chain.genesis import GenesisDoc
from chain.proofs.verify import Verifier
from chain.statesync.peers import peers_json
from chain.types import Header

log = logging.getLogger("silkport.join")
TRUST_PATH = "/v1/sync/validators"


def membership_problem(
    keys: tuple[bytes, ...], index: int, public_key: bytes, height: int, pending: tuple[bytes, ...] | None = None
) -> str | None:
    """None when ``public_key`` is validator ``index`` of ``keys`` (the set after block ``height``), else
    why not, in words an operator can act on."""
    if 0 <= index < len(keys) and keys[index] == public_key:
        return None
    short = public_key.hex()[:16] + "…"
    if public_key in keys:
        actual = keys.index(public_key)
        return (f"key {short} is validator {actual} of the set at height {height}, not {index}: "
                f"set \"index\": {actual} in config.json (or node.py init --index {actual})")
    if pending is not None and public_key in pending:
        return (f"key {short} is in the pending validator set (as {pending.index(public_key)}) but not yet in the set "
                f"at height {height}: it takes effect at the next checkpoint; start the node after it")
    return (f"key {short} is not in the validator set at height {height} ({len(keys)} validators): governance "
            "never added it (silkport gov validator-add) or removed it since")


def peers_membership_problem(answers: list[dict[str, Any]], index: int, public_key: bytes,
                             validators: int) -> str | None:
    """A refusal reason that ``f + 1`` peers' ``GET /v1/validators`` answers agree on (None: no such
    agreement — the certified state decides after the snapshot). ``validators``: the set this node trusts."""
    reasons: dict[str, int] = {}
    for answer in answers:
        try:
            keys = tuple(bytes.fromhex(v["public_key"]) for v in answer["validators"])
            pending = answer.get("pending")
            pending_keys = None if pending is None else tuple(bytes.fromhex(v["public_key"]) for v in pending)
            problem = membership_problem(keys, index, public_key, int(answer["height"]), pending_keys)
        except (KeyError, TypeError, ValueError):
            continue
        if problem is not None:
            key = problem.split(" at height ")[0]  # peers at different heights agree on the reason
            reasons[key] = reasons.get(key, 0) + 1
            if reasons[key] > max_faulty(validators):
                return problem
    return None


async def trusted_validators(
    fetch: Callable[[int, str], Awaitable[bytes]], peers: list[int], genesis: GenesisDoc, height: int
) -> tuple[Header, tuple[bytes, ...]] | None:
    """The header at ``height`` and the set that certified it, from the first peer whose trust chain
    verifies from ``genesis`` (None: none did). A bad chain costs only the time to check it."""
    verifier = Verifier(genesis)
    for peer in peers:
        try:
            document = json.loads(await fetch(peer, f"{TRUST_PATH}?height={height}"))
            header, keys = verifier.validator_set_at(document)
        except (OSError, TimeoutError, aiohttp.ClientError, SilkportError, ProofError, ValueError) as exc:
            log.info("event=trust_chain_refused peer=%d height=%d error=%s", peer, height, exc)
            continue
        if header.height != height:
            log.info("event=trust_chain_refused peer=%d height=%d error=header of height %d", peer, height,
                     header.height)
            continue
        return header, keys
    return None


async def join_precheck(config: Any, public_key: bytes, trusted_validators: int) -> None:
    """Before a joining node's first state sync: refuse at once, with the reason, when ``f + 1`` peers
    report that its key is not validator ``config.index`` (not added yet, another index, removed)."""
    apis = [peer.api for i, peer in sorted(config.peers.items()) if i != config.index]
    answers = await peers_json(apis, "/v1/validators", timeout_s=5)
    problem = peers_membership_problem(answers, config.index, public_key, trusted_validators)
    if problem is not None:
        log.error("event=join_refused source=peers reason=%s", problem)
        raise ConfigError(problem, code="not_a_validator")
    log.info("event=join_precheck peers_answered=%d of=%d", len(answers), len(apis))


ANNOUNCE_INTERVAL_S = 3.0
"""How often a node announces itself to each lower-indexed peer it has no link with."""


async def announce_loop(
    sign: Callable[[str, str], dict[str, str]], peers: Callable[[], dict[int, str]], linked: Callable[[], list[int]],
    p2p: str, api: str,
) -> None:
    """Forever: tell every lower-indexed configured peer (``index -> API URL``) that is not linked where this
    validator is (``POST /v1/peers/announce``, signed by ``sign(method, path?query)``), so that it dials
    us — the lower index dials (ADR 0010), and an old validator does not know a new one's address."""
    path_qs = "/v1/peers/announce?" + urlencode({"p2p": p2p, "api": api})
    refused: dict[int, int] = {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as session:
        while True:
            up = set(linked())
            for index, url in sorted(peers().items()):
                if index in up:
                    continue
                try:
                    async with session.post(yarl.URL(url + path_qs, encoded=True), headers=sign("POST", path_qs)) as answer:
                        if answer.status != 200 and refused.get(index) != answer.status:
                            log.warning("event=announce_refused peer=%d status=%d body=%s", index, answer.status,
                                        (await answer.text())[:200])
                        refused[index] = answer.status
                except (OSError, TimeoutError, aiohttp.ClientError) as exc:
                    log.debug("event=announce_failed peer=%d error=%s", index, exc)
            await asyncio.sleep(ANNOUNCE_INTERVAL_S)
