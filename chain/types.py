"""Transactions, headers, blocks, receipts, events and commit certificates (DESIGN.md §3–4).

Every type is a frozen dataclass with ``to_wire()`` (the canonical array, field order fixed here and
in DESIGN.md) and ``from_wire()`` (strict: wrong arity, wrong types or wrong lengths raise
:class:`~chain.errors.DecodeError` / :class:`~chain.errors.ValidationError`). ``encode()`` and
``decode()`` go through :mod:`chain.codec`, so equal values have equal bytes and equal ids.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgpack

from chain import codec
from chain.crypto import PUBLIC_KEY_SIZE, SIGNATURE_SIZE, KeyPair, is_valid_signature, verify
from chain.errors import ChainIdError, DecodeError, ProofError, SignatureError, ValidationError

HASH_SIZE = 32
_sha256 = hashlib.sha256
_FIXARRAY_2 = b"\x92"  # msgpack header of a 2-element array
ZERO_HASH = b"\x00" * HASH_SIZE
MAX_SIGNERS = 8
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
STATUS_OK = 0
STATUS_FAILED = 1


# --- field checks --------------------------------------------------------------------------------


def _tuple(obj: Any, arity: int, what: str) -> tuple[Any, ...]:
    if type(obj) is tuple and len(obj) == arity:  # decoded input: no isinstance on a union
        return obj
    if not isinstance(obj, tuple | list) or len(obj) != arity:
        raise DecodeError(f"{what}: expected an array of {arity} fields")
    return tuple(obj)


def _int(value: Any, what: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DecodeError(f"{what}: expected an integer")
    if value < minimum:
        raise ValidationError(f"{what}: must be >= {minimum}")
    return value


def _bytes(value: Any, what: str, size: int | None = None) -> bytes:
    if not isinstance(value, bytes):
        raise DecodeError(f"{what}: expected bytes")
    if size is not None and len(value) != size:
        raise ValidationError(f"{what}: expected {size} bytes, got {len(value)}")
    return value


def _str(value: Any, what: str, pattern: re.Pattern[str] | None = None, max_len: int = 256) -> str:
    if not isinstance(value, str):
        raise DecodeError(f"{what}: expected a string")
    if len(value) > max_len:
        raise ValidationError(f"{what}: longer than {max_len} characters")
    if pattern is not None and not pattern.match(value):
        raise ValidationError(f"{what}: {value!r} is not a valid name")
    return value


def _array(value: Any, what: str, max_len: int) -> tuple[Any, ...]:
    if type(value) is tuple and len(value) <= max_len:
        return value
    if not isinstance(value, tuple | list):
        raise DecodeError(f"{what}: expected an array")
    if len(value) > max_len:
        raise ValidationError(f"{what}: more than {max_len} items")
    return tuple(value)


def _sized_bytes(values: tuple[Any, ...], what: str, size: int) -> tuple[bytes, ...]:
    """``tuple(_bytes(v, what, size) for v in values)``; the common case is checked in bulk."""
    if _BYTES_ONLY.issuperset(map(type, values)) and set(map(len, values)) <= {size}:
        return values
    return tuple(_bytes(v, what, size) for v in values)


_BYTES_ONLY = frozenset({bytes})


def hex_id(digest: bytes) -> str:
    return digest.hex()


# --- transactions --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TxBody:
    """``[chain_id, contract, method, args, signer_pubkeys, nonce, valid_until_height]``.

    ``args`` is a record as sorted ``(name, value)`` pairs (:func:`chain.codec.pairs_from_dict`).
    The first signer is the sender: its nonce must be strictly above its last committed nonce.
    ``valid_until_height`` = 0 means no expiry.
    """

    chain_id: str
    contract: str
    method: str
    args: tuple[tuple[str, Any], ...]
    signer_pubkeys: tuple[bytes, ...]
    nonce: int
    valid_until_height: int = 0

    def to_wire(self) -> tuple[Any, ...]:
        return (
            self.chain_id,
            self.contract,
            self.method,
            self.args,
            self.signer_pubkeys,
            self.nonce,
            self.valid_until_height,
        )

    @classmethod
    def from_wire(cls, obj: Any) -> TxBody:
        chain_id, contract, method, args, signers, nonce, valid_until = _tuple(obj, 7, "tx body")
        signer_pubkeys = _array(signers, "signer_pubkeys", MAX_SIGNERS)
        if not signer_pubkeys:
            raise ValidationError("a transaction needs at least one signer")
        keys = _sized_bytes(signer_pubkeys, "signer public key", PUBLIC_KEY_SIZE)
        if len(set(keys)) != len(keys):
            raise ValidationError("signer_pubkeys contains a duplicate")
        codec.dict_from_pairs(args)  # checks the record shape: sorted, unique names
        return cls(
            chain_id=_str(chain_id, "chain_id", max_len=64),
            contract=_str(contract, "contract", NAME_PATTERN),
            method=_str(method, "method", NAME_PATTERN),
            args=tuple(map(tuple, args)),
            signer_pubkeys=keys,
            nonce=_int(nonce, "nonce", minimum=1),
            valid_until_height=_int(valid_until, "valid_until_height"),
        )

    @property
    def sender(self) -> bytes:
        return self.signer_pubkeys[0]

    def args_dict(self) -> dict[str, Any]:
        return codec.dict_from_pairs(self.args)


@dataclass(frozen=True, slots=True)
class SignedTx:
    """A transaction body with one Ed25519 signature per signer, in ``signer_pubkeys`` order."""

    body: TxBody
    signatures: tuple[bytes, ...]
    body_bytes: bytes = field(default=b"", compare=False, repr=False)
    tx_hash: bytes = field(default=b"", compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.body_bytes:
            object.__setattr__(self, "body_bytes", codec.encode(self.body.to_wire()))
        object.__setattr__(self, "tx_hash", _sha256(self.body_bytes).digest())

    @property
    def tx_id(self) -> str:
        return self.tx_hash.hex()

    @property
    def sender(self) -> bytes:
        return self.body.sender

    def to_wire(self) -> tuple[Any, ...]:
        return (self.body.to_wire(), self.signatures)

    @classmethod
    def from_wire(cls, obj: Any, *, decoded: bool = False) -> SignedTx:
        """Parse ``[body, signatures]``. ``decoded=True`` says ``obj`` came from :func:`codec.decode`
        (so it is canonical already): the body's bytes are then packed without a second check."""
        return cls._parse(obj, decoded, None)

    @classmethod
    def _parse(cls, obj: Any, decoded: bool, raw: bytes | None) -> SignedTx:
        """:meth:`from_wire`; ``raw``, if given, is the canonical encoding ``obj`` was decoded from."""
        body_obj, signatures = _tuple(obj, 2, "signed tx")
        body = TxBody.from_wire(body_obj)
        sigs = _array(signatures, "signatures", MAX_SIGNERS)
        if len(sigs) != len(body.signer_pubkeys):
            raise SignatureError("one signature per signer is required")
        if raw is not None:  # raw = fixarray header (1 byte) || body's bytes || signatures' bytes
            body_bytes = raw[1 : len(raw) - len(msgpack.packb(sigs, use_bin_type=True))]
        else:
            body_bytes = msgpack.packb(body_obj, use_bin_type=True) if decoded else b""
        return cls(body=body, signatures=_sized_bytes(sigs, "signature", SIGNATURE_SIZE), body_bytes=body_bytes)

    def encode(self) -> bytes:
        """``canonical([body, signatures])`` without re-walking the body: a msgpack array is its
        header followed by its elements' encodings, and ``body_bytes`` is already canonical."""
        return _FIXARRAY_2 + self.body_bytes + msgpack.packb(self.signatures, use_bin_type=True)

    @classmethod
    def decode(cls, data: bytes, *, max_size: int = codec.MAX_DECODE_SIZE) -> SignedTx:
        obj = codec.decode(data, max_size=max_size)  # checked canonical: ``data`` is its encoding
        return cls._parse(obj, True, data if type(data) is bytes else None)

    def signing_bytes(self) -> bytes:
        return codec.DOMAIN_TX + codec.encode(self.body.chain_id) + self.body_bytes

    def verify_signatures(self, chain_id: str) -> None:
        """Raise unless the tx is for ``chain_id`` and every signer signed its signing bytes."""
        if self.body.chain_id != chain_id:
            raise ChainIdError(f"transaction is for chain {self.body.chain_id!r}, not {chain_id!r}")
        message = self.signing_bytes()
        for index, (public_key, signature) in enumerate(zip(self.body.signer_pubkeys, self.signatures, strict=True)):
            try:
                verify(public_key, message, signature)
            except SignatureError as exc:
                raise SignatureError(f"signature {index} (signer {public_key.hex()[:16]}) does not verify") from exc

    @classmethod
    def create(cls, body: TxBody, keypairs: Sequence[KeyPair]) -> SignedTx:
        by_key = {kp.public_key: kp for kp in keypairs}
        unsigned = cls(body=body, signatures=())
        message = unsigned.signing_bytes()
        try:
            signatures = tuple(by_key[pk].sign(message) for pk in body.signer_pubkeys)
        except KeyError as exc:
            raise SignatureError("a key pair for every signer is required") from exc
        return cls(body=body, signatures=signatures, body_bytes=unsigned.body_bytes)


