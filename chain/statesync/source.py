"""The serving side of state sync (ADR 0021): manifests, chunks and history pages of a checkpoint.

A snapshot is read at one tree version ``H`` while the node keeps committing. That is consistent
without a LevelDB snapshot because nothing here is ever overwritten: tree nodes are stored under
``(version, path)`` and values under ``(key hash, version)`` (ADR 0003), headers, certificates and
block hashes of committed heights are immutable, and an index entry is written once, at a hash's
first anchoring, carrying that height (ADR 0009), so entries above ``H`` are left out. The tree is
never pruned at run time; a version that were pruned would fail the root check below, not serve a
half state.

Work runs on the API's heavy thread pool; this reader has a :class:`~chain.statetree.StateTree` of
its own (its own node cache) and a lock, like :mod:`chain.api.heavy`.
"""

from __future__ import annotations

import struct
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

from chain import codec
from chain.contracts.anchoring import ANCHOR_INDEX, LOCATION
from chain.crypto import Signer
from chain.errors import NotFoundError, StorageError, ValidationError
from chain.statesync.snapshot import (
    CHUNKS,
    HISTORY_PAGE,
    INTERNAL,
    LEAF,
    Chunk,
    Manifest,
    Summary,
    history_pages,
    index_digest,
    root_from_summary,
)
from chain.statetree import StateTree, _child, _Leaf, _root_child
from chain.storage import schema

if TYPE_CHECKING:
    from chain.ledger import Ledger

_U64 = struct.Struct(">Q")
_MAX_U64 = 2**64 - 1
READER_CACHE_NODES = 20_000
MANIFESTS_KEPT = 4


