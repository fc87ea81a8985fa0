"""State sync from a certified checkpoint snapshot (ADR 0021).

- :mod:`chain.statesync.snapshot` — the snapshot format and its checks against a certified root (pure);
- :mod:`chain.statesync.source` — a serving node's manifest, chunks and history pages at a checkpoint;
- :mod:`chain.statesync.install` — one synced LevelDB batch that replaces the state;
- :mod:`chain.statesync.sync` — the receiving side: fetch from every peer, verify, install.
"""
