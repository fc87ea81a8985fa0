"""What the other validators' APIs say, as a node that syncs asks them: their heights (whether to stop
and restart through state sync rather than replay every block, ADR 0021 §8) and their validator sets (a
joining node's early refusal, ADR 0027). A peer's word is only ever counted, ``f + 1`` answers at least,
never trusted alone."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp

from chain.consensus.quorum import max_faulty

log = logging.getLogger("silkport.statesync")


def vouched_height(peer_heights: list[int], validators: int) -> int | None:
    """The height at least one correct peer has reached: the ``f + 1``-th highest of the peers' answers
    (None with ``f`` answers or fewer), so ``f`` lying peers cannot raise it."""
    faulty = max_faulty(validators)
    if len(peer_heights) <= faulty:
        return None
    return sorted(peer_heights, reverse=True)[faulty]


async def peers_json(apis: list[str], path: str, timeout_s: float) -> list[Any]:
    """``GET path`` on each peer API; the decoded JSON of those that answer 200 in time."""
    answers: list[Any] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as session:
        for api in apis:
            try:
                async with session.get(api + path) as response:
                    if response.status == 200:
                        answers.append(await response.json())
            except (OSError, TimeoutError, aiohttp.ClientError, ValueError) as exc:
                log.info("event=peer_unreachable api=%s path=%s error=%s", api, path, exc)
    return answers


async def peer_heights(apis: list[str], timeout_s: float = 3.0) -> list[int]:
    """The heights the peers' ``/v1/status`` report (those that answer in time, with a height)."""
    heights = []
    for status in await peers_json(apis, "/v1/status", timeout_s):
        try:
            heights.append(int(status["height"]))
        except (TypeError, KeyError, ValueError):
            continue
    return heights
