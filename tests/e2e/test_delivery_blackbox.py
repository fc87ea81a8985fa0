"""Black box: delivery on chain, the customs audit and the provenance bundle on a real 4-node devnet.

put → release → ``silkport data fetch`` → the Daxing node commits ``crossborder.delivered`` signed by its
validator key → an acknowledgement with a wrong chunk root is refused → ``--ack`` with the delivered root
→ ``silkport transfer audit`` shows decision, evidence, release, delivery and acknowledgement with
heights and tx ids → ``silkport prove asset`` + ``silkport verify`` offline; a tampered delivery entry
fails; a denied transfer gets a refusal and zero bytes; after a kill -9 and restart of the Daxing node a
re-fetch is a second delivery by the same validator key (issue 14 parts 5 and 7; ADR 0022). Then a node
killed in the middle of a delivery: the recipient's resume after the restart is recorded as one delivery
with the asset's chunk root, and the acknowledgement commits (issue 14 part 6; ADR 0028).

One devnet for the module: the second test enrols its own organisations and leaves the first's alone.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chain import codec
from chain.client import ApiError, Client
from chain.crossborder.contract import transfer_id_for
from chain.crypto import KeyPair, load_key_file
from chain.dataplane import chunks, fetch
from chain.errors import ProofError
from chain.genesis import load_genesis
from chain.types import make_tx

from .conftest import Devnet, http_json, running_devnet, wait_until
from .test_valve_blackbox import enrol_parties, silkport

pytestmark = [pytest.mark.blackbox, pytest.mark.timeout(180)]
CHUNK = 16 * 1024


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    yield from running_devnet(tmp_path_factory.mktemp("delivery"))


def _refusal(devnet: Devnet, method: str, args: dict[str, Any], key: KeyPair) -> str:
    tx = make_tx(devnet.chain_id, "crossborder", method, args, [key], int(time.time() * 1000))
    devnet.submit(0, tx)
    devnet.wait_committed(0, tx.tx_id)
    info = devnet.tx_status(0, tx.tx_id)
    assert info is not None and not info["receipt"]["ok"]
    return str(info["receipt"]["error_code"])


def test_delivery_ack_audit_and_offline_provenance(devnet: Devnet, tmp_path: Path) -> None:
    quorum = [load_key_file(p) for p in sorted((devnet.directory / "authorities").glob("authority*.json"))][:2]
    actor, keys = enrol_parties(devnet, tmp_path, quorum, "dl")

    def register(path: Path, data: bytes, **classification: Any) -> str:
        path.write_bytes(data)
        summary = chunks.summarize([data], CHUNK)
        tx_hash, _ = actor.commit("registry", "register", {
            "content_hash": summary.content_hash, "size": summary.size, "format": "csv", "title": path.name,
            "owner": keys["exporter"].public_key, "chunk_root": summary.chunk_root, "chunk_size": CHUNK,
            "classification": {"sector": "retail", "grade": "GENERAL", "origin": "CN", **classification}},
            [keys["registrar"], keys["exporter"]])
        asset_id = codec.sha256(bytes.fromhex(tx_hash) + summary.content_hash).hex()
        put = silkport("data", "put", asset_id, path, "--key", tmp_path / "exporter.key", "--node", devnet.api(0))
        assert put.returncode == 0, put.stderr
        return asset_id

    dataset = tmp_path / "customers.csv"
    asset_id = register(dataset, os.urandom(3 * CHUNK + 77), contains_pi=True, sensitive_pi=True, subjects=100,
                        sensitive_subjects=3)
    core_id = register(tmp_path / "core.csv", os.urandom(CHUNK), grade="CORE")
    request = {"asset_id": asset_id, "recipient": "dl-partner", "destination": "DE", "purpose": "other",
               "lawful_basis": "CONTRACT", "subjects": 100, "sensitive_subjects": 3,
               "attestations": {"notice": "doc:notice", "pipia": "doc:pipia"}}
    tx_hash, _ = actor.commit("crossborder", "request", request, [keys["exporter"]])
    released = transfer_id_for(bytes.fromhex(tx_hash))
    actor.commit("governance", "register_decision", {
        "id": "DL-SC-1", "kind": "standard_contract", "holder": "dl-exporter", "status": "FILED",
        "effective": "2024-01-01", "filing_id": "BJ-2025-DL"}, quorum)
    actor.commit("crossborder", "attach_evidence", {"transfer_id": released, "decisions": ["DL-SC-1"]},
                 [keys["exporter"]])
    actor.commit("crossborder", "customs_review", {"transfer_id": released, "approve": True, "note": "filing ok"},
                 [keys["customs"]])
    tx_hash, _ = actor.commit("crossborder", "request", {**request, "asset_id": core_id, "subjects": 0,
                                                         "sensitive_subjects": 0}, [keys["exporter"]])
    denied = transfer_id_for(bytes.fromhex(tx_hash))

    # the denied transfer: a refusal and zero bytes, and no delivery on chain
    denied_out = tmp_path / "denied.csv"
    nothing = silkport("data", "fetch", denied, "-o", denied_out, "--key", tmp_path / "recipient.key",
                       "--genesis", devnet.directory / "genesis.json", "--node", devnet.api(0), "--quiet")
    assert nothing.returncode == 1 and "transfer_not_released" in nothing.stderr
    part = tmp_path / "denied.csv.part"
    assert not denied_out.exists() and (not part.exists() or part.stat().st_size == 0)

    # no acknowledgement before the delivery
    summary = chunks.summarize([dataset.read_bytes()], CHUNK)
    ack_args = {"transfer_id": released, "content_hash": summary.content_hash, "chunk_root": summary.chunk_root}
    assert _refusal(devnet, "acknowledge", ack_args, keys["recipient"]) == "not_delivered"

    out = tmp_path / "received.csv"
    fetched = silkport("data", "fetch", released, "-o", out, "--key", tmp_path / "recipient.key",
                       "--genesis", devnet.directory / "genesis.json", "--node", devnet.api(0), "--quiet")
    assert fetched.returncode == 0, fetched.stderr
    assert out.read_bytes() == dataset.read_bytes()

    def delivered() -> dict[str, Any] | None:
        code, record = http_json(f"{devnet.api(2)}/v1/transfers/{released}")
        return record if code == 200 and record.get("deliveries") else None

    record = wait_until(delivered, 30, "the delivered event committed and seen by node 2")
    [delivery] = [s for s in record["history"] if s["action"] == "delivered"]
    assert delivery["node"] == devnet.status(0)["node_id"] and delivery["bytes"] == summary.size  # type: ignore[index]
    assert delivery["chunk_root"] == summary.chunk_root.hex() and delivery["recipient_key"] == keys["recipient"].public_hex

    wrong = _refusal(devnet, "acknowledge", {**ack_args, "chunk_root": codec.sha256(b"another dataset")},
                     keys["recipient"])
    assert wrong == "chunk_root_mismatch"
    acked = silkport("transfer", "ack", released, "--file", out, "--key", tmp_path / "recipient.key",
                     "--node", devnet.api(1), "--json", "--timeout", "30")
    assert acked.returncode == 0, acked.stderr
    assert json.loads(acked.stdout)["state"] == "ACKNOWLEDGED"

    audit = silkport("transfer", "audit", released, "--node", devnet.api(3), "--json")
    assert audit.returncode == 0, audit.stderr
    document = json.loads(audit.stdout)
    assert [e["decision"] for e in document["evaluations"]] == ["REQUIRE", "ALLOW", "ALLOW"]
    assert document["evaluations"][0]["rules"] and document["evaluations"][0]["policy_version"] == 1
    assert document["evidence"]["decisions"] == {"standard_contract": "DL-SC-1"}
    assert document["release"]["by"] == keys["customs"].public_hex and document["release"]["note"] == "filing ok"
    assert len(document["deliveries"]) == 1 and document["acknowledgement"]["matches_delivery"] is True
    for step in document["steps"]:
        assert step["height"] > 0 and len(step["tx_id"]) == 64
    human = silkport("transfer", "audit", released, "--node", devnet.api(0))
    assert human.returncode == 0 and "matches the delivery" in human.stdout and "deliveries: 1" in human.stdout
    unknown = silkport("transfer", "audit", "ab" * 32, "--node", devnet.api(0))
    assert unknown.returncode == 1 and f"no transfer {'ab' * 32}" in unknown.stderr

    genesis = devnet.directory / "genesis.json"
    bundle = tmp_path / "bundle.json"
    proved = silkport("prove", "asset", asset_id, "-o", bundle, "--node", devnet.api(1))
    assert proved.returncode == 0, proved.stderr
    verified = silkport("verify", bundle, "--genesis", genesis)
    assert verified.returncode == 0, verified.stderr
    assert "1 data delivery(ies), 1 acknowledgement(s)" in verified.stdout
    text = bundle.read_text()
    tampered = tmp_path / "tampered.json"
    root = summary.chunk_root.hex()
    assert text.count(root) >= 2  # the record and the delivered entry carry it
    document = json.loads(text)
    height = delivery["ref"]["height"]
    [entry] = [t for t in document["txs"] if t["height"] == height and root in t["leaf"]]
    entry["leaf"] = entry["leaf"].replace(root, "00" * 32)
    tampered.write_text(json.dumps(document, indent=1, sort_keys=True, ensure_ascii=True) + "\n")
    failed = silkport("verify", tampered, "--genesis", genesis)
    assert failed.returncode == 1 and f"of block {height}" in failed.stdout + failed.stderr

    # fault: the Daxing node is killed and restarted; its store and signer come back, and a re-fetch of the
    # acknowledged transfer is a second delivery, signed with a fresh nonce of the same validator key
    node_id = devnet.status(0)["node_id"]  # type: ignore[index]
    devnet.cli("kill", 0)
    devnet.cli("start", 0)
    top = max(devnet.height(i) or 0 for i in (1, 2, 3))
    devnet.wait_height(0, top)
    again = silkport("data", "fetch", released, "-o", tmp_path / "again.csv", "--key", tmp_path / "recipient.key",
                     "--genesis", devnet.directory / "genesis.json", "--node", devnet.api(0), "--quiet")
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "again.csv").read_bytes() == dataset.read_bytes()

    def second() -> dict[str, Any] | None:
        code, found = http_json(f"{devnet.api(1)}/v1/transfers/{released}")
        return found if code == 200 and found.get("deliveries") == 2 else None

    after = wait_until(second, 30, "a second delivery after the restart")
    assert after["state"] == "ACKNOWLEDGED"
    assert [s["node"] for s in after["history"] if s["action"] == "delivered"] == [node_id, node_id]
    def status_on_node0() -> dict[str, Any] | None:  # node 0 may commit that block a moment after node 1
        status = silkport("data", "status", released, "--node", devnet.api(0), "--json")
        assert status.returncode == 0, status.stderr
        found: dict[str, Any] = json.loads(status.stdout)
        return found if found["deliveries"] == 2 else None

    shown = wait_until(status_on_node0, 30, "node 0 to show the second delivery")
    assert shown["deliveries"] == 2 and shown["acknowledged"] is True and shown["stored"] is True


# --- a node killed in the middle of a delivery (ADR 0028) ----------------------------------------------------

BIG_CHUNK = 256 * 1024
BIG_CHUNKS = 64  # 16 MiB: far more than the socket buffers hold, so the kill lands mid-response
SMALL_RCVBUF = 64 * 1024


def _released_transfer(devnet: Devnet, tmp_path: Path, data: bytes) -> tuple[str, chunks.ChunkSummary]:
    """A GENERAL asset of ``data`` stored on node 0, and a transfer of it to ``dr-partner`` (released at once:
    general data without personal information needs no clearance)."""
    quorum = [load_key_file(p) for p in sorted((devnet.directory / "authorities").glob("authority*.json"))][:2]
    actor, keys = enrol_parties(devnet, tmp_path, quorum, "dr")
    path = tmp_path / "ledger.csv"
    path.write_bytes(data)
    summary = chunks.summarize([data], BIG_CHUNK)
    tx_hash, _ = actor.commit("registry", "register", {
        "content_hash": summary.content_hash, "size": summary.size, "format": "csv", "title": path.name,
        "owner": keys["exporter"].public_key, "chunk_root": summary.chunk_root, "chunk_size": BIG_CHUNK,
        "classification": {"sector": "retail", "grade": "GENERAL", "origin": "CN"}},
        [keys["registrar"], keys["exporter"]])
    asset_id = codec.sha256(bytes.fromhex(tx_hash) + summary.content_hash).hex()
    put = silkport("data", "put", asset_id, path, "--key", tmp_path / "exporter.key", "--node", devnet.api(0))
    assert put.returncode == 0, put.stderr
    tx_hash, _ = actor.commit("crossborder", "request", {
        "asset_id": asset_id, "recipient": "dr-partner", "destination": "DE", "purpose": "other",
        "lawful_basis": "CONTRACT", "subjects": 0, "sensitive_subjects": 0}, [keys["exporter"]])
    transfer_id = transfer_id_for(bytes.fromhex(tx_hash))
    code, record = http_json(f"{devnet.api(0)}/v1/transfers/{transfer_id}")
    assert code == 200 and record["state"] == "RELEASED", record
    return transfer_id, summary


def _slow_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    """The recipient's sockets get a small fixed receive buffer (no autotuning), so the node's response
    waits on the socket instead of sitting whole in kernel buffers when the node is killed."""
    connect = http.client.HTTPConnection.connect

    def small_buffer(self: http.client.HTTPConnection) -> None:
        connect(self)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_RCVBUF)

    monkeypatch.setattr(http.client.HTTPConnection, "connect", small_buffer)


def test_a_node_killed_mid_delivery_records_it_once_after_the_recipients_resume(
        devnet: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = os.urandom(BIG_CHUNKS * BIG_CHUNK - 1000)
    transfer_id, summary = _released_transfer(devnet, tmp_path, data)
    genesis = devnet.directory / "genesis.json"
    recipient = load_key_file(tmp_path / "recipient.key")
    out = tmp_path / "received.csv"

    # the pull starts; after 3 verified chunks the serving node is killed (SIGKILL) in the middle of its response
    seen: list[int] = []

    def kill_after_three_chunks(size: int) -> None:
        seen.append(size)
        if len(seen) == 4:  # the first call reports the resumed bytes (0)
            assert devnet.cli("kill", 0).returncode == 0

    with monkeypatch.context() as patch:
        _slow_reader(patch)
        with pytest.raises((ApiError, ProofError)):
            fetch.fetch(Client(devnet.api(0)), transfer_id, out, recipient, kill_after_three_chunks,
                        genesis=load_genesis(genesis))
    journalled = json.loads((tmp_path / "received.csv.part.state").read_text())["next_chunk"]
    assert 3 <= journalled < BIG_CHUNKS - 8 and not out.exists()  # the response was cut, far from its end

    devnet.cli("start", 0)
    devnet.wait_height(0, max(devnet.height(i) or 0 for i in (1, 2, 3)))
    resumed = silkport("data", "fetch", transfer_id, "-o", out, "--key", tmp_path / "recipient.key",
                       "--genesis", genesis, "--node", devnet.api(0), "--json", "--ack", "--timeout", "30")
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout)
    assert result["resumed_from_chunk"] == journalled and result["acknowledged"].startswith("committed")
    assert out.read_bytes() == data

    def acknowledged() -> dict[str, Any] | None:
        code, found = http_json(f"{devnet.api(2)}/v1/transfers/{transfer_id}")
        return found if code == 200 and found.get("state") == "ACKNOWLEDGED" else None

    record = wait_until(acknowledged, 30, "the acknowledgement seen by node 2")
    assert record["deliveries"] == 1 and record["delivered_root"] == summary.chunk_root.hex()
    [delivery] = [s for s in record["history"] if s["action"] == "delivered"]
    assert delivery["node"] == devnet.status(0)["node_id"] and delivery["bytes"] == len(data)  # type: ignore[index]
    assert delivery["recipient_key"] == recipient.public_hex
    audit = silkport("transfer", "audit", transfer_id, "--node", devnet.api(1), "--json")
    assert audit.returncode == 0, audit.stderr
    document = json.loads(audit.stdout)
    assert len(document["deliveries"]) == 1 and document["acknowledgement"]["matches_delivery"] is True
