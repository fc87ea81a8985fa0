"""BlockStore, VoteLog and the key schema (DESIGN.md §4, §6).

Blocks carry real signed transactions (``make_tx`` with real key pairs); headers use 32-byte dummy
roots because root computation is not the store's business.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain import codec
from chain.crypto import KeyPair
from chain.errors import EncodeError, NotFoundError, StorageError, ValidationError
from chain.storage import schema
from chain.storage.blockstore import BlockStore, VoteLog
from chain.storage.kv import KV, MemoryKV, WriteBatch
from chain.storage.leveldb import LevelDBKV
from chain.types import (
    ZERO_HASH,
    Block,
    CommitCertificate,
    Event,
    EventRef,
    Header,
    Receipt,
    SignedTx,
    make_tx,
    tx_leaf_data,
)

CHAIN_ID = "silkport-test"
ALICE = KeyPair.from_seed(b"\x01" * 32)
BOB = KeyPair.from_seed(b"\x02" * 32)


def dummy(tag: int) -> bytes:
    return bytes([tag]) * 32


def make_header(height: int, prev_hash: bytes, salt: int = 0) -> Header:
    return Header(
        chain_id=CHAIN_ID,
        height=height,
        view=0,
        timestamp_ms=1_700_000_000_000 + height,
        prev_hash=prev_hash,
        tx_root=dummy(1),
        state_root=dummy(2 + salt % 200),
        history_root=dummy(3),
        validators_hash=dummy(4),
        policy_version=1,
        proposer=height % 4,
    )


def make_txs(height: int, count: int) -> tuple[SignedTx, ...]:
    txs = []
    for i in range(count):
        signers = [ALICE, BOB] if i % 3 == 0 else [ALICE]
        args = {
            "content_hash": bytes([height % 256, i % 256]) * 16,
            "label": f"batch {height}/{i}",
            "size": i,
        }
        txs.append(make_tx(CHAIN_ID, "anchoring", "anchor", args, signers, nonce=height * 1000 + i + 1))
    return tuple(txs)


def make_receipts(txs: Sequence[SignedTx], height: int) -> list[Receipt]:
    receipts = []
    for i, tx in enumerate(txs):
        if i % 4 == 3:
            receipts.append(Receipt(status=1, error_code="not_authorised"))
        else:
            event = Event(
                "anchoring",
                "anchored",
                subject=tx.tx_id,
                prev=EventRef(height - 1, i) if height else None,
                data=(("count", i), ("hashes", (dummy(9), dummy(10)))),
            )
            receipts.append(Receipt(status=0, events=(event,)))
    return receipts


def make_certificate(block: Block) -> CommitCertificate:
    return CommitCertificate(block.height, 0, block.block_hash, tuple((i, bytes([i]) * 64) for i in range(3)))


class RecordingKV:
    """A MemoryKV that records every write call (to check one batch, synced)."""

    def __init__(self) -> None:
        self.inner = MemoryKV()
        self.writes: list[tuple[dict[bytes, bytes | None], bool]] = []

    def get(self, key: bytes) -> bytes | None:
        return self.inner.get(key)

    def iterate(
        self, prefix: bytes = b"", *, start: bytes | None = None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        return self.inner.iterate(prefix, start=start, reverse=reverse)

    def write(self, batch: WriteBatch, *, sync: bool = True) -> None:
        self.writes.append((dict(batch.ops), sync))
        self.inner.write(batch, sync=sync)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture(params=["memory", "leveldb"])
def kv(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KV]:
    store: KV = MemoryKV() if request.param == "memory" else LevelDBKV(tmp_path / "db")
    yield store
    store.close()


def build_chain(store: BlockStore, blocks: int, txs_per_block: int = 3) -> list[tuple[Block, list[Receipt]]]:
    committed = []
    prev_hash = ZERO_HASH
    for height in range(blocks):
        txs = make_txs(height, txs_per_block if height else 0)
        block = Block(make_header(height, prev_hash), txs)
        receipts = make_receipts(txs, height)
        store.commit(block, make_certificate(block) if height else None, receipts)
        committed.append((block, receipts))
        prev_hash = block.block_hash
    return committed


def dump(kv: KV) -> list[tuple[bytes, bytes]]:
    return list(kv.iterate())


# --- round trip ------------------------------------------------------------------------------------


def test_empty_store(kv: KV) -> None:
    store = BlockStore(kv)
    assert store.head() is None
    assert store.height() == -1
    assert store.header(0) is None
    assert store.block(0) is None
    assert store.block_by_hash(dummy(7)) is None
    assert store.certificate(0) is None
    assert store.receipts(0) is None
    assert store.tx_location(dummy(7)) is None
    assert not store.has_tx(dummy(7))
    assert store.block_hashes(0) == []
    with pytest.raises(NotFoundError):
        store.tx(dummy(7))


def test_commit_and_read_back(kv: KV) -> None:
    store = BlockStore(kv)
    chain = build_chain(store, 4, txs_per_block=5)
    last_block = chain[-1][0]
    assert store.head() == (3, last_block.block_hash)
    assert store.height() == 3
    for block, receipts in chain:
        height = block.height
        assert store.header(height) == block.header
        assert store.block(height) == block
        assert store.block_by_hash(block.block_hash) == block
        assert store.height_of(block.block_hash) == height
        assert store.block_hash(height) == block.block_hash
        assert store.receipts(height) == receipts
        assert store.txs(height) == list(block.txs)
        assert store.body(height) == list(zip(block.txs, receipts, strict=True))
        assert store.tx_leaves(height) == [
            tx_leaf_data(t, r) for t, r in zip(block.txs, receipts, strict=True)
        ]
        if height:
            assert store.certificate(height) == make_certificate(block)
        else:
            assert store.certificate(height) is None
        for index, (tx, receipt) in enumerate(zip(block.txs, receipts, strict=True)):
            assert store.has_tx(tx.tx_hash)
            assert store.tx_location(tx.tx_hash) == (height, index)
            got_tx, got_receipt, got_height, got_index = store.tx(tx.tx_hash)
            assert (got_tx, got_receipt, got_height, got_index) == (tx, receipt, height, index)
            assert got_tx.tx_hash == tx.tx_hash
            got_tx.verify_signatures(CHAIN_ID)
    assert store.header(4) is None
    assert store.receipts(4) is None


def test_stored_values_are_canonical_bytes() -> None:
    kv = MemoryKV()
    store = BlockStore(kv)
    block, receipts = build_chain(store, 2, txs_per_block=4)[1]
    assert kv.get(schema.header_key(1)) == block.header.encode()
    assert kv.get(schema.certificate_key(1)) == make_certificate(block).encode()
    for index, (tx, receipt) in enumerate(zip(block.txs, receipts, strict=True)):
        assert kv.get(schema.body_key(1, index)) == tx_leaf_data(tx, receipt)
        assert kv.get(schema.tx_location_key(tx.tx_hash)) == schema.encode_tx_location(1, index)
    assert kv.get(schema.HEAD) == schema.encode_head(1, block.block_hash)


def test_reads_survive_reopen(tmp_path: Path) -> None:
    kv = LevelDBKV(tmp_path / "db")
    chain = build_chain(BlockStore(kv), 3)
    kv.close()
    with LevelDBKV(tmp_path / "db", create=False) as reopened:
        store = BlockStore(reopened)
        assert store.head() == (2, chain[-1][0].block_hash)
        assert [store.block(h) for h in range(3)] == [block for block, _ in chain]


# --- refusals ---------------------------------------------------------------------------------------


def test_first_block_must_be_genesis(kv: KV) -> None:
    store = BlockStore(kv)
    with pytest.raises(ValidationError, match="genesis"):
        store.commit(Block(make_header(1, ZERO_HASH), ()), None, [])
    assert dump(kv) == []


def test_refuses_wrong_height_and_prev_hash(kv: KV) -> None:
    store = BlockStore(kv)
    chain = build_chain(store, 2)
    head_hash = chain[-1][0].block_hash
    before = dump(kv)
    cases = [
        Block(make_header(3, head_hash), ()),  # gap
        Block(make_header(1, chain[0][0].block_hash, salt=1), ()),  # same height again
        Block(make_header(0, ZERO_HASH, salt=1), ()),  # a second genesis
        Block(make_header(2, chain[0][0].block_hash), ()),  # right height, wrong parent
        Block(make_header(2, dummy(5)), ()),
    ]
    for block in cases:
        with pytest.raises(ValidationError):
            store.commit(block, None, [])
        assert dump(kv) == before
    store.commit(Block(make_header(2, head_hash), ()), None, [])
    assert store.height() == 2


def test_refuses_mismatched_receipts_and_certificate(kv: KV) -> None:
    store = BlockStore(kv)
    genesis = build_chain(store, 1)[0][0]
    before = dump(kv)
    txs = make_txs(1, 3)
    block = Block(make_header(1, genesis.block_hash), txs)
    with pytest.raises(ValidationError, match="receipts"):
        store.commit(block, None, make_receipts(txs, 1)[:2])
    other = Block(make_header(1, genesis.block_hash, salt=7), txs)
    with pytest.raises(ValidationError, match="certificate"):
        store.commit(block, make_certificate(other), make_receipts(txs, 1))
    assert dump(kv) == before


def test_refuses_extra_writes_to_block_families(kv: KV) -> None:
    store = BlockStore(kv)
    genesis = build_chain(store, 1)[0][0]
    before = dump(kv)
    for key in (
        schema.HEAD,
        schema.header_key(5),
        schema.tx_location_key(dummy(1)),
        schema.block_hash_key(1),
    ):
        extra = WriteBatch()
        extra.put(schema.STATE_PREFIX + b"node", b"v")
        extra.put(key, b"forged")
        with pytest.raises(ValidationError, match="block store"):
            store.commit(Block(make_header(1, genesis.block_hash), ()), None, [], extra)
        assert dump(kv) == before


def test_unencodable_receipt_writes_nothing(kv: KV) -> None:
    store = BlockStore(kv)
    genesis = build_chain(store, 1)[0][0]
    before = dump(kv)
    txs = make_txs(1, 2)
    receipts = make_receipts(txs, 1)
    receipts[1] = Receipt(0, "", (Event("anchoring", "anchored", data=(("ratio", 0.5),)),))
    with pytest.raises(EncodeError):
        store.commit(Block(make_header(1, genesis.block_hash), txs), None, receipts)
    assert dump(kv) == before


# --- one atomic batch -----------------------------------------------------------------------------------


def test_commit_is_one_synced_batch_with_the_extra_ops() -> None:
    kv = RecordingKV()
    store = BlockStore(kv)
    build_chain(store, 1)
    setup = WriteBatch()
    setup.put(schema.STATE_PREFIX + b"stale", b"old")
    kv.write(setup)
    kv.writes.clear()

    genesis_hash = store.head()[1]  # type: ignore[index]
    txs = make_txs(1, 4)
    block = Block(make_header(1, genesis_hash), txs)
    extra = WriteBatch()
    extra.put(schema.STATE_PREFIX + b"root", b"new-root")
    extra.put(schema.index_key("assets", b"a1"), b"1:0")
    extra.put(schema.META_GENESIS_HASH, genesis_hash)
    extra.delete(schema.STATE_PREFIX + b"stale")
    extra_before = dict(extra.ops)
    store.commit(block, make_certificate(block), make_receipts(txs, 1), extra)

    assert len(kv.writes) == 1
    ops, sync = kv.writes[0]
    assert sync is True
    assert extra.ops == extra_before  # the caller's batch is not modified
    for key, value in extra_before.items():
        assert ops[key] == value
    assert ops[schema.HEAD] == schema.encode_head(1, block.block_hash)
    assert schema.certificate_key(1) in ops and schema.header_key(1) in ops
    assert all(schema.tx_location_key(tx.tx_hash) in ops for tx in txs)
    assert kv.get(schema.STATE_PREFIX + b"root") == b"new-root"
    assert kv.get(schema.STATE_PREFIX + b"stale") is None
    assert kv.get(schema.index_key("assets", b"a1")) == b"1:0"


def test_extra_ops_land_with_the_block_on_leveldb(tmp_path: Path) -> None:
    kv = LevelDBKV(tmp_path / "db")
    store = BlockStore(kv)
    genesis = build_chain(store, 1)[0][0]
    extra = WriteBatch()
    for i in range(100):
        extra.put(schema.STATE_PREFIX + i.to_bytes(4, "big"), b"node %d" % i)
    txs = make_txs(1, 2)
    block = Block(make_header(1, genesis.block_hash), txs)
    store.commit(block, make_certificate(block), make_receipts(txs, 1), extra)
    kv.close()
    with LevelDBKV(tmp_path / "db") as reopened:
        assert BlockStore(reopened).head() == (1, block.block_hash)
        assert len(list(reopened.iterate(schema.STATE_PREFIX))) == 100


# --- history leaves ---------------------------------------------------------------------------------


def test_block_hashes(kv: KV) -> None:
    store = BlockStore(kv)
    chain = build_chain(store, 6, txs_per_block=1)
    hashes = [block.block_hash for block, _ in chain]
    for upto in range(7):
        assert store.block_hashes(upto) == hashes[:upto]
    with pytest.raises(NotFoundError):
        store.block_hashes(7)
    with pytest.raises(ValidationError):
        store.block_hashes(-1)


def test_block_hashes_is_one_iteration() -> None:
    kv = RecordingKV()
    store = BlockStore(kv)
    build_chain(store, 5, txs_per_block=0)
    calls: list[bytes] = []
    original = kv.iterate

    def counting(prefix: bytes = b"", **kwargs: object) -> Iterator[tuple[bytes, bytes]]:
        calls.append(prefix)
        return original(prefix, **kwargs)  # type: ignore[arg-type]

    kv.iterate = counting  # type: ignore[method-assign]
    assert len(store.block_hashes(5)) == 5
    assert calls == [schema.BLOCK_HASH_PREFIX]


# --- corrupt data -------------------------------------------------------------------------------------


def test_undecodable_stored_bytes_raise_storage_error() -> None:
    kv = MemoryKV()
    store = BlockStore(kv)
    block = build_chain(store, 2, txs_per_block=2)[1][0]
    damage = WriteBatch()
    damage.put(schema.header_key(1), b"\xc1")
    damage.put(schema.body_key(1, 0), codec.encode((block.txs[0].to_wire(), (5, "", ()))))
    kv.write(damage)
    with pytest.raises(StorageError, match="header 1"):
        store.header(1)
    with pytest.raises(StorageError, match="receipt"):
        store.tx(block.txs[0].tx_hash)
    damage = WriteBatch()
    damage.put(schema.body_key(1, 1), codec.encode((1, 2, 3)))
    kv.write(damage)
    with pytest.raises(StorageError, match="at height 1"):
        store.receipts(1)
    damage = WriteBatch()
    damage.put(schema.HEAD, b"short")
    kv.write(damage)
    with pytest.raises(StorageError, match="head"):
        store.head()


# --- fast encoders agree with the codec --------------------------------------------------------------


def test_fast_encoders_equal_codec() -> None:
    txs = make_txs(3, 6)
    for tx in txs:
        assert tx.encode() == codec.encode(tx.to_wire())
    receipts = make_receipts(txs, 3) + [
        Receipt(0),
        Receipt(1, "bad_nonce"),
        Receipt(
            0, "", (Event("registry", "registered", "x", None, (("a", None), ("b", True), ("c", -(2**63)))),)
        ),
        Receipt(0, "", (Event("registry", "registered", "x", None, (("nested", (("k", 2**64 - 1),)),)),) * 3),
    ]
    for receipt in receipts:
        assert receipt.to_wire() == Receipt.from_wire(codec.decode(codec.encode(receipt.to_wire()))).to_wire()
    for tx, receipt in zip(txs, receipts, strict=False):
        assert tx_leaf_data(tx, receipt) == codec.encode((tx.to_wire(), receipt.to_wire()))


@pytest.mark.parametrize(
    "value",
    [0.5, {"a": 1}, (1, 2.0), 2**64, -(2**63) - 1, object()],
)
def test_encode_receipt_rejects_non_canonical_values(value: object) -> None:
    receipt = Receipt(0, "", (Event("registry", "registered", data=(("v", value),)),))
    with pytest.raises(EncodeError):
        codec.encode(receipt.to_wire())


# --- vote log -----------------------------------------------------------------------------------------


def test_vote_log_save_load_prune(kv: KV) -> None:
    votes = VoteLog(kv)
    assert votes.load_all() == []
    entries = [
        ((view << 8 | kind).to_bytes(9, "big"), b"vote %d/%d" % (view, kind))
        for view in (3, 1, 2)
        for kind in (1, 2)
    ]
    for key, value in entries:
        votes.save(key, value)
    assert votes.load_all() == sorted(entries)
    assert votes.prune((2 << 8).to_bytes(9, "big")) == 2
    assert votes.load_all() == sorted(e for e in entries if e[0] >= (2 << 8).to_bytes(9, "big"))
    assert votes.prune(b"\x00") == 0
    votes.save(entries[-1][0], b"replaced")
    assert dict(votes.load_all())[entries[-1][0]] == b"replaced"


def test_vote_log_save_is_a_synced_single_op() -> None:
    kv = RecordingKV()
    VoteLog(kv).save(b"k", b"v")
    assert kv.writes == [({schema.VOTE_PREFIX + b"k": b"v"}, True)]
    with pytest.raises(ValidationError):
        VoteLog(kv).save(b"", b"v")


def test_vote_log_is_separate_from_blocks(kv: KV) -> None:
    store = BlockStore(kv)
    build_chain(store, 2)
    votes = VoteLog(kv)
    votes.save(b"\x00" * 8, b"prepare")
    assert votes.load_all() == [(b"\x00" * 8, b"prepare")]
    votes.prune(b"\xff")
    assert store.height() == 1


# --- schema -------------------------------------------------------------------------------------------


def test_prefixes_are_distinct_single_bytes() -> None:
    assert len(set(schema.ALL_PREFIXES)) == len(schema.ALL_PREFIXES)
    assert all(len(prefix) == 1 for prefix in schema.ALL_PREFIXES)
    assert schema.STATE_PREFIX == b"T"
    assert schema.BLOCK_PREFIXES <= set(schema.ALL_PREFIXES)
    assert (
        schema.STATE_PREFIX not in schema.BLOCK_PREFIXES and schema.INDEX_PREFIX not in schema.BLOCK_PREFIXES
    )


@settings(max_examples=200, deadline=None)
@given(a=st.integers(0, 2**64 - 1), b=st.integers(0, 2**64 - 1), i=st.integers(0, 2**32 - 1))
def test_keys_sort_by_height(a: int, b: int, i: int) -> None:
    for build in (schema.header_key, schema.block_hash_key, schema.certificate_key, schema.body_prefix):
        assert (build(a) < build(b)) == (a < b)
    assert (schema.body_key(a, i) < schema.body_key(b, 0)) == (a < b)
    assert schema.body_key(a, i).startswith(schema.body_prefix(a))
    assert schema.decode_tx_location(schema.encode_tx_location(a, i)) == (a, i)
    assert schema.decode_height(schema.encode_height(a)) == a


def test_index_names_do_not_overlap() -> None:
    assert not schema.index_key("assets", b"x").startswith(schema.index_prefix("asset"))
    assert schema.index_key("asset", b"x") == b"Iasset/x"
    for bad in ("", "Assets", "a/b", "1st", "x" * 33):
        with pytest.raises(ValidationError):
            schema.index_prefix(bad)


def test_schema_rejects_out_of_range_values() -> None:
    for bad_height in (-1, 2**64, True, "1"):
        with pytest.raises(ValidationError):
            schema.encode_height(bad_height)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        schema.body_key(1, 2**32)
    with pytest.raises(ValidationError):
        schema.tx_location_key(b"short")
    with pytest.raises(ValidationError):
        schema.meta_key("")
    assert schema.meta_key("chain_id") == schema.META_CHAIN_ID
