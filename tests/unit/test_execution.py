"""The block execution pipeline: receipts, nonces, roots, block validity (DESIGN.md §4–5, §7)."""

from __future__ import annotations

import pytest

from chain import codec, merkle, statekeys
from chain.contracts import default_registry
from chain.crypto import KeyPair
from chain.execution import BlockInvalidError, BlockResult, Executor
from chain.statetree import StateTree
from chain.storage.kv import MemoryKV, WriteBatch
from chain.types import SignedTx, make_tx, tx_leaf_data

CHAIN = "silkport-test"
ALICE, BOB = KeyPair.from_seed(b"\x01" * 32), KeyPair.from_seed(b"\x02" * 32)


class Chain:
    """A MemoryKV-backed chain that executes and applies blocks (no consensus)."""

    def __init__(self) -> None:
        self.kv = MemoryKV()
        self.tree = StateTree(self.kv)
        self.committed: set[bytes] = set()
        self.executor = Executor(CHAIN, default_registry(test_mode=True), self.tree, self.committed.__contains__)
        self.height = 0
        genesis = self.tree.update(None, 0, {b"genesis": b"1"})
        self.kv.write(genesis.batch)

    def run(self, txs: list[SignedTx]) -> BlockResult:
        return self.executor.execute(self.height + 1, 1_000 + self.height, txs)

    def apply(self, txs: list[SignedTx]) -> BlockResult:
        result = self.run(txs)
        self.kv.write(result.state_batch)
        self.committed.update(tx.tx_hash for tx in txs)
        self.height += 1
        return result

    def nonce(self, who: KeyPair) -> int | None:
        raw = self.tree.get(statekeys.nonce_key(who.public_key), self.height)
        return None if raw is None else codec.decode(raw)


def ping(who: KeyPair, nonce: int, **kw: object) -> SignedTx:
    return make_tx(CHAIN, "noop", "ping", {"note": "hello"}, [who], nonce, **kw)  # type: ignore[arg-type]


def test_successful_tx_gets_ok_receipt_with_events_and_roots() -> None:
    chain = Chain()
    txs = [ping(ALICE, 1), make_tx(CHAIN, "noop", "put", {"key": b"k", "value": b"v"}, [BOB], 5)]
    result = chain.apply(txs)
    assert [r.ok for r in result.receipts] == [True, True]
    assert result.receipts[0].events[0].name == "pinged"
    leaves = [merkle.leaf_hash(tx_leaf_data(tx, r)) for tx, r in zip(txs, result.receipts, strict=True)]
    assert result.tx_root == merkle.root(leaves)
    assert result.state_root == chain.tree.root_hash(1)
    assert chain.nonce(ALICE) == 1 and chain.nonce(BOB) == 5


def test_failed_tx_changes_nothing_but_the_nonce() -> None:
    chain = Chain()
    before = chain.tree.root_hash(0)
    result = chain.apply([make_tx(CHAIN, "noop", "fail", {"code": "refused_here"}, [ALICE], 1)])
    assert result.receipts[0].status == 1 and result.receipts[0].error_code == "refused_here"
    assert result.changes == {statekeys.nonce_key(ALICE.public_key): codec.encode(1)}
    assert chain.tree.get(b"noop/should-not-exist", 1) is None
    assert chain.tree.root_hash(1) != before


@pytest.mark.parametrize(
    ("args", "code"),
    [({}, "missing_argument"), ({"code": "x", "extra": 1}, "unknown_argument"), ({"code": 5}, "bad_args")],
)
def test_bad_arguments_are_failure_receipts(args: dict[str, object], code: str) -> None:
    result = Chain().apply([make_tx(CHAIN, "noop", "fail", args, [ALICE], 1)])
    assert result.receipts[0].error_code == code


def test_unknown_method_is_a_failure_receipt() -> None:
    result = Chain().apply([make_tx(CHAIN, "nope", "nothing", {}, [ALICE], 1)])
    assert result.receipts[0].error_code == "unknown_method"


def test_same_block_on_two_stores_gives_identical_roots() -> None:
    txs = [ping(ALICE, 1), make_tx(CHAIN, "noop", "put", {"key": b"a", "value": b"b"}, [BOB], 1)]
    one, two = Chain().apply(txs), Chain().apply(txs)
    assert (one.tx_root, one.state_root, one.receipts) == (two.tx_root, two.state_root, two.receipts)


def test_bad_signature_invalidates_the_block() -> None:
    tx = ping(ALICE, 1)
    forged = SignedTx(tx.body, (BOB.sign(tx.signing_bytes()),))
    with pytest.raises(BlockInvalidError, match="transaction 1") as info:
        Chain().run([ping(BOB, 1), forged])
    assert info.value.tx_index == 1


def test_replayed_nonce_invalidates_the_block() -> None:
    chain = Chain()
    chain.apply([ping(ALICE, 3)])
    with pytest.raises(BlockInvalidError, match="nonce"):
        chain.run([ping(ALICE, 2)])
    with pytest.raises(BlockInvalidError, match="nonce"):
        chain.run([ping(ALICE, 4), ping(ALICE, 4, valid_until_height=9)])


def test_committed_tx_cannot_be_included_again() -> None:
    chain = Chain()
    tx = ping(ALICE, 1)
    chain.apply([tx])
    with pytest.raises(BlockInvalidError, match="already committed"):
        chain.run([tx])


def test_duplicate_within_block_and_expiry() -> None:
    tx = ping(ALICE, 1)
    with pytest.raises(BlockInvalidError, match="twice"):
        Chain().run([tx, tx])
    chain = Chain()
    chain.apply([])
    chain.apply([])
    with pytest.raises(BlockInvalidError, match="expired"):
        chain.run([ping(ALICE, 1, valid_until_height=2)])


def test_wrong_chain_invalidates_the_block() -> None:
    with pytest.raises(BlockInvalidError, match="chain"):
        Chain().run([make_tx("other", "noop", "ping", {}, [ALICE], 1)])


def test_execution_reads_only_writes_nothing() -> None:
    chain = Chain()
    snapshot = dict(chain.kv.iterate())
    chain.run([ping(ALICE, 1)])
    assert dict(chain.kv.iterate()) == snapshot
    assert isinstance(chain.run([]).state_batch, WriteBatch)
