"""Frozen types: canonical round trips, ids, multi-signer transactions, certificates, bad input."""

from __future__ import annotations

import pytest

from chain import codec
from chain.crypto import KeyPair
from chain.errors import ChainIdError, DecodeError, ProofError, SignatureError, ValidationError
from chain.types import (
    Block,
    CommitCertificate,
    Event,
    EventRef,
    Header,
    Receipt,
    SignedTx,
    TxBody,
    commit_signing_bytes,
    make_tx,
    validators_hash,
)

CHAIN = "silkport-test"
ALICE, BOB = KeyPair.from_seed(b"\x01" * 32), KeyPair.from_seed(b"\x02" * 32)


def header(height: int = 1) -> Header:
    return Header(CHAIN, height, 0, 1000, b"\x00" * 32, b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, b"\x04" * 32, 1, 0)


def test_tx_round_trip_and_id_is_hash_of_body() -> None:
    tx = make_tx(CHAIN, "noop", "ping", {"note": "hi", "n": [1, b"\x00"]}, [ALICE, BOB], nonce=7)
    again = SignedTx.decode(tx.encode())
    assert again == tx and again.tx_id == tx.tx_id
    assert tx.tx_hash == codec.sha256(codec.encode(tx.body.to_wire()))
    again.verify_signatures(CHAIN)
    assert tx.sender == ALICE.public_key


def test_tx_layout_is_the_design_array() -> None:
    tx = make_tx(CHAIN, "noop", "ping", {}, [ALICE], nonce=1, valid_until_height=9)
    assert tx.body.to_wire() == (CHAIN, "noop", "ping", (), (ALICE.public_key,), 1, 9)


def test_every_signer_must_sign() -> None:
    tx = make_tx(CHAIN, "noop", "ping", {}, [ALICE, BOB], nonce=1)
    swapped = SignedTx(tx.body, (tx.signatures[0], tx.signatures[0]))
    with pytest.raises(SignatureError, match="signature 1"):
        swapped.verify_signatures(CHAIN)
    with pytest.raises(SignatureError):
        SignedTx.create(tx.body, [ALICE])


def test_wrong_chain_is_refused() -> None:
    tx = make_tx("other-chain", "noop", "ping", {}, [ALICE], nonce=1)
    with pytest.raises(ChainIdError):
        tx.verify_signatures(CHAIN)


def test_signature_is_domain_separated() -> None:
    tx = make_tx(CHAIN, "noop", "ping", {}, [ALICE], nonce=1)
    assert tx.signing_bytes().startswith(codec.DOMAIN_TX)


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda w: w[:1], DecodeError),
        (lambda w: ((w[0][0], w[0][1], w[0][2], w[0][3], (), 1, 0), ()), ValidationError),  # no signer
        (lambda w: ((w[0][0], w[0][1], w[0][2], w[0][3], (b"\x01" * 31,), 1, 0), w[1]), ValidationError),
        (lambda w: ((w[0][0], w[0][1], w[0][2], w[0][3], w[0][4], 0, 0), w[1]), ValidationError),  # nonce 0
        (lambda w: ((w[0][0], "Bad-Name", w[0][2], w[0][3], w[0][4], 1, 0), w[1]), ValidationError),
        (lambda w: ((w[0][0], w[0][1], w[0][2], (("b", 1), ("a", 2)), w[0][4], 1, 0), w[1]), DecodeError),
        (lambda w: (w[0], (b"\x00" * 63,)), ValidationError),
        (lambda w: (w[0], ()), SignatureError),
        (lambda w: ((w[0][0], w[0][1], w[0][2], w[0][3], w[0][4], True, 0), w[1]), DecodeError),
    ],
)
def test_malformed_transactions(mutate: object, error: type) -> None:
    wire = make_tx(CHAIN, "noop", "ping", {}, [ALICE], nonce=1).to_wire()
    with pytest.raises(error):
        SignedTx.from_wire(mutate(wire))  # type: ignore[operator]


def test_duplicate_signers_are_refused() -> None:
    body = TxBody(CHAIN, "noop", "ping", (), (ALICE.public_key, ALICE.public_key), 1)
    with pytest.raises(ValidationError, match="duplicate"):
        TxBody.from_wire(body.to_wire())


def test_header_and_block_round_trip() -> None:
    tx = make_tx(CHAIN, "noop", "ping", {}, [ALICE], nonce=1)
    block = Block(header(), (tx,))
    again = Block.decode(block.encode())
    assert again == block and again.block_hash == codec.digest(block.header.to_wire())
    with pytest.raises(ValidationError):
        Header.from_wire(block.header.to_wire()[:4] + (b"\x00" * 31,) + block.header.to_wire()[5:])


def test_receipt_and_event_round_trip() -> None:
    event = Event("registry", "registered", "asset-1", EventRef(3, 4), codec.pairs_from_dict({"owner": b"x"}))
    receipt = Receipt(0, "", (event,))
    assert Receipt.from_wire(codec.decode(codec.encode(receipt.to_wire()))) == receipt
    with pytest.raises(ValidationError):
        Receipt.from_wire((2, "", ()))


