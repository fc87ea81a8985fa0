"""The demo's cross-border part: ``run(ctx)``, called by ``devnet/demo.py`` after the asset story.

It depends only on ``ctx.chain_id``, ``ctx.say``, ``ctx.submit_and_wait(tx) -> receipt dict``, the
authority keys (``ctx.authorities`` or ``ctx.authority_keys``) and the node URLs (``ctx.apis`` or
``ctx.urls``); it registers its own organisations, members, roles and assets (fresh ids each run).

Story: a Daxing exporter in the Beijing FTZ sends data to the foreign validator's organisation
(``eu-logistics-partner``, DE) —

1. trade manifests (no personal information): exempt (R05), released at once;
2. a customer list with sensitive PI: REQUIRE ``sc_or_cert`` (R13b); the port authority registers
   the standard-contract filing; the exporter attaches it → CLEARED; customs releases it. The dataset
   (real bytes, uploaded to the Daxing node) moves through the valve: the partner fetches it from the
   Daxing node (every chunk verified, SHA-256 shown), the node commits ``delivered``, the partner
   acknowledges with the delivered chunk root, and customs runs the audit (ADR 0022);
3. a core-data set: DENIED (R01); the partner's fetch is refused and gets zero bytes;
4. an EU exporter sends EU personal data to the Daxing exporter: REQUIRE ``gdpr_safeguard`` (G1);
   SCCs with a transfer impact assessment → CLEARED; customs releases it.

At the end every node must return the same transfer records.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from typing import Any

from chain import codec
from chain.crossborder.contract import transfer_id_for
from chain.crypto import KeyPair
from chain.types import SignedTx, make_tx
from devnet import demo_delivery as delivery

PARTNER = "eu-logistics-partner"


class _Part:
    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.urls: list[str] = list(getattr(ctx, "urls", None) or getattr(ctx, "apis", None) or [])
        keys = getattr(ctx, "authority_keys", None) or getattr(ctx, "authorities", None) or []
        self.quorum: list[KeyPair] = list(keys)[:2]
        self.nonces: dict[bytes, int] = {}
        self.tag = f"xb{os.urandom(3).hex()}"  # own ids: never collide with the first part's

    def tx(self, contract: str, method: str, args: dict[str, Any], signers: list[KeyPair]) -> SignedTx:
        sender = signers[0].public_key
        nonce = max(int(time.time() * 1000), self.nonces.get(sender, 0) + 1)
        self.nonces[sender] = nonce
        return make_tx(self.ctx.chain_id, contract, method, args, signers, nonce)

    def run(self, text: str, contract: str, method: str, args: dict[str, Any], signers: list[KeyPair],
            *, allow: tuple[str, ...] = ()) -> tuple[SignedTx, dict[str, Any]]:
        tx = self.tx(contract, method, args, signers)
        receipt = self.ctx.submit_and_wait(tx)
        receipt = receipt.get("receipt", receipt) if isinstance(receipt, dict) else {}
        ok = bool(receipt.get("ok"))
        if not ok and receipt.get("error_code") not in allow:
            raise RuntimeError(f"{contract}.{method} refused: {receipt.get('error_code')}")
        if text:
            self.ctx.say(f"  {text}" + ("" if ok else f" (already there: {receipt.get('error_code')})"))
        return tx, receipt

    def governance(self, text: str, method: str, args: dict[str, Any], *, allow: tuple[str, ...] = ()) -> None:
        self.run(text, "governance", method, args, self.quorum, allow=allow)

    def get(self, url: str, path: str) -> Any:
        with urllib.request.urlopen(url.rstrip("/") + path, timeout=10) as response:
            return json.loads(response.read())

    def transfer(self, transfer_id: str) -> dict[str, Any]:
        record: dict[str, Any] = self.get(self.urls[0], f"/v1/transfers/{transfer_id}")
        return record

    def report(self, transfer_id: str) -> dict[str, Any]:
        record = self.transfer(transfer_id)
        d = record["decision"]
        needs = f" requires {', '.join(d['requires'])}" if d["requires"] else ""
        self.ctx.say(f"    transfer {transfer_id[:16]}…  {record['state']}: {d['decision']}{needs}  "
                     f"rules {', '.join(d['rules'])}  path {d['path']}  policy v{d['policy_version']}")
        return record


def run(ctx: Any) -> None:
    """The cross-border part of the demo (see the module docstring)."""
    part = _Part(ctx)
    if len(part.quorum) < 2 or not part.urls:
        raise RuntimeError("the cross-border demo needs two authority keys and the nodes' API URLs")
    say, tag = ctx.say, part.tag
    exporter, eu_exporter, customs = f"daxing-exporter-{tag}", f"eu-exporter-{tag}", f"daxing-customs-{tag}"
    keys = {name: KeyPair.generate() for name in ("registrar", "exporter", "partner", "customs", "eu")}

    say("Cross-border transfers (RULES.md, policy on chain):")
    policy = part.get(part.urls[0], "/v1/policy")
    say(f"  policy in force: version {policy['version']} (sha256 {policy['sha256'][:16]}…)")
    part.governance(f"the port authority registers {exporter} (CN, BJ-FTZ), {eu_exporter} (FR) and {customs}",
                    "register_organisation", {"id": exporter, "name": "Daxing Airport Logistics Data Co",
                                              "jurisdiction": "CN", "zone": "BJ-FTZ", "type": "COMPANY"})
    part.governance("", "register_organisation", {"id": eu_exporter, "name": "Lyon Cargo SAS", "jurisdiction": "FR",
                                                  "type": "COMPANY"})
    part.governance("", "register_organisation", {"id": customs, "name": "Daxing Customs (data)",
                                                  "jurisdiction": "CN", "type": "CUSTOMS"})
    part.governance(f"the foreign node's organisation {PARTNER} (DE) is registered", "register_organisation",
                    {"id": PARTNER, "name": "EU Logistics Partner GmbH", "jurisdiction": "DE", "type": "COMPANY"},
                    allow=("duplicate_organisation",))
    for name, org in (("registrar", exporter), ("exporter", exporter), ("partner", PARTNER), ("customs", customs),
                      ("eu", eu_exporter)):
        part.governance("", "add_member", {"public_key": keys[name].public_key, "organisation": org})
    part.governance("", "grant_role", {"public_key": keys["registrar"].public_key, "role": "registrar"})
    part.governance("", "grant_role", {"public_key": keys["customs"].public_key, "role": "customs"})
    say("  members and roles (registrar, customs) granted")

    def register(title: str, owner: KeyPair, data: bytes | None = None, **classification: Any) -> tuple[str, bytes]:
        content = codec.sha256(f"{title} {tag}".encode()) if data is None else codec.sha256(data)
        args = {"content_hash": content, "size": 1024 if data is None else len(data), "format": "csv",
                "title": title, "owner": owner.public_key,
                "classification": {"sector": "logistics", "grade": "GENERAL", "origin": "CN", **classification}}
        if data is not None:
            args.update(chunk_root=delivery.layout(data).chunk_root, chunk_size=delivery.CHUNK)
        tx, _ = part.run(f"registered asset: {title}", "registry", "register", args, [keys["registrar"], owner])
        asset_id = codec.sha256(tx.tx_hash + content).hex()
        if data is not None:
            delivery.upload(part, asset_id, data, owner)
        return asset_id, content

    def request(text: str, signer: KeyPair, **args: Any) -> str:
        base = {"recipient": PARTNER, "destination": "DE", "lawful_basis": "CONTRACT"}
        tx, _ = part.run(text, "crossborder", "request", {**base, **args}, [signer])
        transfer_id = transfer_id_for(tx.tx_hash)
        part.report(transfer_id)
        return transfer_id

    def release(transfer_id: str, note: str) -> None:
        part.run(f"customs releases it: {note}", "crossborder", "customs_review",
                 {"transfer_id": transfer_id, "approve": True, "note": note}, [keys["customs"]])
        part.report(transfer_id)

    say("1. trade manifests, no personal information")
    manifests, _ = register("Daxing cargo manifests 2025-Q3", keys["exporter"])
    first = request("the exporter requests a transfer to the partner (intl_trade)", keys["exporter"],
                    asset_id=manifests, purpose="intl_trade")

    say("2. a customer list with sensitive personal information")
    customers, _ = register("Cross-border e-commerce customers", keys["exporter"], delivery.customer_list(tag),
                            contains_pi=True, sensitive_pi=True, subjects=5000, sensitive_subjects=50)
    second = request("the exporter requests it with notice and PIPIA declared", keys["exporter"], asset_id=customers,
                     purpose="other", subjects=5000, sensitive_subjects=50,
                     attestations={"notice": "sha256:notice-2025", "pipia": "sha256:pipia-2025"})
    filing = f"SC-{tag}"
    part.governance(f"the regulator's standard-contract filing {filing} is registered through governance",
                    "register_decision", {"id": filing, "kind": "standard_contract", "holder": exporter,
                                          "status": "FILED", "effective": "2025-01-01", "filing_id": f"BJ-SC-{tag}",
                                          "scope": {"recipients": [PARTNER], "purposes": [], "max_subjects": None}})
    part.run(f"the exporter attaches {filing}", "crossborder", "attach_evidence",
             {"transfer_id": second, "decisions": [filing]}, [keys["exporter"]])
    part.report(second)
    release(second, "standard contract filing checked")
    delivery.deliver(part, second, keys["partner"])

    say("3. core data")
    core, _ = register("Airport security perimeter model", keys["exporter"], f"perimeter {tag}\n".encode() * 512,
                       grade="CORE")
    third = request("the exporter requests it", keys["exporter"], asset_id=core, purpose="other")
    delivery.refused(part, third, keys["partner"])

    say("4. EU personal data sent from France to Daxing")
    eu_data, _ = register("EU consignee contacts", keys["eu"], contains_pi=True, subjects=800, origin="ABROAD",
                          eu_personal_data=True)
    fourth = request(f"{eu_exporter} requests a transfer to {exporter} in CN", keys["eu"], asset_id=eu_data,
                     recipient=exporter, destination="CN", purpose="other", subjects=800)
    part.run("it attaches Standard Contractual Clauses with a transfer impact assessment", "crossborder",
             "attach_evidence", {"transfer_id": fourth, "gdpr": {"mechanism": "SCC", "tia": True}}, [keys["eu"]])
    part.report(fourth)
    release(fourth, "SCCs and TIA on file")

    records = {transfer_id: part.transfer(transfer_id) for transfer_id in (first, second, third, fourth)}
    for url in part.urls[1:]:
        deadline = time.monotonic() + 30
        for transfer_id, record in records.items():
            while True:
                try:
                    theirs = part.get(url, f"/v1/transfers/{transfer_id}")
                except OSError:
                    theirs = None
                if theirs == record:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{url} disagrees on transfer {transfer_id}")
                time.sleep(0.2)
    say(f"  all {len(part.urls)} nodes return the same transfer records")
