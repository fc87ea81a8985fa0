"""Byzantine test modes: rewrite a replica's outgoing consensus messages as a faulty validator would.

``node.py run --byzantine MODE`` (ADR 0016) wraps the runtime's ``Broadcast``/``Send`` actions with a
:class:`ByzantineFilter`; everything else (persisted votes, timers, commits) is left alone, so the node
still follows the chain and its own store stays honest. The modes are the faults PBFT must tolerate
from up to ``f`` replicas (Castro & Liskov, OSDI'99 §2 "Byzantine failure model"):

``equivocate``  as primary, one PRE-PREPARE to half the backups and a PRE-PREPARE for a different, valid
                block (timestamp + 1 ms) to the other half; as backup, PREPARE/COMMIT for the real hash
                to half the validators and for another hash to the rest (two votes per (view, height)).
``silent``      receives everything and never sends a consensus message (a crashed-but-connected node).
``forge``       every message goes out forged: a corrupted signature, another validator's index as
                sender, and a STATUS claiming a head two blocks ahead with a made-up certificate.
``stale``       every message is sent, followed by replays of two older ones (old views, old heights).

Refused unless the genesis marks a test chain (``params.test_mode``): :func:`make_filter` raises
:class:`~chain.errors.ConfigError`. No clock and no randomness: the choices follow a message counter.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import deque
from typing import Any, Protocol

from chain.consensus.events import Broadcast, Send
from chain.consensus.messages import (
    COMMIT,
    PREPARE,
    PREPREPARE,
    STATUS,
    Message,
    Status,
    Vote,
    decode_message,
    encode_block,
    encode_message,
    sign_body,
)
from chain.errors import ConfigError, DecodeError, SilkportError
from chain.types import Block, CommitCertificate, Header

MODES = ("equivocate", "silent", "forge", "stale")
HISTORY = 64
"""Sent messages remembered for ``stale`` replays."""
REPLAYS_PER_MESSAGE = 2

Outgoing = Broadcast | Send


class Network(Protocol):
    def broadcast(self, channel: int, payload: bytes) -> Any: ...

    def send(self, to_index: int, channel: int, payload: bytes) -> Any: ...


@dataclasses.dataclass(slots=True)
class ByzantineFilter:
    """Rewrites outgoing consensus actions for one ``mode``; ``rewrite`` is deterministic."""

    mode: str
    chain_id: str
    my_index: int
    validators: int
    signer: Any
    sent: int = 0
    history: deque[bytes] = dataclasses.field(default_factory=lambda: deque(maxlen=HISTORY))

    def rewrite(self, action: Outgoing) -> list[Outgoing]:
        """The actions a node in ``mode`` performs instead of ``action``."""
        self.sent += 1
        if self.mode == "silent":
            return []
        try:
            message = decode_message(action.message_bytes)
        except DecodeError:
            return [action]
        if self.mode == "stale":
            return self._stale(action)
        if self.mode == "forge":
            return self._forge(action, message)
        return self._equivocate(action, message)

    def deliver(self, action: Outgoing, net: Network, channel: int) -> None:
        """Perform :meth:`rewrite`'s actions on ``net`` (the runtime's one hook)."""
        for out in self.rewrite(action):
            if isinstance(out, Send):
                net.send(out.to_index, channel, out.message_bytes)
            else:
                net.broadcast(channel, out.message_bytes)

    # --- the modes -------------------------------------------------------------------------------

    def _others(self) -> list[int]:
        return [i for i in range(self.validators) if i != self.my_index]

    def _split(self, action: Outgoing, honest: bytes, other: bytes) -> list[Outgoing]:
        """``honest`` to the first half of the recipients, ``other`` to the rest."""
        targets = [action.to_index] if isinstance(action, Send) else self._others()
        half = (len(targets) + 1) // 2
        return [Send(i, honest if k < half else other) for k, i in enumerate(targets)]

    def _equivocate(self, action: Outgoing, message: Message) -> list[Outgoing]:
        if message.kind not in (PREPREPARE, PREPARE, COMMIT) or not isinstance(message.body, Vote):
            return [action]
        vote = message.body
        payload = b""
        if message.kind == PREPREPARE and message.payload:
            alternative = _twin_block(message.payload)
            if alternative is None:
                return [action]
            payload = encode_block(alternative)
            other_hash = alternative.block_hash
        else:
            other_hash = hashlib.sha256(b"silkport/byzantine/equivocate" + vote.block_hash).digest()
        twin = Vote(vote.height, vote.view, other_hash)
        signature = sign_body(self.signer, message.kind, self.chain_id, twin)
        other = encode_message(message.kind, twin, self.my_index, signature, payload)
        return self._split(action, action.message_bytes, other)

    def _forge(self, action: Outgoing, message: Message) -> list[Outgoing]:
        bad_signature = bytes([message.signature[0] ^ 0xFF]) + message.signature[1:]
        impostor = (self.my_index + 1 + self.sent % max(1, self.validators - 1)) % self.validators
        forged = [
            encode_message(message.kind, _Wire(message.body_wire), self.my_index, bad_signature, message.payload),
            encode_message(message.kind, _Wire(message.body_wire), impostor, message.signature, message.payload),
        ]
        status = _forged_status(message, self.chain_id, self.validators)
        if status is not None:
            signature = sign_body(self.signer, STATUS, self.chain_id, status)
            forged.append(encode_message(STATUS, status, self.my_index, signature))
        return [_like(action, data) for data in forged]

    def _stale(self, action: Outgoing) -> list[Outgoing]:
        replays = [self.history[(self.sent * 7 + k) % len(self.history)] for k in range(REPLAYS_PER_MESSAGE)] if (
            self.history
        ) else []
        self.history.append(action.message_bytes)
        return [action] + [_like(action, data) for data in replays]


@dataclasses.dataclass(frozen=True, slots=True)
class _Wire:
    """A body already in wire form (re-encoded unchanged)."""

    wire: Any

    def to_wire(self) -> Any:
        return self.wire


def _like(action: Outgoing, data: bytes) -> Outgoing:
    return Send(action.to_index, data) if isinstance(action, Send) else Broadcast(data)


def _twin_block(block_bytes: bytes) -> Block | None:
    """The same block one millisecond later: same transactions and roots, a different hash."""
    from chain.consensus.messages import BlockHandle

    try:
        block = BlockHandle.from_bytes(block_bytes).decoded()
    except SilkportError:
        return None
    header = dataclasses.replace(block.header, timestamp_ms=block.header.timestamp_ms + 1)
    return Block(header, block.txs)


def _forged_status(message: Message, chain_id: str, validators: int) -> Status | None:
    """A STATUS claiming a head two blocks past a COMMIT's height, certified by made-up signatures."""
    body = message.body
    if not isinstance(body, Vote) or message.kind != COMMIT:
        return None
    filler = hashlib.sha256(b"silkport/byzantine/forge" + body.block_hash).digest()
    header = Header(chain_id, body.height + 2, body.view, 0, filler, filler, filler, filler, filler, 0, 0)
    signatures = tuple((i, hashlib.sha512(bytes([i]) + filler).digest()) for i in range(validators))
    certificate = CommitCertificate(header.height, body.view, header.block_hash, signatures)
    return Status(body.view, header, certificate)


def make_filter(
    mode: str | None, *, test_mode: bool, chain_id: str, my_index: int, validators: int, signer: Any
) -> ByzantineFilter | None:
    """The filter for ``mode`` (None: an honest node); refused unless the genesis is a test chain."""
    if mode is None:
        return None
    if mode not in MODES:
        raise ConfigError(f"--byzantine must be one of {', '.join(MODES)}, not {mode!r}")
    if not test_mode:
        raise ConfigError(
            f"--byzantine {mode} is refused: the genesis is not a test chain (params.test_mode is false); "
            "create the devnet with `python -m devnet up --test-mode`"
        )
    return ByzantineFilter(mode, chain_id, my_index, validators, signer)
