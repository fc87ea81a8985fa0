"""ADR 0012: every method declares its callers; nobody is refused at admission and leaves no state;
per-sender state quota and pending cap; ``noop`` only on test chains."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain import codec, statekeys
from chain.consensus.mempool import Mempool
from chain.contracts import default_registry
from chain.contracts.callers import Callers
from chain.crypto import KeyPair
from chain.errors import NotPermittedError, QuotaError, ValidationError
from chain.execution import BlockInvalidError
from chain.genesis import Params, parse_genesis
from chain.ledger import Ledger
from chain.quota import QuotaRule, charge
from chain.storage.kv import MemoryKV
from chain.types import make_tx
from testkit.contracts import (
    APPRAISER,
    AUTHORITIES,
    LENDER,
    OWNER,
    PORT_ORGANISATIONS,
    PORT_ROLES,
    REGISTRAR,
    TestChain,
    genesis_document,
    key,
    port_chain,
    register_args,
)

DECLARED = {
    "anchoring.anchor": "role registrar",
    "collateral.enforce": "pledgee",
    "collateral.pledge": "asset owner",
    "collateral.release": "pledgee",
    "crossborder.acknowledge": "member",
    "crossborder.attach_evidence": "member",
    "crossborder.delivered": "validator",
    "crossborder.customs_review": "role customs",
    "crossborder.request": "member",
    "crossborder.revoke": "member or authority quorum",
    "registry.licence": "asset owner",
    "registry.register": "role registrar",
    "registry.retire": "asset owner or role registrar",
    "registry.set_content_layout": "asset owner",
    "registry.transfer": "asset owner",
    "registry.update_classification": "role registrar",
    "valuation.appraise": "role appraiser",
    **{f"governance.{name}": "authority quorum" for name in (
        "register_organisation", "update_organisation", "add_member", "remove_member", "grant_role",
        "revoke_role", "add_validator", "remove_validator", "rotate_validator_key", "update_policy",
        "register_decision", "set_decision_status")},
}
NOBODY = key("nobody-at-all")
CUSTOMS = key("customs-officer")


def test_every_method_declares_its_callers_from_the_vocabulary() -> None:
    declared = {f"{m.contract}.{m.name}": m.callers.describe() for m in default_registry().methods()}
    assert declared == DECLARED
    test_only = {f"{m.contract}.{m.name}": m.callers.describe() for m in default_registry(test_mode=True).methods()}
    assert test_only == {**DECLARED, "noop.ping": "anyone", "noop.put": "anyone", "noop.fail": "anyone"}


def test_the_vocabulary_is_closed() -> None:
    with pytest.raises(ValueError):
        Callers("root")
    with pytest.raises(ValueError):
        Callers.role("king")
    with pytest.raises(ValueError):
        Callers.any_of(Callers.member(), code="x")


def _ledger(**params: Any) -> Ledger:
    roles = [*PORT_ROLES, (CUSTOMS, "customs")]
    document = genesis_document(organisations=PORT_ORGANISATIONS, roles=roles, params=params or None)
    return Ledger(MemoryKV(), parse_genesis(document))


def _admission(ledger: Ledger, signers: list[KeyPair], contract: str, method: str) -> str:
    tx = make_tx(ledger.chain_id, contract, method, {}, signers, 1)
    try:
        ledger.admit(tx, len(tx.encode()))
    except (NotPermittedError, ValidationError) as exc:
        return exc.code
    ledger.mempool.discard(tx.tx_hash)
    return ""


WHO = {
    "nobody": [NOBODY],
    "registrar": [REGISTRAR],
    "appraiser": [APPRAISER],
    "lender": [LENDER],
    "customs": [CUSTOMS],
    "member": [OWNER],
    "one authority": [AUTHORITIES[0]],
    "quorum": list(AUTHORITIES[:2]),
    "nobody + quorum": [NOBODY, *AUTHORITIES[:2]],
    "validator": [key("validator-0")],
}
REFUSAL = {"role": "missing_role", "authority quorum": "no_quorum", "member": "unknown_member",
           "asset owner": "unknown_member", "pledgee": "unknown_member", "validator": "not_validator"}


def _admits(declared: str, who: str) -> bool:
    """The admission rule of ADR 0012, written out by hand for the table below."""
    held = {
        "nobody": set(), "registrar": {"member", "role registrar"}, "appraiser": {"member", "role appraiser"},
        "lender": {"member", "role lender"}, "customs": {"role customs"}, "member": {"member"},
        "one authority": set(), "quorum": {"authority quorum"}, "nobody + quorum": {"authority quorum"},
        "validator": {"validator"},
    }[who]
    needs = {"asset owner": {"member"}, "pledgee": {"member", "role lender"}}
    for alternative in declared.split(" or "):
        if held & needs.get(alternative, {alternative}):
            return True
    return False


@pytest.mark.parametrize("who", sorted(WHO))
def test_admission_table_over_every_method_and_signer(who: str) -> None:
    ledger = _ledger()
    for name, declared in DECLARED.items():
        contract, method = name.split(".")
        code = _admission(ledger, WHO[who], contract, method)
        if _admits(declared, who):
            assert code == "", (name, who, code)
        else:
            expected = "not_exporter" if " or " in declared and "authority" in declared else (
                "not_owner" if " or " in declared else REFUSAL[declared.split(" ")[0] if declared.startswith("role")
                                                           else declared])
            assert code == expected, (name, who, code)
    assert ledger.mempool.size_bytes == 0 and len(ledger.mempool) == 0


def test_admission_message_names_the_role_and_the_signer() -> None:
    ledger = _ledger()
    tx = make_tx(ledger.chain_id, "registry", "register", register_args(b"x", owner=NOBODY), [NOBODY], 1)
    with pytest.raises(NotPermittedError) as info:
        ledger.admit(tx, len(tx.encode()))
    assert info.value.code == "missing_role"
    assert info.value.message == f"registry.register: signer {NOBODY.public_hex[:16]}… lacks role registrar"
    assert ledger.state_get(statekeys.nonce_key(NOBODY.public_key)) is None and len(ledger.mempool) == 0


@settings(max_examples=150, deadline=None)
@given(method=st.sampled_from(sorted(DECLARED)), count=st.integers(1, 3), seed=st.binary(min_size=8, max_size=8),
       args=st.dictionaries(st.sampled_from(["asset_id", "transfer_id", "public_key", "hashes", "id", "x"]),
                            st.one_of(st.text(max_size=70), st.binary(max_size=40), st.integers(-(2**63), 2**63 - 1)), max_size=3))
def test_random_nobodies_change_nothing_even_inside_a_block(method: str, count: int, seed: bytes,
                                                              args: dict[str, Any]) -> None:
    """A Byzantine primary may put a nobody's transaction in a block: it gets a failure receipt and the
    state does not change at all — not even the nonce (ADR 0012)."""
    chain = _PORT
    signers = [KeyPair.from_seed(codec.sha256(seed + bytes([i]))) for i in range(count)]
    contract, name = method.split(".")
    tx = make_tx(chain.genesis.chain_id, contract, name, args, signers, 1)
    result = chain.executor.execute(chain.height + 1, chain.timestamp_ms + 1000, [tx])
    assert not result.receipts[0].ok
    assert result.changes == {}
    assert result.state_root == chain.tree.root_hash(chain.height)


_PORT = port_chain()


def test_a_nobody_in_a_block_is_still_replay_protected() -> None:
    chain = port_chain()
    receipt = chain.submit("registry", "register", register_args(b"n", owner=NOBODY), [NOBODY])
    assert receipt.error_code == "missing_role" and chain.last_changes == {}
    with pytest.raises(BlockInvalidError, match="already committed"):
        chain.block([chain.last_tx])


def test_execution_check_stays_for_a_role_revoked_after_admission() -> None:
    chain = port_chain()
    chain.governance("revoke_role", {"public_key": REGISTRAR.public_key, "role": "registrar"})
    receipt = chain.submit("registry", "register", register_args(b"r"), [REGISTRAR, OWNER])
    assert receipt.error_code == "missing_role" and chain.last_changes == {}  # a nobody now: no nonce
    chain.governance("grant_role", {"public_key": REGISTRAR.public_key, "role": "registrar"})
    assert chain.submit("registry", "register", register_args(b"r"), [REGISTRAR, OWNER]).ok  # nonce 2: 1 unused


def test_a_member_refused_by_the_exact_check_records_its_nonce() -> None:
    chain = port_chain()
    asset_id = chain.submit("registry", "register", register_args(b"m"), [REGISTRAR, OWNER]).events[0].subject
    receipt = chain.submit("registry", "transfer", {"asset_id": asset_id, "new_owner": LENDER.public_key}, [LENDER])
    assert receipt.error_code == "not_owner" and set(chain.last_changes) == {statekeys.nonce_key(LENDER.public_key)}


# --- noop only on test chains ------------------------------------------------------------------------------


def test_noop_is_unknown_without_the_test_flag() -> None:
    chain = TestChain()
    receipt = chain.submit("noop", "put", {"key": b"k", "value": b"v"}, [NOBODY])
    assert receipt.error_code == "unknown_method" and chain.last_changes == {}
    ledger = _ledger()
    assert _admission(ledger, [NOBODY], "noop", "put") == "unknown_method"
    test_chain = TestChain(genesis_document(params={"test_mode": True}))
    assert test_chain.submit("noop", "put", {"key": b"k", "value": b"v"}, [NOBODY]).ok


def test_new_params_leave_the_genesis_record_unchanged_at_their_default() -> None:
    names = [name for name, _ in Params().to_record()]
    assert "test_mode" not in names and "max_state_bytes_per_window" not in names
    assert ("test_mode", True) in Params(test_mode=True).to_record()
    plain, flagged = (parse_genesis(genesis_document(params=p)) for p in (None, {"test_mode": True}))
    from chain.genesis import compute_genesis

    assert compute_genesis(plain).block_hash != compute_genesis(flagged).block_hash
    assert compute_genesis(plain).block_hash == compute_genesis(parse_genesis(genesis_document())).block_hash


# --- quotas --------------------------------------------------------------------------------------------------

LIMIT = 1024
QUOTA_KEY = statekeys.quota_key(NOBODY.public_key)


def _quota_chain(window: int = 4) -> TestChain:
    params = {"test_mode": True, "max_state_bytes_per_window": LIMIT, "quota_window_blocks": window}
    return TestChain(genesis_document(params=params))


def _put(chain: TestChain, key_bytes: bytes, size: int) -> str:
    return chain.submit("noop", "put", {"key": key_bytes, "value": b"v" * size}, [NOBODY]).error_code


def test_quota_charges_every_new_byte_including_its_own_record() -> None:
    chain = _quota_chain(window=1000)
    assert _put(chain, b"a", 100) == ""
    window, used = chain.value(QUOTA_KEY)
    written = sum(len(k) + len(v) for k, v in chain.last_changes.items() if k != QUOTA_KEY and v is not None)
    assert (window, used) == (0, written + len(QUOTA_KEY) + 19)


def test_quota_boundary_exactly_full_passes_one_more_byte_fails() -> None:
    chain = _quota_chain(window=1000)
    assert _put(chain, b"a", 100) == ""
    _, used = chain.value(QUOTA_KEY)
    entry = len(b"noop/") + 32 + len(b"/b")
    assert _put(chain, b"b", LIMIT - used - entry + 1) == "quota_exceeded"
    assert set(chain.last_changes) == {statekeys.nonce_key(NOBODY.public_key)}  # a failure: nonce only
    assert _put(chain, b"b", LIMIT - used - entry) == ""
    assert chain.value(QUOTA_KEY) == (0, LIMIT)
    assert _put(chain, b"c", 0) == "quota_exceeded"
    assert _put(chain, b"a", 100) == ""  # rewriting the same bytes adds nothing


def test_quota_resets_with_the_window() -> None:
    chain = _quota_chain(window=4)
    assert _put(chain, b"a", LIMIT - 200) == ""
    assert _put(chain, b"b", 300) == "quota_exceeded"
    while chain.height < 4:
        chain.submit("noop", "ping", {}, [OWNER])
    assert _put(chain, b"b", 300) == ""
    assert chain.value(QUOTA_KEY)[0] == 1


def test_admission_refuses_a_sender_whose_window_is_spent() -> None:
    ledger = _ledger(test_mode=True, max_state_bytes_per_window=LIMIT, quota_window_blocks=1000)
    read = ledger.state_get
    charged = charge(read, {b"x": b"y" * LIMIT}, NOBODY.public_key, 1, QuotaRule(1000, LIMIT * 2))
    assert isinstance(charged, tuple)
    assert charge(read, {b"x": b"y" * LIMIT}, NOBODY.public_key, 1, QuotaRule(1000, LIMIT)) == LIMIT + 1 + len(
        QUOTA_KEY) + 19
    ledger.kv.write(ledger.tree.update(0, 1, {QUOTA_KEY: codec.encode((0, LIMIT))}).batch)
    ledger.height = 1
    tx = make_tx(ledger.chain_id, "noop", "ping", {}, [NOBODY], 1)
    with pytest.raises(QuotaError) as info:
        ledger.admit(tx, len(tx.encode()))
    assert info.value.code == "quota_exceeded" and str(LIMIT) in info.value.message
    assert NOBODY.public_hex[:16] in info.value.message and info.value.retry_after_s >= 1


def test_pending_cap_per_sender() -> None:
    pool = Mempool(max_per_sender=2)
    alice, bob = key("alice"), key("bob")
    for nonce in (1, 2):
        pool.add(make_tx("c", "anchoring", "anchor", {}, [alice], nonce))
    with pytest.raises(QuotaError) as info:
        pool.add(make_tx("c", "anchoring", "anchor", {}, [alice], 3))
    assert info.value.code == "too_many_pending" and "limit 2" in info.value.message
    pool.add(make_tx("c", "anchoring", "anchor", {}, [bob], 1))  # another sender is not affected
    assert len(pool) == 3


def test_problem_statuses() -> None:
    from chain.api.problems import status_for

    assert status_for(NotPermittedError("x", code="missing_role")) == 403
    assert status_for(QuotaError("x")) == 429


# --- the API: 403 for nobody, 429 with Retry-After for a flood from one sender ------------------------------


def test_api_answers_nobody_403_and_a_flooding_sender_429() -> None:
    import asyncio

    from aiohttp.test_utils import TestClient, TestServer

    from chain.api import make_app
    from chain.localnode import LocalNode

    document = genesis_document(organisations=PORT_ORGANISATIONS, roles=PORT_ROLES,
                                params={"max_pending_per_sender": 3})
    node = LocalNode(parse_genesis(document), [key(f"validator-{i}") for i in range(4)])
    root = node.ledger.tree.root_hash(0)
    nobody_tx = make_tx(node.chain_id, "registry", "register", register_args(b"z", owner=NOBODY), [NOBODY], 1)
    flood = [make_tx(node.chain_id, "anchoring", "anchor", {"hashes": [bytes([n]) * 32]}, [REGISTRAR], n)
             for n in range(1, 6)]

    async def main() -> None:
        async with TestClient(TestServer(make_app(node, rate_limit=None))) as client:
            for _ in range(2):  # a replay of a refused transaction is refused the same way
                response = await client.post("/v1/txs", data=nobody_tx.encode(),
                                             headers={"Content-Type": "application/msgpack"})
                assert response.status == 403 and response.content_type == "application/problem+json"
                problem = await response.json(content_type=None)
                assert problem["code"] == "missing_role" and "lacks role registrar" in problem["detail"]
            answers = []
            for tx in flood:
                response = await client.post("/v1/txs", data=tx.encode(), headers={"Content-Type": "application/msgpack"})
                answers.append((response.status, response.headers.get("Retry-After")))
                if response.status == 429:
                    assert (await response.json(content_type=None))["code"] == "too_many_pending"
            assert answers == [(202, None)] * 3 + [(429, "1")] * 2

    asyncio.run(main())
    assert len(node.ledger.mempool) == 3 and nobody_tx.tx_hash not in node.ledger.mempool
    node.produce_block()
    assert node.ledger.state_get(statekeys.nonce_key(NOBODY.public_key)) is None
    assert node.ledger.tree.root_hash(1) != root  # the registrar's anchors committed; the nobody left nothing


def test_devnet_params_are_checked_before_anything_is_written(tmp_path: Any) -> None:
    from devnet.__main__ import genesis_params, main, parser

    args = parser().parse_args(["up", "--test-mode", "--param", "max_state_bytes_per_window=4096",
                                "--param", "quota_window_blocks=8"])
    assert genesis_params(args) == {"max_state_bytes_per_window": 4096, "quota_window_blocks": 8, "test_mode": True}
    directory = tmp_path / "d"
    assert main(["up", "--dir", str(directory), "--param", "max_state_bytes_per_window=12"]) == 1
    assert main(["up", "--dir", str(directory), "--param", "no_such_param=1"]) == 1
    assert main(["up", "--dir", str(directory), "--param", "missing-equals"]) == 1
    assert not directory.exists()


def test_a_corrupt_role_record_fails_the_transaction_not_the_block() -> None:
    chain = port_chain()
    update = chain.tree.update(chain.height, chain.height + 1, {statekeys.roles_key(REGISTRAR.public_key): b"\xc1"})
    chain.kv.write(update.batch)
    chain.height += 1
    receipt = chain.submit("anchoring", "anchor", {"hashes": [b"\x01" * 32]}, [REGISTRAR])
    assert receipt.error_code == "corrupt_state"
