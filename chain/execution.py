"""The block execution pipeline (DESIGN.md §4–5, §7): transactions in, receipts and roots out.

For each transaction, in block order:

1. *Block validity* — chain id, every signer's signature, no duplicate within the block or with a
   committed transaction, ``valid_until_height`` not passed, nonce strictly above the sender's last
   committed nonce. Any failure makes the **whole block invalid** (:class:`BlockInvalidError`): an
   honest primary never proposes such a block, so backups refuse to prepare it.
2. *Callers* — the method's declaration (:mod:`chain.contracts.callers`, ADR 0012). Signers that
   are nobody to it (the admission test, on the block's state) get a failure receipt and record
   **nothing, not even the nonce**; signers it refuses more precisely (``not_owner``) get a failure
   receipt with the nonce recorded.
3. *Nonce* — otherwise the sender's nonce is recorded whatever the contract does.
4. *Contract* — dispatch through the :class:`~chain.contracts.base.ContractRegistry`; the handler
   runs on its own overlay. A :class:`~chain.errors.ContractError` discards that overlay and gives a
   failure receipt with the stable error code; success merges it, unless the sender's state quota
   (:mod:`chain.quota`) refuses it (``quota_exceeded``).

A handler also reads and writes the node-local index (``Context.index``, ADR 0009) through an
overlay of the same shape; its writes are returned with the block and stored outside the state tree.

Then ``tx_root`` is the RFC 6962 root over ``canonical([signed_tx, receipt])`` leaves and
``state_root`` is the state tree's root after applying the block's changes at version ``height``.
Execution is deterministic: the same block on two stores gives byte-identical roots.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from chain import codec, merkle, statekeys
from chain.contracts.base import Context, ContractRegistry, Method, Overlay
from chain.errors import (
    ContractError,
    DecodeError,
    DuplicateTxError,
    NonceError,
    SilkportError,
    TxExpiredError,
    ValidationError,
)
from chain.quota import QuotaRule, charge
from chain.statetree import StateTree
from chain.storage.kv import WriteBatch
from chain.types import STATUS_FAILED, STATUS_OK, Receipt, SignedTx, tx_leaf_data


def _no_index(_key: bytes) -> bytes | None:
    return None


class BlockInvalidError(ValidationError):
    """A block that no honest replica may prepare (bad signature, replayed nonce, duplicate...)."""

    code = "invalid_block"

    def __init__(self, message: str, *, tx_index: int | None = None) -> None:
        super().__init__(message)
        self.tx_index = tx_index


@dataclass(frozen=True)
class BlockResult:
    """Everything execution derives from a block; ``state_batch`` is written with the block."""

    height: int
    receipts: tuple[Receipt, ...]
    tx_root: bytes
    state_root: bytes
    changes: dict[bytes, bytes | None]
    state_batch: WriteBatch
    index_writes: dict[bytes, bytes | None]
    leaf_data: tuple[bytes, ...] = ()
    """The tx_root leaves' pre-images (``canonical([signed_tx, receipt])``), stored as the block's
    bodies: encoded once per block, not again at commit (ADR 0023)."""


def read_nonce(get: Callable[[bytes], bytes | None], sender: bytes) -> int:
    raw = get(statekeys.nonce_key(sender))
    return 0 if raw is None else int(codec.decode_stored(raw))


def apply_pending_validators(state: Overlay) -> None:
    """At a checkpoint boundary the governance-approved validator set takes effect (DESIGN.md §5).

    Block ``h`` with ``h % checkpoint_interval == 0`` moves ``gov/validators/pending`` into
    ``gov/validators``; so block ``h + 1`` is the first whose header names (``validators_hash``)
    and is certified by the new set — an epoch change a verifier can follow from the state proof.
    """
    pending = state.get(statekeys.PENDING_VALIDATORS)
    if pending is not None:
        state.writes[statekeys.VALIDATORS] = pending
        state.writes[statekeys.PENDING_VALIDATORS] = None


class SignatureCache:
    """Transactions whose signatures this node already verified (mempool admission), bounded FIFO:
    each signature is verified once per node, not again in a proposal or a relayed copy (ADR 0023).

    The key binds the exact signed bytes and the chain they were checked for: SHA-256 of the chain id
    and the transaction's canonical encoding ``[body, signatures]`` (msgpack lengths delimit every
    signature). A transaction with a known id but any other signature bytes — forged, truncated, moved
    between signers — misses the cache and is verified."""

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self._seen: dict[bytes, None] = {}

    @staticmethod
    def _key(tx: SignedTx, chain_id: str) -> bytes:
        return codec.sha256(chain_id.encode() + b"\x00" + tx.encode())

    def __contains__(self, item: tuple[SignedTx, str]) -> bool:
        return self._key(*item) in self._seen

    def check(self, tx: SignedTx, chain_id: str) -> None:
        key = self._key(tx, chain_id)
        if key in self._seen:
            return
        tx.verify_signatures(chain_id)
        self._seen[key] = None
        if len(self._seen) > self.capacity:
            self._seen.pop(next(iter(self._seen)))


class Executor:
    """Executes blocks against the committed state tree (reads only; writes go in the result batch)."""

    def __init__(
        self,
        chain_id: str,
        registry: ContractRegistry,
        tree: StateTree,
        is_committed: Callable[[bytes], bool],
        *,
        signatures: SignatureCache | None = None,
        max_block_txs: int = 5000,
        checkpoint_interval: int = 16,
        read_index: Callable[[bytes], bytes | None] | None = None,
        read_index_many: Callable[[list[bytes]], list[bytes | None]] | None = None,
        quota: QuotaRule | None = None,
        read_state: Callable[[bytes, int], bytes | None] | None = None,
    ) -> None:
        self.chain_id = chain_id
        self.read_state = read_state or tree.get
        """Committed state by ``(key, version)``: the tree, or the ledger's head cache (ADR 0023)."""
        self.registry = registry
        self.tree = tree
        self.is_committed = is_committed
        self.signatures = signatures or SignatureCache()
        self.max_block_txs = max_block_txs
        self.checkpoint_interval = checkpoint_interval
        self.read_index: Callable[[bytes], bytes | None] = read_index or _no_index
        self.read_index_many = read_index_many
        self.quota = quota

    def check_admissible(
        self, tx: SignedTx, get: Callable[[bytes], bytes | None], height: int, *, verify_signatures: bool = True
    ) -> int:
        """The block-validity checks of one transaction (also the mempool's admission test); returns
        the sender's last committed nonce. ``verify_signatures=False`` only for a certified block."""
        if verify_signatures:
            self.signatures.check(tx, self.chain_id)
        if tx.body.valid_until_height and tx.body.valid_until_height < height:
            raise TxExpiredError(f"transaction {tx.tx_id[:16]} expired at height {tx.body.valid_until_height}")
        if self.is_committed(tx.tx_hash):
            raise DuplicateTxError(f"transaction {tx.tx_id[:16]} is already committed")
        last = read_nonce(get, tx.sender)
        if tx.body.nonce <= last:
            raise NonceError(f"nonce {tx.body.nonce} is not above the sender's last nonce {last}")
        return last

    def execute(
        self, height: int, timestamp_ms: int, txs: Sequence[SignedTx], *, verify_signatures: bool = True
    ) -> BlockResult:
        """Execute ``txs`` as block ``height`` on top of the state at ``height - 1``; a transaction that
        fails :meth:`check_admissible` makes the block invalid (:class:`BlockInvalidError`).
        ``verify_signatures=False``: the block is under a verified commit certificate (ADR 0026)."""
        result, _, _ = self._execute(height, timestamp_ms, txs, skip_invalid=False, verify_signatures=verify_signatures)
        return result

    def execute_admissible(
        self, height: int, timestamp_ms: int, candidates: Sequence[SignedTx]
    ) -> tuple[BlockResult, list[SignedTx], list[tuple[SignedTx, str]]]:
        """Block building in one pass (DESIGN.md §5, ADR 0013): each candidate is checked against the
        block's running overlay and skipped if it is no longer admissible (expired, nonce used,
        duplicate). Returns the result, the included transactions and the skipped ones with reasons."""
        return self._execute(height, timestamp_ms, candidates[: self.max_block_txs], skip_invalid=True)

    def _execute(
        self, height: int, timestamp_ms: int, txs: Sequence[SignedTx], *, skip_invalid: bool,
        verify_signatures: bool = True,
    ) -> tuple[BlockResult, list[SignedTx], list[tuple[SignedTx, str]]]:
        if len(txs) > self.max_block_txs:
            raise BlockInvalidError(f"{len(txs)} transactions exceed the block limit of {self.max_block_txs}")
        base_version = height - 1 if height > 0 else None

        committed: dict[bytes, bytes | None] = {}  # many txs of a block read the same keys (roles, orgs)

        def read_committed(key: bytes) -> bytes | None:
            if key not in committed:
                committed[key] = None if base_version is None else self.read_state(key, base_version)
            return committed[key]

        block_state = Overlay(read_committed)
        block_index = Overlay(self.read_index, self.read_index_many)
        receipts: list[Receipt] = []
        included: list[SignedTx] = []
        skipped: list[tuple[SignedTx, str]] = []
        seen: set[bytes] = set()
        for position, tx in enumerate(txs):
            index = len(included)
            if tx.tx_hash in seen:
                if skip_invalid:
                    skipped.append((tx, "duplicate in block"))
                    continue
                raise BlockInvalidError(f"transaction {position} appears twice in the block", tx_index=position)
            try:
                self.check_admissible(tx, block_state.get, height, verify_signatures=verify_signatures)
            except SilkportError as exc:
                if skip_invalid:
                    skipped.append((tx, exc.message))
                    continue
                raise BlockInvalidError(f"transaction {position}: {exc.message}", tx_index=position) from exc
            seen.add(tx.tx_hash)
            included.append(tx)
            tx_state = block_state.child()
            receipt, record_nonce = self._run_contract(tx, index, height, timestamp_ms, tx_state, block_index)
            if record_nonce:
                tx_state.writes[statekeys.nonce_key(tx.sender)] = codec.encode(tx.body.nonce)
            receipts.append(receipt)
            block_state.merge(tx_state)
        if height % self.checkpoint_interval == 0:
            apply_pending_validators(block_state)
        leaf_data = tuple(tx_leaf_data(tx, r) for tx, r in zip(included, receipts, strict=True))
        update = self.tree.update(base_version, height, block_state.writes)
        result = BlockResult(
            height=height,
            receipts=tuple(receipts),
            tx_root=merkle.root([merkle.leaf_hash(data) for data in leaf_data]),
            leaf_data=leaf_data,
            state_root=update.root,
            changes=dict(block_state.writes),
            state_batch=update.batch,
            index_writes=block_index.writes,
        )
        return result, included, skipped

    def _run_contract(
        self, tx: SignedTx, index: int, height: int, timestamp_ms: int, tx_state: Overlay, block_index: Overlay
    ) -> tuple[Receipt, bool]:
        """The receipt, and whether the sender's nonce is recorded (not for a nobody: ADR 0012)."""
        method = self.registry.lookup(tx.body.contract, tx.body.method)
        if method is None:
            return Receipt(STATUS_FAILED, "unknown_method"), False  # no declaration: nobody may call it
        try:
            nobody = method.callers.admissible(tx.body.signer_pubkeys, tx_state.get)
        except DecodeError:  # a corrupt role or membership record fails the tx alike everywhere
            return Receipt(STATUS_FAILED, "corrupt_state"), True
        if nobody is not None:
            return Receipt(STATUS_FAILED, nobody.code), False
        contract_state = tx_state.child()
        contract_index = block_index.child()
        ctx = Context(
            chain_id=self.chain_id,
            height=height,
            timestamp_ms=timestamp_ms,
            tx_index=index,
            tx_hash=tx.tx_hash,
            signers=tx.body.signer_pubkeys,
            state=contract_state,
            index=contract_index,
        )
        code = self._call(method, tx, ctx)
        if code:
            return Receipt(STATUS_FAILED, code), True
        if self.quota is not None:
            nonce_key = statekeys.nonce_key(tx.sender)
            writes = {**contract_state.writes, nonce_key: codec.encode(tx.body.nonce)}
            try:
                charged = charge(tx_state.get, writes, tx.sender, height, self.quota)
            except DecodeError:
                return Receipt(STATUS_FAILED, "corrupt_state"), True
            if isinstance(charged, int):
                return Receipt(STATUS_FAILED, "quota_exceeded"), True
            contract_state.writes[charged[0]] = charged[1]
        tx_state.merge(contract_state)
        block_index.merge(contract_index)
        return Receipt(STATUS_OK, "", tuple(ctx.events)), True

    @staticmethod
    def _call(method: Method, tx: SignedTx, ctx: Context) -> str:
        """Validate the arguments, check the callers, run the handler; the failure code or ''."""
        try:
            args: dict[str, Any] = method.schema.validate(tx.body.args_dict())
            method.run(ctx, args)
        except ContractError as exc:
            return exc.code
        except DecodeError:
            return "corrupt_state"
        except Exception:  # a handler bug must fail the tx the same way on every replica, not halt the chain
            return "internal_error"
        return ""
