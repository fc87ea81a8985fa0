"""Black box: the Shanghai calendar on a real 4-node devnet — yearly counters across a year boundary and an
approval that expires (issue 6), with the whole network restarted on a simulated clock.

Every node's ``clock_offset_ms`` (chain/config.py) moves its wall clock; all four get the same offset,
so blocks pass each other's drift check. Dates are Asia/Shanghai calendar dates of the block
timestamp (RULES.md): 2026-12-31T12:00Z is 20:00 on 31 December in Shanghai, 2027-01-01T02:00Z is
10:00 on 1 January.
"""

from __future__ import annotations

import datetime
import json
import time
from typing import Any

import pytest

from chain import codec
from chain.crossborder.contract import transfer_id_for
from chain.crypto import KeyPair, load_key_file

from .conftest import Devnet, http_json
from .test_transfer_blackbox import Actor

pytestmark = [pytest.mark.blackbox, pytest.mark.timeout(240)]

NEW_YEARS_EVE = datetime.datetime(2026, 12, 31, 12, 0, tzinfo=datetime.UTC)
NEW_YEARS_DAY = datetime.datetime(2027, 1, 1, 2, 0, tzinfo=datetime.UTC)


def restart_at(devnet: Devnet, moment: datetime.datetime) -> None:
    """Stop every node, set the same clock offset on all so their clocks read ``moment`` now, start."""
    devnet.cli("down")
    offset = int(moment.timestamp() * 1000) - int(time.time() * 1000)
    for index in range(devnet.size):
        path = devnet.directory / f"node{index}" / "config.json"
        config = json.loads(path.read_text())
        config["clock_offset_ms"] = offset
        path.write_text(json.dumps(config, indent=1) + "\n")
    devnet.cli("up", "--detach")


def test_counters_cross_the_year_and_an_approval_expires(devnet: Devnet) -> None:
    authorities = [load_key_file(p) for p in sorted((devnet.directory / "authorities").glob("authority*.json"))]
    quorum = authorities[:2]
    actor = Actor(devnet)
    registrar, exporter = KeyPair.generate(), KeyPair.generate()
    for org_id, jurisdiction in (("cal-exporter", "CN"), ("cal-partner", "DE")):
        actor.commit("governance", "register_organisation",
                     {"id": org_id, "name": org_id, "jurisdiction": jurisdiction, "type": "COMPANY"}, quorum)
    for key in (registrar, exporter):
        actor.commit("governance", "add_member", {"public_key": key.public_key, "organisation": "cal-exporter"},
                     quorum)
    actor.commit("governance", "grant_role", {"public_key": registrar.public_key, "role": "registrar"}, quorum)

    def register(content: bytes, classification: dict[str, Any]) -> str:
        tx_hash, _ = actor.commit("registry", "register", {
            "content_hash": codec.sha256(content), "size": len(content), "format": "csv", "title": "calendar",
            "owner": exporter.public_key, "classification": {"sector": "retail", "origin": "CN", **classification}},
            [registrar, exporter])
        return codec.sha256(bytes.fromhex(tx_hash) + codec.sha256(content)).hex()

    bulk = register(b"bulk personal information", {"grade": "GENERAL", "contains_pi": True, "subjects": 200_000})
    important = register(b"important data", {"grade": "IMPORTANT", "important_basis": "NOTIFIED"})
    actor.commit("governance", "register_decision", {
        "id": "CAL-CAC-1", "kind": "assessment", "holder": "cal-exporter", "status": "PASSED",
        "issued": "2024-06-01", "expires": "2026-12-31"}, quorum)

    def request(asset_id: str, **args: Any) -> dict[str, Any]:
        tx_hash, _ = actor.commit("crossborder", "request", {
            "asset_id": asset_id, "recipient": "cal-partner", "destination": "DE", "lawful_basis": "CONTRACT",
            **args}, [exporter])
        code, record = http_json(f"{devnet.api(0)}/v1/transfers/{transfer_id_for(bytes.fromhex(tx_hash))}")
        assert code == 200, record
        return dict(record)

    pi_request = {"purpose": "other", "attestations": {"notice": "doc:notice", "pipia": "doc:pipia"}}

    restart_at(devnet, NEW_YEARS_EVE)
    first = request(bulk, subjects=90_000, **pi_request)
    assert first["decision"]["date"] == "2026-12-31" and first["state"] == "RELEASED"
    assert first["counted"] == [2026, 90_000, 0]
    crossing = request(bulk, subjects=20_000, **pi_request)  # 90,000 + 20,000 this year crosses 100,000 (R13b)
    assert crossing["decision"]["requires"] == ["sc_or_cert"] and crossing["state"] == "PENDING_EVIDENCE"
    last_day = request(important, purpose="intl_trade", decisions=["CAL-CAC-1"])
    assert last_day["decision"]["decision"] == "ALLOW" and last_day["decision"]["path"] == "ASSESSMENT"

    restart_at(devnet, NEW_YEARS_DAY)
    fresh = request(bulk, subjects=20_000, **pi_request)  # a new Shanghai year: the counters start again
    assert fresh["decision"]["date"] == "2027-01-01" and fresh["decision"]["rules"] == ["R13c", "R14"]
    assert fresh["state"] == "RELEASED" and fresh["counted"] == [2027, 20_000, 0]
    expired = request(important, purpose="intl_trade", decisions=["CAL-CAC-1"])
    assert expired["decision"]["requires"] == ["assessment"] and expired["state"] == "PENDING_EVIDENCE"
    heights = {devnet.height(i) for i in range(devnet.size)}
    assert None not in heights
