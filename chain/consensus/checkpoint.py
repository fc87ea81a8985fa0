"""Checkpoints, watermarks and garbage collection (Castro & Liskov OSDI'99 §4.3).

After committing a height that is a multiple of K a replica multicasts a signed CHECKPOINT(h, d) —
d is the block hash, which covers the state root. A quorum of matching CHECKPOINTs including this
replica's own makes the checkpoint *stable*: it becomes the low watermark, the high watermark is
``low + window``, and the log below it is discarded. The latest own CHECKPOINT is re-sent on the status
timer until it is stable, so lost checkpoints cannot stall the window.
"""

from __future__ import annotations

from chain.consensus.events import Action, Broadcast
from chain.consensus.log import collect_garbage
from chain.consensus.messages import CHECKPOINT, Checkpoint, Message, make_message
from chain.consensus.state import ReplicaState, drop


def send_checkpoint(state: ReplicaState, height: int, block_hash: bytes, out: list[Action]) -> None:
    """§4.3: multicast CHECKPOINT(h, d) after committing height h (a multiple of K)."""
    if height <= state.stable_checkpoint:
        return
    config = state.config
    state.own_checkpoint = make_message(config.signer, config.chain_id, config.my_index, CHECKPOINT,
                                        Checkpoint(height, block_hash))
    out.append(Broadcast(state.own_checkpoint))
    state.checkpoints.setdefault(height, {})[config.my_index] = block_hash
    _try_stabilize(state, height)


def on_checkpoint(state: ReplicaState, message: Message, out: list[Action]) -> None:
    """§4.3: log a peer's CHECKPOINT within the window; a matching quorum makes it stable."""
    checkpoint: Checkpoint = message.body
    if checkpoint.height % state.config.checkpoint_interval != 0:
        return drop(state, "malformed")
    if checkpoint.height <= state.stable_checkpoint:
        return drop(state, "old_checkpoint")
    if checkpoint.height > state.high_watermark + state.config.window:
        return drop(state, "outside_watermarks")
    bucket = state.checkpoints.get(checkpoint.height, {})
    previous = bucket.get(message.sender)
    if previous is not None:
        return drop(state, "duplicate" if previous == checkpoint.block_hash else "conflicting_vote")
    state.checkpoints.setdefault(checkpoint.height, {})[message.sender] = checkpoint.block_hash
    _try_stabilize(state, checkpoint.height)


def _try_stabilize(state: ReplicaState, height: int) -> None:
    bucket = state.checkpoints.get(height, {})
    own = bucket.get(state.config.my_index)
    if own is None or height <= state.stable_checkpoint:
        return
    if sum(1 for digest in bucket.values() if digest == own) < state.q:
        return
    state.stable_checkpoint = height
    state.checkpoints = {h: b for h, b in state.checkpoints.items() if h > height}
    collect_garbage(state)
    state.replay_needed = True


def stabilize_certified(state: ReplicaState, height: int) -> None:
    """A committed checkpoint block whose CommitCertificate this replica verified is stable: a quorum
    committed it, so a quorum agrees on its state (the block hash covers ``state_root``) — the proof a
    quorum of CHECKPOINTs gives in §4.3. A replica that caught up past checkpoints that are already
    stable for its peers (they never re-send those) moves its watermarks with it (issue 13, ADR 0013)."""
    if height % state.config.checkpoint_interval != 0 or height <= state.stable_checkpoint:
        return
    state.stable_checkpoint = height
    state.checkpoints = {h: b for h, b in state.checkpoints.items() if h > height}
    collect_garbage(state)
    state.replay_needed = True


def retransmit(state: ReplicaState, out: list[Action]) -> None:
    """Status timer: re-send the latest own CHECKPOINT while it is not yet stable."""
    if state.own_checkpoint and max(state.checkpoints, default=0) > state.stable_checkpoint:
        own_heights = [h for h, b in state.checkpoints.items() if state.config.my_index in b]
        if own_heights:
            out.append(Broadcast(state.own_checkpoint))
