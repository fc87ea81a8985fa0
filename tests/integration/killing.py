"""kill -9 a child writer at a random moment after it has made progress (the crash tests' one loop body).

The child script prints ``ready …`` once it has opened its store, then one line per durable step; the
parent waits for the first step, sleeps a random while and SIGKILLs it. Returns the ``ready`` fields and
every step line the child printed before it died."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def kill_after_progress(script: str, args: list[str], rng: random.Random, max_delay_s: float) -> tuple[list[str], list[str]]:
    child = subprocess.Popen([sys.executable, "-c", script, *args], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdout is not None
    ready = child.stdout.readline().split()
    assert ready and ready[0] == "ready", f"child did not start: {ready} {child.stderr.read() if child.stderr else ''}"
    first = child.stdout.readline()  # at least one step per round, so every round makes progress
    time.sleep(rng.uniform(0.0, max_delay_s))
    child.send_signal(signal.SIGKILL)
    rest, _ = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL
    return ready, (first + rest).splitlines()
