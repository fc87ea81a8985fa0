"""devnet.layout: keys, genesis and manifest generation (no processes, no network)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from chain.crypto import load_key_file
from chain.genesis import compute_genesis, default_policy, load_genesis, parse_genesis
from devnet import layout


@pytest.fixture
def manifest(tmp_path: Path) -> layout.Manifest:
    created = layout.create_layout(tmp_path / "devnet", 4)
    created.save()
    return created


def test_genesis_parses_with_three_daxing_and_one_foreign_validator(manifest: layout.Manifest) -> None:
    document = json.loads(Path(manifest.genesis).read_text())
    genesis = parse_genesis(document)
    assert genesis.chain_id == "silkport-devnet" == manifest.chain_id
    assert [v.jurisdiction for v in genesis.validators] == ["CN", "CN", "CN", "DE"]
    assert [v.organisation for v in genesis.validators] == [
        "daxing-port-authority",
        "daxing-data-exchange",
        "daxing-customs-dc",
        "eu-logistics-partner",
    ]
    assert genesis.policy == default_policy()
    assert Path(manifest.genesis) == manifest.directory / "genesis.json"
    compute_genesis(genesis)  # the genesis block can be derived from the file alone


def test_authorities_are_a_separate_two_of_three_set(manifest: layout.Manifest) -> None:
    genesis = load_genesis(manifest.genesis)
    assert genesis.authorities.threshold == 2
    authority_files = sorted((manifest.directory / "authorities").glob("*.json"))
    assert [load_key_file(p).public_hex for p in authority_files] == genesis.authorities.public_keys
    assert not set(genesis.authorities.public_keys) & {v.public_key for v in genesis.validators}


def test_key_files_are_private_and_match_the_genesis(manifest: layout.Manifest) -> None:
    genesis = load_genesis(manifest.genesis)
    key_files = [Path(e.key_file) for e in manifest.nodes]
    key_files += list((manifest.directory / "authorities").glob("*.json"))
    for path in key_files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for entry, validator in zip(manifest.nodes, genesis.validators, strict=True):
        assert load_key_file(entry.key_file).public_hex == entry.id == validator.public_key


def test_ports_are_distinct_loopback_addresses(manifest: layout.Manifest) -> None:
    listens = [e.listen for e in manifest.nodes]
    assert len(set(listens)) == 4
    assert all(listen.startswith("127.0.0.1:") for listen in listens)
    assert [e.api for e in manifest.nodes] == [f"http://{listen}" for listen in listens]


def test_base_port_gives_consecutive_ports(tmp_path: Path) -> None:
    created = layout.create_layout(tmp_path / "d", 4, base_port=27000)
    assert [e.listen for e in created.nodes] == [f"127.0.0.1:{27000 + i}" for i in range(4)]
    assert [e.p2p for e in created.nodes] == [f"127.0.0.1:{27004 + i}" for i in range(4)]


@pytest.mark.parametrize("nodes", [1, 2, 7])
def test_other_sizes_keep_one_foreign_validator(tmp_path: Path, nodes: int) -> None:
    created = layout.create_layout(tmp_path / "d", nodes)
    jurisdictions = [v.jurisdiction for v in load_genesis(created.genesis).validators]
    expected = ["CN"] * (nodes - 1) + ["DE"] if nodes > 1 else ["CN"]  # a one-node devnet is Daxing's
    assert jurisdictions == expected


def test_manifest_round_trips(manifest: layout.Manifest) -> None:
    loaded = layout.load_manifest(manifest.directory)
    assert loaded.to_json() == manifest.to_json()
    for entry in loaded.nodes:
        assert Path(entry.home) == manifest.directory / f"node{entry.index}"
        assert entry.pid is None
    with pytest.raises(KeyError):
        loaded.node(4)


def test_refuses_a_non_empty_directory(manifest: layout.Manifest) -> None:
    with pytest.raises(FileExistsError):
        layout.create_layout(manifest.directory, 4)


def test_init_command_names_every_other_peer(manifest: layout.Manifest) -> None:
    entry = manifest.node(1)
    command = layout.init_command("python", "node.py", manifest, entry, "info")
    assert command[:3] == ["python", "node.py", "init"]
    assert command[command.index("--index") + 1] == "1"
    assert command[command.index("--listen") + 1] == entry.listen
    assert command[command.index("--genesis") + 1] == manifest.genesis
    assert command[command.index("--p2p-listen") + 1] == entry.p2p
    peers = [command[i + 1] for i, arg in enumerate(command) if arg == "--peer"]
    assert peers == [f"{e.index}={e.api},{e.p2p}" for e in manifest.nodes if e.index != 1]
    assert "--insecure-plaintext" not in command  # TLS is the default (ADR 0010)


def test_insecure_plaintext_is_recorded_and_passed_on(tmp_path: Path) -> None:
    created = layout.create_layout(tmp_path / "d", 2, insecure_plaintext=True)
    created.save()
    loaded = layout.load_manifest(created.directory)
    assert loaded.insecure_plaintext
    command = layout.init_command("python", "node.py", loaded, loaded.node(0), "info")
    assert "--insecure-plaintext" in command


def test_ports_are_distinct_across_api_and_peer(manifest: layout.Manifest) -> None:
    ports = [e.listen for e in manifest.nodes] + [e.p2p for e in manifest.nodes]
    assert len(set(ports)) == len(ports) and all(p.startswith("127.0.0.1:") for p in ports)
