"""The REST API under attack, against real node processes (issue 12 part 3, ADR 0011).

Each test attacks one node of a 4-node devnet as an outsider would and checks, from outside only,
that the attack is refused with problem+json (429/503 + ``Retry-After``, 400, 408), that the node
stays answerable, that its memory stays bounded, and that the chain keeps committing. "Keeps
committing" compares the blocks committed during the attack with those just before it (no time
thresholds): the chain must not stall.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chain.config import load_config, save_config
from chain.crypto import KeyPair
from chain.types import make_tx
from devnet import procs

from .conftest import REPO, Devnet, http_json, wait_until

pytestmark = [pytest.mark.blackbox, pytest.mark.timeout(180)]
WINDOW_S = 5.0
RSS_BOUND_KB = 400 * 1024
"""Peak resident memory allowed to the attacked node (it idles near 75 MB)."""


def blocks_in_window(devnet: Devnet, index: int, seconds: float = WINDOW_S) -> int:
    """Blocks committed on node ``index`` over the next ``seconds`` (status polled around it)."""
    start = wait_until(lambda: devnet.height(index), 30, f"node {index} answers /v1/status")
    time.sleep(seconds)
    end = wait_until(lambda: devnet.height(index), 30, f"node {index} answers /v1/status")
    return end - start


def peak_rss_kb(devnet: Devnet, index: int) -> int:
    """``VmHWM`` (peak resident set) of node ``index``'s process, from ``/proc/PID/status``."""
    pid = devnet.manifest.node(index).pid
    assert pid is not None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc status")


def node_log(devnet: Devnet, index: int) -> str:
    return (Path(devnet.manifest.node(index).home) / "node.log").read_text(errors="replace")


@contextmanager
def background(attack: Callable[[threading.Event], Any]) -> Iterator[dict[str, Any]]:
    """Run ``attack(stop)`` in a thread while the body runs; its return value lands in ``out``."""
    stop = threading.Event()
    out: dict[str, Any] = {}

    def run() -> None:
        out["result"] = attack(stop)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield out
    finally:
        stop.set()
        thread.join(60)
        assert not thread.is_alive(), "the attack did not stop"


def reconfigure(devnet: Devnet, index: int, change: Callable[[dict[str, Any]], None]) -> None:
    """Stop node ``index``, change its config.json, start it again."""
    devnet.cli("kill", index)
    home = Path(devnet.manifest.node(index).home)
    document = json.loads((home / "config.json").read_text())
    change(document)
    (home / "config.json").write_text(json.dumps(document))
    save_config(home, load_config(home))  # the node's own loader accepts it
    devnet.cli("start", index)


async def hammer(urls: list[str], stop: threading.Event, clients: int, local_hosts: list[str] | None = None,
                 post: Callable[[int], bytes] | None = None) -> Counter[str]:
    """``clients`` concurrent loops GETting (or POSTing ``post(i)``) until ``stop``; counts answers
    as ``"<status>"``, and ``"<status>-no-retry-after"`` for a 429/503 without ``Retry-After``."""
    counts: Counter[str] = Counter()
    timeout = aiohttp.ClientTimeout(total=30)

    async def one(client: int) -> None:
        local = (local_hosts[client % len(local_hosts)], 0) if local_hosts else None
        connector = aiohttp.TCPConnector(local_addr=local, limit=2, force_close=False)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            n = 0
            while not stop.is_set():
                url = urls[n % len(urls)]
                n += 1
                try:
                    if post is None:
                        request = session.get(url)
                    else:
                        request = session.post(url, data=post(client * 1_000_000 + n),
                                               headers={"Content-Type": "application/msgpack"})
                    async with request as response:
                        await response.read()
                        key = str(response.status)
                        if response.status in (429, 503):
                            assert response.content_type == "application/problem+json"
                            if "Retry-After" not in response.headers:
                                key += "-no-retry-after"
                        counts[key] += 1
                except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                    counts[type(exc).__name__] += 1
                    await asyncio.sleep(0.05)

    await asyncio.gather(*(one(i) for i in range(clients)))
    return counts


