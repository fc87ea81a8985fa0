"""Anchor receipts and provenance bundles from a real ledger verify; forgeries and tampering fail (ADR 0008)."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from test_proofs_support import REGISTRAR, VALIDATORS, Port, random_hashes

from chain import merkle, statekeys
from chain.api import make_app
from chain.crypto import KeyPair
from chain.proofs.build import MerkleTree, ProofBuilder
from chain.proofs.document import Fail, canonical_json
from chain.proofs.verify import ASSET_KEY, VALIDATORS_KEY, Verifier, _path_size
from chain.types import commit_signing_bytes
from testkit import contracts as testkit


def reverify(port: Port, document: dict[str, Any]) -> str:
    """Verify with a fresh verifier; return the summary or raise Fail."""
    return Verifier(port.document).verify_text(canonical_json(document)).summary()


def fails(port: Port, document: dict[str, Any], *words: str) -> str:
    with pytest.raises(Fail) as info:
        Verifier(port.document).verify_text(canonical_json(document))
    for word in words:
        assert word in info.value.message, info.value.message
    return info.value.message


@pytest.fixture(scope="module")
def anchored() -> tuple[Port, list[bytes], dict[str, Any]]:
    port = Port()
    hashes = random_hashes(37)
    port.anchor(hashes, "manifests")
    port.blocks(3)
    return port, hashes, ProofBuilder(port.node.ledger).anchor_receipt(hashes[7])


def test_state_keys_match_the_node() -> None:
    assert VALIDATORS_KEY == statekeys.VALIDATORS
    assert ASSET_KEY + b"x" == statekeys.asset_key("x")


def test_anchor_receipt_verifies(anchored: tuple[Port, list[bytes], dict[str, Any]]) -> None:
    port, hashes, receipt = anchored
    assert receipt["format"] == "silkport-proof/1" and receipt["kind"] == "anchor"
    summary = reverify(port, receipt)
    assert summary.startswith(f"valid: hash {hashes[7].hex()} anchored at height 1")
    assert "position 7 of 37" in summary and "'manifests'" in summary
    text = canonical_json(receipt)
    assert text == json.dumps(receipt, indent=1, sort_keys=True, ensure_ascii=True) + "\n"


def test_receipt_certified_by_the_anchoring_block_itself() -> None:
    port = Port()
    port.blocks(1)
    digest = random_hashes(1)[0]
    port.anchor([digest])
    receipt = ProofBuilder(port.node.ledger).anchor_receipt(digest)
    assert receipt["blocks"][0]["history_proof"] is None
    assert "anchored at height 2" in reverify(port, receipt)


def test_unknown_hash_is_not_found(anchored: tuple[Port, list[bytes], dict[str, Any]]) -> None:
    from chain.errors import NotFoundError

    with pytest.raises(NotFoundError):
        ProofBuilder(anchored[0].node.ledger).anchor_receipt(bytes(32))


def test_duplicate_receipt_points_at_the_first_anchoring() -> None:
    port = Port()
    first, second = random_hashes(2)
    port.anchor([first])
    port.anchor([second, first, second])
    receipt = ProofBuilder(port.node.ledger).anchor_receipt(first)
    assert (receipt["anchor"]["height"], receipt["anchor"]["position"]) == (1, 0)
    assert ProofBuilder(port.node.ledger).anchor_receipt(second)["anchor"]["position"] == 0
    reverify(port, receipt)


def test_a_receipt_moved_to_a_later_occurrence_fails() -> None:
    """The index is node-local (ADR 0009): the certified ``anchored`` event is what proves a position is
    the first anchoring, so pointing a receipt at a repeated or already-known occurrence must fail."""
    port = Port()
    first, second = random_hashes(2)
    port.anchor([first])
    port.anchor([second, first, second])
    batch = MerkleTree([merkle.leaf_hash(x) for x in (second, first, second)])
    for digest, position in ((second, 2), (first, 1)):
        receipt = ProofBuilder(port.node.ledger).anchor_receipt(second)
        receipt["anchor"].update(hash=digest.hex(), position=position,
                                 batch_proof=[x.hex() for x in batch.path(position, 3)])
        fails(port, receipt, f"position {position} is not the first anchoring")


def test_a_right_edge_transaction_cannot_claim_another_tx_index() -> None:
    """Transaction 2 of 3 has the same tx_root path as transaction 1 of a 2-leaf tree (ADR 0008 §5);
    the anchored event names its own tx_index, so the false location is caught."""
    port = Port()
    batches = [random_hashes(1) for _ in range(3)]
    for batch in batches:
        port.tx("anchoring", "anchor", {"hashes": batch}, [REGISTRAR])
    port.blocks(1)
    receipt = ProofBuilder(port.node.ledger).anchor_receipt(batches[2][0])
    assert receipt["anchor"]["tx_index"] == 2 and len(receipt["txs"][0]["proof"]) == 1
    reverify(port, receipt)
    receipt["anchor"]["tx_index"] = receipt["txs"][0]["tx_index"] = 1
    fails(port, receipt, "not describe this batch at this transaction index")


def test_provenance_bundle_verifies_complete_history_and_lineage() -> None:
    port = Port()
    parent = port.register(b"parent data")
    child = port.register(b"derived data", parents=[parent])
    port.history(child)
    port.blocks(2)
    bundle = ProofBuilder(port.node.ledger).asset_bundle(child)
    result = Verifier(port.document).verify_text(canonical_json(bundle))
    names = [event.name for _, event in result.events]
    assert names == ["transferred", "reclassified", "released", "pledged", "appraised", "registered"]
    assert result.details["lineage"][0][0] == parent
    # the parent's own bundle carries the "derived" event of the child's registration
    parent_bundle = ProofBuilder(port.node.ledger).asset_bundle(parent)
    assert [e.name for _, e in Verifier(port.document).verify_text(canonical_json(parent_bundle)).events] == [
        "derived", "registered"]


def _drop_event(bundle: dict[str, Any], keep: int) -> dict[str, Any]:
    forged = copy.deepcopy(bundle)
    del forged["txs"][keep]
    return forged


def test_incomplete_history_fails() -> None:
    port = Port()
    asset = port.register(b"some data")
    port.history(asset)
    bundle = ProofBuilder(port.node.ledger).asset_bundle(asset)
    message = fails(port, _drop_event(bundle, 2), "not in the proof")
    assert "incomplete" in message


# --- forged certificates ------------------------------------------------------------------------------------


def _certificate(port: Port, header: dict[str, Any], signers: list[tuple[int, KeyPair]]) -> dict[str, Any]:
    message = commit_signing_bytes(port.node.chain_id, header["height"], 0, bytes.fromhex(header["hash"]))
    return {"height": header["height"], "view": 0, "block_hash": header["hash"],
            "signatures": [[index, key.sign(message).hex()] for index, key in signers]}


def test_forged_certificates_fail(anchored: tuple[Port, list[bytes], dict[str, Any]]) -> None:
    port, _, receipt = anchored
    header = receipt["certified"]["header"]
    outsiders = [KeyPair.generate() for _ in range(3)]
    cases = {
        "outside the set": ([(0, outsiders[0]), (1, outsiders[1]), (2, outsiders[2])], "is invalid"),
        "duplicate signers": ([(0, VALIDATORS[0]), (0, VALIDATORS[0]), (1, VALIDATORS[1])], "counted twice"),
        "too few": ([(0, VALIDATORS[0]), (1, VALIDATORS[1])], "quorum"),
        "index out of range": ([(0, VALIDATORS[0]), (1, VALIDATORS[1]), (9, VALIDATORS[2])], "out of range"),
    }
    assert reverify(port, {**receipt, "certified": {**receipt["certified"], "certificate": _certificate(
        port, header, [(0, VALIDATORS[0]), (1, VALIDATORS[1]), (3, VALIDATORS[3])])}})
    for name, (signers, words) in cases.items():
        forged = {**receipt, "certified": {**receipt["certified"], "certificate": _certificate(port, header, signers)}}
        assert "commit certificate" in fails(port, forged, words), name


def test_a_chain_certified_by_other_validators_fails() -> None:
    impostors = [KeyPair.generate() for _ in range(4)]
    port = Port()
    other = Port()
    other.node.keys.update({kp.public_key: kp for kp in impostors})
    digest = random_hashes(1)[0]
    other.anchor([digest])
    receipt = ProofBuilder(other.node.ledger).anchor_receipt(digest)
    assert reverify(other, receipt)
    # the same receipt against a genesis with other validators: the genesis block is not in its history
    document = copy.deepcopy(port.document)
    document["validators"][0]["public_key"] = impostors[0].public_hex
    with pytest.raises(Fail, match="genesis block inclusion"):
        Verifier(document).verify_text(canonical_json(receipt))


# --- validator-set changes ------------------------------------------------------------------------------------

NEW_VALIDATOR = testkit.key("validator-4")
ROTATED = testkit.key("validator-1-rotated")


@pytest.fixture(scope="module")
def changed() -> tuple[Port, dict[str, Any], dict[str, Any], str]:
    port = Port(validators=[*VALIDATORS, NEW_VALIDATOR, ROTATED])
    early = random_hashes(1)[0]
    port.anchor([early])  # height 1, certified by the genesis set
    port.governance("add_validator", {"public_key": NEW_VALIDATOR.public_key, "name": "v4", "organisation": "port",
                                      "jurisdiction": "CN"})  # height 2
    asset = port.register(b"asset across epochs")  # height 3
    port.blocks(2)  # checkpoint 4: the 5-validator set certifies from height 5
    port.governance("rotate_validator_key", {"old_key": VALIDATORS[1].public_key, "new_key": ROTATED.public_key})
    port.blocks(3)  # checkpoint 8: rotated key from height 9
    port.history(asset)
    late = random_hashes(1)[0]
    port.anchor([late])
    port.blocks(1)
    builder = ProofBuilder(port.node.ledger)
    return port, builder.anchor_receipt(early), builder.asset_bundle(asset), late.hex()


def test_receipts_and_bundles_verify_across_validator_changes(
    changed: tuple[Port, dict[str, Any], dict[str, Any], str],
) -> None:
    port, receipt, bundle, _ = changed
    assert [c["header"]["height"] for c in receipt["validator_changes"]] == [4, 8]
    assert receipt["validator_changes"][1]["validators"][1]["public_key"] == ROTATED.public_hex
    assert "2 validator-set change(s)" in reverify(port, receipt)
    result = Verifier(port.document).verify_text(canonical_json(bundle))
    assert [e.from_height for e in result.epochs] == [0, 5, 9]
    assert len(result.epochs[-1].keys) == 5


def test_omitted_or_forged_validator_changes_fail(changed: tuple[Port, dict[str, Any], dict[str, Any], str]) -> None:
    port, receipt, _, _ = changed
    for keep in ([], [receipt["validator_changes"][0]], [receipt["validator_changes"][1]]):
        fails(port, {**receipt, "validator_changes": keep}, "validators_hash")
    change = copy.deepcopy(receipt["validator_changes"][1])
    change["validators"][1]["public_key"] = KeyPair.generate().public_hex
    fails(port, {**receipt, "validator_changes": [receipt["validator_changes"][0], change]}, "gov/validators")


# --- an independent RFC 6962 verifier (RFC 9162 §2.1.3.2, written from the RFC; no chain.merkle) --------------


def rfc_leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def rfc_verify(leaf: bytes, index: int, size: int, path: list[bytes], root: bytes) -> bool:
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def test_merkle_paths_verify_with_an_independent_rfc6962_verifier(
    changed: tuple[Port, dict[str, Any], dict[str, Any], str],
) -> None:
    port, receipt, bundle, late = changed
    store = port.node.ledger.store
    for document in (receipt, bundle, ProofBuilder(port.node.ledger).anchor_receipt(bytes.fromhex(late))):
        head = document["certified"]["header"]
        size, history_root = head["height"], bytes.fromhex(head["history_root"])
        unhex = lambda items: [bytes.fromhex(x) for x in items]  # noqa: E731
        genesis = bytes.fromhex(Verifier(port.document).genesis_header.hash_hex)
        assert rfc_verify(rfc_leaf(genesis), 0, size, unhex(document["certified"]["genesis_proof"]), history_root)
        for item in [*document["blocks"], *document["validator_changes"]]:
            if item["history_proof"] is not None:
                leaf = rfc_leaf(bytes.fromhex(item["header"]["hash"]))
                assert rfc_verify(leaf, item["header"]["height"], size, unhex(item["history_proof"]), history_root)
        headers = {b["header"]["height"]: b["header"] for b in document["blocks"]}
        for tx in document["txs"]:
            count = len(store.tx_leaves(tx["height"]))
            assert rfc_verify(rfc_leaf(bytes.fromhex(tx["leaf"])), tx["tx_index"], count, unhex(tx["proof"]),
                              bytes.fromhex(headers[tx["height"]]["tx_root"]))
        if document["kind"] == "anchor":
            anchor = document["anchor"]
            batch = store.tx(store.body(anchor["height"])[anchor["tx_index"]][0].tx_hash)[0].body.args_dict()["hashes"]
            root = MerkleTree([rfc_leaf(h) for h in batch]).root(0, len(batch))
            assert rfc_verify(rfc_leaf(bytes.fromhex(anchor["hash"])), anchor["position"], len(batch),
                              unhex(anchor["batch_proof"]), root)


def test_path_size_gives_the_paths_of_the_real_size() -> None:
    for size in range(1, 70):
        tree = MerkleTree([hashlib.sha256(bytes([i])).digest() for i in range(size)])
        for index in range(size):
            path = tree.path(index, size)
            assert rfc_verify(tree.leaves[index], index, _path_size(index, len(path)), path, tree.root(0, size))


# --- history consistency ------------------------------------------------------------------------------------------


def test_newer_receipt_extends_the_older_one(anchored: tuple[Port, list[bytes], dict[str, Any]]) -> None:
    port = Port()
    digest = random_hashes(1)[0]
    port.anchor([digest])
    port.blocks(2)
    builder = ProofBuilder(port.node.ledger)
    old = builder.anchor_receipt(digest)
    port.blocks(5)
    new = builder.anchor_receipt(digest, since=old["certified"]["header"]["height"])
    verifier = Verifier(port.document)
    a, b = verifier.verify_text(canonical_json(old)), verifier.verify_text(canonical_json(new))
    assert verifier.verify_extends(a, b).startswith("consistent: the history at height 8 extends")
    with pytest.raises(Fail, match="after the second"):
        verifier.verify_extends(b, a)
    plain = verifier.verify_text(canonical_json(builder.anchor_receipt(digest)))
    with pytest.raises(Fail, match="no consistency proof"):
        verifier.verify_extends(a, plain)
    tampered = copy.deepcopy(new)
    tampered["consistency"]["proof"][0] = "00" * 32
    with pytest.raises(Fail, match="consistency"):
        verifier.verify_text(canonical_json(tampered))


# --- the REST API -----------------------------------------------------------------------------------------------


def test_api_serves_canonical_receipts_bundles_and_consistency() -> None:
    port = Port()
    digest = random_hashes(1)[0]
    port.anchor([digest])
    asset = port.register(b"api asset")
    port.blocks(2)

    async def main() -> None:
        async with TestClient(TestServer(make_app(port.node, rate_limit=None))) as client:
            response = await client.get(f"/v1/anchors/{digest.hex()}/receipt")
            assert response.status == 200
            assert "anchored at height 1" in Verifier(port.document).verify_text(await response.text()).summary()
            response = await client.get(f"/v1/assets/{asset}/proof?since=1")
            assert response.status == 200
            Verifier(port.document).verify_text(await response.text())
            response = await client.get("/v1/history/consistency?from=2&to=4")
            body = await response.json()
            assert response.status == 200 and body["from"] == 2 and len(body["proof"]) >= 1
            for url, status in ((f"/v1/anchors/{'00' * 32}/receipt", 404), ("/v1/anchors/XYZ/receipt", 400),
                                (f"/v1/assets/{'ab' * 32}/proof", 404), ("/v1/history/consistency?from=4&to=2", 400),
                                ("/v1/history/consistency?from=1", 400), (f"/v1/assets/{asset}/proof?since=0", 400)):
                response = await client.get(url)
                assert response.status == status, url
                assert (await response.json())["code"]
            paths = (await (await client.get("/openapi.json")).json())["paths"]
            assert "/v1/anchors/{hash}/receipt" in paths and "/v1/history/consistency" in paths

    asyncio.run(main())


def test_proofs_and_history_are_built_off_the_event_loop_with_a_reader_of_their_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ADR 0011: heavy reads run on the app's thread pool, on a state tree that shares no cache with
    block execution (whose tree the loop thread mutates)."""
    import threading

    from chain.proofs.build import ProofBuilder

    port = Port()
    digest = random_hashes(1)[0]
    port.anchor([digest])
    asset = port.register(b"thread asset")
    port.blocks(1)
    threads: list[str] = []
    trees: list[object] = []
    original = ProofBuilder.anchor_receipt

    def recording(self: ProofBuilder, *args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        trees.append(self.tree)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ProofBuilder, "anchor_receipt", recording)

    async def main() -> None:
        async with TestClient(TestServer(make_app(port.node, rate_limit=None))) as client:
            assert (await client.get(f"/v1/anchors/{digest.hex()}/receipt")).status == 200
            history = await client.get(f"/v1/assets/{asset}/history")
            assert history.status == 200 and (await history.json())["events"]

    asyncio.run(main())
    assert threads and all(name.startswith("api-heavy") for name in threads), threads
    assert trees and all(tree is not port.node.ledger.tree for tree in trees)


# --- every single-character change fails -------------------------------------------------------------------------


def _replacement(char: str) -> str:
    hexdigits = "0123456789abcdef"
    if char in hexdigits:
        return hexdigits[(hexdigits.index(char) + 1) % 16]
    if char in " \n":
        return "\t"
    return "a" if char != "a" else "b"


def test_every_single_character_change_of_a_small_receipt_fails(
    changed: tuple[Port, dict[str, Any], dict[str, Any], str],
) -> None:
    """Exhaustive: a receipt across two validator-set changes, every character of it changed in turn."""
    port, receipt, _, _ = changed
    text = canonical_json(receipt)
    verifier = Verifier(port.document)  # shared: its caches must never accept a changed document
    verifier.verify_text(text)
    accepted = []
    for position, char in enumerate(text):
        mutated = text[:position] + _replacement(char) + text[position + 1:]
        try:
            verifier.verify_text(mutated)
        except Fail:
            continue
        accepted.append(position)
    assert accepted == [], [text[max(0, p - 40):p + 10] for p in accepted[:3]]
    assert len(text) > 10_000
