"""Random bytes never crash the peer decoders (chain/net/frames.py, chain/net/wire.py, handshake)."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from chain import codec
from chain.errors import DecodeError, OversizeError, SilkportError, ValidationError
from chain.net.frames import CHANNELS, decode_frame, encode_frame
from chain.net.handshake import decode_hello
from chain.net.wire import read_message


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_decode_frame_raises_only_the_error_tree(data: bytes) -> None:
    try:
        channel, payload = decode_frame(data, max_frame_bytes=128)
    except (DecodeError, OversizeError):
        return
    assert channel in CHANNELS and len(payload) <= 128
    assert encode_frame(channel, payload) == data  # whatever decodes is canonical


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(CHANNELS)), st.binary(max_size=200), st.integers(0, 40))
def test_truncated_or_extended_frames_are_refused(channel: int, payload: bytes, cut: int) -> None:
    data = encode_frame(channel, payload)
    for mutated in (data[: max(0, len(data) - 1 - cut)], data + bytes(cut + 1)):
        try:
            decode_frame(mutated)
        except (DecodeError, OversizeError):
            continue
        raise AssertionError(f"accepted a mutated frame {mutated!r}")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=100))
def test_wire_reader_raises_only_the_error_tree_or_eof(data: bytes) -> None:
    async def read_all() -> None:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        while True:
            body = await read_message(reader, 32)
            assert len(body) <= 32

    try:
        asyncio.run(read_all())
    except (OversizeError, asyncio.IncompleteReadError):
        pass


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.binary(max_size=80), st.builds(codec.encode, st.tuples(st.text(max_size=20), st.text(max_size=20), st.binary(max_size=40)))))
def test_hello_decoder_raises_only_the_error_tree(data: bytes) -> None:
    try:
        decode_hello(data)
    except (DecodeError, ValidationError, SilkportError):
        pass
