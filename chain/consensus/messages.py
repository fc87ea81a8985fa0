"""PBFT wire messages: one signed envelope, small signed bodies (Castro & Liskov OSDI'99 §4; DESIGN.md §3).

Envelope (canonical msgpack array)::

    [kind, body, sender_index, signature, payload]

``signature`` is the sender's Ed25519 signature over
``codec.signing_bytes(DOMAIN_<KIND>, chain_id, body)``. ``payload`` is unsigned bytes: the canonical
encoding of a :class:`~chain.types.Block` for PRE-PREPARE, for a VIEW-CHANGE that reports a prepared
block and for a NEW-VIEW that re-proposes one, ``b""`` otherwise. The payload is bound to the signed
body by its header hash (the block hash is in the body), so the 2,000-tx block is never re-encoded
or re-hashed by the consensus core: only its header is parsed (:class:`BlockHandle`).

Bodies (all arrays, fixed field order):

=============  ====================================================================================
kind           body
=============  ====================================================================================
preprepare     ``[height, view, block_hash]``
prepare        ``[height, view, block_hash]``
commit         ``[height, view, block_hash]`` = :func:`chain.types.commit_vote_body` (so COMMIT
               signatures are CommitCertificate signatures)
checkpoint     ``[height, block_hash]``
viewchange     ``[new_view, stable_header | None, stable_certificate | None, prepared | None]``;
               ``prepared`` = ``[height, view, block_hash, preprepare_signature, [[index, sig]...]]``
newview        ``[view, [viewchange_envelope_bytes, ...], reproposal | None]``;
               ``reproposal`` = ``[height, block_hash, preprepare_signature]``
status         ``[view, head_header | None, head_certificate | None]`` (catch-up hint, DOMAIN_CATCHUP)
=============  ====================================================================================

:func:`decode_message` checks shape only and raises :class:`~chain.errors.DecodeError` (never
anything else) on malformed input; signatures are checked by the replica, which knows the validators.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgpack

from chain import codec
from chain.crypto import SIGNATURE_SIZE, is_valid_signature
from chain.errors import DecodeError, SilkportError
from chain.types import HASH_SIZE, Block, CommitCertificate, Header, KnownTxs

PREPREPARE = "preprepare"
PREPARE = "prepare"
COMMIT = "commit"
CHECKPOINT = "checkpoint"
VIEW_CHANGE = "viewchange"
NEW_VIEW = "newview"
STATUS = "status"

DOMAINS: dict[str, bytes] = {
    PREPREPARE: codec.DOMAIN_PREPREPARE,
    PREPARE: codec.DOMAIN_PREPARE,
    COMMIT: codec.DOMAIN_COMMIT,
    CHECKPOINT: codec.DOMAIN_CHECKPOINT,
    VIEW_CHANGE: codec.DOMAIN_VIEW_CHANGE,
    NEW_VIEW: codec.DOMAIN_NEW_VIEW,
    STATUS: codec.DOMAIN_CATCHUP,
}
MAX_MESSAGE_SIZE = 64 * 1024 * 1024
MAX_INT = 2**63 - 1
MAX_VALIDATORS = 1_000


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT:
        raise DecodeError(f"{what}: expected a non-negative integer")
    return value


def _hash(value: Any, what: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise DecodeError(f"{what}: expected {HASH_SIZE} bytes")
    return value


def _sig(value: Any, what: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != SIGNATURE_SIZE:
        raise DecodeError(f"{what}: expected a {SIGNATURE_SIZE}-byte signature")
    return value


def _array(value: Any, arity: int | None, what: str) -> tuple[Any, ...]:
    if not isinstance(value, tuple) or (arity is not None and len(value) != arity):
        raise DecodeError(f"{what}: expected an array" + (f" of {arity} fields" if arity else ""))
    return value


# --- blocks carried as bytes -------------------------------------------------------------------------


class BlockHandle:
    """A block known by its header and canonical bytes; the transactions are decoded only on demand.

    The core needs the header (height, view, prev_hash, hash) and passes the block on to the runtime;
    ``block`` and ``block_bytes`` are computed lazily and cached, so a 2,000-tx block costs the core
    one header parse, not 2,000 transaction decodes.
    """

    __slots__ = ("header", "_bytes", "_block")

    def __init__(self, header: Header, block_bytes: bytes | None = None, block: Block | None = None) -> None:
        if block_bytes is None and block is None:
            raise ValueError("a BlockHandle needs the block or its bytes")
        self.header = header
        self._bytes = block_bytes
        self._block = block

    @property
    def block_hash(self) -> bytes:
        return self.header.block_hash

    @property
    def height(self) -> int:
        return self.header.height

    @property
    def block_bytes(self) -> bytes:
        if self._bytes is None:
            assert self._block is not None
            self._bytes = encode_block(self._block)
        return self._bytes

    @property
    def block(self) -> Block:
        """The decoded block (raises DecodeError/ValidationError if the bytes are not a valid block)."""
        return self.decoded()

    def decoded(self, known_txs: KnownTxs | None = None) -> Block:
        """:attr:`block`, reusing the transactions ``known_txs`` (tx hash -> SignedTx) already holds."""
        if self._block is None:
            assert self._bytes is not None
            block = Block.decode(self._bytes, max_size=MAX_MESSAGE_SIZE, known_txs=known_txs)
            if block.header != self.header:
                raise DecodeError("block bytes do not match their header")
            self._block = block
        return self._block

    @classmethod
    def from_block(cls, block: Block, block_bytes: bytes = b"") -> BlockHandle:
        return cls(block.header, block_bytes or None, block)

    @classmethod
    def from_bytes(cls, block_bytes: bytes) -> BlockHandle:
        """Parse only the header of canonical block bytes ``[header, [tx, ...]]`` (DecodeError if malformed)."""
        return cls(parse_block_header(block_bytes), block_bytes)

    def __repr__(self) -> str:
        return f"BlockHandle(height={self.header.height}, hash={self.block_hash.hex()[:12]})"


def _array_header(count: int) -> bytes:
    if count < 16:
        return bytes([0x90 | count])
    if count < 0x10000:
        return b"\xdc" + count.to_bytes(2, "big")
    return b"\xdd" + count.to_bytes(4, "big")


def encode_block(block: Block) -> bytes:
    """``block.encode()``, built from each transaction's cached body bytes (same bytes, ~4x faster)."""
    parts = [b"\x92", block.header.encode(), _array_header(len(block.txs))]
    for tx in block.txs:
        parts.append(b"\x92")
        parts.append(tx.body_bytes)
        parts.append(codec.encode(tx.signatures))
    return b"".join(parts)