class SnapshotSource:
    """Produces the snapshot of a checkpoint height from a ledger's store (thread-safe)."""

    def __init__(self, ledger: Ledger, signer: Signer, my_index: Callable[[], int]) -> None:
        from chain.ledger import STATE_PREFIX

        self.ledger, self.signer, self.my_index = ledger, signer, my_index
        self.kv = ledger.kv
        self.tree = StateTree(ledger.kv, prefix=STATE_PREFIX, cache_nodes=READER_CACHE_NODES)
        self.node_prefix, self.value_prefix = STATE_PREFIX + b"n", STATE_PREFIX + b"v"
        self.lock = threading.Lock()
        self.manifests: OrderedDict[int, bytes] = OrderedDict()

    def latest_checkpoint(self, head: int) -> int:
        """The latest stable checkpoint at or below ``head`` (0: none yet)."""
        interval = self.ledger.params.checkpoint_interval
        return head // interval * interval

    def check_height(self, height: int, head: int) -> None:
        """Raise unless ``height`` is a checkpoint this node has committed (``head`` read on the loop)."""
        interval = self.ledger.params.checkpoint_interval
        if height <= 0 or height % interval or height > head or height < self.ledger.snapshot_base:
            raise NotFoundError(
                f"height {height} is not a checkpoint of this node (multiples of {interval}, 1..{head})",
                code="no_snapshot",
            )

    # --- the tree's top two levels and one subtree ----------------------------------------------

    def _node(self, version8: bytes, depth: int, path: bytes) -> bytes:
        packed = path[: depth >> 1] + (bytes([path[depth >> 1] & 0xF0]) if depth & 1 else b"")
        return self.tree._load_node(self.node_prefix + version8 + bytes([depth]) + packed)

    def _children(self, ref: tuple[bytes, bytes], depth: int, path: bytes) -> list[tuple[int, _Leaf | tuple[bytes, bytes]]]:
        raw = self._node(ref[1], depth, path)
        bitmap, leafmap = int.from_bytes(raw[:2], "big"), int.from_bytes(raw[2:4], "big")
        return [(n, _child(raw, bitmap, leafmap, 1 << n)) for n in range(16) if bitmap >> n & 1]

    def summary(self, height: int) -> dict[int, Summary]:
        """``{first path byte: (kind, hash)}`` of the tree at ``height`` (nibble depth 2)."""
        root = _root_child(self.tree._root_record(height))
        out: dict[int, Summary] = {}
        if root is None:
            return out
        if isinstance(root, _Leaf):
            return {root.key_hash[0]: (LEAF, root.hash)}
        for high, child in self._children(root, 0, bytes(32)):
            if isinstance(child, _Leaf):
                out[child.key_hash[0]] = (LEAF, child.hash)
                continue
            for low, grandchild in self._children(child, 1, bytes([high << 4]) + bytes(31)):
                kind = LEAF if isinstance(grandchild, _Leaf) else INTERNAL
                out[high << 4 | low] = (kind, grandchild[0])
        return out

    def _leaves(self, ref: _Leaf | tuple[bytes, bytes], depth: int, path: bytes, out: list[_Leaf]) -> None:
        if isinstance(ref, _Leaf):
            out.append(ref)
            return
        for n, child in self._children(ref, depth, path):
            byte = path[depth >> 1]
            byte = (byte & 0xF0) | n if depth & 1 else n << 4
            self._leaves(child, depth + 1, path[: depth >> 1] + bytes([byte]) + path[(depth >> 1) + 1 :], out)

    def subtree_leaves(self, height: int, prefix: int) -> list[_Leaf]:
        """Every leaf of the tree at ``height`` whose path starts with byte ``prefix``, ascending."""
        found: list[_Leaf] = []
        root = _root_child(self.tree._root_record(height))
        path = bytes([prefix]) + bytes(31)
        depth, node = 0, root
        while node is not None and not isinstance(node, _Leaf) and depth < 2:
            children = dict(self._children(node, depth, path))
            node = children.get(prefix >> 4 if depth == 0 else prefix & 15)
            depth += 1
        if node is None:
            return found
        if isinstance(node, _Leaf):
            return [node] if node.key_hash[0] == prefix else found
        self._leaves(node, 2, path, found)
        return found

    def _value(self, leaf: _Leaf) -> bytes:
        inverted = _U64.pack(_MAX_U64 - _U64.unpack(leaf.value_version)[0])
        raw = self.kv.get(self.value_prefix + leaf.key_hash + inverted)
        if raw is None or raw[:1] != b"\x01":
            raise StorageError(f"state value of key hash {leaf.key_hash.hex()} is missing")
        return raw[1:]

    def index_page(self, height: int, prefix: int) -> list[tuple[bytes, bytes]]:
        """Index entries of anchored hashes starting with byte ``prefix``, written at or below ``height``."""
        start = schema.INDEX_PREFIX + ANCHOR_INDEX + bytes([prefix])
        strip = len(schema.INDEX_PREFIX)
        return [
            (key[strip:], value) for key, value in self.kv.iterate(start)
            if len(value) == LOCATION.size and LOCATION.unpack(value)[0] <= height
        ]

    # --- what the route serves -----------------------------------------------------------------

    def manifest(self, height: int) -> bytes:
        """The signed manifest of checkpoint ``height`` (cached: a few per node)."""
        with self.lock:
            cached = self.manifests.get(height)
            if cached is not None:
                return cached
            header, certificate = self.ledger.store.header(height), self.ledger.store.certificate(height)
            if header is None or certificate is None:
                raise NotFoundError(f"this node holds no certified block at height {height}", code="no_snapshot")
            summary = self.summary(height)
            if root_from_summary(summary) != header.state_root:
                raise StorageError(f"the stored state at {height} does not give its header's state root")
            digests = tuple(index_digest(self.index_page(height, k)) for k in range(CHUNKS))
            data = Manifest.create(header, certificate, summary, digests, self.my_index(), self.signer).encode()
            self.manifests[height] = data
            while len(self.manifests) > MANIFESTS_KEPT:
                self.manifests.popitem(last=False)
            return data

    def chunk(self, height: int, index: int) -> bytes:
        if not 0 <= index < CHUNKS:
            raise ValidationError(f"chunk {index} is not in 0..{CHUNKS - 1}", code="bad_chunk")
        with self.lock:
            leaves = tuple((leaf.key_hash, self._value(leaf)) for leaf in self.subtree_leaves(height, index))
            return Chunk(height, index, leaves, tuple(self.index_page(height, index))).encode()

    def history(self, height: int, page: int) -> bytes:
        """Hashes of blocks ``page * HISTORY_PAGE ..`` below ``height``."""
        if not 0 <= page < history_pages(height):
            raise ValidationError(f"history page {page} is not in 0..{history_pages(height) - 1}", code="bad_chunk")
        first = page * HISTORY_PAGE
        count = min(HISTORY_PAGE, height - first)
        hashes = []
        for _key, value in self.kv.iterate(schema.BLOCK_HASH_PREFIX, start=schema.block_hash_key(first)):
            hashes.append(value)
            if len(hashes) == count:
                break
        if len(hashes) != count:
            raise NotFoundError(f"this node lacks block hashes below {height}", code="no_snapshot")
        return codec.encode((height, page, tuple(hashes)))
