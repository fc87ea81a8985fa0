"""How far ahead the peers are, as a running node that catches up sees it (ADR 0021 §8): whether to stop
and restart through state sync rather than replay every block."""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp

from chain.config import PeerConfig


def vouched_height(peer_heights: list[int], validators: int) -> int | None:
    """The height at least one correct peer has reached: the ``f + 1``-th highest of the peers' answers
    (None with ``f`` answers or fewer), so ``f`` lying peers cannot raise it."""
    faulty = (validators - 1) // 3
    if len(peer_heights) <= faulty:
        return None
    return sorted(peer_heights, reverse=True)[faulty]


async def peer_heights(peers: Mapping[int, PeerConfig], own_index: int, timeout_s: float = 3.0) -> list[int]:
    """The heights the other peers' ``/v1/status`` report (those that answer in time)."""
    heights: list[int] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as session:
        for peer, address in peers.items():
            if int(peer) == own_index:
                continue
            try:
                async with session.get(address.api + "/v1/status") as response:
                    if response.status == 200:
                        heights.append(int((await response.json())["height"]))
            except (TimeoutError, aiohttp.ClientError, ValueError, TypeError, KeyError):
                continue
    return heights
