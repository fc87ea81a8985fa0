"""Issue 12 parts 4–5 against real node processes (ADR 0012): no state from nobody, per-sender quotas,
the ``noop`` contract only on test chains, and validator keys encrypted at rest.

Each attack here succeeded on main before this change: a fresh key's ``noop.put`` and
``registry.register`` were admitted, committed and recorded the key's nonce; a member could grow the
state without bound; a node could only read a plaintext key.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chain import codec
from chain.crypto import KeyPair, load_key_file, save_key_file
from chain.types import SignedTx, make_tx
from devnet import procs

from .conftest import REPO, Devnet, http_json, running_devnet

pytestmark = [pytest.mark.blackbox, pytest.mark.timeout(180)]

QUOTA_BYTES = 4096


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[Devnet]:
    """A production-like 4-node chain (no test mode) whose senders may add 4 KiB of state per window."""
    yield from running_devnet(tmp_path, 4, "--param", f"max_state_bytes_per_window={QUOTA_BYTES}")


def post(devnet: Devnet, tx: SignedTx, index: int = 0) -> tuple[int, Any]:
    return http_json(f"{devnet.api(index)}/v1/txs", data=tx.encode())


def state_root(devnet: Devnet, index: int = 0) -> tuple[int, str]:
    block = devnet.block(index, "latest")
    assert block is not None
    return int(block["height"]), str(block["state_root"])


def receipt_of(devnet: Devnet, tx: SignedTx) -> dict[str, Any]:
    code, body = post(devnet, tx)
    assert code == 202, (code, body)
    devnet.wait_committed(0, tx.tx_id)
    status = devnet.tx_status(0, tx.tx_id)
    assert status is not None
    return dict(status["receipt"])


def register_args(content: bytes, owner: KeyPair) -> dict[str, Any]:
    return {
        "content_hash": codec.sha256(content), "size": len(content), "format": "csv", "title": "Port manifests",
        "owner": owner.public_key, "classification": {"sector": "logistics", "grade": "GENERAL", "origin": "CN"},
    }


def authorities(devnet: Devnet) -> list[KeyPair]:
    return [load_key_file(p) for p in sorted((devnet.directory / "authorities").glob("authority*.json"))]


def test_fresh_keys_are_refused_at_the_api_and_leave_no_trace(devnet: Devnet) -> None:
    nobody = KeyPair.generate()
    before = state_root(devnet)
    attempts = {
        "registry.register": (make_tx(devnet.chain_id, "registry", "register", register_args(b"x", nobody),
                                      [nobody], 1), 403, "missing_role", "lacks role registrar"),
        "governance": (make_tx(devnet.chain_id, "governance", "grant_role",
                               {"public_key": nobody.public_key, "role": "registrar"}, [nobody], 1),
                       403, "no_quorum", "authority signatures"),
        "crossborder": (make_tx(devnet.chain_id, "crossborder", "request",
                                {"asset_id": "ab" * 32, "recipient": "x", "destination": "DE", "purpose": "other",
                                 "lawful_basis": "consent"}, [nobody], 1),
                        403, "unknown_member", "is a member"),
        "noop.put": (make_tx(devnet.chain_id, "noop", "put", {"key": b"k", "value": b"v" * 4000}, [nobody], 1),
                     400, "unknown_method", "noop.put"),
    }
    for what, (tx, status, code, words) in attempts.items():
        for index in (0, 3):  # any node refuses, not only the primary
            answer, body = post(devnet, tx, index)
            assert answer == status, (what, answer, body)
            assert body["code"] == code and body["type"].endswith("/" + code), (what, body)
            assert words in body["detail"], (what, body)
            known, _ = http_json(f"{devnet.api(index)}/v1/txs/{tx.tx_id}")
            assert known == 404, what  # never pending, never committed
    devnet.wait_height(0, before[0] + 2)  # blocks go on; the state does not move
    after = state_root(devnet)
    assert after[0] > before[0] and after[1] == before[1]


def test_a_member_over_its_state_quota_gets_quota_exceeded(devnet: Devnet) -> None:
    chain_id = devnet.chain_id
    quorum = authorities(devnet)[:2]
    registrar, owner = KeyPair.generate(), KeyPair.generate()
    setup = [
        ("register_organisation", {"id": "hansa", "name": "Hansa", "jurisdiction": "CN", "type": "EXCHANGE"}),
        ("add_member", {"public_key": registrar.public_key, "organisation": "hansa"}),
        ("add_member", {"public_key": owner.public_key, "organisation": "hansa"}),
        ("grant_role", {"public_key": registrar.public_key, "role": "registrar"}),
    ]
    for nonce, (method, args) in enumerate(setup, start=1):
        receipt = receipt_of(devnet, make_tx(chain_id, "governance", method, args, quorum, nonce))
        assert receipt["ok"], (method, receipt)
    codes = []
    for nonce in range(1, 8):  # an asset record and its indexes are ~1 KiB: 4 KiB are spent within 7
        tx = make_tx(chain_id, "registry", "register", register_args(b"asset %d" % nonce, owner),
                     [registrar, owner], nonce)
        codes.append(receipt_of(devnet, tx)["error_code"])
        if codes[-1]:
            break
    assert codes[0] == "" and codes[-1] == "quota_exceeded", codes
    assert set(codes[:-1]) == {""}, codes


def test_noop_works_on_a_test_chain(tmp_path: Path) -> None:
    """The other half of the first test: with ``--test-mode`` the same ``noop.put`` commits."""
    gen = running_devnet(tmp_path, 1, "--test-mode")
    devnet = next(gen)
    try:
        genesis = json.loads(Path(devnet.manifest.genesis).read_text())
        assert genesis["params"]["test_mode"] is True
        before = state_root(devnet)
        receipt = receipt_of(devnet, make_tx(devnet.chain_id, "noop", "put", {"key": b"k", "value": b"v"},
                                             [KeyPair.generate()], 1))
        assert receipt["ok"] and receipt["events"][0]["name"] == "put", receipt
        assert state_root(devnet)[1] != before[1]
    finally:
        gen.close()


def run_node(home: str, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(REPO / "node.py"), "run", "--home", home, *extra],
        cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **(env or {})}, start_new_session=True,
    )


def refused_start(home: str, *extra: str, env: dict[str, str] | None = None) -> str:
    """Run a node that must not start: its exit code is non-zero and its stderr says why."""
    process = run_node(home, *extra, env=env)
    try:
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode not in (0, None), err
    assert "Traceback" not in err, err
    return err


def test_node_runs_from_an_encrypted_validator_key(tmp_path: Path) -> None:
    gen = running_devnet(tmp_path, 1, "--test-mode")
    devnet = next(gen)
    try:
        entry = devnet.manifest.node(0)
        height = devnet.wait_height(0, 1)
        devnet.cli("down")
        key_path = Path(entry.home) / "validator.key"
        keypair = load_key_file(key_path)
        save_key_file(key_path, keypair, overwrite=True, passphrase=b"correct horse", opslimit=1, memlimit=8192)
        assert "secret_key" not in key_path.read_text()
        env_clean = {"SILKPORT_KEY_PASSPHRASE": ""}

        err = refused_start(entry.home, env=env_clean)
        assert "is encrypted" in err and str(key_path) in err
        err = refused_start(entry.home, env={"SILKPORT_KEY_PASSPHRASE": "wrong horse"})
        assert "wrong passphrase" in err and str(key_path) in err
        bad_file = tmp_path / "bad.pass"
        bad_file.write_text("wrong horse\n")
        bad_file.chmod(0o600)
        err = refused_start(entry.home, "--key-passphrase-file", str(bad_file), env=env_clean)
        assert "wrong passphrase" in err

        good_file = tmp_path / "good.pass"
        good_file.write_text("correct horse\n")
        good_file.chmod(0o600)
        for extra, env in ((("--key-passphrase-file", str(good_file)), env_clean),
                           ((), {"SILKPORT_KEY_PASSPHRASE": "correct horse"})):
            process = run_node(entry.home, *extra, env=env)
            try:
                height = devnet.wait_height(0, height + 1)  # it commits blocks: it signs with the key
            finally:
                process.terminate()
                process.wait(timeout=30)
            assert process.returncode == 0
    finally:
        manifest = devnet.reload()
        for node in manifest.nodes:
            if procs.is_running(node):
                procs.kill_node(manifest, node.index)
        gen.close()
