"""Proofs a customs auditor checks offline (DESIGN.md §9; ADR 0008).

- :mod:`chain.proofs.document` — the ``silkport-proof/1`` JSON format (pure);
- :mod:`chain.proofs.verify` — the verifier, trusting only the genesis file (pure);
- :mod:`chain.proofs.build` — a node builds receipts and bundles from its ledger;
- :mod:`chain.proofs.explain` — ``silkport verify --explain``'s human-readable tree.
"""
