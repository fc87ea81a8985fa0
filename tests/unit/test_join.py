"""Joining as a validator added by governance (ADR 0027): the membership checks of ``node.py init --join``
and ``run`` (bad index, not added yet, removed), the peers' early refusal, trust chains for state sync
(forged ones refused), and the routes ``GET /v1/validators``, ``GET /v1/sync/validators`` and ``POST
/v1/peers/announce`` with their abuse cases (unsigned, forged, replayed, impersonating, malformed, flooding)."""

from __future__ import annotations

import asyncio
import copy
import importlib.util
import json
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from test_proofs_support import VALIDATORS, Port

from chain.api import make_app
from chain.api.validator_auth import sign_request
from chain.config import ApiBudgets, RouteBudget, load_config
from chain.crypto import KeyPair, save_key_file
from chain.errors import ConfigError
from chain.localnode import LocalNode
from chain.proofs.document import Fail
from chain.proofs.verify import Verifier
from chain.runtime import NodeRuntime
from chain.statesync.join import membership_problem, peers_membership_problem, trusted_validators
from chain.storage.leveldb import LevelDBKV
from testkit import contracts as testkit

Client = TestClient[web.Request, web.Application]
_SPEC = importlib.util.spec_from_file_location("silkport_node_script_join", Path(__file__).parents[2] / "node.py")
assert _SPEC is not None and _SPEC.loader is not None
node = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(node)

KEYS = tuple(v.public_key for v in VALIDATORS)
NEW = testkit.key("validator-joining")
NOW_MS = 1_767_225_600_000


# --- membership (pure) ----------------------------------------------------------------------------------


def test_membership_accepts_the_key_at_its_index() -> None:
    assert membership_problem((*KEYS, NEW.public_key), 4, NEW.public_key, 9) is None


def test_membership_names_the_right_index() -> None:
    problem = membership_problem((*KEYS, NEW.public_key), 3, NEW.public_key, 9)
    assert problem is not None and "is validator 4 of the set at height 9, not 3" in problem
    assert '"index": 4' in problem and "--index 4" in problem


def test_membership_of_a_key_not_yet_enacted_says_when() -> None:
    problem = membership_problem(KEYS, 4, NEW.public_key, 6, pending=(*KEYS, NEW.public_key))
    assert problem is not None and "pending validator set (as 4)" in problem and "next checkpoint" in problem


@pytest.mark.parametrize("index", [0, 4, 99])
def test_membership_of_an_unknown_or_removed_key_is_refused_at_any_index(index: int) -> None:
    problem = membership_problem(KEYS, index, NEW.public_key, 12)
    assert problem is not None and "not in the validator set at height 12 (4 validators)" in problem
    assert "never added it" in problem and "removed it since" in problem


def answer(keys: tuple[bytes, ...], height: int = 10, pending: tuple[bytes, ...] | None = None) -> dict[str, Any]:
    def rows(ks: tuple[bytes, ...]) -> list[dict[str, Any]]:
        return [{"index": i, "public_key": k.hex()} for i, k in enumerate(ks)]

    return {"height": height, "validators": rows(keys), "pending": None if pending is None else rows(pending)}


def test_peers_refuse_early_only_when_f_plus_one_agree() -> None:
    member = answer((*KEYS, NEW.public_key))
    stranger = answer(KEYS)
    assert peers_membership_problem([stranger], 4, NEW.public_key, 4) is None  # one (maybe lying) peer: no
    assert peers_membership_problem([stranger, member, member], 4, NEW.public_key, 4) is None
    problem = peers_membership_problem([stranger, answer(KEYS, 11), member], 4, NEW.public_key, 4)
    assert problem is not None and "not in the validator set" in problem  # f + 1 = 2 at different heights
    junk: list[dict[str, Any]] = [{"validators": "x"}, {}, {"height": 1, "validators": [{"public_key": "zz"}]}]
    assert peers_membership_problem([*junk, stranger], 4, NEW.public_key, 4) is None


# --- node.py init ---------------------------------------------------------------------------------------


def write_home_inputs(tmp_path: Path, port: Port, key: KeyPair) -> list[str]:
    (tmp_path / "genesis.json").write_text(json.dumps(port.document))
    save_key_file(tmp_path / "key.json", key)
    return ["init", "--genesis", str(tmp_path / "genesis.json"), "--key", str(tmp_path / "key.json"),
            "--listen", "127.0.0.1:30000", "--p2p-listen", "127.0.0.1:30001"]


