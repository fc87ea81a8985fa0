"""The ``crossborder`` transfer contract (issue: classified cross-border transfers)."""

from __future__ import annotations

from chain.contracts.base import ContractRegistry


def register(registry: ContractRegistry) -> None:
    """Add the transfer methods to ``registry``."""
