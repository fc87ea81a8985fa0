"""Bad input against real node processes: each gets a specific 4xx problem+json and changes nothing;
a peer with an unknown key is refused at the TLS handshake and counted; the node stays up."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chain.crypto import KeyPair
from chain.net.certs import make_identity
from chain.types import SignedTx, make_tx

from .conftest import Devnet, http_json, running_devnet

pytestmark = [pytest.mark.blackbox, pytest.mark.timeout(180)]


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[Devnet]:
    """These tests drive the ``noop`` contract: a test chain (``--test-mode``, ADR 0012)."""
    yield from running_devnet(tmp_path, 4, "--test-mode")


def post(url: str, body: bytes, content_type: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        assert error.headers.get("Content-Type", "").startswith("application/problem+json")
        return error.code, json.loads(error.read())


def test_bad_transactions_get_specific_problems_and_change_nothing(devnet: Devnet) -> None:
    url = devnet.api(1) + "/v1/txs"
    chain_id = devnet.chain_id
    sender = KeyPair.generate()
    good = make_tx(chain_id, "noop", "ping", {"note": "ok"}, [sender], 5)
    forged = SignedTx(good.body, (KeyPair.generate().sign(good.signing_bytes()),))
    before = devnet.status(1)
    assert before is not None
    cases: list[tuple[bytes, str, int, str]] = [
        (b"\xc1\x00garbage", "application/msgpack", 400, "decode_error"),
        (b"{not json", "application/json", 400, ""),
        (forged.encode(), "application/msgpack", 400, "bad_signature"),
        (
            make_tx(chain_id, "nope", "nothing", {}, [sender], 6).encode(),
            "application/msgpack",
            400,
            "unknown_method",
        ),
        (
            make_tx("another-chain", "noop", "ping", {}, [sender], 7).encode(),
            "application/msgpack",
            400,
            "wrong_chain",
        ),
        (b"\x00" * (5 * 1024 * 1024), "application/msgpack", 413, ""),
    ]
    for body, content_type, status, code in cases:
        got_status, problem = post(url, body, content_type)
        assert got_status == status, problem
        assert problem.get("detail") and problem.get("title")
        if code:
            assert problem["code"] == code, problem
    # a valid tx commits; replaying a lower nonce is refused; the same tx again is a duplicate
    status, accepted = post(url, good.encode(), "application/msgpack")
    assert status == 202
    devnet.wait_committed(1, accepted["tx_id"])
    stale = make_tx(chain_id, "noop", "ping", {"note": "old"}, [sender], 4)
    assert post(url, stale.encode(), "application/msgpack")[1]["code"] == "stale_nonce"
    assert post(url, good.encode(), "application/msgpack")[0] in (400, 409)
    # unknown and malformed ids
    assert http_json(devnet.api(1) + "/v1/txs/" + "ab" * 32)[0] == 404
    assert http_json(devnet.api(1) + "/v1/txs/xyz")[0] == 400
    assert http_json(devnet.api(1) + "/v1/blocks/99999999")[0] == 404
    after = devnet.status(1)
    assert after is not None and after["height"] >= before["height"]


async def _impostor_handshake(address: str, chain_id: str) -> str:
    """Connect to the peer port with a valid-looking certificate for a key outside the validator set."""
    host, _, port = address.rpartition(":")
    identity = make_identity(chain_id, KeyPair.generate())
    reader, writer = await asyncio.open_connection(host, int(port), ssl=identity.client)
    try:
        data = await asyncio.wait_for(reader.read(1), 15)
    except (ConnectionError, OSError):
        data = b""
    writer.close()
    return "accepted" if data else "closed"


def test_peer_with_unknown_key_is_refused_and_counted(devnet: Devnet) -> None:
    outcome = asyncio.run(_impostor_handshake(devnet.manifest.node(0).p2p, devnet.chain_id))
    assert outcome != "accepted"
    status, metrics = 0, ""
    with urllib.request.urlopen(devnet.api(0) + "/metrics", timeout=15) as response:
        status, metrics = response.status, response.read().decode()
    assert status == 200
    refusals = [
        line for line in metrics.splitlines() if line.startswith('silkport_net{counter="handshake_refusals"}')
    ]
    assert refusals and float(refusals[0].split()[-1]) >= 1
    assert devnet.status(0) is not None  # still up
    devnet.wait_height(0, (devnet.height(0) or 0) + 1)
