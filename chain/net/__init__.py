"""Peer transport: TLS 1.3 links bound to validator keys (DESIGN.md §10, ADR 0010)."""

from __future__ import annotations

from chain.net.frames import CHANNEL_CONSENSUS, CHANNEL_TX, CHANNELS, decode_frame, encode_frame
from chain.net.stats import NetStats
from chain.net.transport import PeerNetwork, parse_address

__all__ = [
    "CHANNELS",
    "CHANNEL_CONSENSUS",
    "CHANNEL_TX",
    "NetStats",
    "PeerNetwork",
    "decode_frame",
    "encode_frame",
    "parse_address",
]
