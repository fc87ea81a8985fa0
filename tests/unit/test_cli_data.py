"""``silkport data put`` / ``data status`` against a real HTTP server with a content store (ADR 0018)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from test_cli_assets import AutoNode, one_line_error

from chain.api import make_app, start
from chain.cli import main
from chain.crypto import save_key_file
from chain.dataplane.store import ContentStore
from chain.genesis import parse_genesis
from testkit import contracts as testkit

VALIDATORS = [testkit.key(f"validator-{i}") for i in range(4)]


class DataServer:
    def __init__(self, home: Path) -> None:
        document = testkit.genesis_document(organisations=testkit.PORT_ORGANISATIONS, roles=testkit.PORT_ROLES)
        self.node = AutoNode(parse_genesis(document), VALIDATORS)
        self.store = ContentStore(home)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        app = make_app(self.node, rate_limit=None, content_store=self.store)
        self.runner: web.AppRunner = self.call(start(app, "127.0.0.1", 0))
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
def server(tmp_path: Path) -> Iterator[DataServer]:
    running = DataServer(tmp_path / "node")
    try:
        yield running
    finally:
        running.close()


def cli(capsys: pytest.CaptureFixture[str], server: DataServer, *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--node", server.url])
    out, err = capsys.readouterr()
    return code, out, err


def _keys(tmp_path: Path) -> dict[str, str]:
    paths = {}
    for name, pair in (("registrar", testkit.REGISTRAR), ("owner", testkit.OWNER), ("buyer", testkit.BUYER)):
        save_key_file(tmp_path / f"{name}.json", pair)
        paths[name] = str(tmp_path / f"{name}.json")
    return paths


def _register(capsys: pytest.CaptureFixture[str], server: DataServer, keys: dict[str, str], content: Path,
              *extra: str) -> str:
    code, out, err = cli(capsys, server, "asset", "register", "--content", str(content), "--title", "Data",
                         "--sector", "logistics", "--grade", "GENERAL", *extra,
                         "--key", keys["registrar"], "--key", keys["owner"], "--wait", "--json")
    assert code == 0, err
    return str(json.loads(out)["asset_id"])


def test_put_streams_the_file_and_status_reports_it(server: DataServer, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    keys = _keys(tmp_path)
    content = tmp_path / "dataset.bin"
    content.write_bytes(bytes((i * 13) % 256 for i in range(3 * 1024 + 5)))
    asset_id = _register(capsys, server, keys, content, "--chunk-size", "1024")
    code, _, _ = cli(capsys, server, "data", "status", asset_id)
    assert code == 1  # not stored yet
    code, out, err = cli(capsys, server, "data", "put", asset_id, str(content), "--key", keys["owner"], "--json")
    assert code == 0, err
    assert json.loads(out)["chunks"] == 4
    code, out, _ = cli(capsys, server, "data", "status", asset_id, "--json")
    assert code == 0 and json.loads(out)["stored"] is True
    assert server.store.read_chunk(asset_id, 3) == content.read_bytes()[3072:]
    code, _, err = cli(capsys, server, "data", "put", asset_id, str(content), "--key", keys["owner"], "--quiet")
    assert code == 1
    one_line_error(err, "content_exists")


def test_put_refuses_a_different_file_and_a_non_owner(server: DataServer, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    keys = _keys(tmp_path)
    content = tmp_path / "dataset.bin"
    content.write_bytes(b"a,b\n" * 600)
    asset_id = _register(capsys, server, keys, content)
    other = tmp_path / "other.bin"
    other.write_bytes(b"a,b\n" * 599 + b"a,c\n")
    code, _, err = cli(capsys, server, "data", "put", asset_id, str(other), "--key", keys["owner"])
    assert code == 1
    one_line_error(err, "content_hash, chunk_root", "nothing was sent")
    code, _, err = cli(capsys, server, "data", "put", asset_id, str(content), "--key", keys["buyer"], "--quiet")
    assert code == 1
    one_line_error(err, "not_owner")
    code, _, err = cli(capsys, server, "data", "put", "../etc", str(content), "--key", keys["owner"])
    assert code == 1
    one_line_error(err, "asset id")
    assert not server.store.has(asset_id)


def test_fetch_needs_a_genesis_or_an_explicit_trust_node(server: DataServer, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    keys = _keys(tmp_path)
    code, _, err = cli(capsys, server, "data", "fetch", "ab" * 32, "-o", str(tmp_path / "x"), "--key", keys["owner"])
    assert code == 1
    one_line_error(err, "--genesis", "--trust-node")
    assert not (tmp_path / "x.part").exists()
