"""``python -m devnet demo [--dir D]``: a narrated data-asset scenario against a running devnet.

The port authority (a quorum of ``D/authorities/*.json``) registers the organisations of the story
— the Daxing data exchange (registrar), two owner companies, an appraiser, a bank (lender), a
customs office and a foreign partner in Germany — with one member key each and their roles. Then
the exchange registers an asset for each owner, the appraiser values one, its owner pledges it to
the bank, a sale is **refused while pledged** (the receipt's error code), the bank releases the
pledge, the sale goes through, and the exchange registers a derived asset whose parent is the
original. Every step prints a sentence, the transaction id and the block height. At the end every
node must report the same block hash at the final height.

Every run uses fresh keys and organisation ids (a random run tag), so the demo can run again on
the same devnet. A second part can be appended: :class:`DemoContext` carries the nodes, the chain
id, the authority keys, the organisations, keys and assets of this part, :meth:`DemoContext.say`
and :meth:`DemoContext.submit_and_wait`; if ``devnet/demo_crossborder.py`` exists and defines
``run(ctx)``, it runs after the asset story, before the final agreement check.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from chain import codec
from chain.client import ApiError, Client
from chain.contracts.registry import asset_id_for
from chain.crypto import KeyPair, load_key_file
from chain.errors import ConfigError, SilkportError
from chain.types import SignedTx, make_tx
from devnet import layout
from devnet.cast import enrolment_calls

COMMIT_TIMEOUT_S = 60.0
AGREE_TIMEOUT_S = 30.0
DAY_MS = 86_400_000
ZONE = "BJ-DAXING"


class DemoError(SilkportError):
    """A demo step did not turn out as the story says."""

    code = "demo_failed"


@dataclass
class DemoContext:
    """Everything a part of the demo needs: nodes, chain id, authority quorum, parties, narration."""

    directory: Path
    apis: list[str]
    chain_id: str
    genesis: Path
    authorities: list[KeyPair]
    run_tag: str
    out: TextIO = sys.stdout
    orgs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Party name (``exchange``, ``owner_a``, ``owner_b``, ``appraiser``, ``bank``, ``customs``,
    ``foreign``) -> the organisation's registration arguments (``id``, ``name``, ``jurisdiction``, ...)."""
    keys: dict[str, KeyPair] = field(default_factory=dict)
    """Party name -> the member key acting for that organisation."""
    assets: dict[str, str] = field(default_factory=dict)
    """``original`` (pledged, then sold), ``second``, ``derived`` -> asset id."""
    steps: list[dict[str, Any]] = field(default_factory=list)
    _nonces: dict[bytes, int] = field(default_factory=dict)

    @property
    def client(self) -> Client:
        return Client(self.apis[0])

    @property
    def quorum(self) -> list[KeyPair]:
        """Signers of a governance transaction: the first two authorities (threshold 2 of 3)."""
        return self.authorities[:2]

    def say(self, text: str) -> None:
        """Narrate one line."""
        print(text, file=self.out, flush=True)

    def nonce(self, sender: bytes) -> int:
        """Current time in ms, strictly above the last nonce this demo used for ``sender``."""
        value = max(int(time.time() * 1000), self._nonces.get(sender, 0) + 1)
        self._nonces[sender] = value
        return value

    def tx(self, contract: str, method: str, args: dict[str, Any], signers: Sequence[KeyPair]) -> SignedTx:
        """Build and sign a transaction (the first signer is the sender)."""
        return make_tx(self.chain_id, contract, method, args, list(signers), self.nonce(signers[0].public_key))

    def submit_and_wait(self, tx: SignedTx, timeout_s: float = COMMIT_TIMEOUT_S) -> dict[str, Any]:
        """Submit ``tx`` to node 0, wait for its commit, return its receipt.

        The receipt dict is ``{"status", "ok", "error_code", "events"}`` plus ``tx_id``, ``height`` and
        ``index`` of the committed transaction. Raises :class:`DemoError` if it does not commit in time.
        """
        client = self.client
        tx_id = client.submit(tx)
        deadline = time.monotonic() + timeout_s
        while True:
            info = client.tx(tx_id, wait=True, timeout=min(10.0, timeout_s))
            if info.get("status") == "committed":
                receipt: dict[str, Any] = dict(info["receipt"])
                receipt.update(tx_id=tx_id, height=info["height"], index=info["index"])
                return receipt
            if time.monotonic() > deadline:
                raise DemoError(f"transaction {tx_id} was not committed within {timeout_s:.0f} s")

    def step(self, text: str, contract: str, method: str, args: dict[str, Any], signers: Sequence[KeyPair],
             *, expect: str = "") -> dict[str, Any]:
        """Narrate ``text``, run one transaction and check its outcome (``expect`` = the refusal code)."""
        receipt = self.submit_and_wait(self.tx(contract, method, args, signers))
        outcome = "ok" if receipt["ok"] else f"refused: {receipt['error_code']}"
        number = len(self.steps) + 1
        self.say(f"[{number:2d}] {text}")
        self.say(f"     tx {receipt['tx_id']}  block {receipt['height']}  {outcome}")
        self.steps.append({"text": text, "tx_id": receipt["tx_id"], "height": receipt["height"], "outcome": outcome})
        wanted = "ok" if not expect else f"refused: {expect}"
        if outcome != wanted:
            raise DemoError(f"step {number} ({contract}.{method}): expected {wanted}, got {outcome}")
        return receipt


