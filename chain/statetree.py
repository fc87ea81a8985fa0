"""The authenticated state map: a versioned 16-ary Jellyfish Merkle Tree over the KV port (DESIGN.md §4).

Layout and versioning follow the Jellyfish Merkle Tree (Gao et al., Diem 2021, §3-§5): 16-ary
internal nodes addressed by nibble paths, leaves raised as high as they are unique, every node
stored under a ``NodeKey = (version, nibble path)`` so an update never overwrites an older
version's nodes, and a stale-node index that lets :meth:`StateTree.prune` delete exactly what only
older versions need. Unlike JMT, a leaf is stored inside its parent (it is 64 bytes), so changing a
key costs no read of its leaf. The hashing, the canonical tree shape and the proof format are
specified in :mod:`chain.statetree_proof` (re-exported here); a verifier needs nothing else.

The keys under the tree's prefix (latest version, root records, internal nodes, versioned values, the
stale index, the prune mark) are laid out in ADR 0003, "Storage layout".

:meth:`StateTree.update` is pure: it reads committed nodes of ``base_version`` through the reader
and returns a :class:`StateUpdate` whose ``batch`` holds the new version (nodes, values, root record,
stale-index entries). Nothing is written, so it may be called several times for one version
(speculative execution); the caller writes at most one of those batches, and only batches whose
base is the latest written version and whose version is above it.

Internal nodes are cached, as stored bytes, in a bounded LRU. An update's nodes enter it (and the
nodes it replaced leave it) only once the store holds that update's root record, root hash *and*
base version: nodes are a function of the base tree and the final key/value set (no-op changes
create nothing), which the root hash binds, so a losing speculative batch never shadows the winner.

This module is pure (DESIGN.md §2): hashlib, the KV port's types and :mod:`chain.statetree_proof`.
"""

from __future__ import annotations

import hashlib
import struct
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import NamedTuple

from chain.errors import NotFoundError, StorageError, ValidationError
from chain.statetree_proof import (
    EMPTY_ROOT,
    HASH_SIZE,
    MAX_KEY_SIZE,
    StateProof,
    internal_hash,
    key_hash,
    leaf_hash,
    nibble,
    verify_proof,
)
from chain.storage.kv import KVReader, WriteBatch

__all__ = [  # the verifier's names are re-exported from chain.statetree_proof
    "EMPTY_ROOT", "HASH_SIZE", "MAX_KEY_SIZE", "MAX_VERSION", "StateProof", "StateTree", "StateUpdate",
    "internal_hash", "key_hash", "leaf_hash", "verify_proof",
]

MAX_VERSION = 2**64 - 2
"""Highest version (block height) the tree stores; ``2**64-1-version`` must stay non-negative."""

DEFAULT_CACHE_NODES = 400_000
"""Internal nodes kept in memory: a million-key tree has 360,000 (about 190 MB cached)."""

RECENT_UPDATES = 8
"""Updates whose nodes are held until the store shows whether they were written."""

_U64 = struct.Struct(">Q")
_MAX_U64 = 2**64 - 1
_NO_BASE = _U64.pack(_MAX_U64)
_EMPTY_RECORD_TAIL = EMPTY_ROOT + bytes(8)
_KIND_EMPTY, _KIND_LEAF, _KIND_INTERNAL = 0, 1, 2
_EMPTY_TREE_RECORD = bytes([_KIND_EMPTY]) + _EMPTY_RECORD_TAIL + _NO_BASE
"""The root record of the empty tree with no base version."""
_RECORD_SIZES = {_KIND_EMPTY: 49, _KIND_LEAF: 113, _KIND_INTERNAL: 49}
_DEPTH = [bytes([depth]) for depth in range(65)]
_HIGH_HALF = [bytes([byte & 0xF0]) for byte in range(256)]
_PRESENT, _DELETED = b"\x01", b"\x00"
_sha256 = hashlib.sha256
_first, _second = itemgetter(0), itemgetter(1)
_KEY_TYPES, _VALUE_TYPES = frozenset({bytes}), frozenset({bytes, type(None)})


