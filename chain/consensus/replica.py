"""The pure PBFT replica: ``step(state, event) -> (state, actions)`` (STYLE.md habit 1).

Dispatch only: decode and authenticate messages (unknown sender, bad signature and malformed input are
dropped and counted here), then hand each input to the handler of its phase — :mod:`normal` (§4.2),
:mod:`checkpoint` (§4.3), :mod:`viewchange` (§4.4), :mod:`catchup` — and re-examine buffered messages
when the head or view moved. Requests (§4.5.2, a censoring primary is replaced) are tracked here.
"""

from __future__ import annotations

import itertools

from chain.consensus import catchup, checkpoint, normal, viewchange
from chain.consensus.events import (
    Action,
    BlockExecuted,
    Broadcast,
    CatchUpReceived,
    Event,
    ExecuteBlock,
    MessageReceived,
    ProposalFailed,
    ProposalReady,
    RelayRequests,
    RequestReceived,
    RequestsDone,
    RequestsDropped,
    SetTimer,
    Start,
    TimerFired,
)
from chain.consensus.log import take_pending
from chain.consensus.messages import (
    CHECKPOINT,
    COMMIT,
    NEW_VIEW,
    PREPARE,
    PREPREPARE,
    STATUS,
    VIEW_CHANGE,
    Message,
    decode_message,
)
from chain.consensus.persist import restore_votes
from chain.consensus.state import ReplicaConfig, ReplicaState, drop, initial_state
from chain.crypto import is_valid_signature
from chain.errors import ConfigError, DecodeError
from chain.types import CommitCertificate, Header

_HANDLERS = {
    PREPREPARE: normal.on_preprepare,
    PREPARE: normal.on_prepare,
    COMMIT: normal.on_commit,
    CHECKPOINT: checkpoint.on_checkpoint,
    VIEW_CHANGE: viewchange.on_view_change,
    NEW_VIEW: viewchange.on_new_view,
    STATUS: catchup.on_status,
}


def new_replica(
    config: ReplicaConfig,
    head_height: int,
    head_hash: bytes,
    persisted: list[bytes],
    *,
    head_header: Header | None = None,
    head_certificate: CommitCertificate | None = None,
) -> ReplicaState:
    """Build a replica on the committed head, reloading its persisted votes (restart, §4.1).

    ``head_header``/``head_certificate`` are the committed head and its CommitCertificate (required
    above the genesis height: a VIEW-CHANGE reports them as the replica's stable point).
    """
    if head_height > config.genesis_height and (head_header is None or head_certificate is None):
        raise ConfigError("a head above genesis needs its header and CommitCertificate")
    if head_header is not None and (head_header.height != head_height or head_header.block_hash != head_hash):
        raise ConfigError("head_header does not match head_height/head_hash")
    state = initial_state(config, head_height, head_hash)
    state.head_header, state.head_certificate = head_header, head_certificate
    restore_votes(state, list(persisted))
    if state.instance.view != state.view:
        state.instance.view = state.view
    return state


def step(state: ReplicaState, event: Event) -> tuple[ReplicaState, list[Action]]:
    """Apply one event; return the (same, updated) state and the actions to apply in order."""
    out: list[Action] = []
    if isinstance(event, MessageReceived):
        _on_message(state, event.message_bytes, out)
    elif isinstance(event, TimerFired):
        _on_timer(state, event, out)
    elif isinstance(event, BlockExecuted):
        if event.valid and event.validators is not None:
            note_enacted(state, event.block_hash, event.validators)
        if state.catchup_executing and event.block_hash == state.catchup_executing:
            state.catchup_executing = b""
            catchup.on_catchup_executed(state, event.block_hash, event.valid, out)
        elif state.executing.pop(event.block_hash, None) is not None:
            normal.on_instance_executed(state, event.block_hash, event.valid, out)
        else:
            drop(state, "unexpected_execution")
    elif isinstance(event, ProposalReady):
        if event.validators is not None:
            note_enacted(state, event.block.block_hash, event.validators)
        normal.on_proposal_ready(state, event, out)
    elif isinstance(event, ProposalFailed):
        normal.on_proposal_failed(state, event, out)
    elif isinstance(event, RequestReceived):
        _on_request(state, event, out)
    elif isinstance(event, RequestsDone):
        state.now_ms = max(state.now_ms, event.now_ms)
        normal.settle_requests(state, event.tx_hashes)
    elif isinstance(event, RequestsDropped):
        state.now_ms = max(state.now_ms, event.now_ms)
        normal.forget_requests(state, event.tx_hashes)
    elif isinstance(event, CatchUpReceived):
        catchup.on_catchup_received(state, event, out)
    elif isinstance(event, Start):
        _on_start(state, event, out)
    else:
        drop(state, "unknown_event")
    _replay(state, out)
    return state, out


MAX_ENACTED = 16
"""Executed checkpoint blocks whose enacted validator set is remembered until one of them commits."""


def note_enacted(state: ReplicaState, block_hash: bytes, validators: tuple[bytes, ...]) -> None:
    """Remember the set an executed block enacts (installed when it commits: ``normal.enact_validators``)."""
    if len(state.enacted) >= MAX_ENACTED:
        state.enacted.pop(next(iter(state.enacted)))
    state.enacted[block_hash] = tuple(validators)


