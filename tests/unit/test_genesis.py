"""The genesis document: strict parsing and a genesis block anyone can recompute."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from chain import merkle
from chain.crypto import KeyPair
from chain.errors import ConfigError
from chain.genesis import GENESIS_FORMAT, compute_genesis, default_policy, parse_genesis
from chain.types import ZERO_HASH, validators_hash

KEYS = [KeyPair.from_seed(bytes([i + 1]) * 32) for i in range(5)]


def document() -> dict[str, Any]:
    return {
        "format": GENESIS_FORMAT,
        "chain_id": "silkport-test",
        "genesis_time_ms": 1_700_000_000_000,
        "validators": [
            {"public_key": k.public_hex, "name": f"v{i}", "organisation": "daxing-port", "jurisdiction": "CN"}
            for i, k in enumerate(KEYS[:4])
        ],
        "authorities": {"public_keys": [KEYS[4].public_hex], "threshold": 1},
        "policy": default_policy(),
    }


def test_genesis_header_is_deterministic_and_well_formed() -> None:
    doc = parse_genesis(document())
    header = compute_genesis(doc)
    assert header == compute_genesis(parse_genesis(document()))
    assert header.height == 0 and header.prev_hash == ZERO_HASH
    assert header.tx_root == merkle.EMPTY_ROOT == header.history_root
    assert header.validators_hash == validators_hash([k.public_key for k in KEYS[:4]])
    assert header.policy_version == 1


def test_any_change_to_the_document_changes_the_genesis_hash() -> None:
    base = compute_genesis(parse_genesis(document())).block_hash
    changed = document()
    changed["policy"]["thresholds"]["sc_or_cert_subjects"] += 1
    assert compute_genesis(parse_genesis(changed)).block_hash != base


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        (("format",), "silkport-genesis/2", "format"),
        (("chain_id",), "Bad Chain", "chain_id"),
        (("validators",), [], "validators"),
        (("authorities", "threshold"), 2, "authorities"),
        (("validators", 0, "public_key"), "zz", "validators.0.public_key"),
        (("validators", 0, "jurisdiction"), "China", "jurisdiction"),
        (("unexpected",), 1, "unexpected"),
    ],
)
def test_bad_documents_are_config_errors(path: tuple[Any, ...], value: Any, where: str) -> None:
    doc = copy.deepcopy(document())
    target = doc
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    with pytest.raises(ConfigError, match=where):
        parse_genesis(doc)


def test_duplicate_validators_are_refused() -> None:
    doc = document()
    doc["validators"][1]["public_key"] = doc["validators"][0]["public_key"]
    with pytest.raises(ConfigError, match="distinct"):
        parse_genesis(doc)
