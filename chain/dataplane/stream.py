"""The egress challenge and the end-to-end encrypted chunk stream (issue 14 part 4; ADR 0018).

**Challenge.** ``GET /v1/transfers/{id}/challenge`` returns a random 32-byte ``nonce`` that the node
remembers for :data:`CHALLENGE_TTL_MS`, bound to the transfer and to the node's id. The recipient
signs ``signing_bytes(DOMAIN_DATA_GET, chain_id, [transfer_id, node_id, nonce, first_chunk])`` with
its Ed25519 key; the node consumes the nonce on first use (a replay is refused) and still decides
access against committed state before every chunk it sends (:mod:`chain.dataplane.access`).

**Recipient key.** The payload is encrypted to the X25519 key *derived* from the requester's
Ed25519 key (``crypto_sign_ed25519_pk_to_curve25519``; ADR 0018 says why no key is registered).

**Stream.** The response body is a sequence of frames ``u32 big-endian length || bytes``:

- frame 0 (clear): canonical ``[1, transfer_id, chunk_root, chunk_size, size, first_chunk,
  sealed_key, stream_header]`` — ``sealed_key`` is a fresh 32-byte secretstream key in a
  ``crypto_box_seal`` (:class:`nacl.public.SealedBox`) to the recipient's X25519 key;
- then one frame per chunk: a ``crypto_secretstream_xchacha20poly1305`` message whose plaintext is
  canonical ``[index, chunk, inclusion proof]``; the last frame of a response carries ``TAG_FINAL``.

Only the recipient opens the key, so the exporter's operators, relays and TLS terminators see
ciphertext. Secretstream authenticates order and completeness: a dropped, reordered or altered
frame fails to open, and a response cut short lacks ``TAG_FINAL``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import nacl.exceptions
import nacl.public
import nacl.signing
from nacl import bindings

from chain import codec, crypto, merkle
from chain.dataplane import chunks
from chain.errors import DecodeError, ProofError, ValidationError

CHALLENGE_TTL_MS = 60_000
FRAME_HEADER = struct.Struct(">I")
MAX_PROOF_BYTES = 64 * 40
_TAG_MESSAGE = bindings.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
_TAG_FINAL = bindings.crypto_secretstream_xchacha20poly1305_TAG_FINAL
_ABYTES = bindings.crypto_secretstream_xchacha20poly1305_ABYTES
STREAM_VERSION = 1


def challenge_message(chain_id: str, transfer_id: str, node_id: str, nonce: bytes, first_chunk: int) -> bytes:
    """The bytes a recipient signs to answer a node's challenge."""
    return codec.signing_bytes(codec.DOMAIN_DATA_GET, chain_id, [transfer_id, node_id, nonce, first_chunk])


def recipient_public_key(ed25519_public_key: bytes) -> nacl.public.PublicKey:
    """The X25519 key derived from a member's Ed25519 key (RFC 7748 birational map, libsodium)."""
    return nacl.signing.VerifyKey(ed25519_public_key).to_curve25519_public_key()


def recipient_private_key(key: crypto.KeyPair) -> nacl.public.PrivateKey:
    return nacl.signing.SigningKey(key.seed).to_curve25519_private_key()


def frame(payload: bytes) -> bytes:
    return FRAME_HEADER.pack(len(payload)) + payload


def _bin_header(length: int) -> int:
    """Bytes of a msgpack ``bin`` header for ``length`` bytes (bin 8 / bin 16 / bin 32)."""
    return 2 if length < 1 << 8 else 3 if length < 1 << 16 else 5


def chunk_frame_length(index: int, chunk_length: int, proof: list[bytes]) -> int:
    """Bytes the sealed frame of one chunk takes on the wire, known before it is sealed.

    The canonical message ``[index, chunk, proof]`` is the encoding of ``[index, b"", proof]`` with the
    empty ``bin`` replaced by the chunk; secretstream adds ``ABYTES``. The egress route adds these up
    to announce a ``Content-Length`` (no chunked transfer coding, and a cut body is visible to HTTP).
    """
    message = len(codec.encode([index, b"", proof])) - _bin_header(0) + _bin_header(chunk_length) + chunk_length
    return FRAME_HEADER.size + message + _ABYTES


