"""The JSON form of transactions (chain/api/jsonwire.py): round trips and refusals."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.api.jsonwire import args_from_json, args_to_json, tx_from_json, tx_to_json, value_from_json
from chain.crypto import KeyPair
from chain.errors import SilkportError, ValidationError
from chain.types import make_tx

KEY = KeyPair.from_seed(b"\x05" * 32)
names = st.text(alphabet="abcdefghij_", min_size=1, max_size=6)
scalars = (
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=8) | st.binary(max_size=8)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, min_size=1, max_size=3),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(names, values, max_size=4), st.integers(1, 2**40))
def test_readable_form_round_trips_to_the_same_bytes(args: dict[str, Any], nonce: int) -> None:
    signed = make_tx("chain-x", "registry", "register_asset", args, [KEY], nonce)
    document = tx_to_json(signed)
    again = tx_from_json(document)
    assert again.encode() == signed.encode() and again.tx_id == signed.tx_id
    assert tx_from_json({"tx": signed.encode().hex()}) == signed
    again.verify_signatures("chain-x")


def test_mapping_table() -> None:
    pairs = args_from_json(
        {"b": {"hex": "00ff"}, "a": [1, True, None, "s"], "c": {"y": 1, "x": {"hex": "01"}}}
    )
    assert pairs == (("a", (1, True, None, "s")), ("b", b"\x00\xff"), ("c", (("x", b"\x01"), ("y", 1))))
    assert args_to_json(pairs) == {
        "a": [1, True, None, "s"],
        "b": {"hex": "00ff"},
        "c": {"x": {"hex": "01"}, "y": 1},
    }


@pytest.mark.parametrize("value", [1.5, 2**64, -(2**63) - 1, {"hex": "zz"}, {"hex": "0"}, object()])
def test_unmappable_values_are_refused(value: Any) -> None:
    with pytest.raises(ValidationError):
        value_from_json(value)


@pytest.mark.parametrize(
    "document",
    [
        [],
        {"tx": "00", "extra": 1},
        {"body": {}, "signatures": []},
        {
            "body": {
                "chain_id": "c",
                "contract": "x",
                "method": "y",
                "args": {},
                "signer_pubkeys": "ab",
                "nonce": 1,
            },
            "signatures": [],
        },
        {"tx": "c1"},
    ],
)
def test_malformed_documents_raise_silkport_errors(document: Any) -> None:
    with pytest.raises(SilkportError):
        tx_from_json(document)
