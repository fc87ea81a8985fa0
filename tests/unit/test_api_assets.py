"""``/v1/assets``, ``/v1/organisations``, ``/v1/valuations`` over real committed state (LocalNode)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from chain import codec
from chain.api import make_app
from chain.crypto import KeyPair
from chain.genesis import parse_genesis
from chain.localnode import LocalNode
from chain.types import Receipt, make_tx
from testkit import contracts as testkit
from testkit.contracts import APPRAISER, BUYER, LENDER, OWNER, REGISTRAR

Client = TestClient[web.Request, web.Application]
VALIDATORS = [testkit.key(f"validator-{i}") for i in range(4)]


class Port:
    """A LocalNode with the testkit port organisations; ``call`` commits one tx per block."""

    def __init__(self) -> None:
        document = testkit.genesis_document(organisations=testkit.PORT_ORGANISATIONS, roles=testkit.PORT_ROLES)
        self.node = LocalNode(parse_genesis(document), VALIDATORS)
        self.nonces: dict[bytes, int] = {}

    def call(self, contract: str, method: str, args: dict[str, Any], signers: list[KeyPair]) -> tuple[str, Receipt]:
        sender = signers[0].public_key
        self.nonces[sender] = self.nonces.get(sender, 0) + 1
        tx = make_tx(self.node.chain_id, contract, method, args, signers, self.nonces[sender])
        self.node.submit_tx(tx)
        self.node.produce_block()
        receipt = self.node.ledger.store.tx(tx.tx_hash)[1]
        return tx.tx_id, receipt

    def register(self, content: bytes, **overrides: Any) -> str:
        _, receipt = self.call("registry", "register", testkit.register_args(content, **overrides), [REGISTRAR, OWNER])
        assert receipt.ok, receipt.error_code
        return receipt.events[0].subject


def serve(port: Port, body: Callable[[Client], Awaitable[None]]) -> None:
    async def main() -> None:
        async with TestClient(TestServer(make_app(port.node, rate_limit=None))) as client:
            await body(client)

    asyncio.run(main())


async def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"
    document: dict[str, Any] = await response.json(content_type=None)
    assert document["code"] == code
    return document


def scenario() -> tuple[Port, str, str]:
    """Register, appraise, pledge, refused sale, release, sale, derived asset."""
    port = Port()
    original = port.register(b"manifests 2025")
    ok = port.call("valuation", "appraise", {"asset_id": original, "amount": 1_250_000_00, "currency": "CNY",
                                             "method": "income", "report_hash": codec.sha256(b"report")},
                   [APPRAISER])[1]
    assert ok.ok, ok.error_code
    due = port.node.clock_ms + 10**9
    pledge = {"asset_id": original, "pledgee": LENDER.public_key, "amount": 500_000_00, "currency": "CNY",
              "due_ms": due}
    assert port.call("collateral", "pledge", pledge, [OWNER, LENDER])[1].ok
    sale = {"asset_id": original, "new_owner": BUYER.public_key, "price": 9_000_00, "currency": "CNY"}
    refused = port.call("registry", "transfer", sale, [OWNER, BUYER])[1]
    assert refused.error_code == "asset_pledged"
    assert port.call("collateral", "release", {"asset_id": original}, [LENDER])[1].ok
    assert port.call("registry", "transfer", sale, [OWNER, BUYER])[1].ok
    derived = port.register(b"derived statistics", parents=[original])
    return port, original, derived


def test_asset_record_history_lineage_and_valuations() -> None:
    port, original, derived = scenario()

    async def body(client: Client) -> None:
        response = await client.get(f"/v1/assets/{original}")
        assert response.status == 200
        record = await response.json()
        assert record["id"] == original and record["owner"] == BUYER.public_hex and record["owner_org"] == "buyer-co"
        assert record["pledge"] is None and record["certificate"].startswith("SP-2025-")
        assert record["valuation"]["amount"] == 1_250_000_00

        history = await (await client.get(f"/v1/assets/{original}/history")).json()
        names = [e["name"] for e in history["events"]]
        assert names == ["derived", "transferred", "released", "pledged", "appraised", "registered"]
        assert history["complete"] is True
        assert history["lineage"] == {"parents": [], "children": [derived]}
        assert all(len(e["tx_id"]) == 64 and e["timestamp_ms"] > 0 for e in history["events"])
        assert history["events"][-1]["ref"] == record["registered"]
        assert history["events"][0]["ref"] == record["last_event"]
        child = await (await client.get(f"/v1/assets/{derived}/history")).json()
        assert child["lineage"] == {"parents": [original], "children": []}
        assert [e["name"] for e in child["events"]] == ["registered"]

        valuations = await (await client.get(f"/v1/valuations/{original}")).json()
        assert valuations["latest"]["method"] == "income" and len(valuations["history"]) == 1
        assert valuations["history"][0]["report_hash"] == codec.sha256(b"report").hex()
        empty = await (await client.get(f"/v1/valuations/{derived}")).json()
        assert empty == {"height": empty["height"], "asset_id": derived, "latest": None, "history": []}

    serve(port, body)


def test_unknown_and_malformed_ids() -> None:
    port, original, _ = scenario()
    unknown = "ab" * 32

    async def body(client: Client) -> None:
        for path in (f"/v1/assets/{unknown}", f"/v1/assets/{unknown}/history", f"/v1/valuations/{unknown}",
                     "/v1/organisations/nobody"):
            await problem(await client.get(path), 404, "not_found")
        for bad in ("xyz", original.upper(), original[:-1], original + "0"):
            for path in (f"/v1/assets/{bad}", f"/v1/assets/{bad}/history", f"/v1/valuations/{bad}"):
                await problem(await client.get(path), 400, "bad_asset_id")
        await problem(await client.get("/v1/organisations/-bad"), 400, "bad_org_id")
        await problem(await client.get(f"/v1/assets/{original}?verbose=1"), 400, "invalid")

    serve(port, body)


def test_asset_pages_filters_and_bounds() -> None:
    port = Port()
    ids = [port.register(f"content {i}".encode()) for i in range(5)]
    sale = {"asset_id": ids[1], "new_owner": BUYER.public_key}
    assert port.call("registry", "transfer", sale, [OWNER, BUYER])[1].ok

    async def body(client: Client) -> None:
        first = await (await client.get("/v1/assets?per_page=2")).json()
        assert first["total"] == 5 and first["pages"] == 3 and [a["id"] for a in first["items"]] == ids[:2]
        last = await (await client.get("/v1/assets?per_page=2&page=3")).json()
        assert [a["id"] for a in last["items"]] == ids[4:]
        beyond = await (await client.get("/v1/assets?per_page=2&page=9")).json()
        assert beyond["items"] == [] and beyond["total"] == 5
        newest = await (await client.get("/v1/assets?order=newest&per_page=1")).json()
        assert [a["id"] for a in newest["items"]] == [ids[4]]
        default = await (await client.get("/v1/assets")).json()
        assert default["per_page"] == 20 and len(default["items"]) == 5

        owned = await (await client.get(f"/v1/assets?owner={BUYER.public_hex}")).json()
        assert [a["id"] for a in owned["items"]] == [ids[1]] and owned["next_cursor"] is None
        by_org = await (await client.get("/v1/assets?owner_org=owner-co&per_page=2")).json()
        assert [a["id"] for a in by_org["items"]] == [ids[0], ids[2]] and by_org["next_cursor"] == 3
        rest = await (await client.get("/v1/assets?owner_org=owner-co&per_page=2&cursor=3")).json()
        assert [a["id"] for a in rest["items"]] == [ids[3], ids[4]] and rest["next_cursor"] is None

        for query in ("per_page=0", "per_page=101", "page=0", "page=x", "cursor=-1", "owner=zz", "status=gone"):
            await problem(await client.get(f"/v1/assets?{query}"), 400, "invalid")
        await problem(await client.get("/v1/assets?owner_org=owner-co&page=2"), 400, "invalid")  # a scan: cursor
        for path in ("/v1/assets?limit=5", "/v1/assets?offset=2", "/v1/organisations?limit=1"):  # ADR 0024
            await problem(await client.get(path), 400, "renamed_parameter")
        assert first["next_page"] == 2 and last["next_page"] is None and beyond["next_page"] is None
        assert (await client.get("/v1/assets?per_page=100")).status == 200

        orgs = await (await client.get("/v1/organisations?per_page=2&page=2")).json()
        assert orgs["total"] == 6 and [o["id"] for o in orgs["items"]] == ["buyer-co", "bank"]
        assert orgs["pages"] == 3 and orgs["next_page"] == 3 and orgs["page"] == 2 and orgs["per_page"] == 2
        bank = await (await client.get("/v1/organisations/bank")).json()
        assert bank["type"] == "BANK" and bank["jurisdiction"] == "CN"
        await problem(await client.get("/v1/organisations?per_page=500"), 400, "invalid")

    serve(port, body)


def test_openapi_lists_asset_routes() -> None:
    async def body(client: Client) -> None:
        document = await (await client.get("/openapi.json")).json()
        for path in ("/v1/assets", "/v1/assets/{asset_id}", "/v1/assets/{asset_id}/history", "/v1/organisations",
                     "/v1/organisations/{org_id}", "/v1/valuations/{asset_id}"):
            assert "get" in document["paths"][path]
        assert "Asset" in document["components"]["schemas"]

    serve(Port(), body)
