"""Black box: ``python -m devnet valvebench`` on a small dataset keeps working (figures: docs/performance.md).

No speed is asserted (a benchmark measures speed; STYLE.md). What is checked is behaviour the figures rest
on: the CLI pull moves the whole dataset, a client killed mid-pull resumes losing at most one chunk, a
revocation committed mid-stream lets at most the chunk in flight out, and every figure is reported.
"""

from __future__ import annotations

import json

import pytest

from .conftest import Devnet, devnet_cli

pytestmark = [pytest.mark.blackbox, pytest.mark.timeout(180)]


def test_valvebench_reports_every_figure_on_a_small_dataset(devnet: Devnet) -> None:
    result = devnet_cli("valvebench", "--dir", devnet.directory, "--size-mib", "32", "--chunk-kib", "256",
                        "--seed", "5", "--json", timeout=170)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["size_bytes"] == 32 << 20 and report["chunk_size"] == 256 << 10
    throughput = report["throughput"]
    assert throughput["valve_mb_s"] > 0 and throughput["plain_mb_s"] > 0 and throughput["ratio"] > 0
    assert throughput["client_peak_rss_mb"] > 0 and throughput["node_peak_rss_mb"] > 0
    resume = report["resume"]
    assert resume["killed"] is True, resume  # the kill point is below the last chunk; the pull cannot outrun it
    assert resume["resumed_from_chunk"] >= 1 and resume["resent_bytes"] <= report["chunk_size"], resume
    revocation = report["revocation"]
    assert revocation["revoked_at_height"] is not None, revocation
    assert revocation["client_outcome"] == "transfer_revoked", revocation  # 32 MiB outlasts the socket buffers
    assert revocation["served_after_revocation"] <= 1, revocation
    assert revocation["chunks_sent"] < 128  # the stream stopped before the end of the dataset
    assert set(report["budgets"]) == {"valve_mb_s>=150", "ratio>=0.5", "peak_rss<=200MB", "resume_resent<=1_chunk",
                                      "revocation_after<=1_chunk"}
