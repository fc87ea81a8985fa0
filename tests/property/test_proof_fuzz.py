"""Hypothesis: any change to any field of a receipt or bundle makes verification fail with a reason (ADR 0008).

Documents come from a real ledger (LocalNode) with a validator-set change, an asset with a parent
and a few events, and an anchored batch. A mutation picks any leaf of the JSON tree (string, hex
character, integer, null) and changes it, or removes an object key or an array element; the
document is re-serialised canonically, so only the mutation differs.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chain.genesis import parse_genesis
from chain.localnode import LocalNode
from chain.proofs.build import ProofBuilder
from chain.proofs.document import Fail, canonical_json
from chain.proofs.verify import Verifier
from chain.types import make_tx
from testkit import contracts as testkit
from testkit.contracts import AUTHORITIES, BUYER, OWNER, REGISTRAR

HEX = "0123456789abcdef"


@functools.cache
def documents() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    document = testkit.genesis_document(organisations=testkit.PORT_ORGANISATIONS, roles=testkit.PORT_ROLES)
    document["params"] = {"checkpoint_interval": 4}
    validators = [testkit.key(f"validator-{i}") for i in range(4)]
    extra = testkit.key("validator-fuzz")
    node = LocalNode(parse_genesis(document), [*validators, extra])
    nonces: dict[bytes, int] = {}

    def commit(contract: str, method: str, args: dict[str, Any], signers: list[Any]) -> Any:
        nonces[signers[0].public_key] = nonces.get(signers[0].public_key, 0) + 1
        tx = make_tx(node.chain_id, contract, method, args, signers, nonces[signers[0].public_key])
        node.submit_tx(tx)
        node.produce_block()
        receipt = node.ledger.store.tx(tx.tx_hash)[1]
        assert receipt.ok, receipt.error_code
        return receipt

    hashes = [testkit.key(f"h{i}").public_key for i in range(3)]
    commit("anchoring", "anchor", {"hashes": hashes, "label": "fuzz"}, [REGISTRAR])
    commit("governance", "add_validator", {"public_key": extra.public_key, "name": "v4", "organisation": "port",
                                          "jurisdiction": "CN"}, list(AUTHORITIES[:2]))
    parent = commit("registry", "register", testkit.register_args(b"p"), [REGISTRAR, OWNER]).events[0].subject
    child = commit("registry", "register", testkit.register_args(b"c", parents=[parent]), [REGISTRAR, OWNER])
    child_id = child.events[0].subject
    commit("registry", "transfer", {"asset_id": child_id, "new_owner": BUYER.public_key}, [OWNER, BUYER])
    node.produce_block()
    builder = ProofBuilder(node.ledger)
    return document, [builder.anchor_receipt(hashes[1], since=3), builder.asset_bundle(child_id)]


def leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of every value and container in a JSON tree."""
    out = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            out += leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += leaves(item, (*path, index))
    return out


def mutate(value: Any, data: st.DataObject) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + data.draw(st.sampled_from([-2, -1, 1, 2, 1 << 20]))
    if value is None:
        return data.draw(st.sampled_from([0, [], ""]))
    if isinstance(value, str):
        if not value:
            return "0"
        position = data.draw(st.integers(0, len(value) - 1))
        char = value[position]
        if char in HEX:
            replacement = data.draw(st.sampled_from([c for c in HEX if c != char]))
        else:
            replacement = data.draw(st.sampled_from([c for c in "aZ0_ -" if c != char]))
        return value[:position] + replacement + value[position + 1:]
    if isinstance(value, list):
        if not value:
            return ["00" * 32]
        del value[data.draw(st.integers(0, len(value) - 1))]
        return value
    assert isinstance(value, dict)
    del value[data.draw(st.sampled_from(sorted(value)))]
    return value


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_field_change_fails_with_a_reason(data: st.DataObject) -> None:
    genesis, originals = documents()
    document = copy.deepcopy(data.draw(st.sampled_from(originals)))
    path = data.draw(st.sampled_from(leaves(document)[1:]))
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = mutate(parent[path[-1]], data)
    try:
        Verifier(genesis).verify_text(canonical_json(document))
    except Fail as failure:
        assert failure.message
    else:
        raise AssertionError(f"a change at {path} was accepted")


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children,
                                                                                     max_size=4), max_leaves=20))
def test_canonical_json_is_json_dumps(value: Any) -> None:
    import json

    assert canonical_json(value) == json.dumps(value, indent=1, sort_keys=True, ensure_ascii=True) + "\n"


def test_originals_verify() -> None:
    genesis, originals = documents()
    for document in originals:
        assert Verifier(genesis).verify_text(canonical_json(document)).summary().startswith("valid")
