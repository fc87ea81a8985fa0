"""Frames, the wire and the plaintext handshake messages, without sockets (chain/net/frames.py,
wire.py, handshake.py)."""

from __future__ import annotations

import asyncio
import os

import msgpack
import pytest

from chain import codec
from chain.crypto import KeyPair, Signer
from chain.errors import (
    ChainIdError,
    DecodeError,
    EncodeError,
    OversizeError,
    SignatureError,
    ValidationError,
)
from chain.net.frames import CHANNEL_CONSENSUS, CHANNEL_TX, decode_frame, encode_frame
from chain.net.handshake import decode_hello, encode_auth, encode_hello, verify_auth
from chain.net.wire import HEADER, KEEPALIVE, Admission, Limits, pack, read_message

CHAIN = "silkport-test"
KEYS = [KeyPair.from_seed(bytes([i + 1]) * 32) for i in range(3)]
VALIDATORS = [k.public_key for k in KEYS]


def test_frame_round_trip() -> None:
    for channel in (CHANNEL_CONSENSUS, CHANNEL_TX):
        data = encode_frame(channel, b"payload")
        assert decode_frame(data) == (channel, b"payload")
        assert data == codec.encode((channel, b"payload"))


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"\xc1", "decode_error"),
        (msgpack.packb([0, b"x", 1]), "decode_error"),
        (msgpack.packb([0, "text"]), "decode_error"),
        (msgpack.packb([True, b"x"]), "decode_error"),
        (msgpack.packb([7, b"x"]), "unknown_channel"),
        (msgpack.packb([0, b"x"]) + b"\x00", "decode_error"),
        (msgpack.packb({"a": 1}), "decode_error"),
    ],
)
def test_frame_garbage_is_refused(data: bytes, code: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode_frame(data)
    assert info.value.code == code


def test_frame_limits() -> None:
    with pytest.raises(OversizeError):
        encode_frame(0, b"x" * 101, max_frame_bytes=100)
    with pytest.raises(OversizeError):
        decode_frame(encode_frame(0, b"x" * 101), max_frame_bytes=100)
    with pytest.raises(EncodeError):
        encode_frame(9, b"x")


def _auth(signer_index: int, peer_challenge: bytes, my_challenge: bytes, chain_id: str = CHAIN) -> bytes:
    return encode_auth(chain_id, Signer(KEYS[signer_index]), signer_index, peer_challenge, my_challenge)


def _verify(data: bytes, my_challenge: bytes, peer_challenge: bytes, **kwargs: object) -> int:
    return verify_auth(
        data,
        chain_id=str(kwargs.get("chain_id", CHAIN)),
        validators=VALIDATORS,
        my_index=0,
        my_challenge=my_challenge,
        peer_challenge=peer_challenge,
        expected_index=kwargs.get("expected_index"),  # type: ignore[arg-type]
    )


def test_auth_accepts_the_right_peer() -> None:
    mine, theirs = os.urandom(32), os.urandom(32)
    assert _verify(_auth(1, mine, theirs), mine, theirs) == 1
    assert _verify(_auth(2, mine, theirs), mine, theirs, expected_index=2) == 2


def test_auth_refusals() -> None:
    mine, theirs = os.urandom(32), os.urandom(32)
    with pytest.raises(SignatureError):  # signed for another connection (a replayed AUTH)
        _verify(_auth(1, os.urandom(32), theirs), mine, theirs)
    with pytest.raises(SignatureError):  # signed for another chain
        _verify(_auth(1, mine, theirs, chain_id="other"), mine, theirs)
    with pytest.raises(SignatureError):  # challenges swapped (a reflected AUTH)
        _verify(_auth(1, theirs, mine), mine, theirs)
    with pytest.raises(ValidationError) as info:
        _verify(_auth(0, mine, theirs), mine, theirs)
    assert info.value.code == "self_connection"
    with pytest.raises(ValidationError) as info:
        _verify(_auth(1, mine, theirs), mine, theirs, expected_index=2)
    assert info.value.code == "unexpected_index"
    stranger = KeyPair.from_seed(b"\x09" * 32)
    forged = encode_auth(CHAIN, Signer(stranger), 1, mine, theirs)
    with pytest.raises(ValidationError) as info:
        _verify(forged, mine, theirs)
    assert info.value.code == "unknown_validator"
    with pytest.raises(DecodeError):
        _verify(codec.encode((1, b"short", b"sig")), mine, theirs)


def test_hello_round_trip_and_garbage() -> None:
    challenge = os.urandom(32)
    assert decode_hello(encode_hello(CHAIN, challenge)) == (CHAIN, challenge)
    with pytest.raises(DecodeError):
        decode_hello(codec.encode(("other/protocol", CHAIN, challenge)))
    with pytest.raises(DecodeError):
        decode_hello(codec.encode(("silkport/p2p/1", CHAIN, b"short")))
    assert ChainIdError.code == "wrong_chain"


# --- the length-prefixed wire (chain/net/wire.py) ----------------------------------------------


def _reader(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


def test_wire_round_trip_and_keepalive() -> None:
    async def main() -> None:
        reader = _reader(pack(b"abc") + KEEPALIVE + pack(b"d" * 100))
        assert await read_message(reader, 100) == b"abc"
        assert await read_message(reader, 100) == b""
        assert await read_message(reader, 100) == b"d" * 100

    asyncio.run(main())


def test_wire_checks_the_length_before_reading_the_body() -> None:
    async def main() -> None:
        reader = _reader(HEADER.pack(2**32 - 1) + b"only a few bytes follow")
        with pytest.raises(OversizeError):
            await read_message(reader, 1024)
        assert await reader.read() == b"only a few bytes follow"  # nothing of the body was consumed
        with pytest.raises(asyncio.IncompleteReadError):
            await read_message(_reader(HEADER.pack(10) + b"short"), 1024)

    asyncio.run(main())


def test_wire_refuses_an_empty_body() -> None:
    with pytest.raises(DecodeError):
        pack(b"")


def test_admission_caps_per_address_and_in_total() -> None:
    admission = Admission(Limits(max_pending_total=3, max_pending_per_address=2))
    assert admission.admit("a") is None and admission.admit("a") is None
    assert admission.admit("a") == "per_address_limit"
    assert admission.admit("b") is None
    assert admission.admit("c") == "too_many_connections"
    admission.release("a")
    assert admission.admit("c") is None and admission.pending_total == 3
    for address in ("a", "b", "c"):
        admission.release(address)
    assert admission.pending_total == 0 and not admission.pending
