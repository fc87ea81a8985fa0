"""``make devnet`` (a foreground ``devnet up``) off a terminal and next to a detached devnet (issue 16,
part 3): plain progress lines instead of the live table when stdout is not a TTY, and SIGTERM/Ctrl-C stop
only the nodes that command started — a detached devnet it found running keeps running. Also the cast:
``devnet up`` enrols it once (a second ``up`` submits nothing) and ``devnet keys --json`` lists it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from devnet import layout, procs

from .conftest import REPO, Devnet, devnet_cli, http_json, start_devnet, teardown_devnet

BOX = set("┏┓┗┛┃━│─┡┩")
PROGRESS = "nodes up · committed tx/s"


def foreground_until_progress(directory: Path, *options: str) -> tuple[int, str]:
    """Run ``devnet up`` in the foreground with stdout a pipe; SIGTERM it after its first progress line."""
    process = subprocess.Popen([sys.executable, "-m", "devnet", "up", "--dir", str(directory), *options],
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:  # a progress line comes every few seconds; the harness timeout bounds it
            lines.append(line)
            if PROGRESS in line:
                break
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, "".join(lines) + rest


@pytest.mark.blackbox
def test_foreground_up_leaves_a_detached_devnet_running(tmp_path: Path) -> None:
    directory = tmp_path / "net"
    devnet = start_devnet(directory)  # detached, as another terminal would have it
    try:
        pids = [entry.pid for entry in devnet.reload().nodes]
        code, out = foreground_until_progress(directory, "--no-cast")
        assert code == 0, out
        assert "all nodes already running" in out and "keeps running" in out
        assert not BOX & set(out), "the live table was drawn into a pipe"
        manifest = layout.load_manifest(directory)
        assert [entry.pid for entry in manifest.nodes] == pids
        assert all(procs.is_running(entry) for entry in manifest.nodes)
        assert all(devnet.status(i) is not None for i in range(4))
    finally:
        teardown_devnet(directory)


@pytest.mark.blackbox
def test_foreground_up_stops_the_devnet_it_started(tmp_path: Path) -> None:
    directory = tmp_path / "net"
    try:
        code, out = foreground_until_progress(directory, "--nodes", "1", "--no-cast")
        assert code == 0, out
        assert "created a 1-node devnet" in out and "stopping all nodes" in out
        assert not BOX & set(out)
        manifest = layout.load_manifest(directory)
        assert all(entry.pid is None for entry in manifest.nodes)
    finally:
        teardown_devnet(directory)


@pytest.mark.blackbox
def test_cast_is_enrolled_once_and_listed(tmp_path: Path) -> None:
    directory = tmp_path / "net"
    try:
        first = devnet_cli("up", "--dir", directory, "--nodes", "1", "--detach")
        assert first.returncode == 0, first.stderr
        assert "cast enrolled in 16 governance transactions" in first.stdout
        devnet = Devnet(directory)
        height = devnet.height(0)
        again = devnet_cli("up", "--dir", directory, "--detach")
        assert again.returncode == 0, again.stderr
        assert "cast already enrolled" in again.stdout
        keys = devnet_cli("keys", "--dir", directory, "--json")
        assert keys.returncode == 0, keys.stderr
        rows = json.loads(keys.stdout)["keys"]
        roles = {row["role"]: row for row in rows}
        assert set(roles) == {"validator", "authority", "registrar", "owner", "appraiser", "bank", "customs",
                              "recipient"}
        for name in ("registrar", "owner", "appraiser", "bank", "customs", "recipient"):
            assert Path(roles[name]["file"]) == directory.resolve() / "cast" / f"{name}.json"
            assert Path(roles[name]["file"]).stat().st_mode & 0o077 == 0
        code, org = http_json(f"{devnet.api(0)}/v1/organisations/daxing-data-exchange")
        assert code == 200 and org["type"] == "EXCHANGE"
        code, page = http_json(f"{devnet.api(0)}/v1/organisations")
        assert code == 200 and page["total"] == 6  # the second `up` registered nothing twice
        assert (devnet.height(0) or 0) >= (height or 0)
    finally:
        teardown_devnet(directory)


def test_keys_on_a_directory_without_a_devnet_fails_cleanly(tmp_path: Path) -> None:
    result = devnet_cli("keys", "--dir", tmp_path / "none")
    assert result.returncode == 1
    assert "no devnet in" in result.stderr and "Traceback" not in result.stderr