PEER = ["--peer", "0=http://127.0.0.1:30002,127.0.0.1:30003"]


def test_init_without_join_refuses_a_key_outside_genesis_and_names_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = write_home_inputs(tmp_path, Port(), NEW)
    assert node.main([*base, "--home", str(tmp_path / "h"), "--index", "4", *PEER]) == 1
    error = capsys.readouterr().err
    assert "not validator 4 of the genesis file" in error and "--join" in error and "GET /v1/validators" in error


def test_init_without_join_names_the_genesis_index_of_a_typo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = write_home_inputs(tmp_path, Port(), VALIDATORS[2])
    assert node.main([*base, "--home", str(tmp_path / "h"), "--index", "1"]) == 1
    assert "(it is validator 2)" in capsys.readouterr().err


def test_init_join_needs_peers_and_a_sane_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = write_home_inputs(tmp_path, Port(), NEW)
    assert node.main([*base, "--home", str(tmp_path / "a"), "--index", "4", "--join"]) == 1
    assert "--join needs --peer" in capsys.readouterr().err
    assert node.main([*base, "--home", str(tmp_path / "b"), "--index", "-1", "--join", *PEER]) == 1
    assert "--index -1" in capsys.readouterr().err


def test_init_join_records_that_the_node_starts_by_state_sync(tmp_path: Path) -> None:
    base = write_home_inputs(tmp_path, Port(), NEW)
    assert node.main([*base, "--home", str(tmp_path / "h"), "--index", "4", "--join", *PEER,
                      "--advertise-p2p", "10.0.0.9:26656"]) == 0
    config = load_config(tmp_path / "h")
    assert config.join and config.index == 4 and 0 in config.peers
    assert config.advertise is not None and config.advertise.p2p == "10.0.0.9:26656"
    assert config.advertise.api == "http://127.0.0.1:30000"
    assert node.first_start(tmp_path / "h", config)


# --- node.py run: the check from the certified state ------------------------------------------------------


def home_with_chain(tmp_path: Path, key: KeyPair, index: int, build: Callable[[Port], None]) -> Path:
    """A node home whose LevelDB holds the chain ``build`` makes (as after a state sync or a replay)."""
    port = Port(validators=[*VALIDATORS, NEW])
    base = write_home_inputs(tmp_path, port, key)
    home = tmp_path / "home"
    assert node.main([*base, "--home", str(home), "--index", str(index), "--join", *PEER]) == 0
    kv = LevelDBKV(home / "data")
    port.node = LocalNode(port.node.ledger.genesis, [*VALIDATORS, NEW], kv=kv)
    build(port)
    kv.close()
    return home


def add(port: Port) -> None:
    port.governance("add_validator", {"public_key": NEW.public_key, "name": "v4", "organisation": "port",
                                      "jurisdiction": "CN"})


def refusal(home: Path) -> str:
    with pytest.raises(ConfigError) as info:
        NodeRuntime(home, load_config(home))
    assert info.value.code == "not_a_validator"
    return info.value.message


def test_run_refuses_a_key_not_added_yet(tmp_path: Path) -> None:
    home = home_with_chain(tmp_path, NEW, 4, add)  # committed at height 1; enacted at checkpoint 4
    assert "pending validator set (as 4)" in refusal(home)
    assert not node.first_start(home, load_config(home))


def test_run_refuses_a_wrong_index_and_names_the_right_one(tmp_path: Path) -> None:
    home = home_with_chain(tmp_path, NEW, 3, lambda port: (add(port), port.blocks(4)))
    assert "is validator 4 of the set at height 5, not 3" in refusal(home)


def test_run_refuses_a_removed_key(tmp_path: Path) -> None:
    def add_then_remove(port: Port) -> None:
        add(port)
        port.blocks(3)  # checkpoint 4 enacts the 5-validator set
        port.governance("remove_validator", {"public_key": NEW.public_key})
        port.blocks(3)  # checkpoint 8 removes it

    home = home_with_chain(tmp_path, NEW, 4, add_then_remove)
    assert "not in the validator set at height 8 (4 validators)" in refusal(home)


