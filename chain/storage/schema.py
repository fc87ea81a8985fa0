"""Every key of a node's database, in one place (DESIGN.md §6; py-evm's ``SchemaV1`` key builders).

Each family of keys starts with its own single byte, so no key of one family is a prefix of a key of
another and each family is one prefix range. Integers in keys are big-endian and fixed width
(height: 8 bytes, tx index: 4 bytes), so keys sort by height and a height range is one iteration.

=========  ===============================================  ==============================================
prefix     key                                              value
=========  ===============================================  ==============================================
``h``      ``h`` (one key)                                  head: ``u64 height || block_hash`` (40 bytes)
``H``      ``H || u64 height``                              canonical :class:`~chain.types.Header`
``B``      ``B || u64 height || u32 tx_index``              the block body with its receipts, one key per
                                                            transaction: ``canonical([signed_tx, receipt])``,
                                                            exactly the ``tx_root`` leaf pre-image
                                                            (:func:`chain.types.tx_leaf_data`)
``K``      ``K || u64 height``                              32-byte block hash: the leaves of the RFC 6962
                                                            history tree, enough to rebuild any
                                                            ``history_root`` and its proofs (DESIGN.md §4)
``N``      ``N || block_hash``                              ``u64 height``
``C``      ``C || u64 height``                              canonical :class:`~chain.types.CommitCertificate`
``X``      ``X || tx_hash``                                 ``u64 height || u32 tx_index``
``V``      ``V || key chosen by the consensus host``        the replica's own persisted vote (PREPARE,
                                                            COMMIT, VIEW-CHANGE), written before sending
``M``      ``M || ascii name``                              node metadata (genesis hash, chain id, schema
                                                            version)
``T``      ``T || ...``                                     authenticated state tree nodes; the state tree
                                                            owns everything under this prefix
``I``      ``I || index name || "/" || key``                per-contract secondary indexes for queries
                                                            (index names match ``[a-z][a-z0-9_]{0,31}``)
``D``      ``Dc || transfer id || recipient key || chunk``  the data valve's node-local delivery records, not
           ``root`` / ``Dp || tx_hash``                     consensus state: chunks sent per recipient key,
                                                            pending ``delivered`` transactions (ADR 0028,
                                                            :mod:`chain.storage.deliveries`)
=========  ===============================================  ==============================================

Why transactions and receipts share one key: the pair is what a ``tx_root`` inclusion proof needs
(DESIGN.md §4), a transaction lookup is one read, and a block commit writes one LevelDB entry per
transaction instead of two (a quarter fewer entries for a typical block: see
``benchmarks/blockstore.py``). The block body alone is the first element of each value.

The values of ``H``, ``B`` and ``C`` are canonical bytes (:mod:`chain.codec`): the store keeps
no pickles and no decoded objects, and equal objects are stored as equal bytes.
"""

from __future__ import annotations

import re
import struct

from chain.errors import StorageError, ValidationError

SCHEMA_VERSION = 1

HEAD = b"h"
HEADER_PREFIX = b"H"
BODY_PREFIX = b"B"
BLOCK_HASH_PREFIX = b"K"
HEIGHT_BY_HASH_PREFIX = b"N"
CERTIFICATE_PREFIX = b"C"
TX_LOCATION_PREFIX = b"X"
VOTE_PREFIX = b"V"
META_PREFIX = b"M"
STATE_PREFIX = b"T"
INDEX_PREFIX = b"I"
DELIVERY_PREFIX = b"D"

ALL_PREFIXES: tuple[bytes, ...] = (
    HEAD,
    HEADER_PREFIX,
    BODY_PREFIX,
    BLOCK_HASH_PREFIX,
    HEIGHT_BY_HASH_PREFIX,
    CERTIFICATE_PREFIX,
    TX_LOCATION_PREFIX,
    VOTE_PREFIX,
    META_PREFIX,
    STATE_PREFIX,
    INDEX_PREFIX,
    DELIVERY_PREFIX,
)
"""Every family; each is one distinct byte (checked below at import)."""

BLOCK_PREFIXES: frozenset[bytes] = frozenset(
    {
        HEAD,
        HEADER_PREFIX,
        BODY_PREFIX,
        BLOCK_HASH_PREFIX,
        HEIGHT_BY_HASH_PREFIX,
        CERTIFICATE_PREFIX,
        TX_LOCATION_PREFIX,
    }
)
"""Families written only by :class:`~chain.storage.blockstore.BlockStore`."""

if len(set(ALL_PREFIXES)) != len(ALL_PREFIXES) or any(len(p) != 1 for p in ALL_PREFIXES):
    raise AssertionError("schema prefixes must be distinct single bytes")

HASH_SIZE = 32
MAX_HEIGHT = 2**64 - 1
MAX_TX_INDEX = 2**32 - 1
HEAD_SIZE = 8 + HASH_SIZE
TX_LOCATION_SIZE = 8 + 4

_U64 = struct.Struct(">Q")
_U64_U32 = struct.Struct(">QI")
_INDEX_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

# --- metadata names --------------------------------------------------------------------------------

META_GENESIS_HASH = META_PREFIX + b"genesis_hash"
META_CHAIN_ID = META_PREFIX + b"chain_id"
META_SCHEMA_VERSION = META_PREFIX + b"schema_version"


