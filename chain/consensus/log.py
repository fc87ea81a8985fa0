"""The bounded message log of votes for future heights and views (TOCS 2002 §4.3, watermarks and GC).

Votes for a height above ``head + 1`` (but within the high watermark) or for a view this replica has
not installed yet are buffered, then re-examined when the head or view moves. The buffer is bounded in
count and bytes, and per sender (so one Byzantine replica cannot crowd out the others); excess is
dropped and counted as ``log_full``.
"""

from __future__ import annotations

from chain.consensus.messages import Message
from chain.consensus.state import ReplicaState, drop


def buffer_message(state: ReplicaState, message: Message) -> None:
    """Keep a verified vote for later, unless a bound would be exceeded."""
    config = state.config
    per_sender = max(1, config.max_log_messages // state.n)
    if (
        len(state.pending) >= config.max_log_messages
        or state.pending_bytes + message.size > config.max_log_bytes
        or state.pending_by_sender.get(message.sender, 0) >= per_sender
    ):
        drop(state, "log_full")
        return
    state.pending.append(message)
    state.pending_bytes += message.size
    state.pending_by_sender[message.sender] = state.pending_by_sender.get(message.sender, 0) + 1


def take_pending(state: ReplicaState) -> list[Message]:
    """Empty the buffer and return its messages (the caller re-dispatches them)."""
    messages = state.pending
    state.pending = []
    state.pending_bytes = 0
    state.pending_by_sender = {}
    return messages


def collect_garbage(state: ReplicaState) -> None:
    """Discard buffered votes for committed heights or abandoned views (after a stable checkpoint)."""
    keep = [m for m in state.pending if m.body.height > state.head_height and m.body.view >= state.view]
    if len(keep) != len(state.pending):
        state.pending = []
        state.pending_bytes = 0
        state.pending_by_sender = {}
        for message in keep:
            buffer_message(state, message)
