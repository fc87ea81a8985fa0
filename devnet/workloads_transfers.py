"""Bench workloads for the transfers contracts (registered with :func:`devnet.workloads.workload`).

``transfers``: each bench client registers (setup, committed before the clock starts) its own
exporter organisation and a recipient in DE, a registrar, two assets — trade manifests without
personal information and a customer list with PI — and one member key per timed transaction
(``add_member``), because timed transactions reach the primary in any order and so need a sender
each (nonce 1). The timed phase is ``crossborder.request`` only, alternating the two assets: the
manifests are exempt (R05: ALLOW → RELEASED at once), the customer list is below every threshold
(R13c + R14 with the declarations attached: ALLOW, and the exporter's counters move). Every timed
transaction therefore runs the whole contract: state reads of asset, organisations, counters and
policy, one rule-engine evaluation, the transfer record, its step, three list entries and the
asset's history event.

Governance setup transactions are sent by authority ``client_index`` (co-signed by the next one),
so two clients never race on one sender's nonces; with the devnet's three authorities this
supports up to three clients.
"""

from __future__ import annotations

import time

from chain import codec
from chain.crypto import KeyPair
from chain.types import SignedTx, make_tx
from devnet.workloads import Plan, WorkloadContext, workload


@workload("transfers")
def transfers(ctx: WorkloadContext) -> Plan:
    """``crossborder.request`` from a fresh exporter member per transaction (see the module docstring)."""
    authorities = ctx.authority_keys()
    while len(authorities) < 2:  # no devnet here (plan built for inspection): setup would be refused
        authorities.append(ctx.keypair())
    sender = authorities[ctx.client_index % len(authorities)]
    quorum = [sender, authorities[(ctx.client_index + 1) % len(authorities)]]
    nonce = int(time.time() * 1000) * 1000
    tag = ctx.unique(0).hex()[-16:]
    exporter, recipient = f"bench-exp-{tag}", f"bench-rcp-{tag}"
    registrar, owner = KeyPair.generate(), KeyPair.generate()
    setup: list[SignedTx] = []

    def governance(method: str, args: dict[str, object]) -> None:
        nonlocal nonce
        nonce += 1
        setup.append(make_tx(ctx.chain_id, "governance", method, args, quorum, nonce))

    governance("register_organisation", {"id": exporter, "name": "Bench exporter", "jurisdiction": "CN",
                                         "type": "COMPANY"})
    governance("register_organisation", {"id": recipient, "name": "Bench recipient", "jurisdiction": "DE",
                                         "type": "COMPANY"})
    governance("add_member", {"public_key": registrar.public_key, "organisation": exporter})
    governance("add_member", {"public_key": owner.public_key, "organisation": exporter})
    governance("grant_role", {"public_key": registrar.public_key, "role": "registrar"})
    members = [KeyPair.generate() for _ in range(ctx.count)]
    for member in members:
        governance("add_member", {"public_key": member.public_key, "organisation": exporter})

    assets = []
    for n, classification in enumerate((
        {"sector": "logistics", "grade": "GENERAL", "origin": "CN"},
        {"sector": "retail", "grade": "GENERAL", "origin": "CN", "contains_pi": True, "subjects": 10**9},
    )):
        content = codec.sha256(ctx.unique(n + 1))
        tx = make_tx(ctx.chain_id, "registry", "register", {
            "content_hash": content, "size": 1, "format": "csv", "title": f"bench asset {n}", "owner": owner.public_key,
            "classification": classification}, [registrar, owner], n + 1)
        setup.append(tx)
        assets.append(codec.sha256(tx.tx_hash + content).hex())

    timed = []
    for i, member in enumerate(members):
        pi = i % 2 == 1
        args = {"asset_id": assets[1 if pi else 0], "recipient": recipient, "destination": "DE",
                "purpose": "other" if pi else "intl_trade", "lawful_basis": "CONTRACT", "subjects": 1 if pi else 0,
                "attestations": {"notice": "bench-notice", "pipia": "bench-pipia"} if pi else {}}
        timed.append(make_tx(ctx.chain_id, "crossborder", "request", args, [member], 1))
    return Plan(timed=timed, setup=setup)
