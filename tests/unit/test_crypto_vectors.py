"""RFC 8032 §7.1 vectors (tests/data/ed25519_rfc8032.json) and key files."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from chain.crypto import KeyPair, load_key_file, save_key_file, verify
from chain.errors import KeyFormatError, SignatureError

VECTORS = json.loads((Path(__file__).parent.parent / "data" / "ed25519_rfc8032.json").read_text())


@pytest.mark.parametrize("case", VECTORS["vectors"], ids=lambda c: c["name"])
def test_rfc8032_vector_signs_and_verifies(case: dict[str, str]) -> None:
    keypair = KeyPair.from_seed(bytes.fromhex(case["secret_key"]))
    assert keypair.public_key.hex() == case["public_key"]
    message = bytes.fromhex(case["message"])
    signature = keypair.sign(message)
    assert signature.hex() == case["signature"]
    verify(keypair.public_key, message, signature)


@pytest.mark.parametrize("case", VECTORS["negative"], ids=lambda c: c["name"])
def test_rfc8032_must_reject(case: dict[str, str]) -> None:
    with pytest.raises(SignatureError):
        verify(bytes.fromhex(case["public_key"]), bytes.fromhex(case["message"]), bytes.fromhex(case["signature"]))


@pytest.mark.parametrize(
    ("public_key", "signature", "error"),
    [
        (b"\x01" * 31, b"\x00" * 64, KeyFormatError),
        (b"\x01" * 33, b"\x00" * 64, KeyFormatError),
        ("ab" * 32, b"\x00" * 64, KeyFormatError),
        (bytes.fromhex(VECTORS["vectors"][0]["public_key"]), b"\x00" * 63, SignatureError),
        (bytes.fromhex(VECTORS["vectors"][0]["public_key"]), b"\x00" * 64, SignatureError),
        (b"\x00" * 32, b"\x00" * 64, SignatureError),  # small-order key
    ],
)
def test_wrong_lengths_and_garbage_are_clear_errors(public_key: object, signature: bytes, error: type) -> None:
    with pytest.raises(error):
        verify(public_key, b"msg", signature)  # type: ignore[arg-type]


def test_key_file_round_trip_is_0600(tmp_path: Path) -> None:
    keypair = KeyPair.generate()
    path = tmp_path / "k.key"
    save_key_file(path, keypair)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key_file(path) == keypair
    with pytest.raises(FileExistsError):
        save_key_file(path, keypair)


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    save_key_file(path, KeyPair.generate())
    os.chmod(path, 0o644)
    with pytest.raises(KeyFormatError, match="readable by others"):
        load_key_file(path)


def test_key_file_tampered_public_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    save_key_file(path, KeyPair.generate())
    document = json.loads(path.read_text())
    document["public_key"] = KeyPair.generate().public_hex
    path.write_text(json.dumps(document))
    with pytest.raises(KeyFormatError, match="does not match"):
        load_key_file(path)


@pytest.mark.parametrize("content", ["", "{", "[]", '{"type": "other"}', '{"type": "silkport-ed25519/1"}'])
def test_malformed_key_files(tmp_path: Path, content: str) -> None:
    path = tmp_path / "k.key"
    path.write_text(content)
    os.chmod(path, 0o600)
    with pytest.raises(KeyFormatError):
        load_key_file(path)


def test_repr_never_shows_the_seed() -> None:
    keypair = KeyPair.generate()
    assert keypair.seed.hex() not in repr(keypair)
