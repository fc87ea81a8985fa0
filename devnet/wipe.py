"""``python -m devnet wipe N``: delete a node's store and start it again through state sync (ADR 0021)."""

from __future__ import annotations

import argparse
from pathlib import Path

from devnet import layout, procs


def cmd_wipe(args: argparse.Namespace) -> int:
    """Kill one node, delete its store and start it again with ``--state-sync`` (ADR 0021)."""
    import shutil

    from chain.config import load_config, save_config

    manifest = layout.load_manifest(Path(args.dir))
    entry = manifest.node(args.node)  # a clear error for a bad index
    procs.kill_node(manifest, args.node)
    home = Path(entry.home)
    config = load_config(home)
    save_config(home, config.model_copy(update={"state_sync_min_blocks": args.min_blocks}))
    shutil.rmtree(config.path(home, config.data_dir), ignore_errors=True)
    extra = () if args.replay else ("--state-sync",)
    procs.start_nodes(manifest, [args.node], lambda _index: (extra, None))
    if not args.no_wait:
        procs.wait_ready(manifest, [args.node], timeout=args.ready_timeout)
    how = "replays every block" if args.replay else f"state-syncs (at least {args.min_blocks} blocks behind)"
    print(f"node {args.node} wiped and started (pid {manifest.node(args.node).pid}); it {how}")
    return 0
