"""Black box: a cross-border transfer's whole lifecycle on a real 4-node devnet, through the REST API only.

request → REQUIRE (sc_or_cert) → the standard-contract filing registered by an authority quorum →
attach → CLEARED → customs release; an acknowledgement before any delivery is refused (the delivery
path is ``test_delivery_blackbox.py``); every node returns the same transfer record (DESIGN.md §7–8,
ADR 0007, ADR 0022).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from chain import codec
from chain.crossborder.contract import transfer_id_for
from chain.crypto import KeyPair, load_key_file
from chain.types import make_tx

from .conftest import Devnet, http_json, wait_until

pytestmark = [pytest.mark.blackbox, pytest.mark.timeout(180)]


class Actor:
    """Signs with time-based nonces and waits for each commit on node 0."""

    def __init__(self, devnet: Devnet) -> None:
        self.devnet = devnet
        self.nonces: dict[bytes, int] = {}

    def commit(self, contract: str, method: str, args: dict[str, Any], signers: list[KeyPair],
               node: int = 0) -> tuple[str, dict[str, Any]]:
        sender = signers[0].public_key
        nonce = max(int(time.time() * 1000), self.nonces.get(sender, 0) + 1)
        self.nonces[sender] = nonce
        tx = make_tx(self.devnet.chain_id, contract, method, args, signers, nonce)
        self.devnet.submit(node, tx)
        self.devnet.wait_committed(node, tx.tx_id)
        info = self.devnet.tx_status(node, tx.tx_id)
        assert info is not None
        receipt: dict[str, Any] = info["receipt"]
        assert receipt["ok"], f"{contract}.{method}: {receipt['error_code']}"
        return tx.tx_hash.hex(), receipt


def test_transfer_lifecycle_on_a_real_devnet(devnet: Devnet) -> None:
    authorities = [load_key_file(p) for p in sorted((devnet.directory / "authorities").glob("authority*.json"))]
    quorum = authorities[:2]
    actor = Actor(devnet)
    keys = {name: KeyPair.generate() for name in ("registrar", "exporter", "recipient", "customs")}
    organisations = [("bb-exporter", "CN", "COMPANY", "exporter"), ("bb-partner", "DE", "COMPANY", "recipient"),
                     ("bb-customs", "CN", "CUSTOMS", "customs")]
    for org_id, jurisdiction, kind, member in organisations:
        actor.commit("governance", "register_organisation",
                     {"id": org_id, "name": org_id, "jurisdiction": jurisdiction, "type": kind}, quorum)
        actor.commit("governance", "add_member", {"public_key": keys[member].public_key, "organisation": org_id},
                     quorum)
    actor.commit("governance", "add_member", {"public_key": keys["registrar"].public_key,
                                              "organisation": "bb-exporter"}, quorum)
    actor.commit("governance", "grant_role", {"public_key": keys["registrar"].public_key, "role": "registrar"}, quorum)
    actor.commit("governance", "grant_role", {"public_key": keys["customs"].public_key, "role": "customs"}, quorum)

    content = codec.sha256(b"blackbox customer list")
    tx_hash, _ = actor.commit("registry", "register", {
        "content_hash": content, "size": 10, "format": "csv", "title": "customers",
        "owner": keys["exporter"].public_key,
        "classification": {"sector": "retail", "grade": "GENERAL", "origin": "CN", "contains_pi": True,
                           "sensitive_pi": True, "subjects": 100, "sensitive_subjects": 3}},
        [keys["registrar"], keys["exporter"]])
    asset_id = codec.sha256(bytes.fromhex(tx_hash) + content).hex()

    tx_hash, receipt = actor.commit("crossborder", "request", {
        "asset_id": asset_id, "recipient": "bb-partner", "destination": "DE", "purpose": "other",
        "lawful_basis": "CONTRACT", "subjects": 100, "sensitive_subjects": 3,
        "attestations": {"notice": "doc:notice", "pipia": "doc:pipia"}}, [keys["exporter"]], node=1)
    transfer_id = transfer_id_for(bytes.fromhex(tx_hash))
    assert receipt["events"][0]["subject"] == asset_id and receipt["events"][0]["data"]["requires"] == ["sc_or_cert"]

    def record(node: int = 0, *, strict: bool = True) -> dict[str, Any]:
        code, body = http_json(f"{devnet.api(node)}/v1/transfers/{transfer_id}")
        assert code == 200 or not strict, body
        return dict(body) if code == 200 else {}

    first = record()
    assert first["state"] == "PENDING_EVIDENCE" and first["decision"]["decision"] == "REQUIRE"
    assert first["decision"]["rules"] == ["R13b", "R14"] and first["decision"]["policy_version"] == 1

    actor.commit("governance", "register_decision", {
        "id": "BB-SC-1", "kind": "standard_contract", "holder": "bb-exporter", "status": "FILED",
        "effective": "2024-01-01", "filing_id": "BJ-2025-001"}, quorum)
    actor.commit("crossborder", "attach_evidence", {"transfer_id": transfer_id, "decisions": ["BB-SC-1"]},
                 [keys["exporter"]], node=2)
    assert record()["state"] == "CLEARED"
    actor.commit("crossborder", "customs_review", {"transfer_id": transfer_id, "approve": True, "note": "ok"},
                 [keys["customs"]], node=3)
    assert record()["state"] == "RELEASED"
    nonce = int(time.time() * 1000)
    early = make_tx(devnet.chain_id, "crossborder", "acknowledge",
                    {"transfer_id": transfer_id, "content_hash": content, "chunk_root": content}, [keys["recipient"]],
                    nonce)
    devnet.submit(3, early)
    devnet.wait_committed(3, early.tx_id)
    info = devnet.tx_status(3, early.tx_id)
    assert info is not None and info["receipt"]["error_code"] == "not_delivered"  # ADR 0022: data moves first

    final = record()
    assert final["state"] == "RELEASED" and final["decision"]["decision"] == "ALLOW"
    assert [step["action"] for step in final["history"]] == ["requested", "evidence", "reviewed"]
    for node in range(1, devnet.size):
        wait_until(lambda node=node: record(node, strict=False) == final, 30,  # type: ignore[misc]
                   f"node {node} agrees on the transfer")
    code, listed = http_json(f"{devnet.api(0)}/v1/transfers?asset={asset_id}")
    assert code == 200 and [t["id"] for t in listed["items"]] == [transfer_id]
    code, policy = http_json(f"{devnet.api(2)}/v1/policy")
    assert code == 200 and policy["version"] == 1
