"""A node's synchronous ledger: store, state tree, executor and mempool behind one object.

The asyncio runtime (:mod:`chain.runtime`) turns consensus actions into calls on the ledger:
``build_block`` for ``RequestProposal``, ``validate_block`` for ``ExecuteBlock`` and ``commit``
for ``CommitBlock``. Keeping this part free of asyncio lets tests drive a whole node's
execution path on a :class:`~chain.storage.kv.MemoryKV` (STYLE.md habit 9).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from chain import codec, merkle, statekeys
from chain.consensus.mempool import Mempool
from chain.contracts import default_registry
from chain.contracts.base import ContractRegistry
from chain.errors import (
    NotPermittedError,
    OversizeError,
    QuotaError,
    SilkportError,
    StorageError,
    ValidationError,
)
from chain.execution import BlockInvalidError, BlockResult, Executor, SignatureCache
from chain.genesis import GenesisDoc, Params, genesis_header, genesis_state
from chain.headstate import HeadState
from chain.quota import QuotaRule, used_in_window
from chain.statetree import StateTree
from chain.storage import schema
from chain.storage.blockstore import BlockStore
from chain.storage.kv import KV, WriteBatch
from chain.storage.localindex import LocalIndex
from chain.types import Block, CommitCertificate, Header, SignedTx, validators_hash

log = logging.getLogger("silkport.ledger")
STATE_PREFIX = b"T"
RECENT_BLOCKS = 16


@dataclass(frozen=True)
class Validator:
    public_key: bytes
    name: str
    organisation: str
    jurisdiction: str


class Ledger:
    """Committed chain + state + the speculative execution results awaiting commit."""

    def __init__(self, kv: KV, genesis: GenesisDoc, *, registry: ContractRegistry | None = None) -> None:
        self.kv = kv
        self.genesis = genesis
        self.chain_id = genesis.chain_id
        self.store = BlockStore(kv)
        self.tree = StateTree(kv, prefix=STATE_PREFIX)
        self.params: Params = genesis.params
        self.registry = registry or default_registry(test_mode=self.params.test_mode)
        self.quota = QuotaRule(self.params.quota_window_blocks, self.params.max_state_bytes_per_window)
        self.signatures = SignatureCache()
        self.local_index = LocalIndex(kv)
        self.head_state = HeadState(self.tree.get, -1)  # its head is set once the store's is known
        self.executor = Executor(
            self.chain_id,
            self.registry,
            self.tree,
            self.store.has_tx,
            signatures=self.signatures,
            max_block_txs=self.params.max_block_txs,
            checkpoint_interval=self.params.checkpoint_interval,
            read_index=self.local_index.get,
            read_index_many=self.local_index.get_many,
            quota=self.quota,
            read_state=self._read_state,
        )
        self.mempool = Mempool(
            max_txs=50_000, max_bytes=256 * 1024 * 1024, max_per_sender=self.params.max_pending_per_sender
        )
        self._results: dict[bytes, BlockResult] = {}
        self._dropped: list[bytes] = []
        self._recent_tx_ids: dict[int, list[str]] = {}
        self._check_genesis()
        head = self.store.head()
        assert head is not None
        self.height, self.head_hash = head
        self.head_state.reset(self.height)
        self.head_header = self._header(self.height)
        self.history = merkle.MerkleAccumulator()
        for block_hash in self.store.block_hashes(self.height + 1):  # blocks 0..head
            self.history.append(merkle.leaf_hash(block_hash))
        self.validators = self._load_validators()
        base = self.kv.get(schema.meta_key("snapshot_base"))
        self.snapshot_base = 0 if base is None else schema.decode_height(base)
        """Height of the snapshot this store was installed from (ADR 0021): no block bodies at or below it."""

    # --- bootstrap -------------------------------------------------------------------------------

    def _check_genesis(self) -> None:
        state = dict(genesis_state(self.genesis))
        stored = self.kv.get(schema.meta_key("chain_id"))
        if stored is not None and stored.decode() != self.chain_id:
            raise StorageError(f"database belongs to chain {stored.decode()!r}, not {self.chain_id!r}")
        if self.store.head() is not None:
            genesis = self.store.header(0)
            update = self.tree.update(None, 0, state)
            if genesis is None or genesis.block_hash != genesis_header(self.genesis, update.root).block_hash:
                raise StorageError("the database's genesis block does not match the genesis file")
            return
        update = self.tree.update(None, 0, state)
        header = genesis_header(self.genesis, update.root)
        extra = WriteBatch()
        extra.update(update.batch)
        extra.put(schema.meta_key("chain_id"), self.chain_id.encode())
        self.store.commit(Block(header, ()), None, (), extra=extra)
        log.info("event=genesis_committed chain_id=%s hash=%s", self.chain_id, header.hash_hex)

    def _header(self, height: int) -> Header:
        header = self.store.header(height)
        if header is None:
            raise StorageError(f"header {height} missing")
        return header

    def _load_validators(self) -> tuple[Validator, ...]:
        raw = self.tree.get(statekeys.VALIDATORS, self.height)
        if raw is None:
            raise StorageError("validator set missing from state")
        return tuple(Validator(*entry) for entry in codec.decode(raw))

    # --- state reads -----------------------------------------------------------------------------

    def state_get(self, key: bytes, version: int | None = None) -> bytes | None:
        return self._read_state(key, self.height if version is None else version)

    def _read_state(self, key: bytes, version: int) -> bytes | None:
        """Committed state; reads at the head go through :class:`~chain.headstate.HeadState`."""
        return self.head_state.get(key, version)

    @property
    def validator_keys(self) -> tuple[bytes, ...]:
        return tuple(v.public_key for v in self.validators)

    def policy_version(self) -> int:
        raw = self.state_get(statekeys.POLICY_CURRENT)
        return 1 if raw is None else int(codec.decode(raw))

    # --- admission -------------------------------------------------------------------------------

    def admit(self, tx: SignedTx, size: int) -> None:
        """Mempool admission: size, known method, signatures, not committed, nonce above committed, signers
        somebody to the method (ADR 0012), sender within its state quota and pending cap."""
        if size > self.params.max_tx_bytes:
            raise OversizeError(f"transaction of {size} bytes exceeds {self.params.max_tx_bytes}")
        method = self.registry.lookup(tx.body.contract, tx.body.method)
        if method is None:
            raise ValidationError(
                f"unknown contract method {tx.body.contract}.{tx.body.method}", code="unknown_method"
            )
        committed_nonce = self.executor.check_admissible(tx, self.state_get, self.height + 1)
        nobody = method.callers.admissible(tx.body.signer_pubkeys, self.state_get)
        if nobody is not None:
            raise NotPermittedError(f"{tx.body.contract}.{tx.body.method}: {nobody.message}", code=nobody.code)
        self._check_quota(tx.sender)
        self.mempool.add(tx, committed_nonce=committed_nonce)

    def _check_quota(self, sender: bytes) -> None:
        """Refuse a sender whose state quota for the coming block's window is spent (it could only fail)."""
        height = self.height + 1
        used = used_in_window(self.state_get, sender, self.quota.window(height))
        if used >= self.quota.max_bytes:
            blocks = self.quota.window_end(height) - height
            raise QuotaError(
                f"sender {sender.hex()[:16]}… used {used} of its {self.quota.max_bytes} state bytes for this "
                f"window; it resets in {blocks} blocks",
                retry_after_s=min(blocks, 3600),
            )

    # --- proposals and validation ----------------------------------------------------------------

    def _expected_header(self, view: int, timestamp_ms: int, proposer: int, result: BlockResult) -> Header:
        return Header(
            chain_id=self.chain_id,
            height=self.height + 1,
            view=view,
            timestamp_ms=timestamp_ms,
            prev_hash=self.head_hash,
            tx_root=result.tx_root,
            state_root=result.state_root,
            history_root=self.history.root(),
            validators_hash=validators_hash(self.validator_keys),
            policy_version=self.policy_version(),
            proposer=proposer,
        )

    def build_block(self, view: int, now_ms: int, proposer: int) -> Block:
        """Select mempool transactions and execute them in one pass; a candidate that is no longer
        admissible (expired, nonce used) is left out of the block and dropped from the mempool (DESIGN.md
        §5, ADR 0013). A bad transaction never makes building fail; :meth:`take_dropped` names it."""
        timestamp = max(now_ms, self.head_header.timestamp_ms + 1)
        candidates = self.mempool.select(self.params.max_block_txs, self.params.max_block_bytes)
        result, included, skipped = self.executor.execute_admissible(self.height + 1, timestamp, candidates)
        for tx, reason in skipped:
            log.info("event=proposal_drops_tx tx=%s reason=%s", tx.tx_id[:16], reason)
            if self.mempool.discard(tx.tx_hash):
                self._dropped.append(tx.tx_hash)
        block = Block(self._expected_header(view, timestamp, proposer, result), tuple(included))
        self._results[block.block_hash] = result
        return block

    def take_dropped(self) -> list[bytes]:
        """Hashes of the pending transactions dropped from the mempool since the last call because they
        can no longer commit (skipped by block building, expired, nonce used by a committed block); the
        runtime reports them to the replica (``RequestsDropped``) so its request timer forgets them."""
        dropped, self._dropped = self._dropped, []
        return dropped

    def validate_block(self, block: Block, now_ms: int, *, certified: bool = False) -> str:
        """Block validity as a backup checks it before PREPARE (DESIGN.md §5); returns '' if valid.
        ``certified``: a caught-up block under a verified commit certificate, whose transaction
        signatures are not checked again (ADR 0026); its executed header must still match."""
        header = block.header
        try:
            if header.chain_id != self.chain_id:
                return "wrong chain id"
            if header.height != self.height + 1:
                return f"height {header.height} does not follow head {self.height}"
            if header.prev_hash != self.head_hash:
                return "prev_hash is not the head's hash"
            if header.timestamp_ms <= self.head_header.timestamp_ms:
                return "timestamp not after the parent's"
            if header.timestamp_ms > now_ms + self.params.block_time_drift_ms:
                return "timestamp too far in the future"
            if header.proposer != header.view % len(self.validators):
                return "proposer is not the primary of the header's view"
            result = self._results.get(block.block_hash)
            if result is None:
                result = self.executor.execute(
                    header.height, header.timestamp_ms, block.txs, verify_signatures=not certified
                )
            expected = self._expected_header(header.view, header.timestamp_ms, header.proposer, result)
            if expected.block_hash != header.block_hash:
                return _header_mismatch(expected, header)
        except SilkportError as exc:
            return exc.message
        self._results[block.block_hash] = result
        return ""

    def enacted_validators(self, block_hash: bytes) -> tuple[bytes, ...] | None:
        """The validator keys an executed, uncommitted block puts in effect (a checkpoint block that moves a
        pending set in), None if it changes nothing (ADR 0027: the consensus core installs them on commit)."""
        result = self._results.get(block_hash)
        raw = None if result is None else result.changes.get(statekeys.VALIDATORS)
        return None if raw is None else tuple(Validator(*entry).public_key for entry in codec.decode(raw))

    def validators_at(self, version: int) -> tuple[bytes, ...] | None:
        """The validator keys in the state at ``version`` (None: that state is not held, e.g. below a snapshot)."""
        try:
            raw = self.tree.get(statekeys.VALIDATORS, version)
        except SilkportError:
            return None
        return None if raw is None else tuple(Validator(*entry).public_key for entry in codec.decode(raw))

    # --- commit ----------------------------------------------------------------------------------

    def commit(self, block: Block, certificate: CommitCertificate, *, sync: bool = True) -> BlockResult:
        """Write the block, its certificate, receipts and state in one synced batch; advance the head.
        ``sync=False`` (catch-up of a certified block with more queued behind it): one atomic batch
        made durable by the next synced write — LevelDB's log is sequential, so a crash keeps a prefix
        of the batches, and the lost tail is certified blocks fetched again."""
        result = self._results.pop(block.block_hash, None)
        if result is None:
            reason = self.validate_block(block, now_ms=2**62)
            if reason:
                raise BlockInvalidError(f"cannot commit block {block.height}: {reason}")
            result = self._results.pop(block.block_hash)
        extra = result.state_batch
        if result.index_writes:
            self.local_index.add_to_batch(extra, result.index_writes)
        leaf_data = result.leaf_data if len(result.leaf_data) == len(block.txs) else None
        self.store.commit(block, certificate, result.receipts, extra=extra, sync=sync, leaf_data=leaf_data)
        self.height, self.head_hash, self.head_header = block.height, block.block_hash, block.header
        self.head_state.advance(block.height, result.changes)
        self.history.append(merkle.leaf_hash(block.block_hash))
        self._results = {h: r for h, r in self._results.items() if r.height > self.height}
        self._recent_tx_ids[block.height] = [tx.tx_id for tx in block.txs]
        self._recent_tx_ids.pop(block.height - RECENT_BLOCKS, None)
        in_block = {tx.tx_hash for tx in block.txs}
        stale = [h for h in self.mempool.remove_committed(block.txs) if h not in in_block]
        self._dropped.extend(stale + self.mempool.purge_expired(self.height + 1))
        if statekeys.VALIDATORS in result.changes:  # decoded again only when a block changed the set
            self.validators = self._load_validators()
        return result

    # --- queries ---------------------------------------------------------------------------------

    def tx_ids(self, height: int) -> list[str]:
        """The ids of the committed block at ``height`` in order; the last :data:`RECENT_BLOCKS` blocks
        answer from memory (clients poll the head: ``GET /v1/blocks/latest``), older ones decode."""
        ids = self._recent_tx_ids.get(height)
        if ids is None:
            ids = [tx.tx_id for tx in self.store.txs(height)]
        return ids

    def raw_blocks(self, from_height: int, to_height: int, max_bytes: int) -> list[bytes]:
        out: list[bytes] = []
        total = 0
        if from_height <= self.snapshot_base:  # installed from a snapshot: no bodies there (ADR 0021)
            return out
        for height in range(max(1, from_height), min(to_height, self.height) + 1):
            block = self.store.block(height)
            certificate = self.store.certificate(height)
            if block is None or certificate is None:
                break
            data = codec.encode((block.to_wire(), certificate.to_wire()))
            if out and total + len(data) > max_bytes:
                break
            out.append(data)
            total += len(data)
        return out

    def close(self) -> None:
        self.kv.close()


def _header_mismatch(expected: Header, got: Header) -> str:
    names = ("tx_root", "state_root", "history_root", "validators_hash", "policy_version")
    for name in names:
        if getattr(expected, name) != getattr(got, name):
            return f"{name} does not match re-execution"
    return "header does not match re-execution"


def decode_raw_block(data: bytes) -> tuple[Block, CommitCertificate]:
    block_wire, certificate_wire = codec.decode(data)
    return Block.from_wire(block_wire), CommitCertificate.from_wire(certificate_wire)


