"""Canonical encoding: round trips, strict decoding, domain separation."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain import codec
from chain.errors import DecodeError, EncodeError

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=codec.INT_MIN, max_value=codec.INT_MAX)
    | st.binary(max_size=64)
    | st.text(max_size=32),
    lambda children: st.lists(children, max_size=5).map(tuple),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(values)
def test_round_trip_is_identity_and_unique(value: object) -> None:
    data = codec.encode(value)
    assert codec.decode(data) == value
    assert codec.encode(codec.decode(data)) == data


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=256))
def test_garbage_never_crashes_the_decoder(data: bytes) -> None:
    try:
        value = codec.decode(data)
    except DecodeError:
        return
    assert codec.encode(value) == data  # anything accepted is canonical


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"\x01\x02", "trailing"),
        (b"\xcb" + b"\x00" * 8, "float"),
        (b"\xca" + b"\x00" * 4, "float"),
        (b"\x81\xa1a\x01", "map"),
        (b"\x80", "map"),
        (b"\xd4\x01\x00", "extension"),
        (b"\xcc\x01", "non-canonical"),  # 1 as uint8 instead of fixint
        (b"\xd9\x01a", "non-canonical"),  # str8 for a 1-char string
        (b"\x91" * 100_000, "malformed"),  # nesting bomb
        (b"\x91" * 40 + b"\x00", "nesting"),
        (b"\xa2\xff\xfe", "UTF-8"),
        (b"\xc1", "malformed"),  # never-used byte
        (b"\xdd\xff\xff\xff\xff", "malformed"),  # array32 claiming 4G items
    ],
)
def test_strict_decoding_rejects(data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        codec.decode(data)


def test_oversize_input_is_rejected_before_parsing() -> None:
    with pytest.raises(DecodeError, match="exceeds the limit"):
        codec.decode(codec.encode(b"x" * 100), max_size=50)


def test_non_bytes_input_is_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        codec.decode("text")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [1.5, {"a": 1}, {1, 2}, 2**64, -(2**63) - 1, object(), (1, [2, {"x": 1}])])
def test_values_without_canonical_encoding(value: object) -> None:
    with pytest.raises(EncodeError):
        codec.encode(value)


def test_arrays_and_tuples_encode_alike() -> None:
    assert codec.encode([1, [b"a"]]) == codec.encode((1, (b"a",))) == msgpack.packb((1, (b"a",)), use_bin_type=True)


def test_signing_bytes_bind_domain_and_chain() -> None:
    body = (1, b"x")
    a = codec.signing_bytes(codec.DOMAIN_PREPARE, "chain-a", body)
    assert a != codec.signing_bytes(codec.DOMAIN_COMMIT, "chain-a", body)
    assert a != codec.signing_bytes(codec.DOMAIN_PREPARE, "chain-b", body)
    assert a.startswith(codec.DOMAIN_PREPARE)
    with pytest.raises(EncodeError):
        codec.signing_bytes(b"silkport/unknown/v1", "chain-a", body)


def test_no_domain_is_a_prefix_of_another() -> None:
    for a in codec.DOMAINS:
        for b in codec.DOMAINS:
            assert a == b or not b.startswith(a)


def test_records_as_sorted_pairs() -> None:
    pairs = codec.pairs_from_dict({"b": 2, "a": {"y": 1, "x": [1]}})
    assert pairs == (("a", (("x", (1,)), ("y", 1))), ("b", 2))
    assert codec.dict_from_pairs(pairs)["b"] == 2
    for bad in [(("b", 1), ("a", 2)), (("a", 1), ("a", 2)), ((1, 2),), (("a",),), "x"]:
        with pytest.raises(DecodeError):
            codec.dict_from_pairs(bad)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=8), values, max_size=6))
def test_encode_record_equals_encoding_the_pairs(record: dict[str, object]) -> None:
    assert codec.encode_record(record) == codec.encode(codec.pairs_from_dict(record))


@pytest.mark.parametrize("value", [1.5, 2**64, {1: 2}, [1, {"x": 0.1}], object()])
def test_encode_record_rejects_what_encode_rejects(value: object) -> None:
    with pytest.raises(EncodeError):
        codec.encode_record({"field": value})
