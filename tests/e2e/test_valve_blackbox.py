"""Black box: the data valve on a real 4-node devnet, through the ``silkport`` CLI and the REST API.

Roles and organisations are granted by governance; the exporter registers a dataset with its chunk
layout, uploads it to node 0 with ``silkport data put``, customs releases one transfer, and the
recipient pulls it with ``silkport data fetch`` and acknowledges it with ``--ack``; a transfer still
waiting for evidence, and a member of another organisation, get nothing (ADR 0018).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chain import codec
from chain.crossborder.contract import transfer_id_for
from chain.crypto import KeyPair, load_key_file, save_key_file
from chain.dataplane import chunks

from .conftest import REPO, Devnet, http_json
from .test_transfer_blackbox import Actor

pytestmark = [pytest.mark.blackbox, pytest.mark.timeout(180)]
CHUNK = 64 * 1024


def silkport(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chain.cli", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def enrol_parties(devnet: Devnet, tmp_path: Path, quorum: list[KeyPair], prefix: str) -> tuple[Actor, dict[str, KeyPair]]:
    """Keys (saved in ``tmp_path``) for a registrar, an exporter (CN), a DE recipient and customs, enrolled
    in organisations ``{prefix}-exporter|partner|customs`` with their roles, by the authority quorum."""
    actor = Actor(devnet)
    keys = {name: KeyPair.generate() for name in ("registrar", "exporter", "recipient", "customs")}
    for name, pair in keys.items():
        save_key_file(tmp_path / f"{name}.key", pair)
    for org_id, jurisdiction, kind, member in [(f"{prefix}-exporter", "CN", "COMPANY", "exporter"),
                                               (f"{prefix}-partner", "DE", "COMPANY", "recipient"),
                                               (f"{prefix}-customs", "CN", "CUSTOMS", "customs")]:
        actor.commit("governance", "register_organisation",
                     {"id": org_id, "name": org_id, "jurisdiction": jurisdiction, "type": kind}, quorum)
        actor.commit("governance", "add_member", {"public_key": keys[member].public_key, "organisation": org_id},
                     quorum)
    actor.commit("governance", "add_member", {"public_key": keys["registrar"].public_key,
                                              "organisation": f"{prefix}-exporter"}, quorum)
    actor.commit("governance", "grant_role", {"public_key": keys["registrar"].public_key, "role": "registrar"}, quorum)
    actor.commit("governance", "grant_role", {"public_key": keys["customs"].public_key, "role": "customs"}, quorum)
    return actor, keys


def test_upload_fetch_and_nothing_for_a_pending_transfer(devnet: Devnet, tmp_path: Path) -> None:
    authorities = [load_key_file(p) for p in sorted((devnet.directory / "authorities").glob("authority*.json"))]
    quorum = authorities[:2]
    actor, keys = enrol_parties(devnet, tmp_path, quorum, "vx")

    dataset = tmp_path / "customers.csv"
    dataset.write_bytes(os.urandom(5 * CHUNK + 123))
    summary = chunks.summarize([dataset.read_bytes()], CHUNK)
    tx_hash, _ = actor.commit("registry", "register", {
        "content_hash": summary.content_hash, "size": summary.size, "format": "csv", "title": "customers",
        "owner": keys["exporter"].public_key, "chunk_root": summary.chunk_root, "chunk_size": CHUNK,
        "classification": {"sector": "retail", "grade": "GENERAL", "origin": "CN", "contains_pi": True,
                           "sensitive_pi": True, "subjects": 100, "sensitive_subjects": 3}},
        [keys["registrar"], keys["exporter"]])

    asset_id = codec.sha256(bytes.fromhex(tx_hash) + summary.content_hash).hex()
    node0 = devnet.api(0)
    genesis = devnet.directory / "genesis.json"  # the recipient proves the layout from it (ADR 0018 §12)

    wrong = tmp_path / "wrong.csv"
    wrong.write_bytes(dataset.read_bytes()[:-1] + b"!")
    refused = silkport("data", "put", asset_id, wrong, "--key", tmp_path / "exporter.key", "--node", node0)
    assert refused.returncode == 1 and "content_hash" in refused.stderr
    put = silkport("data", "put", asset_id, dataset, "--key", tmp_path / "exporter.key", "--node", node0, "--json")
    assert put.returncode == 0, put.stderr

    request = {"asset_id": asset_id, "recipient": "vx-partner", "destination": "DE", "purpose": "other",
               "lawful_basis": "CONTRACT", "subjects": 100, "sensitive_subjects": 3,
               "attestations": {"notice": "doc:notice", "pipia": "doc:pipia"}}
    tx_hash, _ = actor.commit("crossborder", "request", request, [keys["exporter"]])
    released = transfer_id_for(bytes.fromhex(tx_hash))
    actor.commit("governance", "register_decision", {
        "id": "VX-SC-1", "kind": "standard_contract", "holder": "vx-exporter", "status": "FILED",
        "effective": "2024-01-01", "filing_id": "BJ-2025-VX"}, quorum)
    actor.commit("crossborder", "attach_evidence", {"transfer_id": released, "decisions": ["VX-SC-1"]},
                 [keys["exporter"]])
    actor.commit("crossborder", "customs_review", {"transfer_id": released, "approve": True, "note": "ok"},
                 [keys["customs"]])
    tx_hash, _ = actor.commit("crossborder", "request", request, [keys["exporter"]])
    pending = transfer_id_for(bytes.fromhex(tx_hash))

    denied_out = tmp_path / "pending.csv"
    nothing = silkport("data", "fetch", pending, "-o", denied_out, "--key", tmp_path / "recipient.key",
                       "--genesis", genesis, "--node", node0, "--quiet")
    assert nothing.returncode == 1 and "transfer_not_released" in nothing.stderr
    assert not denied_out.exists()
    outsider = silkport("data", "fetch", released, "-o", denied_out, "--key", tmp_path / "exporter.key",
                        "--genesis", genesis, "--node", node0, "--quiet")
    assert outsider.returncode == 1 and "not_recipient" in outsider.stderr and not denied_out.exists()

    elsewhere = silkport("data", "fetch", released, "-o", denied_out, "--key", tmp_path / "recipient.key",
                         "--genesis", genesis, "--node", devnet.api(1), "--quiet")
    assert elsewhere.returncode == 1 and "no_content" in elsewhere.stderr and not denied_out.exists()

    out = tmp_path / "received.csv"
    fetched = silkport("data", "fetch", released, "-o", out, "--key", tmp_path / "recipient.key",
                       "--genesis", genesis, "--node", node0, "--json", "--ack", "--timeout", "30")
    assert fetched.returncode == 0, fetched.stderr
    assert out.read_bytes() == dataset.read_bytes()
    assert not (tmp_path / "received.csv.part").exists()
    code, record = http_json(f"{node0}/v1/transfers/{released}")
    assert code == 200 and record["state"] == "ACKNOWLEDGED"
    again = silkport("data", "fetch", released, "-o", tmp_path / "again.csv", "--key", tmp_path / "recipient.key",
                     "--genesis", genesis, "--node", node0, "--quiet", "--ack")
    assert again.returncode == 1 and "bad_state" in again.stderr  # re-fetch allowed, a second ack refused
    assert (tmp_path / "again.csv").read_bytes() == dataset.read_bytes()
    shown = silkport("data", "status", released, "--node", node0, "--json")
    assert shown.returncode == 0, shown.stderr
    assert '"state": "ACKNOWLEDGED"' in shown.stdout and '"stored": true' in shown.stdout
    shown = silkport("data", "status", pending, "--node", devnet.api(1), "--json")
    assert shown.returncode == 1 and '"servable": false' in shown.stdout and '"stored": false' in shown.stdout
    code, status = http_json(f"{node0}/v1/assets/{asset_id}/data")
    assert code == 200 and status["stored"] is True and status["chunk_root"] == summary.chunk_root.hex()
    code, other = http_json(f"{devnet.api(1)}/v1/assets/{asset_id}/data")
    assert code == 200 and other["stored"] is False  # the dataset lives on the exporter's node only