def test_run_accepts_the_added_key_at_its_index(tmp_path: Path) -> None:
    home = home_with_chain(tmp_path, NEW, 4, lambda port: (add(port), port.blocks(4)))
    runtime = NodeRuntime(home, load_config(home))
    try:
        assert runtime.index == 4 and runtime.replica.config.my_index == 4 and runtime.replica.n == 5
        assert runtime.replica.config.previous_validators == KEYS and runtime.replica.config.epoch_start == 5
    finally:
        runtime.ledger.close()


# --- trust chains ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def grown() -> Port:
    port = Port(validators=[*VALIDATORS, NEW])
    add(port)
    port.blocks(5)  # checkpoint 4 enacts; height 6
    return port


def test_a_trust_chain_names_the_set_that_certified_the_header(grown: Port) -> None:
    verifier = Verifier(grown.document)
    header, keys = verifier.validator_set_at(chain_document(grown, 6))
    assert header.height == 6 and keys == (*KEYS, NEW.public_key)
    header, keys = verifier.validator_set_at(chain_document(grown, 4))  # the checkpoint itself: the old set
    assert header.height == 4 and keys == KEYS


def chain_document(port: Port, height: int) -> dict[str, Any]:
    from chain.proofs.build import ProofBuilder

    return json.loads(json.dumps(ProofBuilder(port.node.ledger).validator_chain(height)))


def test_a_forged_or_truncated_trust_chain_is_refused(grown: Port) -> None:
    verifier = Verifier(grown.document)
    document = chain_document(grown, 6)
    with pytest.raises(Fail, match="validator-set change is missing"):
        verifier.validator_set_at({**document, "validator_changes": []})
    forged = copy.deepcopy(document)
    forged["validator_changes"][0]["validators"][4]["public_key"] = KeyPair.generate().public_hex
    with pytest.raises(Fail, match="gov/validators"):
        verifier.validator_set_at(forged)
    with pytest.raises(Fail, match="trust chain of chain"):
        verifier.validator_set_at({**document, "chain_id": "other"})
    with pytest.raises(Fail, match="unknown field"):
        verifier.validator_set_at({**document, "extra": 1})
    with pytest.raises(Fail):
        verifier.validator_set_at({**document, "certified": "x"})


def test_trusted_validators_skips_peers_whose_chain_does_not_verify(grown: Port) -> None:
    good = json.dumps(chain_document(grown, 6)).encode()
    bad = json.dumps({**chain_document(grown, 6), "validator_changes": []}).encode()
    answers = {0: b"not json", 1: bad, 2: good}

    async def fetch(peer: int, path: str) -> bytes:
        assert path.startswith("/v1/sync/validators?height=")
        if peer == 3:
            raise OSError("unreachable")
        return answers[peer]

    genesis = grown.node.ledger.genesis
    found = asyncio.run(trusted_validators(fetch, [3, 0, 1, 2], genesis, 6))
    assert found is not None and found[1] == (*KEYS, NEW.public_key)
    assert asyncio.run(trusted_validators(fetch, [0, 1, 3], genesis, 6)) is None
    assert asyncio.run(trusted_validators(fetch, [2], genesis, 5)) is None  # a chain for another height


def test_a_store_installed_from_a_snapshot_serves_no_trust_chain(grown: Port) -> None:
    from chain.errors import NotFoundError
    from chain.proofs.build import ProofBuilder

    ledger = grown.node.ledger
    ledger.snapshot_base = 4
    try:
        with pytest.raises(NotFoundError, match="snapshot at 4"):
            ProofBuilder(ledger).validator_chain(6)
    finally:
        ledger.snapshot_base = 0


# --- routes ---------------------------------------------------------------------------------------------


