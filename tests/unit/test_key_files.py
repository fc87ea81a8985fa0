"""Key files at rest (ADR 0012): plain and passphrase-encrypted, clear errors, ``silkport keygen --encrypt``."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from chain.cli import main
from chain.crypto import (
    ENCRYPTED_KEY_FILE_TYPE,
    PASSPHRASE_ENV,
    KeyPair,
    is_encrypted_key_file,
    key_file_public_key,
    load_key_file,
    read_passphrase_file,
    save_key_file,
)
from chain.errors import KeyFormatError

FAST = {"opslimit": 1, "memlimit": 8192}  # the stored costs are what loading uses


@pytest.fixture(autouse=True)
def no_passphrase_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)


def encrypted(tmp_path: Path, passphrase: bytes = b"open sesame") -> tuple[Path, KeyPair]:
    keypair = KeyPair.generate()
    path = tmp_path / "key.json"
    save_key_file(path, keypair, passphrase=passphrase, **FAST)  # type: ignore[arg-type]
    return path, keypair


def test_round_trip_stores_costs_and_no_secret(tmp_path: Path) -> None:
    path, keypair = encrypted(tmp_path)
    document = json.loads(path.read_text())
    assert document["type"] == ENCRYPTED_KEY_FILE_TYPE and "secret_key" not in document
    assert document["kdf"] == {"name": "argon2id", "opslimit": 1, "memlimit": 8192, "salt": document["kdf"]["salt"]}
    assert keypair.seed.hex() not in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key_file(path, b"open sesame") == keypair
    assert key_file_public_key(path) == keypair.public_key and is_encrypted_key_file(path)


def test_passphrase_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, keypair = encrypted(tmp_path)
    with pytest.raises(KeyFormatError, match=f"key file {path} is encrypted"):
        load_key_file(path)
    monkeypatch.setenv(PASSPHRASE_ENV, "open sesame")
    assert load_key_file(path) == keypair


@pytest.mark.parametrize("field, value, words", [
    ("ciphertext", "flip", "wrong passphrase"),
    ("nonce", "flip", "wrong passphrase"),
    ("public_key", "other", "does not match"),
    ("kdf.opslimit", 10**9, "out of range"),
    ("kdf.memlimit", 10, "out of range"),
    ("kdf.name", "scrypt", "unknown key derivation"),
    ("kdf.salt", "00", "salt"),
    ("cipher", "rot13", "unknown cipher"),
    ("nonce", "zz", "malformed"),
])
def test_altered_files_give_clear_errors(tmp_path: Path, field: str, value: object, words: str) -> None:
    path, _ = encrypted(tmp_path)
    document = json.loads(path.read_text())
    target, name = (document["kdf"], field[4:]) if field.startswith("kdf.") else (document, field)
    if value == "flip":
        raw = bytearray.fromhex(target[name])
        raw[0] ^= 1
        value = raw.hex()
    elif value == "other":
        value = KeyPair.generate().public_hex
    target[name] = value
    path.write_text(json.dumps(document))
    with pytest.raises(KeyFormatError, match=words) as info:
        load_key_file(path, b"open sesame")
    assert str(path) in info.value.message


def test_wrong_passphrase_names_the_file(tmp_path: Path) -> None:
    path, _ = encrypted(tmp_path)
    with pytest.raises(KeyFormatError) as info:
        load_key_file(path, b"open barley")
    assert info.value.message == f"key file {path}: wrong passphrase (or the file was altered)"


def test_passphrase_files_and_empty_passphrases(tmp_path: Path) -> None:
    with pytest.raises(KeyFormatError, match="empty passphrase"):
        save_key_file(tmp_path / "k", KeyPair.generate(), passphrase=b"")
    secret = tmp_path / "pass"
    secret.write_text("open sesame\n")
    secret.chmod(0o644)
    with pytest.raises(KeyFormatError, match="readable by others"):
        read_passphrase_file(secret)
    secret.chmod(0o600)
    assert read_passphrase_file(secret) == b"open sesame"
    secret.write_text("\n")
    with pytest.raises(KeyFormatError, match="is empty"):
        read_passphrase_file(secret)
    with pytest.raises(KeyFormatError, match="cannot read passphrase file"):
        read_passphrase_file(tmp_path / "missing")


def test_keygen_encrypt_with_a_passphrase_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = tmp_path / "pass"
    secret.write_text("open sesame\n")
    secret.chmod(0o600)
    path = tmp_path / "k.json"
    code = main(["keygen", "-o", str(path), "--encrypt", "--passphrase-file", str(secret)])
    out, err = capsys.readouterr()
    assert code == 0 and "encrypted" in err
    assert is_encrypted_key_file(path) and load_key_file(path, b"open sesame").public_hex == out.strip()


def test_keygen_encrypt_without_a_passphrase_source_fails_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "k.json"
    code = main(["keygen", "-o", str(path), "--encrypt"])  # pytest's stdin is not a terminal
    _, err = capsys.readouterr()
    assert code == 1 and "needs a passphrase" in err and len(err.strip().splitlines()) == 1
    assert not path.exists()


def test_cli_commands_read_encrypted_keys_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = encrypted(tmp_path)
    args = ["tx", "submit", "--node", "http://127.0.0.1:9", "--chain-id", "c", "--key", str(path),
            "--contract", "anchoring", "--method", "anchor"]
    code = main(args)
    _, err = capsys.readouterr()
    assert code == 1 and "is encrypted" in err and "Traceback" not in err
    monkeypatch.setenv(PASSPHRASE_ENV, "open sesame")
    code = main(args)
    _, err = capsys.readouterr()
    assert code == 1 and "passphrase" not in err and "encrypted" not in err  # signed; only the node is missing
