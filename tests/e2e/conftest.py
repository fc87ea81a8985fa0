"""Helpers for black-box tests: real node processes on loopback, driven only through the devnet CLI
and the REST API (CometBFT's e2e runner in miniature: start from a manifest, check invariants).

Every wait is a poll with a deadline (:func:`wait_until`); nothing asserts on elapsed time.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from chain.crypto import KeyPair
from chain.types import SignedTx, make_tx
from devnet import layout, procs

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")
LIMITED_RETRY_PAUSE_S = 0.1
"""Pause before re-polling a status the API limits refused (429/503)."""


def devnet_cli(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``python -m devnet ARGS`` from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "devnet", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def wait_until(probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.2) -> T:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def http_json(url: str, *, data: bytes | None = None, timeout: float = 15) -> tuple[int, Any]:
    """GET (or POST msgpack ``data``) and decode the JSON answer; (0, None) if the node is unreachable."""
    headers = {"Content-Type": "application/msgpack"} if data is not None else {}
    request = urllib.request.Request(
        url, data=data, headers=headers, method="POST" if data is not None else "GET"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, json.loads(body)
        except ValueError:
            return exc.code, body.decode(errors="replace")
    except (OSError, ValueError):
        return 0, None


class Devnet:
    """A running devnet seen from outside: its manifest, CLI and API."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.manifest = layout.load_manifest(directory)
        self.chain_id = self.manifest.chain_id
        self.size = len(self.manifest.nodes)

    def reload(self) -> layout.Manifest:
        self.manifest = layout.load_manifest(self.directory)
        return self.manifest

    def api(self, index: int) -> str:
        return self.manifest.node(index).api

    def cli(self, *args: str | int) -> subprocess.CompletedProcess[str]:
        result = devnet_cli(*map(str, args), "--dir", self.directory)
        assert result.returncode == 0, (
            f"devnet {args} failed:\n{result.stdout}{result.stderr}\n{self.log_tails()}"
        )
        self.reload()
        return result

    def log_tails(self, lines: int = 15) -> str:
        return "\n".join(
            f"--- node{e.index} log ---\n{procs.log_tail(e, lines)}" for e in self.manifest.nodes
        )

    # --- API ---

    def status(self, index: int) -> dict[str, Any] | None:
        """``/v1/status`` of node ``index`` (None if it does not answer). A polite client: a 429/503 of
        the API limits (ADR 0011; every test shares 127.0.0.1) is retried after a short pause."""
        for _attempt in range(20):
            code, body = http_json(f"{self.api(index)}/v1/status", timeout=2)
            if code not in (429, 503):
                return body if code == 200 and isinstance(body, dict) else None
            time.sleep(LIMITED_RETRY_PAUSE_S)
        return None

    def height(self, index: int) -> int | None:
        status = self.status(index)
        return int(status["height"]) if status else None

    def view(self, index: int) -> int | None:
        status = self.status(index)
        return int(status["view"]) if status else None

    def primary(self, index: int) -> int:
        """The primary as node ``index`` sees it, as a validator index (status may give index or key)."""
        status = self.status(index)
        assert status is not None, f"node {index} does not answer"
        primary = status["primary"]
        if isinstance(primary, int):
            return primary
        for entry in self.manifest.nodes:
            if entry.id == primary:
                return entry.index
        raise AssertionError(f"unknown primary {primary!r}")

    def block(self, index: int, height: int | str) -> dict[str, Any] | None:
        code, body = http_json(f"{self.api(index)}/v1/blocks/{height}", timeout=5)
        return body if code == 200 and isinstance(body, dict) else None

    def block_hash(self, index: int, height: int) -> str | None:
        block = self.block(index, height)
        return str(block["hash"]) if block else None

    def submit(self, index: int, tx: SignedTx) -> str:
        code, body = http_json(f"{self.api(index)}/v1/txs", data=tx.encode())
        assert code == 202, f"POST /v1/txs to node {index}: {code} {body}"
        assert body["tx_id"] == tx.tx_id
        return tx.tx_id

    def tx_status(self, index: int, tx_id: str, wait: float = 5) -> dict[str, Any] | None:
        code, body = http_json(
            f"{self.api(index)}/v1/txs/{tx_id}?wait=commit&timeout={wait:g}", timeout=wait + 5
        )
        return body if code == 200 and isinstance(body, dict) else None

    def wait_committed(self, index: int, tx_id: str, timeout: float = 60) -> int:
        """Wait until node ``index`` reports ``tx_id`` committed; return its height."""

        def committed() -> int | None:
            status = self.tx_status(index, tx_id)
            return int(status["height"]) if status and status.get("status") == "committed" else None

        return wait_until(committed, timeout, f"tx {tx_id[:16]} committed on node {index}", interval=0.1)

    def wait_height(self, index: int, height: int, timeout: float = 60) -> int:
        def reached() -> int | None:
            current = self.height(index)
            return current if current is not None and current >= height else None

        return wait_until(reached, timeout, f"node {index} at height >= {height}")

    def hashes(self, index: int, upto: int) -> list[str | None]:
        """Block hashes of heights 0..upto on node ``index``."""
        return [self.block_hash(index, h) for h in range(upto + 1)]

    def assert_agree(self, indices: list[int], upto: int) -> None:
        """Every listed node has blocks 0..upto and they have the same hash at every height."""
        reference = self.hashes(indices[0], upto)
        assert None not in reference, f"node {indices[0]} is missing blocks up to {upto}"
        for index in indices[1:]:
            other = self.hashes(index, upto)
            for height, (mine, theirs) in enumerate(zip(reference, other, strict=True)):
                assert mine == theirs, (
                    f"height {height}: node {indices[0]} has {mine}, node {index} has {theirs}"
                )


