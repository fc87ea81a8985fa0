"""Canonical msgpack encoding and domain-separated signing bytes (DESIGN.md §3).

Every structure is an **array in a fixed field order**; values are ``None``, ``bool``, integers in
the msgpack range (-2**63 .. 2**64-1), ``bytes`` (bin type), ``str`` (UTF-8) and arrays of values.
There are no floats and no maps anywhere in signed data or state. Records with named fields are
encoded as arrays of ``[name, value]`` pairs in strictly ascending name order (see
:func:`pairs_from_dict`), so they stay self-describing without being maps.

Decoding is strict: input larger than ``max_size``, trailing bytes, floats, maps, extension types,
nesting deeper than ``MAX_DEPTH`` and non-canonical encodings (an integer in a wider format than
needed, say) all raise :class:`~chain.errors.DecodeError`. Because every value has exactly one
encoding, ``sha256(encode(x))`` is a sound identifier.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import msgpack

from chain.errors import DecodeError, EncodeError

MAX_DEPTH = 32
MAX_DECODE_SIZE = 16 * 1024 * 1024
INT_MIN = -(2**63)
INT_MAX = 2**64 - 1

Value = Any  # None | bool | int | bytes | str | list/tuple of Value


_SCALARS = frozenset({type(None), bool, bytes, str})
_ARRAYS = frozenset({tuple, list})
_STR = frozenset({str})
_PLAIN = _SCALARS | {int}


def _check(value: Value, depth: int) -> None:
    """Reject what has no canonical encoding (type() dispatch: this runs on every state write)."""
    kind = type(value)
    if kind in _SCALARS:
        return
    if kind is int:
        if not INT_MIN <= value <= INT_MAX:
            raise EncodeError(f"integer out of range: {value}")
        return
    if kind in _ARRAYS:
        if depth >= MAX_DEPTH:
            raise EncodeError(f"nesting deeper than {MAX_DEPTH}")
        for item in value:
            item_kind = type(item)
            if item_kind in _SCALARS or (item_kind is int and INT_MIN <= item <= INT_MAX):
                continue
            _check(item, depth + 1)
        return
    if isinstance(value, float):
        raise EncodeError("floats have no canonical encoding")
    if isinstance(value, Mapping):
        raise EncodeError("maps are not allowed in canonical data; use pairs_from_dict")
    if isinstance(value, bool | bytes | str | int | list | tuple):  # subclasses: encode as the base type
        raise EncodeError(f"subclass {kind.__name__} of a canonical type is not allowed")
    raise EncodeError(f"type {kind.__name__} has no canonical encoding")


def encode(value: Value) -> bytes:
    """Canonical bytes of ``value``; raises :class:`EncodeError` for anything non-canonical."""
    _check(value, 0)
    return msgpack.packb(value, use_bin_type=True)


def _reject_ext(code: int, data: bytes) -> Any:
    raise DecodeError(f"msgpack extension type {code} is not allowed")


def _walk(value: Any, depth: int = 0) -> None:
    """Check the decoded tree holds only canonical types within MAX_DEPTH (msgpack's own stack limit
    is far below Python's recursion limit, so recursion here is bounded)."""
    if depth > MAX_DEPTH:
        raise DecodeError(f"nesting deeper than {MAX_DEPTH}")
    for item in value:
        kind = type(item)
        if kind in _PLAIN:
            continue
        if kind is tuple:
            if depth < MAX_DEPTH:  # a flat tuple (a record's pair, say) is checked here, without a call
                for sub in item:
                    if type(sub) not in _PLAIN:
                        _walk(item, depth + 1)
                        break
            else:
                _walk(item, depth + 1)
        elif kind is float:
            raise DecodeError("floats are not allowed")
        elif kind is dict:
            raise DecodeError("maps are not allowed in canonical data")
        else:
            raise DecodeError(f"unexpected type {kind.__name__}")


def decode(data: bytes, *, max_size: int = MAX_DECODE_SIZE) -> Value:
    """Decode canonical bytes into tuples/ints/bytes/str; raise :class:`DecodeError` on anything else."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise DecodeError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_size:
        raise DecodeError(f"input of {len(data)} bytes exceeds the limit of {max_size}")
    if not data:
        raise DecodeError("empty input")
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            use_list=False,
            strict_map_key=True,
            ext_hook=_reject_ext,
        )
    except DecodeError:
        raise
    except msgpack.ExtraData as exc:
        raise DecodeError("trailing bytes after the value") from exc
    except UnicodeDecodeError as exc:
        raise DecodeError("string is not valid UTF-8") from exc
    except Exception as exc:  # msgpack raises several unrelated types on garbage
        raise DecodeError(f"malformed msgpack: {type(exc).__name__}: {exc}") from exc
    _walk((value,))
    if msgpack.packb(value, use_bin_type=True) != data:
        raise DecodeError("non-canonical encoding")
    return value


def decode_stored(data: bytes) -> Value:
    """Decode bytes this node wrote itself from canonical values (committed state), without the
    strict checks :func:`decode` applies to untrusted input; a corrupt store still raises DecodeError."""
    try:
        return msgpack.unpackb(data, raw=False, use_list=False, strict_map_key=True, ext_hook=_reject_ext)
    except DecodeError:
        raise
    except Exception as exc:
        raise DecodeError(f"stored value does not decode: {type(exc).__name__}") from exc


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def digest(value: Value) -> bytes:
    """SHA-256 of the canonical encoding."""
    return sha256(encode(value))


# --- domain separation -------------------------------------------------------------------------

DOMAIN_TX = b"silkport/tx/v1"
DOMAIN_PREPREPARE = b"silkport/preprepare/v1"
DOMAIN_PREPARE = b"silkport/prepare/v1"
DOMAIN_COMMIT = b"silkport/commit/v1"
DOMAIN_CHECKPOINT = b"silkport/checkpoint/v1"
DOMAIN_VIEW_CHANGE = b"silkport/viewchange/v1"
DOMAIN_NEW_VIEW = b"silkport/newview/v1"
DOMAIN_HANDSHAKE = b"silkport/handshake/v1"
DOMAIN_CATCHUP = b"silkport/catchup/v1"
DOMAIN_PEER_CERT = b"silkport/peercert/v1"
"""A validator's signature over a peer TLS key (chain/net/certs.py, ADR 0010)."""
DOMAIN_API_REQUEST = b"silkport/apirequest/v1"
"""A validator's signed REST request: ``[method, path?query, timestamp_ms, nonce]`` (ADR 0011)."""
DOMAIN_DATA_PUT = b"silkport/data-put/v1"
"""An asset owner's signature over an upload of its content (chain/dataplane/requests.py, ADR 0018)."""
DOMAIN_DATA_GET = b"silkport/data-get/v1"
"""A recipient's signature over a node's egress challenge (chain/dataplane/stream.py, ADR 0018)."""
DOMAIN_SNAPSHOT = b"silkport/snapshot/v1"
"""A validator's signature over the manifest of a state snapshot it serves (chain/statesync/snapshot.py, ADR 0021)."""

DOMAINS = frozenset(
    {
        DOMAIN_TX,
        DOMAIN_PREPREPARE,
        DOMAIN_PREPARE,
        DOMAIN_COMMIT,
        DOMAIN_CHECKPOINT,
        DOMAIN_VIEW_CHANGE,
        DOMAIN_NEW_VIEW,
        DOMAIN_HANDSHAKE,
        DOMAIN_CATCHUP,
        DOMAIN_PEER_CERT,
        DOMAIN_API_REQUEST,
        DOMAIN_DATA_PUT,
        DOMAIN_DATA_GET,
        DOMAIN_SNAPSHOT,
    }
)


def signing_bytes(domain: bytes, chain_id: str, body: Value) -> bytes:
    """``domain || canonical(chain_id) || canonical(body)`` (DESIGN.md §3).

    The chain id is written in its canonical (length-prefixed) form so the boundary between it and
    the body is unambiguous; every domain tag is ``silkport/<kind>/v1`` and none is a prefix of
    another, so no signature can be replayed across chains or message kinds.
    """
    if domain not in DOMAINS:
        raise EncodeError(f"unknown signing domain {domain!r}")
    return domain + encode(chain_id) + encode(body)


# --- records as sorted pairs ---------------------------------------------------------------------


def pairs_from_dict(record: Mapping[str, Value]) -> tuple[tuple[str, Value], ...]:
    """Encode a named record as ``((name, value), ...)`` sorted by name (nested dicts too).

    Every value is checked on the way (the same rules as :func:`encode`), so the result can be
    packed without a second walk (:func:`encode_record`).
    """
    return _pairs(record, 0)


def encode_record(record: Mapping[str, Value]) -> bytes:
    """``encode(pairs_from_dict(record))`` with one walk instead of two (records are written often).

    Fast path: the top level's types are checked in bulk and integers are left to msgpack, whose
    range is exactly ``INT_MIN..INT_MAX``; on any doubt the field-by-field walk names the error.
    """
    try:
        return msgpack.packb(_top_pairs(record), use_bin_type=True)
    except (EncodeError, OverflowError):
        return msgpack.packb(_pairs(record, 0), use_bin_type=True)  # raises the precise error


def _top_pairs(record: Mapping[str, Value]) -> tuple[tuple[str, Value], ...]:
    """``_pairs(record, 0)`` without range-checking integers (the caller packs and msgpack does)."""
    names = sorted(record)
    if not _STR.issuperset(map(type, names)):
        raise EncodeError("record field names must be strings")
    values = list(map(record.__getitem__, names))
    types = list(map(type, values))
    kinds = set(types)
    for kind in kinds - _PLAIN:
        at = -1
        for _ in range(types.count(kind)):
            at = types.index(kind, at + 1)
            value = values[at]
            if kind is not tuple or not _PLAIN.issuperset(map(type, value)):  # a flat tuple stays as it is
                values[at] = _to_canonical(value, 1)
    return tuple(zip(names, values, strict=True))


def _pairs(record: Mapping[str, Value], depth: int) -> tuple[tuple[str, Value], ...]:
    if depth >= MAX_DEPTH:
        raise EncodeError(f"nesting deeper than {MAX_DEPTH}")
    out = []
    for name in sorted(record):
        if type(name) is not str:
            raise EncodeError("record field names must be strings")
        out.append((name, _to_canonical(record[name], depth + 1)))
    return tuple(out)


def _to_canonical(value: Value, depth: int) -> Value:
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is int:
        if not INT_MIN <= value <= INT_MAX:
            raise EncodeError(f"integer out of range: {value}")
        return value
    if isinstance(value, Mapping):
        return _pairs(value, depth)
    if kind in _ARRAYS:
        if depth >= MAX_DEPTH:
            raise EncodeError(f"nesting deeper than {MAX_DEPTH}")
        return tuple(_to_canonical(v, depth + 1) for v in value)
    _check(value, depth)  # raises the precise error
    return value


def dict_from_pairs(pairs: Value) -> dict[str, Value]:
    """Inverse of :func:`pairs_from_dict` for one level; checks strict ascending, unique names."""
    if type(pairs) not in _ARRAYS:
        raise DecodeError("a record must be an array of [name, value] pairs")
    out: dict[str, Value] = {}
    previous: str | None = None
    for pair in pairs:
        if type(pair) not in _ARRAYS or len(pair) != 2 or type(pair[0]) is not str:
            raise DecodeError("a record field must be a [name, value] pair with a string name")
        name = pair[0]
        if previous is not None and name <= previous:
            raise DecodeError(f"record fields must be unique and sorted: {name!r} after {previous!r}")
        out[name] = pair[1]
        previous = name
    return out
