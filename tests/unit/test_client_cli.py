"""Client, AsyncClient and the ``silkport`` command against a real local API server (in-memory node)."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from chain.api import make_app, start
from chain.api.memory_node import MemoryNode
from chain.cli import main
from chain.client import ApiError, AsyncClient, Client
from chain.crypto import KeyPair, load_key_file, save_key_file
from chain.types import make_tx

CHAIN = "silkport-cli"
CONTRACTS = {"anchoring": ["anchor"], "collateral": ["pledge"]}


class ServerThread:
    """The REST API over a MemoryNode, served by an event loop in a background thread."""

    def __init__(self, app: web.Application | None = None) -> None:
        self.node = MemoryNode(CHAIN, contracts=CONTRACTS)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        app = app if app is not None else make_app(self.node, rate_limit=None)
        self.runner: web.AppRunner = self.call(start(app, "127.0.0.1", 0))
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def on_loop(self, fn: Callable[[], Any]) -> Any:
        async def wrapped() -> Any:
            return fn()

        return self.call(wrapped())

    def close(self) -> None:
        self.call(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def server() -> Iterator[ServerThread]:
    running = ServerThread()
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "alice.json"
    save_key_file(path, KeyPair.from_seed(b"\x0a" * 32))
    return path


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("silkport: error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, err)


# --- Python clients --------------------------------------------------------------------------------


def test_sync_client(server: ServerThread) -> None:
    client = Client(server.url)
    assert client.status()["chain_id"] == CHAIN
    alice = KeyPair.from_seed(b"\x0b" * 32)
    tx = make_tx(CHAIN, "anchoring", "anchor", {"hashes": [b"\x01" * 32]}, [alice], 1)
    assert client.submit(tx) == tx.tx_id
    assert client.tx(tx.tx_id)["status"] == "pending"
    server.on_loop(server.node.commit)
    assert client.tx(tx.tx_hash, wait=True, timeout=5)["status"] == "committed"
    assert client.block()["tx_ids"] == [tx.tx_id] and client.block(1)["height"] == 1
    assert len(client.raw_blocks(1, 1)) == 1
    with pytest.raises(ApiError) as info:
        client.submit(tx)
    assert (info.value.status, info.value.code) == (409, "duplicate_tx")
    with pytest.raises(ApiError) as info:
        client.block(99)
    assert (info.value.status, info.value.code) == (404, "not_found")
    with pytest.raises(ApiError) as info:
        Client("http://127.0.0.1:9").status()
    assert (info.value.status, info.value.code) == (0, "unreachable")


def test_async_client(server: ServerThread) -> None:
    alice = KeyPair.from_seed(b"\x0c" * 32)
    tx = make_tx(CHAIN, "anchoring", "anchor", {}, [alice], 7)
    wrong = make_tx("other", "anchoring", "anchor", {}, [alice], 8)

    async def body() -> None:
        async with AsyncClient(server.url) as client:
            assert (await client.status())["chain_id"] == CHAIN
            assert await client.submit(tx) == tx.tx_id
            assert (await client.tx(tx.tx_id))["status"] == "pending"
            with pytest.raises(ApiError) as info:
                await client.submit(wrong)
            assert (info.value.status, info.value.code) == (400, "wrong_chain")
            with pytest.raises(ApiError) as info:
                await client.block()
            assert info.value.code == "not_found"
        async with AsyncClient("http://127.0.0.1:9") as client:
            with pytest.raises(ApiError) as info:
                await client.status()
            assert info.value.code == "unreachable"

    asyncio.run(body())


# --- the silkport command ----------------------------------------------------------------------------


def test_keygen(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "k.json"
    code, out, _ = run_cli(capsys, "keygen", "-o", str(path))
    assert code == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert out.strip() == load_key_file(path).public_hex
    code, _, err = run_cli(capsys, "keygen", "-o", str(path))
    assert code == 1
    assert_one_line_error(err, str(path))
    code, out, _ = run_cli(capsys, "keygen", "-o", str(path), "--force", "--json")
    assert code == 0 and json.loads(out)["public_key"] == load_key_file(path).public_hex


def test_status(
    server: ServerThread, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run_cli(capsys, "status", "--node", server.url, "--json")
    assert code == 0 and json.loads(out)["chain_id"] == CHAIN
    monkeypatch.setenv("SILKPORT_NODE", server.url)
    code, out, _ = run_cli(capsys, "status")
    assert code == 0 and "chain_id" in out and CHAIN in out and "mempool_size" in out
    code, _, err = run_cli(capsys, "status", "--node", "http://127.0.0.1:9")
    assert code == 1
    assert_one_line_error(err, "cannot reach")


def test_tx_submit_show_and_block(
    server: ServerThread, key_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    node = ["--node", server.url]
    args = json.dumps({"hashes": [{"hex": "ab" * 32}], "label": "batch"})
    code, out, err = run_cli(
        capsys,
        "tx",
        "submit",
        "--key",
        str(key_file),
        "--contract",
        "anchoring",
        "--method",
        "anchor",
        "--args",
        args,
        *node,
    )
    assert code == 0, err
    tx_id = out.strip()
    (entry,) = server.node.txs.values()
    assert entry.tx.tx_id == tx_id and entry.tx.body.args_dict()["hashes"] == (b"\xab" * 32,)
    assert entry.tx.body.nonce > 1_600_000_000_000  # default nonce: milliseconds since the epoch

    code, out, _ = run_cli(capsys, "tx", "show", tx_id, *node)
    assert code == 0 and "pending" in out and "anchoring.anchor" in out
    server.on_loop(server.node.commit)
    code, out, _ = run_cli(capsys, "tx", "show", tx_id, "--wait", "--json", *node)
    assert code == 0 and json.loads(out)["status"] == "committed"

    code, out, _ = run_cli(capsys, "block", "show", *node)
    assert code == 0 and "block 1" in out and tx_id in out
    code, out, _ = run_cli(capsys, "block", "show", "1", "--json", *node)
    assert code == 0 and json.loads(out)["tx_ids"] == [tx_id]
    code, _, err = run_cli(capsys, "block", "show", "5", *node)
    assert code == 1
    assert_one_line_error(err, "not_found", "404")


def test_tx_submit_multisig_wait_and_args_file(
    server: ServerThread, key_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pledgee = tmp_path / "bank.json"
    save_key_file(pledgee, KeyPair.from_seed(b"\x0d" * 32))
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps({"asset": "a1", "amount": 1000, "terms": {"days": 90}}))
    server.node.auto_commit = True
    code, out, err = run_cli(
        capsys,
        "tx",
        "submit",
        "--key",
        str(key_file),
        "--key",
        str(pledgee),
        "--contract",
        "collateral",
        "--method",
        "pledge",
        "--args",
        f"@{args_file}",
        "--nonce",
        "42",
        "--wait",
        "--json",
        "--node",
        server.url,
    )
    assert code == 0, err
    info = json.loads(out)
    assert info["status"] == "committed"
    assert len(info["tx"]["body"]["signer_pubkeys"]) == 2 and info["tx"]["body"]["nonce"] == 42
    assert info["tx"]["body"]["args"] == {"amount": 1000, "asset": "a1", "terms": {"days": 90}}


def test_tx_submit_errors_are_one_line(
    server: ServerThread, key_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["tx", "submit", "--key", str(key_file), "--method", "anchor", "--node", server.url]
    code, _, err = run_cli(capsys, *base, "--contract", "casino")
    assert code == 1
    assert_one_line_error(err, "unknown_contract", "400")
    code, _, err = run_cli(capsys, *base, "--contract", "anchoring", "--args", "{oops")
    assert code == 1
    assert_one_line_error(err, "not valid JSON")
    code, _, err = run_cli(capsys, *base, "--contract", "anchoring", "--args", '{"x": 1.5}')
    assert code == 1
    assert_one_line_error(err, "float")
    code, _, err = run_cli(capsys, *base, "--contract", "anchoring", "--nonce", "5")
    assert code == 0
    code, _, err = run_cli(capsys, *base, "--contract", "anchoring", "--nonce", "5", "--args", '{"a": 1}')
    assert code == 1
    assert_one_line_error(err, "stale_nonce")
    missing = [
        "tx",
        "submit",
        "--key",
        str(tmp_path / "none.json"),
        "--contract",
        "anchoring",
        "--method",
        "anchor",
    ]
    code, _, err = run_cli(capsys, *missing, "--node", server.url)
    assert code == 1
    assert_one_line_error(err, "cannot read key file")
    code, _, err = run_cli(capsys, "tx", "show", "ab" * 32, "--node", server.url)
    assert code == 1
    assert_one_line_error(err, "not_found")
    os.chmod(key_file, 0o644)
    code, _, err = run_cli(capsys, *base, "--contract", "anchoring")
    assert code == 1
    assert_one_line_error(err, "chmod 600")


@pytest.mark.parametrize("all_ok", [True, False])
def test_rules_check(all_ok: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = json.loads((Path(__file__).parents[1] / "data" / "crossborder" / "scenarios.json").read_text())
    count = len(document["scenarios"])
    if not all_ok:
        expect = document["scenarios"][0]["expect"]
        expect["decision"] = "DENY" if expect["decision"] != "DENY" else "ALLOW"
    scenarios = tmp_path / "scenarios.json"
    scenarios.write_text(json.dumps(document))
    code, out, err = run_cli(capsys, "rules", "check", str(scenarios))
    assert code == (0 if all_ok else 1)
    assert len(out.splitlines()) == count and all(json.loads(line)["id"] for line in out.splitlines())
    misses = 0 if all_ok else 1
    assert err.splitlines()[-1] == f"{scenarios}: {count} scenarios, {count - misses} as expected, {misses} not"
    if not all_ok:
        assert err.startswith(f"MISMATCH {document['scenarios'][0]['id']}: ")
    code, out, _ = run_cli(capsys, "rules", "check", str(scenarios), "--json")
    assert json.loads(out)["ok"] is all_ok


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["block", "show", "tip"])
    assert info.value.code == 2
    assert "neither a height nor 'latest'" in capsys.readouterr().err


def test_inputs_that_are_not_what_they_claim_get_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    binary = tmp_path / "binary.key"
    binary.write_bytes(bytes(range(256)) * 4)
    os.chmod(binary, 0o600)
    code, _, err = run_cli(capsys, "tx", "submit", "--key", str(binary), "--contract", "noop", "--method", "ping",
                           "--node", "http://127.0.0.1:1")
    assert code == 1
    assert_one_line_error(err, "binary.key", "not a Silkport key file")

    code, _, err = run_cli(capsys, "verify", str(binary), "--genesis", str(binary))
    assert code == 1
    assert_one_line_error(err, "genesis file", "binary")

    code, _, err = run_cli(capsys, "status", "--node", "127.0.0.1:8080")
    assert code == 1
    assert_one_line_error(err, "no scheme", "http://127.0.0.1:8080")


def test_a_server_that_is_not_silkport_is_named_as_such(capsys: pytest.CaptureFixture[str]) -> None:
    async def html(_request: web.Request) -> web.Response:
        return web.Response(status=404, text="<!DOCTYPE html>\n<html><body>Not Found</body></html>",
                            content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", html)
    server = ServerThread(app)
    try:
        code, _, err = run_cli(capsys, "status", "--node", server.url)
    finally:
        server.close()
    assert code == 1
    assert_one_line_error(err, "not_silkport", "is --node a Silkport node's API URL?")


def test_signers_are_passed_with_repeated_key_everywhere(key_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "transfer", "review", "ab" * 32, "--approve", "--key", str(key_file),
                           "--key", str(key_file), "--node", "http://127.0.0.1:1")
    assert code == 1
    assert_one_line_error(err, "signed by one key; got 2 --key options")
    for command in (["tx", "submit", "--contract", "noop", "--method", "ping"], ["transfer", "request"],
                    ["asset", "register"], ["anchor", "submit", "x"]):
        with pytest.raises(SystemExit):
            main([*command, "--help"])
        assert "--key FILE" in capsys.readouterr().out, command
