"""Plaintext-mode handshake for peer links (DESIGN.md §10, "Peers"; ADR 0010 §6).

Used only on devnets created with ``--insecure-plaintext``; with TLS (the default) peers are
authenticated by their certificates (:mod:`chain.net.certs`) and this module is not used. Plaintext
offers no channel binding: a relay that splices two links is not detected (that is why it is
insecure). Both sides run the same two steps, concurrently, over one stream (length-prefixed
messages of :mod:`chain.net.wire`, canonical msgpack):

1. HELLO  ``[PROTOCOL, chain_id, challenge]`` — a fresh 32-byte random challenge.
2. AUTH   ``[index, public_key, signature]`` where ``signature`` is Ed25519 over
   ``signing_bytes(DOMAIN_HANDSHAKE, chain_id, [peer_challenge, my_challenge, index])``.

The signature binds the chain id and *both* challenges, so it cannot be replayed to another chain,
another connection or reflected back to its author (the challenge order differs). A peer is
accepted only if ``public_key == validators[index]`` in the current set and the signature verifies;
nothing else is read before that. The chain id in HELLO is only for a clear refusal reason: a peer
that lies about it fails the signature check.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from typing import Final, Protocol

from chain import codec
from chain.crypto import PUBLIC_KEY_SIZE, SIGNATURE_SIZE, Signer, verify
from chain.errors import ChainIdError, DecodeError, ValidationError

PROTOCOL: Final = "silkport/p2p/1"
CHALLENGE_SIZE: Final = 32
MAX_HANDSHAKE_MESSAGE: Final = 512
DEFAULT_HANDSHAKE_TIMEOUT_S: Final = 5.0


class MessageStream(Protocol):
    """A bidirectional stream of whole messages (the transport adapts its length-prefixed wire)."""

    async def send_message(self, data: bytes) -> None: ...

    async def receive_message(self, max_bytes: int) -> bytes: ...


def new_challenge() -> bytes:
    return os.urandom(CHALLENGE_SIZE)


def encode_hello(chain_id: str, challenge: bytes) -> bytes:
    return codec.encode((PROTOCOL, chain_id, challenge))


def decode_hello(data: bytes) -> tuple[str, bytes]:
    """Return ``(chain_id, challenge)``; raise DecodeError/ValidationError on anything else."""
    value = codec.decode(data, max_size=MAX_HANDSHAKE_MESSAGE)
    if not isinstance(value, tuple) or len(value) != 3 or value[0] != PROTOCOL:
        raise DecodeError(f"expected HELLO [{PROTOCOL!r}, chain_id, challenge]")
    _, chain_id, challenge = value
    if not isinstance(chain_id, str) or not isinstance(challenge, bytes) or len(challenge) != CHALLENGE_SIZE:
        raise DecodeError("HELLO needs a string chain id and a 32-byte challenge")
    return chain_id, challenge


def auth_signing_bytes(chain_id: str, peer_challenge: bytes, my_challenge: bytes, my_index: int) -> bytes:
    """What a side signs: ``[peer_challenge, my_challenge, my_index]`` under the handshake domain."""
    return codec.signing_bytes(codec.DOMAIN_HANDSHAKE, chain_id, (peer_challenge, my_challenge, my_index))


def encode_auth(
    chain_id: str, signer: Signer, my_index: int, peer_challenge: bytes, my_challenge: bytes
) -> bytes:
    signature = signer.sign(auth_signing_bytes(chain_id, peer_challenge, my_challenge, my_index))
    return codec.encode((my_index, signer.public_key, signature))


def verify_auth(
    data: bytes,
    *,
    chain_id: str,
    validators: Sequence[bytes],
    my_index: int,
    my_challenge: bytes,
    peer_challenge: bytes,
    expected_index: int | None = None,
) -> int:
    """Check a peer's AUTH message and return its validator index.

    Raises (``code`` is the refusal reason counted by the transport): DecodeError (malformed),
    ValidationError ``unknown_validator`` / ``self_connection`` / ``unexpected_index``,
    SignatureError ``bad_signature``.
    """
    value = codec.decode(data, max_size=MAX_HANDSHAKE_MESSAGE)
    if not isinstance(value, tuple) or len(value) != 3:
        raise DecodeError("expected AUTH [index, public_key, signature]")
    index, public_key, signature = value
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise DecodeError("AUTH index must be a non-negative integer")
    if not isinstance(public_key, bytes) or len(public_key) != PUBLIC_KEY_SIZE:
        raise DecodeError("AUTH public key must be 32 bytes")
    if not isinstance(signature, bytes) or len(signature) != SIGNATURE_SIZE:
        raise DecodeError("AUTH signature must be 64 bytes")
    if index == my_index:
        raise ValidationError(f"peer claims my own index {index}", code="self_connection")
    if index >= len(validators) or validators[index] != public_key:
        raise ValidationError(
            f"key {public_key.hex()[:16]} is not validator {index} of the current set",
            code="unknown_validator",
        )
    if expected_index is not None and index != expected_index:
        raise ValidationError(f"dialled validator {expected_index}, peer is {index}", code="unexpected_index")
    # The peer signed [its peer_challenge = my challenge, its challenge, its index].
    verify(public_key, auth_signing_bytes(chain_id, my_challenge, peer_challenge, index), signature)
    return index


async def _receive_binary(ws: MessageStream) -> bytes:
    data = await ws.receive_message(MAX_HANDSHAKE_MESSAGE)
    if not data:
        raise DecodeError("expected a handshake message, got a keepalive")
    return data


async def run_handshake(
    ws: MessageStream,
    *,
    chain_id: str,
    signer: Signer,
    my_index: int,
    validators: Sequence[bytes],
    expected_index: int | None = None,
    timeout_s: float = DEFAULT_HANDSHAKE_TIMEOUT_S,
) -> int:
    """Run both steps on ``ws`` and return the authenticated peer index (or raise; see verify_auth).

    A timeout raises ``ValidationError(code="timeout")``; a HELLO for another chain ChainIdError.
    """
    my_challenge = new_challenge()
    try:
        async with asyncio.timeout(timeout_s):
            await ws.send_message(encode_hello(chain_id, my_challenge))
            peer_chain_id, peer_challenge = decode_hello(await _receive_binary(ws))
            if peer_chain_id != chain_id:
                raise ChainIdError(f"peer is on chain {peer_chain_id!r}, not {chain_id!r}")
            await ws.send_message(encode_auth(chain_id, signer, my_index, peer_challenge, my_challenge))
            return verify_auth(
                await _receive_binary(ws),
                chain_id=chain_id,
                validators=validators,
                my_index=my_index,
                my_challenge=my_challenge,
                peer_challenge=peer_challenge,
                expected_index=expected_index,
            )
    except TimeoutError as exc:
        raise ValidationError(f"handshake not completed within {timeout_s} s", code="timeout") from exc
