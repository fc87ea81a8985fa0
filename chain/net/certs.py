"""TLS certificates tied to validator keys (DESIGN.md §10 "Peers", ADR 0010).

The scheme follows the libp2p TLS handshake spec (libp2p/specs ``tls/tls.md``): each node makes an
**ephemeral** TLS key at start and a certificate for it that carries a non-critical extension

    ``[validator_public_key, Ed25519(validator_key, signing_bytes(DOMAIN_PEER_CERT, chain_id, [spki]))]``

where ``spki`` is the DER SubjectPublicKeyInfo of the TLS key. A peer is authenticated when, after
the TLS 1.3 handshake (whose CertificateVerify proves possession of the TLS key, RFC 8446 §4.4.3),
the extension's signature verifies and its key is in the **current** validator set (the pin).

Stdlib ``ssl`` can only ask for a client certificate if OpenSSL verifies its chain, so every TLS
certificate is issued by a **public, well-known issuer key derived from the chain id**. That issuer
carries NO trust: anyone can compute it and mint certificates. It exists only so OpenSSL's chain
check passes; every trust decision is :func:`verify_peer_certificate` (ADR 0010 §3).
"""

from __future__ import annotations

import datetime
import hashlib
import os
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from chain import codec
from chain.crypto import PUBLIC_KEY_SIZE, SIGNATURE_SIZE, KeyPair, is_valid_signature
from chain.errors import DecodeError, ValidationError

VALIDATOR_EXTENSION_OID: Final = x509.ObjectIdentifier("2.25.94453447805911440466330491271905685670")
"""A UUID-derived OID (ITU-T X.667, arc 2.25: no registration needed) for the validator proof."""
ISSUER_SEED_DOMAIN: Final = b"silkport/p2p-issuer/v1"
CERT_LIFETIME: Final = datetime.timedelta(days=3650)
CLOCK_SKEW: Final = datetime.timedelta(hours=1)
MAX_CERT_BYTES: Final = 4096
_ISSUER_NOT_BEFORE: Final = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
_ISSUER_NOT_AFTER: Final = datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.UTC)


def binding_bytes(chain_id: str, spki_der: bytes) -> bytes:
    """What the validator key signs: the TLS key's SubjectPublicKeyInfo under the peer-cert domain."""
    return codec.signing_bytes(codec.DOMAIN_PEER_CERT, chain_id, (spki_der,))


def _spki(public_key: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _issuer_key(chain_id: str) -> ed25519.Ed25519PrivateKey:
    """The public issuer key of ``chain_id``: a hash of the chain id. It is NOT a secret and NOT trusted."""
    seed = hashlib.sha256(ISSUER_SEED_DOMAIN + chain_id.encode()).digest()
    return ed25519.Ed25519PrivateKey.from_private_bytes(seed)


def _issuer_name(chain_id: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"silkport public issuer {chain_id}"[:64])])


def issuer_certificate(chain_id: str) -> x509.Certificate:
    """The chain's issuer certificate; deterministic (Ed25519 is), so every node builds the same bytes."""
    key = _issuer_key(chain_id)
    name = _issuer_name(chain_id)
    serial = int.from_bytes(hashlib.sha256(b"serial" + chain_id.encode()).digest()[:16], "big") >> 1
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial or 1)
        .not_valid_before(_ISSUER_NOT_BEFORE)
        .not_valid_after(_ISSUER_NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, None)
    )


def encode_extension(chain_id: str, validator: KeyPair, spki_der: bytes) -> bytes:
    return codec.encode((validator.public_key, validator.sign(binding_bytes(chain_id, spki_der))))


def build_certificate(
    chain_id: str,
    validator: KeyPair,
    tls_key: ec.EllipticCurvePrivateKey,
    *,
    now: datetime.datetime,
    lifetime: datetime.timedelta = CERT_LIFETIME,
    extension: bytes | None = None,
) -> x509.Certificate:
    """A certificate for ``tls_key`` carrying the validator's proof (``extension`` overrides it: tests)."""
    issuer = _issuer_key(chain_id)
    proof = extension if extension is not None else encode_extension(chain_id, validator, _spki(tls_key.public_key()))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"silkport validator {validator.public_hex[:16]}")])
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(_issuer_name(chain_id))
        .public_key(tls_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + lifetime)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()), critical=False
        )
        .add_extension(x509.UnrecognizedExtension(VALIDATOR_EXTENSION_OID, proof), critical=False)
        .sign(issuer, None)
    )


