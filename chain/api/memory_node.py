"""An in-memory twin of :class:`~chain.api.facade.NodeFacade` (STYLE.md habit 9).

It admits transactions the way a node's mempool does (signatures, chain id, duplicates, per-sender
nonces, known contracts and methods, size and capacity limits) and "commits" them when told to
(:meth:`MemoryNode.commit`), with placeholder roots and an unsigned certificate. It exists for the
API, client and CLI tests and for UI work without a devnet; it runs no consensus and no contracts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from chain import codec
from chain.api.jsonwire import block_to_json, tx_record_to_json
from chain.errors import (
    DuplicateTxError,
    MempoolFullError,
    NonceError,
    OversizeError,
    ValidationError,
)
from chain.types import ZERO_HASH, Block, CommitCertificate, Header, Receipt, SignedTx


@dataclass
class _Entry:
    tx: SignedTx
    height: int | None = None
    index: int | None = None
    receipt: Receipt | None = None


class MemoryNode:
    """A node facade over dicts; ``commit()`` turns the mempool into the next block."""

    def __init__(
        self,
        chain_id: str = "silkport-memory",
        *,
        node_id: str = "memory-0",
        contracts: Mapping[str, Collection[str]] | None = None,
        mempool_limit: int = 10_000,
        max_tx_bytes: int = 256 * 1024,
        auto_commit: bool = False,
    ) -> None:
        self.chain_id = chain_id
        self.node_id = node_id
        self.contracts = contracts
        self.mempool_limit = mempool_limit
        self.max_tx_bytes = max_tx_bytes
        self.auto_commit = auto_commit
        self.txs: dict[bytes, _Entry] = {}
        self.pending: list[bytes] = []
        self.nonces: dict[bytes, int] = {}
        self.blocks: list[tuple[Block, CommitCertificate]] = []

    # --- NodeFacade ----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        last = self.blocks[-1][0] if self.blocks else None
        return {
            "chain_id": self.chain_id,
            "node_id": self.node_id,
            "height": last.height if last else 0,
            "view": 0,
            "primary": 0,
            "last_block_hash": last.block_hash.hex() if last else None,
            "peers_connected": 0,
            "mempool_size": len(self.pending),
        }

    def submit_tx(self, tx: SignedTx) -> str:
        size = len(tx.encode())
        if size > self.max_tx_bytes:
            raise OversizeError(f"transaction of {size} bytes exceeds {self.max_tx_bytes}")
        tx.verify_signatures(self.chain_id)
        if self.contracts is not None:
            if tx.body.contract not in self.contracts:
                raise ValidationError(f"unknown contract {tx.body.contract!r}", code="unknown_contract")
            if tx.body.method not in self.contracts[tx.body.contract]:
                raise ValidationError(
                    f"contract {tx.body.contract!r} has no method {tx.body.method!r}", code="unknown_method"
                )
        if tx.tx_hash in self.txs:
            raise DuplicateTxError(f"transaction {tx.tx_id} is already known")
        last_nonce = self.nonces.get(tx.sender, 0)
        if tx.body.nonce <= last_nonce:
            raise NonceError(f"nonce {tx.body.nonce} is not above the sender's last nonce {last_nonce}")
        if len(self.pending) >= self.mempool_limit:
            raise MempoolFullError(f"mempool holds {len(self.pending)} transactions")
        self.nonces[tx.sender] = tx.body.nonce
        self.txs[tx.tx_hash] = _Entry(tx)
        self.pending.append(tx.tx_hash)
        if self.auto_commit:
            self.commit()
        return tx.tx_id

    def get_tx(self, tx_id: bytes) -> dict[str, Any] | None:
        entry = self.txs.get(tx_id)
        if entry is None:
            return None
        return tx_record_to_json(
            entry.tx, entry.receipt if entry.height is not None else None, entry.height, entry.index
        )

    async def wait_tx(self, tx_id: bytes, timeout_s: float) -> dict[str, Any] | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            info = self.get_tx(tx_id)
            if (info is not None and info["status"] == "committed") or loop.time() >= deadline:
                return info
            await asyncio.sleep(0.01)

    def get_block(self, height: int | None) -> dict[str, Any] | None:
        if not self.blocks:
            return None
        if height is None:
            height = len(self.blocks)
        if not 1 <= height <= len(self.blocks):
            return None
        block, certificate = self.blocks[height - 1]
        return block_to_json(block, certificate)

    def raw_blocks(self, from_height: int, to_height: int, max_bytes: int) -> list[bytes]:
        out: list[bytes] = []
        total = 0
        for height in range(max(1, from_height), min(to_height, len(self.blocks)) + 1):
            block, certificate = self.blocks[height - 1]
            raw = codec.encode((block.to_wire(), certificate.to_wire()))
            if out and total + len(raw) > max_bytes:
                break
            out.append(raw)
            total += len(raw)
        return out

    def metrics_text(self) -> bytes:
        return (
            "# TYPE silkport_height gauge\n"
            f"silkport_height {len(self.blocks)}\n"
            "# TYPE silkport_mempool_size gauge\n"
            f"silkport_mempool_size {len(self.pending)}\n"
        ).encode()

    # --- test controls -----------------------------------------------------------------------

    def commit(self, timestamp_ms: int | None = None) -> Block:
        """Put every pending transaction into the next block (all with ok receipts)."""
        height = len(self.blocks) + 1
        prev_hash = self.blocks[-1][0].block_hash if self.blocks else ZERO_HASH
        txs = tuple(self.txs[tx_hash].tx for tx_hash in self.pending)
        header = Header(
            chain_id=self.chain_id,
            height=height,
            view=0,
            timestamp_ms=timestamp_ms if timestamp_ms is not None else int(time.time() * 1000),
            prev_hash=prev_hash,
            tx_root=ZERO_HASH,
            state_root=ZERO_HASH,
            history_root=ZERO_HASH,
            validators_hash=ZERO_HASH,
            policy_version=1,
            proposer=0,
        )
        block = Block(header=header, txs=txs)
        for index, tx_hash in enumerate(self.pending):
            entry = self.txs[tx_hash]
            entry.height, entry.index, entry.receipt = height, index, Receipt(status=0)
        self.pending = []
        self.blocks.append((block, CommitCertificate(height, 0, block.block_hash, ())))
        return block