def make_tx(
    chain_id: str,
    contract: str,
    method: str,
    args: dict[str, Any],
    signers: Sequence[KeyPair],
    nonce: int,
    valid_until_height: int = 0,
) -> SignedTx:
    """Build and sign a transaction; the first key pair is the sender."""
    body = TxBody(
        chain_id=chain_id,
        contract=contract,
        method=method,
        args=codec.pairs_from_dict(args),
        signer_pubkeys=tuple(kp.public_key for kp in signers),
        nonce=nonce,
        valid_until_height=valid_until_height,
    )
    return SignedTx.create(body, signers)


# --- receipts and events ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventRef:
    """Where an event lives: the (height, tx_index) of the transaction that emitted it (DESIGN.md §4)."""

    height: int
    tx_index: int

    def to_wire(self) -> tuple[int, int]:
        return (self.height, self.tx_index)

    @classmethod
    def from_wire(cls, obj: Any) -> EventRef:
        height, tx_index = _tuple(obj, 2, "event ref")
        return cls(_int(height, "ref height"), _int(tx_index, "ref tx_index"))


@dataclass(frozen=True, slots=True)
class Event:
    """``[contract, name, subject, prev, data]``.

    ``subject`` is the id of the record the event touches (an asset id, a transfer id) or "";
    ``prev`` links to the previous event on the same subject (None for the first), making the
    subject's history a hash-linked chain; ``data`` is a record of sorted pairs.
    """

    contract: str
    name: str
    subject: str = ""
    prev: EventRef | None = None
    data: tuple[tuple[str, Any], ...] = ()

    def to_wire(self) -> tuple[Any, ...]:
        return (self.contract, self.name, self.subject, self.prev.to_wire() if self.prev else None, self.data)

    @classmethod
    def from_wire(cls, obj: Any) -> Event:
        contract, name, subject, prev, data = _tuple(obj, 5, "event")
        codec.dict_from_pairs(data)
        return cls(
            contract=_str(contract, "event contract", NAME_PATTERN),
            name=_str(name, "event name", NAME_PATTERN),
            subject=_str(subject, "event subject"),
            prev=None if prev is None else EventRef.from_wire(prev),
            data=tuple(tuple(pair) for pair in data),
        )

    def data_dict(self) -> dict[str, Any]:
        return codec.dict_from_pairs(self.data)


