"""Certificates tied to validator keys (chain/net/certs.py, ADR 0010 §2-3)."""

from __future__ import annotations

import asyncio
import datetime
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chain import codec
from chain.crypto import KeyPair
from chain.errors import ValidationError
from chain.net.certs import (
    VALIDATOR_EXTENSION_OID,
    build_certificate,
    encode_extension,
    issuer_certificate,
    make_contexts,
    make_identity,
    verify_peer_certificate,
)

CHAIN = "silkport-test"
KEYS = [KeyPair.from_seed(bytes([i + 1]) * 32) for i in range(3)]
VALIDATORS = [k.public_key for k in KEYS]
NOW = datetime.datetime(2026, 12, 3, tzinfo=datetime.UTC)


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def cert_for(index: int, *, chain_id: str = CHAIN, **kwargs: object) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    return build_certificate(chain_id, KEYS[index], key, now=NOW, **kwargs), key  # type: ignore[arg-type]


def refusal(data: bytes | None, validators: list[bytes] = VALIDATORS, now: datetime.datetime = NOW,
            chain_id: str = CHAIN) -> str:
    with pytest.raises(ValidationError) as info:
        verify_peer_certificate(data, chain_id=chain_id, validators=validators, now=now)
    return info.value.code


def test_a_genuine_certificate_names_its_validator() -> None:
    for index in range(3):
        cert, _ = cert_for(index)
        assert verify_peer_certificate(der(cert), chain_id=CHAIN, validators=VALIDATORS, now=NOW) == index


def test_issuer_is_deterministic_per_chain() -> None:
    assert der(issuer_certificate(CHAIN)) == der(issuer_certificate(CHAIN))
    assert der(issuer_certificate(CHAIN)) != der(issuer_certificate("other"))


def test_wrong_chain_id_is_refused() -> None:
    cert, _ = cert_for(0, chain_id="other-chain")
    assert refusal(der(cert)) == "bad_certificate"


def test_key_not_in_the_set_is_refused() -> None:
    cert, _ = cert_for(2)
    assert refusal(der(cert), validators=VALIDATORS[:2]) == "unknown_validator"


def test_changed_set_unpins_a_removed_key() -> None:
    cert, _ = cert_for(1)
    assert verify_peer_certificate(der(cert), chain_id=CHAIN, validators=VALIDATORS, now=NOW) == 1
    new_set = [VALIDATORS[0], KeyPair.from_seed(b"\x09" * 32).public_key, VALIDATORS[2]]
    assert refusal(der(cert), validators=new_set) == "unknown_validator"
    moved = [VALIDATORS[1], VALIDATORS[0]]  # the same key at another index is pinned at its new index
    assert verify_peer_certificate(der(cert), chain_id=CHAIN, validators=moved, now=NOW) == 0


def test_expired_and_not_yet_valid_are_refused() -> None:
    cert, _ = cert_for(0, lifetime=datetime.timedelta(days=1))
    assert refusal(der(cert), now=NOW + datetime.timedelta(days=2)) == "bad_certificate"
    assert refusal(der(cert), now=NOW - datetime.timedelta(days=1)) == "bad_certificate"


def test_extension_copied_onto_another_tls_key_is_refused() -> None:
    """A replayed proof: validator 0's extension on a certificate for the attacker's TLS key."""
    genuine, _ = cert_for(0)
    copied = genuine.extensions.get_extension_for_oid(VALIDATOR_EXTENSION_OID).value.value  # type: ignore[attr-defined]
    forged, _ = cert_for(2, extension=copied)
    assert refusal(der(forged)) == "bad_certificate"


@pytest.mark.parametrize(
    "extension",
    [
        b"",
        b"\xc1",
        codec.encode((VALIDATORS[0],)),
        codec.encode((VALIDATORS[0], b"\x00" * 64)),
        codec.encode((b"short", b"\x00" * 64)),
        codec.encode((VALIDATORS[0], b"\x00" * 64, 1)),
    ],
)
def test_tampered_extension_is_refused(extension: bytes) -> None:
    forged, _ = cert_for(0, extension=extension)
    assert refusal(der(forged)) == "bad_certificate"


def test_flipped_signature_bit_is_refused() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    public_key, signature = codec.decode(encode_extension(CHAIN, KEYS[0], spki))
    tampered = codec.encode((public_key, bytes([signature[0] ^ 1]) + signature[1:]))
    cert = build_certificate(CHAIN, KEYS[0], key, now=NOW, extension=tampered)
    assert refusal(der(cert)) == "bad_certificate"


def test_garbage_and_missing_certificates_are_refused() -> None:
    assert refusal(None) == "bad_certificate"
    assert refusal(b"") == "bad_certificate"
    assert refusal(b"\x30\x03\x02\x01\x00") == "bad_certificate"
    assert refusal(b"\x30" * 5000) == "bad_certificate"


def test_certificate_without_the_extension_is_refused() -> None:
    from chain.net.certs import _issuer_key, _issuer_name

    key = ec.generate_private_key(ec.SECP256R1())
    plain = (
        x509.CertificateBuilder()
        .subject_name(_issuer_name(CHAIN))
        .issuer_name(_issuer_name(CHAIN))
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=1))
        .sign(_issuer_key(CHAIN), None)
    )
    assert refusal(der(plain)) == "bad_certificate"


def test_contexts_are_tls13_only_without_compression_or_tickets() -> None:
    identity = make_identity(CHAIN, KEYS[0])
    for context in (identity.server, identity.client):
        assert context.minimum_version == ssl.TLSVersion.TLSv1_3
        assert context.options & ssl.OP_NO_COMPRESSION and context.options & ssl.OP_NO_TICKET
        assert context.verify_mode == ssl.CERT_REQUIRED
    assert identity.server.num_tickets == 0


def test_tls12_client_cannot_connect() -> None:
    identity = make_identity(CHAIN, KEYS[1])

    async def main() -> None:
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0, ssl=identity.server)
        port = server.sockets[0].getsockname()[1]
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.check_hostname, old.verify_mode = False, ssl.CERT_NONE
        old.maximum_version = ssl.TLSVersion.TLSv1_2
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await asyncio.open_connection("127.0.0.1", port, ssl=old)
        server.close()

    asyncio.run(main())


def test_forged_contexts_still_load() -> None:
    """make_contexts accepts any certificate/key pair: trust is the pin, not OpenSSL's chain check."""
    cert, key = cert_for(2, extension=b"\xc1")
    assert make_contexts(CHAIN, cert, key).certificate is cert
