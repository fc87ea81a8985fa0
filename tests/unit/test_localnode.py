"""LocalNode: a real ledger producing certified blocks without a network."""

from __future__ import annotations

from chain.crypto import KeyPair
from chain.genesis import GENESIS_FORMAT, default_policy, parse_genesis
from chain.localnode import LocalNode
from chain.types import make_tx

KEYS = [KeyPair.from_seed(bytes([i + 1]) * 32) for i in range(4)]
AUTHORITY = KeyPair.from_seed(b"\x09" * 32)


def genesis():  # type: ignore[no-untyped-def]
    return parse_genesis(
        {
            "format": GENESIS_FORMAT,
            "chain_id": "silkport-local",
            "genesis_time_ms": 1_767_225_600_000,
            "validators": [
                {"public_key": k.public_hex, "name": f"v{i}", "organisation": "daxing-port", "jurisdiction": "CN"}
                for i, k in enumerate(KEYS)
            ],
            "authorities": {"public_keys": [AUTHORITY.public_hex], "threshold": 1},
            "policy": default_policy(),
            "params": {"test_mode": True},  # the noop contract
        }
    )


def test_blocks_are_certified_and_chained() -> None:
    node = LocalNode(genesis(), KEYS)
    user = KeyPair.from_seed(b"\x05" * 32)
    tx_id = node.submit_tx(make_tx("silkport-local", "noop", "ping", {"note": "x"}, [user], 1))
    block = node.produce_block()
    assert [t.tx_id for t in block.txs] == [tx_id]
    certificate = node.ledger.store.certificate(1)
    assert certificate is not None
    certificate.verify("silkport-local", node.ledger.validator_keys, block.block_hash)
    second = node.produce_block()
    assert second.header.prev_hash == block.block_hash and second.header.timestamp_ms > block.header.timestamp_ms
    assert node.get_tx(bytes.fromhex(tx_id))["status"] == "committed"  # type: ignore[index]


def test_block_json_from_memory_equals_the_decoded_block() -> None:
    """``GET /v1/blocks`` answers recent blocks from the ledger's tx-id cache; older ones decode."""
    from chain.api.jsonwire import block_to_json, ledger_block_json
    from chain.ledger import RECENT_BLOCKS

    node = LocalNode(genesis(), KEYS)
    user = KeyPair.from_seed(b"\x05" * 32)
    for nonce in range(1, RECENT_BLOCKS + 4):
        node.submit_tx(make_tx("silkport-local", "noop", "ping", {"note": str(nonce)}, [user], nonce))
        node.produce_block()
    store = node.ledger.store
    for height in (1, 2, node.ledger.height - 1, node.ledger.height):
        block = store.block(height)
        assert block is not None
        assert ledger_block_json(node.ledger, height) == block_to_json(block, store.certificate(height))
    assert ledger_block_json(node.ledger, None) == ledger_block_json(node.ledger, node.ledger.height)
    assert ledger_block_json(node.ledger, node.ledger.height + 1) is None
