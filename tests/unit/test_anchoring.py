"""The anchoring contract (DESIGN.md §7, ADR 0008): batches, the per-hash index, duplicates, limits."""

from __future__ import annotations

from typing import Any

from chain import codec, merkle
from chain.contracts.anchoring import ANCHOR_COUNT, batch_root, decode_location, index_key
from testkit import contracts as testkit
from testkit.contracts import OUTSIDER, REGISTRAR, TestChain


def chain(max_batch: int = 10_000) -> TestChain:
    document: dict[str, Any] = testkit.genesis_document(roles=[(REGISTRAR, "registrar")])
    document["params"] = {"max_anchor_batch": max_batch, "max_tx_bytes": 1 << 20}
    return TestChain(document)


def h(n: int) -> bytes:
    return codec.sha256(b"anchor-test/%d" % n)


def location(c: TestChain, digest: bytes) -> tuple[int, int, int] | None:
    """The node-local index entry of ``digest`` (ADR 0009)."""
    raw = c.index.get(index_key(digest))
    return None if raw is None else decode_location(raw)


def test_anchor_indexes_every_hash_and_records_the_batch_root() -> None:
    c = chain()
    hashes = [h(i) for i in range(5)]
    receipt = c.submit("anchoring", "anchor", {"hashes": hashes, "label": "manifests"}, [REGISTRAR])
    assert receipt.ok
    (event,) = receipt.events
    data = event.data_dict()
    assert (event.contract, event.name) == ("anchoring", "anchored")
    assert data["root"] == merkle.root([merkle.leaf_hash(x) for x in hashes]) == batch_root(hashes)
    assert (data["size"], data["anchored"], data["repeated"], data["known"], data["label"]) == (5, 5, (), (), "manifests")
    assert data["tx_index"] == 0
    for position, digest in enumerate(hashes):
        assert location(c, digest) == (c.height, 0, position)
    assert c.value(ANCHOR_COUNT) == 5


def test_duplicates_are_reported_not_counted_and_the_index_keeps_the_first_anchoring() -> None:
    c = chain()
    assert c.submit("anchoring", "anchor", {"hashes": [h(1), h(2)]}, [REGISTRAR]).ok
    first_height = c.height
    batch = [h(3), h(1), h(3), h(4), h(2), h(3)]
    receipt = c.submit("anchoring", "anchor", {"hashes": batch}, [REGISTRAR])
    data = receipt.events[0].data_dict()
    assert data["repeated"] == (2, 5)  # later occurrences inside the batch
    assert data["known"] == (1, 4)  # anchored by the earlier transaction
    assert data["anchored"] == 2 and data["size"] == 6
    assert data["root"] == batch_root(batch)  # the root covers the batch as submitted
    assert location(c, h(1)) == (first_height, 0, 0)
    assert location(c, h(3)) == (c.height, 0, 0)
    assert location(c, h(4)) == (c.height, 0, 3)
    assert c.value(ANCHOR_COUNT) == 4


def test_refusals() -> None:
    c = chain(max_batch=3)
    assert c.submit("anchoring", "anchor", {"hashes": [h(1)]}, [OUTSIDER]).error_code == "missing_role"
    assert c.submit("anchoring", "anchor", {"hashes": []}, [REGISTRAR]).error_code == "bad_args"
    assert c.submit("anchoring", "anchor", {"hashes": [h(i) for i in range(4)]}, [REGISTRAR]).error_code == "oversize"
    assert c.submit("anchoring", "anchor", {"hashes": [b"short"]}, [REGISTRAR]).error_code == "bad_length"
    assert c.submit("anchoring", "anchor", {"hashes": [h(1)], "label": "x" * 129}, [REGISTRAR]).error_code == "oversize"
    assert c.submit("anchoring", "anchor", {"hashes": [h(1)], "extra": 1}, [REGISTRAR]).error_code == "unknown_argument"
    assert c.value(ANCHOR_COUNT) is None  # failed transactions change nothing but the nonce


def test_a_full_batch_of_ten_thousand() -> None:
    c = chain()
    hashes = [h(i) for i in range(10_000)]
    receipt = c.submit("anchoring", "anchor", {"hashes": hashes}, [REGISTRAR])
    assert receipt.ok and receipt.events[0].data_dict()["anchored"] == 10_000
    assert c.submit("anchoring", "anchor", {"hashes": [*hashes, h(10_001)]}, [REGISTRAR]).error_code == "oversize"


def test_the_index_is_outside_the_state_tree_and_failed_batches_write_none() -> None:
    c = chain(max_batch=3)
    assert c.submit("anchoring", "anchor", {"hashes": [h(1), h(2)]}, [REGISTRAR]).ok
    assert not any(key.startswith(b"anchor/") and key != ANCHOR_COUNT for key in c.last_changes)
    assert c.submit("anchoring", "anchor", {"hashes": [h(5), h(6), h(7), h(8)]}, [REGISTRAR]).error_code == "oversize"
    assert location(c, h(5)) is None


def test_two_batches_in_one_block_see_each_other() -> None:
    c = chain()
    first = c.tx("anchoring", "anchor", {"hashes": [h(1), h(2)]}, [REGISTRAR])
    second = c.tx("anchoring", "anchor", {"hashes": [h(2), h(3)]}, [REGISTRAR])
    one, two = c.block([first, second])
    assert one.events[0].data_dict()["known"] == ()
    data = two.events[0].data_dict()
    assert (data["known"], data["anchored"], data["tx_index"]) == ((0,), 1, 1)
    assert location(c, h(2)) == (c.height, 0, 1)
    assert location(c, h(3)) == (c.height, 1, 1)
