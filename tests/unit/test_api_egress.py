"""The valve's egress against a real HTTP server on a LocalNode (issue 14 part 4; ADR 0018).

A PI asset is taken to RELEASED by customs; the recipient pulls it with ``chain.dataplane.fetch``.
Every refusal is problem+json with zero bytes of data; every cut or altered stream resumes from the
last verified chunk and never presents a partial file as the dataset.
"""

from __future__ import annotations

import asyncio
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from test_api_transfers import CUSTOMS, Driver, local_node

from chain import codec
from chain.api import make_app, start
from chain.client import ApiError, Client
from chain.crossborder.contract import transfer_id_for
from chain.crypto import KeyPair
from chain.dataplane import chunks, fetch, requests, stream
from chain.dataplane.store import ContentStore, ExpectedContent
from chain.errors import ProofError
from testkit import contracts as tk

CHUNK = 1024
DATA = bytes((i * 7 + i // 1024) % 256 for i in range(CHUNK * 6 + 300))
SUMMARY = chunks.summarize([DATA], CHUNK)


class Valve:
    """A LocalNode with a content store behind a real aiohttp server, plus the transfers of the story."""

    def __init__(self, home: Path) -> None:
        self.node = local_node()
        self.driver = Driver(self.node)
        self.store = ContentStore(home)
        self.asset_id, self.released, self.pending, self.denied = self._story()
        upload = self.store.begin_upload(self.asset_id, ExpectedContent(
            SUMMARY.content_hash, SUMMARY.chunk_root, CHUNK, len(DATA)))
        upload.write(DATA)
        upload.finish()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        app = make_app(self.node, rate_limit=None, content_store=self.store)
        self.runner: web.AppRunner = asyncio.run_coroutine_threadsafe(start(app, "127.0.0.1", 0), self.loop).result(30)
        host, port = self.runner.addresses[0][:2]
        self.client = Client(f"http://{host}:{port}")

    def _story(self) -> tuple[str, str, str, str]:
        d = self.driver
        d.commit("registry", "register", tk.register_args(DATA, classification=tk.classification(
            contains_pi=True, sensitive_pi=True, subjects=10, sensitive_subjects=1),
            chunk_root=SUMMARY.chunk_root, chunk_size=CHUNK), [tk.REGISTRAR, tk.OWNER])
        asset_id = codec.sha256(d.last_tx_hash + SUMMARY.content_hash).hex()
        args = {"asset_id": asset_id, "recipient": "foreign-co", "destination": "DE", "purpose": "other",
                "lawful_basis": "CONTRACT", "subjects": 10, "sensitive_subjects": 1,
                "attestations": {"notice": "n", "pipia": "p"}}
        d.commit("crossborder", "request", args, [tk.OWNER])
        released = transfer_id_for(d.last_tx_hash)
        d.commit("governance", "register_decision", {
            "id": "SC-1", "kind": "standard_contract", "holder": "owner-co", "status": "FILED",
            "effective": "2025-01-01", "filing_id": "F-1"}, list(tk.AUTHORITIES[:2]))
        d.commit("crossborder", "attach_evidence", {"transfer_id": released, "decisions": ["SC-1"]}, [tk.OWNER])
        d.commit("crossborder", "customs_review", {"transfer_id": released, "approve": True, "note": "ok"}, [CUSTOMS])
        d.commit("crossborder", "request", args, [tk.OWNER])
        pending = transfer_id_for(d.last_tx_hash)
        d.commit("registry", "register", tk.register_args(b"core", classification=tk.classification(grade="CORE")),
                 [tk.REGISTRAR, tk.OWNER])
        core_id = codec.sha256(d.last_tx_hash + codec.sha256(b"core")).hex()
        d.commit("crossborder", "request", {**args, "asset_id": core_id, "subjects": 0, "sensitive_subjects": 0},
                 [tk.OWNER])
        return asset_id, released, pending, transfer_id_for(d.last_tx_hash)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def raw_get(self, transfer_id: str, key: KeyPair, chunk: int = 0, *, nonce: bytes | None = None,
                sign_chunk: int | None = None) -> tuple[int, bytes, str]:
        """One egress request by hand: ``(status, body, content type)``."""
        if nonce is None:
            nonce = bytes.fromhex(self.client._json("GET", f"/v1/transfers/{transfer_id}/challenge")["nonce"])
        node_id = self.client.status()["node_id"]
        signed = key.sign(stream.challenge_message(self.node.chain_id, transfer_id, node_id, nonce,
                                                   chunk if sign_chunk is None else sign_chunk))
        headers = {requests.SIGNER: key.public_hex, "Silkport-Nonce": nonce.hex(), requests.SIGNATURE: signed.hex()}
        request = urllib.request.Request(f"{self.client.base_url}/v1/transfers/{transfer_id}/data?chunk={chunk}",
                                         headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read(), response.headers.get_content_type()
        except urllib.error.HTTPError as error:
            return error.code, error.read(), error.headers.get_content_type()


@pytest.fixture
def valve(tmp_path: Path) -> Iterator[Valve]:
    running = Valve(tmp_path / "node")
    try:
        yield running
    finally:
        running.close()


def _refused(result: tuple[int, bytes, str], status: int, code: str) -> None:
    got, body, content_type = result
    assert got == status and content_type == "application/problem+json", (got, body[:200])
    assert f'"code": "{code}"'.encode() in body
    assert SUMMARY.chunk_hashes[0] not in body and DATA[:64] not in body  # zero bytes of data


def test_recipient_fetches_the_released_dataset(valve: Valve, tmp_path: Path) -> None:
    out = tmp_path / "got.bin"
    seen: list[int] = []
    result = fetch.fetch(valve.client, valve.released, out, tk.FOREIGN, seen.append)
    assert out.read_bytes() == DATA and result.chunks == 7 and result.resumed_from == 0
    assert sum(seen) == len(DATA)
    assert not (tmp_path / "got.bin.part").exists() and not (tmp_path / "got.bin.part.state").exists()


def test_the_stream_is_ciphertext_to_anyone_but_the_recipient(valve: Valve) -> None:
    status, body, _ = valve.raw_get(valve.released, tk.FOREIGN)
    assert status == 200
    for piece in chunks.split_chunks(DATA, CHUNK):
        assert piece[:48] not in body
    opening_length = stream.FRAME_HEADER.unpack(body[:4])[0]
    opening = body[4 : 4 + opening_length]
    with pytest.raises(ProofError, match="not sealed to this recipient"):
        stream.StreamOpener(tk.OWNER, opening, SUMMARY.chunk_root, valve.released, 0)


def test_refusals_carry_zero_bytes(valve: Valve) -> None:
    _refused(valve.raw_get(valve.released, tk.OWNER), 403, "not_recipient")  # a member of another organisation
    _refused(valve.raw_get(valve.pending, tk.FOREIGN), 403, "transfer_not_released")
    _refused(valve.raw_get(valve.denied, tk.FOREIGN), 403, "transfer_not_released")
    _refused(valve.raw_get(valve.released, tk.FOREIGN, chunk=7), 400, "bad_chunk")
    _refused(valve.raw_get(valve.released, tk.FOREIGN, sign_chunk=1), 400, "bad_signature")
    _refused(valve.raw_get(valve.released, tk.FOREIGN, nonce=b"\x01" * 32), 400, "bad_challenge")
    _refused(valve.raw_get("ab" * 32, tk.FOREIGN, nonce=b"\x01" * 32), 400, "bad_challenge")


def test_a_challenge_answers_once(valve: Valve) -> None:
    nonce = bytes.fromhex(valve.client._json("GET", f"/v1/transfers/{valve.released}/challenge")["nonce"])
    assert valve.raw_get(valve.released, tk.FOREIGN, nonce=nonce)[0] == 200
    _refused(valve.raw_get(valve.released, tk.FOREIGN, nonce=nonce), 400, "bad_challenge")
    other = bytes.fromhex(valve.client._json("GET", f"/v1/transfers/{valve.pending}/challenge")["nonce"])
    _refused(valve.raw_get(valve.released, tk.FOREIGN, nonce=other), 400, "bad_challenge")  # bound to a transfer


def test_revocation_and_lapsed_evidence_stop_access(valve: Valve, tmp_path: Path) -> None:
    valve.driver.commit("governance", "set_decision_status", {"id": "SC-1", "status": "ENDED"},
                        list(tk.AUTHORITIES[:2]))
    _refused(valve.raw_get(valve.released, tk.FOREIGN), 403, "evidence_expired")
    valve.driver.commit("governance", "set_decision_status", {"id": "SC-1", "status": "FILED"},
                        list(tk.AUTHORITIES[:2]))
    assert valve.raw_get(valve.released, tk.FOREIGN)[0] == 200
    valve.driver.commit("crossborder", "revoke", {"transfer_id": valve.released, "reason": "sanctions"},
                        list(tk.AUTHORITIES[:2]))
    _refused(valve.raw_get(valve.released, tk.FOREIGN), 403, "transfer_revoked")
    with pytest.raises(ApiError, match="transfer_revoked"):
        fetch.fetch(valve.client, valve.released, tmp_path / "x.bin", tk.FOREIGN)
    assert not (tmp_path / "x.bin").exists()


def test_a_cut_stream_resumes_from_the_last_verified_chunk(valve: Valve, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    real = fetch._read_frame
    calls = {"n": 0}

    def cut_after_three(response: Any, limit: int) -> bytes | None:
        calls["n"] += 1
        return None if calls["n"] == 5 else real(response, limit)  # opening + 3 chunks, then the cut

    monkeypatch.setattr(fetch, "_read_frame", cut_after_three)
    monkeypatch.setattr(fetch, "ATTEMPTS", 1)
    out = tmp_path / "got.bin"
    with pytest.raises(ProofError, match="stopped at chunk 3 of 7"):
        fetch.fetch(valve.client, valve.released, out, tk.FOREIGN)
    assert not out.exists() and (tmp_path / "got.bin.part").read_bytes() == DATA[: 3 * CHUNK]
    result = fetch.fetch(valve.client, valve.released, out, tk.FOREIGN)  # the same command again
    assert result.resumed_from == 3 and out.read_bytes() == DATA


def test_an_altered_chunk_is_rejected_and_fetched_again(valve: Valve, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    real = fetch._read_frame
    calls = {"n": 0}

    def alter_third_chunk(response: Any, limit: int) -> bytes | None:
        calls["n"] += 1
        data = real(response, limit)
        if calls["n"] == 4 and data is not None:
            data = data[:-20] + bytes([data[-20] ^ 1]) + data[-19:]
        return data

    monkeypatch.setattr(fetch, "_read_frame", alter_third_chunk)
    monkeypatch.setattr(fetch.time, "sleep", lambda _s: None)
    out = tmp_path / "got.bin"
    result = fetch.fetch(valve.client, valve.released, out, tk.FOREIGN)
    assert result.attempts == 2 and out.read_bytes() == DATA


def test_a_stale_state_file_for_another_transfer_is_ignored(valve: Valve, tmp_path: Path) -> None:
    out = tmp_path / "got.bin"
    (tmp_path / "got.bin.part").write_bytes(b"garbage" * 500)
    (tmp_path / "got.bin.part.state").write_text('{"transfer_id": "x", "chunk_root": "00", "next_chunk": 3}')
    fetch.fetch(valve.client, valve.released, out, tk.FOREIGN)
    assert out.read_bytes() == DATA


def test_a_failure_mid_stream_cuts_the_stream_instead_of_writing_a_second_answer(
        valve: Valve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(asset_id: str, index: int, *args: Any, **options: Any) -> bytes:
        raise RuntimeError("a bug while reading")

    monkeypatch.setattr(valve.store, "read_chunk", broken)
    monkeypatch.setattr(fetch, "ATTEMPTS", 1)
    with pytest.raises(ProofError, match="cut before chunk 0"):  # not a garbage frame from a problem+json
        fetch.fetch(valve.client, valve.released, tmp_path / "x.bin", tk.FOREIGN)


def test_challenge_floods_are_bounded() -> None:
    from chain.api.routes_data import Challenges
    from chain.errors import QuotaError

    challenges = Challenges(limit=3)
    for _ in range(3):
        challenges.issue("t", 0)
    with pytest.raises(QuotaError, match="too many open data challenges"):
        challenges.issue("t", 0)
    challenges.issue("t", stream.CHALLENGE_TTL_MS + 1)  # the expired ones make room


def test_a_revocation_committed_mid_stream_stops_it_before_the_next_chunk(valve: Valve, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    real_read = valve.store.read_chunk

    def revoke_while_serving_chunk_two(asset_id: str, index: int, summary: Any = None, **options: Any) -> bytes:
        if index == 2:
            valve.driver.commit("crossborder", "revoke", {"transfer_id": valve.released, "reason": "mid-stream"},
                                list(tk.AUTHORITIES[:2]))
        return real_read(asset_id, index, summary, **options)

    monkeypatch.setattr(valve.store, "read_chunk", revoke_while_serving_chunk_two)
    monkeypatch.setattr(fetch.time, "sleep", lambda _s: None)
    out = tmp_path / "got.bin"
    with pytest.raises(ApiError, match="transfer_revoked"):  # the cut stream, then the retry is refused
        fetch.fetch(valve.client, valve.released, out, tk.FOREIGN)
    assert not out.exists()
    # chunks 0-1: chunk 2 was being read when the revocation committed; access is decided again before
    # its write, so nothing read after the revoking block goes out
    assert (tmp_path / "got.bin.part").read_bytes() == DATA[: 2 * CHUNK]
