"""The ``silkport-proof/1`` JSON format: canonical text, strict readers, headers and certificates (ADR 0008).

A proof document is JSON in **canonical form**: the text ``json.dumps(doc, indent=1, sort_keys=True,
ensure_ascii=True)`` followed by one newline (:func:`canonical_json` produces exactly that, fast for
long hex strings). :func:`load_document` refuses any other text, so a changed byte anywhere — even in
white space — fails verification (DESIGN.md §9). Bytes are lowercase hex, integers are JSON integers,
objects have exactly the documented keys.

Readers raise :class:`~chain.errors.ProofError` whose message names the JSON path of the bad field.
Pure: no I/O, no clock.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from chain import codec
from chain.errors import DecodeError, ProofError, ValidationError
from chain.types import CommitCertificate, Header

FORMAT = "silkport-proof/1"
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
MAX_LIST = 100_000
MAX_PROOF_HASHES = 64

Path = str


class Fail(ProofError):
    """A failed check; the message says which proof, which height and what mismatched."""

    code = "proof_failed"


# --- canonical text -----------------------------------------------------------------------------------


LONG_STRING = 256
"""Strings longer than this are only ever hex in a valid document (every text field is shorter)."""


def _string(value: str) -> str:
    if len(value) <= LONG_STRING and value.isascii() and value.isalnum():
        return '"' + value + '"'
    return json.dumps(value, ensure_ascii=True)


def _emit(value: Any, depth: int, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, bool) or value is None or isinstance(value, int):
        out.append(json.dumps(value))
    elif isinstance(value, Mapping):
        if not value:
            out.append("{}")
            return
        inner = "\n" + " " * (depth + 1)
        out.append("{")
        for position, key in enumerate(sorted(value)):
            out.append(("," if position else "") + inner + _string(key) + ": ")
            _emit(value[key], depth + 1, out)
        out.append("\n" + " " * depth + "}")
    elif isinstance(value, list | tuple):
        if not value:
            out.append("[]")
            return
        inner = "\n" + " " * (depth + 1)
        out.append("[")
        for position, item in enumerate(value):
            out.append(("," if position else "") + inner)
            _emit(item, depth + 1, out)
        out.append("\n" + " " * depth + "]")
    else:
        raise TypeError(f"not a JSON value: {type(value).__name__}")


class _Mismatch(Exception):
    def __init__(self, offset: int) -> None:
        self.offset = offset


def _expect(text: str, offset: int, piece: str) -> int:
    if not text.startswith(piece, offset):
        same = 0
        while same < len(piece) and offset + same < len(text) and text[offset + same] == piece[same]:
            same += 1
        raise _Mismatch(offset + same)  # the first character that differs, not the start of the piece
    return offset + len(piece)


_PIECES: dict[tuple[int, str, bool], str] = {}
"""``(depth, key, not first)`` → the text before a dict value (keys repeat across documents)."""


def _key_piece(depth: int, key: str, later: bool) -> str:
    piece = _PIECES.get((depth, key, later))
    if piece is None:
        piece = ("," if later else "") + "\n" + " " * (depth + 1) + _string(key) + ": "
        if len(_PIECES) < 4096:
            _PIECES[(depth, key, later)] = piece
    return piece


def _match(value: Any, depth: int, text: str, offset: int) -> int:
    """Compare ``text`` from ``offset`` with the canonical text of ``value`` without building it.

    A long string is compared as is (no copy): if it matches, it needs no escape, so it *is* its
    ``json.dumps`` form; if it needed one, the text cannot match (every long string must be hex anyway).
    """
    kind = type(value)
    if kind is str:
        if len(value) > LONG_STRING:
            offset = _expect(text, offset, '"')
            offset = _expect(text, offset, value)
            return _expect(text, offset, '"')
        return _expect(text, offset, _string(value))
    if kind is bool or value is None or kind is int:
        return _expect(text, offset, json.dumps(value))
    if kind is dict:
        if not value:
            return _expect(text, offset, "{}")
        offset = _expect(text, offset, "{")
        later = False
        for key in sorted(value):
            offset = _expect(text, offset, _key_piece(depth, key, later))
            offset = _match(value[key], depth + 1, text, offset)
            later = True
        return _expect(text, offset, "\n" + " " * depth + "}")
    if kind is list:
        if not value:
            return _expect(text, offset, "[]")
        inner = "\n" + " " * (depth + 1)
        offset = _expect(text, offset, "[" + inner)
        separator = "," + inner
        for position, item in enumerate(value):
            if position:
                offset = _expect(text, offset, separator)
            offset = _match(item, depth + 1, text, offset)
        return _expect(text, offset, "\n" + " " * depth + "]")
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def canonical_json(document: Any) -> str:
    """``json.dumps(document, indent=1, sort_keys=True, ensure_ascii=True) + "\\n"`` (fast on long hex strings)."""
    out: list[str] = []
    _emit(document, 0, out)
    out.append("\n")
    return "".join(out)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key in a JSON object")
    return result


def _no_float(text: str) -> Any:
    raise ValueError(f"non-integer number {text[:20]}")


def load_document(data: bytes | str) -> dict[str, Any]:
    """Parse a proof document; refuse oversize, malformed, non-canonical text or a wrong format tag."""
    document, text = parse_document(data)
    try:
        end = _match(document, 0, text, 0)
        _expect(text, end, "\n")
        if end + 1 != len(text):
            raise _Mismatch(end + 1)
    except RecursionError as exc:
        raise Fail("document is nested too deeply") from exc
    except _Mismatch as exc:
        line = text.count("\n", 0, exc.offset) + 1
        column = exc.offset - (text.rfind("\n", 0, exc.offset) + 1) + 1
        raise Fail(f"document is not in canonical form (first difference at character {exc.offset}, line {line} "
                   f"column {column}); re-canonicalise it with `silkport canonicalise FILE -o FIXED.json` (the proof "
                   "is then checked as usual) or export it again from a node, unmodified") from exc
    return document


def parse_document(data: bytes | str) -> tuple[dict[str, Any], str]:
    """The document and its text, with every check of :func:`load_document` but the canonical form
    (``silkport canonicalise`` rewrites such a document in canonical form)."""
    if isinstance(data, bytes):
        if len(data) > MAX_DOCUMENT_BYTES:
            raise Fail(f"document of {len(data)} bytes exceeds {MAX_DOCUMENT_BYTES}")
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError as exc:
            raise Fail(f"document is not ASCII text (byte {exc.start})") from exc
    else:
        text = data
        if len(text) > MAX_DOCUMENT_BYTES:
            raise Fail(f"document of {len(text)} characters exceeds {MAX_DOCUMENT_BYTES}")
        if not text.isascii():
            raise Fail("document is not ASCII text")
    try:
        document = json.loads(text, object_pairs_hook=_no_duplicates, parse_float=_no_float,
                              parse_constant=_no_float)
    except (ValueError, RecursionError) as exc:
        raise Fail(f"document is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise Fail("document must be a JSON object")
    if document.get("format") != FORMAT:
        raise Fail(f"format must be {FORMAT!r}, got {str(document.get('format'))[:40]!r}")
    return document, text


# --- strict readers -------------------------------------------------------------------------------------


def obj(value: Any, path: Path, keys: Sequence[str], optional: Sequence[str] = ()) -> dict[str, Any]:
    """An object with exactly ``keys`` (plus any of ``optional``)."""
    if not isinstance(value, dict):
        raise Fail(f"{path}: expected an object")
    missing = [k for k in keys if k not in value]
    if missing:
        raise Fail(f"{path}: missing field {missing[0]!r}")
    extra = sorted(set(value) - set(keys) - set(optional))
    if extra:
        raise Fail(f"{path}: unknown field {extra[0]!r}")
    return value


def integer(value: Any, path: Path, low: int = 0, high: int = 2**63 - 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Fail(f"{path}: expected an integer")
    if not low <= value <= high:
        raise Fail(f"{path}: {value} is outside [{low}, {high}]")
    return value


def text(value: Any, path: Path, max_len: int = 256) -> str:
    if not isinstance(value, str):
        raise Fail(f"{path}: expected a string")
    if len(value) > max_len:
        raise Fail(f"{path}: longer than {max_len} characters")
    return value


def hexbytes(value: Any, path: Path, size: int | None = None, max_size: int = 32 * 1024 * 1024) -> bytes:
    """Lowercase hex of ``size`` bytes (any length up to ``max_size`` if ``size`` is None)."""
    if not isinstance(value, str):
        raise Fail(f"{path}: expected a hex string")
    if len(value) > 2 * max_size:
        raise Fail(f"{path}: more than {max_size} bytes")
    try:
        data = bytes.fromhex(value)
    except ValueError as exc:
        raise Fail(f"{path}: not hex ({exc})") from exc
    if data.hex() != value:
        raise Fail(f"{path}: not lowercase hex without spaces")
    if size is not None and len(data) != size:
        raise Fail(f"{path}: expected {size} bytes, got {len(data)}")
    return data


def array(value: Any, path: Path, max_len: int = MAX_LIST) -> list[Any]:
    if not isinstance(value, list):
        raise Fail(f"{path}: expected an array")
    if len(value) > max_len:
        raise Fail(f"{path}: more than {max_len} items")
    return value


def hashes(value: Any, path: Path, max_len: int = MAX_PROOF_HASHES) -> list[bytes]:
    """A Merkle path: an array of 32-byte hex hashes."""
    return [hexbytes(item, f"{path}[{i}]", 32) for i, item in enumerate(array(value, path, max_len))]


# --- headers, certificates, validators -------------------------------------------------------------------

HEADER_FIELDS = ("chain_id", "height", "view", "timestamp_ms", "prev_hash", "tx_root", "state_root",
                 "history_root", "validators_hash", "policy_version", "proposer")
_HEADER_BYTES = {"prev_hash", "tx_root", "state_root", "history_root", "validators_hash"}


def header_to_json(header: Header) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in HEADER_FIELDS:
        value = getattr(header, name)
        out[name] = value.hex() if isinstance(value, bytes) else value
    out["hash"] = header.block_hash.hex()
    return out


def header_from_json(value: Any, path: Path) -> Header:
    """A header in full plus its ``hash``, which must be the hash of the fields."""
    fields = obj(value, path, (*HEADER_FIELDS, "hash"))
    kwargs: dict[str, Any] = {}
    for name in HEADER_FIELDS:
        if name in _HEADER_BYTES:
            kwargs[name] = hexbytes(fields[name], f"{path}.{name}", 32)
        elif name == "chain_id":
            kwargs[name] = text(fields[name], f"{path}.{name}", 64)
        else:
            kwargs[name] = integer(fields[name], f"{path}.{name}")
    header = Header(**kwargs)
    if hexbytes(fields["hash"], f"{path}.hash", 32) != header.block_hash:
        raise Fail(f"{path}: header at height {header.height}: hash does not match its fields")
    return header


def certificate_to_json(certificate: CommitCertificate) -> dict[str, Any]:
    return {
        "height": certificate.height,
        "view": certificate.view,
        "block_hash": certificate.block_hash.hex(),
        "signatures": [[index, signature.hex()] for index, signature in certificate.signatures],
    }


def certificate_from_json(value: Any, path: Path) -> CommitCertificate:
    fields = obj(value, path, ("height", "view", "block_hash", "signatures"))
    pairs = []
    for i, item in enumerate(array(fields["signatures"], f"{path}.signatures", 1024)):
        where = f"{path}.signatures[{i}]"
        pair = array(item, where, 2)
        if len(pair) != 2:
            raise Fail(f"{where}: expected [validator_index, signature]")
        pairs.append((integer(pair[0], f"{where}[0]", 0, 1023), hexbytes(pair[1], f"{where}[1]", 64)))
    return CommitCertificate(
        height=integer(fields["height"], f"{path}.height"),
        view=integer(fields["view"], f"{path}.view"),
        block_hash=hexbytes(fields["block_hash"], f"{path}.block_hash", 32),
        signatures=tuple(pairs),
    )


VALIDATOR_FIELDS = ("public_key", "name", "organisation", "jurisdiction")


def validators_to_json(raw_value: bytes) -> list[dict[str, Any]]:
    """The ``gov/validators`` state value as JSON objects (its canonical bytes are recomputed on reading)."""
    return [
        {"public_key": entry[0].hex(), "name": entry[1], "organisation": entry[2], "jurisdiction": entry[3]}
        for entry in codec.decode(raw_value)
    ]


def validators_from_json(value: Any, path: Path) -> tuple[tuple[bytes, ...], bytes]:
    """``(public keys, canonical state value)`` of a validator list."""
    entries = []
    for i, item in enumerate(array(value, path, 256)):
        where = f"{path}[{i}]"
        fields = obj(item, where, VALIDATOR_FIELDS)
        entries.append((hexbytes(fields["public_key"], f"{where}.public_key", 32),
                        text(fields["name"], f"{where}.name", 64),
                        text(fields["organisation"], f"{where}.organisation", 64),
                        text(fields["jurisdiction"], f"{where}.jurisdiction", 2)))
    if not entries:
        raise Fail(f"{path}: an empty validator set")
    keys = tuple(entry[0] for entry in entries)
    if len(set(keys)) != len(keys):
        raise Fail(f"{path}: a validator key appears twice")
    return keys, codec.encode(tuple(entries))


def decode_canonical(data: bytes, path: Path) -> Any:
    """msgpack that must be canonical (re-encoding gives the same bytes)."""
    try:
        value = codec.decode(data)
    except (DecodeError, ValidationError) as exc:
        raise Fail(f"{path}: does not decode: {exc.message}") from exc
    return value
