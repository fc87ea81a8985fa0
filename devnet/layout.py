"""A devnet on disk: keys, genesis and the manifest ``devnet.json`` (DESIGN.md §10).

Layout of a devnet directory ``D`` (default ``./.devnet``)::

    D/genesis.json              the genesis document (silkport-genesis/1), the one file auditors trust
    D/keys/node{i}.json         validator i's key (mode 0600); ``node.py init`` copies it into the home
    D/authorities/authority{k}.json   the governance authority keys (threshold 2 of 3)
    D/node{i}/                  node i's home (config.json, data/, node.log)
    D/devnet.json               the manifest: each node's index, id, pid, API URL, peer address and home

By default the validators are the Daxing port's (CN) plus one foreign partner (DE): with ``n``
validators, ``n - 1`` are run by Daxing organisations and the last by the foreign partner
(a one-node devnet is Daxing's alone). Each node has two ports: the REST API and the peer port
(TLS 1.3 links, ADR 0010; plaintext only when created with ``insecure_plaintext``). Nothing here
starts a process (see :mod:`devnet.procs`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chain.crypto import KeyPair, save_key_file
from chain.errors import ConfigError
from chain.genesis import GENESIS_FORMAT, default_policy, parse_genesis
from devnet import netns
from devnet.netns import Plan as NetnsPlan

DEFAULT_DIR = Path(".devnet")
DEFAULT_CHAIN_ID = "silkport-devnet"
MANIFEST = "devnet.json"
MANIFEST_FORMAT = "silkport-devnet/1"
GENESIS_FILE = "genesis.json"
HOST = "127.0.0.1"
AUTHORITY_COUNT = 3
AUTHORITY_THRESHOLD = 2

DAXING_ORGANISATIONS = ("daxing-port-authority", "daxing-data-exchange", "daxing-customs-dc")
DAXING_JURISDICTION = "CN"
FOREIGN_ORGANISATION = "eu-logistics-partner"
FOREIGN_JURISDICTION = "DE"


@dataclass(frozen=True, slots=True)
class ValidatorSeat:
    """Who runs validator ``index``: a display name, an organisation and its ISO 3166 jurisdiction."""

    index: int
    name: str
    organisation: str
    jurisdiction: str


def default_seats(nodes: int) -> list[ValidatorSeat]:
    """``nodes - 1`` Daxing validators (organisations in turn) and one foreign validator last."""
    if nodes < 1:
        raise ValueError("a devnet has at least one node")
    seats = []
    for index in range(nodes):
        if index == nodes - 1 and nodes > 1:
            organisation, jurisdiction = FOREIGN_ORGANISATION, FOREIGN_JURISDICTION
        else:
            organisation, jurisdiction = (
                DAXING_ORGANISATIONS[index % len(DAXING_ORGANISATIONS)],
                DAXING_JURISDICTION,
            )
        seats.append(ValidatorSeat(index, f"node{index}", organisation, jurisdiction))
    return seats


def free_ports(count: int, host: str = HOST) -> list[int]:
    """``count`` distinct loopback ports the kernel reports free (all bound at once, then released)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def make_genesis(
    validators: Sequence[tuple[ValidatorSeat, bytes]],
    authority_keys: Sequence[bytes],
    *,
    chain_id: str = DEFAULT_CHAIN_ID,
    threshold: int = AUTHORITY_THRESHOLD,
    genesis_time_ms: int | None = None,
    organisations: Sequence[dict[str, Any]] = (),
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``silkport-genesis/1`` document, checked with :func:`chain.genesis.parse_genesis`; ``params``
    overrides genesis parameters (``{"test_mode": True}``: a test chain, ADR 0012)."""
    document: dict[str, Any] = {
        "format": GENESIS_FORMAT,
        "chain_id": chain_id,
        "genesis_time_ms": int(time.time() * 1000) if genesis_time_ms is None else genesis_time_ms,
        "validators": [
            {
                "public_key": public_key.hex(),
                "name": seat.name,
                "organisation": seat.organisation,
                "jurisdiction": seat.jurisdiction,
            }
            for seat, public_key in validators
        ],
        "authorities": {"public_keys": [key.hex() for key in authority_keys], "threshold": threshold},
        "organisations": list(organisations),
        "roles": [],
        "policy": default_policy(),
    }
    if params:
        document["params"] = dict(params)
    parse_genesis(document)  # fail here, not in four node processes
    return document


# --- the manifest ------------------------------------------------------------------------------


@dataclass(slots=True)
class NodeEntry:
    """One node of the devnet as ``devnet.json`` records it (paths absolute)."""

    index: int
    id: str
    name: str
    organisation: str
    jurisdiction: str
    listen: str
    api: str
    home: str
    key_file: str
    p2p: str = ""
    """HOST:PORT of the node's peer port."""
    pid: int | None = None
    netns: str = ""
    """The network namespace the node runs in (``--netns`` devnets, ADR 0017); empty: the host's."""

    @property
    def log_file(self) -> Path:
        return Path(self.home) / "node.log"


@dataclass(slots=True)
class Manifest:
    """``D/devnet.json``: the chain id, the genesis path and every node."""

    directory: Path
    chain_id: str
    genesis: str
    nodes: list[NodeEntry] = field(default_factory=list)
    insecure_plaintext: bool = False
    """True only for a devnet created with ``--insecure-plaintext`` (peer links without TLS)."""
    netns: dict[str, Any] | None = None
    """The :class:`devnet.netns.Plan` of a ``--netns`` devnet (ADR 0017); None on loopback."""

    @property
    def netns_plan(self) -> NetnsPlan | None:
        return NetnsPlan.from_json(self.netns) if self.netns else None

    def node(self, index: int) -> NodeEntry:
        for entry in self.nodes:
            if entry.index == index:
                return entry
        raise KeyError(f"the devnet in {self.directory} has no node {index} (nodes 0..{len(self.nodes) - 1})")

    def to_json(self) -> dict[str, Any]:
        return {
            "format": MANIFEST_FORMAT,
            "chain_id": self.chain_id,
            "genesis": self.genesis,
            "insecure_plaintext": self.insecure_plaintext,
            "nodes": [asdict(entry) for entry in self.nodes],
            **({"netns": self.netns} if self.netns else {}),
        }

    def save(self) -> None:
        """Write atomically (temp file + rename), so a reader never sees half a manifest."""
        path = self.directory / MANIFEST
        temp = path.with_suffix(".json.tmp")
        temp.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        os.replace(temp, path)


def has_devnet(directory: Path) -> bool:
    return (directory / MANIFEST).is_file()


def load_manifest(directory: Path) -> Manifest:
    path = directory / MANIFEST
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"no devnet in {directory}: cannot read {path} ({exc})") from exc
    if document.get("format") != MANIFEST_FORMAT:
        raise ConfigError(f"{path} is not a {MANIFEST_FORMAT} manifest")
    nodes = [NodeEntry(**entry) for entry in document["nodes"]]
    return Manifest(
        directory.resolve(),
        document["chain_id"],
        document["genesis"],
        nodes,
        insecure_plaintext=bool(document.get("insecure_plaintext", False)),
        netns=document.get("netns"),
    )


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold ``D/.lock`` for a read-modify-write of the manifest (``kill`` and ``start`` may race)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- creating a devnet ---------------------------------------------------------------------------


