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


# --- fast paths against the field-by-field reference walks -----------------------------------------------

flat_values = st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.binary(max_size=8)
record_values = st.recursive(
    flat_values | st.text(max_size=4) | st.floats(allow_nan=False),
    lambda children: st.lists(children, max_size=3) | st.lists(children, max_size=3).map(tuple)
    | st.dictionaries(st.text(max_size=3), children, max_size=3),
    max_leaves=10,
)


def _outcome(function: object, *args: object) -> tuple[str, object]:
    try:
        return "ok", function(*args)  # type: ignore[operator]
    except (EncodeError, DecodeError) as exc:
        return type(exc).__name__, str(exc)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=6), record_values, max_size=6))
def test_encode_record_fast_path_matches_the_walk(record: dict[str, object]) -> None:
    """Same bytes, or the same error and message, as packing the precise walk's pairs."""
    assert _outcome(codec.encode_record, record) == _outcome(lambda r: codec.encode(codec._pairs(r, 0)), record)


def test_encode_record_names_the_first_bad_field() -> None:
    record = {"a": (1, 2**64), "b": 2**64, "c": 1.5, "d": [1, 2], "e": {"x": 2**64}}
    with pytest.raises(EncodeError, match=f"integer out of range: {2**64}"):
        codec.encode_record(record)
    with pytest.raises(EncodeError, match="floats"):
        codec.encode_record({"a": (1, 2), "b": "x", "c": 1.5, "d": 2**64})
    with pytest.raises(EncodeError, match="names must be strings"):
        codec.encode_record({b"a": 1})
    assert codec.encode_record({"d": [1, (2,)], "e": {"y": 1}}) == codec.encode((("d", (1, (2,))), ("e", (("y", 1),))))


def _nested(depth: int, leaf: tuple[object, ...]) -> object:
    value: object = leaf
    for _ in range(depth):
        value = (value,)
    return value


def _walk_reference(value: object, depth: int = 0) -> None:
    """codec._walk without its flat-tuple shortcut."""
    if depth > codec.MAX_DEPTH:
        raise DecodeError(f"nesting deeper than {codec.MAX_DEPTH}")
    for item in value:  # type: ignore[attr-defined]
        kind = type(item)
        if kind in (type(None), bool, bytes, str, int):
            continue
        if kind is tuple:
            _walk_reference(item, depth + 1)
        elif kind is float:
            raise DecodeError("floats are not allowed")
        elif kind is dict:
            raise DecodeError("maps are not allowed in canonical data")
        else:
            raise DecodeError(f"unexpected type {kind.__name__}")


@pytest.mark.parametrize("depth", range(28, 36))
@pytest.mark.parametrize("leaf", [(), (1, b"x"), ((),), (1.5,), ({},), (1, (2, 3.5))])
def test_decode_walk_keeps_the_depth_limit_and_errors(depth: int, leaf: tuple[object, ...]) -> None:
    value = (_nested(depth, leaf),)
    assert _outcome(codec._walk, value) == _outcome(_walk_reference, value)


@settings(max_examples=300, deadline=None)
@given(st.recursive(flat_values | st.floats(allow_nan=False) | st.dictionaries(st.text(max_size=2), st.none(), max_size=1),
                    lambda children: st.lists(children, max_size=4).map(tuple), max_leaves=20))
def test_decode_walk_matches_the_reference(value: object) -> None:
    assert _outcome(codec._walk, (value,)) == _outcome(_walk_reference, (value,))
