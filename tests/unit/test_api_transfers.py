"""``/v1/transfers``, ``/v1/transfers/{id}`` and ``/v1/policy`` on a LocalNode (real ledger, certified blocks)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from chain import codec
from chain.api import make_app
from chain.client import AsyncClient
from chain.crossborder.contract import transfer_id_for
from chain.genesis import parse_genesis
from chain.localnode import LocalNode
from chain.types import make_tx
from testkit import contracts as tk

CUSTOMS = tk.key("customs-officer")
Client = TestClient[web.Request, web.Application]


def local_node() -> LocalNode:
    organisations = [*tk.PORT_ORGANISATIONS, {"id": "customs", "name": "Customs", "jurisdiction": "CN",
                                              "type": "CUSTOMS", "members": [CUSTOMS.public_hex]}]
    document = tk.genesis_document(organisations=organisations, roles=[*tk.PORT_ROLES, (CUSTOMS, "customs")])
    return LocalNode(parse_genesis(document), [tk.key(f"validator-{i}") for i in range(4)])


class Driver:
    """Signs with per-sender nonces and commits one block per call."""

    def __init__(self, node: LocalNode) -> None:
        self.node = node
        self.nonces: dict[bytes, int] = {}
        self.last_tx_hash = b""

    def commit(self, contract: str, method: str, args: dict[str, Any], signers: list[Any]) -> dict[str, Any]:
        sender = signers[0].public_key
        self.nonces[sender] = self.nonces.get(sender, 0) + 1
        tx = make_tx(self.node.chain_id, contract, method, args, signers, self.nonces[sender])
        self.last_tx_hash = tx.tx_hash
        self.node.submit_tx(tx)
        self.node.produce_block()
        info = self.node.get_tx(tx.tx_hash)
        assert info is not None and info["receipt"]["ok"], info
        return info


def lifecycle(driver: Driver) -> tuple[str, str, str]:
    """A PI asset: request (REQUIRE) → filing → attach (CLEARED); plus an exempt and a denied transfer."""
    driver.commit("registry", "register", tk.register_args(b"pi", classification=tk.classification(
        contains_pi=True, sensitive_pi=True, subjects=10, sensitive_subjects=1)), [tk.REGISTRAR, tk.OWNER])
    asset_id = codec.sha256(driver.last_tx_hash + codec.sha256(b"pi")).hex()
    args = {"asset_id": asset_id, "recipient": "foreign-co", "destination": "DE", "purpose": "other",
            "lawful_basis": "CONTRACT", "subjects": 10, "sensitive_subjects": 1,
            "attestations": {"notice": "n", "pipia": "p"}}
    driver.commit("crossborder", "request", args, [tk.OWNER])
    pending = transfer_id_for(driver.last_tx_hash)
    driver.commit("governance", "register_decision", {
        "id": "SC-1", "kind": "standard_contract", "holder": "owner-co", "status": "FILED",
        "effective": "2025-01-01", "filing_id": "F-1"}, list(tk.AUTHORITIES[:2]))
    driver.commit("crossborder", "attach_evidence", {"transfer_id": pending, "decisions": ["SC-1"]}, [tk.OWNER])
    driver.commit("crossborder", "customs_review", {"transfer_id": pending, "approve": True, "note": "ok"}, [CUSTOMS])
    driver.commit("crossborder", "request", {**args, "subjects": 0, "sensitive_subjects": 0, "purpose": "hr"},
                  [tk.OWNER])
    driver.commit("registry", "register", tk.register_args(b"core", classification=tk.classification(grade="CORE")),
                  [tk.REGISTRAR, tk.OWNER])
    core_id = codec.sha256(driver.last_tx_hash + codec.sha256(b"core")).hex()
    driver.commit("crossborder", "request", {**args, "asset_id": core_id, "subjects": 0, "sensitive_subjects": 0},
                  [tk.OWNER])
    return asset_id, pending, transfer_id_for(driver.last_tx_hash)


def run(body: Any) -> None:
    node = local_node()

    async def main() -> None:
        async with TestClient(TestServer(make_app(node, rate_limit=None))) as client:
            await body(client, Driver(node))

    asyncio.run(main())


async def problem(response: Any, status: int, code: str) -> None:
    assert response.status == status, await response.text()
    assert (await response.json(content_type=None))["code"] == code


def test_transfer_routes_show_decisions_rules_and_policy_version() -> None:
    async def body(client: Client, driver: Driver) -> None:
        asset_id, released, denied = lifecycle(driver)
        response = await client.get(f"/v1/transfers/{released}")
        assert response.status == 200
        record = await response.json()
        assert record["state"] == "RELEASED" and record["asset_id"] == asset_id
        assert record["decision"]["decision"] == "ALLOW" and record["decision"]["policy_version"] == 1
        assert record["decision"]["rules"] == ["R13b", "R14", "R16"] and record["decisions"] == {"standard_contract": "SC-1"}
        assert [step["action"] for step in record["history"]] == ["requested", "evidence", "reviewed"]
        assert record["history"][0]["decision"]["requires"] == ["sc_or_cert"]

        page = await (await client.get("/v1/transfers")).json()
        assert page["total"] == 3 and page["items"][0]["id"] == denied
        by_state = await (await client.get("/v1/transfers?state=DENIED")).json()
        assert [t["id"] for t in by_state["items"]] == [denied]
        by_asset = await (await client.get(f"/v1/transfers?asset={asset_id}&order=oldest&per_page=1")).json()
        assert [t["id"] for t in by_asset["items"]] == [released] and by_asset["next_page"] == 2
        by_exporter = await (await client.get("/v1/transfers?exporter=owner-co")).json()
        assert by_exporter["total"] == 3
        second = await (await client.get(f"/v1/transfers?asset={asset_id}&order=oldest&per_page=1&page=2")).json()
        assert second["page"] == 2 and second["per_page"] == 1 and second["pages"] == by_asset["pages"]
        assert [t["id"] for t in second["items"]] != [released]
        last = await (await client.get(f"/v1/transfers?page={page['pages']}")).json()
        assert last["next_page"] is None and set(last) == {"total", "page", "per_page", "pages", "next_page", "items"}
        beyond = await (await client.get("/v1/transfers?page=99")).json()
        assert beyond["items"] == [] and beyond["next_page"] is None
        for old in ("offset=0", "limit=5", "offset=1&limit=1"):  # ADR 0024: renamed, a clear 400
            answer = await client.get(f"/v1/transfers?{old}")
            body_ = await answer.json(content_type=None)
            assert answer.status == 400 and body_["code"] == "renamed_parameter"
            assert "page" in body_["detail"] and "per_page" in body_["detail"]
        await problem(await client.get("/v1/transfers?page=0"), 400, "invalid")
        scan = await (await client.get("/v1/transfers?state=RELEASED&per_page=1&order=oldest")).json()
        assert [t["id"] for t in scan["items"]] == [released] and "page" not in scan
        assert scan["cursor"] == 0 and scan["next_cursor"] is not None
        rest = await (await client.get(f"/v1/transfers?state=RELEASED&order=oldest&cursor={scan['next_cursor']}")).json()
        assert all(t["id"] != released for t in rest["items"]) and rest["next_cursor"] is None
        await problem(await client.get("/v1/transfers?state=RELEASED&page=2"), 400, "invalid")  # scans use cursor

        await problem(await client.get("/v1/transfers/" + "0" * 64), 404, "not_found")
        await problem(await client.get("/v1/transfers/XYZ"), 400, "bad_transfer_id")
        await problem(await client.get("/v1/transfers?state=LOST"), 400, "invalid")
        await problem(await client.get("/v1/transfers?per_page=0"), 400, "invalid")
        await problem(await client.get("/v1/transfers?colour=red"), 400, "invalid")

        policy = await (await client.get("/v1/policy")).json()
        assert policy["version"] == 1 and policy["current"] == 1 and policy["document"]["mainland"] == "CN"
        assert (await (await client.get("/v1/policy?version=1")).json())["sha256"] == policy["sha256"]
        await problem(await client.get("/v1/policy?version=2"), 404, "not_found")
        await problem(await client.get("/v1/policy?version=zero"), 400, "invalid")

        async with AsyncClient(str(client.make_url(""))) as api:
            assert (await api.transfer(released))["state"] == "RELEASED"
            assert (await api.transfers(state="DENIED"))["items"][0]["id"] == denied
            assert (await api.policy(1))["version"] == 1
        openapi = await (await client.get("/openapi.json")).json()
        for path in ("/v1/transfers", "/v1/transfers/{transfer_id}", "/v1/policy"):
            assert "get" in openapi["paths"][path]
        assert {"Transfer", "TransferPage", "Policy"} <= set(openapi["components"]["schemas"])

    run(body)


def test_sync_client_methods() -> None:
    async def body(client: Client, driver: Driver) -> None:
        _, released, _ = lifecycle(driver)
        from chain.client import Client as SyncClient

        api = SyncClient(str(client.make_url("")))
        record = await asyncio.to_thread(api.transfer, released)
        assert record["id"] == released
        page = await asyncio.to_thread(lambda: api.transfers(exporter="owner-co", per_page=2))
        assert len(page["items"]) == 2
        assert (await asyncio.to_thread(api.policy))["version"] == 1

    run(body)


def test_cli_transfer_commands(tmp_path: Any, capsys: Any) -> None:
    import json as jsonlib

    from chain.cli import main
    from chain.crypto import save_key_file

    for name, keypair in (("owner", tk.OWNER), ("foreign", tk.FOREIGN), ("customs", CUSTOMS)):
        save_key_file(tmp_path / f"{name}.json", keypair)

    async def body(client: Client, driver: Driver) -> None:
        asset_id, _, _ = lifecycle(driver)
        url = str(client.make_url("")).rstrip("/")

        async def produce() -> None:
            while True:
                if len(driver.node.ledger.mempool):
                    driver.node.produce_block()
                await asyncio.sleep(0.01)

        producer = asyncio.create_task(produce())

        async def cli(*argv: str) -> tuple[int, str]:
            capsys.readouterr()
            code = await asyncio.to_thread(main, [*argv, "--node", url])
            return code, capsys.readouterr().out

        try:
            code, out = await cli("transfer", "request", "--key", str(tmp_path / "owner.json"), "--asset", asset_id,
                                  "--recipient", "foreign-co", "--destination", "DE", "--purpose", "other",
                                  "--basis", "CONTRACT", "--subjects", "5", "--sensitive", "1",
                                  "--declare", "notice=doc-1", "--declare", "pipia=doc-2", "--json")
            assert code == 0, out
            record = jsonlib.loads(out)
            assert record["state"] == "PENDING_EVIDENCE" and record["decision"]["requires"] == ["sc_or_cert"]
            transfer_id = record["id"]
            code, out = await cli("transfer", "evidence", transfer_id, "--key", str(tmp_path / "owner.json"),
                                  "--decision", "SC-1")
            assert code == 0 and "CLEARED" in out, out
            ack = ("transfer", "ack", transfer_id, "--key", str(tmp_path / "foreign.json"),
                   "--content-hash", codec.sha256(b"pi").hex(), "--chunk-root", codec.sha256(b"root").hex(), "--json")
            code, out = await cli(*ack)
            assert code == 1 and '"error_code": "bad_state"' in out  # not released yet
            code, out = await cli("transfer", "review", transfer_id, "--key", str(tmp_path / "customs.json"),
                                  "--approve", "--note", "checked")
            assert code == 0 and "RELEASED" in out, out
            code, out = await cli(*ack)
            assert code == 1 and '"error_code": "not_delivered"' in out  # ADR 0022: no delivery yet
            code, out = await cli("transfer", "show", transfer_id)
            assert code == 0 and "R13b" in out
            declarations = next(line for line in out.splitlines() if line.startswith("declarations"))
            assert '"notice": "doc-1"' in declarations and '"pipia": "doc-2"' in declarations, out
            assert '"SC-1"' in next(line for line in out.splitlines() if line.startswith("decisions"))
            code, out = await cli("transfer", "list", "--state", "RELEASED")
            assert code == 0 and transfer_id[:16] in out and "scan from cursor 0" in out
            code, out = await cli("transfer", "list", "--per-page", "1", "--page", "1")
            assert code == 0 and "more with --page 2" in out, out
            capsys.readouterr()  # renamed (ADR 0024): fails and says how
            code = await asyncio.to_thread(main, ["transfer", "list", "--offset", "1", "--node", url])
            assert code == 1 and "--page" in capsys.readouterr().err
            code, out = await cli("transfer", "revoke", transfer_id, "--key", str(tmp_path / "owner.json"))
            assert code == 1
        finally:
            producer.cancel()

    run(body)