def load_context(directory: Path, out: TextIO = sys.stdout) -> DemoContext:
    """The context of a running devnet in ``directory`` (manifest, genesis, authority keys)."""
    manifest = layout.load_manifest(directory)
    genesis = Path(manifest.genesis)
    document = json.loads(genesis.read_text())
    if document.get("chain_id") != manifest.chain_id:
        raise ConfigError(f"{genesis} is for chain {document.get('chain_id')!r}, not {manifest.chain_id!r}")
    authorities = [load_key_file(p) for p in sorted((manifest.directory / "authorities").glob("authority*.json"))]
    threshold = int(document["authorities"]["threshold"])
    if len(authorities) < threshold:
        raise ConfigError(f"{len(authorities)} authority keys in {manifest.directory / 'authorities'}, "
                          f"the quorum needs {threshold}")
    return DemoContext(manifest.directory, [e.api for e in manifest.nodes], manifest.chain_id, genesis,
                       authorities, os.urandom(3).hex(), out)


# --- part one: organisations and data assets --------------------------------------------------------------


def parties(tag: str) -> dict[str, dict[str, Any]]:
    return {
        "exchange": {"id": f"daxing-data-exchange-{tag}", "name": "Daxing International Data Exchange",
                     "jurisdiction": "CN", "zone": ZONE, "type": "EXCHANGE"},
        "owner_a": {"id": f"jinghai-logistics-{tag}", "name": "Jinghai Logistics Co., Ltd.", "jurisdiction": "CN",
                    "zone": ZONE, "type": "COMPANY"},
        "owner_b": {"id": f"yunhe-cold-chain-{tag}", "name": "Yunhe Cold Chain Co., Ltd.", "jurisdiction": "CN",
                    "zone": ZONE, "type": "COMPANY"},
        "appraiser": {"id": f"zhongxin-appraisal-{tag}", "name": "Zhongxin Asset Appraisal", "jurisdiction": "CN",
                      "type": "APPRAISER"},
        "bank": {"id": f"port-bank-{tag}", "name": "Beijing Port Commercial Bank", "jurisdiction": "CN",
                 "type": "BANK"},
        "customs": {"id": f"daxing-customs-{tag}", "name": "Daxing Airport Customs", "jurisdiction": "CN",
                    "zone": ZONE, "type": "CUSTOMS"},
        "foreign": {"id": f"hansa-logistik-{tag}", "name": "Hansa Logistik GmbH", "jurisdiction": "DE",
                    "type": "COMPANY"},
    }


ROLES = {"exchange": "registrar", "appraiser": "appraiser", "bank": "lender", "customs": "customs"}


