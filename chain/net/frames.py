"""Peer frames: one binary websocket message = canonical msgpack ``[channel, payload]`` (DESIGN.md §3, §10).

The payload is opaque to the transport (the consensus layer or the mempool decodes it). A frame
that is not canonical msgpack, not exactly ``[int, bytes]``, on an unknown channel or larger than the
limit raises :class:`~chain.errors.DecodeError` / :class:`~chain.errors.OversizeError`; the transport
disconnects the peer that sent it.
"""

from __future__ import annotations

from typing import Final

from chain import codec
from chain.errors import DecodeError, EncodeError, OversizeError

CHANNEL_CONSENSUS: Final = 0
"""PBFT messages (pre-prepare, prepare, commit, checkpoint, view-change, new-view)."""
CHANNEL_TX: Final = 1
"""Transactions forwarded to every validator (DESIGN.md §5: a censoring primary is noticed)."""
CHANNELS: Final = frozenset({CHANNEL_CONSENSUS, CHANNEL_TX})

FRAME_OVERHEAD: Final = 16
"""Upper bound of the msgpack bytes around the payload: fixarray(1) + uint(≤9) + bin32 header(5)."""
DEFAULT_MAX_FRAME_BYTES: Final = 32 * 1024 * 1024


def encode_frame(channel: int, payload: bytes, *, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> bytes:
    """Canonical bytes of ``[channel, payload]``; refuses unknown channels and oversize payloads."""
    if channel not in CHANNELS:
        raise EncodeError(f"unknown channel {channel}")
    if not isinstance(payload, bytes):
        raise EncodeError("a frame payload must be bytes")
    if len(payload) > max_frame_bytes:
        raise OversizeError(f"payload of {len(payload)} bytes exceeds the frame limit of {max_frame_bytes}")
    return codec.encode((channel, payload))


def decode_frame(data: bytes, *, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> tuple[int, bytes]:
    """Inverse of :func:`encode_frame`; strict (the sender is disconnected on any error)."""
    if len(data) > max_frame_bytes + FRAME_OVERHEAD:
        raise OversizeError(f"frame of {len(data)} bytes exceeds the limit of {max_frame_bytes}")
    value = codec.decode(data, max_size=max_frame_bytes + FRAME_OVERHEAD)
    if not isinstance(value, tuple) or len(value) != 2:
        raise DecodeError("a frame is an array [channel, payload]")
    channel, payload = value
    if isinstance(channel, bool) or not isinstance(channel, int) or not isinstance(payload, bytes):
        raise DecodeError("a frame is [int channel, bytes payload]")
    if channel not in CHANNELS:
        raise DecodeError(f"unknown channel {channel}", code="unknown_channel")
    if len(payload) > max_frame_bytes:
        raise OversizeError(f"payload of {len(payload)} bytes exceeds the frame limit of {max_frame_bytes}")
    return channel, payload
