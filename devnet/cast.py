"""The devnet's cast: the parties a newcomer needs, enrolled on chain by ``devnet up`` (issue 16, part 2; ADR 0024).

``devnet up`` writes one key per party under ``D/cast/`` (mode 0600) and has the port authority (the
genesis authority quorum, 2 of ``D/authorities/authority{0,1,2}.json``) register each party's
organisation, admit its key as a member and grant its role — ordinary governance transactions
through node 0's REST API, committed like any other. ``D/cast/cast.json`` lists who is who.

==========  ===========================  ====================  ==========  ===================================
party       organisation                 type, jurisdiction    role        acts as
==========  ===========================  ====================  ==========  ===================================
registrar   daxing-data-exchange         EXCHANGE, CN          registrar   registers assets, anchors hashes
owner       jinghai-logistics            COMPANY, CN           (member)    owns assets, exporter of transfers
appraiser   zhongxin-appraisal           APPRAISER, CN         appraiser   values assets
bank        port-bank                    BANK, CN              lender      takes pledges
customs     daxing-customs               CUSTOMS, CN           customs     reviews cross-border transfers
recipient   eu-logistics-partner         COMPANY, DE           (member)    foreign recipient (the DE validator's)
==========  ===========================  ====================  ==========  ===================================

Enrolment is idempotent: an organisation that exists is not registered again, ``add_member`` binds
the same key to the same organisation, and ``role_already_granted`` counts as done; once every
party's organisation exists and ``cast.json`` says the enrolment finished, nothing is submitted.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chain.client import ApiError, Client
from chain.crypto import KeyPair, load_key_file, save_key_file
from chain.errors import ConfigError, SilkportError
from chain.types import make_tx
from devnet import layout

CAST_DIR = "cast"
CAST_FILE = "cast.json"
CAST_FORMAT = "silkport-devnet-cast/1"
ZONE = "BJ-DAXING"
COMMIT_TIMEOUT_S = 30.0
ALREADY_DONE = frozenset({"duplicate_organisation", "role_already_granted"})
"""Refusals that mean an earlier enrolment already did this step."""


class CastError(SilkportError):
    """The cast could not be enrolled (a refused or uncommitted governance transaction)."""

    code = "cast_enrolment_failed"


@dataclass(frozen=True, slots=True)
class Party:
    """One member of the cast: its name (= key file stem), organisation record and on-chain role."""

    name: str
    organisation: dict[str, Any]
    role: str | None
    acts_as: str


PARTIES: tuple[Party, ...] = (
    Party("registrar", {"id": "daxing-data-exchange", "name": "Daxing International Data Exchange",
                        "jurisdiction": "CN", "zone": ZONE, "type": "EXCHANGE"},
          "registrar", "registers assets, anchors hashes"),
    Party("owner", {"id": "jinghai-logistics", "name": "Jinghai Logistics Co., Ltd.", "jurisdiction": "CN",
                    "zone": ZONE, "type": "COMPANY"}, None, "owns assets; exporter of transfers"),
    Party("appraiser", {"id": "zhongxin-appraisal", "name": "Zhongxin Asset Appraisal", "jurisdiction": "CN",
                        "type": "APPRAISER"}, "appraiser", "values assets"),
    Party("bank", {"id": "port-bank", "name": "Beijing Port Commercial Bank", "jurisdiction": "CN",
                   "type": "BANK"}, "lender", "takes assets as collateral"),
    Party("customs", {"id": "daxing-customs", "name": "Daxing Airport Customs", "jurisdiction": "CN",
                      "zone": ZONE, "type": "CUSTOMS"}, "customs", "reviews cross-border transfers"),
    Party("recipient", {"id": "eu-logistics-partner", "name": "EU Logistics Partner GmbH", "jurisdiction": "DE",
                        "type": "COMPANY"}, None, "foreign recipient of transfers"),
)


def enrolment_calls(organisation: dict[str, Any], public_key: bytes, role: str | None,
                    *, register: bool = True) -> list[tuple[str, dict[str, Any]]]:
    """The governance calls ``(method, args)`` that enrol one party: register its organisation (when
    ``register``), admit ``public_key`` as a member, grant ``role`` (when given). The demo uses them too."""
    calls: list[tuple[str, dict[str, Any]]] = []
    if register:
        calls.append(("register_organisation", dict(organisation)))
    calls.append(("add_member", {"public_key": public_key, "organisation": organisation["id"]}))
    if role is not None:
        calls.append(("grant_role", {"public_key": public_key, "role": role}))
    return calls


def key_path(directory: Path, name: str) -> Path:
    return directory / CAST_DIR / f"{name}.json"


def write_keys(directory: Path) -> dict[str, KeyPair]:
    """Create ``D/cast/<party>.json`` for every party that has none (mode 0600); load the others."""
    folder = directory / CAST_DIR
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    keys: dict[str, KeyPair] = {}
    for party in PARTIES:
        path = key_path(directory, party.name)
        if path.exists():
            keys[party.name] = load_key_file(path)
        else:
            keys[party.name] = KeyPair.generate()
            save_key_file(path, keys[party.name])
    return keys


def load_record(directory: Path) -> dict[str, Any] | None:
    """``D/cast/cast.json``, or None if there is none (a devnet made with ``--no-cast``)."""
    path = directory / CAST_DIR / CAST_FILE
    try:
        document: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    if document.get("format") != CAST_FORMAT:
        raise ConfigError(f"{path} is not a {CAST_FORMAT} file")
    return document


def _save_record(directory: Path, chain_id: str, keys: dict[str, KeyPair], enrolled_height: int | None) -> None:
    path = directory / CAST_DIR / CAST_FILE
    document = {
        "format": CAST_FORMAT,
        "chain_id": chain_id,
        "enrolled_height": enrolled_height,
        "parties": [
            {"party": p.name, "organisation": p.organisation["id"], "role": p.role, "acts_as": p.acts_as,
             "public_key": keys[p.name].public_hex, "key_file": str(key_path(directory, p.name))}
            for p in PARTIES
        ],
    }
    temp = path.with_suffix(".json.tmp")
    temp.write_text(json.dumps(document, indent=2) + "\n")
    os.replace(temp, path)


def _existing_organisations(client: Client) -> set[str]:
    found = set()
    for party in PARTIES:
        try:
            client.organisation(party.organisation["id"])
        except ApiError as exc:
            if exc.status != 404:
                raise
        else:
            found.add(party.organisation["id"])
    return found


def provision(directory: Path, chain_id: str, api: str, authorities: Sequence[KeyPair],
              say: Callable[[str], None] = print) -> int:
    """Write the cast's keys and enrol them on the chain behind ``api``; return the transactions committed.

    ``authorities`` is the governance quorum that signs (the first is the sender)."""
    keys = write_keys(directory)
    client = Client(api)
    existing = _existing_organisations(client)
    record = load_record(directory)
    if record and record.get("enrolled_height") is not None and record.get("chain_id") == chain_id \
            and existing == {p.organisation["id"] for p in PARTIES}:
        say(f"cast already enrolled (block {record['enrolled_height']}); keys: python -m devnet keys --dir {directory}")
        return 0
    _save_record(directory, chain_id, keys, None)
    nonce = int(time.time() * 1000)
    tx_ids: list[tuple[str, str]] = []
    for party in PARTIES:
        for method, args in enrolment_calls(party.organisation, keys[party.name].public_key, party.role,
                                            register=party.organisation["id"] not in existing):
            nonce += 1  # one sender, increasing nonces: the mempool keeps them in order (one round trip)
            tx = make_tx(chain_id, "governance", method, args, list(authorities), nonce)
            tx_ids.append((f"{method} for {party.name}", client.submit(tx)))
    height = 0
    for what, tx_id in tx_ids:
        info = client.tx(tx_id, wait=True, timeout=COMMIT_TIMEOUT_S)
        if info.get("status") != "committed":
            raise CastError(f"cast: {what} (tx {tx_id}) was not committed within {COMMIT_TIMEOUT_S:.0f} s")
        receipt = info["receipt"]
        if not receipt["ok"] and receipt["error_code"] not in ALREADY_DONE:
            raise CastError(f"cast: {what} refused: {receipt['error_code']}")
        height = max(height, int(info["height"]))
    _save_record(directory, chain_id, keys, height)
    say(f"cast enrolled in {len(tx_ids)} governance transactions (up to block {height}): "
        + ", ".join(p.name for p in PARTIES) + f"; keys in {directory / CAST_DIR}")
    return len(tx_ids)


def key_rows(directory: Path) -> list[dict[str, Any]]:
    """Every key of the devnet in ``directory``: validators, authorities, then the cast."""
    manifest = layout.load_manifest(directory)
    rows: list[dict[str, Any]] = [
        {"role": "validator", "organisation": e.organisation, "file": e.key_file, "public_key": e.id,
         "note": f"node {e.index} ({e.jurisdiction})"}
        for e in manifest.nodes
    ]
    genesis = json.loads(Path(manifest.genesis).read_text())
    threshold = genesis["authorities"]["threshold"]
    count = len(genesis["authorities"]["public_keys"])
    for path in sorted((manifest.directory / "authorities").glob("authority*.json")):
        rows.append({"role": "authority", "organisation": "port authority", "file": str(path),
                     "public_key": load_key_file(path).public_hex,
                     "note": f"governance needs {threshold} of {count} authority keys"})
    record = load_record(manifest.directory)
    for party in (record or {}).get("parties", []):
        rows.append({"role": party["party"], "organisation": party["organisation"], "file": party["key_file"],
                     "public_key": party["public_key"],
                     "note": (f"role {party['role']}" if party["role"] else "member") + "; " + party["acts_as"]
                     + ("" if record and record.get("enrolled_height") is not None else " (NOT enrolled yet)")})
    return rows


def cmd_keys(args: argparse.Namespace) -> int:
    rows = key_rows(Path(args.dir))
    if args.json:
        print(json.dumps({"keys": rows}, indent=2))
        return 0
    cwd = Path.cwd()
    for row in rows:
        path = Path(row["file"])
        shown = path.relative_to(cwd) if path.is_relative_to(cwd) else path
        print(f"{row['role']:<10} {row['organisation']:<24} {shown}  {row['note']}")
    if not any(r["role"] not in ("validator", "authority") for r in rows):
        print("no cast: this devnet was made with --no-cast", file=sys.stderr)
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    """Shell lines pointing the ``silkport`` command at node 0: ``eval "$(python -m devnet env)"``."""
    manifest = layout.load_manifest(Path(args.dir))
    print(f"export SILKPORT_NODE={shlex.quote(manifest.nodes[0].api)}")
    print(f"export SILKPORT_GENESIS={shlex.quote(manifest.genesis)}")
    return 0
