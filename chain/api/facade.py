"""What the REST API needs from a node (implemented by chain.runtime; faked in tests).

Every method returns JSON-ready data (str/int/bool/None/list/dict; bytes already hex) except
``raw_blocks`` and ``metrics_text``. Errors are raised from the :mod:`chain.errors` tree and mapped
to problem+json by one middleware (:mod:`chain.api.problems`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from chain.types import SignedTx

if TYPE_CHECKING:
    from chain.ledger import Ledger


class NodeFacade(Protocol):
    """The node as the API sees it."""

    chain_id: str
    ledger: Ledger
    """Committed chain and state: query routes (assets, transfers, proofs) read through it."""

    def status(self) -> dict[str, Any]:
        """At least ``chain_id, node_id, height, view, primary, last_block_hash, peers_connected,
        mempool_size`` (more keys are passed through)."""
        ...

    def submit_tx(self, tx: SignedTx) -> str:
        """Admit ``tx`` to the mempool (and forward it) and return its id (hex). Raises SignatureError,
        ChainIdError, NonceError, MempoolFullError, DuplicateTxError, OversizeError, TxExpiredError or
        ValidationError(code="unknown_contract" | "unknown_method" | ...)."""
        ...

    def get_tx(self, tx_id: bytes) -> dict[str, Any] | None:
        """``{"tx_id", "status": "pending"|"committed", "height", "index", "receipt", "tx"}`` or None."""
        ...

    async def wait_tx(self, tx_id: bytes, timeout_s: float) -> dict[str, Any] | None:
        """Like get_tx, but resolves as soon as the tx is committed (or returns the state at timeout)."""
        ...

    def get_block(self, height: int | None) -> dict[str, Any] | None:
        """Header fields (+ ``hash``), ``tx_ids`` and ``certificate`` of block ``height`` (None = latest)."""
        ...

    def raw_blocks(self, from_height: int, to_height: int, max_bytes: int) -> list[bytes]:
        """Canonical ``[block_wire, certificate_wire]`` of heights ``from..to`` (inclusive), stopping
        before ``max_bytes`` in total (at least one block if any exists)."""
        ...

    def metrics_text(self) -> bytes:
        """Prometheus text exposition (``prometheus_client.generate_latest``)."""
        ...
