"""Install a verified snapshot into a node's store in one synced LevelDB batch (ADR 0021).

The batch deletes every block-store, state-tree and local-index key the store held, then writes the
tree of height ``H`` (:meth:`~chain.statetree.StateTree.install`), the index entries, the genesis
header, header and certificate ``H``, the block hashes ``0 .. H`` (the history leaves), the head and
the ``snapshot_base`` marker. LevelDB applies a batch atomically (ADR 0004): a crash leaves the old
store or the installed one, never a mix. The replica's own votes (``V``) are kept: persist-before-
send must survive (a restarted replica never votes twice differently).

The store then holds no block bodies at or below ``H`` (like a CometBFT node after state sync): the
API answers 404 for them, and this node serves catch-up only above ``H``.
"""

from __future__ import annotations

from chain.genesis import GenesisDoc, genesis_header, genesis_state
from chain.statesync.snapshot import Manifest
from chain.statetree import StateTree
from chain.storage import schema
from chain.storage.kv import KV, WriteBatch

SNAPSHOT_BASE = schema.meta_key("snapshot_base")
"""Meta key: the height of the snapshot this store was installed from (absent: none)."""
REPLACED = (
    schema.STATE_PREFIX, schema.INDEX_PREFIX, schema.HEADER_PREFIX, schema.BODY_PREFIX,
    schema.BLOCK_HASH_PREFIX, schema.HEIGHT_BY_HASH_PREFIX, schema.CERTIFICATE_PREFIX, schema.TX_LOCATION_PREFIX,
)


def snapshot_base(kv: KV) -> int:
    """The height this store's state was installed at by state sync (0: it replayed every block)."""
    raw = kv.get(SNAPSHOT_BASE)
    return 0 if raw is None else schema.decode_height(raw)


def install_batch(
    kv: KV, genesis: GenesisDoc, manifest: Manifest, leaves: list[tuple[bytes, bytes]],
    entries: list[tuple[bytes, bytes]], history: list[bytes],
) -> WriteBatch:
    """The one batch that replaces the store's chain and state by the verified snapshot."""
    batch = WriteBatch()
    for prefix in REPLACED:
        for key, _value in kv.iterate(prefix):
            batch.delete(key)
    tree = StateTree(kv, prefix=schema.STATE_PREFIX)
    genesis_root = tree.update(None, 0, dict(genesis_state(genesis))).root
    first = genesis_header(genesis, genesis_root)
    batch.update(tree.install(manifest.height, leaves).batch)
    for key, value in entries:
        batch.put(schema.INDEX_PREFIX + key, value)
    header = manifest.header
    for height, block_hash in enumerate([*history, header.block_hash]):
        batch.put(schema.block_hash_key(height), block_hash)
    for stored in (first, header):
        height_key = schema.encode_height(stored.height)
        batch.put(schema.HEADER_PREFIX + height_key, stored.encode())
        batch.put(schema.height_by_hash_key(stored.block_hash), height_key)
    batch.put(schema.certificate_key(header.height), manifest.certificate.encode())
    batch.put(schema.HEAD, schema.encode_head(header.height, header.block_hash))
    batch.put(schema.meta_key("chain_id"), header.chain_id.encode())
    batch.put(SNAPSHOT_BASE, schema.encode_height(header.height))
    return batch


def install(
    kv: KV, genesis: GenesisDoc, manifest: Manifest, leaves: list[tuple[bytes, bytes]],
    entries: list[tuple[bytes, bytes]], history: list[bytes],
) -> None:
    """Write :func:`install_batch` as one synced batch."""
    kv.write(install_batch(kv, genesis, manifest, leaves, entries, history), sync=True)
