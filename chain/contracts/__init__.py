"""Native contracts (DESIGN.md §7): deterministic, no I/O; see :mod:`chain.contracts.base`."""

from __future__ import annotations

from chain.contracts.base import ContractRegistry


def default_registry(*, test_mode: bool = False) -> ContractRegistry:
    """The dispatch table of every contract a node runs; ``noop`` only on a test chain (genesis
    ``params.test_mode``, ADR 0012)."""
    from chain.contracts import anchoring, collateral, governance, noop, registry, valuation
    from chain.crossborder import contract as crossborder

    table = ContractRegistry()
    for module in (governance, registry, valuation, collateral, crossborder, anchoring):
        module.register(table)
    if test_mode:
        noop.register(table)
    return table
