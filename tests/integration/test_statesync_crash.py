"""kill -9 while a snapshot is installed leaves the old store or the installed one, never a mix (ADR 0021).

A node 3 blocks high (LevelDB, with state, index entries and votes) installs a verified snapshot of
height 32 in a child process; the parent SIGKILLs the child at seeded moments spread over the install
(measured by one uninterrupted run), reopens the store after every kill and checks: the ledger opens,
its head is either the old block 3 or the snapshot's block 32, the state at the head gives that
header's ``state_root``, the index holds exactly the entries of that store, and the votes survive.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from chain import codec
from chain.crypto import Signer
from chain.ledger import Ledger
from chain.localnode import LocalNode
from chain.statesync.install import snapshot_base
from chain.statesync.snapshot import CHUNKS, Chunk, Manifest, decode_history, history_pages
from chain.statesync.source import SnapshotSource
from chain.storage import schema
from chain.storage.blockstore import VoteLog
from chain.storage.leveldb import LevelDBKV

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from test_snapshot import VALIDATORS, build_chain, genesis  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
KILLS = 12 if os.environ.get("SILKPORT_LONG") == "1" else 3
SEED = 21

INSTALLER = """
import sys
sys.path.insert(0, sys.argv[3])
from chain import codec
from chain.statesync.snapshot import Manifest
from chain.statesync.install import install
from chain.storage.leveldb import LevelDBKV
from test_snapshot import genesis

manifest_bytes, leaves, entries, history = codec.decode(open(sys.argv[2], "rb").read(), max_size=1 << 30)
kv = LevelDBKV(sys.argv[1])
print("ready", flush=True)
install(kv, genesis(), Manifest.decode(manifest_bytes), [tuple(x) for x in leaves], [tuple(x) for x in entries],
        list(history))
print("installed", flush=True)
kv.close()
"""


def snapshot_file(directory: Path) -> tuple[Path, Manifest]:
    source_node = build_chain()
    source = SnapshotSource(source_node.ledger, Signer(VALIDATORS[1]), lambda: 1)
    height = source.latest_checkpoint(source_node.ledger.height)
    manifest = Manifest.decode(source.manifest(height))
    chunks = [Chunk.decode(source.chunk(height, k)) for k in range(CHUNKS)]
    history = [h for p in range(history_pages(height)) for h in decode_history(source.history(height, p), manifest, p)]
    path = directory / "snapshot.bin"
    path.write_bytes(codec.encode((manifest.encode(), tuple(leaf for c in chunks for leaf in c.leaves),
                                   tuple(e for c in chunks for e in c.entries), tuple(history))))
    return path, manifest


def old_store(path: Path) -> tuple[int, bytes]:
    kv = LevelDBKV(path)
    node = LocalNode(genesis(), VALIDATORS, kv=kv)
    for _ in range(3):
        node.produce_block()
    VoteLog(kv).save(b"vote-1", b"prepare")
    head = (node.ledger.height, node.ledger.head_hash)
    kv.close()
    return head


def run_installer(db: Path, snapshot: Path, kill_after_s: float | None) -> bool:
    """Run the installer; SIGKILL it ``kill_after_s`` after it is ready. True if it finished."""
    child = subprocess.Popen(
        [sys.executable, "-c", INSTALLER, str(db), str(snapshot), str(REPO / "tests" / "unit")],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    if kill_after_s is not None:
        time.sleep(kill_after_s)
        child.send_signal(signal.SIGKILL)
    out = child.stdout.read()
    child.wait(timeout=60)
    return "installed" in out


def check_store(db: Path, old_head: tuple[int, bytes], manifest: Manifest) -> int:
    kv = LevelDBKV(db, create=False)
    try:
        ledger = Ledger(kv, genesis())
        head = (ledger.height, ledger.head_hash)
        assert head in (old_head, (manifest.height, manifest.header.block_hash)), f"head {head} is neither store"
        assert ledger.tree.root_hash(ledger.height) == ledger.head_header.state_root
        entries = sum(1 for _ in kv.iterate(schema.INDEX_PREFIX))
        if ledger.height == manifest.height:
            assert snapshot_base(kv) == manifest.height and entries == 20 * manifest.height
        else:
            assert snapshot_base(kv) == 0 and entries == 20 * old_head[0]
        assert VoteLog(kv).load_all() == [(b"vote-1", b"prepare")]
        return ledger.height
    finally:
        kv.close()


def test_kill_nine_during_install_leaves_the_old_store_or_the_new_one(tmp_path: Path) -> None:
    snapshot, manifest = snapshot_file(tmp_path)
    template = tmp_path / "template"
    old_head = old_store(template)
    timing = tmp_path / "timing"
    shutil.copytree(template, timing)
    started = time.monotonic()
    assert run_installer(timing, snapshot, None)
    duration = time.monotonic() - started
    assert check_store(timing, old_head, manifest) == manifest.height
    rng = random.Random(SEED)
    outcomes = []
    for kill in range(KILLS):
        db = tmp_path / f"db{kill}"
        shutil.copytree(template, db)
        run_installer(db, snapshot, rng.uniform(0, duration))
        outcomes.append(check_store(db, old_head, manifest))
    assert set(outcomes) <= {old_head[0], manifest.height}
