"""The recipient's side of the valve: a resumable, verified pull (issue 14 parts 4 and 6; ADR 0018).

:func:`fetch` writes into ``FILE.part`` and records progress in ``FILE.part.state`` (JSON: transfer,
chunk root, next chunk) only after the chunks are verified against the on-chain chunk root and
fsynced (every :data:`SYNC_EVERY` chunks and whenever a pull ends), so running the same command again resumes from the last verified chunk. ``FILE`` itself
appears only after the whole ``.part`` hashes to the registered ``content_hash`` (one rename).
A chunk that fails to open or verify is dropped and fetched again on the next attempt.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from chain import crypto
from chain.client import ApiError, Client, error_from_response
from chain.dataplane import chunks, requests, stream
from chain.errors import ProofError, ValidationError

ATTEMPTS = 3
SYNC_EVERY = 8
"""Verified chunks are fsynced and recorded in the state file every this many (and at the end)."""
Progress = Callable[[int], None]


@dataclass(frozen=True)
class FetchResult:
    path: Path
    size: int
    chunks: int
    resumed_from: int
    attempts: int


def _paths(out: Path) -> tuple[Path, Path]:
    return out.with_name(out.name + ".part"), out.with_name(out.name + ".part.state")


def _load_state(state_path: Path, transfer_id: str, chunk_root: bytes) -> int:
    try:
        state = json.loads(state_path.read_text())
    except (OSError, ValueError):
        return 0
    if state.get("transfer_id") != transfer_id or state.get("chunk_root") != chunk_root.hex():
        return 0
    next_chunk = state.get("next_chunk")
    return next_chunk if isinstance(next_chunk, int) and next_chunk >= 0 else 0


def _save_state(state_path: Path, transfer_id: str, chunk_root: bytes, next_chunk: int) -> None:
    temporary = state_path.with_name(state_path.name + ".tmp")
    temporary.write_text(json.dumps({"transfer_id": transfer_id, "chunk_root": chunk_root.hex(),
                                     "next_chunk": next_chunk}))
    os.replace(temporary, state_path)


def _read_exact(response: BinaryIO, n: int) -> bytes | None:
    """``n`` bytes, or None when the stream ends or the connection is cut first."""
    data = b""
    while len(data) < n:
        try:
            piece = response.read(n - len(data))
        except (http.client.HTTPException, OSError):  # IncompleteRead, reset: the server cut the stream
            return None
        if not piece:
            return None
        data += piece
    return data


def _read_frame(response: BinaryIO, limit: int) -> bytes | None:
    header = _read_exact(response, stream.FRAME_HEADER.size)
    if header is None:
        return None
    (length,) = stream.FRAME_HEADER.unpack(header)
    if length > limit:
        raise ProofError(f"a stream frame of {length} bytes exceeds the limit of {limit}")
    return _read_exact(response, length)


def _open_stream(client: Client, key: crypto.KeyPair, chain_id: str, transfer_id: str, first: int) -> Any:
    challenge = client._json("GET", f"/v1/transfers/{transfer_id}/challenge")
    nonce = bytes.fromhex(challenge["nonce"])
    signature = key.sign(stream.challenge_message(chain_id, transfer_id, str(challenge["node_id"]), nonce, first))
    headers = {requests.SIGNER: key.public_key.hex(), "Silkport-Nonce": nonce.hex(),
               requests.SIGNATURE: signature.hex(), "Accept": "application/octet-stream, application/problem+json"}
    request = urllib.request.Request(f"{client.base_url}/v1/transfers/{transfer_id}/data?chunk={first}",
                                     headers=headers)
    try:
        return urllib.request.urlopen(request, timeout=max(client.timeout_s, 60.0))
    except urllib.error.HTTPError as error:
        raise error_from_response(error.code, error.read()) from None
    except urllib.error.URLError as error:
        raise ApiError(0, "unreachable", f"cannot reach {client.base_url}: {error.reason}") from None


def fetch(client: Client, transfer_id: str, out: Path, key: crypto.KeyPair,
          progress: Progress | None = None) -> FetchResult:
    """Pull the transfer's dataset into ``out``, resuming a previous ``.part``; raises on failure."""
    if out.exists():
        raise ValidationError(f"{out} already exists; choose another -o FILE", code="output_exists")
    transfer = client.transfer(transfer_id)
    asset = client.asset(str(transfer["asset_id"]))
    if not asset.get("chunk_root"):
        raise ValidationError(f"asset {asset['id']} has no chunk layout on chain", code="no_layout")
    chunk_root, chunk_size = bytes.fromhex(asset["chunk_root"]), int(asset["chunk_size"])
    size, content_hash = int(asset["size"]), bytes.fromhex(asset["content_hash"])
    count = chunks.chunk_count(size, chunk_size)
    chain_id = str(client.status()["chain_id"])
    part, state_path = _paths(out)
    next_chunk = min(_load_state(state_path, transfer_id, chunk_root), count)
    resumed_from = next_chunk
    with open(part, "ab") as f:
        f.truncate(next_chunk * chunk_size)  # drop any tail written after the last verified chunk
    if progress is not None:
        progress(min(next_chunk * chunk_size, size))
    attempts = 0
    last_error: Exception | None = None
    while next_chunk < count and attempts < ATTEMPTS:
        attempts += 1
        try:
            next_chunk = _pull(client, key, chain_id, transfer_id, chunk_root, next_chunk, part, state_path, progress)
        except ProofError as error:  # altered or cut stream: keep what was verified, ask again
            last_error = error
            next_chunk = min(_load_state(state_path, transfer_id, chunk_root), count)
            with open(part, "ab") as f:
                f.truncate(next_chunk * chunk_size)
            time.sleep(0.2 * attempts)
    if next_chunk < count:
        raise ProofError(f"transfer {transfer_id}: stopped at chunk {next_chunk} of {count} ({last_error}); "
                         f"run the same command again to resume")
    digest = hashlib.sha256()
    with open(part, "rb") as f:
        for piece in iter(lambda: f.read(1 << 20), b""):
            digest.update(piece)
    if digest.digest() != content_hash or part.stat().st_size != size:
        part.unlink(missing_ok=True)
        state_path.unlink(missing_ok=True)
        raise ProofError("the assembled file does not match the registered content_hash; it was discarded")
    os.replace(part, out)
    state_path.unlink(missing_ok=True)
    return FetchResult(out, size, count, resumed_from, attempts)