def test_sync_and_proof_flood_does_not_stall_the_chain(devnet: Devnet) -> None:
    devnet.wait_height(0, 3)
    devnet.cli("kill", 3)  # it will catch up (signed sync requests) while the public floods sync
    devnet.wait_height(0, devnet.height(0) + 5)  # type: ignore[operator]
    api = devnet.api(0)
    urls = [f"{api}/v1/sync/blocks?from=1&to=999", f"{api}/v1/anchors/{'ab' * 32}/receipt",
            f"{api}/v1/assets/{'cd' * 32}/proof", f"{api}/v1/history/consistency?from=1&to=3"]
    before = blocks_in_window(devnet, 0)
    with background(lambda stop: asyncio.run(hammer(urls, stop, clients=8))) as attack:
        time.sleep(1.0)
        during = blocks_in_window(devnet, 0)
        status = devnet.status(0)
        assert status is not None, "status does not answer during the flood"
        devnet.cli("start", 3)
        devnet.wait_height(3, devnet.height(0) or 0, timeout=45)  # the validator caught up meanwhile
    counts: Counter[str] = attack["result"]
    print(f"figure sync-flood: blocks {before} before / {during} during in {WINDOW_S:g} s windows, "
          f"peak RSS {peak_rss_kb(devnet, 0) // 1024} MB, answers {dict(counts)}")
    assert during >= max(1, before // 3), f"{during} blocks during the flood, {before} before it"
    assert counts["429"] + counts["503"] > 0, f"the flood was never refused: {counts}"
    assert not [k for k in counts if k.endswith("no-retry-after") or k.startswith("5") and k not in ("503",)], counts
    assert peak_rss_kb(devnet, 0) < RSS_BOUND_KB


def test_malformed_bodies_and_parameters_are_400_without_traceback(devnet: Devnet) -> None:
    api = devnet.api(1)
    bodies = [
        (b"[" * 200_000 + b"]" * 200_000, "application/json", 400),
        (b'{"tx": ' * 5000 + b"1" + b"}" * 5000, "application/json", 400),
        (b'{"tx": "\xff\xfe\xfd"}', "application/json", 400),
        (b"\xdb\xff\xff\xff\xff" + b"x" * 10, "application/msgpack", 400),
        (b"\xdd\xff\xff\xff\xff\x01", "application/msgpack", 400),
        (b"\x93\x01", "application/msgpack", 400),
        (b"\x91" * 100_000, "application/msgpack", 400),
        (b"{}", "text/plain", 415),
        (b"\x00" * (5 * 1024 * 1024), "application/msgpack", 413),
    ]
    for data, content_type, expected in bodies:
        code, body = post_raw(f"{api}/v1/txs", data, content_type)
        assert code == expected, f"{data[:20]!r} as {content_type}: {code} {body}"
        assert isinstance(body, dict) and body["status"] == expected and body["detail"], body
    for path in ["/v1/sync/blocks?from=abc&to=1", "/v1/sync/blocks?from=5&to=1", "/v1/blocks/-1",
                 "/v1/blocks/" + "9" * 30, "/v1/txs/zz?wait=forever", "/v1/assets?limit=-1",
                 "/v1/history/consistency?from=0&to=%ff", "/v1/anchors/xyz/receipt", "/v1/status?x=1"]:
        code, body = http_json(api + path)
        assert code in (400, 404), f"{path}: {code} {body}"
        assert isinstance(body, dict) and body["status"] == code, (path, body)
    assert devnet.status(1) is not None
    log = node_log(devnet, 1)
    assert "Traceback" not in log and " 500 " not in log, log[-3000:]


def post_raw(url: str, data: bytes, content_type: str) -> tuple[int, Any]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        assert error.headers.get("Content-Type", "").startswith("application/problem+json")
        return error.code, json.loads(error.read())


def test_tx_flood_from_a_hundred_addresses_meets_the_global_limit(devnet: Devnet) -> None:
    # A write budget a test client can exceed: each address alone stays under its own bucket.
    budget = {"rate_per_s": 50, "burst": 100, "global_rate_per_s": 100, "global_burst": 100,
              "in_flight_per_address": 8, "in_flight_global": 64}
    reconfigure(devnet, 0, lambda config: config.setdefault("api_budgets", {}).update(write=budget))
    devnet.wait_height(0, 3)
    hosts = [f"127.0.0.{i}" for i in range(2, 102)]
    chain_id = devnet.chain_id
    senders = [KeyPair.from_seed(i.to_bytes(32, "big")) for i in range(1, 101)]

    def tx_bytes(n: int) -> bytes:
        return make_tx(chain_id, "noop", "ping", {"note": f"flood {n}"}, [senders[n % 100]], 1 + n).encode()

    before = blocks_in_window(devnet, 0)
    url = f"{devnet.api(0)}/v1/txs"
    with background(lambda stop: asyncio.run(hammer([url], stop, 100, hosts, post=tx_bytes))) as attack:
        time.sleep(1.0)
        during = blocks_in_window(devnet, 0)
        assert devnet.status(0) is not None
    counts: Counter[str] = attack["result"]
    print(f"figure tx-flood-100-addresses: blocks {before} before / {during} during in {WINDOW_S:g} s windows, "
          f"peak RSS {peak_rss_kb(devnet, 0) // 1024} MB, answers {dict(counts)}")
    assert counts["429"] > 0, f"the global write limit never answered: {counts}"
    assert not [k for k in counts if k.endswith("no-retry-after") or k.startswith("5") and k != "503"], counts
    assert during >= max(1, before // 3), f"{during} blocks during the flood, {before} before it"
    assert peak_rss_kb(devnet, 0) < RSS_BOUND_KB


def test_slow_clients_are_bounded(devnet: Devnet) -> None:
    host, port = devnet.api(2).removeprefix("http://").split(":")
    held: list[socket.socket] = []
    try:
        for i in range(200):  # partial headers, never finished
            s = socket.create_connection((host, int(port)), timeout=5)
            s.sendall(b"GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Slow-%d: " % i)
            held.append(s)
        bodies = []
        for _ in range(20):  # a body announced and never sent
            s = socket.create_connection((host, int(port)), timeout=30)
            s.sendall(b"POST /v1/txs HTTP/1.1\r\nHost: x\r\nContent-Type: application/msgpack\r\n"
                      b"Content-Length: 4000\r\n\r\n\x93")
            bodies.append(s)
        before = blocks_in_window(devnet, 2)
        assert before >= 1, "node 2 stopped committing under slow clients"
        assert devnet.status(2) is not None
        for s in bodies:
            answer = s.recv(4096)
            assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
            assert b"application/problem+json" in answer and b"body_timeout" in answer
            s.close()
        assert peak_rss_kb(devnet, 2) < RSS_BOUND_KB
        for s in held:  # the node closes connections whose headers never end (idle timeout)
            s.settimeout(40)
            try:
                assert s.recv(4096) == b"", "a connection with unfinished headers got an answer"
            except ConnectionResetError:
                pass
    finally:
        for s in held:
            s.close()
    assert devnet.status(2) is not None


def make_ca_and_cert(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it (PEM files).

    Both carry the RFC 5280 extensions Python 3.13's default ``VERIFY_X509_STRICT`` checks: key usage
    and a subject key identifier on the CA, the authority key identifier on the leaf.
    """
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "silkport test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


def silkport(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chain.cli", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})


def test_api_over_tls(devnet: Devnet, tmp_path: Path) -> None:
    ca, cert, key = make_ca_and_cert(tmp_path)
    entry = devnet.manifest.node(3)
    home = Path(entry.home)
    config = load_config(home)
    devnet.cli("kill", 3)
    base: list[str | Path] = [sys.executable, "node.py", "init", "--home", home, "--genesis", home / "genesis.json",
                              "--key", home / "validator.key", "--index", "3",
                              "--listen", f"{config.listen_host}:{config.listen_port}", "--p2p-listen", config.p2p_listen]
    for index, peer in config.peers.items():
        base += ["--peer", f"{index}={peer.api},{peer.p2p}"]

    def init(*tls: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(map(str, [*base, *tls])), cwd=REPO, capture_output=True, text=True, timeout=60)

    bad = init("--api-tls-cert", cert, "--api-tls-key", ca)  # a certificate is no key
    assert bad.returncode == 1 and "Traceback" not in bad.stderr and "not usable" in bad.stderr, bad.stderr
    assert not (home / "api-tls.key").exists() and load_config(home) == config  # changed nothing
    done = init("--api-tls-cert", cert, "--api-tls-key", key)
    assert done.returncode == 0, done.stderr
    devnet.cli("start", 3, "--no-wait")
    url = f"https://{config.listen_host}:{config.listen_port}"

    def answers() -> subprocess.CompletedProcess[str] | None:
        result = silkport("status", "--node", url, "--cacert", ca, "--json")
        return result if result.returncode == 0 else None

    result = wait_until(answers, 60, "silkport status over TLS")
    assert json.loads(result.stdout)["chain_id"] == devnet.chain_id
    plain = silkport("status", "--node", url, "--json")
    assert plain.returncode == 1 and "Traceback" not in plain.stderr, plain.stderr
    assert "--cacert" in plain.stderr, plain.stderr
    http = silkport("status", "--node", url.replace("https", "http"), "--json")
    assert http.returncode == 1 and "Traceback" not in http.stderr, http.stderr
    assert procs.is_running(devnet.reload().node(3))


def test_validator_signed_sync_is_served_during_a_flood_and_cannot_be_replayed(devnet: Devnet) -> None:
    from chain.api.validator_auth import sign_request
    from chain.crypto import load_key_file

    devnet.wait_height(0, 3)
    api = devnet.api(0)
    validator = load_key_file(devnet.manifest.node(2).key_file)
    path = "/v1/sync/blocks?from=1&to=2"

    def signed_get(headers: dict[str, str]) -> tuple[int, Any]:
        import urllib.error
        import urllib.request

        request = urllib.request.Request(api + path, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    flood = [f"{api}/v1/sync/blocks?from=1&to=999"]
    with background(lambda stop: asyncio.run(hammer(flood, stop, clients=8))) as attack:
        time.sleep(1.0)
        served = []
        for _ in range(5):
            headers = sign_request(validator, 2, devnet.chain_id, "GET", path, int(time.time() * 1000),
                                   KeyPair.generate().public_key[:16])
            served.append(signed_get(headers)[0])
        replay_headers = sign_request(validator, 2, devnet.chain_id, "GET", path, int(time.time() * 1000),
                                      b"\x07" * 16)
        first, _ = signed_get(replay_headers)
        replay, problem = signed_get(replay_headers)
        other_chain = sign_request(validator, 2, "another-chain", "GET", path, int(time.time() * 1000),
                                   b"\x08" * 16)
        wrong_chain, _ = signed_get(other_chain)
    counts: Counter[str] = attack["result"]
    assert counts["429"] + counts["503"] > 0, f"the public flood was never refused: {counts}"
    assert served == [200] * 5, f"a validator's signed sync was refused during the flood: {served}"
    assert first == 200 and replay == 401 and "already used" in problem["detail"], (first, replay, problem)
    assert wrong_chain == 401