class AnnouncedNode:
    """The port's LocalNode as the API sees it, recording announcements as the runtime would."""

    def __init__(self, local: LocalNode) -> None:
        self.local, self.index = local, 0
        self.chain_id, self.ledger = local.chain_id, local.ledger
        self.announced: list[tuple[int, str, str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.local, name)

    def peer_announced(self, index: int, p2p: str, api: str) -> dict[str, Any]:
        self.announced.append((index, p2p, api))
        return {"index": index, "p2p": p2p, "api": api, "dialling": index > self.index}


def serve(port: Port, body: Callable[[Client, AnnouncedNode], Awaitable[None]], budgets: ApiBudgets | None = None) -> None:
    local = AnnouncedNode(port.node)

    async def main() -> None:
        app = make_app(local, rate_limit=None, budgets=budgets, clock_ms=lambda: NOW_MS)  # type: ignore[arg-type]
        async with TestClient(TestServer(app)) as client:
            await body(client, local)

    asyncio.run(main())


def test_get_validators_shows_the_current_and_pending_sets(grown: Port) -> None:
    async def body(client: Client, local: AnnouncedNode) -> None:
        answer = await (await client.get("/v1/validators")).json()
        assert answer["height"] == 6 and answer["next_checkpoint"] == 8 and answer["pending"] is None
        assert [v["index"] for v in answer["validators"]] == [0, 1, 2, 3, 4]
        assert answer["validators"][4]["public_key"] == NEW.public_hex and answer["validators"][4]["name"] == "v4"
        assert (await client.get("/v1/validators?x=1")).status == 400

    serve(grown, body)


def test_get_validators_shows_a_pending_change_and_when_it_takes_effect() -> None:
    port = Port(validators=[*VALIDATORS, NEW])
    add(port)

    async def body(client: Client, local: AnnouncedNode) -> None:
        answer = await (await client.get("/v1/validators")).json()
        assert answer["height"] == 1 and answer["next_checkpoint"] == 4 and len(answer["validators"]) == 4
        assert [v["index"] for v in answer["pending"]] == [0, 1, 2, 3, 4]
        assert answer["pending"][4]["public_key"] == NEW.public_hex

    serve(port, body)


def test_get_sync_validators_serves_a_verifiable_chain_and_refuses_bad_heights(grown: Port) -> None:
    async def body(client: Client, local: AnnouncedNode) -> None:
        response = await client.get("/v1/sync/validators?height=6")
        assert response.status == 200
        _header, keys = Verifier(grown.document).validator_set_at(await response.json())
        assert keys == (*KEYS, NEW.public_key)
        for query, status in (("", 400), ("?height=0", 400), ("?height=abc", 400), ("?height=7", 404),
                              ("?height=99999999999999999999999", 400), ("?height=6&chunk=1", 400)):
            assert (await client.get("/v1/sync/validators" + query)).status == status, query

    serve(grown, body)


def announce_headers(signer: KeyPair, index: int, path: str, nonce: bytes | None = None) -> dict[str, str]:
    return sign_request(signer, index, testkit.CHAIN_ID, "POST", path, NOW_MS, nonce or secrets.token_bytes(16))


ANNOUNCE = "/v1/peers/announce?p2p=127.0.0.1:4001&api=http://127.0.0.1:4000"


def test_announce_from_a_validator_is_recorded(grown: Port) -> None:
    async def body(client: Client, local: AnnouncedNode) -> None:
        response = await client.post(ANNOUNCE, headers=announce_headers(NEW, 4, ANNOUNCE))
        assert response.status == 200, await response.text()
        assert (await response.json())["dialling"] is True
        assert local.announced == [(4, "127.0.0.1:4001", "http://127.0.0.1:4000")]

    serve(grown, body)


def test_announce_abuse_is_refused_and_changes_nothing(grown: Port) -> None:
    async def body(client: Client, local: AnnouncedNode) -> None:
        assert (await client.post(ANNOUNCE)).status == 401  # unsigned
        forged = announce_headers(NEW, 4, ANNOUNCE)
        forged["X-Silkport-Signature"] = "00" * 64
        assert (await client.post(ANNOUNCE, headers=forged)).status == 401
        assert (await client.post(ANNOUNCE, headers=announce_headers(NEW, 3, ANNOUNCE))).status == 401  # impersonates 3
        stranger = KeyPair.generate()
        assert (await client.post(ANNOUNCE, headers=announce_headers(stranger, 4, ANNOUNCE))).status == 401
        assert (await client.post(ANNOUNCE, headers=announce_headers(NEW, 9, ANNOUNCE))).status == 401
        other = ANNOUNCE.replace("4001", "4002")  # signed for one address, sent with another
        assert (await client.post(other, headers=announce_headers(NEW, 4, ANNOUNCE))).status == 401
        nonce = b"\x07" * 16
        assert (await client.post(ANNOUNCE, headers=announce_headers(NEW, 4, ANNOUNCE, nonce))).status == 200
        assert (await client.post(ANNOUNCE, headers=announce_headers(NEW, 4, ANNOUNCE, nonce))).status == 401  # replay
        for bad in ("/v1/peers/announce?p2p=nohost&api=http://h:1", "/v1/peers/announce?p2p=h:1&api=ftp://h",
                    "/v1/peers/announce?p2p=h:1", "/v1/peers/announce?p2p=h:1&api=http://h:1&x=1"):
            assert (await client.post(bad, headers=announce_headers(NEW, 4, bad))).status == 400, bad
        own = announce_headers(VALIDATORS[0], 0, ANNOUNCE)
        assert (await client.post(ANNOUNCE, headers=own)).status == 400  # itself
        assert (await client.post(ANNOUNCE, data=b"\xff" * 1000, headers=announce_headers(NEW, 4, ANNOUNCE))).status == 200
        assert len(local.announced) == 2  # the two accepted ones only

    serve(grown, body)


def test_announce_floods_are_rate_limited(grown: Port) -> None:
    tight = RouteBudget(rate_per_s=1, burst=2, global_rate_per_s=1, global_burst=3, in_flight_per_address=1,
                        in_flight_global=2)

    async def body(client: Client, local: AnnouncedNode) -> None:
        statuses = [(await client.post(ANNOUNCE, headers=announce_headers(NEW, 4, ANNOUNCE))).status for _ in range(6)]
        assert statuses[:2] == [200, 200] and statuses[-1] == 429

    serve(grown, body, ApiBudgets(write=tight))


def test_state_sync_agrees_on_a_snapshot_certified_by_a_later_set() -> None:
    """A store at genesis (the 4 genesis keys) cannot check checkpoint 8, certified by the 5 of the set
    enacted at 4: it learns that set from a verified trust chain, then the f + 1 manifests agree."""
    from chain.crypto import Signer
    from chain.statesync.snapshot import Manifest
    from chain.statesync.source import SnapshotSource
    from chain.statesync.sync import agree, agree_across_sets, offered_heights

    port = Port(validators=[*VALIDATORS, NEW])
    add(port)
    port.blocks(9)  # checkpoint 4 enacts the 5; height 10, latest checkpoint 8
    ledger = port.node.ledger
    sources = {p: SnapshotSource(ledger, Signer(key), lambda p=p: p) for p, key in enumerate([*VALIDATORS, NEW])}
    trust = json.dumps(chain_document(port, 8)).encode()

    async def fetch(peer: int, path: str) -> bytes:
        if path.startswith("/v1/sync/validators"):
            return trust if peer != 0 else b"{}"  # peer 0 serves junk: the next one is asked
        height = int(path.split("height=")[1]) if "height=" in path else 8
        return sources[peer].manifest(height)

    genesis = ledger.genesis
    peers = [0, 1, 2, 4]
    assert asyncio.run(offered_heights(fetch, peers)) == [8]
    assert asyncio.run(agree(fetch, peers, genesis.chain_id, KEYS)) is None  # the old way: refused
    manifest = asyncio.run(agree_across_sets(fetch, peers, genesis, KEYS))
    assert isinstance(manifest, Manifest) and manifest.height == 8
    assert manifest.header.block_hash == ledger.store.header(8).block_hash  # type: ignore[union-attr]

    async def forged_trust(peer: int, path: str) -> bytes:
        if path.startswith("/v1/sync/validators"):
            return json.dumps({**chain_document(port, 8), "validator_changes": []}).encode()
        return await fetch(peer, path)

    assert asyncio.run(agree_across_sets(forged_trust, peers, genesis, KEYS)) is None


# --- python -m devnet join: its refusals ----------------------------------------------------------------


def test_devnet_join_refuses_a_devnet_that_is_down_or_short_of_authority_keys(tmp_path: Path) -> None:
    import argparse

    from devnet import join as devnet_join
    from devnet import layout

    manifest = layout.create_layout(tmp_path / "d", 4)
    manifest.save()
    args = argparse.Namespace(dir=str(tmp_path / "d"), key=None, no_register=False, enact_timeout=1.0,
                              ready_timeout=1.0, log_level="info")
    with pytest.raises(ConfigError, match="is down"):
        devnet_join.cmd_join(args)
    assert not (tmp_path / "d" / "keys" / "node4.json").exists()  # nothing written
    assert len(devnet_join._authorities(tmp_path / "d", manifest.genesis)) == 2
    for k in (0, 1):
        (tmp_path / "d" / "authorities" / f"authority{k}.json").unlink()
    with pytest.raises(ConfigError, match="needs 2 genesis authority keys; .* holds 1"):
        devnet_join._authorities(tmp_path / "d", manifest.genesis)