@dataclass(frozen=True)
class StateUpdate:
    """The result of :meth:`StateTree.update`: a new version, ready to be written."""

    version: int
    """The version this update creates."""

    root: bytes
    """State root of ``version``."""

    batch: WriteBatch
    """Everything to write (nodes, values, root record, stale index); put it in the block's batch."""

    stale: tuple[bytes, ...]
    """Stored keys this update makes unused from ``version`` on (recorded in the stale index)."""

    hashes: int
    """SHA-256 calls the update made (keys, values, leaves, internal nodes)."""


class _Leaf(NamedTuple):
    """A leaf: its hash, its key's path, its value's hash and the version that value was set."""

    hash: bytes
    key_hash: bytes
    value_hash: bytes
    value_version: bytes


# An internal child: (hash, u64 node version). A leaf child is a _Leaf; an empty slot is None.
_Ref = tuple[bytes, bytes]


class _Same:
    """Marker: the subtree did not change."""


_SAME = _Same()
_Result = _Same | _Leaf | _Ref | None
_new_tuple = tuple.__new__  # _new_tuple(_Leaf, (...)): a _Leaf without NamedTuple's Python-level __new__


def _packed_path(path: bytes, depth: int) -> bytes:
    """The first ``depth`` nibbles of ``path``, two per byte (an odd last nibble in the high half)."""
    if depth & 1:
        return path[: depth >> 1] + _HIGH_HALF[path[depth >> 1]]
    return path[: depth >> 1]


def _check_version(version: object, what: str) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version <= MAX_VERSION:
        raise ValidationError(f"{what} {version!r} is not an integer in 0..{MAX_VERSION}")
    return version


def _check_key(key: object) -> bytes:
    if not isinstance(key, bytes):
        raise ValidationError(f"state keys are bytes, not {type(key).__name__}")
    if len(key) > MAX_KEY_SIZE:
        raise ValidationError(f"state key of {len(key)} bytes exceeds {MAX_KEY_SIZE}")
    return key


def _child(raw: bytes, bitmap: int, leafmap: int, bit: int) -> _Leaf | _Ref:
    """The child of a stored internal node at nibble bit ``bit`` (which must be set in ``bitmap``)."""
    count = bitmap.bit_count()
    slot = (bitmap & (bit - 1)).bit_count()
    child_hash = raw[4 + 32 * slot : 36 + 32 * slot]
    version = raw[4 + 32 * count + 8 * slot : 12 + 32 * count + 8 * slot]
    if leafmap & bit:
        at = 4 + 40 * count + 64 * (leafmap & (bit - 1)).bit_count()
        return _new_tuple(_Leaf, (child_hash, raw[at : at + 32], raw[at + 32 : at + 64], version))
    return child_hash, version


def _root_child(record: bytes) -> _Leaf | _Ref | None:
    """The root named by a stored root record, as a child reference (``None``: empty tree)."""
    if record[0] == _KIND_LEAF:
        return _Leaf(record[1:33], record[49:81], record[81:113], record[33:41])
    return None if record[0] == _KIND_EMPTY else (record[1:33], record[33:41])


class _Recent(NamedTuple):
    """An update whose nodes may enter the cache once its root record is seen in the store."""

    version: bytes
    record: bytes
    nodes: list[tuple[bytes, bytes]]
    stale: list[bytes]