def noop_tx(chain_id: str, note: str) -> SignedTx:
    """A ``noop.ping`` from a fresh sender (nonce 1), so concurrent submissions never race on nonces."""
    return make_tx(chain_id, "noop", "ping", {"note": note[:128]}, [KeyPair.generate()], 1)


def start_devnet(directory: Path, nodes: int = 4, *options: str) -> Devnet:
    """``devnet up --detach`` with ``options`` (``--test-mode``, ``--param NAME=VALUE``)."""
    result = devnet_cli(
        "up", "--dir", directory, "--nodes", str(nodes), "--detach", "--ready-timeout", "60", "--no-cast", *options
    )
    if result.returncode != 0:
        tails = ""
        if layout.has_devnet(directory):
            manifest = layout.load_manifest(directory)
            tails = "\n".join(f"--- node{e.index} ---\n{procs.log_tail(e)}" for e in manifest.nodes)
        pytest.fail(f"devnet up failed:\n{result.stdout}{result.stderr}\n{tails}")
    return Devnet(directory)


def teardown_devnet(directory: Path) -> None:
    """``devnet down``, then SIGKILL anything still recorded as running (never leave processes behind)."""
    if not layout.has_devnet(directory):
        return
    devnet_cli("down", "--dir", directory, "--timeout", "10", timeout=60)
    manifest = layout.load_manifest(directory)
    for entry in manifest.nodes:
        if procs.is_running(entry):
            procs.kill_node(manifest, entry.index)


def running_devnet(tmp_path: Path, nodes: int = 4, *options: str) -> Iterator[Devnet]:
    """A devnet in ``tmp_path`` for the length of a test, always torn down."""
    directory = tmp_path / "devnet"
    try:
        yield start_devnet(directory, nodes, *options)
    finally:
        teardown_devnet(directory)


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[Devnet]:
    """A 4-node production-like devnet (no test mode: no ``noop``) in ``tmp_path``."""
    yield from running_devnet(tmp_path)



@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On failure, attach the last lines of every node's log to the report."""
    report = yield
    running = getattr(item, "funcargs", {}).get("devnet")
    if report.when == "call" and report.failed and isinstance(running, Devnet):
        report.sections.append(("node logs", running.log_tails(25)))
        statuses = {}
        for entry in running.manifest.nodes:
            status = running.status(entry.index) or {}
            statuses[entry.index] = {k: status.get(k) for k in ("height", "view", "primary", "peers", "mempool_size")}
        report.sections.append(("node status", json.dumps(statuses, indent=1)))
    return report
