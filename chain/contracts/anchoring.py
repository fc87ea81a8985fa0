"""The ``anchoring`` contract: batches of 32-byte hashes anchored by a registrar (DESIGN.md §7, ADR 0008).

=============  =====================  ====================================================================
method         who                    effect
=============  =====================  ====================================================================
anchor         a registrar            records the batch's RFC 6962 root and indexes every new hash;
                                      emits ``anchored``
=============  =====================  ====================================================================

Decisions (ADR 0008):

- **The batch root covers the batch as submitted**: leaf ``i`` is ``merkle.leaf_hash(hashes[i])``,
  duplicates included, so a position in the batch is a position in the tree.
- **The index points to the first anchoring**: the node-local index entry ``anchor/<32 bytes>`` →
  ``(height, tx_index, position)`` (ADR 0009: outside the state tree, written with the block) is
  written only for a hash never anchored before, at the first position it appears in the batch.
  Later occurrences (in the same batch: ``repeated``; anchored by an earlier transaction: ``known``)
  are reported in the ``anchored`` event by position and not counted. The event also names its own
  ``tx_index``, so a receipt's location is fixed by certified bytes.
- ``anchor/count`` counts distinct anchored hashes. At most ``max_anchor_batch`` (genesis parameter,
  ≤ 10,000) hashes per batch; refusal ``oversize``; an empty batch is ``bad_args``.
"""

from __future__ import annotations

import struct
from typing import Any

from chain import codec, merkle, statekeys
from chain.contracts.base import Bytes, Context, ContractRegistry, List, Schema, Str
from chain.contracts.callers import Callers
from chain.errors import ContractError

CONTRACT = "anchoring"
HARD_MAX_BATCH = 10_000
"""Schema bound; the genesis parameter ``max_anchor_batch`` may only lower it."""
MAX_LABEL = 128

ANCHOR_INDEX = b"anchor/"
"""Local-index key prefix: ``anchor/<32-byte hash>`` → :data:`LOCATION` of its first anchoring."""
ANCHOR_COUNT = statekeys.ANCHOR_COUNT
LOCATION = struct.Struct(">QII")
"""``(height, tx_index, position)`` of an index entry, big-endian u64, u32, u32."""

REGISTRAR = Callers.role("registrar")

ANCHOR = Schema(
    {
        "hashes": List(Bytes(size=32, max_size=32), max_items=HARD_MAX_BATCH),
        "label": Str(max_len=MAX_LABEL, optional=True, default=""),
    }
)


def index_key(digest: bytes) -> bytes:
    """Local-index key of a hash's entry."""
    return ANCHOR_INDEX + digest


def decode_location(raw: bytes) -> tuple[int, int, int]:
    """``(height, tx_index, position)`` from an index entry."""
    height, tx_index, position = LOCATION.unpack(raw)
    return height, tx_index, position


def batch_root(hashes: list[bytes] | tuple[bytes, ...]) -> bytes:
    """RFC 6962 root over ``leaf_hash(h)`` for every hash of the batch, in submitted order."""
    return merkle.root_of_data(hashes)


def max_batch(ctx: Context) -> int:
    raw = ctx.get_value(statekeys.PARAMS)
    if raw is None:
        return HARD_MAX_BATCH
    return min(HARD_MAX_BATCH, int(codec.dict_from_pairs(raw).get("max_anchor_batch", HARD_MAX_BATCH)))


def register(registry: ContractRegistry) -> None:
    """Add the anchoring methods to ``registry``."""

    @registry.method(CONTRACT, "anchor", ANCHOR, callers=REGISTRAR)
    def anchor(ctx: Context, args: dict[str, Any]) -> None:
        """A registrar. Anchors up to ``max_anchor_batch`` 32-byte hashes under a label; refusals
        ``bad_args`` (empty batch), ``oversize`` (too many hashes). Indexes each new hash at its first
        position. Emits anchored (root, size, anchored, repeated, known, label, tx_index)."""
        hashes: tuple[bytes, ...] = args["hashes"]
        if not hashes:
            raise ContractError("an anchor batch needs at least one hash", code="bad_args")
        limit = max_batch(ctx)
        if len(hashes) > limit:
            raise ContractError(f"{len(hashes)} hashes exceed the batch limit of {limit}", code="oversize")
        repeated: list[int] = []
        first: dict[bytes, int]
        if len(set(hashes)) == len(hashes):
            first = dict(zip(hashes, range(len(hashes)), strict=True))
        else:
            first = {}
            for position, digest in enumerate(hashes):
                if digest in first:
                    repeated.append(position)
                else:
                    first[digest] = position
        keys = [ANCHOR_INDEX + digest for digest in first]
        found = ctx.index.get_many(keys)
        known = [position for position, value in zip(first.values(), found, strict=True) if value is not None]
        height, tx_index, pack = ctx.height, ctx.tx_index, LOCATION.pack
        ctx.index.writes.update(
            (key, pack(height, tx_index, position))
            for key, position, value in zip(keys, first.values(), found, strict=True)
            if value is None
        )
        new = len(first) - len(known)
        count = int(ctx.get_value(ANCHOR_COUNT) or 0)
        ctx.put_value(ANCHOR_COUNT, count + new)
        ctx.emit(
            CONTRACT,
            "anchored",
            root=batch_root(hashes),
            size=len(hashes),
            anchored=new,
            repeated=repeated,
            known=known,
            label=args["label"],
            tx_index=tx_index,
        )
