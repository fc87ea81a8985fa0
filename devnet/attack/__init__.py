"""``python -m devnet attack``: probe a devnet from outside as an attacker would, and measure it.

Every attack of issue 12 (and the ones added since) runs against real node processes: first a quiet
window to measure the normal block rate, then the attack while an :class:`~devnet.attack.observe.Observer`
records blocks/s, empty blocks, view changes and the nodes' peak RSS, then a recovery window. The
report is the security figures table of ``docs/security.md``; ``--json`` prints it for scripts.

This measures and reports; the black-box tests in ``tests/e2e/`` are what assert.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from devnet import layout, procs
from devnet.attack import api, peer
from devnet.attack.observe import Observer

Attack = Callable[[api.Target, dict[str, Any], float], Coroutine[Any, Any, api.Outcome]]


async def _expiring_few(target: api.Target, kit: dict[str, Any], seconds: float) -> api.Outcome:
    return await api.expiring_transactions(target, kit["registrars"][:8], 8)


async def _expiring_many(target: api.Target, kit: dict[str, Any], seconds: float) -> api.Outcome:
    return await api.expiring_transactions(target, kit["registrars"], 10_000)


async def _relay(target: api.Target, kit: dict[str, Any], seconds: float) -> api.Outcome:
    return await peer.relay_every_pair(target.manifest, seconds)


async def _preauth(target: api.Target, kit: dict[str, Any], seconds: float) -> api.Outcome:
    return await peer.preauth_flood(target.manifest, 60, seconds)


async def _sync(target: api.Target, kit: dict[str, Any], seconds: float) -> api.Outcome:
    return await api.sync_pull(target, 4, seconds)


async def _malformed(target: api.Target, kit: dict[str, Any], seconds: float) -> api.Outcome:
    before = api.tracebacks_in_logs(target)
    outcome = await api.malformed_bodies(target)
    added = api.tracebacks_in_logs(target) - before
    outcome.counts["tracebacks_logged"] = added
    outcome.refused = outcome.refused and added == 0
    return outcome


async def _many_addresses(target: api.Target, kit: dict[str, Any], seconds: float) -> api.Outcome:
    return await api.many_addresses(target, kit["registrars"], 100, 40)


async def _fresh_key(target: api.Target, kit: dict[str, Any], seconds: float) -> api.Outcome:
    return await api.fresh_key_writes(target)


ATTACK_PARAMS: dict[str, dict[str, Any]] = {
    # blocks of 2: most of a batch valid until H + 1 misses H + 1 however the primary batches (ADR 0019)
    "expiring-8": {"max_block_txs": 2},
    "expiring-10k": {"max_block_txs": 2},
    # a write budget this machine's own client can exceed: 100 tx/s per address, 200 in total (ADR 0011)
    "many-addresses": {"api_rate_per_second": 100},
}
"""Genesis parameters of the fresh devnet an attack runs on, where it needs other than the defaults."""

ATTACKS: dict[str, tuple[str, Attack]] = {
    "expiring-8": ("8 txs valid until H+1 that miss H+1 (member keys)", _expiring_few),
    "expiring-10k": ("10,000 txs valid until H+1 (100 member keys)", _expiring_many),
    "relay": ("keyless relay spliced between every pair of validators", _relay),
    "preauth-flood": ("60 unauthenticated peer connections: bombs, huge lengths, slowloris", _preauth),
    "sync-pull": ("4 anonymous clients pulling /v1/sync/blocks", _sync),
    "malformed": ("nested JSON/msgpack, bad UTF-8, huge declared lengths", _malformed),
    "many-addresses": ("tx flood from 100 loopback source addresses (write budget 200 tx/s)", _many_addresses),
    "fresh-key": ("a key nobody enrolled writes state", _fresh_key),
}


def run_attack(manifest: layout.Manifest, name: str, kit: dict[str, Any], window_s: float) -> dict[str, Any]:
    """Quiet window, attack window, recovery window; return one row of the figures table."""
    target = api.Target(manifest)
    description, attack = ATTACKS[name]
    with Observer(manifest) as quiet:
        asyncio.run(asyncio.sleep(window_s))
    with Observer(manifest) as during:
        outcome = asyncio.run(_bounded(attack(target, kit, window_s), window_s))
    with Observer(manifest) as after:
        asyncio.run(asyncio.sleep(window_s))
    return {
        "attack": name,
        "description": description,
        "outcome": outcome.as_dict(),
        "quiet": quiet.as_dict(),
        "during": during.as_dict(),
        "after": after.as_dict(),
    }


async def _bounded(attack: Coroutine[Any, Any, api.Outcome], window_s: float) -> api.Outcome:
    """Run an attack for at least the window (so the observer sees its effect) and at most 4 windows."""
    task = asyncio.ensure_future(attack)
    await asyncio.sleep(window_s)
    try:
        return await asyncio.wait_for(task, 3 * window_s)
    except TimeoutError:
        return api.Outcome(True, "attack did not finish in time (its requests were held)", {})


def format_table(rows: list[dict[str, Any]]) -> str:
    head = (f"{'attack':<15} {'refused':<7} {'blk/s quiet':>11} {'blk/s during':>12} {'empty':>6} "
            f"{'views+':>6} {'blk/s after':>11} {'peak RSS MB':>11}  detail")
    lines = [head, "-" * len(head)]
    for row in rows:
        q, d, a, o = row["quiet"], row["during"], row["after"], row["outcome"]
        lines.append(
            f"{row['attack']:<15} {'yes' if o['refused'] else 'NO':<7} {q['blocks_per_s']:>11.1f} "
            f"{d['blocks_per_s']:>12.1f} {d['empty_blocks']:>6} {d['view_changes'] + a['view_changes']:>6} "
            f"{a['blocks_per_s']:>11.1f} {max(d['peak_rss_mb'], a['peak_rss_mb']):>11.0f}  {o['detail']}"
        )
    return "\n".join(lines)


def _own_devnet(nodes: int, params: dict[str, Any] | None = None) -> layout.Manifest:
    directory = Path(tempfile.mkdtemp(prefix="silkport-attack-"))
    manifest = layout.create_layout(directory, nodes, params=params)
    procs.init_nodes(manifest)
    manifest.save()
    procs.start_nodes(manifest)
    procs.wait_ready(manifest)
    return manifest


def _row(manifest: layout.Manifest, name: str, kit: dict[str, Any], args: Any) -> dict[str, Any]:
    row = run_attack(manifest, name, kit, args.window)
    if not args.json:
        print(format_table([row]).splitlines()[-1], flush=True)
    return row


def main(args: Any) -> int:
    names = list(ATTACKS) if not args.only else [n.strip() for n in args.only.split(",")]
    unknown = [n for n in names if n not in ATTACKS]
    if unknown:
        print(f"unknown attack(s): {', '.join(unknown)}; known: {', '.join(ATTACKS)}")
        return 2
    rows: list[dict[str, Any]] = []
    if args.dir:  # one running devnet for every attack
        manifest = layout.load_manifest(Path(args.dir))
        kit = {"registrars": asyncio.run(api.enrol_registrars(api.Target(manifest), 100))}
        for name in names:
            rows.append(_row(manifest, name, kit, args))
            procs.start_nodes(manifest)  # an attack that crashed a node must not spoil the next row
            procs.wait_ready(manifest)
    else:  # a fresh devnet per attack: one attack's damage cannot spoil the next row
        for name in names:
            manifest = _own_devnet(args.nodes, ATTACK_PARAMS.get(name))
            try:
                kit = {"registrars": asyncio.run(api.enrol_registrars(api.Target(manifest), 100))}
                rows.append(_row(manifest, name, kit, args))
            finally:
                procs.stop_nodes(manifest)
                if not args.keep:
                    shutil.rmtree(manifest.directory, ignore_errors=True)
    print(json.dumps(rows, indent=1) if args.json else "\n" + format_table(rows))
    return 0
