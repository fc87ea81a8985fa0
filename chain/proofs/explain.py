"""``silkport verify --explain``: a verified proof as a tree a person at a customs desk can read.

asset (or anchored hash) → its events, newest first → the blocks holding them → the certified header
and its CommitCertificate → the validator sets, traced from genesis. Only what :mod:`chain.proofs`
verified is shown.
"""

from __future__ import annotations

import datetime
import sys

from rich.console import Console
from rich.markup import escape
from rich.tree import Tree

from chain.proofs.verify import Verified, Verifier


def _time(timestamp_ms: int) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp_ms / 1000, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _short(text: str) -> str:
    return text[:16] + "…"


def build_tree(result: Verified) -> Tree:
    """The rich Tree of a verified document."""
    if result.kind == "anchor":
        d = result.details
        root = Tree(f"[bold]anchored hash[/] {result.subject}")
        batch = root.add(f"batch {escape(repr(d['label']))}: position {d['position']} of {d['size']}, "
                         f"root {_short(d['root'])} (RFC 6962 batch inclusion ✓)")
        block = result.blocks[d["height"]]
        batch.add(f"transaction {d['tx_index']} of block {d['height']}, signed by registrar {_short(d['registrar'])} "
                  f"(signature ✓, tx_root inclusion ✓)")
        batch.add(f"block {block.height} at {_time(block.timestamp_ms)}, hash {_short(block.hash_hex)}")
    else:
        record = result.details["record"]
        root = Tree(f"[bold]data asset[/] {result.subject}")
        facts = root.add(f"record at height {result.certified.height} (state proof ✓)")
        for name in ("certificate", "title", "owner_org", "grade", "status"):
            if name in record:
                facts.add(f"{name}: {escape(str(record[name]))}")
        events = root.add(f"{len(result.events)} event(s), newest first — chain complete back to registration ✓")
        for ref, event in result.events:
            block = result.blocks[ref.height]
            events.add(f"{event.contract}.{event.name} — block {ref.height} tx {ref.tx_index}, "
                       f"{_time(block.timestamp_ms)} (signatures ✓, tx_root ✓, history ✓)")
        if result.details.get("lineage"):
            parents = root.add("lineage: derived from")
            for parent_id, ref in result.details["lineage"]:
                parents.add(f"asset {parent_id} registered at block {ref.height} tx {ref.tx_index} ✓")
    head = result.certified
    certified = root.add(f"[bold]certified header[/] height {head.height}, {_time(head.timestamp_ms)}, "
                         f"hash {_short(head.hash_hex)}")
    epoch = Verifier.epoch_at(result.epochs, head.height)
    signers = ", ".join(epoch.names[index] for index, _ in result.certificate.signatures if index < len(epoch.names))
    certified.add(f"commit certificate: {len(result.certificate.signatures)} of {len(epoch.keys)} validators "
                  f"signed ({escape(signers)}) ✓")
    certified.add("genesis block included in its history ✓ (genesis recomputed from the genesis file)")
    validators = certified.add("validator sets traced from genesis")
    for number, item in enumerate(result.epochs):
        label = "genesis set" if number == 0 else f"from height {item.from_height} (checkpoint change ✓)"
        validators.add(f"{label}: {escape(', '.join(item.names))}")
    return root


def explain(result: Verified, console: Console | None = None) -> None:
    if console is None:  # piped or redirected: no terminal width to fit, so crop nothing
        console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 10_000)
    console.print(build_tree(result))
