"""Offline verification of anchor receipts and provenance bundles (DESIGN.md §4, §9; ADR 0008).

The verifier trusts only the genesis document. It recomputes the genesis header
(:func:`chain.genesis.compute_genesis`), follows every validator-set change from genesis (each
checkpoint header certified by the set before it, the new set read by a state proof of
``gov/validators`` against that header's ``state_root``), checks the certified header's
CommitCertificate with the set in effect at its height (quorum of distinct validators), then every
Merkle path down to the data: RFC 6962 history inclusion (``history_root`` of a header at height H
covers blocks ``0..H-1``, ADR 0001 §8), RFC 6962 ``tx_root`` inclusion of ``canonical([signed_tx,
receipt])``, transaction signatures, state proofs (:mod:`chain.statetree_proof`), and for an anchor the
RFC 6962 batch inclusion; for an asset the hash-linked event chain from the record's ``last_event``
back to its registration (completeness).

The first failed check raises :class:`~chain.proofs.document.Fail` naming the proof, the height and the
mismatch. Pure: no storage, no network, no clock. :class:`Verifier` caches the certified-header and
transaction checks across documents, so an auditor checking many receipts against one certified
header verifies its certificate and the validator chain once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from chain import codec, merkle
from chain.errors import ProofError, SilkportError
from chain.genesis import GenesisDoc, compute_genesis, parse_genesis
from chain.proofs.document import (
    FORMAT,
    Fail,
    array,
    certificate_from_json,
    decode_canonical,
    hashes,
    header_from_json,
    hexbytes,
    integer,
    load_document,
    obj,
    text,
    validators_from_json,
)
from chain.proofs.transfers import check_deliveries
from chain.statetree_proof import StateProof, verify_proof
from chain.types import CommitCertificate, Event, EventRef, Header, Receipt, SignedTx, validators_hash

# State keys, spelled out so the verifier imports nothing of the node (equal to chain.statekeys /
# chain.contracts.anchoring; tests/unit/test_proofs.py checks it).
VALIDATORS_KEY = b"gov/validators"
ASSET_KEY = b"asset/rec/"
KINDS = ("anchor", "asset")
_COMMON = ("format", "kind", "chain_id", "certified", "validator_changes", "blocks", "txs")


@dataclass(frozen=True)
class Epoch:
    """A validator set and the first height it certifies."""

    from_height: int
    keys: tuple[bytes, ...]
    names: tuple[str, ...]


@dataclass
class Verified:
    """What a valid document proves (for the one-line summary and ``--explain``)."""

    kind: str
    chain_id: str
    certified: Header
    certificate: CommitCertificate
    epochs: list[Epoch]
    blocks: dict[int, Header]
    txs: dict[tuple[int, int], tuple[SignedTx, Receipt]]
    subject: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[EventRef, Event]] = field(default_factory=list)

    def summary(self) -> str:
        f = self.certified
        signers = len(self.certificate.signatures)
        tail = (f"certified at height {f.height} by {signers} of {len(self.epochs[-1].keys)} validators "
                f"(chain {self.chain_id}, {len(self.epochs) - 1} validator-set change(s) since genesis)")
        if self.kind == "anchor":
            d = self.details
            return (f"valid: hash {self.subject} anchored at height {d['height']} (tx {d['tx_index']}, position "
                    f"{d['position']} of {d['size']}, label {d['label']!r}, block time {d['timestamp_ms']} ms); "
                    + tail)
        d = self.details
        shipped = (f" ({d['deliveries']} data delivery(ies), {d['acknowledgements']} acknowledgement(s))"
                   if d.get("deliveries") else "")
        return (f"valid: asset {self.subject}: complete history of {len(self.events)} event(s){shipped} back to its "
                f"registration at height {self.events[-1][0].height}; " + tail)


def _path_size(index: int, length: int) -> int:
    """The smallest tree size whose RFC 6962 path for ``index`` has ``length`` hashes.

    A block header commits to ``tx_root`` but not to the number of transactions; the audit path of a
    leaf depends on the tree size only through which right-hand siblings exist, which is fixed by
    ``(index, len(path))`` (ADR 0008), so this size verifies exactly the paths the real size does.
    """
    ones = index.bit_count()
    if length < ones:
        raise Fail(f"an audit path of {length} hashes is too short for index {index}")
    wanted = length - ones
    size = index + 1
    level = 0
    while wanted > 0:
        if level > 64:
            raise Fail(f"an audit path of {length} hashes is too long for index {index}")
        if not (index >> level) & 1:
            size = (((index >> level) + 1) << level) + 1
            wanted -= 1
        level += 1
    return size


def _inclusion(what: str, leaf: bytes, index: int, size: int, path: list[bytes], root: bytes) -> None:
    try:
        merkle.verify_inclusion(leaf, index, size, path, root)
    except ProofError as exc:
        raise Fail(f"{what}: {exc.message}") from exc


def _state(what: str, root: bytes, key: bytes, value: bytes, proof_hex: Any, path: str) -> None:
    proof = hexbytes(proof_hex, path, max_size=64 * 1024)
    try:
        verify_proof(root, key, value, StateProof.from_wire(proof))
    except ProofError as exc:
        raise Fail(f"{what}: {exc.message}") from exc


@contextlib.contextmanager
def _failing(what: str) -> Iterator[None]:
    """Every failure inside becomes :class:`Fail` (a proof error passes as is): a verifier given any
    bytes answers with a reason, never a traceback."""
    try:
        yield
    except ProofError:
        raise
    except SilkportError as exc:
        raise Fail(exc.message) from exc
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError, RecursionError) as exc:
        raise Fail(f"malformed {what} ({type(exc).__name__}: {exc})") from exc


class Verifier:
    """Verifies ``silkport-proof/1`` documents against one genesis document (with caches)."""

    def __init__(self, genesis: GenesisDoc | dict[str, Any]) -> None:
        self.genesis = genesis if isinstance(genesis, GenesisDoc) else parse_genesis(genesis)
        self.chain_id = self.genesis.chain_id
        self.genesis_header = compute_genesis(self.genesis)
        self.checkpoint_interval = self.genesis.params.checkpoint_interval
        self.genesis_epoch = Epoch(0, self.genesis.validator_keys, tuple(v.name for v in self.genesis.validators))
        self._trust: dict[Any, list[Epoch]] = {}
        self._leaves: dict[tuple[int, int, bytes], tuple[str, bytes, SignedTx, Receipt]] = {}

    # --- entry points ------------------------------------------------------------------------------

    def verify_text(self, data: bytes | str) -> Verified:
        return self.verify(load_document(data))

    def verify(self, document: dict[str, Any]) -> Verified:
        """Check everything; return what was proved or raise :class:`Fail` at the first failed check."""
        with _failing("document"):
            return self._verify(document)

    def validator_set_at(self, document: dict[str, Any]) -> tuple[Header, tuple[bytes, ...]]:
        """A trust chain (``GET /v1/sync/validators``, ADR 0027): its certified header and the validator set
        that certified it, traced from this genesis through every change; raises :class:`Fail` otherwise."""
        with _failing("trust chain"):
            obj(document, "document", ("format", "chain_id", "certified", "validator_changes"))
            if document["format"] != FORMAT or document["chain_id"] != self.chain_id:
                raise Fail(f"not a {FORMAT} trust chain of chain {self.chain_id!r}")
            header, _certificate, epochs = self._trusted_head(document)
            return header, epochs[-1].keys

    def _verify(self, document: dict[str, Any]) -> Verified:
        kind = document.get("kind")
        if kind not in KINDS:
            raise Fail(f"kind must be one of {', '.join(KINDS)}")
        extra = {"anchor": ("anchor",), "asset": ("asset", "parents")}[kind]
        obj(document, "document", (*_COMMON, *extra), ("consistency",))
        if document["format"] != FORMAT:
            raise Fail(f"format must be {FORMAT!r}")
        if document["chain_id"] != self.chain_id:
            raise Fail(f"chain_id {str(document['chain_id'])[:64]!r} is not the genesis chain {self.chain_id!r}")
        certified, certificate, epochs = self._trusted_head(document)
        out = Verified(kind, self.chain_id, certified, certificate, epochs, {}, {})
        self._blocks(document, out)
        self._txs(document, out)
        if kind == "anchor":
            self._anchor(document["anchor"], out)
        else:
            self._asset(document, out)
        used_heights = {height for height, _ in out.txs}
        unused = sorted(set(out.blocks) - used_heights)
        if unused:
            raise Fail(f"blocks: block {unused[0]} is not used by any transaction proof")
        if "consistency" in document:
            out.details["consistency"] = self._consistency_section(document["consistency"], certified)
        return out

    # --- certified header and validator sets ---------------------------------------------------------

    def _trusted_head(self, document: dict[str, Any]) -> tuple[Header, CommitCertificate, list[Epoch]]:
        section = obj(document["certified"], "certified", ("header", "certificate", "genesis_proof"))
        header = header_from_json(section["header"], "certified.header")
        certificate = certificate_from_json(section["certificate"], "certified.certificate")
        genesis_path = hashes(section["genesis_proof"], "certified.genesis_proof")
        changes = array(document["validator_changes"], "validator_changes", 4096)
        key = (header.block_hash, certificate.encode(), tuple(genesis_path), repr(changes))
        cached = self._trust.get(key)
        if cached is not None:
            return header, certificate, cached
        if header.chain_id != self.chain_id:
            raise Fail(f"certified header at height {header.height}: chain_id {header.chain_id!r} is not {self.chain_id!r}")
        if header.height < 1:
            raise Fail("certified header: height must be at least 1")
        try:
            _inclusion(f"certified header at height {header.height}: genesis block inclusion in history_root",
                       merkle.leaf_hash(self.genesis_header.block_hash), 0, header.height, genesis_path,
                       header.history_root)
        except Fail as exc:
            raise Fail(f"the document is not from the chain of this genesis file: its certified header (height "
                       f"{header.height}) does not descend from genesis block {self.genesis_header.hash_hex[:16]}… "
                       f"— it comes from another genesis file or another network with chain id {self.chain_id!r} "
                       f"({exc.message})") from exc
        epochs = [self.genesis_epoch]
        for i, change in enumerate(changes):
            epochs.append(self._change(change, f"validator_changes[{i}]", epochs[-1], header))
        current = epochs[-1]
        if header.validators_hash != validators_hash(current.keys):
            raise Fail(f"certified header at height {header.height}: validators_hash does not name the validator set "
                       f"in effect (set from height {current.from_height}); a validator-set change is missing")
        if certificate.height != header.height:
            raise Fail(f"certificate is for height {certificate.height}, the header is at height {header.height}")
        try:
            certificate.verify(self.chain_id, current.keys, header.block_hash)
        except ProofError as exc:
            raise Fail(f"commit certificate of the certified header: {exc.message}") from exc
        if len(self._trust) > 1024:
            self._trust.clear()
        self._trust[key] = epochs
        return header, certificate, epochs

    def _change(self, change: Any, path: str, before: Epoch, final: Header) -> Epoch:
        fields = obj(change, path, ("header", "certificate", "history_proof", "validators", "state_proof"))
        header = header_from_json(fields["header"], f"{path}.header")
        where = f"validator-set change at height {header.height}"
        if header.chain_id != self.chain_id:
            raise Fail(f"{where}: chain_id {header.chain_id!r} is not {self.chain_id!r}")
        if header.height < max(1, before.from_height):
            raise Fail(f"{where}: changes must be listed in increasing height order")
        if header.height % self.checkpoint_interval:
            raise Fail(f"{where}: not a checkpoint height (interval {self.checkpoint_interval})")
        if header.height >= final.height:
            raise Fail(f"{where}: not below the certified height {final.height}")
        if header.validators_hash != validators_hash(before.keys):
            raise Fail(f"{where}: validators_hash does not name the set in effect (from height {before.from_height})")
        certificate = certificate_from_json(fields["certificate"], f"{path}.certificate")
        if certificate.height != header.height:
            raise Fail(f"{where}: the certificate is for height {certificate.height}")
        try:
            certificate.verify(self.chain_id, before.keys, header.block_hash)
        except ProofError as exc:
            raise Fail(f"{where}: commit certificate: {exc.message}") from exc
        _inclusion(f"{where}: inclusion in the history of the certified header",
                   merkle.leaf_hash(header.block_hash), header.height, final.height,
                   hashes(fields["history_proof"], f"{path}.history_proof"), final.history_root)
        keys, value = validators_from_json(fields["validators"], f"{path}.validators")
        _state(f"{where}: state proof of gov/validators", header.state_root, VALIDATORS_KEY, value,
               fields["state_proof"], f"{path}.state_proof")
        if keys == before.keys:
            raise Fail(f"{where}: the validator set did not change")
        names = tuple(entry["name"] for entry in fields["validators"])
        return Epoch(header.height + 1, keys, names)

    @staticmethod
    def epoch_at(epochs: list[Epoch], height: int) -> Epoch:
        current = epochs[0]
        for epoch in epochs:
            if epoch.from_height <= height:
                current = epoch
        return current

    # --- blocks and transactions ----------------------------------------------------------------------

    def _blocks(self, document: dict[str, Any], out: Verified) -> None:
        final = out.certified
        previous: Header | None = None
        for i, item in enumerate(array(document["blocks"], "blocks", 10_000)):
            path = f"blocks[{i}]"
            fields = obj(item, path, ("header", "history_proof"))
            header = header_from_json(fields["header"], f"{path}.header")
            where = f"block {header.height}"
            if previous is not None and header.height <= previous.height:
                raise Fail(f"{where}: blocks must be listed in increasing height order")
            if header.chain_id != self.chain_id:
                raise Fail(f"{where}: chain_id {header.chain_id!r} is not {self.chain_id!r}")
            if header.height > final.height or header.height < 1:
                raise Fail(f"{where}: outside 1..{final.height} (the certified height)")
            if header.height == final.height:
                if fields["history_proof"] is not None or header.block_hash != final.block_hash:
                    raise Fail(f"{where}: at the certified height it must be the certified header, without a history proof")
            else:
                _inclusion(f"{where}: inclusion in the history of the certified header at height {final.height}",
                           merkle.leaf_hash(header.block_hash), header.height, final.height,
                           hashes(fields["history_proof"], f"{path}.history_proof"), final.history_root)
            epoch = self.epoch_at(out.epochs, header.height)
            if header.validators_hash != validators_hash(epoch.keys):
                raise Fail(f"{where}: validators_hash does not name the validator set in effect at that height")
            if previous is not None and previous.height + 1 == header.height and header.prev_hash != previous.block_hash:
                raise Fail(f"{where}: prev_hash is not the hash of block {previous.height}")
            out.blocks[header.height] = header
            previous = header

    def _txs(self, document: dict[str, Any], out: Verified) -> None:
        last: tuple[int, int] | None = None
        for i, item in enumerate(array(document["txs"], "txs", 10_000)):
            path = f"txs[{i}]"
            fields = obj(item, path, ("height", "tx_index", "leaf", "proof"))
            height = integer(fields["height"], f"{path}.height")
            index = integer(fields["tx_index"], f"{path}.tx_index", 0, 1_000_000)
            where = f"transaction {index} of block {height}"
            if last is not None and (height, index) <= last:
                raise Fail(f"{where}: transactions must be listed in increasing (height, tx_index) order")
            last = (height, index)
            header = out.blocks.get(height)
            if header is None:
                raise Fail(f"{where}: block {height} is not in the proof")
            path_hashes = hashes(fields["proof"], f"{path}.proof")
            leaf_text = fields["leaf"]
            cache_key = (height, index, header.tx_root)
            cached = self._leaves.get(cache_key)
            if cached is not None and cached[0] == leaf_text:
                _inclusion(f"{where}: inclusion in tx_root", cached[1], index, _path_size(index, len(path_hashes)),
                           path_hashes, header.tx_root)
                out.txs[(height, index)] = (cached[2], cached[3])
                continue
            leaf = hexbytes(leaf_text, f"{path}.leaf", max_size=16 * 1024 * 1024)
            leaf_hash = merkle.leaf_hash(leaf)
            _inclusion(f"{where}: inclusion in tx_root", leaf_hash, index, _path_size(index, len(path_hashes)),
                       path_hashes, header.tx_root)
            wire = decode_canonical(leaf, f"{where}: leaf")
            if not isinstance(wire, tuple) or len(wire) != 2:
                raise Fail(f"{where}: the leaf is not [signed_tx, receipt]")
            tx, receipt = SignedTx.from_wire(wire[0]), Receipt.from_wire(wire[1])
            try:
                tx.verify_signatures(self.chain_id)
            except SilkportError as exc:
                raise Fail(f"{where}: {exc.message}") from exc
            if len(self._leaves) > 4096:
                self._leaves.clear()
            self._leaves[cache_key] = (leaf_text, leaf_hash, tx, receipt)
            out.txs[(height, index)] = (tx, receipt)

    # --- anchors ---------------------------------------------------------------------------------------

    def _anchor(self, section: Any, out: Verified) -> None:
        fields = obj(section, "anchor", ("hash", "height", "tx_index", "position", "batch_proof"))
        digest = hexbytes(fields["hash"], "anchor.hash", 32)
        height = integer(fields["height"], "anchor.height")
        index = integer(fields["tx_index"], "anchor.tx_index")
        position = integer(fields["position"], "anchor.position", 0, 1_000_000)
        out.subject = digest.hex()
        if set(out.txs) != {(height, index)}:
            raise Fail(f"anchor: the proof must hold exactly the transaction {index} of block {height}")
        tx, receipt = out.txs[(height, index)]
        where = f"anchor transaction {index} of block {height}"
        if (tx.body.contract, tx.body.method) != ("anchoring", "anchor") or not receipt.ok:
            raise Fail(f"{where}: not a successful anchoring.anchor transaction")
        batch = tx.body.args_dict().get("hashes")
        if not isinstance(batch, tuple) or position >= len(batch):
            raise Fail(f"{where}: position {position} is outside the batch")
        if batch[position] != digest:
            raise Fail(f"{where}: the hash at position {position} is not {digest.hex()[:16]}…")
        events = [e for e in receipt.events if (e.contract, e.name) == ("anchoring", "anchored")]
        if len(events) != 1:
            raise Fail(f"{where}: the receipt has no single anchored event")
        data = events[0].data_dict()
        root = data.get("root")
        if not isinstance(root, bytes) or data.get("size") != len(batch) or data.get("tx_index") != index:
            raise Fail(f"{where}: the anchored event does not describe this batch at this transaction index")
        if position in data.get("repeated", ()) or position in data.get("known", ()):
            raise Fail(f"{where}: position {position} is not the first anchoring of {digest.hex()[:16]}…"
                       " (the certified event lists it as repeated or already known)")
        _inclusion(f"{where}: batch inclusion of position {position} in the batch root", merkle.leaf_hash(digest),
                   position, len(batch), hashes(fields["batch_proof"], "anchor.batch_proof"), root)
        out.details.update(height=height, tx_index=index, position=position, size=len(batch),
                           label=data.get("label", ""), timestamp_ms=out.blocks[height].timestamp_ms,
                           root=root.hex(), registrar=tx.body.sender.hex())

    # --- assets ----------------------------------------------------------------------------------------

    def _record(self, section: Any, path: str, asset_id: str | None, out: Verified) -> tuple[str, dict[str, Any]]:
        fields = obj(section, path, ("id", "record", "state_proof"))
        subject = text(fields["id"], f"{path}.id", 64)
        if asset_id is not None and subject != asset_id:
            raise Fail(f"{path}: id {subject[:16]}… is not {asset_id[:16]}…")
        value = hexbytes(fields["record"], f"{path}.record", max_size=256 * 1024)
        _state(f"{path}: state proof of asset {subject[:16]}… at the certified height {out.certified.height}",
               out.certified.state_root, ASSET_KEY + subject.encode(), value, fields["state_proof"],
               f"{path}.state_proof")
        try:
            record = codec.dict_from_pairs(decode_canonical(value, f"{path}.record"))
        except SilkportError as exc:
            raise Fail(f"{path}.record: {exc.message}") from exc
        if record.get("id") != subject:
            raise Fail(f"{path}.record: the record is not asset {subject[:16]}…")
        return subject, record

    def _event_at(self, ref: EventRef, subject: str, out: Verified, used: set[tuple[int, int]]) -> Event:
        where = f"event on asset {subject[:16]}… at height {ref.height}, tx {ref.tx_index}"
        found = out.txs.get((ref.height, ref.tx_index))
        if found is None:
            raise Fail(f"{where}: its transaction is not in the proof (the history is incomplete)")
        used.add((ref.height, ref.tx_index))
        tx, receipt = found
        if not receipt.ok:
            raise Fail(f"{where}: the transaction failed")
        events = [e for e in receipt.events if e.subject == subject]
        if len(events) != 1:
            raise Fail(f"{where}: the transaction has {len(events)} events on the asset, not one")
        return events[0]

    def _asset(self, document: dict[str, Any], out: Verified) -> None:
        asset_id, record = self._record(document["asset"], "asset", None, out)
        out.subject = asset_id
        used: set[tuple[int, int]] = set()
        registered = EventRef.from_wire(record["registered"])
        ref: EventRef | None = EventRef.from_wire(record["last_event"])
        while ref is not None:
            event = self._event_at(ref, asset_id, out, used)
            out.events.append((ref, event))
            prev = event.prev
            if prev is not None and (prev.height, prev.tx_index) >= (ref.height, ref.tx_index):
                raise Fail(f"event at height {ref.height}, tx {ref.tx_index}: prev does not point back in time")
            ref = prev
        first_ref, first = out.events[-1]
        if first_ref != registered or (first.contract, first.name) != ("registry", "registered"):
            raise Fail(f"asset {asset_id[:16]}…: the event chain does not end at its registration")
        parents = list(record.get("parents") or ())
        if list(first.data_dict().get("parents") or ()) != parents:
            raise Fail(f"asset {asset_id[:16]}…: the registration's parents differ from the record's")
        sections = array(document["parents"], "parents", 32)
        if len(sections) != len(parents):
            raise Fail(f"parents: {len(sections)} parent proofs for {len(parents)} parents")
        lineage = []
        for i, (parent_id, section) in enumerate(zip(parents, sections, strict=True)):
            _, parent = self._record(section, f"parents[{i}]", parent_id, out)
            parent_ref = EventRef.from_wire(parent["registered"])
            event = self._event_at(parent_ref, parent_id, out, used)
            if (event.contract, event.name, event.prev) != ("registry", "registered", None):
                raise Fail(f"parents[{i}]: the parent's registration event is not at its registered reference")
            lineage.append((parent_id, parent_ref))
        unused = sorted(set(out.txs) - used)
        if unused:
            raise Fail(f"txs: transaction {unused[0][1]} of block {unused[0][0]} is not part of the history")
        delivered = check_deliveries(record, out.events, out.txs, lambda h: self.epoch_at(out.epochs, h).keys)
        out.details.update(record=record, lineage=lineage, **delivered)

    # --- history consistency -----------------------------------------------------------------------------

    def _consistency_section(self, section: Any, certified: Header) -> dict[str, Any]:
        """An older header of the same chain: in the certified history, and its history a prefix of it."""
        fields = obj(section, "consistency", ("from_header", "proof", "head_proof"))
        old = header_from_json(fields["from_header"], "consistency.from_header")
        where = f"history consistency from height {old.height} to {certified.height}"
        if old.chain_id != self.chain_id or not 1 <= old.height < certified.height:
            raise Fail(f"{where}: the older header must be of this chain and below the certified height")
        try:
            merkle.verify_consistency(old.height, certified.height, hashes(fields["proof"], "consistency.proof"),
                                      old.history_root, certified.history_root)
        except ProofError as exc:
            raise Fail(f"{where}: {exc.message}") from exc
        _inclusion(f"{where}: block {old.height} in the certified history", merkle.leaf_hash(old.block_hash),
                   old.height, certified.height, hashes(fields["head_proof"], "consistency.head_proof"),
                   certified.history_root)
        return {"from_header": old}

    def verify_extends(self, old: Verified, new: Verified) -> str:
        """The newer document's history extends the older one's (RFC 6962 consistency, DESIGN.md §4)."""
        a, b = old.certified, new.certified
        if a.height > b.height:
            raise Fail(f"the first receipt is certified at height {a.height}, after the second ({b.height})")
        if a.height == b.height:
            if a.block_hash != b.block_hash:
                raise Fail(f"both receipts are certified at height {a.height} but by different blocks (a fork)")
            return f"consistent: both receipts are certified by the same block at height {a.height}"
        section = new.details.get("consistency")
        if section is None or section["from_header"].height != a.height:
            raise Fail(f"the second receipt carries no consistency proof from height {a.height}; "
                       f"request it with `silkport anchor receipt HASH --since {a.height}`")
        if section["from_header"].block_hash != a.block_hash:
            raise Fail(f"history consistency: block {a.height} of the second receipt's history is not the first "
                       "receipt's certified block (a fork)")
        return f"consistent: the history at height {b.height} extends the history at height {a.height}"


def verify_document(genesis: GenesisDoc | dict[str, Any], data: bytes | str) -> Verified:
    """One-shot convenience: :class:`Verifier` for ``genesis`` applied to ``data``."""
    return Verifier(genesis).verify_text(data)


SummaryFn = Callable[[Verified], str]