def parse_block_header(block_bytes: bytes) -> Header:
    """Read the header of canonical block bytes without decoding the transactions."""
    if not isinstance(block_bytes, bytes) or len(block_bytes) < 2 or block_bytes[0] != 0x92:
        raise DecodeError("block bytes: expected a 2-element array")
    unpacker = msgpack.Unpacker(raw=False, use_list=False, ext_hook=_no_ext, max_buffer_size=len(block_bytes))
    unpacker.feed(block_bytes[1:2048])
    try:
        header_obj = unpacker.unpack()
    except Exception as exc:  # msgpack raises several unrelated types on garbage
        raise DecodeError(f"block bytes: malformed header ({type(exc).__name__})") from exc
    try:
        header = Header.from_wire(header_obj)
    except SilkportError as exc:
        raise DecodeError(f"block bytes: bad header: {exc}") from exc
    encoded = header.encode()
    if block_bytes[1 : 1 + len(encoded)] != encoded:
        raise DecodeError("block bytes: header is not canonical")
    return header


def _no_ext(code: int, data: bytes) -> Any:
    raise DecodeError("extension types are not allowed")


# --- bodies -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Vote:
    """PRE-PREPARE, PREPARE and COMMIT body ``[height, view, block_hash]`` (OSDI'99 §4.2)."""

    height: int
    view: int
    block_hash: bytes

    def to_wire(self) -> tuple[Any, ...]:
        return (self.height, self.view, self.block_hash)

    @classmethod
    def from_wire(cls, obj: Any) -> Vote:
        height, view, block_hash = _array(obj, 3, "vote")
        return cls(_int(height, "height"), _int(view, "view"), _hash(block_hash, "block_hash"))


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """CHECKPOINT body ``[height, block_hash]`` (OSDI'99 §4.3); the block hash covers the state root."""

    height: int
    block_hash: bytes

    def to_wire(self) -> tuple[Any, ...]:
        return (self.height, self.block_hash)

    @classmethod
    def from_wire(cls, obj: Any) -> Checkpoint:
        height, block_hash = _array(obj, 2, "checkpoint")
        return cls(_int(height, "height"), _hash(block_hash, "block_hash"))


