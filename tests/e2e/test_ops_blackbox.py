"""ops/ against a real node (ADR 0024): every ``silkport_*`` metric the Grafana dashboard and the
Prometheus rules use is exported by a live node's ``/metrics``, with sensible values; and
``node.py run --log-format json`` writes only JSON objects, one per line, with ts, level, logger, msg
and fields."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from devnet import layout

from .conftest import REPO, devnet_cli, start_devnet, teardown_devnet, wait_until

OPS_FILES = (REPO / "ops" / "grafana" / "silkport.json", REPO / "ops" / "prometheus" / "alerts.yml")
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})?\s+(\S+)$")


def scrape(api: str) -> tuple[set[str], dict[str, float]]:
    """Metric names (declared or sampled) and the value of every unlabelled sample."""
    with urllib.request.urlopen(f"{api}/metrics", timeout=10) as response:
        text = response.read().decode()
    names: set[str] = set()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            name = line.split()[2]
            names |= {name, f"{name}_total", f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        elif line and not line.startswith("#"):
            match = SAMPLE.match(line)
            assert match, f"not exposition format: {line!r}"
            names.add(match.group(1))
            if "{" not in line:
                values[match.group(1)] = float(match.group(2))
    return names, values


@pytest.mark.blackbox
def test_ops_files_use_live_metrics_and_json_logs(tmp_path: Path) -> None:
    directory = tmp_path / "net"
    devnet = start_devnet(directory, 1)
    process: subprocess.Popen[str] | None = None
    try:
        wait_until(lambda: (devnet.height(0) or 0) >= 2, 30, "two blocks")
        names, values = scrape(devnet.api(0))
        used = {name for path in OPS_FILES for name in re.findall(r"silkport_[a-z0-9_]+", path.read_text())}
        assert used - names == set(), f"metrics the ops files use but /metrics does not export: {used - names}"
        assert values["silkport_validators"] == 1 and values["silkport_quorum"] == 1
        assert values["silkport_disk_free_bytes"] > 0 and values["silkport_disk_total_bytes"] >= values[
            "silkport_disk_free_bytes"]
        assert values["silkport_mempool_capacity_txs"] > 0 and values["silkport_view_changes_total"] == 0

        assert devnet_cli("kill", "0", "--dir", directory).returncode == 0
        home = layout.load_manifest(directory).node(0).home
        process = subprocess.Popen([sys.executable, str(REPO / "node.py"), "run", "--home", home,
                                    "--log-format", "json"], cwd=REPO, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True)
        wait_until(lambda: devnet.status(0), 30, "the node run with --log-format json")
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
        lines = [line for line in err.splitlines() if line.strip()]
        assert lines, "no log lines"
        documents = [json.loads(line) for line in lines]  # every line is one JSON object
        for document in documents:
            assert {"ts", "level", "logger", "msg", "fields"} <= set(document)
        events = {document["fields"].get("event") for document in documents}
        assert "node_stopped" in events, events
    finally:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        teardown_devnet(directory)
