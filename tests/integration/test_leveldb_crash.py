"""kill -9 during synced batch writes leaves every batch all-or-nothing and loses no acknowledged one.

A child process writes numbered batches through :class:`~chain.storage.leveldb.LevelDBKV`: batch ``n``
adds 50 keys ``b/<n>/<i>``, overwrites 50 shared slots with ``n`` and sets ``head = n``, then prints
``n`` once ``write`` has returned. The parent SIGKILLs it at seeded random moments, reopens the
store after every kill and checks (DESIGN.md §6):

* every batch ``1..head`` is complete and no key of a later batch exists (all-or-nothing);
* all 50 slots hold ``head`` (no mix of two batches);
* ``head`` is at least the last batch the child acknowledged (no acknowledged write lost).
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from chain.storage.leveldb import LevelDBKV

REPO = Path(__file__).resolve().parents[2]
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
        child = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        ready = child.stdout.readline().split()
        assert ready == ["ready", str(head)], (
            f"writer did not start: {ready} {child.stderr.read() if child.stderr else ''}"
        )
        first = child.stdout.readline()  # at least one batch per round, so every round makes progress
        assert first.strip().isdigit()
        time.sleep(rng.uniform(0.0, 0.4))
        child.send_signal(signal.SIGKILL)
        rest, _ = child.communicate(timeout=30)
        assert child.returncode == -signal.SIGKILL
        acknowledged = [int(line) for line in (first + rest).split()]
        head = check_store(path, acknowledged[-1])
    assert head >= KILLS
