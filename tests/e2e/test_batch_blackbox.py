"""``POST /v1/txs/batch`` and ``devnet bench --batch --profile`` against real node processes (ADR 0023):
good items commit on every node, bad ones are refused alone and never reach a block, replays to
another node are refused, oversize batches change nothing, and batches keep committing with a node
down. One devnet for the module: the tests only add transactions; the node kill comes last."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from chain import codec
from chain.api.routes_batch import MAX_BATCH_TXS
from chain.client import encode_batch
from chain.types import SignedTx

from .conftest import Devnet, http_json, noop_tx, running_devnet

pytestmark = [pytest.mark.blackbox, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    yield from running_devnet(tmp_path_factory.mktemp("batch"), 4, "--test-mode")


def post_batch(devnet: Devnet, index: int, body: bytes) -> tuple[int, dict]:
    code, answer = http_json(f"{devnet.api(index)}/v1/txs/batch", data=body)
    assert isinstance(answer, dict), (code, answer)
    return code, answer


def test_a_batch_commits_its_good_items_on_every_node_and_nothing_else(devnet: Devnet) -> None:
    good = [noop_tx(devnet.chain_id, f"batch {i}") for i in range(60)]
    forged = SignedTx(body=noop_tx(devnet.chain_id, "forged").body, signatures=(bytes(64),))
    items = [tx.encode() for tx in good[:30]] + [b"\x92\x01", forged.encode(), good[0].encode()]
    items += [tx.encode() for tx in good[30:]]
    code, answer = post_batch(devnet, 1, codec.encode(items))
    assert code == 200 and answer["accepted"] == 60 and answer["rejected"] == 3
    codes = [r["error"]["code"] for r in answer["results"] if "error" in r]
    assert codes[1:] == ["bad_signature", "duplicate_in_batch"] and codes[0] == "decode_error"
    for index in (0, 3):  # the primary and a backup that got them by gossip
        devnet.wait_committed(index, good[-1].tx_id)
        assert all(devnet.tx_status(index, tx.tx_id, wait=0.1)["status"] == "committed" for tx in good[::7])
    assert devnet.tx_status(0, forged.tx_id, wait=0.1) is None

    replay_code, replay = post_batch(devnet, 2, encode_batch(good[:5]))  # the same batch, another node
    assert replay_code == 200 and replay["accepted"] == 0
    assert {r["error"]["status"] for r in replay["results"]} == {409}


def test_oversize_and_malformed_batches_change_nothing_and_the_node_stays_up(devnet: Devnet) -> None:
    too_many = codec.encode([noop_tx(devnet.chain_id, "x").encode()] * (MAX_BATCH_TXS + 1))
    for claim in (too_many, b"\xdd\xff\xff\xff\xff"):  # the count is checked before any item is read
        code, answer = post_batch(devnet, 1, claim)
        assert code == 413 and answer["code"] == "batch_too_large"
    for garbage in (b"\xc1" * 100, codec.encode([1, 2, 3]), b"\x91" + b"\xc4"):
        code, answer = post_batch(devnet, 1, garbage)
        assert code == 400 and answer["code"] == "decode_error", (garbage[:8], answer)
    code, _ = http_json(f"{devnet.api(1)}/v1/txs/batch", data=b"\x00" * (5 * 1024 * 1024))  # over client_max_size
    assert code == 413
    status = devnet.status(1)
    assert status is not None and status["mempool_size"] == 0


def test_bench_batches_profiles_and_reports_the_ratio(devnet: Devnet, tmp_path: Path) -> None:
    results = tmp_path / "results"
    run = devnet.cli("bench", "--txs", "400", "--clients", "1", "--batch", "50", "--profile", "--results", results)
    assert "committed     400 / accepted 400" in run.stdout, run.stdout
    assert "of the same-run signature ceiling" in run.stdout
    report = json.loads((results / "report.json").read_text())
    assert report["batch"] == 50 and report["committed"] == 400
    assert report["signature_ceiling"]["tx_per_s"] > 0 and 0 < report["ceiling_ratio"]
    assert report["wire"]["peer_bytes_per_tx"] > 0 and report["wire"]["api_bytes_per_tx"] > 0
    assert sorted(report["profiles"]) == ["0", "1", "2", "3"]
    for path in report["profiles"].values():
        assert Path(path).read_text().startswith("<?xml")


def test_batches_commit_with_a_node_down(devnet: Devnet) -> None:
    devnet.cli("kill", 3)
    txs = [noop_tx(devnet.chain_id, f"down {i}") for i in range(40)]
    code, answer = post_batch(devnet, 2, encode_batch(txs))
    assert code == 200 and answer["accepted"] == 40
    devnet.wait_committed(1, txs[-1].tx_id)
    assert devnet.tx_status(0, txs[0].tx_id, wait=2)["status"] == "committed"
