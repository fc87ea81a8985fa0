"""The recipient trusts proofs, not the exporting node (ADR 0018 §12), and resumes losing at most one chunk.

A LocalNode serves the valve over real HTTP; the node's answers are then altered on the client side,
as a lying or man-in-the-middle node would: the asset JSON, the provenance bundle, the transfer's asset.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_api_egress import CHUNK, DATA, SUMMARY, Valve

from chain.dataplane import chunks, fetch, trust
from chain.errors import ProofError
from chain.proofs.document import canonical_json
from testkit import contracts as tk


@pytest.fixture(scope="module")
def valve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Valve]:
    running = Valve(tmp_path_factory.mktemp("trust") / "node")
    try:
        yield running
    finally:
        running.close()


def genesis(valve: Valve) -> Any:
    return valve.node.ledger.genesis


def test_the_layout_is_proved_from_genesis(valve: Valve, tmp_path: Path) -> None:
    layout = trust.proved_layout(valve.client, valve.released, genesis(valve))
    assert (layout.asset_id, layout.chunk_root, layout.content_hash) == (valve.asset_id, SUMMARY.chunk_root,
                                                                          SUMMARY.content_hash)
    assert (layout.size, layout.chunk_size) == (len(DATA), CHUNK) and layout.certified_height is not None
    out = tmp_path / "got.bin"
    fetch.fetch(valve.client, valve.released, out, tk.FOREIGN, genesis=genesis(valve))
    assert out.read_bytes() == DATA


def test_a_lie_in_the_asset_json_is_not_believed(valve: Valve, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    real = valve.client.asset

    def lying_asset(asset_id: str) -> dict[str, Any]:
        return {**real(asset_id), "chunk_root": "ab" * 32, "content_hash": "cd" * 32}

    monkeypatch.setattr(valve.client, "asset", lying_asset)
    monkeypatch.setattr(fetch.time, "sleep", lambda _s: None)
    with pytest.raises(ProofError):  # a client that believes the JSON cannot match the real stream
        fetch.fetch(valve.client, valve.released, tmp_path / "told.bin", tk.FOREIGN)
    out = tmp_path / "proved.bin"
    fetch.fetch(valve.client, valve.released, out, tk.FOREIGN, genesis=genesis(valve))  # the proof is used instead
    assert out.read_bytes() == DATA


def test_a_forged_record_in_the_bundle_is_detected(valve: Valve, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    real = valve.client.asset_proof_text

    def forged_bundle(asset_id: str, since: int | None = None) -> str:
        document = json.loads(real(asset_id, since))
        record = document["asset"]["record"]
        assert SUMMARY.chunk_root.hex() in record
        document["asset"]["record"] = record.replace(SUMMARY.chunk_root.hex(), "ee" * 32)
        return canonical_json(document)  # well-formed, so only the proof checks can catch it

    monkeypatch.setattr(valve.client, "asset_proof_text", forged_bundle)
    with pytest.raises(ProofError, match="state proof"):
        fetch.fetch(valve.client, valve.released, tmp_path / "x.bin", tk.FOREIGN, genesis=genesis(valve))
    assert not (tmp_path / "x.bin").exists() and not (tmp_path / "x.bin.part").exists()


def test_a_node_naming_the_wrong_asset_for_the_transfer_is_detected(valve: Valve, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    other_asset = valve.client.transfer(valve.denied)["asset_id"]  # a real asset with a valid bundle
    real = valve.client.transfer

    def lying_transfer(transfer_id: str) -> dict[str, Any]:
        return {**real(transfer_id), "asset_id": other_asset}

    monkeypatch.setattr(valve.client, "transfer", lying_transfer)
    with pytest.raises(ProofError, match="not in the proved history"):
        trust.proved_layout(valve.client, valve.released, genesis(valve))


def test_a_bundle_for_another_chain_is_refused(valve: Valve) -> None:
    other = tk.genesis_document()
    other["chain_id"] = "another-chain"
    with pytest.raises(ProofError):
        trust.proved_layout(valve.client, valve.released, other)


def journal(state: Path, records: list[tuple[int, bytes]], torn: bytes = b"") -> None:
    fetch._journal_path(state).write_bytes(b"".join(fetch.JOURNAL_RECORD.pack(i, h) for i, h in records) + torn)


def test_resume_keeps_journalled_chunks_that_are_intact_and_drops_the_rest(tmp_path: Path) -> None:
    part, state = tmp_path / "f.part", tmp_path / "f.part.state"
    hashes = [chunks.chunk_hash(p) for p in chunks.split_chunks(DATA, CHUNK)]
    damaged = bytearray(DATA[: 5 * CHUNK])
    damaged[3 * CHUNK + 7] ^= 1  # chunk 3 did not survive (a power loss after its journal record)
    part.write_bytes(bytes(damaged))
    fetch._save_state(state, "t", SUMMARY.chunk_root, 2)
    journal(state, [(0, hashes[0]), (2, hashes[2]), (3, hashes[3]), (4, hashes[4])])
    assert fetch._resume_point(state, part, "t", SUMMARY.chunk_root, CHUNK, 7) == 3
    assert part.read_bytes() == DATA[: 3 * CHUNK]
    part.write_bytes(DATA[: 5 * CHUNK] + b"half of chunk 5")  # a kill while chunk 5 was being written
    journal(state, [(2, hashes[2]), (3, hashes[3]), (4, hashes[4])], torn=b"\x00" * 20)
    assert fetch._resume_point(state, part, "t", SUMMARY.chunk_root, CHUNK, 7) == 5
    assert part.read_bytes() == DATA[: 5 * CHUNK]
    part.write_bytes(DATA[: 5 * CHUNK])
    journal(state, [(3, hashes[3]), (4, hashes[4])])  # a gap after the durable chunks: nothing past it is kept
    assert fetch._resume_point(state, part, "t", SUMMARY.chunk_root, CHUNK, 7) == 2


def test_a_journal_without_a_matching_state_is_not_trusted(tmp_path: Path) -> None:
    part, state = tmp_path / "f.part", tmp_path / "f.part.state"
    part.write_bytes(DATA[: 2 * CHUNK])
    journal(state, [(0, chunks.chunk_hash(DATA[:CHUNK])), (1, chunks.chunk_hash(DATA[CHUNK : 2 * CHUNK]))])
    assert fetch._resume_point(state, part, "t", SUMMARY.chunk_root, CHUNK, 7) == 0
    fetch._save_state(state, "another transfer", SUMMARY.chunk_root, 0)
    part.write_bytes(DATA[: 2 * CHUNK])
    assert fetch._resume_point(state, part, "t", SUMMARY.chunk_root, CHUNK, 7) == 0


ROOT = SUMMARY.chunk_root.hex()


@pytest.mark.parametrize("text", [
    "{", '{"transfer_id": "t"}', "[]",
    json.dumps({"transfer_id": "t", "chunk_root": ROOT, "next_chunk": -1}),
    json.dumps({"transfer_id": "t", "chunk_root": ROOT, "next_chunk": "4"}),
    json.dumps({"transfer_id": "t", "chunk_root": "00" * 32, "next_chunk": 4}),
])
def test_a_bad_state_file_restarts_from_zero(tmp_path: Path, text: str) -> None:
    part, state = tmp_path / "f.part", tmp_path / "f.part.state"
    part.write_bytes(DATA)
    state.write_text(text)
    assert fetch._resume_point(state, part, "t", SUMMARY.chunk_root, CHUNK, 7) == 0 and part.read_bytes() == b""


class LyingProxy:
    """A man-in-the-middle HTTP server in front of the valve node, rewriting answers as ``rewrite`` says."""

    def __init__(self, upstream: str, rewrite: Any) -> None:
        import http.server
        import threading
        import urllib.error
        import urllib.request

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server name
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                request = urllib.request.Request(upstream + self.path, headers=headers)
                try:
                    with urllib.request.urlopen(request, timeout=30) as answer:
                        status, body, kind = answer.status, answer.read(), answer.headers.get("Content-Type", "")
                except urllib.error.HTTPError as error:
                    status, body, kind = error.code, error.read(), error.headers.get("Content-Type", "")
                body = rewrite(self.path, body)
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_man_in_the_middle_lying_about_the_chunk_root_is_detected(valve: Valve, tmp_path: Path) -> None:
    from chain.client import Client

    true_root, false_root = SUMMARY.chunk_root.hex(), "ee" * 32

    def lie_everywhere(path: str, body: bytes) -> bytes:
        if path.endswith("/proof"):  # the bundle's record, re-canonicalised so only the proofs can catch it
            document = json.loads(body)
            document["asset"]["record"] = document["asset"]["record"].replace(true_root, false_root)
            return canonical_json(document).encode()
        return body.replace(true_root.encode(), false_root.encode())  # the asset JSON too

    proxy = LyingProxy(valve.client.base_url, lie_everywhere)
    try:
        with pytest.raises(ProofError, match="state proof"):
            fetch.fetch(Client(proxy.url), valve.released, tmp_path / "x.bin", tk.FOREIGN, genesis=genesis(valve))
        assert not (tmp_path / "x.bin").exists() and not (tmp_path / "x.bin.part").exists()
    finally:
        proxy.close()
    honest = LyingProxy(valve.client.base_url, lambda _path, body: body)  # the same relay, telling the truth
    try:
        fetch.fetch(Client(honest.url), valve.released, tmp_path / "ok.bin", tk.FOREIGN, genesis=genesis(valve))
        assert (tmp_path / "ok.bin").read_bytes() == DATA
    finally:
        honest.close()
