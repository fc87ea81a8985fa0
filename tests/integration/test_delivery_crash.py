"""kill -9 while the valve records delivery coverage: the store reopens as is and knows every chunk sent (ADR 0028).

A child process plays the egress route on a LevelDB store: for transfer ``n = 1, 2, ...`` one response of
:data:`COUNT` chunks to one recipient key, claiming each chunk through :meth:`DeliveryTracker.ahead`
(window :data:`WINDOW`) and printing ``n i`` once chunk ``i`` may go to the socket, then ``n done`` after
:meth:`DeliveryTracker.finish` (a cut run: the record stays). The parent SIGKILLs it at seeded moments,
reopens the store (no repair) after every kill and checks that a tracker loads and that:

* every finished transfer's coverage is all of ``[0, COUNT)``;
* the last transfer's coverage is one prefix ``[0, k)`` with ``k`` past every chunk the child printed
  (persist before send: nothing the recipient could hold is forgotten) and at most one window beyond it.
"""

from __future__ import annotations

import random
from pathlib import Path

from killing import kill_after_progress

from chain.dataplane.delivery import DeliveryTracker
from chain.storage.deliveries import DeliveryStore
from chain.storage.leveldb import LevelDBKV

COUNT = 64
WINDOW = 8
KILLS = 5
SEED = 28
KEY, ROOT = b"\2" * 32, b"\1" * 32

SENDER = f"""
import sys, time
from chain.dataplane.delivery import DeliveryTracker
from chain.storage.deliveries import DeliveryStore
from chain.storage.leveldb import LevelDBKV

kv = LevelDBKV(sys.argv[1])
tracker = DeliveryTracker(store=DeliveryStore(kv))
n = int(sys.argv[2])
print("ready", len(tracker), flush=True)
while True:
    n += 1
    run = tracker.start("%064x" % n, {KEY!r}, {ROOT!r}, 0, {COUNT}, {COUNT} * 1024, {WINDOW})
    for i in range({COUNT}):
        tracker.ahead(run, i)
        print(n, i, flush=True)
        time.sleep(0.002)  # the socket write
    tracker.finish(run, {COUNT}, finished=False)
    print(n, "done", flush=True)
"""


def check_store(path: Path, lines: list[str]) -> int:
    """Check the reopened store against what the child printed; the last transfer number it started."""
    finished = {int(line.split()[0]) for line in lines if line.endswith("done")}
    sent = [tuple(map(int, line.split())) for line in lines if not line.endswith("done")]
    with LevelDBKV(path, create=False) as kv:
        tracker = DeliveryTracker(store=DeliveryStore(kv))
        for n in finished:
            assert tracker.coverage(f"{n:064x}", KEY, ROOT) == [(0, COUNT)], f"transfer {n} lost coverage"
        if not sent:
            return max(finished, default=0)
        last, index = sent[-1]
        if last not in finished:
            [(start, end)] = tracker.coverage(f"{last:064x}", KEY, ROOT)
            assert start == 0 and index + 1 <= end <= min(COUNT, index + 1 + WINDOW), (index, end)
        return last


def test_kill_nine_while_recording_coverage_keeps_a_prefix_of_the_claims(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    path = tmp_path / "db"
    LevelDBKV(path).close()
    started = 0
    for _ in range(KILLS):
        _, steps = kill_after_progress(SENDER, [str(path), str(started)], rng, 0.5)
        started = check_store(path, steps)
    assert started >= 2
