"""Peer wire: length-prefixed frames on a byte stream and the pre-authentication limits (ADR 0010).

Every message on a peer link is ``u32 big-endian length || body``; the body is a canonical frame
(:mod:`chain.net.frames`) or, during the plaintext handshake, a handshake message. The length is
checked against the limit **before** a byte of the body is read, so a huge length prefix costs the
receiver four bytes, not an allocation. A zero length is a keepalive: it proves the link is alive
and carries nothing. Nothing on this wire is ever compressed.
"""

from __future__ import annotations

import asyncio
import struct
from collections import Counter
from dataclasses import dataclass, field
from typing import Final

from chain.errors import DecodeError, OversizeError

HEADER: Final = struct.Struct(">I")
KEEPALIVE: Final = HEADER.pack(0)
"""A zero-length message: the keepalive (RFC 6455 §5.5.2 pings play the same role on websockets)."""


def pack(body: bytes) -> bytes:
    """``u32 length || body`` (an empty body would read as a keepalive, so it is refused)."""
    if not body:
        raise DecodeError("an empty body is reserved for the keepalive")
    return HEADER.pack(len(body)) + body


async def read_message(reader: asyncio.StreamReader, max_bytes: int) -> bytes:
    """Read one message; ``b""`` is a keepalive.

    Raises OversizeError when the announced length exceeds ``max_bytes`` (nothing more is read),
    ``asyncio.IncompleteReadError`` when the peer closes mid-message.
    """
    (length,) = HEADER.unpack(await reader.readexactly(HEADER.size))
    if length > max_bytes:
        raise OversizeError(f"a message of {length} bytes announced, the limit is {max_bytes}")
    if length == 0:
        return b""
    return await reader.readexactly(length)


@dataclass(frozen=True)
class Limits:
    """Pre-authentication limits of one node's peer port (values: ADR 0010 §5)."""

    max_pending_total: int = 64
    """Unauthenticated connections in progress, all addresses together."""
    max_pending_per_address: int = 8
    """Unauthenticated connections in progress from one IP address."""
    handshake_timeout_s: float = 5.0
    """TLS handshake + certificate check (or the plaintext handshake), from accept to authenticated."""
    max_handshake_message: int = 512
    """Largest plaintext handshake message (the TLS handshake is bounded by OpenSSL's record limits)."""


DEFAULT_LIMITS: Final = Limits()


@dataclass
class Admission:
    """Counts unauthenticated connections by address and refuses above :class:`Limits`."""

    limits: Limits
    pending: Counter[str] = field(default_factory=Counter)

    @property
    def pending_total(self) -> int:
        return sum(self.pending.values())

    def admit(self, address: str) -> str | None:
        """Take a slot for ``address``; return the refusal reason instead when a cap is reached."""
        if self.pending_total >= self.limits.max_pending_total:
            return "too_many_connections"
        if self.pending[address] >= self.limits.max_pending_per_address:
            return "per_address_limit"
        self.pending[address] += 1
        return None

    def release(self, address: str) -> None:
        self.pending[address] -= 1
        if self.pending[address] <= 0:
            del self.pending[address]
