"""A small deterministic fake executor for the simulator (the real pipeline lives in the runtime).

tx_root = sha256(concatenated tx hashes); state_root = sha256(parent state_root || tx_root). It checks
height, prev_hash, chain id and both roots, like the runtime's BlockExecuted verdict.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from chain.crypto import KeyPair
from chain.types import ZERO_HASH, Block, Header, SignedTx, make_tx, validators_hash

CHAIN_ID = "silkport-sim"


def tx_root(txs: Sequence[SignedTx]) -> bytes:
    return hashlib.sha256(b"".join(tx.tx_hash for tx in txs)).digest()


def state_root(parent_state_root: bytes, root: bytes) -> bytes:
    return hashlib.sha256(parent_state_root + root).digest()


def genesis_header(validators: Sequence[bytes]) -> Header:
    return Header(CHAIN_ID, 0, 0, 0, ZERO_HASH, tx_root(()), ZERO_HASH, ZERO_HASH, validators_hash(validators), 0, 0)


def build_block(parent: Header, view: int, proposer: int, txs: Sequence[SignedTx], timestamp_ms: int) -> Block:
    root = tx_root(txs)
    header = Header(
        CHAIN_ID,
        parent.height + 1,
        view,
        max(timestamp_ms, parent.timestamp_ms + 1),
        parent.block_hash,
        root,
        state_root(parent.state_root, root),
        ZERO_HASH,
        parent.validators_hash,
        0,
        proposer,
    )
    return Block(header, tuple(txs))


def check_block(block: Block, parent: Header) -> tuple[bool, str]:
    header = block.header
    if header.chain_id != CHAIN_ID:
        return False, "chain_id"
    if header.height != parent.height + 1 or header.prev_hash != parent.block_hash:
        return False, "not_on_head"
    if header.timestamp_ms <= parent.timestamp_ms:
        return False, "timestamp"
    root = tx_root(block.txs)
    if header.tx_root != root:
        return False, "tx_root"
    if header.state_root != state_root(parent.state_root, root):
        return False, "state_root"
    return True, ""


def validator_keys(n: int) -> list[KeyPair]:
    return [KeyPair.from_seed(bytes([i + 1]) * 32) for i in range(n)]


_CLIENTS = [KeyPair.from_seed(bytes([200 + i]) * 32) for i in range(3)]
_TXS: list[SignedTx] = []


def client_txs(count: int) -> list[SignedTx]:
    """Pre-signed client transactions (cached across simulations: signing is not what we test)."""
    while len(_TXS) < count:
        i = len(_TXS)
        _TXS.append(make_tx(CHAIN_ID, "anchoring", "anchor", {"hash": i.to_bytes(32, "big"), "label": "sim"},
                            [_CLIENTS[i % 3]], i // 3 + 1))
    return _TXS[:count]


_EXPIRING: list[SignedTx] = []


def expiring_txs(count: int) -> list[SignedTx]:
    """Pre-signed transactions valid until height 1, each from one of the client keys with a nonce far
    above :func:`client_txs`' (cached like them)."""
    while len(_EXPIRING) < count:
        i = len(_EXPIRING)
        _EXPIRING.append(make_tx(CHAIN_ID, "anchoring", "anchor", {"hash": i.to_bytes(32, "big"), "label": "exp"},
                                 [_CLIENTS[i % 3]], 1_000_000 + i, 1))
    return _EXPIRING[:count]