def _pull(client: Client, key: crypto.KeyPair, chain_id: str, transfer_id: str, chunk_root: bytes, first: int,
          part: Path, state_path: Path, progress: Progress | None) -> int:
    """One request: append every chunk that verifies; return the next chunk still needed."""
    response = _open_stream(client, key, chain_id, transfer_id, first)
    next_chunk = first
    with response, open(part, "ab") as f:
        opening = _read_frame(response, 4096)
        if opening is None:
            raise ProofError("the stream ended before its opening frame")
        opener = stream.StreamOpener(key, opening, chunk_root, transfer_id, first)
        saved = first
        try:
            while not opener.finished:
                sealed = _read_frame(response, opener.max_frame)
                if sealed is None:
                    raise ProofError(f"the stream was cut before chunk {next_chunk}")
                _, chunk = opener.open(sealed)
                f.write(chunk)
                next_chunk += 1
                if progress is not None:
                    progress(len(chunk))
                if next_chunk - saved >= SYNC_EVERY:
                    saved = _checkpoint(f, state_path, transfer_id, chunk_root, next_chunk)
        finally:  # what was verified is kept, even when the stream fails
            if next_chunk > saved:
                _checkpoint(f, state_path, transfer_id, chunk_root, next_chunk)
    return next_chunk


def _checkpoint(f: BinaryIO, state_path: Path, transfer_id: str, chunk_root: bytes, next_chunk: int) -> int:
    """Persist before recording: fsync the verified chunks, then move the state past them."""
    f.flush()
    os.fsync(f.fileno())
    _save_state(state_path, transfer_id, chunk_root, next_chunk)
    return next_chunk