def certificate(signers: list[KeyPair], indices: list[int], block_hash: bytes = b"\x09" * 32) -> CommitCertificate:
    message = commit_signing_bytes(CHAIN, 5, 1, block_hash)
    return CommitCertificate(5, 1, block_hash, tuple((i, k.sign(message)) for i, k in zip(indices, signers, strict=True)))


VALIDATORS = [KeyPair.from_seed(bytes([i + 10]) * 32) for i in range(4)]
KEYS = [k.public_key for k in VALIDATORS]


def test_certificate_with_quorum_verifies() -> None:
    cert = certificate(VALIDATORS[:3], [0, 1, 2])
    cert.verify(CHAIN, KEYS, b"\x09" * 32)
    assert CommitCertificate.decode(cert.encode()) == cert


@pytest.mark.parametrize(
    ("signers", "indices", "reason"),
    [
        (VALIDATORS[:2], [0, 1], "quorum"),
        ([VALIDATORS[0], VALIDATORS[0], VALIDATORS[1]], [0, 0, 1], "counted twice"),
        ([VALIDATORS[0], VALIDATORS[1], KeyPair.from_seed(b"\x63" * 32)], [0, 1, 2], "invalid"),
        ([VALIDATORS[0], VALIDATORS[1], VALIDATORS[2]], [0, 1, 7], "out of range"),
        ([VALIDATORS[1], VALIDATORS[0], VALIDATORS[2]], [0, 1, 2], "invalid"),
    ],
)
def test_forged_certificates_fail(signers: list[KeyPair], indices: list[int], reason: str) -> None:
    with pytest.raises(ProofError, match=reason):
        certificate(signers, indices).verify(CHAIN, KEYS)


def test_certificate_for_another_block_fails() -> None:
    with pytest.raises(ProofError, match="another block"):
        certificate(VALIDATORS[:3], [0, 1, 2]).verify(CHAIN, KEYS, b"\x08" * 32)


def test_validators_hash_depends_on_order() -> None:
    assert validators_hash(KEYS) != validators_hash(list(reversed(KEYS)))


def test_block_decode_reuses_known_transactions_only_when_identical() -> None:
    tx, other = make_tx(CHAIN, "noop", "ping", {}, [ALICE], 1), make_tx(CHAIN, "noop", "ping", {}, [BOB], 1)
    block = Block(header(), (tx, other))
    resigned = SignedTx(tx.body, (ALICE.sign(b"something else"),))  # same body, other signature
    known = {tx.tx_hash: tx}
    decoded = Block.decode(block.encode(), known_txs=known.get)
    assert decoded == block and decoded.txs[0] is tx and decoded.txs[1] is not other
    assert decoded.txs[1].body_bytes == other.body_bytes
    assert Block.decode(block.encode(), known_txs={tx.tx_hash: resigned}.get).txs[0] is not resigned


@pytest.mark.parametrize(
    "args",
    [{}, {"note": "hi"}, {"n": [1, b"\x00", ["x", None]], "c": {"grade": "GENERAL", "k": 2**64 - 1}}],
)
def test_decode_takes_the_body_bytes_from_the_input(args: dict[str, object]) -> None:
    tx = make_tx(CHAIN, "noop", "ping", args, [ALICE, BOB], nonce=3, valid_until_height=5)
    data = tx.encode()
    for again in (SignedTx.decode(data), SignedTx.decode(bytearray(data)), SignedTx.decode(memoryview(data))):
        assert type(again.body_bytes) is bytes and again.body_bytes == tx.body_bytes == codec.encode(tx.body.to_wire())
        assert again.tx_hash == tx.tx_hash and again.encode() == data and again == tx
        assert again == SignedTx.from_wire(codec.decode(data), decoded=True) == SignedTx.from_wire(tx.to_wire())


def test_lists_and_tuples_parse_alike() -> None:
    tx = make_tx(CHAIN, "noop", "ping", {"a": 1}, [ALICE, BOB], nonce=1)
    body = tx.body.to_wire()
    as_lists = [[*body[:3], [list(pair) for pair in body[3]], list(body[4]), *body[5:]], list(tx.signatures)]
    again = SignedTx.from_wire(as_lists)
    assert again == tx and type(again.body.args[0]) is tuple and type(again.signatures) is tuple


@pytest.mark.parametrize(
    ("signers", "signatures", "match"),
    [
        ((b"\x01" * 32, "text"), (b"\x00" * 64, b"\x00" * 64), "signer public key: expected bytes"),
        ((b"\x01" * 32, b"\x02" * 33), (b"\x00" * 64, b"\x00" * 64), "signer public key: expected 32 bytes, got 33"),
        ((b"\x01" * 32,), (b"\x00" * 65,), "signature: expected 64 bytes, got 65"),
        ((b"\x01" * 32,), (None,), "signature: expected bytes"),
    ],
)
def test_key_and_signature_errors_name_the_field(signers: tuple[object, ...], signatures: tuple[object, ...],
                                                 match: str) -> None:
    with pytest.raises((DecodeError, ValidationError), match=match):
        SignedTx.from_wire(((CHAIN, "noop", "ping", (), signers, 1, 0), signatures))
