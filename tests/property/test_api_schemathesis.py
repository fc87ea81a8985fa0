"""schemathesis over the node's own ``/openapi.json`` (issue 12 part 6, ADR 0011).

A real aiohttp server on loopback serves the real API over a :class:`~chain.api.localnode.LocalNode`
with certified blocks, with the limits of every route turned on (generous budgets, so the
middleware is fuzzed too). For every operation, schemathesis generates requests from the document,
valid and invalid, and checks: never a 5xx, status codes and content types the document declares,
bodies that match its schemas, and problem+json (RFC 9457) for every error. ``SILKPORT_LONG=1``
runs ten times as many examples.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from typing import Any

import msgpack
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from chain.api import make_app, start
from chain.api.app import DOCUMENTED_MODULES
from chain.api.openapi import merged_document
from chain.config import ApiBudgets, RouteBudget
from chain.crypto import KeyPair
from chain.dataplane.store import ContentStore
from chain.genesis import GENESIS_FORMAT, GenesisDoc, default_policy, parse_genesis
from chain.localnode import LocalNode
from chain.types import make_tx

LONG = os.environ.get("SILKPORT_LONG") == "1"
EXAMPLES = 1000 if LONG else 80
ROOMY = RouteBudget(rate_per_s=1e6, burst=10**6, global_rate_per_s=1e6, global_burst=10**6,
                    in_flight_per_address=64, in_flight_global=64)
KEYS = [KeyPair.from_seed(bytes([i + 1]) * 32) for i in range(4)]
document = merged_document(DOCUMENTED_MODULES)
# An event stream never ends by design; its checks are tests/unit/test_api_events.py (ADR 0025).
schema = schemathesis.openapi.from_dict(document).exclude(path="/v1/events")


def genesis() -> GenesisDoc:
    return parse_genesis(
        {
            "format": GENESIS_FORMAT,
            "chain_id": "silkport-fuzz",
            "genesis_time_ms": 1_767_225_600_000,
            "validators": [
                {"public_key": k.public_hex, "name": f"v{i}", "organisation": "daxing-port", "jurisdiction": "CN"}
                for i, k in enumerate(KEYS)
            ],
            "authorities": {"public_keys": [KeyPair.from_seed(b"\x09" * 32).public_hex], "threshold": 1},
            "params": {"test_mode": True},  # the fixture's blocks carry noop transactions (ADR 0012)
            "policy": default_policy(),
        }
    )


@schemathesis.serializer("application/msgpack")
def msgpack_body(ctx: Any, value: Any) -> bytes:
    """Generated strings go on the wire as raw bytes (garbage for the decoder); anything else packed."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "replace")
    try:
        return bytes(msgpack.packb(value, use_bin_type=True))
    except (TypeError, ValueError, OverflowError):
        return repr(value).encode()


@schemathesis.check
def problem_json_on_errors(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx/5xx is RFC 9457 problem+json with the members the house promises."""
    if response.status_code < 400:
        return None
    headers = {name.lower(): values for name, values in response.headers.items()}
    assert headers.get("content-type", [""])[0].startswith("application/problem+json"), headers
    body = response.json()
    assert body["status"] == response.status_code and body["code"] and body["detail"], body
    assert body["type"] == "https://silkport.dev/problems/" + body["code"]
    if response.status_code in (429, 503):
        assert "retry-after" in headers, headers
    return True


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    node = LocalNode(genesis(), KEYS)
    store = ContentStore(tmp_path_factory.mktemp("content"))  # the data valve's routes are fuzzed too
    for i in range(3):
        node.submit_tx(make_tx(node.chain_id, "noop", "ping", {"note": f"n{i}"}, [KeyPair.generate()], 1))
        node.produce_block()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def serve() -> None:
        app = make_app(node, rate_limit=None, budgets=ApiBudgets(ops=ROOMY, read=ROOMY, write=ROOMY, heavy=ROOMY),
                       content_store=store)
        runner = await start(app, "127.0.0.1", 0)
        holder["runner"] = runner
        host, port = runner.addresses[0][:2]
        holder["url"] = f"http://{host}:{port}"
        ready.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(serve()), loop.run_forever()), daemon=True)
    thread.start()
    assert ready.wait(30), "the API server did not start"
    yield str(holder["url"])
    asyncio.run_coroutine_threadsafe(holder["runner"].cleanup(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(30)


def test_the_fuzzed_document_is_the_served_one(base_url: str) -> None:
    import json
    import urllib.request

    with urllib.request.urlopen(base_url + "/openapi.json", timeout=10) as response:
        served = json.loads(response.read())
    assert served == json.loads(json.dumps(document))


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_every_route_conforms(case: Any, base_url: str) -> None:
    case.call_and_validate(
        base_url=base_url,
        timeout=35,
        checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                response_schema_conformance, problem_json_on_errors],
    )
