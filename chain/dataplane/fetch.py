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
import struct
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from chain import crypto
from chain.client import ApiError, Client, error_from_response
from chain.dataplane import chunks, requests, stream, trust
from chain.errors import ProofError, ValidationError
from chain.genesis import GenesisDoc

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


JOURNAL_RECORD = struct.Struct(">Q32s")
"""One ``.part.journal`` record: a chunk's index and the SHA-256 it was verified with."""


def _journal_path(state_path: Path) -> Path:
    return state_path.with_name(state_path.name.removesuffix(".state") + ".journal")


def _load_state(state_path: Path, transfer_id: str, chunk_root: bytes) -> int | None:
    """The durable chunk count the state file records for this transfer and root; None if unusable."""
    try:
        state = json.loads(state_path.read_text())
        if state.get("transfer_id") != transfer_id or state.get("chunk_root") != chunk_root.hex():
            return None
        durable = state.get("next_chunk")
    except (OSError, ValueError, TypeError, AttributeError):
        return None
    return durable if isinstance(durable, int) and durable >= 0 else None


def _journal(state_path: Path) -> list[tuple[int, bytes]]:
    """The whole records of the journal (a torn last record is ignored)."""
    try:
        raw = _journal_path(state_path).read_bytes()
    except OSError:
        return []
    size = JOURNAL_RECORD.size
    return [JOURNAL_RECORD.unpack_from(raw, at) for at in range(0, len(raw) - size + 1, size)]


def _resume_point(state_path: Path, part: Path, transfer_id: str, chunk_root: bytes, chunk_size: int,
                  count: int) -> int:
    """The first chunk still needed; the ``.part`` is truncated to the verified chunks before it.

    Chunks before the state file's ``next_chunk`` were fsynced before it said so. A chunk after them
    is kept if the journal names it, in order, and its bytes in ``.part`` still hash to the hash it was
    verified with (a process kill keeps them; a power loss may not).
    """
    durable = _load_state(state_path, transfer_id, chunk_root)
    next_chunk = 0 if durable is None else min(durable, count)
    part.touch()
    with open(part, "rb") as f:
        for index, expected in [] if durable is None else _journal(state_path):  # the journal of this pull only
            if index < next_chunk:
                continue  # a record from before the last fsync
            f.seek(index * chunk_size)
            if index != next_chunk or index >= count or chunks.chunk_hash(f.read(chunk_size)) != expected:
                break
            next_chunk += 1
    with open(part, "ab") as f:
        f.truncate(next_chunk * chunk_size)  # drop any tail written after the last verified chunk
    return next_chunk


def _save_state(state_path: Path, transfer_id: str, chunk_root: bytes, next_chunk: int) -> None:
    temporary = state_path.with_name(state_path.name + ".tmp")
    temporary.write_text(json.dumps({"transfer_id": transfer_id, "chunk_root": chunk_root.hex(),
                                     "next_chunk": next_chunk}))
    os.replace(temporary, state_path)


def _read_exact(response: BinaryIO, n: int) -> bytes | None:
    """``n`` bytes, or None when the stream ends or the connection is cut first."""
    data = bytearray(n)
    view, got = memoryview(data), 0
    while got < n:
        try:
            piece = response.readinto(view[got:])  # type: ignore[attr-defined]
        except (http.client.HTTPException, OSError):  # IncompleteRead, reset: the server cut the stream
            return None
        if not piece:
            return None
        got += piece
    return bytes(data)


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
          progress: Progress | None = None, *, genesis: GenesisDoc | dict[str, Any] | None = None) -> FetchResult:
    """Pull the transfer's dataset into ``out``, resuming a previous ``.part``; raises on failure.

    With ``genesis`` the layout checked against (asset, ``chunk_root``, size, ``content_hash``) is
    proved from genesis by the asset's provenance bundle (:func:`chain.dataplane.trust.proved_layout`);
    without it, it is the node's word.
    """
    if out.exists():
        raise ValidationError(f"{out} already exists; choose another -o FILE", code="output_exists")
    layout = trust.told_layout(client, transfer_id) if genesis is None else \
        trust.proved_layout(client, transfer_id, genesis)
    chunk_root, chunk_size, size, count = layout.chunk_root, layout.chunk_size, layout.size, layout.chunk_count
    chain_id = str(client.status()["chain_id"])
    part, state_path = _paths(out)
    next_chunk = _resume_point(state_path, part, transfer_id, chunk_root, chunk_size, count)
    resumed_from = next_chunk
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
            next_chunk = _resume_point(state_path, part, transfer_id, chunk_root, chunk_size, count)
            time.sleep(0.2 * attempts)
    if next_chunk < count:
        raise ProofError(f"transfer {transfer_id}: stopped at chunk {next_chunk} of {count} ({last_error}); "
                         f"run the same command again to resume")
    digest = hashlib.sha256()
    with open(part, "rb") as f:
        for piece in iter(lambda: f.read(1 << 20), b""):
            digest.update(piece)
    if digest.digest() != layout.content_hash or part.stat().st_size != size:
        part.unlink(missing_ok=True)
        state_path.unlink(missing_ok=True)
        _journal_path(state_path).unlink(missing_ok=True)
        raise ProofError("the assembled file does not match the registered content_hash; it was discarded")
    os.replace(part, out)
    state_path.unlink(missing_ok=True)
    _journal_path(state_path).unlink(missing_ok=True)
    return FetchResult(out, size, count, resumed_from, attempts)