def set_up_port(ctx: DemoContext) -> None:
    """The authority quorum registers the organisations, their member keys and roles."""
    ctx.say(f"Silkport demo on chain {ctx.chain_id} ({len(ctx.apis)} nodes), run {ctx.run_tag}")
    ctx.say("The port authority (2 of 3 authority keys) registers the organisations of the story:")
    ctx.orgs.update(parties(ctx.run_tag))
    for party, org in ctx.orgs.items():
        ctx.keys[party] = key = KeyPair.generate()
        for method, args in enrolment_calls(org, key.public_key, ROLES.get(party)):  # the devnet cast's calls
            text = {"register_organisation": f"register {org['name']} ({org['type'].lower()}, "
                                             f"{org['jurisdiction']}) as {org['id']}",
                    "add_member": f"admit key {key.public_hex[:16]}… as a member of {org['name']}",
                    "grant_role": f"grant the {args.get('role')} role to {org['name']}"}[method]
            ctx.step(text, "governance", method, args, ctx.quorum)


def _register(ctx: DemoContext, text: str, owner: str, title: str, content: bytes,
              parents: Sequence[str] = (), **classification: Any) -> str:
    content_hash = codec.sha256(content)
    args = {"content_hash": content_hash, "size": len(content), "format": "csv", "title": title,
            "owner": ctx.keys[owner].public_key, "parents": list(parents),
            "classification": {"sector": "logistics", "grade": "GENERAL", "origin": "CN", **classification}}
    tx = ctx.tx("registry", "register", args, [ctx.keys["exchange"], ctx.keys[owner]])
    asset_id = asset_id_for(tx.tx_hash, content_hash)
    receipt = ctx.submit_and_wait(tx)
    certificate = next((e["data"].get("certificate") for e in receipt["events"] if e["name"] == "registered"), None)
    number = len(ctx.steps) + 1
    ctx.say(f"[{number:2d}] {text}: asset {asset_id[:16]}…, certificate {certificate}")
    ctx.say(f"     tx {receipt['tx_id']}  block {receipt['height']}  "
            f"{'ok' if receipt['ok'] else 'refused: ' + receipt['error_code']}")
    ctx.steps.append({"text": text, "tx_id": receipt["tx_id"], "height": receipt["height"], "asset_id": asset_id})
    if not receipt["ok"]:
        raise DemoError(f"registration refused: {receipt['error_code']}")
    return asset_id


def asset_story(ctx: DemoContext) -> None:
    """Register, appraise, pledge, refused sale, release, sale, derived asset."""
    k, o = ctx.keys, ctx.orgs
    ctx.say("")
    ctx.say("Data assets:")
    salt = os.urandom(16)
    original = _register(ctx, f"{o['exchange']['name']} registers 'Air cargo manifests 2025' for {o['owner_a']['name']}",
                         "owner_a", "Air cargo manifests 2025", b"manifests" + salt, fields=["awb", "weight_kg"])
    second = _register(ctx, f"{o['exchange']['name']} registers 'Cold-chain sensor logs' for {o['owner_b']['name']}",
                       "owner_b", "Cold-chain sensor logs", b"sensors" + salt, fields=["container", "temp_c"])
    ctx.assets.update(original=original, second=second)
    ctx.step(f"{o['appraiser']['name']} values the manifests at CNY 1,250,000.00 (income approach)",
             "valuation", "appraise", {"asset_id": original, "amount": 125_000_000, "currency": "CNY",
                                       "method": "income", "report_hash": codec.sha256(b"appraisal report" + salt)},
             [k["appraiser"]])
    due = int(time.time() * 1000) + 180 * DAY_MS
    ctx.step(f"{o['owner_a']['name']} pledges the manifests to {o['bank']['name']} for a CNY 800,000.00 loan "
             "(owner and bank co-sign)", "collateral", "pledge",
             {"asset_id": original, "pledgee": k["bank"].public_key, "amount": 80_000_000, "currency": "CNY",
              "due_ms": due}, [k["owner_a"], k["bank"]])
    sale = {"asset_id": original, "new_owner": k["owner_b"].public_key, "price": 150_000_000, "currency": "CNY"}
    refused = ctx.step(f"{o['owner_a']['name']} tries to sell the pledged manifests to {o['owner_b']['name']} "
                       "without the bank", "registry", "transfer", sale, [k["owner_a"], k["owner_b"]],
                       expect="asset_pledged")
    ctx.say(f"     the sale is refused while pledged: error code {refused['error_code']}")
    ctx.step(f"{o['bank']['name']} releases the pledge (loan repaid)", "collateral", "release",
             {"asset_id": original}, [k["bank"]])
    ctx.step(f"{o['owner_a']['name']} sells the manifests to {o['owner_b']['name']} for CNY 1,500,000.00",
             "registry", "transfer", sale, [k["owner_a"], k["owner_b"]])
    ctx.assets["derived"] = _register(
        ctx, f"{o['exchange']['name']} registers derived 'Lane statistics 2025' for {o['owner_b']['name']} "
        "(parent: the manifests)", "owner_b", "Lane statistics 2025", b"statistics" + salt, parents=[original])


