"""``python -m devnet join``: add a validator to a running devnet by governance and start its node (ADR 0027).

Steps, each with a clear refusal when it cannot be done: find a node that answers (else: the devnet is
down); load the genesis authority quorum from ``D/authorities/`` (else: not enough keys); write the new
key ``D/keys/node{N}.json`` (or use ``--key``); submit ``governance.add_validator`` signed by the quorum
and wait for it to commit (skipped with ``--no-register``: a key governance never added, which the node
must refuse); wait for the checkpoint that enacts it (``GET /v1/validators`` shows the key); allocate two
loopback ports; ``node.py init --join`` into ``D/node{N}``; add the node to ``devnet.json`` so ``status``,
``kill``, ``start`` and ``down`` see it; start it and wait until it answers. A node that exits during
start-up (e.g. refused: not a validator) is removed from the manifest again and its log tail shown.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from chain.client import Client
from chain.crypto import KeyPair, key_file_public_key, load_key_file, save_key_file
from chain.errors import ConfigError
from chain.genesis import load_genesis
from chain.types import make_tx
from devnet import layout, procs

ENACT_TIMEOUT_S = 60.0
COMMIT_TIMEOUT_S = 30.0


def _answering_api(manifest: layout.Manifest) -> str:
    for entry in manifest.nodes:
        if procs.is_running(entry) and procs.fetch_status(entry) is not None:
            return entry.api
    raise ConfigError(f"the devnet in {manifest.directory} is down (no node answers /v1/status): start it first "
                      f"(python -m devnet up --detach --dir {manifest.directory})")


def _authorities(directory: Path, genesis_path: str) -> list[KeyPair]:
    genesis = load_genesis(genesis_path)
    threshold, allowed = genesis.authorities.threshold, set(genesis.authorities.public_keys)
    keys = []
    for path in sorted((directory / "authorities").glob("authority*.json")):
        keypair = load_key_file(path)
        if keypair.public_hex in allowed:
            keys.append(keypair)
    if len(keys) < threshold:
        raise ConfigError(f"adding a validator needs {threshold} genesis authority keys; {directory / 'authorities'} "
                          f"holds {len(keys)}")
    return keys[:threshold]


def _validators(api: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{api}/v1/validators", timeout=5) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def _register(api: str, chain_id: str, authorities: list[KeyPair], public_key: bytes, name: str) -> int:
    call = {"public_key": public_key, "name": name, "organisation": layout.FOREIGN_ORGANISATION,
            "jurisdiction": layout.FOREIGN_JURISDICTION}
    client = Client(api)
    tx = make_tx(chain_id, "governance", "add_validator", call, authorities, int(time.time() * 1000))
    info = client.tx(client.submit(tx), wait=True, timeout=COMMIT_TIMEOUT_S)
    if info.get("status") != "committed":
        raise ConfigError(f"governance.add_validator was not committed within {COMMIT_TIMEOUT_S:.0f} s")
    if not info["receipt"]["ok"]:
        raise ConfigError(f"governance.add_validator refused: {info['receipt']['error_code']}")
    return int(info["height"])


def _wait_enacted(api: str, public_hex: str, timeout: float) -> int:
    """The key's index once a checkpoint has moved it into the current set."""
    deadline = time.monotonic() + timeout
    while True:
        answer = _validators(api)
        for validator in answer["validators"]:
            if validator["public_key"] == public_hex:
                return int(validator["index"])
        if time.monotonic() > deadline:
            raise ConfigError(f"the new validator was not in the set within {timeout:.0f} s (checkpoint "
                              f"{answer['next_checkpoint']} not reached: is the chain committing?)")
        time.sleep(0.3)


def cmd_join(args: argparse.Namespace) -> int:
    directory = Path(args.dir).resolve()
    manifest = layout.load_manifest(directory)
    api = _answering_api(manifest)
    index = max(entry.index for entry in manifest.nodes) + 1
    name = f"node{index}"
    key_file = Path(args.key).resolve() if args.key else directory / "keys" / f"{name}.json"
    if args.key:
        public_key = key_file_public_key(str(key_file))
    else:
        if key_file.exists():
            raise ConfigError(f"{key_file} exists: pass it with --key, or remove it")
        keypair = KeyPair.generate()
        save_key_file(key_file, keypair)
        public_key = keypair.public_key
    if not args.no_register:
        authorities = _authorities(directory, manifest.genesis)
        height = _register(api, manifest.chain_id, authorities, public_key, name)
        print(f"governance.add_validator committed at block {height}; waiting for the checkpoint that enacts it")
        index = _wait_enacted(api, public_key.hex(), args.enact_timeout)
    listen_port, p2p_port = layout.free_ports(2)
    entry = layout.NodeEntry(
        index=index, id=public_key.hex(), name=name, organisation=layout.FOREIGN_ORGANISATION,
        jurisdiction=layout.FOREIGN_JURISDICTION, listen=f"{layout.HOST}:{listen_port}",
        api=f"http://{layout.HOST}:{listen_port}", home=str(directory / name), key_file=str(key_file),
        p2p=f"{layout.HOST}:{p2p_port}",
    )
    if any(e.index == index for e in manifest.nodes):
        raise ConfigError(f"the devnet manifest already has a node {index}")
    joined = layout.Manifest(manifest.directory, manifest.chain_id, manifest.genesis, [*manifest.nodes, entry],
                             insecure_plaintext=manifest.insecure_plaintext, netns=manifest.netns)
    if joined.netns:
        raise ConfigError("join works on loopback devnets, not --netns ones (their namespaces are fixed at up)")
    command = [*layout.init_command(sys.executable, procs.node_script(), joined, entry, args.log_level), "--join"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ConfigError(f"node.py init --join failed: {done.stderr.strip() or done.stdout.strip()}")
    with layout.locked(directory):
        current = layout.load_manifest(directory)
        current.nodes.append(entry)
        current.save()
    manifest = layout.load_manifest(directory)
    procs.start_nodes(manifest, [index])
    try:
        procs.wait_ready(manifest, [index], timeout=args.ready_timeout)
    except ConfigError:
        with layout.locked(directory):
            current = layout.load_manifest(directory)
            current.nodes = [e for e in current.nodes if e.index != index]
            current.save()
        raise
    print(f"node {index} joined (pid {manifest.node(index).pid}, API {entry.api}); it state-syncs, then votes")
    return 0


def add_parser(command: Any) -> None:
    join = command("join", "add a validator by governance and start its node (state sync; ADR 0027)")
    join.add_argument("--key", default=None, help="the new validator's key file (default: generate keys/nodeN.json)")
    join.add_argument("--no-register", action="store_true",
                      help="skip governance.add_validator (to see a node with a key nobody added refused)")
    join.add_argument("--enact-timeout", type=float, default=ENACT_TIMEOUT_S,
                      help="seconds to wait for the checkpoint that enacts the change")
    join.add_argument("--ready-timeout", type=float, default=procs.READY_TIMEOUT_S)
    join.add_argument("--log-level", default="info")
    join.set_defaults(run=cmd_join)
