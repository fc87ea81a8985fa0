"""The ``anchoring`` contract: batches of 32-byte hashes anchored by a registrar (DESIGN.md §7)."""

from __future__ import annotations

from chain.contracts.base import ContractRegistry


def register(registry: ContractRegistry) -> None:
    """Add the anchoring methods to ``registry``."""
