"""ops/: the Prometheus rules and the Grafana dashboard parse and are well-formed (ADR 0024); the JSON
log formatter writes one object per line. That every metric they name exists on a live node is
checked by tests/e2e/test_ops_blackbox.py."""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from chain.logfmt import JsonFormatter, message_fields
from chain.metrics import NodeMetrics

REPO = Path(__file__).resolve().parents[2]
ALERTS = REPO / "ops" / "prometheus" / "alerts.yml"
DASHBOARD = REPO / "ops" / "grafana" / "silkport.json"
WANTED_ALERTS = {"SilkportHeightStalled", "SilkportViewChangeStorm", "SilkportPeersBelowQuorum",
                 "SilkportMempoolFull", "SilkportDiskLow"}


def test_alert_rules_parse_and_cover_the_issue() -> None:
    document = yaml.safe_load(ALERTS.read_text())
    rules = [rule for group in document["groups"] for rule in group["rules"]]
    assert WANTED_ALERTS <= {rule["alert"] for rule in rules}
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"] and rule["expr"].count("(") == rule["expr"].count(")")


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (apt-get install prometheus)")
def test_promtool_accepts_the_rules() -> None:
    result = subprocess.run(["promtool", "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_is_grafana_json_with_a_query_per_panel() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "silkport-validators" and dashboard["panels"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert re.search(r"silkport_[a-z_]+", target["expr"]), target["expr"]


def test_view_changes_count_moves_forward_only_after_the_first_observation() -> None:
    metrics = NodeMetrics()

    class Replica:
        view = 5

    metrics.observe_replica(Replica())  # a restart in view 5: the baseline, not five view changes
    Replica.view = 7
    metrics.observe_replica(Replica())
    Replica.view = 7
    metrics.observe_replica(Replica())
    metrics.observe_status({"height": 1, "peers_connected": 2, "mempool_size": 0, "validators": 4}, {})
    metrics.observe_host(50_000, Path("/"))
    text = metrics.render().decode()
    assert "silkport_view_changes_total 2.0" in text and "silkport_quorum 3.0" in text
    assert "silkport_mempool_capacity_txs 50000.0" in text and "silkport_disk_free_bytes" in text


def test_json_log_lines() -> None:
    record = logging.LogRecord("chain.runtime", logging.WARNING, __file__, 1,
                               "event=block_rejected height=%d reason=%s", (7, "bad_state_root"), None)
    record.peer = 3
    line = JsonFormatter().format(record)
    assert "\n" not in line
    document = json.loads(line)
    assert set(document) == {"ts", "level", "logger", "msg", "fields"}
    assert document["level"] == "warning" and document["logger"] == "chain.runtime"
    assert document["fields"] == {"event": "block_rejected", "height": 7, "reason": "bad_state_root", "peer": 3}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", document["ts"])
    assert message_fields('a=1 b="x y" url=http://h:1/p?q=2 -5') == {"a": 1, "b": "x y", "url": "http://h:1/p?q=2"}
    try:
        raise ValueError("boom")
    except ValueError:
        failed = logging.LogRecord("x", logging.ERROR, __file__, 1, "event=step_failed", (), sys.exc_info())
    assert "ValueError: boom" in json.loads(JsonFormatter().format(failed))["exc"]


def test_node_run_refuses_an_unknown_log_format() -> None:
    result = subprocess.run([sys.executable, str(REPO / "node.py"), "run", "--home", "/nonexistent",
                             "--log-format", "xml"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--log-format" in result.stderr