# --- the end: summary and agreement -------------------------------------------------------------------------


def check_agreement(ctx: DemoContext) -> tuple[int, str]:
    """Wait until every node has the highest height any reports; all must have the same hash there."""
    clients = [Client(api) for api in ctx.apis]
    target = max(int(c.status()["height"]) for c in clients)
    deadline = time.monotonic() + AGREE_TIMEOUT_S
    hashes: list[str] = []
    for client in clients:
        while True:
            try:
                hashes.append(str(client.block(target)["hash"]))
                break
            except ApiError as exc:
                if exc.code != "not_found" or time.monotonic() > deadline:
                    raise DemoError(f"node {client.base_url} has no block {target}: {exc}") from exc
                time.sleep(0.1)
    if len(set(hashes)) != 1:
        raise DemoError("nodes disagree at height {}: {}".format(target, ", ".join(hashes)))
    return target, hashes[0]


def money(minor_units: int, currency: str) -> str:
    return f"{currency} {minor_units // 100:,}.{minor_units % 100:02d}"


def summary(ctx: DemoContext) -> None:
    if "original" not in ctx.assets:
        return
    client = ctx.client
    history = client.asset_history(ctx.assets["original"])
    record = client.asset(ctx.assets["original"])
    ctx.say("")
    ctx.say("Summary:")
    ctx.say(f"  {len(ctx.steps)} transactions, {sum(1 for s in ctx.steps if 'refused' in s.get('outcome', ''))} "
            "refused as the rules require")
    ctx.say(f"  asset {record['id'][:16]}… ({record['certificate']}) is owned by {record['owner_org']}, "
            f"not pledged, valued at {money(record['valuation']['amount'], record['valuation']['currency'])}")
    ctx.say(f"  its history has {len(history['events'])} hash-linked events back to its registration: "
            + " <- ".join(e["name"] for e in history["events"]))
    children = ", ".join(c[:16] + "…" for c in history["lineage"]["children"]) or "none"
    ctx.say(f"  lineage: the manifests' children are {children}; the derived asset's parent is {record['id'][:16]}…")


def run_second_part(ctx: DemoContext) -> None:
    """``devnet.demo_crossborder.run(ctx)`` if that module exists (written separately)."""
    try:
        module = importlib.import_module("devnet.demo_crossborder")
    except ImportError as exc:
        if exc.name != "devnet.demo_crossborder":
            raise
        return
    part = getattr(module, "run", None)
    if callable(part):
        ctx.say("")
        part(ctx)


def run(directory: Path, out: TextIO = sys.stdout) -> int:
    ctx = load_context(directory, out)
    set_up_port(ctx)
    asset_story(ctx)
    run_second_part(ctx)
    summary(ctx)
    height, block_hash = check_agreement(ctx)
    ctx.say(f"All {len(ctx.apis)} nodes agree: block {height} has hash {block_hash}")
    return 0


def main(args: Any) -> int:
    """Entry point from ``python -m devnet demo`` (``args.dir``)."""
    try:
        return run(Path(args.dir))
    except ApiError as exc:
        raise DemoError(f"node API: {exc}") from exc
