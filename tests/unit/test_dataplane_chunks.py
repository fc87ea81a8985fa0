"""chain.dataplane.chunks: the chunk tree against chain.merkle, RFC 6962 vectors and a naive model."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain import merkle
from chain.dataplane import chunks
from chain.errors import ProofError, ValidationError

DATA = Path(__file__).resolve().parents[1] / "data"
SMALL = chunks.MIN_CHUNK_SIZE


def _naive_root(leaves: list[bytes]) -> bytes:
    """MTH written straight from RFC 6962 §2.1, recursively."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + _naive_root(leaves[:k]) + _naive_root(leaves[k:])).digest()


def test_chunk_root_is_the_rfc6962_root_of_the_chunk_hash_leaves() -> None:
    data = bytes(range(256)) * 20  # 5120 bytes: 5 chunks of 1 KiB
    pieces = list(chunks.split_chunks(data, SMALL))
    assert [len(p) for p in pieces] == [1024] * 5
    hashes = [hashlib.sha256(p).digest() for p in pieces]
    leaves = [hashlib.sha256(b"\x00" + h).digest() for h in hashes]
    assert chunks.chunk_root(hashes) == _naive_root(leaves) == merkle.root(leaves)


def test_rfc6962_vector_roots_agree_when_leaves_are_chunk_hashes() -> None:
    """The vector file's leaf data are arbitrary bytes; a chunk hash is one such leaf (32 bytes)."""
    vectors = json.loads((DATA / "rfc6962_roots.json").read_text())
    assert vectors["hashing"]["leaf"] == "SHA-256(0x00 || data)"
    hashes = [hashlib.sha256(bytes([i])).digest() for i in range(9)]
    for n in range(len(hashes) + 1):
        assert chunks.chunk_root(hashes[:n]) == _naive_root([merkle.leaf_hash(h) for h in hashes[:n]])


def test_empty_dataset_has_no_chunks_and_the_empty_root() -> None:
    summary = chunks.summarize([], SMALL)
    assert summary.size == 0 and summary.chunk_hashes == ()
    assert summary.chunk_root == merkle.EMPTY_ROOT
    assert summary.content_hash == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("bad", [0, 1000, 3000, 1 << 25, True, "1024", 1.0])
def test_bad_chunk_sizes_are_refused_by_name(bad: object) -> None:
    with pytest.raises(ValidationError, match="chunk_size"):
        chunks.check_chunk_size(bad)


def test_chunk_length_and_out_of_range_index() -> None:
    assert chunks.chunk_count(2049, SMALL) == 3
    assert chunks.chunk_length(2, 2049, SMALL) == 1
    with pytest.raises(ValidationError, match="chunk index 3"):
        chunks.chunk_length(3, 2049, SMALL)
    with pytest.raises(ValidationError, match="chunk index -1"):
        chunks.chunk_length(-1, 2049, SMALL)
    with pytest.raises(ValidationError, match="size"):
        chunks.chunk_count(-1, SMALL)


def test_inclusion_proof_proves_a_chunk_and_rejects_an_altered_or_moved_one() -> None:
    data = bytes(i % 251 for i in range(SMALL * 6 + 17))
    pieces = list(chunks.split_chunks(data, SMALL))
    summary = chunks.summarize([data], SMALL)
    for index, piece in enumerate(pieces):
        proof = chunks.chunk_inclusion_proof(summary.chunk_hashes, index)
        chunks.verify_chunk(piece, index, len(pieces), proof, summary.chunk_root)
    proof = chunks.chunk_inclusion_proof(summary.chunk_hashes, 2)
    altered = bytearray(pieces[2])
    altered[0] ^= 1
    with pytest.raises(ProofError):
        chunks.verify_chunk(bytes(altered), 2, len(pieces), proof, summary.chunk_root)
    with pytest.raises(ProofError):
        chunks.verify_chunk(pieces[3], 2, len(pieces), proof, summary.chunk_root)
    with pytest.raises(ProofError):
        chunks.verify_chunk("text", 2, len(pieces), proof, summary.chunk_root)  # type: ignore[arg-type]


def test_hasher_refuses_use_after_finish() -> None:
    hasher = chunks.ChunkHasher(SMALL)
    hasher.finish()
    with pytest.raises(ValidationError, match="finished"):
        hasher.update(b"x")


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(min_value=0, max_value=SMALL * 9 + 3),
    log_chunk=st.integers(min_value=10, max_value=12),
    cuts=st.lists(st.integers(min_value=0, max_value=SMALL * 10), max_size=6),
)
def test_streaming_in_any_pieces_matches_the_whole_file(size: int, log_chunk: int, cuts: list[int]) -> None:
    chunk_size = 1 << log_chunk
    data = hashlib.shake_256(size.to_bytes(8, "big")).digest(size) if size else b""
    bounds = sorted({0, size, *(c for c in cuts if c <= size)})
    pieces = [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    hasher = chunks.ChunkHasher(chunk_size)
    emitted: list[bytes] = []
    for piece in pieces:
        emitted += hasher.update(piece)
    last, summary = hasher.finish()
    if last is not None:
        emitted.append(last)
    assert emitted == list(chunks.split_chunks(data, chunk_size))
    assert all(len(c) == chunk_size for c in emitted[:-1])
    assert summary.size == size == sum(map(len, emitted))
    assert len(emitted) == chunks.chunk_count(size, chunk_size)
    assert summary.content_hash == hashlib.sha256(data).digest()
    assert summary.chunk_root == _naive_root([merkle.leaf_hash(hashlib.sha256(c).digest()) for c in emitted])