def create_layout(
    directory: Path,
    nodes: int = 4,
    *,
    base_port: int | None = None,
    chain_id: str = DEFAULT_CHAIN_ID,
    seats: Sequence[ValidatorSeat] | None = None,
    params: dict[str, Any] | None = None,
    insecure_plaintext: bool = False,
    netns_plan: NetnsPlan | None = None,
) -> Manifest:
    """Write keys, authorities and genesis into a new ``directory``; return the (unsaved) manifest.

    API ports are ``base_port + i`` and peer ports ``base_port + n + i`` when given, otherwise free
    loopback ports found by binding port 0. With ``netns_plan`` every node gets its namespace's
    addresses instead (API on all its addresses, peer port on its data address; ADR 0017).
    Node homes are not created here: ``node.py init`` owns their contents.
    """
    directory = directory.resolve()
    if directory.exists() and any(directory.iterdir()):
        raise FileExistsError(f"{directory} is not empty")
    seats = list(seats) if seats is not None else default_seats(nodes)
    count = len(seats)
    all_ports = [base_port + i for i in range(2 * count)] if base_port is not None else free_ports(2 * count)
    if len(set(all_ports)) != len(all_ports):
        raise ValueError("ports must be distinct")
    ports, p2p_ports = all_ports[:count], all_ports[count:]

    (directory / "keys").mkdir(parents=True, exist_ok=True)
    (directory / "authorities").mkdir(exist_ok=True)
    os.chmod(directory / "keys", 0o700)
    os.chmod(directory / "authorities", 0o700)

    validators: list[tuple[ValidatorSeat, bytes]] = []
    entries: list[NodeEntry] = []
    for seat, port, p2p_port in zip(seats, ports, p2p_ports, strict=True):
        keypair = KeyPair.generate()
        key_file = directory / "keys" / f"node{seat.index}.json"
        save_key_file(key_file, keypair)
        validators.append((seat, keypair.public_key))
        listen, api, p2p, namespace = f"{HOST}:{port}", f"http://{HOST}:{port}", f"{HOST}:{p2p_port}", ""
        if netns_plan is not None:
            listen, api = f"0.0.0.0:{netns.API_PORT}", netns_plan.api_url(seat.index)
            p2p, namespace = netns_plan.p2p_listen(seat.index), netns_plan.namespace(seat.index)
        entries.append(
            NodeEntry(
                index=seat.index,
                id=keypair.public_hex,
                name=seat.name,
                organisation=seat.organisation,
                jurisdiction=seat.jurisdiction,
                listen=listen,
                api=api,
                home=str(directory / f"node{seat.index}"),
                key_file=str(key_file),
                p2p=p2p,
                netns=namespace,
            )
        )

    authority_keys = []
    for k in range(AUTHORITY_COUNT):
        keypair = KeyPair.generate()
        save_key_file(directory / "authorities" / f"authority{k}.json", keypair)
        authority_keys.append(keypair.public_key)

    genesis = make_genesis(validators, authority_keys, chain_id=chain_id, params=params)
    genesis_path = directory / GENESIS_FILE
    genesis_path.write_text(json.dumps(genesis, indent=2, sort_keys=True) + "\n")
    return Manifest(
        directory,
        chain_id,
        str(genesis_path),
        entries,
        insecure_plaintext=insecure_plaintext,
        netns=netns_plan.to_json() if netns_plan is not None else None,
    )


def init_command(
    python: str, node_script: str, manifest: Manifest, entry: NodeEntry, log_level: str
) -> list[str]:
    """The ``node.py init`` command line for ``entry``: its key, index, addresses and every other peer."""
    command = [
        python,
        node_script,
        "init",
        "--home",
        entry.home,
        "--genesis",
        manifest.genesis,
        "--key",
        entry.key_file,
        "--index",
        str(entry.index),
        "--listen",
        entry.listen,
        "--p2p-listen",
        entry.p2p,
    ]
    plan = manifest.netns_plan
    for peer in manifest.nodes:
        if peer.index != entry.index:
            api, p2p = plan.peer_endpoints(entry.index, peer.index) if plan else (peer.api, peer.p2p)
            command += ["--peer", f"{peer.index}={api},{p2p}"]
    if manifest.insecure_plaintext:
        command.append("--insecure-plaintext")
    return command + ["--log-level", log_level]
