"""Real chains for the proof tests: a LocalNode (ledger + certified blocks) with the testkit port.

Not a test module by itself (no tests); ``test_proofs*.py`` import it.
"""

from __future__ import annotations

import os
from typing import Any

from chain import codec
from chain.crypto import KeyPair
from chain.genesis import parse_genesis
from chain.localnode import LocalNode
from chain.types import SignedTx, make_tx
from testkit import contracts as testkit
from testkit.contracts import APPRAISER, AUTHORITIES, BUYER, LENDER, OWNER, REGISTRAR

VALIDATORS = [testkit.key(f"validator-{i}") for i in range(4)]
CHECKPOINT = 4
DAY_MS = 86_400_000


def port_document(checkpoint: int = CHECKPOINT) -> dict[str, Any]:
    document = testkit.genesis_document(organisations=testkit.PORT_ORGANISATIONS, roles=testkit.PORT_ROLES)
    document["params"] = {"checkpoint_interval": checkpoint, "max_tx_bytes": 1 << 20}
    return document


class Port:
    """A LocalNode over the testkit port genesis, with nonces tracked per sender."""

    def __init__(self, checkpoint: int = CHECKPOINT, validators: list[KeyPair] | None = None) -> None:
        self.document = port_document(checkpoint)
        self.node = LocalNode(parse_genesis(self.document), validators or VALIDATORS)
        self.nonces: dict[bytes, int] = {}

    def tx(self, contract: str, method: str, args: dict[str, Any], signers: list[KeyPair]) -> SignedTx:
        sender = signers[0].public_key
        self.nonces[sender] = self.nonces.get(sender, 0) + 1
        tx = make_tx(self.node.chain_id, contract, method, args, signers, self.nonces[sender])
        self.node.submit_tx(tx)
        return tx

    def commit(self, contract: str, method: str, args: dict[str, Any], signers: list[KeyPair]) -> Any:
        tx = self.tx(contract, method, args, signers)
        self.node.produce_block()
        receipt = self.node.ledger.store.tx(tx.tx_hash)[1]
        assert receipt.ok, (method, receipt.error_code)
        return receipt

    def anchor(self, hashes: list[bytes], label: str = "batch") -> SignedTx:
        tx = self.tx("anchoring", "anchor", {"hashes": hashes, "label": label}, [REGISTRAR])
        self.node.produce_block()
        return tx

    def blocks(self, count: int) -> None:
        for _ in range(count):
            self.node.produce_block()

    def register(self, content: bytes, **overrides: Any) -> str:
        args = testkit.register_args(content, OWNER, **overrides)
        receipt = self.commit("registry", "register", args, [REGISTRAR, OWNER])
        return str(receipt.events[0].subject)

    def history(self, asset_id: str) -> None:
        """Appraisal, pledge, release, reclassification, sale and a licence on ``asset_id``."""
        self.commit("valuation", "appraise", {"asset_id": asset_id, "amount": 1_000_000, "currency": "CNY",
                                             "method": "market", "report_hash": bytes(32)}, [APPRAISER])
        due = self.node.clock_ms + 30 * DAY_MS
        self.commit("collateral", "pledge", {"asset_id": asset_id, "pledgee": LENDER.public_key, "amount": 500,
                                            "currency": "CNY", "due_ms": due}, [OWNER, LENDER])
        self.commit("collateral", "release", {"asset_id": asset_id}, [LENDER])
        self.commit("registry", "update_classification",
                    {"asset_id": asset_id, "classification": testkit.classification(sector="finance")}, [REGISTRAR])
        self.commit("registry", "transfer", {"asset_id": asset_id, "new_owner": BUYER.public_key}, [OWNER, BUYER])

    def governance(self, method: str, args: dict[str, Any]) -> Any:
        return self.commit("governance", method, args, list(AUTHORITIES[:2]))


def random_hashes(count: int) -> list[bytes]:
    return [os.urandom(32) for _ in range(count)]


def digest(text: str) -> bytes:
    return codec.sha256(text.encode())