def verify_peer_certificate(
    der: bytes | None, *, chain_id: str, validators: Sequence[bytes], now: datetime.datetime
) -> int:
    """Return the validator index the peer's certificate is pinned to, or raise.

    Raises ValidationError with ``code`` ``bad_certificate`` (absent, unparsable, expired, wrong
    issuer, missing or malformed extension, signature that does not verify for this chain and this
    TLS key) or ``unknown_validator`` (a valid proof by a key outside the current set).
    """
    if not der:
        raise ValidationError("the peer sent no certificate", code="bad_certificate")
    if len(der) > MAX_CERT_BYTES:
        raise ValidationError(f"peer certificate of {len(der)} bytes is too large", code="bad_certificate")
    try:
        cert = x509.load_der_x509_certificate(der)
        extension = cert.extensions.get_extension_for_oid(VALIDATOR_EXTENSION_OID).value
        spki = _spki(cert.public_key())  # type: ignore[arg-type]
    except (ValueError, TypeError, x509.ExtensionNotFound) as exc:
        raise ValidationError(f"peer certificate unusable: {exc}", code="bad_certificate") from exc
    if cert.issuer != _issuer_name(chain_id):
        raise ValidationError("peer certificate is for another chain's issuer", code="bad_certificate")
    try:
        _issuer_key(chain_id).public_key().verify(cert.signature, cert.tbs_certificate_bytes)
    except InvalidSignature as exc:
        raise ValidationError("peer certificate not signed by this chain's issuer", code="bad_certificate") from exc
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise ValidationError("peer certificate is outside its validity period", code="bad_certificate")
    if not isinstance(extension, x509.UnrecognizedExtension):
        raise ValidationError("validator extension has an unexpected type", code="bad_certificate")
    try:
        value = codec.decode(extension.value, max_size=256)
    except DecodeError as exc:
        raise ValidationError(f"validator extension undecodable: {exc.message}", code="bad_certificate") from exc
    if (
        not isinstance(value, tuple)
        or len(value) != 2
        or not isinstance(value[0], bytes)
        or len(value[0]) != PUBLIC_KEY_SIZE
        or not isinstance(value[1], bytes)
        or len(value[1]) != SIGNATURE_SIZE
    ):
        raise ValidationError("validator extension is not [public_key, signature]", code="bad_certificate")
    public_key, signature = value
    if not is_valid_signature(public_key, binding_bytes(chain_id, spki), signature):
        raise ValidationError(
            "validator signature does not cover this TLS key on this chain", code="bad_certificate"
        )
    try:
        return list(validators).index(public_key)
    except ValueError:
        raise ValidationError(
            f"key {public_key.hex()[:16]} is not in the current validator set", code="unknown_validator"
        ) from None


@dataclass(frozen=True)
class TlsIdentity:
    """A node's TLS material for one run: client and server contexts with the same certificate."""

    certificate: x509.Certificate
    server: ssl.SSLContext
    client: ssl.SSLContext


def _base_context(purpose: int, chain_id: str) -> ssl.SSLContext:
    context = ssl.SSLContext(purpose)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.maximum_version = ssl.TLSVersion.TLSv1_3
    # No compression (CRIME-style and decompression bombs), no renegotiation, no resumption: a
    # resumed session would skip the certificate and so the pin (TLS 1.3 PSK, RFC 8446 §2.2).
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION | ssl.OP_NO_TICKET
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=issuer_certificate(chain_id).public_bytes(serialization.Encoding.DER))
    return context


def _load_chain(context: ssl.SSLContext, pem: bytes) -> None:
    """Load an in-memory PEM (cert + ephemeral key): a memfd where Linux has one, else a 0600 temp file."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("silkport-tls", 0)
        try:
            os.write(fd, pem)
            context.load_cert_chain(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
        return
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "tls.pem"
        path.touch(mode=0o600)
        path.write_bytes(pem)
        context.load_cert_chain(str(path))


def make_identity(chain_id: str, validator: KeyPair, *, now: datetime.datetime | None = None) -> TlsIdentity:
    """A fresh ephemeral P-256 TLS key, its certificate and TLS 1.3-only mutual-auth contexts.

    Only the ephemeral TLS key is serialised (to memory); the validator key never leaves ``KeyPair``.
    """
    tls_key = ec.generate_private_key(ec.SECP256R1())
    certificate = build_certificate(chain_id, validator, tls_key, now=now or datetime.datetime.now(datetime.UTC))
    return make_contexts(chain_id, certificate, tls_key)


def make_contexts(chain_id: str, certificate: x509.Certificate, tls_key: ec.EllipticCurvePrivateKey) -> TlsIdentity:
    """Server and client contexts presenting ``certificate`` (whose key is ``tls_key``)."""
    pem = certificate.public_bytes(serialization.Encoding.PEM) + tls_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    server = _base_context(ssl.PROTOCOL_TLS_SERVER, chain_id)
    server.num_tickets = 0
    client = _base_context(ssl.PROTOCOL_TLS_CLIENT, chain_id)
    client.check_hostname = False  # peers are named by their pinned validator key, not a DNS name
    for context in (server, client):
        _load_chain(context, pem)
    return TlsIdentity(certificate, server, client)


def certificate_fingerprint(certificate: x509.Certificate) -> str:
    return certificate.fingerprint(hashes.SHA256()).hex()