@dataclass(frozen=True, slots=True)
class Receipt:
    """``[status, error_code, events]``: status 0 = ok, 1 = failed (error_code says why)."""

    status: int
    error_code: str = ""
    events: tuple[Event, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK

    def to_wire(self) -> tuple[Any, ...]:
        return (self.status, self.error_code, tuple(e.to_wire() for e in self.events))

    @classmethod
    def from_wire(cls, obj: Any) -> Receipt:
        status, error_code, events = _tuple(obj, 3, "receipt")
        if status not in (STATUS_OK, STATUS_FAILED) or isinstance(status, bool):
            raise ValidationError("receipt status must be 0 or 1")
        return cls(
            status=status,
            error_code=_str(error_code, "error_code", max_len=64),
            events=tuple(Event.from_wire(e) for e in _array(events, "events", 100_000)),
        )


def tx_leaf_data(tx: SignedTx, receipt: Receipt) -> bytes:
    """The tx_root leaf pre-image and stored body entry: ``canonical([signed_tx, receipt])`` (DESIGN.md §4).

    Built from the transaction's cached canonical bytes; equal to ``codec.encode((tx.to_wire(),
    receipt.to_wire()))`` (tested), which would re-walk the whole body on every leaf.
    """
    return _FIXARRAY_2 + tx.encode() + codec.encode(receipt.to_wire())


# --- headers and blocks ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Header:
    """``[chain_id, height, view, timestamp_ms, prev_hash, tx_root, state_root, history_root,
    validators_hash, policy_version, proposer]``; ``proposer`` is the validator index."""

    chain_id: str
    height: int
    view: int
    timestamp_ms: int
    prev_hash: bytes
    tx_root: bytes
    state_root: bytes
    history_root: bytes
    validators_hash: bytes
    policy_version: int
    proposer: int
    block_hash: bytes = field(default=b"", compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "block_hash", codec.digest(self.to_wire()))

    def to_wire(self) -> tuple[Any, ...]:
        return (
            self.chain_id,
            self.height,
            self.view,
            self.timestamp_ms,
            self.prev_hash,
            self.tx_root,
            self.state_root,
            self.history_root,
            self.validators_hash,
            self.policy_version,
            self.proposer,
        )

    @classmethod
    def from_wire(cls, obj: Any) -> Header:
        (chain_id, height, view, ts, prev, tx_root, state_root, history_root, vhash, policy, proposer) = _tuple(
            obj, 11, "header"
        )
        return cls(
            chain_id=_str(chain_id, "chain_id", max_len=64),
            height=_int(height, "height"),
            view=_int(view, "view"),
            timestamp_ms=_int(ts, "timestamp_ms"),
            prev_hash=_bytes(prev, "prev_hash", HASH_SIZE),
            tx_root=_bytes(tx_root, "tx_root", HASH_SIZE),
            state_root=_bytes(state_root, "state_root", HASH_SIZE),
            history_root=_bytes(history_root, "history_root", HASH_SIZE),
            validators_hash=_bytes(vhash, "validators_hash", HASH_SIZE),
            policy_version=_int(policy, "policy_version"),
            proposer=_int(proposer, "proposer"),
        )

    @property
    def hash_hex(self) -> str:
        return self.block_hash.hex()

    def encode(self) -> bytes:
        return codec.encode(self.to_wire())


@dataclass(frozen=True, slots=True)
class Block:
    """``[header, [signed_tx, ...]]``. Receipts are derived by execution and stored beside it."""

    header: Header
    txs: tuple[SignedTx, ...]

    @property
    def height(self) -> int:
        return self.header.height

    @property
    def block_hash(self) -> bytes:
        return self.header.block_hash

    def to_wire(self) -> tuple[Any, ...]:
        return (self.header.to_wire(), tuple(tx.to_wire() for tx in self.txs))

    @classmethod
    def from_wire(
        cls, obj: Any, *, max_txs: int = 100_000, decoded: bool = False, known_txs: KnownTxs | None = None
    ) -> Block:
        """Parse ``[header, txs]``. With ``decoded`` (``obj`` came from :func:`codec.decode`) and
        ``known_txs`` (e.g. the mempool's lookup by tx hash), a transaction this node already parsed
        and verified is reused when its signatures are identical, instead of being parsed again."""
        header, txs = _tuple(obj, 2, "block")
        return cls(
            header=Header.from_wire(header),
            txs=tuple(_block_tx(t, decoded, known_txs) for t in _array(txs, "block txs", max_txs)),
        )

    def encode(self) -> bytes:
        return codec.encode(self.to_wire())

    @classmethod
    def decode(
        cls, data: bytes, *, max_size: int = codec.MAX_DECODE_SIZE, known_txs: KnownTxs | None = None
    ) -> Block:
        return cls.from_wire(codec.decode(data, max_size=max_size), decoded=True, known_txs=known_txs)


KnownTxs = Callable[[bytes], "SignedTx | None"]


def _block_tx(obj: Any, decoded: bool, known_txs: KnownTxs | None) -> SignedTx:
    if decoded and known_txs is not None and type(obj) is tuple and len(obj) == 2 and type(obj[0]) is tuple:
        known = known_txs(codec.sha256(msgpack.packb(obj[0], use_bin_type=True)))
        if known is not None and known.signatures == obj[1]:
            return known
    return SignedTx.from_wire(obj, decoded=decoded)


# --- validators and commit certificates -----------------------------------------------------------


def validators_hash(public_keys: Sequence[bytes]) -> bytes:
    """``sha256(canonical([pubkey, ...]))`` in validator-index order: names the certifying set."""
    return codec.digest(tuple(public_keys))


def commit_vote_body(height: int, view: int, block_hash: bytes) -> tuple[int, int, bytes]:
    """What a COMMIT signs (under ``silkport/commit/v1``): ``[height, view, block_hash]``."""
    return (height, view, block_hash)


def commit_signing_bytes(chain_id: str, height: int, view: int, block_hash: bytes) -> bytes:
    return codec.signing_bytes(codec.DOMAIN_COMMIT, chain_id, commit_vote_body(height, view, block_hash))


@dataclass(frozen=True, slots=True)
class CommitCertificate:
    """``[height, view, block_hash, [(validator_index, signature), ...]]`` — a quorum of COMMITs."""

    height: int
    view: int
    block_hash: bytes
    signatures: tuple[tuple[int, bytes], ...]

    def to_wire(self) -> tuple[Any, ...]:
        return (self.height, self.view, self.block_hash, self.signatures)

    @classmethod
    def from_wire(cls, obj: Any) -> CommitCertificate:
        height, view, block_hash, sigs = _tuple(obj, 4, "commit certificate")
        pairs = []
        for item in _array(sigs, "certificate signatures", 10_000):
            index, signature = _tuple(item, 2, "certificate signature")
            pairs.append((_int(index, "validator_index"), _bytes(signature, "signature", SIGNATURE_SIZE)))
        return cls(
            height=_int(height, "height"),
            view=_int(view, "view"),
            block_hash=_bytes(block_hash, "block_hash", HASH_SIZE),
            signatures=tuple(pairs),
        )

    def encode(self) -> bytes:
        return codec.encode(self.to_wire())

    @classmethod
    def decode(cls, data: bytes) -> CommitCertificate:
        return cls.from_wire(codec.decode(data))

    def verify(self, chain_id: str, validators: Sequence[bytes], block_hash: bytes | None = None) -> None:
        """Raise :class:`ProofError` unless a quorum of distinct validators signed this COMMIT."""
        from chain.consensus.quorum import quorum  # chain.consensus imports this module: import late

        if block_hash is not None and block_hash != self.block_hash:
            raise ProofError(f"certificate at height {self.height} is for another block")
        n = len(validators)
        seen: set[int] = set()
        message = commit_signing_bytes(chain_id, self.height, self.view, self.block_hash)
        for index, signature in self.signatures:
            if index >= n:
                raise ProofError(f"certificate at height {self.height}: validator index {index} out of range")
            if index in seen:
                raise ProofError(f"certificate at height {self.height}: validator {index} counted twice")
            if not is_valid_signature(validators[index], message, signature):
                raise ProofError(f"certificate at height {self.height}: signature of validator {index} is invalid")
            seen.add(index)
        if len(seen) < quorum(n):
            raise ProofError(
                f"certificate at height {self.height}: {len(seen)} signatures, quorum of {n} validators is {quorum(n)}"
            )
