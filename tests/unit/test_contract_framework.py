"""The contract framework: dispatch table, access checks, argument fields, failure receipts, genesis seeding."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain import codec, statekeys
from chain.contracts import default_registry
from chain.contracts.base import (
    Amount,
    Bytes,
    Context,
    ContractRegistry,
    Country,
    Date,
    List,
    Overlay,
    PublicKey,
    Schema,
)
from chain.contracts.callers import Callers
from chain.errors import ConfigError, ContractError
from chain.genesis import genesis_state, parse_genesis
from testkit.contracts import (
    AUTHORITIES,
    CHAIN_ID,
    OUTSIDER,
    OWNER,
    REGISTRAR,
    TestChain,
    genesis_document,
    port_chain,
    register_args,
)


def refused(fn: Any, *args: Any) -> str:
    with pytest.raises(ContractError) as info:
        fn(*args)
    return info.value.code


def test_fields_refuse_with_stable_codes() -> None:
    assert Amount().check("a", 0) == 0
    assert refused(Amount().check, "a", -1) == "bad_amount"
    assert refused(Amount().check, "a", "10") == "bad_amount"
    assert refused(Amount().check, "a", True) == "bad_amount"
    assert Date().check("d", "2024-02-29") == "2024-02-29"
    assert refused(Date().check, "d", "2023-02-29") == "bad_date"
    assert refused(Date().check, "d", "2023-2-1") == "bad_date"
    assert Country().check("c", "HK") == "HK"
    assert refused(Country().check, "c", "EU") == "bad_country"
    assert refused(PublicKey().check, "k", b"\x00" * 31) == "bad_length"


@pytest.mark.parametrize(
    ("items", "code", "where"),
    [
        ((b"\x01" * 32, b"\x02" * 31), "bad_length", "h[1]"),
        ((b"\x01" * 32, "x" * 32), "bad_args", "h[1]"),
        ([b"\x01" * 32, b"\x02" * 33], "bad_length", "h[1]"),
    ],
)
def test_list_of_bytes_checks_in_bulk_and_names_the_first_bad_item(items: Any, code: str, where: str) -> None:
    field = List(Bytes(size=32, max_size=32), max_items=10)
    good = (b"\x01" * 32, b"\x02" * 32)
    assert field.check("h", good) is good  # the decoded tuple is taken as is
    assert field.check("h", list(good)) == good
    with pytest.raises(ContractError) as info:
        field.check("h", items)
    assert info.value.code == code and where in info.value.message
    assert refused(List(Bytes(max_size=4)).check, "h", (b"12345",)) == "oversize"
    assert List(Bytes(max_size=4)).check("h", (b"1234", b"")) == (b"1234", b"")


def test_role_lookups_are_remembered_until_the_transaction_writes_a_role() -> None:
    a, c = bytes([1]) * 32, bytes([3]) * 32
    state = {statekeys.roles_key(c): codec.encode(("registrar",))}
    ctx = _ctx((a, c), state)
    assert ctx.signer_with_role("registrar") == c
    ctx.put_value(statekeys.roles_key(a), ("registrar",))  # a grant in the same transaction
    ctx.delete(statekeys.roles_key(c))
    assert ctx.signer_with_role("registrar") == a


def _ctx(signers: tuple[bytes, ...], state: dict[bytes, bytes]) -> Context:
    return Context("c", 1, 0, 0, b"\x00" * 32, signers, Overlay(state.get))


def test_access_checks_quorum_and_roles_in_one_place() -> None:
    a, b, c = (bytes([i]) * 32 for i in (1, 2, 3))
    state = {
        statekeys.AUTHORITIES: codec.encode((2, (a, b, c))),
        statekeys.roles_key(c): codec.encode(("registrar",)),
    }
    quorum, registrar = Callers.authority_quorum(), Callers.role("registrar")
    quorum.check(_ctx((a, b), state), {})
    assert refused(quorum.check, _ctx((a, a + b""), state), {}) == "no_quorum"
    assert refused(quorum.check, _ctx((a, bytes(32)), state), {}) == "no_quorum"
    registrar.check(_ctx((a, c), state), {})
    assert refused(registrar.check, _ctx((a, b), state), {}) == "missing_role"
    assert quorum.describe() == "authority quorum" and Callers.anyone().describe() == "anyone"


def test_registry_wraps_handlers_with_their_access() -> None:
    table = ContractRegistry()
    calls: list[str] = []

    @table.method("demo", "guarded", Schema({}), callers=Callers.role("lender"))
    def guarded(ctx: Context, args: dict[str, Any]) -> None:
        calls.append("ran")

    method = table.lookup("demo", "guarded")
    assert method is not None and method.callers.role_name == "lender"
    assert refused(method.run, _ctx((bytes(32),), {}), {}) == "missing_role"
    assert calls == []
    with pytest.raises(ValueError):
        table.method("demo", "guarded", Schema({}), callers=Callers.anyone())(guarded)


def test_every_method_documents_its_callers() -> None:
    for method in default_registry().methods():
        assert method.doc, f"{method.contract}.{method.name} has no docstring"


def test_failed_transaction_changes_only_the_nonce() -> None:
    chain = port_chain()
    args = register_args(b"x" * 10, title="t" * 257)
    receipt = chain.submit("registry", "register", args, [REGISTRAR, OWNER])
    assert (receipt.ok, receipt.error_code) == (False, "oversize")
    assert set(chain.last_changes) == {statekeys.nonce_key(REGISTRAR.public_key)}
    assert chain.value(statekeys.nonce_key(REGISTRAR.public_key)) == 1
    assert chain.value(statekeys.ASSET_COUNT) is None


def test_schema_errors_and_unknown_methods_give_failure_receipts() -> None:
    chain = port_chain()
    assert chain.submit("registry", "nope", {}, [OUTSIDER]).error_code == "unknown_method"
    assert chain.submit("registry", "register", {"x": 1}, [REGISTRAR]).error_code == "unknown_argument"
    args = register_args(b"y")
    del args["owner"]
    assert chain.submit("registry", "register", args, [REGISTRAR]).error_code == "missing_argument"
    assert chain.nonces[REGISTRAR.public_key] == 2 and chain.value(statekeys.nonce_key(REGISTRAR.public_key)) == 2


def test_genesis_seeds_organisations_members_and_roles() -> None:
    chain = port_chain()
    org = codec.dict_from_pairs(chain.value(statekeys.org_key("bdex")))
    assert (org["jurisdiction"], org["zone"], org["type"], org["seq"]) == ("CN", "BJ-FTZ", "EXCHANGE", 0)
    assert chain.value(statekeys.member_key(REGISTRAR.public_key)) == "bdex"
    assert chain.value(statekeys.roles_key(REGISTRAR.public_key)) == ("registrar",)
    assert chain.value(statekeys.ORG_COUNT) == 6
    assert chain.value(statekeys.AUTHORITIES) == (2, tuple(a.public_key for a in AUTHORITIES))


def test_genesis_refuses_bad_organisations_and_roles() -> None:
    bad_role = genesis_document(roles=[(OWNER, "king")])
    with pytest.raises(ConfigError):
        parse_genesis(bad_role)
    twice = genesis_document(organisations=[{"id": "a", "name": "A", "jurisdiction": "CN"}] * 2)
    with pytest.raises(ConfigError, match="already exists"):
        genesis_state(parse_genesis(twice))
    unknown_country = genesis_document(organisations=[{"id": "a", "name": "A", "jurisdiction": "ZZ"}])
    with pytest.raises(ConfigError):
        genesis_state(parse_genesis(unknown_country))


def test_execution_is_deterministic_across_stores() -> None:
    roots = []
    for _ in range(2):
        chain = port_chain()
        chain.submit("registry", "register", register_args(b"same"), [REGISTRAR, OWNER])
        roots.append(chain.tree.root_hash(chain.height))
    assert roots[0] == roots[1]


def test_empty_chain_without_port_has_no_organisations() -> None:
    chain = TestChain()
    assert chain.value(statekeys.ORG_COUNT) is None


_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.binary(max_size=40) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4).map(tuple),
    max_leaves=8,
)
_METHODS = default_registry().methods()
_PORT = port_chain()


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_METHODS), st.data())
def test_arbitrary_arguments_only_ever_give_contract_errors(method: Any, data: st.DataObject) -> None:
    """No input makes a handler raise anything but ContractError (which the executor turns into a receipt)."""
    names = list(method.schema.fields) + ["junk"]
    args = data.draw(st.dictionaries(st.sampled_from(names), _values, max_size=len(names)))
    signers = data.draw(st.lists(st.sampled_from([REGISTRAR, OWNER, *AUTHORITIES]), max_size=3, unique=True))
    ctx = Context(CHAIN_ID, 1, _PORT.timestamp_ms, 0, b"\x01" * 32, tuple(s.public_key for s in signers),
                  Overlay(_PORT.get))
    try:
        method.run(ctx, method.schema.validate(args))
    except ContractError:
        pass
