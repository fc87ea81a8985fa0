"""A small in-memory chain for contract tests and examples: genesis -> Executor -> MemoryKV, no consensus.

Every :meth:`TestChain.submit` is one block (height + 1, timestamp + ``step_ms`` unless given),
executed by the real :class:`~chain.execution.Executor` over a :class:`~chain.statetree.StateTree`,
so receipts, nonces and roots are those a node would produce. Keys are derived from fixed seeds:
deterministic, never for production.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chain import codec
from chain.crypto import KeyPair
from chain.types import Event, EventRef, Receipt, SignedTx, make_tx

CHAIN_ID = "silkport-test"
GENESIS_MS = 1_735_660_800_000  # 2025-01-01T00:00:00+08:00


def key(name: str) -> KeyPair:
    """A deterministic key pair named ``name`` (test use only)."""
    return KeyPair.from_seed(codec.sha256(b"silkport-testkit/" + name.encode()))


AUTHORITIES = (key("authority-1"), key("authority-2"), key("authority-3"))


def genesis_document(
    *,
    organisations: Sequence[dict[str, Any]] = (),
    roles: Sequence[tuple[KeyPair, str]] = (),
    validators: int = 4,
    threshold: int = 2,
    genesis_time_ms: int = GENESIS_MS,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    from chain.genesis import GENESIS_FORMAT, default_policy

    return {
        "format": GENESIS_FORMAT,
        "chain_id": CHAIN_ID,
        "genesis_time_ms": genesis_time_ms,
        "validators": [
            {"public_key": key(f"validator-{i}").public_hex, "name": f"v{i}", "organisation": "port",
             "jurisdiction": "CN"}
            for i in range(validators)
        ],
        "authorities": {"public_keys": [a.public_hex for a in AUTHORITIES], "threshold": threshold},
        "organisations": [dict(org) for org in organisations],
        "roles": [{"public_key": kp.public_hex, "role": role} for kp, role in roles],
        "policy": default_policy(),
        **({"params": dict(params)} if params else {}),
    }


class TestChain:
    """Genesis state at height 0, then one block per submitted transaction (or batch)."""

    __test__ = False  # not a pytest class

    def __init__(self, document: dict[str, Any] | None = None, *, step_ms: int = 1_000) -> None:
        from chain.contracts import default_registry
        from chain.execution import Executor
        from chain.genesis import genesis_state, parse_genesis
        from chain.statetree import StateTree
        from chain.storage.kv import MemoryKV
        from chain.storage.localindex import LocalIndex

        self.genesis = parse_genesis(document or genesis_document())
        self.kv = MemoryKV()
        self.tree = StateTree(self.kv)
        self.index = LocalIndex(self.kv, filter_bits=1 << 16)
        self.committed: set[bytes] = set()
        from chain.quota import QuotaRule

        params = self.genesis.params
        self.executor = Executor(CHAIN_ID, default_registry(test_mode=params.test_mode), self.tree,
                                 self.committed.__contains__, read_index=self.index.get,
                                 read_index_many=self.index.get_many,
                                 quota=QuotaRule(params.quota_window_blocks, params.max_state_bytes_per_window))
        self.kv.write(self.tree.update(None, 0, dict(genesis_state(self.genesis))).batch)
        self.height = 0
        self.timestamp_ms = self.genesis.genesis_time_ms
        self.step_ms = step_ms
        self.nonces: dict[bytes, int] = {}
        self.receipts: dict[tuple[int, int], Receipt] = {}

    def tx(self, contract: str, method: str, args: dict[str, Any], signers: Sequence[KeyPair]) -> SignedTx:
        sender = signers[0].public_key
        self.nonces[sender] = self.nonces.get(sender, 0) + 1
        return make_tx(CHAIN_ID, contract, method, args, list(signers), self.nonces[sender])

    def block(self, txs: Sequence[SignedTx], *, at_ms: int | None = None) -> list[Receipt]:
        timestamp = self.timestamp_ms + self.step_ms if at_ms is None else at_ms
        result = self.executor.execute(self.height + 1, timestamp, list(txs))
        self.index.add_to_batch(result.state_batch, result.index_writes)
        self.kv.write(result.state_batch)
        self.committed.update(tx.tx_hash for tx in txs)
        self.height, self.timestamp_ms = self.height + 1, timestamp
        for index, receipt in enumerate(result.receipts):
            self.receipts[(self.height, index)] = receipt
        self.last_changes = result.changes
        return list(result.receipts)

    def submit(self, contract: str, method: str, args: dict[str, Any], signers: Sequence[KeyPair], *,
               at_ms: int | None = None) -> Receipt:
        """Execute one transaction as its own block; return its receipt."""
        self.last_tx = self.tx(contract, method, args, signers)
        return self.block([self.last_tx], at_ms=at_ms)[0]

    def governance(self, method: str, args: dict[str, Any], signers: Sequence[KeyPair] | None = None) -> Receipt:
        """A governance transaction signed by an authority quorum (the first two authorities)."""
        return self.submit("governance", method, args, list(signers or AUTHORITIES[:2]))

    def get(self, state_key: bytes) -> bytes | None:
        return self.tree.get(state_key, self.height)

    def value(self, state_key: bytes) -> Any:
        raw = self.get(state_key)
        return None if raw is None else codec.decode(raw)

    def events_at(self, ref: EventRef) -> tuple[Event, ...]:
        receipt = self.receipts.get((ref.height, ref.tx_index))
        return () if receipt is None else receipt.events


# --- a ready-made port: organisations, members and roles for contract tests -----------------------------

REGISTRAR, OWNER, BUYER, LENDER, APPRAISER, FOREIGN, OUTSIDER = (
    key(n) for n in ("registrar", "owner", "buyer", "lender", "appraiser", "foreign", "outsider")
)
PORT_ORGANISATIONS = (
    {"id": "bdex", "name": "Beijing Data Exchange", "jurisdiction": "CN", "zone": "BJ-FTZ", "type": "EXCHANGE",
     "members": [REGISTRAR.public_hex]},
    {"id": "owner-co", "name": "Owner Co", "jurisdiction": "CN", "zone": "BJ-FTZ", "type": "COMPANY",
     "members": [OWNER.public_hex]},
    {"id": "buyer-co", "name": "Buyer Co", "jurisdiction": "CN", "type": "COMPANY", "members": [BUYER.public_hex]},
    {"id": "bank", "name": "Port Bank", "jurisdiction": "CN", "type": "BANK", "members": [LENDER.public_hex]},
    {"id": "appraiser-co", "name": "Appraiser", "jurisdiction": "CN", "type": "APPRAISER",
     "members": [APPRAISER.public_hex]},
    {"id": "foreign-co", "name": "Foreign GmbH", "jurisdiction": "DE", "type": "COMPANY",
     "members": [FOREIGN.public_hex]},
)
PORT_ROLES = ((REGISTRAR, "registrar"), (LENDER, "lender"), (APPRAISER, "appraiser"))


def port_chain(**kw: Any) -> TestChain:
    """A chain whose genesis seeds :data:`PORT_ORGANISATIONS` and :data:`PORT_ROLES`."""
    return TestChain(genesis_document(organisations=PORT_ORGANISATIONS, roles=PORT_ROLES), **kw)


def classification(**overrides: Any) -> dict[str, Any]:
    """A GENERAL, PI-free, CN-origin classification with ``overrides``."""
    return {"sector": "logistics", "grade": "GENERAL", "origin": "CN", **overrides}


def register_args(content: bytes, owner: KeyPair = OWNER, **overrides: Any) -> dict[str, Any]:
    """Arguments of ``registry.register`` for content ``content`` (hashed to the content hash)."""
    return {
        "content_hash": codec.sha256(content), "size": len(content), "format": "csv", "title": "Port manifests",
        "owner": owner.public_key, "classification": classification(), **overrides,
    }


def register_asset(chain: TestChain, content: bytes, owner: KeyPair = OWNER, **overrides: Any) -> str:
    """Register an asset (registrar + owner) and return its id; raises AssertionError on refusal."""
    receipt = chain.submit("registry", "register", register_args(content, owner, **overrides), [REGISTRAR, owner])
    assert receipt.ok, receipt.error_code
    return receipt.events[0].subject
