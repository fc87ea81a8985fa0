"""When the valve counts a delivery as complete and the node's signed ``delivered`` (ADR 0022).

The tracker alone (coverage, resumes, cuts, keys kept apart, the bound), then the real egress route on
a LocalNode: a full fetch commits one ``crossborder.delivered`` signed by the node's validator key;
a resumed fetch counts once its runs cover every chunk; a cut stream, a refusal and another key's
partial run record nothing.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_api_egress import DATA, SUMMARY, Valve

from chain import codec
from chain.api import routes_data
from chain.client import ApiError
from chain.crossborder import transfer_queries
from chain.crossborder.contract import MAX_DELIVERIES
from chain.dataplane import fetch
from chain.dataplane.delivery import Delivery, DeliverySigner, DeliveryTracker
from chain.errors import NotPermittedError
from chain.proofs.build import ProofBuilder
from chain.proofs.document import Fail, canonical_json
from chain.proofs.transfers import check_deliveries
from chain.proofs.verify import Verifier
from chain.types import Event, EventRef, make_tx
from testkit import contracts as tk

ROOT, KEY, OTHER = b"\1" * 32, b"\2" * 32, b"\3" * 32
NODE_KEY = tk.key("validator-0")


def test_one_full_run_with_its_final_frame_completes_a_delivery() -> None:
    tracker = DeliveryTracker()
    assert tracker.record("t", KEY, ROOT, 0, 5, 5, finished=True)
    assert len(tracker) == 0  # coverage starts over: a re-fetch is another delivery
    assert not tracker.record("t", KEY, ROOT, 0, 4, 5, finished=False)


def test_resumed_runs_complete_when_they_cover_every_chunk() -> None:
    tracker = DeliveryTracker()
    assert not tracker.record("t", KEY, ROOT, 0, 3, 5, finished=False)  # cut after chunk 2
    assert not tracker.record("t", OTHER, ROOT, 3, 5, 5, finished=True)  # another key's tail does not count
    assert not tracker.record("t", KEY, ROOT, 0, 0, 5, finished=False)  # a refused run adds nothing
    assert tracker.record("t", KEY, ROOT, 3, 5, 5, finished=True)


def test_a_tail_alone_or_a_cut_last_run_is_not_a_delivery() -> None:
    tracker = DeliveryTracker()
    assert not tracker.record("t", KEY, ROOT, 2, 5, 5, finished=True)  # chunks 0 and 1 never sent
    assert not tracker.record("t", KEY, ROOT, 0, 5, 5, finished=False)  # all chunks but no final frame
    assert tracker.record("t", KEY, ROOT, 4, 5, 5, finished=True)


def test_the_tracker_is_bounded() -> None:
    tracker = DeliveryTracker(limit=8)
    for n in range(100):
        tracker.record(f"t{n}", KEY, ROOT, 0, 1, 5, finished=False)
    assert len(tracker) == 8


def test_the_signer_uses_increasing_nonces_above_the_committed_one() -> None:
    submitted = []
    committed = {b"": 0}
    signer = DeliverySigner(NODE_KEY, tk.CHAIN_ID, lambda key: codec.encode(7) if key.startswith(b"nonce") else None,
                            submitted.append, clock_ms=lambda: committed[b""])
    delivery = Delivery("ab" * 32, ROOT, 10, KEY)
    signer(delivery)
    signer(delivery)
    committed[b""] = 1_000
    signer(delivery)
    assert [tx.body.nonce for tx in submitted] == [8, 9, 1_000]
    assert submitted[0].body.method == "delivered" and submitted[0].body.signer_pubkeys == (NODE_KEY.public_key,)


def test_no_transaction_once_the_transfer_has_its_maximum_of_deliveries() -> None:
    submitted = []
    full = codec.encode(codec.pairs_from_dict({"id": "ab" * 32, "deliveries": MAX_DELIVERIES}))
    signer = DeliverySigner(NODE_KEY, tk.CHAIN_ID, lambda key: full if key.startswith(b"xfer") else None,
                            submitted.append)
    assert signer(Delivery("ab" * 32, ROOT, 10, KEY)) is None and submitted == []


def test_a_refused_submission_is_logged_not_raised() -> None:
    def refuse(tx: object) -> str:
        raise NotPermittedError("no", code="not_validator")

    assert DeliverySigner(NODE_KEY, tk.CHAIN_ID, lambda key: None, refuse)(Delivery("ab" * 32, ROOT, 1, KEY)) is None


# --- through the egress route ------------------------------------------------------------------------


@pytest.fixture
def valve(tmp_path: Path) -> Iterator[Valve]:
    running = Valve(tmp_path / "node")
    plane = running.runner.app[routes_data.DATA]
    plane.announce = DeliverySigner(NODE_KEY, running.node.chain_id, running.node.ledger.state_get,
                                    running.node.submit_tx)
    try:
        yield running
    finally:
        running.close()


def _deliveries(valve: Valve, transfer_id: str, expected: int) -> list[dict[str, object]]:
    """The committed deliveries once ``expected`` are there (the route submits after the client's last
    byte, so give it a moment), or what there is after 5 s."""
    deadline = time.monotonic() + 5
    while True:
        valve.node.produce_block()
        record = transfer_queries.transfer(valve.node.ledger.state_get, transfer_id)
        assert record is not None
        found = [step for step in record["history"] if step["action"] == "delivered"]
        if len(found) >= expected or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_a_full_fetch_commits_one_delivery_signed_by_the_node(valve: Valve, tmp_path: Path) -> None:
    fetch.fetch(valve.client, valve.released, tmp_path / "got.bin", tk.FOREIGN)
    [delivery] = _deliveries(valve, valve.released, 1)
    assert delivery["by"] == NODE_KEY.public_hex and delivery["chunk_root"] == SUMMARY.chunk_root.hex()
    assert delivery["bytes"] == len(DATA) and delivery["recipient_key"] == tk.FOREIGN.public_hex


def test_a_cut_stream_records_no_delivery_until_the_resume_completes(valve: Valve, tmp_path: Path) -> None:
    status, body, _ = valve.raw_get(valve.released, tk.FOREIGN, chunk=3)  # chunks 3..6 only
    assert status == 200 and body
    assert _deliveries(valve, valve.released, 0) == []
    status, _, _ = valve.raw_get(valve.released, tk.FOREIGN, chunk=0)
    assert status == 200
    assert len(_deliveries(valve, valve.released, 1)) == 1


def test_refusals_record_no_delivery(valve: Valve, tmp_path: Path) -> None:
    assert valve.raw_get(valve.pending, tk.FOREIGN)[0] == 403
    with pytest.raises(ApiError):
        fetch.fetch(valve.client, valve.released, tmp_path / "outsider.bin", tk.BUYER)
    time.sleep(0.3)  # what a late submission would need to show up
    assert _deliveries(valve, valve.released, 0) == []


# --- the provenance bundle carries the delivery and the acknowledgement ------------------------------


def _bundle_after_delivery_and_ack(valve: Valve, tmp_path: Path) -> dict[str, Any]:
    fetch.fetch(valve.client, valve.released, tmp_path / "got.bin", tk.FOREIGN)
    assert len(_deliveries(valve, valve.released, 1)) == 1
    valve.driver.commit("crossborder", "acknowledge", {"transfer_id": valve.released, "chunk_root": SUMMARY.chunk_root,
                                                       "content_hash": SUMMARY.content_hash}, [tk.FOREIGN])
    valve.node.produce_block()
    return ProofBuilder(valve.node.ledger).asset_bundle(valve.asset_id)


def test_the_bundle_with_delivery_and_ack_verifies_offline_and_a_tampered_delivery_fails(
        valve: Valve, tmp_path: Path) -> None:
    bundle = _bundle_after_delivery_and_ack(valve, tmp_path)
    verifier = Verifier(valve.node.ledger.genesis)
    result = verifier.verify_text(canonical_json(bundle))
    names = [event.name for _, event in result.events]
    assert names[:2] == ["transfer_acknowledged", "transfer_delivered"]
    assert "1 data delivery(ies), 1 acknowledgement(s)" in result.summary()

    delivered_ref = result.events[1][0]
    [item] = [t for t in bundle["txs"] if (t["height"], t["tx_index"]) == (delivered_ref.height, delivered_ref.tx_index)]
    root_hex = SUMMARY.chunk_root.hex()
    assert root_hex in bytes.fromhex(item["leaf"]).hex()
    forged = copy.deepcopy(bundle)
    [target] = [t for t in forged["txs"] if t is not None and t["leaf"] == item["leaf"]]
    target["leaf"] = target["leaf"].replace(root_hex, "00" * 32)  # another chunk root in the delivered entry
    with pytest.raises(Fail) as info:
        Verifier(valve.node.ledger.genesis).verify_text(canonical_json(forged))
    assert f"transaction {delivered_ref.tx_index} of block {delivered_ref.height}" in info.value.message
    assert "tx_root" in info.value.message


def _event(name: str, **data: Any) -> Event:
    return Event("crossborder", name, "a" * 64, None, codec.pairs_from_dict(data))


def test_the_offline_delivery_checks_name_the_inconsistent_event() -> None:
    record = {"chunk_root": ROOT, "size": 10}
    node = NODE_KEY.public_key
    tx = make_tx(tk.CHAIN_ID, "crossborder", "delivered", {}, [NODE_KEY], 1)
    txs: dict[tuple[int, int], Any] = {(5, 0): (tx, None), (6, 0): (tx, None)}
    good = _event("transfer_delivered", transfer_id="t", chunk_root=ROOT, bytes=10, node=node)
    ack = _event("transfer_acknowledged", transfer_id="t", chunk_root=ROOT)
    newest_first = [(EventRef(6, 0), ack), (EventRef(5, 0), good)]
    assert check_deliveries(record, newest_first, txs, lambda h: (node,)) == {"deliveries": 1, "acknowledgements": 1}
    with pytest.raises(Fail, match="not signed by a validator"):
        check_deliveries(record, newest_first, txs, lambda h: (KEY,))
    wrong = _event("transfer_delivered", transfer_id="t", chunk_root=OTHER, bytes=10, node=node)
    with pytest.raises(Fail, match="height 5, tx 0.*chunk root or size is not the asset's"):
        check_deliveries(record, [(EventRef(5, 0), wrong)], txs, lambda h: (node,))
    with pytest.raises(Fail, match="matches no earlier delivery"):
        check_deliveries(record, [(EventRef(6, 0), ack)], txs, lambda h: (node,))


def test_openapi_describes_every_data_route(tmp_path: Path) -> None:
    from test_api_transfers import local_node

    from chain.api import make_app
    from chain.api.app import DOCUMENTED_MODULES
    from chain.api.openapi import merged_document
    from chain.dataplane.store import ContentStore

    app = make_app(local_node(), rate_limit=None, content_store=ContentStore(tmp_path / "node"))
    paths = merged_document(DOCUMENTED_MODULES)["paths"]
    data_routes = [r for r in app.router.routes() if r.method != "HEAD" and r.resource is not None
                   and r.resource.canonical.endswith(("/data", "/challenge"))]
    assert len(data_routes) == 4
    for route in data_routes:
        assert route.method.lower() in paths[route.resource.canonical], route  # type: ignore[union-attr]
