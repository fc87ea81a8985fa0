"""``crossborder.delivered`` and the acknowledgement that must match it (issue 14 part 5; ADR 0022).

A table of every refusal of both methods, each checked to write nothing but the sender's nonce (and
not even that for a signer who is nobody to the method, ADR 0012), plus the allowed paths: several
deliveries, a re-fetch after the acknowledgement, the events on the asset's history chain.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chain import codec, statekeys
from chain.contracts import queries
from chain.crossborder import transfer_queries
from chain.crossborder.contract import MAX_DELIVERIES, transfer_id_for
from chain.dataplane import chunks
from chain.types import Receipt
from testkit import contracts as tk

CHUNK = 1024
DATA = bytes(range(256)) * 13  # 3,328 bytes: 4 chunks
LAYOUT = chunks.summarize(chunks.split_chunks(DATA, CHUNK), CHUNK)
NODE = tk.key("validator-0")  # a CN validator of the testkit genesis
FOREIGN_NODE = tk.key("validator-3")  # moved to DE below
CUSTOMS = tk.key("customs-officer")
EU_SENDER = tk.key("eu-sender")


def chain_with_transfer(*, released: bool = True, layout: bool = True) -> tuple[tk.TestChain, str, str]:
    """A port chain (one DE validator) with an asset of :data:`DATA` and a transfer of it to foreign-co."""
    organisations = [*tk.PORT_ORGANISATIONS,
                     {"id": "eu-co", "name": "EU Co", "jurisdiction": "FR", "type": "COMPANY",
                      "members": [EU_SENDER.public_hex]}]
    document = tk.genesis_document(organisations=organisations, roles=tk.PORT_ROLES)
    document["validators"][3]["jurisdiction"] = "DE"
    chain = tk.TestChain(document)
    extra = {"chunk_root": LAYOUT.chunk_root, "chunk_size": CHUNK} if layout else {}
    asset_id = tk.register_asset(chain, DATA, **extra)
    grade = {} if released else {"classification": tk.classification(grade="CORE")}
    if grade:
        asset_id = tk.register_asset(chain, DATA + b"core", **grade, **extra)
    receipt = chain.submit("crossborder", "request",
                           {"asset_id": asset_id, "recipient": "foreign-co", "destination": "DE",
                            "purpose": "intl_trade", "lawful_basis": "CONTRACT"}, [tk.OWNER])
    assert receipt.ok, receipt.error_code
    return chain, asset_id, transfer_id_for(chain.last_tx.tx_hash)


def delivered_args(transfer_id: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"transfer_id": transfer_id, "chunk_root": LAYOUT.chunk_root, "bytes": len(DATA),
            "recipient_key": tk.FOREIGN.public_key, **(overrides or {})}


def ack_args(transfer_id: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"transfer_id": transfer_id, "content_hash": codec.sha256(DATA), "chunk_root": LAYOUT.chunk_root,
            **(overrides or {})}


def record(chain: tk.TestChain, transfer_id: str) -> dict[str, Any]:
    found = transfer_queries.transfer(chain.get, transfer_id)
    assert found is not None
    return found


def assert_refused(chain: tk.TestChain, receipt: Receipt, code: str) -> None:
    """Failed with ``code``; wrote the sender's nonce only, or nothing for a nobody (ADR 0012)."""
    assert not receipt.ok and receipt.error_code == code, (receipt.error_code, code)
    tx = chain.last_tx
    method = chain.executor.registry.lookup(tx.body.contract, tx.body.method)
    assert method is not None
    if method.callers.admissible(tx.body.signer_pubkeys, chain.get) is not None:
        assert not chain.last_changes
    else:
        assert set(chain.last_changes) == {statekeys.nonce_key(tx.sender)}


def test_a_delivery_is_recorded_on_the_transfer_and_the_asset_then_the_ack_matches_it() -> None:
    chain, asset_id, transfer_id = chain_with_transfer()
    receipt = chain.submit("crossborder", "delivered", delivered_args(transfer_id), [NODE])
    assert receipt.ok, receipt.error_code
    event = receipt.events[0]
    assert (event.name, event.subject) == ("transfer_delivered", asset_id)
    found = record(chain, transfer_id)
    assert found["state"] == "RELEASED" and found["deliveries"] == 1
    assert found["delivered_root"] == LAYOUT.chunk_root.hex()
    step = found["history"][-1]
    assert step["action"] == "delivered" and step["by"] == NODE.public_hex and step["node"] == NODE.public_hex
    assert (step["bytes"], step["recipient_key"]) == (len(DATA), tk.FOREIGN.public_hex)

    again = chain.submit("crossborder", "delivered", delivered_args(transfer_id), [NODE])  # a re-fetch
    assert again.ok and record(chain, transfer_id)["deliveries"] == 2
    ack = chain.submit("crossborder", "acknowledge", ack_args(transfer_id), [tk.FOREIGN])
    assert ack.ok, ack.error_code
    assert record(chain, transfer_id)["state"] == "ACKNOWLEDGED"
    after = chain.submit("crossborder", "delivered", delivered_args(transfer_id), [NODE])  # re-fetch after ack
    assert after.ok and record(chain, transfer_id)["state"] == "ACKNOWLEDGED"

    history = queries.history(chain.get, chain.events_at, asset_id)
    assert [h["name"] for h in history] == ["transfer_delivered", "transfer_acknowledged", "transfer_delivered",
                                            "transfer_delivered", "transfer_requested", "registered"]
    assert history[1]["data"]["chunk_root"] == LAYOUT.chunk_root.hex()