def _on_message(state: ReplicaState, data: bytes, out: list[Action]) -> None:
    try:
        message = decode_message(data)
    except DecodeError:
        return drop(state, "malformed")
    if message.sender >= state.n:
        return drop(state, "unknown_validator")
    if message.sender == state.config.my_index:
        return drop(state, "own_message")
    config = state.config
    if not is_valid_signature(config.validators[message.sender], message.signing_bytes(config.chain_id),
                              message.signature):
        return drop(state, "bad_signature")
    dropped = sum(state.dropped.values())
    _HANDLERS[message.kind](state, message, out)
    if sum(state.dropped.values()) == dropped:  # only an accepted message may change the state
        viewchange.note_activity(state, message)


def _dispatch_verified(state: ReplicaState, message: Message, out: list[Action]) -> None:
    _HANDLERS[message.kind](state, message, out)


def _replay(state: ReplicaState, out: list[Action]) -> None:
    """Re-examine buffered votes after the head or view moved (bounded: each pass shrinks or stops)."""
    rounds = 0
    while state.replay_needed and rounds < 1_000:
        state.replay_needed = False
        rounds += 1
        for message in take_pending(state):
            body = message.body
            if body.height <= state.head_height or body.view < state.view:
                continue  # obsolete: garbage-collected silently
            _dispatch_verified(state, message, out)


def _on_timer(state: ReplicaState, event: TimerFired, out: list[Action]) -> None:
    state.now_ms = max(state.now_ms, event.now_ms)
    name = event.name
    if name in ("view", "request") and event.due_ms and event.now_ms - event.due_ms > state.config.view_timeout_ms:
        drop(state, "late_timer")  # the process was stopped: give the chain a full timeout to show itself
        if name == "request":  # every pending request's wait restarts now
            state.view_started_ms = state.progress_ms = state.now_ms
        timeout = state.view_timeout() if name == "view" else state.config.request_timeout_ms
        out.append(SetTimer(name, timeout))
        return
    if name == "view":
        viewchange.on_view_timer(state, out)
    elif name == "proposal":
        state.proposal_due_ms = 0
        normal.maybe_propose(state, out, force=True)
    elif name == "status":
        catchup.send_status(state, out)
        checkpoint.retransmit(state, out)
        out.append(SetTimer("status", state.config.status_period_ms))
    elif name == "catchup":
        catchup.on_catchup_timer(state, out)
    elif name == "request":
        _on_request_timer(state, out)
    else:
        drop(state, "unknown_timer")


def _on_request(state: ReplicaState, event: RequestReceived, out: list[Action]) -> None:
    """§4.5.2: a backup that receives a request arms its request timer; the primary proposes."""
    state.now_ms = max(state.now_ms, event.now_ms)
    if event.tx_hash in state.requests:
        return
    if not state.requests:
        out.append(SetTimer("request", state.config.request_timeout_ms))
    state.requests[event.tx_hash] = event.now_ms
    normal.maybe_propose(state, out)


CENSORSHIP_PATIENCE = 4
"""A request pending this many request timeouts forces a view change even while blocks commit."""
MAX_RELAY = 1_000
"""At most this many (oldest) pending requests are relayed per request-timer expiry."""


def _on_request_timer(state: ReplicaState, out: list[Action]) -> None:
    """§4.5.2: replace the primary when the oldest pending request has waited ``request_timeout`` with no
    pending request committed meanwhile (the paper restarts the timer on progress, so a backlog that is
    being worked through is not mistaken for a faulty primary), or ``CENSORSHIP_PATIENCE`` timeouts in
    all (a primary that commits other requests but never this one is still replaced). The first expiry
    of a wait only relays the pending requests to every validator (:class:`RelayRequests`): the
    primary may never have received them (a link that was down when they were forwarded), and a
    lone view change would take this replica out of the view the others are committing in."""
    if not state.requests:
        return
    timeout = state.config.request_timeout_ms
    if state.catching_up:  # its own requests may be in the blocks it is fetching: no suspicion
        out.append(SetTimer("request", timeout))
        return
    oldest = max(min(state.requests.values()), state.view_started_ms)
    deadline = min(max(oldest, state.progress_ms) + timeout, oldest + CENSORSHIP_PATIENCE * timeout)
    if state.active and not state.is_primary and state.now_ms >= deadline and state.relayed_ms < deadline:
        state.relayed_ms = state.now_ms
        out.append(RelayRequests(tuple(itertools.islice(state.requests, MAX_RELAY))))
        out.append(SetTimer("request", timeout))
        return
    deadline = max(deadline, state.relayed_ms + timeout)
    if state.active and not state.is_primary and state.now_ms >= deadline:
        viewchange.start_view_change(state, state.view + 1, out)
        out.append(SetTimer("request", timeout))
        return
    out.append(SetTimer("request", max(1, deadline - state.now_ms) if state.active else timeout))


def _on_start(state: ReplicaState, event: Start, out: list[Action]) -> None:
    """Arm the timers; re-send this replica's persisted votes of the current round; resume execution."""
    state.now_ms = max(state.now_ms, event.now_ms)
    state.view_started_ms = state.now_ms
    out.append(SetTimer("view", state.view_timeout()))
    out.append(SetTimer("status", state.config.status_period_ms))
    if not state.active:
        if state.own_view_change:
            out.append(Broadcast(state.own_view_change))
        return
    for (_kind, view, height), message in sorted(state.sent_messages.items()):
        if view == state.view and height == state.head_height + 1:
            out.append(Broadcast(message))
    instance = state.instance
    if instance.preprepare is not None and instance.executed is None:
        state.executing[instance.preprepare.block_hash] = "instance"
        out.append(ExecuteBlock(instance.preprepare))
    normal.enter_height(state, out)