class StateTree:
    """A versioned authenticated map stored under ``prefix`` in a KV store (see module docs)."""

    def __init__(self, reader: KVReader, prefix: bytes = b"T", *, cache_nodes: int = DEFAULT_CACHE_NODES) -> None:
        if not isinstance(prefix, bytes) or not prefix:
            raise ValidationError("the state tree prefix is non-empty bytes")
        self._reader = reader
        self.prefix = prefix
        self._latest_key = prefix + b"L"
        self._root_prefix = prefix + b"r"
        self._node_prefix = prefix + b"n"
        self._value_prefix = prefix + b"v"
        self._stale_prefix = prefix + b"s"
        self._pruned_key = prefix + b"p"
        self._cache: OrderedDict[bytes, bytes] = OrderedDict()
        self._cache_nodes = cache_nodes
        self._recent: list[_Recent] = []
        self._pruned_below: int | None = None

    # --- versions and roots ------------------------------------------------------------------

    def latest_version(self) -> int | None:
        """The newest version written, or ``None`` for a tree that was never written."""
        raw = self._reader.get(self._latest_key)
        return None if raw is None else _U64.unpack(raw)[0]

    def pruned_below(self) -> int:
        """Versions below this were pruned and can no longer be read (0: nothing pruned)."""
        raw = self._reader.get(self._pruned_key)
        stored = 0 if raw is None else _U64.unpack(raw)[0]
        self._pruned_below = max(stored, self._pruned_below or 0)
        return self._pruned_below

    def _check_readable(self, version: int, *, fresh: bool) -> None:
        floor = self.pruned_below() if fresh or self._pruned_below is None else self._pruned_below
        if version < floor:
            raise NotFoundError(f"state version {version} is pruned (versions below {floor} are gone)")

    def _root_record(self, version: int) -> bytes:
        """The stored root record of ``version`` (of the newest version at or before it)."""
        exact = self._root_prefix + _U64.pack(version)
        raw = self._reader.get(exact)
        if raw is None:  # no update at exactly this version: the newest one before it
            item = next(iter(self._reader.iterate(self._root_prefix, start=exact, reverse=True)), None)
            if item is None:
                return _EMPTY_TREE_RECORD
            raw = item[1]
        if not raw or _RECORD_SIZES.get(raw[0]) != len(raw):
            raise StorageError(f"state root record at or before version {version} is corrupt")
        return raw

    def root_hash(self, version: int) -> bytes:
        """State root at ``version``: that of the newest version at or before it, else ``EMPTY_ROOT``."""
        _check_version(version, "version")
        self._check_readable(version, fresh=True)
        return self._root_record(version)[1:33]

    # --- reads -------------------------------------------------------------------------------

    def get(self, key: bytes, version: int | None = None) -> bytes | None:
        """The value of ``key`` at ``version`` (default: the latest written); one ordered-KV seek."""
        if type(key) is not bytes or len(key) > MAX_KEY_SIZE:
            _check_key(key)
        prefix = self._value_prefix + _sha256(key).digest()
        start = None
        if version is not None:
            floor = self._pruned_below  # the checks below, without calls when all is well (reads are hot)
            if type(version) is not int or not 0 <= version <= MAX_VERSION or floor is None or version < floor:
                _check_version(version, "version")
                self._check_readable(version, fresh=False)
            start = prefix + _U64.pack(_MAX_U64 - version)
        for _key, raw in self._reader.iterate(prefix, start=start):
            if raw[:1] == _PRESENT:
                return raw[1:]
            if raw != _DELETED:
                raise StorageError(f"state value entry {_key.hex()} is corrupt")
            return None
        return None

    def get_with_proof(self, key: bytes, version: int) -> tuple[bytes | None, StateProof]:
        """The value of ``key`` at ``version`` and a proof of it against :meth:`root_hash` ``(version)``."""
        path = key_hash(_check_key(key))
        _check_version(version, "version")
        self._check_readable(version, fresh=True)
        child = _root_child(self._root_record(version))
        if child is None:
            return None, StateProof((), None)
        levels: list[tuple[int, tuple[bytes, ...]]] = []
        depth = 0
        while not isinstance(child, _Leaf):
            raw = self._load_node(self._node_prefix + child[1] + _DEPTH[depth] + _packed_path(path, depth))
            bitmap, leafmap = int.from_bytes(raw[:2], "big"), int.from_bytes(raw[2:4], "big")
            bit = 1 << nibble(path, depth)
            slot = (bitmap & (bit - 1)).bit_count()
            hashes = [raw[i : i + 32] for i in range(4, 4 + 32 * bitmap.bit_count(), 32)]
            if not bitmap & bit:
                levels.append((bitmap, tuple(hashes)))
                return None, StateProof(tuple(levels), None)
            levels.append((bitmap, tuple(hashes[:slot] + hashes[slot + 1 :])))
            child = _child(raw, bitmap, leafmap, bit)
            depth += 1
        proof = StateProof(tuple(levels), (child.key_hash, child.value_hash))
        if child.key_hash != path:
            return None, proof
        value = self.get(key, version)
        if value is None or _sha256(value).digest() != child.value_hash:
            raise StorageError(f"state value of key hash {path.hex()} at version {version} does not match its leaf")
        return value, proof

    def _load_node(self, node_key: bytes) -> bytes:
        """A stored internal node, from the cache or the store (checked for a consistent layout)."""
        cache = self._cache
        raw = cache.get(node_key)
        if raw is not None:
            cache.move_to_end(node_key)
            return raw
        raw = self._reader.get(node_key)
        if raw is None:
            raise StorageError(f"state tree node {node_key.hex()} is missing")
        bitmap, leafmap = int.from_bytes(raw[:2], "big"), int.from_bytes(raw[2:4], "big")
        if not bitmap or leafmap & ~bitmap or len(raw) != 4 + 40 * bitmap.bit_count() + 64 * leafmap.bit_count():
            raise StorageError(f"state tree node {node_key.hex()} is corrupt")
        cache[node_key] = raw
        if len(cache) > self._cache_nodes:
            cache.popitem(last=False)
        return raw

    def _admit_written(self, latest: int | None) -> None:
        """Cache the nodes of recent updates the store shows were written; forget the rest."""
        if latest is None or not self._recent:
            return
        latest8 = _U64.pack(latest)
        keep = []
        for recent in self._recent:
            if recent.version > latest8:
                keep.append(recent)
            elif self._reader.get(self._root_prefix + recent.version) == recent.record:
                cache = self._cache
                for stored_key in recent.stale:  # replaced nodes make room: the cache favours the live tree
                    cache.pop(stored_key, None)
                cache.update(recent.nodes)
                while len(cache) > self._cache_nodes:
                    cache.popitem(last=False)
        self._recent = keep

    def clear_cache(self) -> None:
        """Forget every cached node (they are re-read from the store on demand)."""
        self._cache.clear()
        self._recent.clear()

    # --- writes ------------------------------------------------------------------------------

    def update(
        self, base_version: int | None, new_version: int, changes: Mapping[bytes, bytes | None]
    ) -> StateUpdate:
        """Apply ``changes`` (``None`` deletes) to ``base_version`` (``None``: the empty tree) as
        ``new_version``; pure (see the module docstring), every touched internal node hashed once."""
        new_version = _check_version(new_version, "new version")
        latest = self.latest_version()
        self._admit_written(latest)
        if base_version is not None:
            _check_version(base_version, "base version")
            if base_version >= new_version:
                raise ValidationError(f"new version {new_version} must be above the base version {base_version}")
            self._check_readable(base_version, fresh=True)
            if latest is None or base_version > latest:
                raise ValidationError(f"base version {base_version} is not written (latest: {latest})")
            base_record = self._root_record(base_version)
        else:
            base_record = _EMPTY_TREE_RECORD
        keys, values = list(changes), list(changes.values())
        if not (_VALUE_TYPES.issuperset(map(type, values)) and _KEY_TYPES.issuperset(map(type, keys))
                and max(map(len, keys), default=0) <= MAX_KEY_SIZE):  # checked in bulk; else name the first
            for key, value in changes.items():
                if value is not None and not isinstance(value, bytes):
                    raise ValidationError(f"state values are bytes or None, not {type(value).__name__}")
                _check_key(key)
        items = sorted(zip([_sha256(key).digest() for key in keys], values, strict=True), key=_first)
        return self._update_hashed(base_version, base_record, new_version, items)

    def install(self, new_version: int, items: list[tuple[bytes, bytes]]) -> StateUpdate:
        """A whole tree at ``new_version`` from ascending ``(key_hash, value)`` pairs; pure (state sync, ADR 0021)."""
        new_version = _check_version(new_version, "new version")
        if any(len(path) != HASH_SIZE for path, _value in items):
            raise ValidationError(f"snapshot key hashes are {HASH_SIZE} bytes")
        if any(items[i][0] >= items[i + 1][0] for i in range(len(items) - 1)):
            raise ValidationError("snapshot key hashes must be strictly ascending")
        return self._update_hashed(None, _EMPTY_TREE_RECORD, new_version, list(items))

    def _update_hashed(
        self, base_version: int | None, base_record: bytes, new_version: int, items: list[tuple[bytes, bytes | None]]
    ) -> StateUpdate:
        updater = _Updater(self, new_version, items)
        root = _root_child(base_record)
        result = updater.apply(root, 0, 0, len(items)) if items else _SAME
        if isinstance(result, _Same):
            result = root
        base8 = _NO_BASE if base_version is None else _U64.pack(base_version)
        if result is None:
            record = bytes([_KIND_EMPTY]) + _EMPTY_RECORD_TAIL + base8
        elif isinstance(result, _Leaf):
            record = bytes([_KIND_LEAF]) + result.hash + result.value_version + base8
            record += result.key_hash + result.value_hash
        else:
            record = bytes([_KIND_INTERNAL]) + result[0] + result[1] + base8
        version8 = updater.version8
        ops = updater.batch.ops
        ops[self._root_prefix + version8] = record
        ops[self._latest_key] = version8
        if base_version is not None:
            updater.stale.append(self._root_prefix + base8)
        stale_prefix = self._stale_prefix + version8
        for stored_key in updater.stale:
            ops[stale_prefix + stored_key] = b""
        self._recent = [*self._recent[-(RECENT_UPDATES - 1) :], _Recent(version8, record, updater.nodes, updater.stale)]
        return StateUpdate(new_version, record[1:33], updater.batch, tuple(updater.stale), updater.hashes)

    def prune(self, keep_from_version: int) -> WriteBatch:
        """A batch deleting every node, value and root record used only by versions below ``keep_from_version``.

        Follows JMT's stale-node index: an entry stale since version ``s`` is needed by versions
        below ``s`` only, so every entry with ``s <= keep_from_version`` goes. Reads below
        ``keep_from_version`` raise :class:`~chain.errors.NotFoundError` afterwards (this instance
        refuses them at once). The latest version is always kept: a larger ``keep_from_version``
        is lowered to it.
        """
        _check_version(keep_from_version, "keep-from version")
        batch = WriteBatch()
        latest = self.latest_version()
        if latest is None:
            return batch
        keep = min(keep_from_version, latest)
        ops = batch.ops
        limit = _U64.pack(keep)
        cut = len(self._stale_prefix) + 8
        for index_key, _value in self._reader.iterate(self._stale_prefix):
            if index_key[len(self._stale_prefix) : cut] > limit:
                break
            ops[index_key] = None
            ops[index_key[cut:]] = None
        floor = max(keep, self.pruned_below())
        ops[self._pruned_key] = _U64.pack(floor)
        self._pruned_below = floor
        return batch


