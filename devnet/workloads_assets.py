"""Bench workload ``assets``: data-asset registrations and sales (registry contract, ADR 0005).

Timed, per bench client: ``count - count // 2`` new registrations (signed by the new owner + the
registrar) and ``count // 2`` sales (signed by the seller + the buyer), interleaved. Every timed
transaction's sender (first signer) is an owner key used for nothing else before, so its nonce is
1 and posting the transactions to all nodes in any order cannot make a nonce stale.

``Plan.setup`` (committed before the clock starts; one setup sender, a fresh "clerk" key with nonces
1, 2, ... so they execute in order): an organisation of this client registered by the devnet's
authority quorum (``D/authorities``, the clerk co-signing as sender), the registrar and buyer keys,
every owner key as a member (owners must be organisation members), the registrar role, and the
``count // 2`` assets to be sold (registered with the clerk as sender, so the sellers' nonces stay 0).
"""

from __future__ import annotations

import sys
from typing import Any

from chain import codec
from chain.contracts.registry import asset_id_for
from chain.crypto import KeyPair
from chain.types import SignedTx, make_tx
from devnet.workloads import Plan, WorkloadContext, workload

CLASSIFICATION = {"sector": "logistics", "grade": "GENERAL", "origin": "CN"}


def _registration(ctx: WorkloadContext, i: int, signers: list[KeyPair], owner: KeyPair, nonce: int) -> SignedTx:
    content = codec.sha256(b"silkport-bench-asset/" + ctx.unique(i))
    args: dict[str, Any] = {"content_hash": content, "size": 1024 + i, "format": "csv", "title": f"bench asset {i}",
                            "owner": owner.public_key, "classification": CLASSIFICATION}
    return make_tx(ctx.chain_id, "registry", "register", args, signers, nonce)


@workload("assets")
def assets(ctx: WorkloadContext) -> Plan:
    """Asset registrations and sales from distinct senders (see the module docstring)."""
    authorities = ctx.authority_keys()
    if len(authorities) < 2:  # not a devnet directory (a dry build of the plan): stand-in keys, refused on chain
        print(f"warning: no authority keys in {ctx.devnet_dir}/authorities; the setup will be refused (no_quorum)",
              file=sys.stderr)
        authorities = [ctx.keypair(), ctx.keypair()]
    clerk, registrar, buyer = (ctx.keypair() for _ in range(3))
    sales = ctx.count // 2
    owners = [ctx.keypair() for _ in range(ctx.count)]  # owners[:sales] sell, the others register
    quorum = [clerk, *authorities[:2]]
    org = f"bench-{ctx.client_index}-{ctx.unique(0)[-4:].hex()}"
    calls: list[tuple[str, dict[str, Any]]] = [
        ("register_organisation", {"id": org, "name": f"Bench company {ctx.client_index}", "jurisdiction": "CN",
                                   "type": "COMPANY"}),
        *(("add_member", {"public_key": key.public_key, "organisation": org}) for key in (registrar, buyer, *owners)),
        ("grant_role", {"public_key": registrar.public_key, "role": "registrar"}),
    ]
    setup = [make_tx(ctx.chain_id, "governance", method, args, quorum, nonce)
             for nonce, (method, args) in enumerate(calls, start=1)]
    to_sell = []
    for i, seller in enumerate(owners[:sales]):
        tx = _registration(ctx, ctx.count + i, [clerk, registrar, seller], seller, len(setup) + 1)
        setup.append(tx)
        to_sell.append((seller, asset_id_for(tx.tx_hash, tx.body.args_dict()["content_hash"])))

    timed: list[SignedTx] = []
    registering = iter(owners[sales:])
    for i in range(ctx.count):
        if i % 2 == 1 and to_sell:
            seller, asset_id = to_sell.pop()
            args = {"asset_id": asset_id, "new_owner": buyer.public_key, "price": 100_000 + i, "currency": "CNY"}
            timed.append(make_tx(ctx.chain_id, "registry", "transfer", args, [seller, buyer], 1))
        else:
            owner = next(registering)
            timed.append(_registration(ctx, i, [owner, registrar], owner, 1))
    return Plan(timed=timed, setup=setup)