def meta_key(name: str) -> bytes:
    """``M || name`` for a short ascii metadata name."""
    if not name or not name.isascii() or len(name) > 64:
        raise ValidationError(f"metadata name {name!r} must be 1..64 ascii characters")
    return META_PREFIX + name.encode("ascii")


# --- integers ------------------------------------------------------------------------------------


def encode_height(height: int) -> bytes:
    """Big-endian u64, so byte order is height order."""
    if isinstance(height, bool) or not isinstance(height, int) or not 0 <= height <= MAX_HEIGHT:
        raise ValidationError(f"height {height!r} is not in 0..2**64-1")
    return _U64.pack(height)


def decode_height(data: bytes) -> int:
    if len(data) != 8:
        raise StorageError(f"stored height has {len(data)} bytes, expected 8")
    value: int = _U64.unpack(data)[0]
    return value


# --- block keys --------------------------------------------------------------------------------------


def header_key(height: int) -> bytes:
    return HEADER_PREFIX + encode_height(height)


def body_prefix(height: int) -> bytes:
    """Prefix of every ``[signed_tx, receipt]`` of the block at ``height``; iterate it in tx order."""
    return BODY_PREFIX + encode_height(height)


def body_key(height: int, tx_index: int) -> bytes:
    """``B || u64 height || u32 tx_index`` -> ``canonical([signed_tx, receipt])``."""
    return BODY_PREFIX + _height_index(height, tx_index)


def block_hash_key(height: int) -> bytes:
    """The history-tree leaf of ``height``: the block hash, one key per height."""
    return BLOCK_HASH_PREFIX + encode_height(height)


def height_by_hash_key(block_hash: bytes) -> bytes:
    return HEIGHT_BY_HASH_PREFIX + _hash(block_hash, "block hash")


def certificate_key(height: int) -> bytes:
    return CERTIFICATE_PREFIX + encode_height(height)


def tx_location_key(tx_hash: bytes) -> bytes:
    return TX_LOCATION_PREFIX + _hash(tx_hash, "tx hash")


# --- fixed-width values --------------------------------------------------------------------------


def encode_head(height: int, block_hash: bytes) -> bytes:
    return encode_height(height) + _hash(block_hash, "block hash")


def decode_head(data: bytes) -> tuple[int, bytes]:
    if len(data) != HEAD_SIZE:
        raise StorageError(f"stored head has {len(data)} bytes, expected {HEAD_SIZE}")
    return decode_height(data[:8]), data[8:]


def encode_tx_location(height: int, tx_index: int) -> bytes:
    return _height_index(height, tx_index)


def decode_tx_location(data: bytes) -> tuple[int, int]:
    if len(data) != TX_LOCATION_SIZE:
        raise StorageError(f"stored tx location has {len(data)} bytes, expected {TX_LOCATION_SIZE}")
    height, tx_index = _U64_U32.unpack(data)
    return height, tx_index


# --- votes, state, indexes ---------------------------------------------------------------------------


def vote_key(key: bytes) -> bytes:
    """``V || key``: the consensus host chooses ``key`` (sort it by view/height to prune by range)."""
    if not isinstance(key, bytes) or not key:
        raise ValidationError("a vote key is non-empty bytes")
    return VOTE_PREFIX + key


def index_prefix(name: str) -> bytes:
    """``I || name || "/"``: every entry of one secondary index (no name is a prefix of another's)."""
    if not isinstance(name, str) or not _INDEX_NAME.match(name):
        raise ValidationError(f"index name {name!r} must match [a-z][a-z0-9_]{{0,31}}")
    return INDEX_PREFIX + name.encode("ascii") + b"/"


def index_key(name: str, key: bytes) -> bytes:
    if not isinstance(key, bytes):
        raise ValidationError("an index key is bytes")
    return index_prefix(name) + key


# --- the data valve's delivery records (node-local, ADR 0028) -----------------------------------------

COVERAGE_PREFIX = DELIVERY_PREFIX + b"c"
PENDING_DELIVERY_PREFIX = DELIVERY_PREFIX + b"p"


def coverage_key(transfer_id: bytes, recipient_key: bytes, chunk_root: bytes) -> bytes:
    """``Dc || transfer id || recipient key || chunk root`` (32 bytes each): chunks sent to that key."""
    return (COVERAGE_PREFIX + _hash(transfer_id, "transfer id") + _hash(recipient_key, "recipient key")
            + _hash(chunk_root, "chunk root"))


def pending_delivery_key(tx_hash: bytes) -> bytes:
    """``Dp || tx_hash``: a signed ``crossborder.delivered`` not yet seen committed, with the height it was signed at."""
    return PENDING_DELIVERY_PREFIX + _hash(tx_hash, "tx hash")


# --- helpers -------------------------------------------------------------------------------------------


def _height_index(height: int, tx_index: int) -> bytes:
    encode_height(height)
    if isinstance(tx_index, bool) or not isinstance(tx_index, int) or not 0 <= tx_index <= MAX_TX_INDEX:
        raise ValidationError(f"tx index {tx_index!r} is not in 0..2**32-1")
    return _U64_U32.pack(height, tx_index)


def _hash(value: bytes, what: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise ValidationError(f"{what} must be {HASH_SIZE} bytes")
    return value
