"""Persist before send, and restore after a restart (TOCS 2002 §4.1 "stable storage"; etcd raft's rule).

Every vote this replica signs — PRE-PREPARE (as primary), PREPARE, COMMIT, VIEW-CHANGE, NEW-VIEW (as
primary, and the NEW-VIEW a backup accepted) — is emitted as a :class:`PersistVote` immediately
*before* the action that sends it. One key per kind, overwritten: only the latest vote of each kind
can matter, because heights and views only grow and a committed height needs no votes.

Record value: ``canonical([envelope_bytes, prepared_certificate | None, block_bytes])``; COMMIT
records carry the prepared certificate (and its block) the VIEW-CHANGE must report after a crash.
"""

from __future__ import annotations

from chain import codec
from chain.consensus.events import Action, Broadcast, PersistVote
from chain.consensus.messages import (
    COMMIT,
    NEW_VIEW,
    PREPARE,
    PREPREPARE,
    VIEW_CHANGE,
    BlockHandle,
    Message,
    NewView,
    PreparedCertificate,
    ViewChange,
    Vote,
    decode_message,
    encode_message,
    sign_body,
)
from chain.consensus.state import ReplicaState, drop
from chain.errors import DecodeError, SilkportError

VOTE_KEY_PREFIX = b"pbft/vote/"


def vote_key(kind: str) -> bytes:
    return VOTE_KEY_PREFIX + kind.encode()


def sign_persist_send(
    state: ReplicaState,
    out: list[Action],
    kind: str,
    body: Vote | ViewChange | NewView,
    *,
    view: int,
    height: int,
    block_hash: bytes,
    payload: bytes = b"",
    prepared: PreparedCertificate | None = None,
    prepared_block: bytes = b"",
) -> tuple[bytes, bytes]:
    """Sign a vote, record it in ``my_votes``, emit PersistVote then Broadcast; return (envelope, signature)."""
    config = state.config
    signature = sign_body(config.signer, kind, config.chain_id, body)
    message = encode_message(kind, body, config.my_index, signature, payload)
    record = codec.encode((message, None if prepared is None else prepared.to_wire(), prepared_block))
    state.my_votes[(kind, view, height)] = block_hash
    state.sent_messages[(kind, view, height)] = message
    out.append(PersistVote(vote_key(kind), record))
    out.append(Broadcast(message))
    return message, signature


def decode_record(value: bytes) -> tuple[Message, PreparedCertificate | None, bytes]:
    obj = codec.decode(value)
    if not isinstance(obj, tuple) or len(obj) != 3 or not isinstance(obj[0], bytes) or not isinstance(obj[2], bytes):
        raise DecodeError("vote record: expected [envelope, prepared, block]")
    prepared = None if obj[1] is None else PreparedCertificate.from_wire(obj[1])
    return decode_message(obj[0]), prepared, obj[2]


def restore_votes(state: ReplicaState, persisted: list[bytes]) -> None:
    """Reload this replica's own votes (§4.1): the view it was in and every (kind, view, height) it signed.

    The replica resumes in the highest view it voted in: active if it voted there in the normal case
    or holds that view's NEW-VIEW, else still changing view (re-sending its VIEW-CHANGE on Start).
    """
    me = state.config.my_index
    records: list[tuple[Message, PreparedCertificate | None, bytes]] = []
    for value in persisted:
        try:
            message, prepared, block_bytes = decode_record(value)
        except SilkportError:
            drop(state, "bad_persisted_vote")
            continue
        records.append((message, prepared, block_bytes))
    view, active = 0, True
    new_view: Message | None = None
    for message, _, _ in records:
        body = message.body
        if message.kind == VIEW_CHANGE and message.sender == me:
            state.my_votes[(VIEW_CHANGE, body.new_view, 0)] = b""
            if body.new_view > view or (body.new_view == view and active):
                view, active = body.new_view, False
                state.own_view_change = message.raw
                state.view_changes[me] = (message, message.raw)
        elif message.kind == NEW_VIEW:
            if body.view >= view:
                view, active, new_view = body.view, True, message
        elif message.kind in (PREPREPARE, PREPARE, COMMIT) and message.sender == me:
            if body.view > view or (body.view == view and not active):
                view, active = body.view, True
    state.view, state.active = view, active
    next_height = state.head_height + 1
    if new_view is not None and new_view.body.view == view:
        _restore_new_view(state, new_view)
    for message, prepared, block_bytes in records:
        if message.kind not in (PREPREPARE, PREPARE, COMMIT) or message.sender != me:
            continue
        vote: Vote = message.body
        if vote.height <= state.head_height:
            continue
        key = (message.kind, vote.view, vote.height)
        state.my_votes[key] = vote.block_hash
        state.sent_messages[key] = message.raw
        if message.kind == COMMIT and prepared is not None and prepared.height == next_height and block_bytes:
            try:
                state.prepared, state.prepared_block = prepared, BlockHandle.from_bytes(block_bytes)
            except DecodeError:
                drop(state, "bad_persisted_vote")
        if vote.view != view or vote.height != next_height or not active:
            continue
        instance = state.instance
        if message.kind == PREPREPARE and message.payload:
            try:
                instance.preprepare = BlockHandle.from_bytes(message.payload)
            except DecodeError:
                drop(state, "bad_persisted_vote")
                continue
            instance.preprepare_signature = message.signature
        elif message.kind == PREPARE:
            instance.prepares[me] = (vote.block_hash, message.signature)
            instance.sent_prepare = True
        elif message.kind == COMMIT:
            instance.commits[me] = (vote.block_hash, message.signature)
            instance.sent_commit = True


def _restore_new_view(state: ReplicaState, message: Message) -> None:
    """Re-derive the floor and re-proposal of the NEW-VIEW that installed the current view."""
    from chain.consensus.viewchange import decide_new_view  # local: viewchange imports this module

    nv: NewView = message.body
    view_changes = []
    for raw in nv.view_changes:
        try:
            view_changes.append(decode_message(raw))
        except DecodeError:
            drop(state, "bad_persisted_vote")
            return
    decision = decide_new_view(state, view_changes)
    state.floor = decision.max_committed
    state.new_view_bytes = message.raw
    if nv.reproposal is not None:
        state.reproposal = (nv.reproposal.height, nv.reproposal.block_hash)
        if message.payload:
            try:
                state.reproposal_block = BlockHandle.from_bytes(message.payload)
                state.reproposal_signature = nv.reproposal.preprepare_signature
            except DecodeError:
                drop(state, "bad_persisted_vote")
        if message.sender == state.config.my_index:
            state.my_votes[(PREPREPARE, nv.view, nv.reproposal.height)] = nv.reproposal.block_hash