@dataclass(frozen=True, slots=True)
class PreparedCertificate:
    """A pre-prepare and a quorum of matching prepares for (height, view, block_hash) (OSDI'99 §4.4, P)."""

    height: int
    view: int
    block_hash: bytes
    preprepare_signature: bytes
    prepares: tuple[tuple[int, bytes], ...]

    def to_wire(self) -> tuple[Any, ...]:
        return (self.height, self.view, self.block_hash, self.preprepare_signature, self.prepares)

    @classmethod
    def from_wire(cls, obj: Any) -> PreparedCertificate:
        height, view, block_hash, pp_sig, prepares = _array(obj, 5, "prepared certificate")
        pairs = []
        for item in _array(prepares, None, "prepares")[:MAX_VALIDATORS]:
            index, sig = _array(item, 2, "prepare signature")
            pairs.append((_int(index, "prepare index"), _sig(sig, "prepare signature")))
        if len(_array(prepares, None, "prepares")) > MAX_VALIDATORS:
            raise DecodeError("too many prepares")
        return cls(_int(height, "height"), _int(view, "view"), _hash(block_hash, "block_hash"),
                   _sig(pp_sig, "preprepare signature"), tuple(pairs))

    @property
    def vote(self) -> Vote:
        return Vote(self.height, self.view, self.block_hash)

    def is_valid(self, chain_id: str, validators: tuple[bytes, ...], quorum_size: int) -> bool:
        """True if the primary of ``view`` signed the pre-prepare and quorum-1 other validators prepared."""
        n = len(validators)
        body = self.vote.to_wire()
        primary = self.view % n
        if not is_valid_signature(validators[primary], codec.signing_bytes(codec.DOMAIN_PREPREPARE, chain_id, body),
                                  self.preprepare_signature):
            return False
        message = codec.signing_bytes(codec.DOMAIN_PREPARE, chain_id, body)
        seen: set[int] = set()
        for index, sig in self.prepares:
            if index >= n or index == primary or index in seen:
                return False
            if not is_valid_signature(validators[index], message, sig):
                return False
            seen.add(index)
        return len(seen) + 1 >= quorum_size


def _optional_header_cert(header: Any, cert: Any) -> tuple[Header | None, CommitCertificate | None]:
    if header is None and cert is None:
        return None, None
    if header is None or cert is None:
        raise DecodeError("a stable point needs both its header and its certificate")
    try:
        return Header.from_wire(header), CommitCertificate.from_wire(cert)
    except SilkportError as exc:
        raise DecodeError(f"bad stable point: {exc}") from exc


@dataclass(frozen=True, slots=True)
class ViewChange:
    """VIEW-CHANGE body (TOCS §4.4): the sender's latest committed header + CommitCertificate as its
    stable point, and its highest-view prepared certificate for the next height, if any."""

    new_view: int
    stable_header: Header | None
    stable_certificate: CommitCertificate | None
    prepared: PreparedCertificate | None

    def to_wire(self) -> tuple[Any, ...]:
        return (
            self.new_view,
            None if self.stable_header is None else self.stable_header.to_wire(),
            None if self.stable_certificate is None else self.stable_certificate.to_wire(),
            None if self.prepared is None else self.prepared.to_wire(),
        )

    @classmethod
    def from_wire(cls, obj: Any) -> ViewChange:
        new_view, header, cert, prepared = _array(obj, 4, "view-change")
        stable_header, stable_cert = _optional_header_cert(header, cert)
        return cls(_int(new_view, "new_view"), stable_header, stable_cert,
                   None if prepared is None else PreparedCertificate.from_wire(prepared))


@dataclass(frozen=True, slots=True)
class Reproposal:
    """The NEW-VIEW's pre-prepare for the first uncertified height (TOCS §4.4, the set O)."""

    height: int
    block_hash: bytes
    preprepare_signature: bytes

    def to_wire(self) -> tuple[Any, ...]:
        return (self.height, self.block_hash, self.preprepare_signature)


@dataclass(frozen=True, slots=True)
class NewView:
    """NEW-VIEW body (TOCS §4.4): the view, the VIEW-CHANGE envelopes that justify it, the re-proposal."""

    view: int
    view_changes: tuple[bytes, ...]
    reproposal: Reproposal | None

    def to_wire(self) -> tuple[Any, ...]:
        return (self.view, self.view_changes, None if self.reproposal is None else self.reproposal.to_wire())

    @classmethod
    def from_wire(cls, obj: Any) -> NewView:
        view, vcs, reproposal = _array(obj, 3, "new-view")
        items = _array(vcs, None, "view changes")
        if len(items) > MAX_VALIDATORS or not all(isinstance(item, bytes) for item in items):
            raise DecodeError("new-view: view changes must be at most 1000 byte strings")
        rp = None
        if reproposal is not None:
            height, block_hash, sig = _array(reproposal, 3, "reproposal")
            rp = Reproposal(_int(height, "height"), _hash(block_hash, "block_hash"), _sig(sig, "signature"))
        return cls(_int(view, "view"), items, rp)


