"""kill -9 during synced batch writes leaves every batch all-or-nothing and loses no acknowledged one.

A child process writes numbered batches through :class:`~chain.storage.leveldb.LevelDBKV`: batch ``n``
adds 50 keys ``b/<n>/<i>``, overwrites 50 shared slots with ``n`` and sets ``head = n``, then prints
``n`` once ``write`` has returned. The parent SIGKILLs it at seeded random moments, reopens the
store after every kill and checks (DESIGN.md §6):

* every batch ``1..head`` is complete and no key of a later batch exists (all-or-nothing);
* all 50 slots hold ``head`` (no mix of two batches);
* ``head`` is at least the last batch the child acknowledged (no acknowledged write lost).

The second test does the same to :meth:`BlockStore.commit` (block + state in one synced batch): 12 kills,
100 with ``SILKPORT_LONG=1``; after each, blocks ``0..head`` are hash-linked and carry their state.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from killing import kill_after_progress

from chain.storage.leveldb import LevelDBKV

KEYS_PER_BATCH = 50
VALUE_SIZE = 1024  # 50 KiB+ per batch: each batch spans several 32 KiB LevelDB log blocks
KILLS = 5
SEED = 6962

WRITER = f"""
import sys
from chain.storage.kv import WriteBatch
from chain.storage.leveldb import LevelDBKV

kv = LevelDBKV(sys.argv[1])
head = kv.get(b"head")
n = 0 if head is None else int(head)
print("ready", n, flush=True)
while True:
    n += 1
    tag = b"%010d" % n
    batch = WriteBatch()
    for i in range({KEYS_PER_BATCH}):
        batch.put(b"b/" + tag + b"/%03d" % i, tag * ({VALUE_SIZE} // len(tag)))
        batch.put(b"slot/%03d" % i, tag)
    batch.put(b"head", b"%d" % n)
    kv.write(batch, sync=True)
    print(n, flush=True)
"""


def check_store(path: Path, acknowledged: int) -> int:
    with LevelDBKV(path, create=False) as kv:
        raw_head = kv.get(b"head")
        head = 0 if raw_head is None else int(raw_head)
        assert head >= acknowledged, f"batch {acknowledged} was acknowledged but head is {head}"
        assert head <= acknowledged + 1, f"head {head} is beyond the one batch in flight after {acknowledged}"
        batches: dict[int, int] = {}
        for key, value in kv.iterate(b"b/"):
            number = int(key[2:12])
            assert value == key[2:12] * (VALUE_SIZE // 10)
            batches[number] = batches.get(number, 0) + 1
        assert sorted(batches) == list(range(1, head + 1)), "a batch is missing or a later batch leaked"
        torn = {n: c for n, c in batches.items() if c != KEYS_PER_BATCH}
        assert not torn, f"torn batches (batch: keys found): {torn}"
        slots = [value for _, value in kv.iterate(b"slot/")]
        if head:
            assert slots == [b"%010d" % head] * KEYS_PER_BATCH, "slots mix values of different batches"
        else:
            assert slots == []
    return head


def test_kill_nine_leaves_whole_batches(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    path = tmp_path / "db"
    LevelDBKV(path).close()
    head = 0
    for _ in range(KILLS):
        ready, steps = kill_after_progress(WRITER, [str(path)], rng, 0.4)
        assert ready == ["ready", str(head)] and steps[0].strip().isdigit(), (ready, steps[:1])
        acknowledged = [int(line) for line in steps]
        head = check_store(path, acknowledged[-1])
    assert head >= KILLS


# --- kill -9 in the middle of BlockStore.commit (the node's commit path, DESIGN.md §6) ----------------

LONG = os.environ.get("SILKPORT_LONG") == "1"
COMMIT_KILLS = 100 if LONG else 12
STATE_KEYS_PER_BLOCK = 40

COMMITTER = f"""
import sys
from chain.storage.blockstore import BlockStore
from chain.storage.kv import WriteBatch
from chain.storage.leveldb import LevelDBKV
from chain.types import ZERO_HASH, Block, Header

kv = LevelDBKV(sys.argv[1])
store = BlockStore(kv)
head = store.head()
print("ready", -1 if head is None else head[0], flush=True)
while True:
    head = store.head()
    height, prev = (0, ZERO_HASH) if head is None else (head[0] + 1, head[1])
    root = height.to_bytes(32, "big")
    header = Header("crash", height, 0, height, prev, root, root, ZERO_HASH, ZERO_HASH, 0, 0)
    state = WriteBatch()
    for i in range({STATE_KEYS_PER_BLOCK}):
        state.put(b"T/slot/%03d" % i, b"%010d" % height * 100)
    state.put(b"T/block/%010d" % height, header.block_hash)
    store.commit(Block(header, ()), None, [], state)
    print(height, flush=True)
"""


def check_block_store(path: Path, acknowledged: int) -> int:
    """Head >= the last acknowledged commit, blocks 0..head hash-linked, state written with its block only."""
    from chain.storage.blockstore import BlockStore

    with LevelDBKV(path, create=False) as kv:
        store = BlockStore(kv)
        head = store.head()
        assert head is not None, "the store lost its genesis block"
        height = head[0]
        assert acknowledged <= height <= acknowledged + 1, f"acknowledged {acknowledged}, head {height}"
        previous = None
        for h in range(height + 1):
            header = store.header(h)
            assert header is not None, f"block {h} missing below head {height}"
            if previous is not None:
                assert header.prev_hash == previous, f"block {h} does not link to block {h - 1}"
            assert kv.get(b"T/block/%010d" % h) == header.block_hash, f"state of block {h} missing"
            previous = header.block_hash
        assert kv.get(b"T/block/%010d" % (height + 1)) is None, "state of an uncommitted block leaked"
        slots = {value for _, value in kv.iterate(b"T/slot/")}
        assert slots == {b"%010d" % height * 100}, "state slots mix two blocks"
    return height


def test_kill_nine_during_block_commits(tmp_path: Path) -> None:
    rng = random.Random(SEED + 1)
    path = tmp_path / "blocks"
    head = -1
    for _ in range(COMMIT_KILLS):
        ready, steps = kill_after_progress(COMMITTER, [str(path)], rng, 0.2)
        assert ready == ["ready", str(head)] and steps[0].strip().isdigit(), (ready, steps[:1])
        acknowledged = [int(line) for line in steps]
        head = check_block_store(path, acknowledged[-1])
    assert head >= COMMIT_KILLS
