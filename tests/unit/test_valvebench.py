"""The valvebench's log reading agrees with what the egress route writes (devnet/valvebench.py, routes_data)."""

from __future__ import annotations

from pathlib import Path

from chain.api.routes_data import _StreamLog
from devnet import valvebench


def test_stream_end_lines_round_trip(tmp_path: Path) -> None:
    stopped = _StreamLog("ab" * 32, 3, 9)
    for height in (10, 10, 11):
        stopped.served(height)
    untouched = _StreamLog("cd" * 32, 0, 0)
    log = tmp_path / "node.log"
    log.write_text(f"junk\n2026 INFO {stopped.line(False)}\n{untouched.line(True)}\n{stopped.line(True)}\n")
    ends = valvebench.stream_ends(log, 0, "ab" * 32)
    assert ends == [{"first": 3, "last": 9, "sent": 3, "complete": False, "heights": {10: 2, 11: 1}},
                    {"first": 3, "last": 9, "sent": 3, "complete": True, "heights": {10: 2, 11: 1}}]
    assert valvebench.stream_ends(log, 0, "cd" * 32)[0]["heights"] == {}
    assert valvebench.stream_ends(log, log.stat().st_size, "ab" * 32) == []  # only lines after the offset


def test_budgets_name_what_was_not_measured() -> None:
    report = {"throughput": {"valve_mb_s": 160.0, "ratio": 0.4, "client_peak_rss_mb": 60.0, "node_peak_rss_mb": 250.0},
              "resume": {"resent_chunks": None}, "revocation": {"served_after_revocation": 1}}
    assert valvebench.budgets(report) == {"valve_mb_s>=150": True, "ratio>=0.5": False, "peak_rss<=200MB": False,
                                          "resume_resent<=1_chunk": None, "revocation_after<=1_chunk": True}
