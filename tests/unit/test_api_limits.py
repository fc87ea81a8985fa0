"""Limits on every route, validator-signed requests and malformed bodies (ADR 0011), in process."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from chain import codec
from chain.api import make_app
from chain.api.limits import LIMITER, ClassLimiter, Limiter, RouteClass, route_class, write_budget
from chain.api.validator_auth import HEADER_NONCE, HEADER_SIGNATURE, RequestAuthenticator, sign_request
from chain.config import ApiBudgets, NodeConfig, RouteBudget
from chain.crypto import KeyPair
from chain.errors import RequestAuthError
from chain.genesis import GENESIS_FORMAT, GenesisDoc, default_policy, parse_genesis
from chain.localnode import LocalNode
from chain.types import make_tx

Client = TestClient[web.Request, web.Application]
CHAIN = "silkport-local"
NOW_MS = 1_767_225_600_000
KEYS = [KeyPair.from_seed(bytes([i + 1]) * 32) for i in range(4)]


def genesis() -> GenesisDoc:
    return parse_genesis(
        {
            "format": GENESIS_FORMAT,
            "chain_id": CHAIN,
            "genesis_time_ms": NOW_MS,
            "validators": [
                {"public_key": k.public_hex, "name": f"v{i}", "organisation": "daxing-port", "jurisdiction": "CN"}
                for i, k in enumerate(KEYS)
            ],
            "authorities": {"public_keys": [KeyPair.from_seed(b"\x09" * 32).public_hex], "threshold": 1},
            "policy": default_policy(),
        }
    )
TIGHT = RouteBudget(rate_per_s=1, burst=2, global_rate_per_s=1, global_burst=3, in_flight_per_address=1,
                    in_flight_global=2)


def serve(body: Callable[[Client, LocalNode], Awaitable[None]], budgets: ApiBudgets, blocks: int = 3) -> None:
    node = LocalNode(genesis(), KEYS)
    for _ in range(blocks):
        node.produce_block()
    clock = [0.0]

    async def main() -> None:
        app = make_app(node, rate_limit=None, budgets=budgets, clock=lambda: clock[0], clock_ms=lambda: NOW_MS)
        async with TestClient(TestServer(app)) as client:
            await body(client, node)

    asyncio.run(main())


async def problem_of(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"
    document: dict[str, Any] = await response.json(content_type=None)
    assert document["code"] == code and document["status"] == status
    return document


def signed(index: int, path_qs: str, *, ts: int = NOW_MS, nonce: bytes | None = None) -> dict[str, str]:
    return sign_request(KEYS[index], index, CHAIN, "GET", path_qs, ts, nonce or secrets.token_bytes(16))


# --- the buckets --------------------------------------------------------------------------------


def test_route_classes() -> None:
    assert route_class("POST", "/v1/txs") is RouteClass.WRITE
    assert route_class("GET", "/v1/status") is RouteClass.OPS
    assert route_class("GET", "/metrics") is RouteClass.OPS
    assert route_class("GET", "/v1/sync/blocks") is RouteClass.HEAVY
    assert route_class("GET", "/v1/assets/{asset_id}/proof") is RouteClass.HEAVY
    assert route_class("GET", "/v1/blocks/{ref}") is RouteClass.READ
    assert route_class("GET", None) is RouteClass.READ


def test_many_addresses_cannot_bypass_the_global_bucket() -> None:
    now = [0.0]
    limits = ClassLimiter("write", TIGHT, 100, lambda: now[0])
    outcomes = []
    for i in range(10):  # ten addresses, one request each: every address is under its own limit
        refusal = limits.acquire(f"127.0.0.{i + 2}")
        outcomes.append(None if refusal is None else (refusal.status, refusal.code))
        if refusal is None:
            limits.release(f"127.0.0.{i + 2}")
    assert outcomes[:3] == [None, None, None]
    assert set(outcomes[3:]) == {(429, "rate_limited_global")}
    now[0] += 1.0  # the global bucket refills one token a second
    assert limits.acquire("127.0.0.99") is None


def test_per_address_bucket_and_in_flight_caps() -> None:
    now = [0.0]
    budget = RouteBudget(rate_per_s=1, burst=2, global_rate_per_s=100, global_burst=100,
                         in_flight_per_address=1, in_flight_global=2)
    limits = ClassLimiter("read", budget, 100, lambda: now[0])
    assert limits.acquire("a") is None
    busy = limits.acquire("a")  # one in flight from "a" already
    assert busy is not None and (busy.status, busy.code, busy.retry_after_s) == (503, "too_many_in_flight", 1)
    assert limits.acquire("b") is None
    full = limits.acquire("c")  # two in flight in total
    assert full is not None and (full.status, full.code) == (503, "saturated")
    limits.release("a")
    limits.release("b")
    assert limits.acquire("a") is None
    limits.release("a")
    rate = limits.acquire("a")  # burst of 2 spent
    assert rate is not None and (rate.status, rate.code, rate.retry_after_s) == (429, "rate_limited", 1)
    assert limits.refused == {"too_many_in_flight": 1, "saturated": 1, "rate_limited": 1}


def test_address_table_is_bounded() -> None:
    limits = ClassLimiter("read", ApiBudgets().read, 50, lambda: 0.0)
    for i in range(500):
        assert limits.acquire(f"10.0.{i // 256}.{i % 256}") is None
        limits.release(f"10.0.{i // 256}.{i % 256}")
    assert len(limits.addresses) == 50


def test_default_write_budget_follows_genesis_rate() -> None:
    budget = write_budget(5000)
    assert (budget.rate_per_s, budget.burst, budget.global_rate_per_s) == (5000, 10000, 10000)
    limiter = Limiter(ApiBudgets(), budget)
    assert limiter.classes[RouteClass.WRITE].budget == budget


def test_config_overrides_are_strict() -> None:
    config = NodeConfig.model_validate({"index": 0, "listen_port": 1, "api_budgets": {"heavy": TIGHT.model_dump()}})
    assert config.api_budgets.heavy == TIGHT
    with pytest.raises(ValueError, match="extra"):
        NodeConfig.model_validate({"index": 0, "listen_port": 1, "api_budgets": {"heavy": {"rate": 1}}})


# --- validator-signed requests ------------------------------------------------------------------


def authenticator(now_ms: int = NOW_MS) -> RequestAuthenticator:
    return RequestAuthenticator(CHAIN, lambda: tuple(k.public_key for k in KEYS), lambda: now_ms)


def test_signed_request_verifies_once() -> None:
    auth = authenticator()
    headers = signed(2, "/v1/sync/blocks?from=1&to=5")
    assert auth.check("GET", "/v1/sync/blocks?from=1&to=5", headers) == 2
    with pytest.raises(RequestAuthError, match="already used"):
        auth.check("GET", "/v1/sync/blocks?from=1&to=5", headers)
    assert auth.check("GET", "/v1/sync/blocks", {}) is None


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda h: h.update({"X-Silkport-Validator": "1"}), "does not verify for validator 1"),
        (lambda h: h.update({"X-Silkport-Validator": "9"}), "not a validator index"),
        (lambda h: h.pop("X-Silkport-Timestamp"), "needs header X-Silkport-Timestamp"),
        (lambda h: h.update({"X-Silkport-Timestamp": str(NOW_MS - 60_000)}), "from this node's clock"),
        (lambda h: h.update({"X-Silkport-Timestamp": "-5"}), "not a time"),
        (lambda h: h.update({HEADER_NONCE: "zz"}), "32 lowercase hex"),
        (lambda h: h.update({HEADER_SIGNATURE: "00" * 64}), "does not verify"),
        (lambda h: h.update({HEADER_SIGNATURE: "0"}), "128 lowercase hex"),
    ],
)
def test_bad_signed_requests_are_refused(mutate: Callable[[dict[str, str]], object], message: str) -> None:
    headers = signed(0, "/v1/sync/blocks?from=1&to=5")
    mutate(headers)
    with pytest.raises(RequestAuthError, match=message):
        authenticator().check("GET", "/v1/sync/blocks?from=1&to=5", headers)


def test_signature_binds_path_and_method() -> None:
    headers = signed(0, "/v1/sync/blocks?from=1&to=5")
    with pytest.raises(RequestAuthError, match="does not verify"):
        authenticator().check("GET", "/v1/sync/blocks?from=1&to=999", headers)
    with pytest.raises(RequestAuthError, match="does not verify"):
        authenticator().check("POST", "/v1/sync/blocks?from=1&to=5", headers)


def test_old_nonces_are_forgotten_but_stay_unusable() -> None:
    now = [NOW_MS]
    auth = RequestAuthenticator(CHAIN, lambda: tuple(k.public_key for k in KEYS), lambda: now[0])
    headers = signed(0, "/x")
    assert auth.check("GET", "/x", headers) == 0
    now[0] += 31_000
    auth.check("GET", "/y", signed(0, "/y", ts=now[0]))
    assert len(auth.seen) == 1  # the first nonce left the window ...
    with pytest.raises(RequestAuthError, match="clock"):  # ... and its request is stale
        auth.check("GET", "/x", headers)


# --- through the app ----------------------------------------------------------------------------


def test_heavy_reads_prefer_signed_validators() -> None:
    budgets = ApiBudgets(heavy=TIGHT)

    async def body(client: Client, node: LocalNode) -> None:
        path = "/v1/sync/blocks?from=1&to=3"
        statuses = [(await client.get(path)).status for _ in range(4)]
        assert statuses[:2] == [200, 200] and statuses[3] == 429  # the public's budget is spent
        response = await client.get(path, headers=signed(1, path))
        assert response.status == 200
        items = codec.decode(await response.read())
        assert isinstance(items, tuple) and len(items) == 3
        replay = await client.get(path, headers=signed(1, path, nonce=b"\x01" * 16))
        assert replay.status == 200
        again = await client.get(path, headers=signed(1, path, nonce=b"\x01" * 16))
        problem = await problem_of(again, 401, "bad_request_signature")
        assert "already used" in problem["detail"] and again.headers["WWW-Authenticate"]

    serve(body, budgets)


def test_refusals_are_problems_with_retry_after_and_status_keeps_its_own_budget() -> None:
    budgets = ApiBudgets(read=TIGHT)

    async def body(client: Client, node: LocalNode) -> None:
        answers = [await client.get("/v1/blocks/1") for _ in range(5)]
        assert [a.status for a in answers[:2]] == [200, 200]
        refused = await problem_of(answers[-1], 429, "rate_limited")
        assert "read requests" in refused["detail"] and answers[-1].headers["Retry-After"] == "1"
        assert (await client.get("/v1/status")).status == 200  # ops has its own budget
        metrics = await client.get("/metrics")
        assert metrics.status == 200
        text = await metrics.text()
        assert 'silkport_api_refused_total{class="read",code="rate_limited"} 3' in text
        assert 'silkport_api_in_flight{class="ops"} 1' in text  # this very request

    serve(body, budgets)


def test_write_saturation_is_503_with_retry_after() -> None:
    budgets = ApiBudgets(write=RouteBudget(rate_per_s=100, burst=100, global_rate_per_s=100, global_burst=100,
                                           in_flight_per_address=1, in_flight_global=1))

    async def body(client: Client, node: LocalNode) -> None:
        async def slow_body() -> Any:
            yield b'{"tx": "'
            await asyncio.sleep(0.5)
            yield b'00"}'

        first = asyncio.create_task(
            client.post("/v1/txs", data=slow_body(), headers={"Content-Type": "application/json"})
        )
        assert client.app is not None
        writes = client.app[LIMITER].classes[RouteClass.WRITE]
        while not writes.in_flight:  # the slow body holds the only write slot
            await asyncio.sleep(0.01)
        tx = make_tx(CHAIN, "noop", "ping", {"note": "x"}, [KeyPair.generate()], 1)
        second = await client.post("/v1/txs", data=tx.encode(), headers={"Content-Type": "application/msgpack"})
        await problem_of(second, 503, "too_many_in_flight")
        assert second.headers["Retry-After"] == "1"
        assert (await first).status == 400  # "00" is no transaction, but it was served

    serve(body, budgets)


# --- malformed bodies ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code", "detail"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 400, "decode_error", "nested"),
        (b'{"tx": ' + b"[" * 40 + b"]" * 40 + b"}", "application/json", 400, "decode_error", "nested more than 32"),
        (b'{"tx": "\xff\xfe"}', "application/json", 400, "decode_error", "not UTF-8"),
        (b'{"tx": NaN}', "application/json", 400, "decode_error", "NaN"),
        (b"\x93\x01", "application/msgpack", 400, "decode_error", ""),
        (b"\xdb\xff\xff\xff\xff", "application/msgpack", 400, "decode_error", ""),
        (b"\xdd\xff\xff\xff\xff", "application/msgpack", 400, "decode_error", ""),
        (b"\x91" * 5000 + b"\xc0", "application/msgpack", 400, "decode_error", ""),
        (b"tx=00", "application/x-www-form-urlencoded", 415, "unsupported_media_type", "not application/x-www"),
    ],
)
def test_malformed_bodies_are_400_problems(data: bytes, content_type: str, status: int, code: str, detail: str,
                                           caplog: pytest.LogCaptureFixture) -> None:
    async def body(client: Client, node: LocalNode) -> None:
        response = await client.post("/v1/txs", data=data, headers={"Content-Type": content_type})
        problem = await problem_of(response, status, code)
        assert detail in problem["detail"]
        assert node.status()["mempool_size"] == 0

    serve(body, ApiBudgets(), blocks=0)
    assert "Traceback" not in caplog.text and not [r for r in caplog.records if r.exc_info]


def test_oversize_body_is_413() -> None:
    async def body(client: Client, node: LocalNode) -> None:
        response = await client.post("/v1/txs", data=b"\x00" * (2 * 1024 * 1024),
                                      headers={"Content-Type": "application/msgpack"})
        await problem_of(response, 413, "oversize")

    serve(body, ApiBudgets(), blocks=0)


def test_json_depth_counts_iteratively() -> None:
    from chain.api.routes_txs import json_depth

    deep: Any = []
    for _ in range(5000):
        deep = [deep]
    assert json_depth(deep, 32) == 33
    assert json_depth({"a": [1, {"b": []}]}, 32) == 4
    assert json_depth(json.loads("7"), 32) == 0


def test_a_full_consensus_queue_refuses_submissions_with_503() -> None:
    from types import SimpleNamespace

    from chain.api.problems import status_for
    from chain.errors import MempoolFullError
    from chain.runtime import API_QUEUE_LIMIT, NodeRuntime

    admitted: list[str] = []
    queue: asyncio.Queue[Any] = asyncio.Queue()
    fake = SimpleNamespace(queue=queue, _admit=lambda tx, size, forward: admitted.append(tx.tx_id),
                           _admission_paused=lambda: False)
    tx = make_tx(CHAIN, "noop", "ping", {"note": "x"}, [KeyPair.generate()], 1)
    for _ in range(API_QUEUE_LIMIT - 1):
        queue.put_nowait(None)
    assert NodeRuntime.submit_tx(fake, tx) == tx.tx_id  # type: ignore[arg-type]
    queue.put_nowait(None)
    with pytest.raises(MempoolFullError, match="consensus events behind") as refused:
        NodeRuntime.submit_tx(fake, tx)  # type: ignore[arg-type]
    assert refused.value.code == "queue_full" and status_for(refused.value) == 503
    assert admitted == [tx.tx_id]
