"""``silkport verify`` (and the proof commands' parsing): exit 0 + one line, or exit 1 + a reason, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_proofs_support import Port, random_hashes

from chain.cli import main
from chain.proofs.build import ProofBuilder
from chain.proofs.document import canonical_json


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("proofs")
    port = Port()
    digest = random_hashes(1)[0]
    port.anchor([digest, *random_hashes(3)], "cli")
    asset = port.register(b"cli asset")
    port.blocks(2)
    builder = ProofBuilder(port.node.ledger)
    old = builder.anchor_receipt(digest)
    port.blocks(3)
    out = {
        "genesis": port.document,
        "receipt": canonical_json(old),
        "new": canonical_json(builder.anchor_receipt(digest, since=old["certified"]["header"]["height"])),
        "bundle": canonical_json(builder.asset_bundle(asset)),
    }
    paths = {}
    for name, content in out.items():
        paths[name] = directory / f"{name}.json"
        paths[name].write_text(content if isinstance(content, str) else json.dumps(content))
    return paths


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return code, captured.out + captured.err


def test_verify_valid_documents(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("receipt", "bundle"):
        code, out = run(capsys, "verify", files[name], "--genesis", files["genesis"])
        assert code == 0 and out.startswith("valid: ") and out.count("\n") == 1, out
    code, out = run(capsys, "verify", files["bundle"], "--genesis", files["genesis"], "--explain")
    assert code == 0 and "certified header" in out and "registry.registered" in out
    code, out = run(capsys, "verify", files["receipt"], files["new"], "--genesis", files["genesis"])
    assert code == 0 and out.startswith("consistent: the history at height"), out
    code, out = run(capsys, "verify", files["new"], files["receipt"], "--genesis", files["genesis"])
    assert code == 1 and "after the second" in out


def _variants(text: str) -> dict[str, tuple[str, str]]:
    document = json.loads(text)
    huge = dict(document, blocks=[document["blocks"][0]] * 20_000)
    wrong_length = json.loads(text)
    wrong_length["anchor"]["hash"] = wrong_length["anchor"]["hash"][:-2]
    non_hex = json.loads(text)
    non_hex["anchor"]["hash"] = "zz" + non_hex["anchor"]["hash"][2:]
    upper = json.loads(text)
    upper["anchor"]["hash"] = upper["anchor"]["hash"].upper()
    return {
        "truncated": (text[: len(text) // 2], "not valid JSON"),
        "empty": ("", "not valid JSON"),
        "version": (canonical_json(dict(document, format="silkport-proof/2")), "format must be"),
        "non-hex": (canonical_json(non_hex), "not hex"),
        "uppercase hex": (canonical_json(upper), "lowercase"),
        "wrong length": (canonical_json(wrong_length), "expected 32 bytes"),
        "huge array": (canonical_json(huge), "more than 10000 items"),
        "not canonical": (json.dumps(document), "canonical form"),
        "array": ("[]\n", "JSON object"),
        "float": (text.replace('"height": 1,', '"height": 1.0,', 1), "non-integer"),
        "kind": (canonical_json(dict(document, kind="bogus")), "kind must be"),
        "extra field": (canonical_json(dict(document, extra=1)), "unknown field"),
        "binary": ("\x00\xff garbage", "ASCII"),
        "deep": ('{"format": "silkport-proof/1", "a": ' + "[" * 100_000 + "]" * 100_000 + "}", "not valid JSON"),
    }


def test_bad_input_exits_1_with_a_reason(files: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    for name, (content, words) in _variants(files["receipt"].read_text()).items():
        path = tmp_path / "bad.json"
        path.write_bytes(content.encode("latin-1"))
        code, out = run(capsys, "verify", path, "--genesis", files["genesis"])
        assert code == 1, name
        assert out.startswith("invalid: ") and words in out, (name, out)


def test_missing_files_and_bad_genesis(files: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                       tmp_path: Path) -> None:
    code, out = run(capsys, "verify", tmp_path / "nope.json", "--genesis", files["genesis"])
    assert code == 1 and "nope.json" in out
    code, out = run(capsys, "verify", files["receipt"], "--genesis", tmp_path / "nope.json")
    assert code == 1 and "genesis" in out
    other: dict[str, Any] = json.loads(files["genesis"].read_text())
    other["chain_id"] = "another-chain"
    (tmp_path / "g.json").write_text(json.dumps(other))
    code, out = run(capsys, "verify", files["receipt"], "--genesis", tmp_path / "g.json")
    assert code == 1 and "not the genesis chain" in out


def test_anchor_receipt_hash_argument_accepts_a_file(tmp_path: Path) -> None:
    from chain.cli.proofs import _hash_argument, hash_files

    path = tmp_path / "data.bin"
    path.write_bytes(b"x" * (3 * 1024 * 1024 + 5))
    import hashlib

    assert _hash_argument(str(path)) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert hash_files([path]) == [hashlib.sha256(path.read_bytes()).digest()]
    assert _hash_argument("AB" * 32) == "ab" * 32


def test_asset_prove_is_the_same_command_as_prove_asset() -> None:
    from chain.cli import build_parser
    from chain.cli.proofs import prove_asset

    for argv in (["asset", "prove", "ab" * 32, "-o", "b.json"], ["prove", "asset", "ab" * 32, "-o", "b.json"]):
        args = build_parser().parse_args(argv)
        assert args.handler is prove_asset and args.asset_id == "ab" * 32 and args.output == "b.json"


def test_a_document_from_another_genesis_with_the_same_chain_id_is_named_as_such(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    other: dict[str, Any] = json.loads(files["genesis"].read_text())
    other["genesis_time_ms"] += 1  # same chain id, another genesis block
    (tmp_path / "g.json").write_text(json.dumps(other))
    code, out = run(capsys, "verify", files["bundle"], "--genesis", tmp_path / "g.json")
    assert code == 1 and "not from the chain of this genesis file" in out and "another genesis file" in out


@pytest.mark.parametrize("where", [0.1, 0.5, 0.9])
def test_a_non_canonical_byte_is_reported_at_its_offset_and_canonicalise_fixes_it(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path, where: float
) -> None:
    text = files["bundle"].read_text()
    newline = text.index("\n", int(len(text) * where))
    spaced = text[:newline] + " " + text[newline:]  # a trailing space: valid JSON, not canonical
    path = tmp_path / "spaced.json"
    path.write_text(spaced)
    code, out = run(capsys, "verify", path, "--genesis", files["genesis"])
    line = text.count("\n", 0, newline) + 1
    column = newline - (text.rfind("\n", 0, newline) + 1) + 1
    assert code == 1 and f"first difference at character {newline}, line {line} column {column}" in out, out
    assert "silkport canonicalise" in out
    fixed = tmp_path / "fixed.json"
    code, _ = run(capsys, "canonicalise", path, "-o", fixed)
    assert code == 0 and fixed.read_text() == text
    code, out = run(capsys, "verify", fixed, "--genesis", files["genesis"])
    assert code == 0 and out.startswith("valid: ")


def test_canonicalise_refuses_what_is_not_a_proof_document(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"format": "other"}')
    code, out = run(capsys, "canonicalise", path)
    assert code == 1 and "format must be" in out


def test_explain_is_not_cropped_when_piped(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "verify", files["bundle"], "--genesis", files["genesis"], "--explain")
    assert code == 0
    assert "(signatures " in out and "genesis recomputed from the genesis file" in out, out
