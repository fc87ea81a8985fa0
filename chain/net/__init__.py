"""Peer transport: authenticated websockets between validators (DESIGN.md §10)."""

from __future__ import annotations

from chain.net.frames import CHANNEL_CONSENSUS, CHANNEL_TX, CHANNELS, decode_frame, encode_frame
from chain.net.transport import P2P_PATH, NetStats, PeerNetwork

__all__ = [
    "CHANNELS",
    "CHANNEL_CONSENSUS",
    "CHANNEL_TX",
    "P2P_PATH",
    "NetStats",
    "PeerNetwork",
    "decode_frame",
    "encode_frame",
]
