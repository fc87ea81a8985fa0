"""Browser tests of the explorer (ADR 0025): Debian's headless Chromium driven by Playwright over one real
4-node devnet per module, populated by ``python -m devnet demo`` and one anchored file.

Playwright never downloads a browser here: it launches ``/usr/bin/chromium`` (``.ci/system-deps``
installs it as root). ``SILKPORT_SCREENSHOTS=1`` writes the screenshots into ``docs/screenshots/``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from e2e.conftest import REPO, Devnet, http_json, start_devnet, teardown_devnet

from chain.crypto import KeyPair, load_key_file
from chain.types import make_tx

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = REPO / "docs" / "screenshots"


@dataclass
class Story:
    """What the module's devnet holds: the demo's assets and transfers, and one anchored file."""

    devnet: Devnet
    file: Path
    receipt: Path
    anchor_tx: str
    anchor_height: int


def _anchor_file(devnet: Devnet, directory: Path) -> tuple[Path, Path, str, int]:
    authorities = [load_key_file(p) for p in sorted((devnet.directory / "authorities").glob("authority*.json"))]
    registrar = KeyPair.generate()
    grant = make_tx(devnet.chain_id, "governance", "grant_role", {"public_key": registrar.public_key,
                                                                  "role": "registrar"},
                    authorities[:2], int(time.time() * 1000))
    devnet.wait_committed(0, devnet.submit(0, grant))
    document = directory / "customs-declaration.pdf"
    document.write_bytes(b"%PDF-1.4 customs declaration 2026-0042 " + os.urandom(2048))
    digest = hashlib.sha256(document.read_bytes()).digest()
    batch = [os.urandom(32) for _ in range(6)] + [digest] + [os.urandom(32) for _ in range(5)]
    anchor = make_tx(devnet.chain_id, "anchoring", "anchor", {"hashes": batch, "label": "customs declarations"},
                     [registrar], 1)
    height = devnet.wait_committed(1, devnet.submit(1, anchor))
    devnet.wait_height(0, height + 1)
    receipt = directory / "receipt.json"
    with urllib.request.urlopen(f"{devnet.api(0)}/v1/anchors/{digest.hex()}/receipt", timeout=30) as response:
        receipt.write_bytes(response.read())
    return document, receipt, anchor.tx_id, height


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    directory = tmp_path_factory.mktemp("explorer") / "devnet"
    try:
        devnet = start_devnet(directory)
        demo = subprocess.run([sys.executable, "-m", "devnet", "demo", "--dir", str(directory)], cwd=REPO,
                              capture_output=True, text=True, timeout=150)
        assert demo.returncode == 0, demo.stdout + demo.stderr
        file, receipt, tx_id, height = _anchor_file(devnet, directory.parent)
        yield Story(devnet, file, receipt, tx_id, height)
    finally:
        teardown_devnet(directory)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium (apt-get install chromium; .ci/system-deps does it as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any, story: Story) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1180, "height": 760})
    tab = context.new_page()
    tab.set_default_timeout(20_000)
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    yield tab
    context.close()
    assert not [e for e in errors if "404" not in e], errors  # CSP violations and script errors fail the test


def shoot(tab: Any, name: str, tmp_path: Path) -> None:
    """A screenshot of the viewport: into docs/screenshots with SILKPORT_SCREENSHOTS=1, else tmp_path."""
    target = SCREENSHOTS if os.environ.get("SILKPORT_SCREENSHOTS") == "1" else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(target / f"{name}.png"))
    assert (target / f"{name}.png").stat().st_size > 1000


def until(tab: Any, expression: str, timeout: float = 20) -> None:
    """Poll a JS expression until it is truthy. (Playwright's ``wait_for_function`` evaluates with
    ``eval`` in the page, which the explorer's CSP forbids, as it should.)"""
    deadline = time.monotonic() + timeout
    while not tab.evaluate(expression):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {expression}")
        tab.wait_for_timeout(100)


def api(story: Story, path: str) -> Any:
    code, body = http_json(f"{story.devnet.api(0)}{path}")
    assert code == 200, (path, code, body)
    return body


def first(items: list[dict[str, Any]], **wanted: Any) -> dict[str, Any]:
    for item in items:
        if all(item.get(k) == v for k, v in wanted.items()):
            return item
    raise AssertionError(f"nothing with {wanted} in {json.dumps(items)[:400]}")