class _Record:
    """Record each verified chunk in ``.part.journal``; fsync and move ``.part.state`` every :data:`SYNC_EVERY`.

    Persist before record: a chunk's bytes are written to ``.part`` before its journal record, and the
    state's ``next_chunk`` moves only after an ``fsync`` of ``.part`` (then the journal is emptied). A
    resume keeps journalled chunks only if they are intact (:func:`_resume_point`), so a killed client
    re-fetches at most the chunk it was receiving, for one 40-byte append per chunk.
    """

    def __init__(self, state_path: Path, transfer_id: str, chunk_root: bytes, first: int) -> None:
        self.state_path, self.transfer_id, self.chunk_root = state_path, transfer_id, chunk_root
        self.durable = self.next_chunk = first

    def start(self, f: BinaryIO) -> None:
        """Make ``first`` durable and name this pull in the state, then start an empty journal for it."""
        os.fsync(f.fileno())  # resumed chunks may have been kept from the journal, unsynced
        _save_state(self.state_path, self.transfer_id, self.chunk_root, self.durable)
        self._journal = open(_journal_path(self.state_path), "wb", buffering=0)  # noqa: SIM115 - closed in sync

    def verified(self, f: BinaryIO, chunk_hash: bytes) -> None:
        f.flush()
        self._journal.write(JOURNAL_RECORD.pack(self.next_chunk, chunk_hash))
        self.next_chunk += 1
        if self.next_chunk - self.durable >= SYNC_EVERY:
            self.sync(f)

    def sync(self, f: BinaryIO, *, close: bool = False) -> None:
        if self.next_chunk > self.durable:
            f.flush()
            os.fsync(f.fileno())
            _save_state(self.state_path, self.transfer_id, self.chunk_root, self.next_chunk)
            self.durable = self.next_chunk
            self._journal.truncate(0)
        if close:
            self._journal.close()


def _pull(client: Client, key: crypto.KeyPair, chain_id: str, transfer_id: str, chunk_root: bytes, first: int,
          part: Path, state_path: Path, progress: Progress | None) -> int:
    """One request: append every chunk that verifies; return the next chunk still needed."""
    response = _open_stream(client, key, chain_id, transfer_id, first)
    next_chunk = first
    with response, open(part, "ab", buffering=0) as f:
        opening = _read_frame(response, 4096)
        if opening is None:
            raise ProofError("the stream ended before its opening frame")
        opener = stream.StreamOpener(key, opening, chunk_root, transfer_id, first)
        record = _Record(state_path, transfer_id, chunk_root, first)
        record.start(f)
        try:
            while not opener.finished:
                sealed = _read_frame(response, opener.max_frame)
                if sealed is None:
                    raise ProofError(f"the stream was cut before chunk {next_chunk}")
                _, chunk = opener.open(sealed)
                f.write(chunk)
                record.verified(f, opener.last_chunk_hash)
                next_chunk += 1
                if progress is not None:
                    progress(len(chunk))
        finally:  # what was verified is kept, even when the stream fails
            record.sync(f, close=True)
    return next_chunk
