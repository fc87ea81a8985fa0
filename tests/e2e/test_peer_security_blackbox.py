"""Attacks on the peer port against real node processes (issue 12 part 2, ADR 0010).

A TLS-terminating proxy, a byte relay, a replayed handshake and a pre-authentication flood must all
fail to be accepted as a validator, be counted in ``/metrics``, and leave consensus committing.
Plaintext and TLS nodes never link; a default devnet speaks TLS 1.3 on its peer ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import os
import socket
import ssl
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from chain.crypto import KeyPair, load_key_file
from chain.net.certs import VALIDATOR_EXTENSION_OID, build_certificate, make_contexts, make_identity
from chain.net.wire import KEEPALIVE
from devnet import layout, procs

from .conftest import Devnet, devnet_cli, running_devnet, teardown_devnet, wait_until

pytestmark = [pytest.mark.blackbox, pytest.mark.timeout(240)]

RSS_LIMIT_KB = 200 * 1024


def split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def counters(devnet: Devnet, index: int) -> dict[str, float]:
    """``silkport_net{counter=...}`` of node ``index`` (empty if it does not answer)."""
    try:
        with urllib.request.urlopen(devnet.api(index) + "/metrics", timeout=10) as response:
            text = response.read().decode()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        if line.startswith('silkport_net{counter="'):
            name = line.split('"')[1]
            out[name] = float(line.split()[-1])
    return out


def refused(devnet: Devnet, index: int, reason: str) -> float:
    return counters(devnet, index).get(f"refused_{reason}", 0.0)


def peers_of(devnet: Devnet, index: int) -> list[int]:
    status = devnet.status(index) or {}
    peers = status.get("peers", [])
    return sorted(peers) if isinstance(peers, list) else []


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def validator_key(devnet: Devnet, index: int) -> KeyPair:
    return load_key_file(devnet.manifest.node(index).key_file)


def peer_certificate(address: str, chain_id: str) -> bytes:
    """The DER certificate a node presents on its peer port (fetched with a throwaway identity)."""

    async def fetch() -> bytes:
        identity = make_identity(chain_id, KeyPair.generate())
        reader, writer = await asyncio.open_connection(*split(address), ssl=identity.client)
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        writer.close()
        return bytes(der)

    return asyncio.run(fetch())


def forged_contexts(chain_id: str, stolen_der: bytes) -> ssl.SSLContext:
    """Contexts for a fresh TLS key whose certificate carries the extension copied from ``stolen_der``."""
    extension = x509.load_der_x509_certificate(stolen_der).extensions.get_extension_for_oid(
        VALIDATOR_EXTENSION_OID
    ).value
    copied = extension.value  # type: ignore[attr-defined]
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = build_certificate(chain_id, KeyPair.generate(), key, now=now, extension=copied)
    return make_contexts(chain_id, cert, key).server


@pytest.fixture(scope="module")
def tls_devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    """One 4-node TLS devnet shared by the attacks (each test leaves it as it found it)."""
    yield from running_devnet(tmp_path_factory.mktemp("peer-security"))


def full_mesh(devnet: Devnet) -> bool:
    return all(len(peers_of(devnet, e.index)) == devnet.size - 1 for e in devnet.manifest.nodes)


def rewrite_peer(devnet: Devnet, index: int, peer: int, p2p: str | None = None, tls: bool | None = None) -> None:
    """Change node ``index``'s config (peer ``peer``'s address and/or the TLS flag); restart it."""
    devnet.cli("kill", index)
    path = Path(devnet.manifest.node(index).home) / "config.json"
    config = json.loads(path.read_text())
    if p2p is not None:
        config["peers"][str(peer)]["p2p"] = p2p
    if tls is not None:
        config["p2p_tls"] = tls
    path.write_text(json.dumps(config, indent=1) + "\n")
    devnet.cli("start", index)


# --- (6) TLS by default ---------------------------------------------------------------------------


def test_devnet_peer_ports_speak_only_tls13(tls_devnet: Devnet) -> None:
    devnet = tls_devnet
    wait_until(lambda: full_mesh(devnet), 60, "a full mesh")
    for entry in devnet.manifest.nodes:
        assert json.loads((Path(entry.home) / "config.json").read_text())["p2p_tls"] is True
    address = devnet.manifest.node(1).p2p

    async def probe() -> str:
        identity = make_identity(devnet.chain_id, KeyPair.generate())
        reader, writer = await asyncio.open_connection(*split(address), ssl=identity.client)
        version = writer.get_extra_info("ssl_object").version()
        compression = writer.get_extra_info("ssl_object").compression()
        assert compression is None
        with contextlib.suppress(ConnectionError, OSError):
            assert await asyncio.wait_for(reader.read(1), 15) == b""  # not a validator: closed
        writer.close()
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.check_hostname, old.verify_mode = False, ssl.CERT_NONE
        old.maximum_version = ssl.TLSVersion.TLSv1_2
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await asyncio.open_connection(*split(address), ssl=old)
        return str(version)

    before = refused(devnet, 1, "unknown_validator")
    assert asyncio.run(probe()) == "TLSv1.3"
    wait_until(lambda: refused(devnet, 1, "unknown_validator") > before, 15, "the stranger counted")
    assert refused(devnet, 1, "tls_handshake_failed") >= 1  # the TLS 1.2 client


# --- (1) a TLS-terminating proxy between two validators -------------------------------------------


class MitmProxy:
    """Terminates node 2's TLS with a forged certificate for node 3 and re-originates TLS to node 3
    with a forged certificate for node 2 (each carries the victim's real extension, copied)."""

    def __init__(self, devnet: Devnet) -> None:
        self.devnet = devnet
        self.target = devnet.manifest.node(3).p2p
        self.server_context = forged_contexts(devnet.chain_id, peer_certificate(self.target, devnet.chain_id))
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted = 0
        self.client_certificates: list[bytes] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        with contextlib.suppress(Exception):
            der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
            self.client_certificates.append(der)
            up_reader, up_writer = await asyncio.open_connection(
                *split(self.target), ssl=self._client_context(der)
            )

            async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
                dst.close()

            await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        writer.close()

    def _client_context(self, stolen_der: bytes) -> ssl.SSLContext:
        extension = x509.load_der_x509_certificate(stolen_der).extensions.get_extension_for_oid(
            VALIDATOR_EXTENSION_OID
        ).value
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = build_certificate(
            self.devnet.chain_id, KeyPair.generate(), key, now=now, extension=extension.value  # type: ignore[attr-defined]
        )
        return make_contexts(self.devnet.chain_id, cert, key).client

    def __enter__(self) -> MitmProxy:
        self._thread.start()

        async def serve() -> asyncio.Server:
            return await asyncio.start_server(self._handle, sock=self.sock, ssl=self.server_context)

        self.server = asyncio.run_coroutine_threadsafe(serve(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self.server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def test_tls_terminating_proxy_is_refused_by_both_validators(tls_devnet: Devnet) -> None:
    devnet = tls_devnet
    wait_until(lambda: full_mesh(devnet), 60, "a full mesh")
    start_height = devnet.height(0) or 0
    bad_2, bad_3 = refused(devnet, 2, "bad_certificate"), refused(devnet, 3, "bad_certificate")
    with MitmProxy(devnet) as proxy:
        rewrite_peer(devnet, 2, 3, p2p=proxy.address)  # node 2 now dials node 3 through the proxy
        wait_until(lambda: proxy.accepted >= 2, 60, "node 2 dialling through the proxy")
        wait_until(lambda: refused(devnet, 2, "bad_certificate") > bad_2, 30, "node 2 refusing the proxy")
        wait_until(lambda: refused(devnet, 3, "bad_certificate") > bad_3, 30, "node 3 refusing the proxy")
        assert 3 not in peers_of(devnet, 2) and 2 not in peers_of(devnet, 3)
        devnet.wait_height(0, start_height + 3)  # consensus keeps committing meanwhile
    rewrite_peer(devnet, 2, 3, p2p=devnet.manifest.node(3).p2p)
    wait_until(lambda: full_mesh(devnet), 60, "the direct link back")


# --- (2) a byte relay splicing its own connections to two nodes -------------------------------------


def test_byte_relay_between_two_nodes_is_accepted_as_neither(tls_devnet: Devnet) -> None:
    devnet = tls_devnet
    wait_until(lambda: full_mesh(devnet), 60, "a full mesh")
    before = {i: counters(devnet, i) for i in (1, 2)}
    views = {e.index: devnet.view(e.index) for e in devnet.manifest.nodes}
    start_height = devnet.height(1) or 0

    async def splice() -> None:
        pairs = []
        for _ in range(5):
            r1, w1 = await asyncio.open_connection(*split(devnet.manifest.node(1).p2p))
            r2, w2 = await asyncio.open_connection(*split(devnet.manifest.node(2).p2p))
            pairs.append((r1, w1, r2, w2))

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.wait_for(
            asyncio.gather(*(pump(a, d) for a, _, _, d in pairs), *(pump(c, b) for _, b, c, _ in pairs)), 30
        )

    asyncio.run(splice())
    after = {i: counters(devnet, i) for i in (1, 2)}
    for index in (1, 2):
        assert after[index]["links_opened"] == before[index]["links_opened"], "a relay link was accepted"
        assert after[index]["links_replaced"] == before[index]["links_replaced"] == 0
        # each spliced connection is refused (a deadline, or a handshake two servers cannot complete)
        assert after[index]["handshake_refusals"] >= before[index]["handshake_refusals"] + 5
    assert full_mesh(devnet)
    devnet.wait_height(1, start_height + 2)
    assert {e.index: devnet.view(e.index) for e in devnet.manifest.nodes} == views


# --- (3) replaying a recorded handshake -----------------------------------------------------------


def record_handshake(address: str, context: ssl.SSLContext) -> bytes:
    """Run a genuine TLS client handshake over a socket and return every byte the client sent."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_side=False)
    sent = b""
    with socket.create_connection(split(address), timeout=15) as sock:
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                data = outgoing.read()
                sent += data
                sock.sendall(data)
                chunk = sock.recv(65536)
                assert chunk, "the node closed during the recorded handshake"
                incoming.write(chunk)
        tls.write(KEEPALIVE)  # confirm the link, as a genuine validator does
        data = outgoing.read()
        sent += data
        sock.sendall(data)
        with contextlib.suppress(OSError):
            while sock.recv(65536):
                pass
    return sent


def test_replayed_handshake_is_refused(tls_devnet: Devnet) -> None:
    devnet = tls_devnet
    wait_until(lambda: full_mesh(devnet), 60, "a full mesh")
    target = devnet.manifest.node(3).p2p
    genuine = make_identity(devnet.chain_id, validator_key(devnet, 0))  # the real key of validator 0
    recorded = record_handshake(target, genuine.client)
    wait_until(lambda: refused(devnet, 3, "duplicate_link") >= 1, 15, "the live link kept")
    before = refused(devnet, 3, "tls_handshake_failed")
    for _ in range(3):
        with socket.create_connection(split(target), timeout=15) as sock:
            sock.sendall(recorded)
            with contextlib.suppress(OSError):
                while sock.recv(65536):
                    pass
    wait_until(lambda: refused(devnet, 3, "tls_handshake_failed") >= before + 3, 15, "replays refused")
    assert counters(devnet, 3)["links_replaced"] == 0
    assert full_mesh(devnet)


# --- (4) pre-authentication flood -----------------------------------------------------------------


async def flood(address: str, chain_id: str, seconds: float) -> int:
    """60+ unauthenticated connections at a time: junk, slowloris, huge length prefixes, strangers."""
    host, port = split(address)
    opened = 0
    deadline = time.monotonic() + seconds

    async def one(kind: int) -> None:
        nonlocal opened
        while time.monotonic() < deadline:
            try:
                if kind == 3:
                    identity = make_identity(chain_id, KeyPair.generate())
                    reader, writer = await asyncio.open_connection(host, port, ssl=identity.client)
                else:
                    reader, writer = await asyncio.open_connection(host, port)
                opened += 1
                if kind == 0:
                    writer.write(os.urandom(4096))
                elif kind == 1:
                    for _ in range(20):  # slowloris: one byte at a time
                        writer.write(b"\x16")
                        await writer.drain()
                        await asyncio.sleep(0.5)
                elif kind == 2:  # the old deflate bomb: a huge announced length, then a stream
                    writer.write(b"\xff\xff\xff\xff" + bytes(65536))
                await writer.drain()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(reader.read(65536), 5)
                writer.close()
            except (OSError, ssl.SSLError, TimeoutError):
                await asyncio.sleep(0.05)

    await asyncio.gather(*(one(i % 4) for i in range(64)))
    return opened


def test_pre_auth_flood_is_refused_and_bounded(tls_devnet: Devnet) -> None:
    devnet = tls_devnet
    wait_until(lambda: full_mesh(devnet), 60, "a full mesh")
    targets = [0, 1]
    views = {e.index: devnet.view(e.index) for e in devnet.manifest.nodes}
    quiet_from = devnet.height(0) or 0
    time.sleep(10)  # the block rate without an attack, for the printed figure only (no timed assertion)
    start_height = devnet.height(0) or 0
    quiet_rate = (start_height - quiet_from) / 10
    peak = {i: 0 for i in targets}
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            for index in targets:
                pid = devnet.manifest.node(index).pid
                assert pid is not None
                peak[index] = max(peak[index], rss_kb(pid))
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()

    async def attack() -> list[int]:
        return await asyncio.gather(
            *(flood(devnet.manifest.node(i).p2p, devnet.chain_id, 15) for i in targets)
        )

    try:
        opened = asyncio.run(attack())
        flood_rate = ((devnet.height(0) or 0) - start_height) / 15
        devnet.wait_height(0, start_height + 3, timeout=30)
    finally:
        done.set()
        watcher.join(5)
    print(  # the figures for the report (pytest -s)
        f"flood: connections opened {opened}, peak RSS kB {peak}, "
        f"blocks/s quiet {quiet_rate:.2f} vs under flood {flood_rate:.2f}"
    )
    assert all(count >= 60 for count in opened), opened
    for index in targets:
        assert peak[index] <= RSS_LIMIT_KB, f"node {index} peaked at {peak[index]} kB"
        stats = counters(devnet, index)
        caps = stats.get("refused_per_address_limit", 0) + stats.get("refused_too_many_connections", 0)
        assert caps >= 1 and stats.get("refused_tls_handshake_failed", 0) >= 1, stats
        assert stats["links_replaced"] == 0
    assert {e.index: devnet.view(e.index) for e in devnet.manifest.nodes} == views
    assert full_mesh(devnet)


# --- (5) plaintext and TLS nodes never link -------------------------------------------------------


def test_plaintext_node_cannot_join_a_tls_devnet(tls_devnet: Devnet) -> None:
    devnet = tls_devnet
    wait_until(lambda: full_mesh(devnet), 60, "a full mesh")
    start_height = devnet.height(0) or 0
    try:
        dialer_refusals = refused(devnet, 0, "tls_handshake_failed")
        rewrite_peer(devnet, 3, 0, tls=False)
        wait_until(lambda: counters(devnet, 3).get("handshake_refusals", 0) >= 1, 30, "node 3 refusing TLS")
        wait_until(lambda: refused(devnet, 0, "tls_handshake_failed") > dialer_refusals, 30, "node 0 refusing")
        assert peers_of(devnet, 3) == []
        assert "INSECURE" in procs.log_tail(devnet.manifest.node(3), 200)
        devnet.wait_height(0, start_height + 2)  # three TLS validators are a quorum
    finally:
        rewrite_peer(devnet, 3, 0, tls=True)
    wait_until(lambda: full_mesh(devnet), 60, "node 3 back over TLS")


def test_tls_node_cannot_join_a_plaintext_devnet(tmp_path: Path) -> None:
    directory = tmp_path / "plain"
    result = devnet_cli(
        "up", "--dir", directory, "--nodes", "4", "--detach", "--ready-timeout", "60", "--insecure-plaintext", "--no-cast"
    )
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        assert "--insecure-plaintext" in result.stdout or "insecure" in result.stdout.lower()
        devnet = Devnet(directory)
        assert layout.load_manifest(directory).insecure_plaintext
        wait_until(lambda: full_mesh(devnet), 60, "a plaintext full mesh")
        start_height = devnet.height(0) or 0
        rewrite_peer(devnet, 3, 0, tls=True)
        wait_until(lambda: refused(devnet, 3, "tls_handshake_failed") >= 1, 30, "node 3 refusing plaintext")
        assert peers_of(devnet, 3) == []
        devnet.wait_height(0, start_height + 2)
    finally:
        teardown_devnet(directory)
