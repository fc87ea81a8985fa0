"""Native contracts (DESIGN.md §7): deterministic, no I/O; see :mod:`chain.contracts.base`."""

from __future__ import annotations

from chain.contracts.base import ContractRegistry


def default_registry() -> ContractRegistry:
    """The dispatch table of every contract a node runs."""
    from chain.contracts import anchoring, collateral, governance, noop, registry, valuation
    from chain.crossborder import contract as crossborder

    table = ContractRegistry()
    for module in (noop, governance, registry, valuation, collateral, crossborder, anchoring):
        module.register(table)
    return table
