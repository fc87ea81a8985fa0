"""``silkport asset|pledge|appraise|gov`` in-process against the real REST API over a LocalNode."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from chain.api import make_app, start
from chain.cli import main
from chain.crypto import KeyPair, save_key_file
from chain.dataplane.store import summarize_file
from chain.genesis import parse_genesis
from chain.localnode import LocalNode
from testkit import contracts as testkit

VALIDATORS = [testkit.key(f"validator-{i}") for i in range(4)]


class AutoNode(LocalNode):
    """A LocalNode that commits a block when a client waits for a pending transaction."""

    async def wait_tx(self, tx_id: bytes, timeout_s: float) -> dict[str, Any] | None:
        if tx_id in self.ledger.mempool:
            self.produce_block()
        return self.get_tx(tx_id)


class Server:
    def __init__(self) -> None:
        document = testkit.genesis_document(organisations=testkit.PORT_ORGANISATIONS, roles=testkit.PORT_ROLES)
        self.node = AutoNode(parse_genesis(document), VALIDATORS)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.runner: web.AppRunner = self.call(start(make_app(self.node, rate_limit=None), "127.0.0.1", 0))
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def close(self) -> None:
        self.call(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server()
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, str]:
    pairs: dict[str, KeyPair] = {
        "registrar": testkit.REGISTRAR, "owner": testkit.OWNER, "buyer": testkit.BUYER, "lender": testkit.LENDER,
        "appraiser": testkit.APPRAISER, "auth1": testkit.AUTHORITIES[0], "auth2": testkit.AUTHORITIES[1],
        "newcomer": testkit.key("newcomer"),
    }
    paths = {}
    for name, pair in pairs.items():
        save_key_file(tmp_path / f"{name}.json", pair)
        paths[name] = str(tmp_path / f"{name}.json")
    return paths


def cli(capsys: pytest.CaptureFixture[str], server: Server, *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--node", server.url])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("silkport: error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, err)


def test_asset_lifecycle_through_the_cli(server: Server, keys: dict[str, str], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    content = tmp_path / "manifests.csv"
    content.write_bytes(b"awb,weight_kg\n784-1,12\n")
    code, out, err = cli(capsys, server, "asset", "register", "--content", str(content), "--title", "Manifests",
                         "--sector", "logistics", "--grade", "GENERAL", "--field", "awb",
                         "--key", keys["registrar"], "--key", keys["owner"], "--wait", "--json")
    assert code == 0, err
    registered = json.loads(out)
    asset_id = registered["asset_id"]
    assert registered["receipt"]["ok"] and registered["receipt"]["events"][0]["subject"] == asset_id

    code, out, _ = cli(capsys, server, "asset", "show", asset_id)
    assert code == 0 and "SP-2025-000001" in out and "owner-co" in out
    code, out, _ = cli(capsys, server, "asset", "list")
    assert code == 0 and asset_id in out and "1 of 1 assets" in out

    report = tmp_path / "report.pdf"
    report.write_bytes(b"appraisal")
    code, out, err = cli(capsys, server, "appraise", asset_id, "--amount", "125000000", "--method", "income",
                         "--report", str(report), "--key", keys["appraiser"], "--wait")
    assert code == 0 and "ok" in out, err
    code, out, err = cli(capsys, server, "pledge", "create", asset_id, "--pledgee", keys["lender"], "--amount",
                         "80000000", "--days", "30", "--key", keys["owner"], "--key", keys["lender"], "--wait")
    assert code == 0, err
    code, out, _ = cli(capsys, server, "pledge", "show", asset_id, "--json")
    assert json.loads(out)["pledge"]["pledgee_org"] == "bank"

    code, out, err = cli(capsys, server, "asset", "transfer", asset_id, "--to", testkit.BUYER.public_hex,
                         "--price", "150000000", "--currency", "CNY", "--key", keys["owner"], "--key", keys["buyer"],
                         "--wait")
    assert code == 1 and "refused: asset_pledged" in out
    one_line_error(err, "refused", "asset_pledged")

    code, _, err = cli(capsys, server, "pledge", "release", asset_id, "--key", keys["lender"], "--wait")
    assert code == 0, err
    code, out, err = cli(capsys, server, "asset", "transfer", asset_id, "--to", keys["buyer"], "--key", keys["owner"],
                         "--key", keys["buyer"], "--wait")
    assert code == 0 and "ok" in out, err

    code, out, err = cli(capsys, server, "asset", "register", "--content-hash", "11" * 32, "--size", "10",
                         "--title", "Derived", "--sector", "logistics", "--grade", "GENERAL", "--parent", asset_id,
                         "--key", keys["registrar"], "--key", keys["buyer"], "--wait", "--json")
    assert code == 0, err
    derived = json.loads(out)["asset_id"]

    code, out, _ = cli(capsys, server, "asset", "history", asset_id)
    assert code == 0
    for name in ("registered", "appraised", "pledged", "released", "transferred", "derived"):
        assert name in out
    assert f"children: {derived}" in out
    code, out, _ = cli(capsys, server, "asset", "history", derived, "--json")
    assert json.loads(out)["lineage"]["parents"] == [asset_id]
    code, out, _ = cli(capsys, server, "asset", "list", "--owner", keys["buyer"], "--json")
    assert [a["id"] for a in json.loads(out)["items"]] == [asset_id, derived]

    code, out, err = cli(capsys, server, "asset", "retire", derived, "--reason", "superseded", "--key", keys["buyer"])
    assert code == 0 and len(out.strip()) == 64  # without --wait: the tx id


def test_governance_needs_the_quorum(server: Server, keys: dict[str, str],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    org = ("gov", "org-register", "--id", "hansa", "--name", "Hansa Logistik GmbH", "--jurisdiction", "DE",
           "--type", "COMPANY")
    code, out, err = cli(capsys, server, *org, "--key", keys["auth1"], "--wait")
    assert code == 1 and not out  # refused at admission (ADR 0012): never reaches a block
    one_line_error(err, "no_quorum", "1 of 2 required authority signatures")
    code, out, err = cli(capsys, server, *org, "--key", keys["auth1"], "--key", keys["auth2"], "--wait")
    assert code == 0 and "ok" in out, err
    code, _, err = cli(capsys, server, "gov", "member-add", keys["newcomer"], "--organisation", "hansa",
                       "--key", keys["auth1"], "--key", keys["auth2"], "--wait")
    assert code == 0, err
    code, _, err = cli(capsys, server, "gov", "role-grant", testkit.key("newcomer").public_hex, "--role", "appraiser",
                       "--key", keys["auth2"], "--key", keys["auth1"], "--wait")
    assert code == 0, err
    code, out, err = cli(capsys, server, "gov", "role-grant", keys["newcomer"], "--role", "appraiser",
                         "--key", keys["auth1"], "--key", keys["auth2"], "--wait", "--json")
    assert code == 1 and json.loads(out)["receipt"]["error_code"] == "role_already_granted"
    code, _, err = cli(capsys, server, "gov", "decision-register", "--id", "cac-2025-1", "--kind", "assessment",
                       "--holder", "hansa", "--status", "PASSED", "--issued", "2025-01-01", "--expires", "2027-12-31",
                       "--purpose", "intl_trade", "--key", keys["auth1"], "--key", keys["auth2"], "--wait")
    assert code == 0, err


def test_read_errors_are_one_line(server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, server, "asset", "show", "ab" * 32)
    assert code == 1
    one_line_error(err, "not_found")
    code, _, err = cli(capsys, server, "asset", "history", "nothex")
    assert code == 1
    one_line_error(err, "bad_asset_id")
    code, _, err = cli(capsys, server, "asset", "list", "--per-page", "1000")
    assert code == 1
    one_line_error(err, "per_page")


@pytest.mark.parametrize("json_output", [False, True])
def test_a_refused_registration_prints_no_asset_id_and_exits_1(
    server: Server, keys: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str], json_output: bool
) -> None:
    content = tmp_path / "data.csv"
    content.write_bytes(b"a,b\n1,2\n")
    argv = ["asset", "register", "--content", str(content), "--title", "T", "--sector", "logistics", "--grade",
            "GENERAL", "--key", keys["registrar"], "--key", keys["owner"], "--wait"]
    code, out, err = cli(capsys, server, *argv)
    assert code == 0, err
    # the same content again: admitted (the signers hold the roles), refused in the block as a duplicate
    code, out, err = cli(capsys, server, *argv, *(["--json"] if json_output else []))
    assert code == 1
    assert "asset_id" not in out and "certificate" not in out
    one_line_error(err, "refused")


def test_tx_submit_wait_exits_1_when_refused(server: Server, keys: dict[str, str],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, server, "tx", "submit", "--key", keys["registrar"], "--contract", "anchoring",
                         "--method", "anchor", "--args", '{"hashes": []}', "--wait")  # an empty batch: bad_args
    assert code == 1, out
    assert "failed" in out
    one_line_error(err, "refused")


def test_re_anchoring_a_known_hash_says_so(server: Server, keys: dict[str, str], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    first, second = tmp_path / "a.pdf", tmp_path / "b.pdf"
    first.write_bytes(b"bill of lading 1")
    second.write_bytes(b"bill of lading 2")
    code, _, err = cli(capsys, server, "anchor", "submit", str(first), "--key", keys["registrar"], "--wait")
    assert code == 0 and "already anchored" not in err, err
    code, out, err = cli(capsys, server, "anchor", "submit", str(first), str(second), "--key", keys["registrar"],
                         "--wait", "--json")
    assert code == 0, err
    digest = hashlib.sha256(b"bill of lading 1").hexdigest()
    assert json.loads(out)["already_anchored"] == [digest]
    assert f"already anchored (not counted again): {first} {digest}" in err
    assert "b.pdf" not in err


def test_register_with_content_records_the_chunk_layout(server: Server, keys: dict[str, str], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    content = tmp_path / "big.bin"
    content.write_bytes(bytes(range(256)) * 20)  # 5120 bytes: 5 chunks of 1 KiB
    code, out, err = cli(capsys, server, "asset", "register", "--content", str(content), "--title", "Chunked",
                         "--chunk-size", "1024", "--sector", "logistics", "--grade", "GENERAL",
                         "--key", keys["registrar"], "--key", keys["owner"], "--wait", "--json")
    assert code == 0, err
    asset_id = json.loads(out)["asset_id"]
    code, out, _ = cli(capsys, server, "asset", "show", asset_id, "--json")
    record = json.loads(out)
    expected = summarize_file(content, 1024)
    assert record["chunk_root"] == expected.chunk_root.hex() and record["chunk_size"] == 1024
    assert record["size"] == 5120
    code, _, err = cli(capsys, server, "asset", "register", "--content", str(content), "--title", "Bad",
                       "--chunk-size", "1000", "--sector", "logistics", "--grade", "GENERAL",
                       "--key", keys["registrar"], "--key", keys["owner"])
    assert code != 0 and "chunk_size" in err