@dataclass(frozen=True, slots=True)
class Status:
    """STATUS body: the sender's view and latest certified head (catch-up hint; TOCS §5.3 state transfer)."""

    view: int
    head_header: Header | None
    head_certificate: CommitCertificate | None

    def to_wire(self) -> tuple[Any, ...]:
        return (
            self.view,
            None if self.head_header is None else self.head_header.to_wire(),
            None if self.head_certificate is None else self.head_certificate.to_wire(),
        )

    @classmethod
    def from_wire(cls, obj: Any) -> Status:
        view, header, cert = _array(obj, 3, "status")
        head_header, head_cert = _optional_header_cert(header, cert)
        return cls(_int(view, "view"), head_header, head_cert)


Body = Vote | Checkpoint | ViewChange | NewView | Status

_BODY_PARSERS: dict[str, Any] = {
    PREPREPARE: Vote.from_wire,
    PREPARE: Vote.from_wire,
    COMMIT: Vote.from_wire,
    CHECKPOINT: Checkpoint.from_wire,
    VIEW_CHANGE: ViewChange.from_wire,
    NEW_VIEW: NewView.from_wire,
    STATUS: Status.from_wire,
}
_PAYLOAD_KINDS = frozenset({PREPREPARE, VIEW_CHANGE, NEW_VIEW})


@dataclass(frozen=True, slots=True)
class Message:
    """A decoded envelope. ``body_wire`` is the body exactly as received (its signature is over it)."""

    kind: str
    body: Any
    sender: int
    signature: bytes
    payload: bytes
    body_wire: Any
    size: int
    raw: bytes = field(default=b"", repr=False, compare=False)

    def signing_bytes(self, chain_id: str) -> bytes:
        return codec.signing_bytes(DOMAINS[self.kind], chain_id, self.body_wire)


def decode_message(data: bytes, *, max_size: int = MAX_MESSAGE_SIZE) -> Message:
    """Strictly decode an envelope; raise :class:`DecodeError` (and nothing else) on malformed input."""
    try:
        obj = codec.decode(data, max_size=max_size)
        kind, body_wire, sender, signature, payload = _array(obj, 5, "envelope")
        if not isinstance(kind, str) or kind not in _BODY_PARSERS:
            raise DecodeError("envelope: unknown message kind")
        if not isinstance(payload, bytes):
            raise DecodeError("envelope: payload must be bytes")
        if payload and kind not in _PAYLOAD_KINDS:
            raise DecodeError(f"envelope: {kind} carries no payload")
        body = _BODY_PARSERS[kind](body_wire)
        return Message(kind, body, _int(sender, "sender"), _sig(signature, "signature"), payload, body_wire,
                       len(data), bytes(data))
    except DecodeError:
        raise
    except SilkportError as exc:
        raise DecodeError(f"malformed message: {exc}") from exc
    except (ValueError, TypeError, IndexError, OverflowError, RecursionError) as exc:
        raise DecodeError(f"malformed message: {type(exc).__name__}") from exc


def encode_message(kind: str, body: Any, sender: int, signature: bytes, payload: bytes = b"") -> bytes:
    return codec.encode((kind, body.to_wire(), sender, signature, payload))


def strip_payload(message: Message) -> bytes:
    """The envelope without its (unsigned) payload: still verifiable, much smaller (used in NEW-VIEW)."""
    return codec.encode((message.kind, message.body_wire, message.sender, message.signature, b""))


def sign_body(signer: Any, kind: str, chain_id: str, body: Any) -> bytes:
    """The sender's signature over ``domain || chain_id || canonical(body)``."""
    return bytes(signer.sign(codec.signing_bytes(DOMAINS[kind], chain_id, body.to_wire())))


def make_message(signer: Any, chain_id: str, sender: int, kind: str, body: Any, payload: bytes = b"") -> bytes:
    """Sign ``body`` and encode the envelope."""
    return encode_message(kind, body, sender, sign_body(signer, kind, chain_id, body), payload)
