"""Committed blocks, their certificates, receipts and indexes; the replica's vote log (DESIGN.md §4–6).

:meth:`BlockStore.commit` writes a block, its commit certificate, its receipts, the tx index, the
history leaf (block hash by height), the new head **and** the caller's state-tree and index writes as
one LevelDB write batch with ``sync=True``: after kill -9 a node sees either all of a block or none
of it, never a head that points past its state (DESIGN.md §6). Key layout: :mod:`chain.storage.schema`.

Values are canonical bytes only (:mod:`chain.codec`); objects are decoded on read, never cached.
Reads of a missing height or hash return ``None`` (``tx`` raises :class:`~chain.errors.NotFoundError`
for the API's 404); stored bytes that do not decode raise :class:`~chain.errors.StorageError`.

:class:`VoteLog` is where the consensus host persists its own PREPARE / COMMIT / VIEW-CHANGE votes
before sending them (Castro & Liskov, TOCS 2002 §4.2 "persist before send"; etcd raft's
``Ready``), so a restarted replica can never vote twice differently.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from chain import codec
from chain.errors import DecodeError, NotFoundError, StorageError, ValidationError
from chain.storage import schema
from chain.storage.kv import KV, WriteBatch
from chain.types import Block, CommitCertificate, Header, Receipt, SignedTx, tx_leaf_data

T = TypeVar("T")

_U32 = struct.Struct(">I")


def _decode(what: str, data: bytes, decoder: Callable[[bytes], T]) -> T:
    try:
        return decoder(data)
    except (DecodeError, ValidationError) as exc:
        raise StorageError(f"stored {what} does not decode: {exc.message}") from exc


def _header(data: bytes) -> Header:
    return Header.from_wire(codec.decode(data))


def _tx_and_receipt(data: bytes) -> tuple[SignedTx, Receipt]:
    wire = codec.decode(data)
    if not isinstance(wire, tuple) or len(wire) != 2:
        raise DecodeError("a body entry is an array [signed_tx, receipt]")
    return SignedTx.from_wire(wire[0]), Receipt.from_wire(wire[1])


class BlockStore:
    """Blocks by height and hash, certificates, receipts, tx index and history leaves over a :class:`KV`."""

    def __init__(self, kv: KV) -> None:
        self.kv = kv

    # --- writing ---------------------------------------------------------------------------------

    def commit(
        self,
        block: Block,
        certificate: CommitCertificate | None,
        receipts: Sequence[Receipt],
        extra: WriteBatch | None = None,
        *,
        sync: bool = True,
        leaf_data: Sequence[bytes] | None = None,
    ) -> None:
        """Append ``block`` as the new head, with everything in ``extra``, in one synced batch
        (``sync=False``: one atomic batch that a later synced write makes durable; catch-up only).
        ``leaf_data``: the bodies' bytes already encoded by execution (``tx_leaf_data`` of each tx).

        Refuses (:class:`ValidationError`, store untouched) a block that does not extend the head
        (height ``head + 1`` and ``prev_hash`` = head hash; with no head only height 0 is accepted),
        a receipt count that differs from the tx count, a certificate for another height or block,
        and ``extra`` ops on the block store's own key families. ``extra`` is not modified.
        Block validity (signatures, roots, duplicate transactions) is the caller's job.
        """
        header = block.header
        height = header.height
        head = self.head()
        if head is None:
            if height != 0:
                raise ValidationError(
                    f"the store is empty: the first block must be genesis (height 0), not {height}"
                )
        else:
            head_height, head_hash = head
            if height != head_height + 1:
                raise ValidationError(
                    f"block at height {height} does not follow the head at height {head_height}"
                )
            if header.prev_hash != head_hash:
                raise ValidationError(
                    f"block at height {height}: prev_hash {header.prev_hash.hex()} is not the head's hash {head_hash.hex()}"
                )
        if len(receipts) != len(block.txs):
            raise ValidationError(
                f"block at height {height}: {len(block.txs)} transactions but {len(receipts)} receipts"
            )
        block_hash = header.block_hash
        if certificate is not None and (certificate.height != height or certificate.block_hash != block_hash):
            raise ValidationError(
                f"commit certificate is for block {certificate.block_hash.hex()} at height {certificate.height},"
                f" not block {block_hash.hex()} at height {height}"
            )

        if leaf_data is not None and len(leaf_data) != len(block.txs):
            raise ValidationError(f"{len(leaf_data)} encoded bodies for {len(block.txs)} transactions")
        ops: dict[bytes, bytes | None] = {}
        prefixed: list[tuple[bytes, Mapping[bytes, bytes | None]]] = []
        if extra is not None:
            reserved = schema.BLOCK_PREFIXES
            for key in [*extra.ops, *(prefix for prefix, _ in extra.prefixed)]:
                if key[:1] in reserved:
                    raise ValidationError(
                        f"extra write to {key[:16].hex()}: that key family belongs to the block store"
                    )
            ops.update(extra.ops)
            prefixed = list(extra.prefixed)

        height_bytes = schema.encode_height(height)
        body_base = schema.BODY_PREFIX + height_bytes
        location_prefix = schema.TX_LOCATION_PREFIX
        pack_index = _U32.pack
        for index, (tx, receipt) in enumerate(zip(block.txs, receipts, strict=True)):
            suffix = pack_index(index)
            ops[body_base + suffix] = leaf_data[index] if leaf_data is not None else tx_leaf_data(tx, receipt)
            ops[location_prefix + tx.tx_hash] = height_bytes + suffix
        ops[schema.HEADER_PREFIX + height_bytes] = header.encode()
        ops[schema.BLOCK_HASH_PREFIX + height_bytes] = block_hash
        ops[schema.HEIGHT_BY_HASH_PREFIX + block_hash] = height_bytes
        if certificate is not None:
            ops[schema.CERTIFICATE_PREFIX + height_bytes] = certificate.encode()
        ops[schema.HEAD] = schema.encode_head(height, block_hash)

        batch = WriteBatch()
        batch.ops = ops
        batch.prefixed = prefixed
        self.kv.write(batch, sync=sync)

    # --- reading ---------------------------------------------------------------------------------

    def head(self) -> tuple[int, bytes] | None:
        """``(height, block_hash)`` of the last committed block, or None for an empty store."""
        data = self.kv.get(schema.HEAD)
        return None if data is None else schema.decode_head(data)

    def height(self) -> int:
        """The head's height, or -1 for an empty store."""
        head = self.head()
        return -1 if head is None else head[0]

    def header(self, height: int) -> Header | None:
        data = self.kv.get(schema.header_key(height))
        return None if data is None else _decode(f"header {height}", data, _header)

    def tx_leaves(self, height: int) -> list[bytes]:
        """The ``tx_root`` leaf pre-images ``canonical([signed_tx, receipt])`` of ``height``, in order."""
        return [value for _, value in self.kv.iterate(schema.body_prefix(height))]

    def body(self, height: int) -> list[tuple[SignedTx, Receipt]]:
        """Every ``(tx, receipt)`` of the block at ``height`` in order (empty for a missing height)."""
        return [
            _decode(f"transaction at height {height}", value, _tx_and_receipt)
            for value in self.tx_leaves(height)
        ]

    def txs(self, height: int) -> list[SignedTx]:
        """The block body at ``height`` in order (empty for a missing height)."""
        return [tx for tx, _ in self.body(height)]

    def block(self, height: int) -> Block | None:
        header = self.header(height)
        if header is None:
            return None
        return Block(header=header, txs=tuple(self.txs(height)))

    def height_of(self, block_hash: bytes) -> int | None:
        data = self.kv.get(schema.height_by_hash_key(block_hash))
        return None if data is None else schema.decode_height(data)

    def block_by_hash(self, block_hash: bytes) -> Block | None:
        height = self.height_of(block_hash)
        return None if height is None else self.block(height)

    def certificate(self, height: int) -> CommitCertificate | None:
        data = self.kv.get(schema.certificate_key(height))
        return None if data is None else _decode(f"certificate {height}", data, CommitCertificate.decode)

    def receipts(self, height: int) -> list[Receipt] | None:
        """The receipts of the block at ``height`` in tx order, or None for a missing height."""
        if self.kv.get(schema.block_hash_key(height)) is None:
            return None
        return [receipt for _, receipt in self.body(height)]

    def tx_location(self, tx_hash: bytes) -> tuple[int, int] | None:
        """``(height, tx_index)`` of a committed transaction, or None."""
        data = self.kv.get(schema.tx_location_key(tx_hash))
        return None if data is None else schema.decode_tx_location(data)

    def has_tx(self, tx_hash: bytes) -> bool:
        return self.kv.get(schema.tx_location_key(tx_hash)) is not None

    def tx(self, tx_hash: bytes) -> tuple[SignedTx, Receipt, int, int]:
        """``(tx, receipt, height, tx_index)``; raises :class:`NotFoundError` for an unknown hash."""
        location = self.tx_location(tx_hash)
        if location is None:
            raise NotFoundError(f"transaction {tx_hash.hex()} is not committed")
        height, index = location
        data = self.kv.get(schema.body_key(height, index))
        if data is None:
            raise StorageError(
                f"tx index points at ({height}, {index}) but the block has no such transaction"
            )
        tx, receipt = _decode("transaction", data, _tx_and_receipt)
        return tx, receipt, height, index

    def block_hash(self, height: int) -> bytes | None:
        return self.kv.get(schema.block_hash_key(height))

    def block_hashes(self, upto_height: int) -> list[bytes]:
        """Hashes of blocks ``0 .. upto_height - 1``: the leaves of ``history_root`` at ``upto_height``.

        One prefix iteration. Raises :class:`NotFoundError` if any of those blocks is not stored.
        """
        if upto_height < 0:
            raise ValidationError(f"upto_height {upto_height} is negative")
        hashes: list[bytes] = []
        if upto_height == 0:
            return hashes
        for _, value in self.kv.iterate(schema.BLOCK_HASH_PREFIX):
            hashes.append(value)
            if len(hashes) == upto_height:
                return hashes
        raise NotFoundError(f"only {len(hashes)} block hashes stored, {upto_height} requested")


class VoteLog:
    """The replica's own votes, persisted (synced) before they are sent; keys are the caller's.

    Keys should sort in the order the caller wants to prune (e.g. ``u64 view || u64 height || kind``).
    """

    def __init__(self, kv: KV) -> None:
        self.kv = kv

    def save(self, key: bytes, value: bytes) -> None:
        """Write one vote durably (a single-op batch with ``sync=True``)."""
        batch = WriteBatch()
        batch.put(schema.vote_key(key), value)
        self.kv.write(batch, sync=True)

    def load_all(self) -> list[tuple[bytes, bytes]]:
        """Every saved ``(key, value)`` in key order, with the caller's keys (schema prefix removed)."""
        strip = len(schema.VOTE_PREFIX)
        return [(key[strip:], value) for key, value in self.kv.iterate(schema.VOTE_PREFIX)]

    def prune(self, below_key: bytes) -> int:
        """Delete every vote whose key is ``< below_key``, in one synced batch; returns how many."""
        limit = schema.vote_key(below_key)
        batch = WriteBatch()
        for key, _ in self.kv.iterate(schema.VOTE_PREFIX):
            if key >= limit:
                break
            batch.delete(key)
        if len(batch):
            self.kv.write(batch, sync=True)
        return len(batch)