def test_a_replayed_delivery_is_a_duplicate_and_never_executes_twice() -> None:
    chain, _, transfer_id = chain_with_transfer()
    assert chain.submit("crossborder", "delivered", delivered_args(transfer_id), [NODE]).ok
    with pytest.raises(Exception, match="nonce|committed|duplicate"):
        chain.block([chain.last_tx])
    assert record(chain, transfer_id)["deliveries"] == 1


Setup = Callable[[tk.TestChain, str], None]


def _nothing(chain: tk.TestChain, transfer_id: str) -> None:
    return None


def _revoke(chain: tk.TestChain, transfer_id: str) -> None:
    assert chain.submit("crossborder", "revoke", {"transfer_id": transfer_id}, list(tk.AUTHORITIES[:2])).ok


def _move_foreign_out(chain: tk.TestChain, transfer_id: str) -> None:
    assert chain.governance("remove_member", {"public_key": tk.FOREIGN.public_key}).ok


DELIVERED_REFUSALS: list[tuple[str, dict[str, Any], list[Any], Setup, str]] = [
    ("a member, not a validator", {}, [tk.OWNER], _nothing, "not_validator"),
    ("nobody", {}, [tk.OUTSIDER], _nothing, "not_validator"),
    ("unknown transfer", {"transfer_id": "ab" * 32}, [NODE], _nothing, "unknown_transfer"),
    ("a validator outside the exporter's jurisdiction", {}, [FOREIGN_NODE], _nothing, "not_exporting_node"),
    ("another chunk root", {"chunk_root": b"\1" * 32}, [NODE], _nothing, "chunk_root_mismatch"),
    ("a partial delivery", {"bytes": len(DATA) - 1}, [NODE], _nothing, "size_mismatch"),
    ("a key outside the recipient organisation", {"recipient_key": tk.BUYER.public_key}, [NODE], _nothing,
     "not_recipient"),
    ("the recipient's member was removed", {}, [NODE], _move_foreign_out, "not_recipient"),
    ("a revoked transfer", {}, [NODE], _revoke, "bad_state"),
    ("a short chunk root", {"chunk_root": b"\1" * 31}, [NODE], _nothing, "bad_length"),
    ("negative bytes", {"bytes": -1}, [NODE], _nothing, "out_of_range"),
]


@pytest.mark.parametrize(("why", "overrides", "signers", "setup", "code"), DELIVERED_REFUSALS,
                         ids=[row[0] for row in DELIVERED_REFUSALS])
def test_delivered_refusals(why: str, overrides: dict[str, Any], signers: list[Any], setup: Setup,
                            code: str) -> None:
    chain, _, transfer_id = chain_with_transfer()
    setup(chain, transfer_id)
    receipt = chain.submit("crossborder", "delivered", delivered_args(transfer_id, overrides), signers)
    assert_refused(chain, receipt, code)


def test_delivered_is_refused_on_a_denied_transfer_and_without_a_layout() -> None:
    chain, _, denied = chain_with_transfer(released=False)
    assert record(chain, denied)["state"] == "DENIED"
    assert_refused(chain, chain.submit("crossborder", "delivered", delivered_args(denied), [NODE]), "bad_state")
    chain, _, bare = chain_with_transfer(layout=False)
    assert_refused(chain, chain.submit("crossborder", "delivered", delivered_args(bare), [NODE]), "no_layout")


def test_deliveries_are_capped_per_transfer() -> None:
    chain, _, transfer_id = chain_with_transfer()
    for _ in range(MAX_DELIVERIES):
        chain.block([chain.tx("crossborder", "delivered", delivered_args(transfer_id), [NODE])])
    assert record(chain, transfer_id)["deliveries"] == MAX_DELIVERIES
    receipt = chain.submit("crossborder", "delivered", delivered_args(transfer_id), [NODE])
    assert_refused(chain, receipt, "too_many_deliveries")


def _deliver(chain: tk.TestChain, transfer_id: str) -> None:
    assert chain.submit("crossborder", "delivered", delivered_args(transfer_id), [NODE]).ok


def _deliver_and_ack(chain: tk.TestChain, transfer_id: str) -> None:
    _deliver(chain, transfer_id)
    assert chain.submit("crossborder", "acknowledge", ack_args(transfer_id), [tk.FOREIGN]).ok


ACK_REFUSALS: list[tuple[str, dict[str, Any], list[Any], Setup, str]] = [
    ("before any delivery", {}, [tk.FOREIGN], _nothing, "not_delivered"),
    ("another chunk root", {"chunk_root": b"\2" * 32}, [tk.FOREIGN], _deliver, "chunk_root_mismatch"),
    ("another content hash", {"content_hash": b"\0" * 32}, [tk.FOREIGN], _deliver, "content_mismatch"),
    ("not the recipient", {}, [tk.BUYER], _deliver, "not_recipient"),
    ("nobody", {}, [tk.OUTSIDER], _deliver, "unknown_member"),
    ("twice", {}, [tk.FOREIGN], _deliver_and_ack, "bad_state"),
    ("unknown transfer", {"transfer_id": "cd" * 32}, [tk.FOREIGN], _deliver, "unknown_transfer"),
    ("without its chunk root", {"chunk_root": None}, [tk.FOREIGN], _deliver, "missing_argument"),
]


@pytest.mark.parametrize(("why", "overrides", "signers", "setup", "code"), ACK_REFUSALS,
                         ids=[row[0] for row in ACK_REFUSALS])
def test_acknowledge_refusals(why: str, overrides: dict[str, Any], signers: list[Any], setup: Setup,
                              code: str) -> None:
    chain, _, transfer_id = chain_with_transfer()
    setup(chain, transfer_id)
    args = {k: v for k, v in ack_args(transfer_id, overrides).items() if v is not None}
    receipt = chain.submit("crossborder", "acknowledge", args, signers)
    assert_refused(chain, receipt, code)
