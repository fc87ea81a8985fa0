"""PBFT as a pure state machine: messages and timer events in, actions out (DESIGN.md §5).

``new_replica(config, head_height, head_hash, persisted)`` builds (or restores) a replica;
``step(state, event) -> (state, actions)`` advances it. See :mod:`chain.consensus.events` for the
events and actions, :mod:`chain.consensus.messages` for the wire format.
"""

from __future__ import annotations

from chain.consensus.events import (
    Action,
    BlockExecuted,
    Broadcast,
    CancelTimer,
    CatchUpReceived,
    CommitBlock,
    Event,
    ExecuteBlock,
    MessageReceived,
    PersistVote,
    ProposalFailed,
    ProposalReady,
    RelayRequests,
    RequestCatchUp,
    RequestProposal,
    RequestReceived,
    RequestsDone,
    RequestsDropped,
    Send,
    SetTimer,
    Start,
    TimerFired,
)
from chain.consensus.messages import BlockHandle, Message, decode_message, encode_block
from chain.consensus.replica import new_replica, step
from chain.consensus.state import ReplicaConfig, ReplicaState

__all__ = [
    "Action",
    "BlockExecuted",
    "BlockHandle",
    "Broadcast",
    "CancelTimer",
    "CatchUpReceived",
    "CommitBlock",
    "Event",
    "ExecuteBlock",
    "Message",
    "MessageReceived",
    "PersistVote",
    "ProposalFailed",
    "ProposalReady",
    "ReplicaConfig",
    "RelayRequests",
    "ReplicaState",
    "RequestCatchUp",
    "RequestProposal",
    "RequestReceived",
    "RequestsDone",
    "RequestsDropped",
    "Send",
    "SetTimer",
    "Start",
    "TimerFired",
    "decode_message",
    "encode_block",
    "new_replica",
    "step",
]