class _Updater:
    """One batch update (JMT ``batch_put``): walks the touched paths once, hashing bottom-up."""

    def __init__(self, tree: StateTree, version: int, items: list[tuple[bytes, bytes | None]]) -> None:
        self.tree = tree
        self.version8 = _U64.pack(version)
        self.value_suffix = _U64.pack(_MAX_U64 - version)
        self.paths = list(map(_first, items))
        self.values = list(map(_second, items))
        self.batch = WriteBatch()
        self.ops = self.batch.ops  # direct puts: every key and value below is bytes by construction
        self.nodes: list[tuple[bytes, bytes]] = []
        self.stale: list[bytes] = []
        self.hashes = len(items)
        self.node_prefix = tree._node_prefix
        self.value_prefix = tree._value_prefix

    def _new_leaf(self, path: bytes, value: bytes, value_hash: bytes | None = None) -> _Leaf:
        if value_hash is None:
            value_hash = _sha256(value).digest()
            self.hashes += 1
        self.hashes += 1
        self.ops[self.value_prefix + path + self.value_suffix] = _PRESENT + value
        return _new_tuple(_Leaf, (_sha256(b"\x00" + path + value_hash).digest(), path, value_hash, self.version8))

    def _stale_value(self, leaf: _Leaf) -> None:
        old = _MAX_U64 - _U64.unpack(leaf.value_version)[0]
        self.stale.append(self.value_prefix + leaf.key_hash + _U64.pack(old))

    def _write_node(self, depth: int, path: bytes, bitmap: int, leafmap: int, hashes: bytes, rest: bytes) -> _Ref:
        """Store a new internal node; ``rest`` is its versions and leaf hashes."""
        bitmap2 = bitmap.to_bytes(2, "big")
        node_key = self.node_prefix + self.version8 + _DEPTH[depth] + _packed_path(path, depth)
        raw = bitmap2 + leafmap.to_bytes(2, "big") + hashes + rest
        self.ops[node_key] = raw
        self.nodes.append((node_key, raw))
        self.hashes += 1
        return _sha256(b"\x01" + bitmap2 + hashes).digest(), self.version8

    def apply(self, child: _Leaf | _Ref | None, depth: int, lo: int, hi: int) -> _Result:
        """New subtree at ``depth`` for ``child`` after the changes ``lo:hi`` (all under its path)."""
        if child is None:
            inserts = [
                self._new_leaf(self.paths[i], value) for i in range(lo, hi) if (value := self.values[i]) is not None
            ]
            if not inserts:
                return _SAME
            return inserts[0] if len(inserts) == 1 else self._build(depth, inserts)
        if isinstance(child, _Leaf):
            return self._apply_leaf(child, depth, lo, hi)
        return self._apply_internal(child, depth, lo, hi)

    def _apply_leaf(self, old: _Leaf, depth: int, lo: int, hi: int) -> _Result:
        paths, values = self.paths, self.values
        entries: list[_Leaf] = []
        kept = True
        for i in range(lo, hi):
            path, value = paths[i], values[i]
            if path != old.key_hash:
                if value is not None:
                    entries.append(self._new_leaf(path, value))
                continue
            kept = False
            if value is None:  # delete: a tombstone, unused (like the old value) once this version is pruned
                self._stale_value(old)
                tombstone = self.value_prefix + path + self.value_suffix
                self.ops[tombstone] = _DELETED
                self.stale.append(tombstone)
                continue
            value_hash = _sha256(value).digest()
            self.hashes += 1
            if value_hash == old.value_hash:
                kept = True
            else:
                self._stale_value(old)
                entries.append(self._new_leaf(path, value, value_hash))
        if kept:
            if not entries:
                return _SAME
            entries.append(old)
            entries.sort(key=lambda leaf: leaf.key_hash)
        if not entries:
            return None
        return entries[0] if len(entries) == 1 else self._build(depth, entries)

    def _build(self, depth: int, leaves: list[_Leaf]) -> _Ref:
        """A fresh subtree at ``depth`` for two or more leaves sorted by key hash."""
        byte, odd = depth >> 1, depth & 1
        bitmap = leafmap = 0
        hashes: list[bytes] = []
        versions: list[bytes] = []
        leaf_data: list[bytes] = []
        i, count = 0, len(leaves)
        while i < count:
            b = leaves[i].key_hash[byte]
            n = b & 15 if odd else b >> 4
            j = i + 1
            while j < count:
                b = leaves[j].key_hash[byte]
                if (b & 15 if odd else b >> 4) != n:
                    break
                j += 1
            bitmap |= 1 << n
            if j - i == 1:
                leaf = leaves[i]
                leafmap |= 1 << n
                hashes.append(leaf.hash)
                versions.append(leaf.value_version)
                leaf_data.append(leaf.key_hash + leaf.value_hash)
            else:
                hashes.append(self._build(depth + 1, leaves[i:j])[0])
                versions.append(self.version8)
            i = j
        rest = b"".join(versions) + b"".join(leaf_data)
        return self._write_node(depth, leaves[0].key_hash, bitmap, leafmap, b"".join(hashes), rest)

    def _apply_internal(self, ref: _Ref, depth: int, lo: int, hi: int) -> _Result:
        paths = self.paths
        path0 = paths[lo]
        node_key = self.node_prefix + ref[1] + _DEPTH[depth] + _packed_path(path0, depth)
        raw = self.tree._load_node(node_key)
        bitmap, leafmap = int.from_bytes(raw[:2], "big"), int.from_bytes(raw[2:4], "big")
        byte, odd = depth >> 1, depth & 1
        results: list[tuple[int, _Leaf | _Ref | None]] = []
        i = lo
        while i < hi:
            b = paths[i][byte]
            n = b & 15 if odd else b >> 4
            j = i + 1
            while j < hi:
                b = paths[j][byte]
                if (b & 15 if odd else b >> 4) != n:
                    break
                j += 1
            bit = 1 << n
            result = self.apply(_child(raw, bitmap, leafmap, bit) if bitmap & bit else None, depth + 1, i, j)
            if not isinstance(result, _Same):
                results.append((bit, result))
            i = j
        if not results:
            return _SAME
        return self._rebuild(node_key, raw, depth, path0, results)

    def _rebuild(
        self, node_key: bytes, raw: bytes, depth: int, path: bytes, results: list[tuple[int, _Leaf | _Ref | None]]
    ) -> _Leaf | _Ref | None:
        """Replace the stored node ``raw`` by one with the changed children ``(bit, child)``."""
        self.stale.append(node_key)
        bitmap, leafmap = int.from_bytes(raw[:2], "big"), int.from_bytes(raw[2:4], "big")
        count = bitmap.bit_count()
        hashes = raw[4 : 4 + 32 * count]
        versions = raw[4 + 32 * count : 4 + 40 * count]
        leaf_data = raw[4 + 40 * count :]
        for bit, result in reversed(results):  # descending nibbles: offsets below bit stay valid
            below = bit - 1
            at = (bitmap & below).bit_count()
            leaf_at = 64 * (leafmap & below).bit_count()
            cut = 1 if bitmap & bit else 0
            leaf_cut = 64 if leafmap & bit else 0
            if result is None:
                new_hash = new_version = new_leaf = b""
                bitmap &= ~bit
                leafmap &= ~bit
            elif isinstance(result, _Leaf):
                new_hash, new_version = result.hash, result.value_version
                new_leaf = result.key_hash + result.value_hash
                bitmap |= bit
                leafmap |= bit
            else:
                new_hash, new_version = result
                new_leaf = b""
                bitmap |= bit
                leafmap &= ~bit
            hashes = hashes[: 32 * at] + new_hash + hashes[32 * (at + cut) :]
            versions = versions[: 8 * at] + new_version + versions[8 * (at + cut) :]
            if leaf_cut or new_leaf:
                leaf_data = leaf_data[:leaf_at] + new_leaf + leaf_data[leaf_at + leaf_cut :]
        if not bitmap:
            return None
        if leafmap == bitmap and not bitmap & (bitmap - 1):  # a single leaf is left: it moves up
            return _new_tuple(_Leaf, (hashes, leaf_data[:32], leaf_data[32:], versions))
        return self._write_node(depth, path, bitmap, leafmap, hashes, versions + leaf_data)