class StreamSealer:
    """Server side: the opening frame, then one sealed frame per chunk."""

    def __init__(self, recipient: bytes, transfer_id: str, chunk_root: bytes, chunk_size: int, size: int,
                 first_chunk: int) -> None:
        key = bindings.crypto_secretstream_xchacha20poly1305_keygen()
        self._state = bindings.crypto_secretstream_xchacha20poly1305_state()
        header = bindings.crypto_secretstream_xchacha20poly1305_init_push(self._state, key)
        sealed = nacl.public.SealedBox(recipient_public_key(recipient)).encrypt(key)
        self.opening = frame(codec.encode(
            [STREAM_VERSION, transfer_id, chunk_root, chunk_size, size, first_chunk, bytes(sealed), header]))

    def seal(self, index: int, chunk: bytes, proof: list[bytes], last: bool) -> bytes:
        return b"".join(self.seal_parts(index, chunk, proof, last))

    def seal_parts(self, index: int, chunk: bytes, proof: list[bytes], last: bool) -> tuple[bytes, bytes]:
        """The frame of one chunk as ``(length header, sealed message)``: written in turn, no 1 MiB copy."""
        message = codec.encode([index, chunk, proof])
        tag = _TAG_FINAL if last else _TAG_MESSAGE
        sealed = bindings.crypto_secretstream_xchacha20poly1305_push(self._state, message, None, tag)
        return FRAME_HEADER.pack(len(sealed)), sealed


@dataclass(frozen=True)
class Opening:
    transfer_id: str
    chunk_root: bytes
    chunk_size: int
    size: int
    first_chunk: int


class StreamOpener:
    """Client side: feed frames; get verified ``(index, chunk)``; ``finished`` after ``TAG_FINAL``."""

    def __init__(self, key: crypto.KeyPair, opening_frame: bytes, expected_root: bytes, expected_transfer: str,
                 first_chunk: int) -> None:
        try:
            version, transfer_id, root, chunk_size, size, first, sealed, header = codec.decode(opening_frame)
        except (ValueError, TypeError, DecodeError) as exc:
            raise ProofError(f"the stream's opening frame is malformed: {exc}") from exc
        if version != STREAM_VERSION or transfer_id != expected_transfer or root != expected_root:
            raise ProofError("the stream is for another transfer or dataset than the one on chain")
        if first != first_chunk:
            raise ProofError(f"the stream starts at chunk {first}, not the requested {first_chunk}")
        self.opening = Opening(transfer_id, root, chunks.check_chunk_size(chunk_size), size, first)
        self.count = chunks.chunk_count(size, chunk_size)
        try:
            stream_key = nacl.public.SealedBox(recipient_private_key(key)).decrypt(sealed)
        except nacl.exceptions.CryptoError as exc:
            raise ProofError("the stream key is not sealed to this recipient's key") from exc
        self._state = bindings.crypto_secretstream_xchacha20poly1305_state()
        bindings.crypto_secretstream_xchacha20poly1305_init_pull(self._state, header, stream_key)
        self.next_index = first
        self.finished = False
        self.last_chunk_hash = b""
        """SHA-256 of the last chunk :meth:`open` verified."""

    @property
    def max_frame(self) -> int:
        return self.opening.chunk_size + MAX_PROOF_BYTES + 64

    def open(self, sealed_frame: bytes) -> tuple[int, bytes]:
        """Open, decode and verify the next chunk against the on-chain root; ProofError otherwise."""
        if self.finished:
            raise ProofError("data after the stream's final frame")
        try:
            message, tag = bindings.crypto_secretstream_xchacha20poly1305_pull(self._state, sealed_frame, None)
            # authenticated by secretstream (only the sealer holds the key) and checked below against the
            # chunk root, so the canonical-form re-encoding of codec.decode (a copy per chunk) is not needed
            index, chunk, proof = codec.decode_stored(message)
        except (nacl.exceptions.CryptoError, ValueError, TypeError, DecodeError) as exc:
            raise ProofError(f"chunk frame after chunk {self.next_index - 1} fails to open") from exc
        if index != self.next_index:
            raise ProofError(f"expected chunk {self.next_index}, got {index}")
        if not isinstance(index, int) or not isinstance(chunk, bytes) or not isinstance(proof, tuple):
            raise ProofError(f"chunk frame after chunk {self.next_index - 1} is not [index, chunk, proof]")
        digest = chunks.chunk_hash(chunk)
        try:
            merkle.verify_inclusion(merkle.leaf_hash(digest), index, self.count, list(proof), self.opening.chunk_root)
        except ValidationError as exc:
            raise ProofError(f"chunk {index}: {exc}") from exc
        self.last_chunk_hash = digest
        self.next_index += 1
        self.finished = tag == _TAG_FINAL
        return index, bytes(chunk)
