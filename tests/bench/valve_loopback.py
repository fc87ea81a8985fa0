"""Quick figure (not a test): MB/s of a dataset pulled through the valve on loopback.

Run from the repository root: ``.venv/bin/python tests/bench/valve_loopback.py [MiB]`` (default 100).
It reuses the egress test's LocalNode story (a PI asset released by customs), uploads the dataset
into a content store, pulls it with ``chain.dataplane.fetch``, and compares with a plain aiohttp
static download of the same file from the same event loop. Figures are noisy (2 shared cores).
"""

from __future__ import annotations

import asyncio
import os
import resource
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))

import test_api_egress as egress  # noqa: E402
from aiohttp import web  # noqa: E402

from chain.api import start  # noqa: E402
from chain.dataplane import chunks, fetch  # noqa: E402
from testkit import contracts as tk  # noqa: E402


def main(mebibytes: int) -> None:
    size = mebibytes << 20
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        source = work / "source.bin"
        with open(source, "wb") as f:
            for _ in range(mebibytes):
                f.write(os.urandom(1 << 20))
        egress.CHUNK = 1 << 20
        egress.DATA = source.read_bytes()
        egress.SUMMARY = chunks.summarize([egress.DATA], egress.CHUNK)
        valve = egress.Valve(work / "node")
        try:
            began = time.perf_counter()
            fetch.fetch(valve.client, valve.released, work / "fetched.bin", tk.FOREIGN)
            valve_s = time.perf_counter() - began
            assert (work / "fetched.bin").read_bytes() == egress.DATA
            app = web.Application()
            app.router.add_static("/files", str(work))
            runner = asyncio.run_coroutine_threadsafe(start(app, "127.0.0.1", 0), valve.loop).result(30)
            host, port = runner.addresses[0][:2]
            began = time.perf_counter()
            with urllib.request.urlopen(f"http://{host}:{port}/files/source.bin") as response, \
                    open(work / "plain.bin", "wb") as out:
                while piece := response.read(1 << 20):
                    out.write(piece)
            plain_s = time.perf_counter() - began
            asyncio.run_coroutine_threadsafe(runner.cleanup(), valve.loop).result(30)
        finally:
            valve.close()
    print(f"valve: {size / 1e6 / valve_s:.0f} MB/s; plain aiohttp: {size / 1e6 / plain_s:.0f} MB/s; "
          f"ratio {plain_s / valve_s:.2f}; peak RSS (server + client + the dataset in memory): "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
