"""A whole node in one object, without network or consensus rounds: for API tests, proofs and tools.

:class:`LocalNode` holds a real :class:`~chain.ledger.Ledger` (on :class:`MemoryKV` or LevelDB) and
the validator key pairs, admits transactions exactly as a node does, and :meth:`produce_block`
builds, validates and commits the next block with a real CommitCertificate signed by a quorum of
the validators. It implements :class:`chain.api.facade.NodeFacade`, so ``make_app(LocalNode(...))``
serves the real REST API over real state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from chain import codec
from chain.api.jsonwire import ledger_block_json, ledger_tx_json
from chain.consensus.quorum import quorum
from chain.crypto import KeyPair
from chain.errors import ValidationError
from chain.genesis import GenesisDoc
from chain.ledger import Ledger
from chain.metrics import NodeMetrics
from chain.storage.kv import KV, MemoryKV
from chain.types import Block, CommitCertificate, SignedTx, commit_signing_bytes


class LocalNode:
    """A ledger plus the validators' keys; blocks are produced on demand (``produce_block``)."""

    def __init__(self, genesis: GenesisDoc, validators: Sequence[KeyPair], kv: KV | None = None) -> None:
        self.ledger = Ledger(kv or MemoryKV(), genesis)
        self.chain_id = genesis.chain_id
        by_key = {kp.public_key: kp for kp in validators}
        missing = [k.hex()[:16] for k in self.ledger.validator_keys if k not in by_key]
        if len(missing) > len(self.ledger.validator_keys) - quorum(len(self.ledger.validator_keys)):
            raise ValidationError(f"LocalNode needs a quorum of validator keys; missing {missing}")
        self.keys = by_key
        self.metrics = NodeMetrics()
        self.clock_ms = genesis.genesis_time_ms

    def certify(self, block: Block) -> CommitCertificate:
        message = commit_signing_bytes(self.chain_id, block.height, block.header.view, block.block_hash)
        signatures: list[tuple[int, bytes]] = []
        for index, public_key in enumerate(self.ledger.validator_keys):
            keypair = self.keys.get(public_key)
            if keypair is not None and len(signatures) < quorum(len(self.ledger.validator_keys)):
                signatures.append((index, keypair.sign(message)))
        return CommitCertificate(block.height, block.header.view, block.block_hash, tuple(signatures))

    def produce_block(self, now_ms: int | None = None, *, advance_ms: int = 1000) -> Block:
        """Build, validate and commit the next block from the mempool (time advances ``advance_ms``)."""
        self.clock_ms = max(self.clock_ms + advance_ms, now_ms or 0)
        view = 0
        block = self.ledger.build_block(view, self.clock_ms, proposer=view % len(self.ledger.validators))
        self.ledger.commit(block, self.certify(block))
        return block

    # --- NodeFacade ------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "node_id": self.ledger.validator_keys[0].hex(),
            "height": self.ledger.height,
            "view": 0,
            "primary": 0,
            "last_block_hash": self.ledger.head_hash.hex(),
            "peers_connected": 0,
            "mempool_size": len(self.ledger.mempool),
        }

    def submit_tx(self, tx: SignedTx) -> str:
        self.ledger.admit(tx, len(tx.encode()))
        return tx.tx_id

    def get_tx(self, tx_id: bytes) -> dict[str, Any] | None:
        return ledger_tx_json(self.ledger, tx_id)

    async def wait_tx(self, tx_id: bytes, timeout_s: float) -> dict[str, Any] | None:
        await asyncio.sleep(0)
        return self.get_tx(tx_id)

    def get_block(self, height: int | None) -> dict[str, Any] | None:
        return ledger_block_json(self.ledger, height)

    def raw_blocks(self, from_height: int, to_height: int, max_bytes: int) -> list[bytes]:
        return self.ledger.raw_blocks(from_height, to_height, max_bytes)

    def metrics_text(self) -> bytes:
        return self.metrics.render()

    def state_value(self, key: bytes) -> Any:
        raw = self.ledger.state_get(key)
        return None if raw is None else codec.decode(raw)
