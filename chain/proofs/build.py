"""Build anchor receipts, provenance bundles and history consistency proofs from a node's ledger (ADR 0008).

The documents are checked by :mod:`chain.proofs`; their layout is in ADR 0008. Everything is read at
one certified height (the head when the call starts): its header and CommitCertificate, every
validator-set change since genesis, RFC 6962 paths from blocks to the head's ``history_root``, from
transactions to their block's ``tx_root`` and state proofs against the head's ``state_root``.

Merkle paths come from :class:`MerkleTree`, which caches the roots of complete, aligned subtrees
(they never change), so a path over the history of ``H`` blocks or a 10,000-hash batch costs
``O(log² n)`` hashes after the first. Per-block tx leaf hashes and per-batch trees are cached too.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from chain import codec, merkle, statekeys
from chain.contracts import anchoring
from chain.errors import NotFoundError, StorageError, ValidationError
from chain.proofs.document import FORMAT, certificate_to_json, header_to_json, validators_to_json
from chain.types import EventRef, Header, Receipt, SignedTx

if TYPE_CHECKING:
    from chain.ledger import Ledger
    from chain.statetree import StateTree


class MerkleTree:
    """An append-only RFC 6962 tree over leaf hashes with cached complete subtrees (RFC 9162 §2.1)."""

    def __init__(self, leaves: list[bytes] | None = None) -> None:
        self.leaves: list[bytes] = leaves if leaves is not None else []
        self._cache: dict[tuple[int, int], bytes] = {}

    def root(self, lo: int, hi: int) -> bytes:
        n = hi - lo
        if n == 0:
            return merkle.EMPTY_ROOT
        if n == 1:
            return self.leaves[lo]
        complete = n & (n - 1) == 0
        if complete:
            cached = self._cache.get((lo, n))
            if cached is not None:
                return cached
        k = 1 << ((n - 1).bit_length() - 1)
        value = merkle.node_hash(self.root(lo, lo + k), self.root(lo + k, hi))
        if complete:
            self._cache[(lo, n)] = value
        return value

    def path(self, index: int, size: int) -> list[bytes]:
        """Audit path of leaf ``index`` in the tree of the first ``size`` leaves (leaf first)."""
        if not 0 <= index < size <= len(self.leaves):
            raise ValidationError(f"leaf {index} is not in a tree of {size} (of {len(self.leaves)}) leaves")
        out: list[bytes] = []
        lo, hi = 0, size
        while hi - lo > 1:
            k = 1 << ((hi - lo - 1).bit_length() - 1)
            if index < lo + k:
                out.append(self.root(lo + k, hi))
                hi = lo + k
            else:
                out.append(self.root(lo, lo + k))
                lo = lo + k
        out.reverse()
        return out

    def consistency(self, old_size: int, new_size: int) -> list[bytes]:
        """RFC 6962 §2.1.2 PROOF(m, D[n]) for ``0 < m <= n``."""
        if not 0 < old_size <= new_size <= len(self.leaves):
            raise ValidationError(f"no consistency proof from {old_size} to {new_size}")
        return self._subproof(old_size, 0, new_size, True)

    def _subproof(self, m: int, lo: int, hi: int, whole: bool) -> list[bytes]:
        n = hi - lo
        if m == n:
            return [] if whole else [self.root(lo, hi)]
        k = 1 << ((n - 1).bit_length() - 1)
        if m <= k:
            return self._subproof(m, lo, lo + k, whole) + [self.root(lo + k, hi)]
        return self._subproof(m - k, lo + k, hi, False) + [self.root(lo, lo + k)]


class _Lru(OrderedDict[Any, Any]):
    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity

    def remember(self, key: Any, value: Any) -> Any:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.capacity:
            self.popitem(last=False)
        return value


class ProofBuilder:
    """Reads a :class:`~chain.ledger.Ledger` and writes ``silkport-proof/1`` documents (as dicts)."""

    def __init__(self, ledger: Ledger, tree: StateTree | None = None) -> None:
        """``tree``: a state-tree reader of the ledger's store with a cache of its own, so the builder can
        run on a worker thread without touching the cache the executor uses (ADR 0011); default: the
        ledger's own tree (one thread)."""
        self.ledger = ledger
        self.tree = ledger.tree if tree is None else tree
        self.history = MerkleTree()
        self._changes: dict[int, bool] = {}
        self._block_leaves: _Lru = _Lru(256)
        self._bodies: _Lru = _Lru(256)
        self._batches: _Lru = _Lru(64)

    # --- shared parts ---------------------------------------------------------------------------------

    def _sync_history(self, height: int) -> None:
        leaves = self.history.leaves
        if len(leaves) < height + 1:
            hashes = self.ledger.store.block_hashes(height + 1)
            leaves.extend(merkle.leaf_hash(h) for h in hashes[len(leaves):])

    def _header(self, height: int) -> Header:
        header = self.ledger.store.header(height)
        if header is None:
            raise StorageError(f"header {height} missing")
        return header

    def _history_path(self, height: int, final: int) -> list[str] | None:
        return None if height == final else [h.hex() for h in self.history.path(height, final)]

    def _changed_at(self, checkpoint: int) -> bool:
        known = self._changes.get(checkpoint)
        if known is None:
            tree = self.tree
            known = tree.get(statekeys.VALIDATORS, checkpoint) != tree.get(statekeys.VALIDATORS, checkpoint - 1)
            self._changes[checkpoint] = known
        return known

    def _trusted(self, final: int) -> dict[str, Any]:
        """``certified`` and ``validator_changes``: the trust chain from genesis to the header at ``final``."""
        self._sync_history(final)
        certificate = self.ledger.store.certificate(final)
        if certificate is None:
            raise NotFoundError(f"block {final} has no commit certificate")
        interval = self.ledger.params.checkpoint_interval
        changes = []
        for checkpoint in range(interval, final, interval):
            if not self._changed_at(checkpoint):
                continue
            value, proof = self.tree.get_with_proof(statekeys.VALIDATORS, checkpoint)
            change_certificate = self.ledger.store.certificate(checkpoint)
            if value is None or change_certificate is None:
                raise StorageError(f"validator set or certificate at height {checkpoint} missing")
            changes.append({
                "header": header_to_json(self._header(checkpoint)),
                "certificate": certificate_to_json(change_certificate),
                "history_proof": self._history_path(checkpoint, final),
                "validators": validators_to_json(value),
                "state_proof": proof.to_wire().hex(),
            })
        return {
            "certified": {
                "header": header_to_json(self._header(final)),
                "certificate": certificate_to_json(certificate),
                "genesis_proof": [h.hex() for h in self.history.path(0, final)],
            },
            "validator_changes": changes,
        }

    def validator_chain(self, final: int) -> dict[str, Any]:
        """``GET /v1/sync/validators`` (ADR 0027): the trust chain of header ``final`` — ``certified`` and
        ``validator_changes`` — for a joining node that verifies a snapshot certified by a later set.
        A store installed from a snapshot lacks the states below its base, so it cannot list the changes."""
        if not 1 <= final <= self.ledger.height:
            raise ValidationError(f"need 1 <= height <= {self.ledger.height}", code="bad_range")
        if self.ledger.snapshot_base:
            raise NotFoundError(f"this node was installed from a snapshot at {self.ledger.snapshot_base} and holds "
                                "no validator-set history below it: ask another node", code="no_trust_chain")
        return {"format": FORMAT, "chain_id": self.ledger.chain_id, **self._trusted(final)}

    def _leaf_hashes(self, height: int) -> MerkleTree:
        tree = self._block_leaves.get(height)
        if tree is None:
            leaves = [merkle.leaf_hash(data) for data in self.ledger.store.tx_leaves(height)]
            tree = self._block_leaves.remember(height, MerkleTree(leaves))
        return tree

    def _body(self, height: int) -> list[tuple[SignedTx, Receipt]]:
        body = self._bodies.get(height)
        if body is None:
            body = self._bodies.remember(height, self.ledger.store.body(height))
        return body

    def _tx_item(self, height: int, index: int) -> dict[str, Any]:
        leaves = self.ledger.store.tx_leaves(height)
        if index >= len(leaves):
            raise StorageError(f"block {height} has no transaction {index}")
        tree = self._leaf_hashes(height)
        return {"height": height, "tx_index": index, "leaf": leaves[index].hex(),
                "proof": [h.hex() for h in tree.path(index, len(tree.leaves))]}

    def _document(self, kind: str, final: int, heights: set[int], refs: set[tuple[int, int]],
                  since: int | None) -> dict[str, Any]:
        document: dict[str, Any] = {"format": FORMAT, "kind": kind, "chain_id": self.ledger.chain_id,
                                    **self._trusted(final)}
        document["blocks"] = [{"header": header_to_json(self._header(h)), "history_proof": self._history_path(h, final)}
                              for h in sorted(heights)]
        document["txs"] = [self._tx_item(h, i) for h, i in sorted(refs)]
        if since is not None:
            document["consistency"] = self.consistency_section(since, final)
        return document

    # --- anchor receipts ------------------------------------------------------------------------------

    def anchor_receipt(self, digest: bytes, *, since: int | None = None) -> dict[str, Any]:
        """The ``anchor`` receipt of a 32-byte hash, certified by the current head."""
        if len(digest) != 32:
            raise ValidationError("an anchored hash is 32 bytes", code="bad_hash")
        final = self.ledger.height
        raw = self.ledger.local_index.get(anchoring.index_key(digest))
        if raw is None:
            raise NotFoundError(f"hash {digest.hex()} is not anchored")
        height, tx_index, position = anchoring.decode_location(raw)
        batch = self._batches.get((height, tx_index))
        if batch is None:
            tx, _ = self._body(height)[tx_index]
            batch = self._batches.remember(
                (height, tx_index), MerkleTree([merkle.leaf_hash(h) for h in tx.body.args_dict()["hashes"]]))
        document = self._document("anchor", final, {height}, {(height, tx_index)}, since)
        document["anchor"] = {
            "hash": digest.hex(), "height": height, "tx_index": tx_index, "position": position,
            "batch_proof": [h.hex() for h in batch.path(position, len(batch.leaves))],
        }
        return document

    # --- provenance bundles ---------------------------------------------------------------------------

    def _record(self, asset_id: str, final: int) -> tuple[dict[str, Any], dict[str, Any]]:
        raw, proof = self.tree.get_with_proof(statekeys.asset_key(asset_id), final)
        if raw is None:
            raise NotFoundError(f"no asset {asset_id}")
        section = {"id": asset_id, "record": raw.hex(), "state_proof": proof.to_wire().hex()}
        return section, codec.dict_from_pairs(codec.decode(raw))

    def asset_bundle(self, asset_id: str, *, since: int | None = None) -> dict[str, Any]:
        """The provenance bundle of an asset: its record at the head and every event back to registration."""
        final = self.ledger.height
        section, record = self._record(asset_id, final)
        refs: set[tuple[int, int]] = set()
        ref: EventRef | None = EventRef.from_wire(record["last_event"])
        while ref is not None:
            refs.add((ref.height, ref.tx_index))
            _, receipt = self._body(ref.height)[ref.tx_index]
            event = next((e for e in receipt.events if e.subject == asset_id), None)
            if event is None:
                raise StorageError(f"no event on {asset_id} at {ref.to_wire()}")
            ref = event.prev
        parents = []
        for parent_id in record.get("parents") or ():
            parent_section, parent = self._record(parent_id, final)
            parents.append(parent_section)
            refs.add(tuple(parent["registered"]))
        document = self._document("asset", final, {h for h, _ in refs}, refs, since)
        document["asset"] = section
        document["parents"] = parents
        return document

    # --- history consistency --------------------------------------------------------------------------

    def consistency_section(self, old: int, new: int) -> dict[str, Any]:
        if not 1 <= old < new <= self.ledger.height:
            raise ValidationError(f"need 1 <= from < to <= {self.ledger.height}", code="bad_range")
        self._sync_history(new)
        return {"from_header": header_to_json(self._header(old)),
                "proof": [h.hex() for h in self.history.consistency(old, new)],
                "head_proof": [h.hex() for h in self.history.path(old, new)]}

    def consistency(self, old: int, new: int) -> dict[str, Any]:
        """``GET /v1/history/consistency``: the RFC 6962 proof between the history roots of two headers."""
        section = self.consistency_section(old, new)
        return {"from": old, "to": new, "from_history_root": self._header(old).history_root.hex(),
                "to_history_root": self._header(new).history_root.hex(), "proof": section["proof"],
                "head_proof": section["head_proof"]}
