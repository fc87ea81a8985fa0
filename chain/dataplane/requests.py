"""Signed data-plane requests (issue 14 part 2; ADR 0018).

An upload carries three headers: ``Silkport-Signer`` (the owner's Ed25519 public key, hex),
``Silkport-Valid-Until`` (ms since the epoch) and ``Silkport-Signature`` (hex) over
``signing_bytes(DOMAIN_DATA_PUT, chain_id, [asset_id, chunk_root, size, valid_until_ms])``
(DESIGN.md §3). The node accepts it only while ``now <= valid_until <= now + MAX_VALIDITY_MS``.
A replay inside that window can only upload the very bytes the chain already names, and a
stored dataset refuses a second upload, so a replay gains nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from chain import codec, crypto
from chain.errors import SignatureError, ValidationError

SIGNER = "Silkport-Signer"
SIGNATURE = "Silkport-Signature"
VALID_UNTIL = "Silkport-Valid-Until"
MAX_VALIDITY_MS = 10 * 60 * 1000
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX128 = re.compile(r"[0-9a-f]{128}")


def put_message(chain_id: str, asset_id: str, chunk_root: bytes, size: int, valid_until_ms: int) -> bytes:
    """The bytes an owner signs to upload ``asset_id``'s content."""
    return codec.signing_bytes(codec.DOMAIN_DATA_PUT, chain_id, [asset_id, chunk_root, size, valid_until_ms])


def put_headers(
    key: crypto.KeyPair, chain_id: str, asset_id: str, chunk_root: bytes, size: int, valid_until_ms: int
) -> dict[str, str]:
    """The headers of an upload signed by ``key``."""
    signature = key.sign(put_message(chain_id, asset_id, chunk_root, size, valid_until_ms))
    return {SIGNER: key.public_key.hex(), VALID_UNTIL: str(valid_until_ms), SIGNATURE: signature.hex()}


@dataclass(frozen=True)
class SignedPut:
    """A verified upload authorisation: who signed it."""

    signer: bytes


def verify_put(
    headers: Mapping[str, str], chain_id: str, asset_id: str, chunk_root: bytes, size: int, now_ms: int
) -> SignedPut:
    """Check the upload headers; ValidationError / SignatureError naming the header at fault."""
    signer_hex = headers.get(SIGNER, "")
    signature_hex = headers.get(SIGNATURE, "")
    valid_text = headers.get(VALID_UNTIL, "")
    if not _HEX64.fullmatch(signer_hex):
        raise ValidationError(f"header {SIGNER} must be the owner's public key in lowercase hex", code="bad_signer")
    if not _HEX128.fullmatch(signature_hex):
        raise SignatureError(f"header {SIGNATURE} must be a 64-byte signature in lowercase hex")
    if not valid_text.isdigit() or len(valid_text) > 16:
        raise ValidationError(f"header {VALID_UNTIL} must be a time in ms", code="bad_validity")
    valid_until = int(valid_text)
    if valid_until < now_ms:
        raise ValidationError(f"the upload authorisation expired ({VALID_UNTIL} is past)", code="expired_request")
    if valid_until > now_ms + MAX_VALIDITY_MS:
        raise ValidationError(
            f"header {VALID_UNTIL} is more than {MAX_VALIDITY_MS // 1000} s ahead", code="bad_validity"
        )
    signer = bytes.fromhex(signer_hex)
    crypto.verify(signer, put_message(chain_id, asset_id, chunk_root, size, valid_until), bytes.fromhex(signature_hex))
    return SignedPut(signer)
