"""View changes (Castro & Liskov OSDI'99 §4.4; TOCS 2002 §4.4–4.5).

Adapted to one instance per height: a VIEW-CHANGE carries the sender's latest committed header and
its CommitCertificate (the stable point, instead of a checkpoint proof) and its highest-view prepared
certificate for the next height. The new primary collects a quorum of VIEW-CHANGEs and computes, from
them alone, ``max_committed`` (highest certified height) and the re-proposal: the block of the
highest-view prepared certificate for ``max_committed + 1``, or none (fresh proposal). Backups
recompute that choice from the NEW-VIEW's proofs and reject a NEW-VIEW that does not match. In the new
view no fresh pre-prepare is accepted at or below ``max_committed`` (the *floor*), and the re-proposed
height takes only the re-proposed block.

Liveness (TOCS §4.5.2): the view timer doubles with every view change without a commit; a replica
escalates past view v only after it has seen a quorum of VIEW-CHANGEs for v (otherwise it re-sends its
own); a replica that sees f+1 VIEW-CHANGEs for higher views joins the smallest of them. A replica that
is catching up suspects no one. A replica alone in a higher view rejoins the view of a certified block
above its own VIEW-CHANGE's head (:func:`chain.consensus.normal.commit_block`); its VIEW-CHANGEs for the
views it left are stale and never count in a NEW-VIEW (ADR 0013).
"""

from __future__ import annotations

from dataclasses import dataclass

from chain import codec
from chain.consensus.catchup import certificate_problem, note_certified_height
from chain.consensus.events import Action, Broadcast, CancelTimer, PersistVote, Send, SetTimer
from chain.consensus.messages import (
    COMMIT,
    NEW_VIEW,
    PREPARE,
    PREPREPARE,
    STATUS,
    VIEW_CHANGE,
    BlockHandle,
    Message,
    NewView,
    Reproposal,
    ViewChange,
    Vote,
    decode_message,
    sign_body,
    strip_payload,
)
from chain.consensus.normal import enter_height
from chain.consensus.persist import sign_persist_send, vote_key
from chain.consensus.state import Instance, ReplicaState, drop
from chain.crypto import is_valid_signature
from chain.errors import DecodeError


@dataclass(frozen=True, slots=True)
class Decision:
    """What a set of VIEW-CHANGEs implies for the new view (TOCS §4.4, the computation of O)."""

    max_committed: int
    committed_by: tuple[int, ...]
    reproposal: tuple[int, bytes] | None


def decide_new_view(state: ReplicaState, view_changes: list[Message]) -> Decision:
    """max_committed = highest certified height; re-propose the highest-view prepared block above it."""
    genesis = state.config.genesis_height
    stable: dict[int, int] = {}
    for message in view_changes:
        certificate = message.body.stable_certificate
        stable[message.sender] = genesis if certificate is None else certificate.height
    max_committed = max(stable.values(), default=genesis)
    committed_by = tuple(sorted(sender for sender, height in stable.items() if height == max_committed))
    best: tuple[int, bytes] | None = None
    for message in view_changes:
        prepared = message.body.prepared
        if prepared is not None and prepared.height == max_committed + 1:
            key = (prepared.view, prepared.block_hash)
            if best is None or key > best:
                best = key
    return Decision(max_committed, committed_by, None if best is None else (max_committed + 1, best[1]))


def view_change_problem(state: ReplicaState, message: Message) -> tuple[str | None, BlockHandle | None]:
    """Check a VIEW-CHANGE's proofs: its stable certificate, its prepared certificate and the block."""
    vc: ViewChange = message.body
    stable_height = state.config.genesis_height
    if vc.stable_certificate is not None and vc.stable_header is not None:
        problem = certificate_problem(state, vc.stable_header, vc.stable_certificate)
        if problem is not None:
            return problem, None
        stable_height = vc.stable_certificate.height
    prepared = vc.prepared
    if prepared is None:
        return ("malformed" if message.payload else None), None
    if prepared.height <= stable_height or prepared.view >= vc.new_view:
        return "bad_view_change", None
    if not prepared.is_valid(state.config.chain_id, state.config.validators, state.q):
        return "bad_prepared_certificate", None
    if not message.payload:
        return None, None
    try:
        handle = BlockHandle.from_bytes(message.payload)
    except DecodeError:
        return "malformed", None
    if handle.block_hash != prepared.block_hash:
        return "digest_mismatch", None
    return None, handle


def _stable_height(state: ReplicaState, vc: ViewChange) -> int:
    return state.config.genesis_height if vc.stable_certificate is None else vc.stable_certificate.height


def note_activity(state: ReplicaState, message: Message) -> None:
    """Record what a signed message proves about its sender's view and head, and forget a VIEW-CHANGE
    of the sender that this makes stale: it has since been active in a lower view above the head it
    reported (it rejoined), so the VIEW-CHANGE no longer shows what it prepared (ADR 0013)."""
    if message.sender == state.config.my_index:
        return
    if message.kind in (PREPREPARE, PREPARE, COMMIT):
        view, head = message.body.view, message.body.height - 1
    elif message.kind == STATUS:
        certificate = message.body.head_certificate
        view, head = message.body.view, state.config.genesis_height if certificate is None else certificate.height
    else:
        return
    known = state.activity.get(message.sender)
    if known is None or known[0] != view or head > known[1]:
        state.activity[message.sender] = (view, head)
    entry = state.view_changes.get(message.sender)
    if entry is not None and is_stale(state, entry[0]):
        del state.view_changes[message.sender]


def is_stale(state: ReplicaState, message: Message) -> bool:
    """A VIEW-CHANGE whose sender was later seen active in a lower view above the head it reported."""
    vc: ViewChange = message.body
    if message.sender == state.config.my_index:
        own = state.view_changes.get(message.sender)
        return vc.new_view <= state.withdrawn_view and (own is None or own[0].signature != message.signature)
    known = state.activity.get(message.sender)
    return known is not None and known[0] < vc.new_view and known[1] > _stable_height(state, vc)


def start_view_change(state: ReplicaState, new_view: int, out: list[Action]) -> None:
    """§4.4: stop accepting messages of the current view; persist and multicast VIEW-CHANGE(v+1, C, P)."""
    config = state.config
    state.view, state.active = new_view, False
    state.backoff += 1
    state.view_changes_started += 1
    state.instance = Instance(new_view, state.head_height + 1)
    state.reproposal, state.reproposal_block, state.reproposal_signature = None, None, b""
    state.new_view_bytes = b""
    state.proposal_requested = None
    state.view_change_quorum_seen = False
    state.executing = {digest: purpose for digest, purpose in state.executing.items() if purpose != "instance"}
    out.append(CancelTimer("proposal"))
    body = ViewChange(new_view, state.head_header, state.head_certificate, state.prepared)
    payload = state.prepared_block.block_bytes if state.prepared_block is not None else b""
    envelope, signature = sign_persist_send(state, out, VIEW_CHANGE, body, view=new_view, height=0, block_hash=b"",
                                            payload=payload)
    state.own_view_change = envelope
    own = Message(VIEW_CHANGE, body, config.my_index, signature, payload, body.to_wire(), len(envelope), envelope)
    state.view_changes[config.my_index] = (own, envelope)
    out.append(SetTimer("view", state.view_timeout()))
    _view_change_stored(state, out)


def on_view_change(state: ReplicaState, message: Message, out: list[Action]) -> None:
    """§4.4: log a valid VIEW-CHANGE for a view above ours; f+1 of them make us join (§4.5.2);
    the new primary sends NEW-VIEW once it holds a quorum."""
    vc: ViewChange = message.body
    if vc.new_view < state.view or (vc.new_view == state.view and state.active):
        if vc.new_view == state.view and state.active and state.is_primary and state.new_view_bytes:
            out.append(Send(message.sender, state.new_view_bytes))  # it missed our NEW-VIEW
            return
        return drop(state, "old_view")
    previous = state.view_changes.get(message.sender)
    if previous is not None and (previous[0].body.new_view, _stable_height(state, previous[0].body)) >= (
        vc.new_view, _stable_height(state, vc)
    ):
        return drop(state, "duplicate")  # the same view with a higher head replaces (a rejoiner's fresh one)
    if is_stale(state, message):
        return drop(state, "stale_view_change")
    problem, _ = view_change_problem(state, message)
    if problem is not None:
        return drop(state, problem)
    state.view_changes[message.sender] = (message, message.raw)
    if vc.stable_certificate is not None and vc.stable_certificate.height > state.head_height:
        note_certified_height(state, vc.stable_certificate.height, (message.sender,), out, vc.stable_certificate)
    me = state.config.my_index
    higher = [m.body.new_view for s, (m, _) in state.view_changes.items() if s != me and m.body.new_view > state.view]
    if len(higher) >= state.f + 1:
        start_view_change(state, min(higher), out)
        return
    _view_change_stored(state, out)


def _view_change_stored(state: ReplicaState, out: list[Action]) -> None:
    if state.active:
        return
    # A replica that moved past our target view has abandoned it too: for the escalation rule it
    # counts as a vote for the target (else a lost VIEW-CHANGE could leave replicas a view apart).
    if sum(1 for m, _ in state.view_changes.values() if m.body.new_view >= state.view) >= state.q:
        state.view_change_quorum_seen = True
    matching = [m for m, _ in state.view_changes.values() if m.body.new_view == state.view]
    if len(matching) >= state.q and state.is_primary:
        _send_new_view(state, matching, out)


def _send_new_view(state: ReplicaState, matching: list[Message], out: list[Action]) -> None:
    """§4.4: the new primary multicasts NEW-VIEW(v+1, V, O), O = the re-proposal (if any)."""
    config = state.config
    decision = decide_new_view(state, matching)
    handle: BlockHandle | None = None
    reproposal: Reproposal | None = None
    if decision.reproposal is not None:
        height, block_hash = decision.reproposal
        handle = _find_block(state, matching, block_hash)
        if handle is None:
            return  # wait for a VIEW-CHANGE that carries the block
        signature = sign_body(config.signer, PREPREPARE, config.chain_id, Vote(height, state.view, block_hash))
        reproposal = Reproposal(height, block_hash, signature)
        state.my_votes[(PREPREPARE, state.view, height)] = block_hash
    body = NewView(state.view, tuple(strip_payload(m) for m in sorted(matching, key=lambda m: m.sender)), reproposal)
    envelope, _ = sign_persist_send(state, out, NEW_VIEW, body, view=state.view, height=0, block_hash=b"",
                                    payload=b"" if handle is None else handle.block_bytes)
    _install(state, decision, handle, reproposal, envelope, out)


def _find_block(state: ReplicaState, matching: list[Message], block_hash: bytes) -> BlockHandle | None:
    if state.prepared_block is not None and state.prepared_block.block_hash == block_hash:
        return state.prepared_block
    for message in matching:
        if message.payload and message.body.prepared is not None and message.body.prepared.block_hash == block_hash:
            try:
                return BlockHandle.from_bytes(message.payload)
            except DecodeError:
                continue
    return None


def new_view_problem(state: ReplicaState, message: Message) -> tuple[str | None, Decision | None, BlockHandle | None]:
    """Validate a NEW-VIEW: a quorum of valid VIEW-CHANGEs for its view, and the re-proposal they imply."""
    nv: NewView = message.body
    config = state.config
    view_changes: list[Message] = []
    senders: set[int] = set()
    for raw in nv.view_changes:
        try:
            vc = decode_message(raw)
        except DecodeError:
            return "bad_new_view", None, None
        if vc.kind != VIEW_CHANGE or vc.body.new_view != nv.view or vc.sender >= state.n or vc.sender in senders:
            return "bad_new_view", None, None
        if is_stale(state, vc):
            return "stale_view_change", None, None
        known = state.view_changes.get(vc.sender)
        if known is None or known[0].body_wire != vc.body_wire or known[0].signature != vc.signature:
            if not is_valid_signature(config.validators[vc.sender], vc.signing_bytes(config.chain_id), vc.signature):
                return "bad_new_view", None, None
            if view_change_problem(state, vc)[0] is not None:
                return "bad_new_view", None, None
        view_changes.append(vc)
        senders.add(vc.sender)
    if len(senders) < state.q:
        return "bad_new_view", None, None
    decision = decide_new_view(state, view_changes)
    if decision.reproposal is None:
        if nv.reproposal is not None or message.payload:
            return "bad_new_view", None, None
        return None, decision, None
    if nv.reproposal is None or (nv.reproposal.height, nv.reproposal.block_hash) != decision.reproposal:
        return "bad_new_view", None, None
    vote = Vote(nv.reproposal.height, nv.view, nv.reproposal.block_hash)
    signing = codec.signing_bytes(codec.DOMAIN_PREPREPARE, config.chain_id, vote.to_wire())
    if not is_valid_signature(config.validators[message.sender], signing, nv.reproposal.preprepare_signature):
        return "bad_new_view", None, None
    try:
        handle = BlockHandle.from_bytes(message.payload)
    except DecodeError:
        return "bad_new_view", None, None
    if handle.block_hash != nv.reproposal.block_hash:
        return "bad_new_view", None, None
    return None, decision, handle


def on_new_view(state: ReplicaState, message: Message, out: list[Action]) -> None:
    """§4.4: a backup accepts NEW-VIEW(v, V, O) from the primary of v if V justifies O; it persists the
    NEW-VIEW (before any vote in v), enters v and processes the re-proposal like a pre-prepare."""
    nv: NewView = message.body
    if message.sender != state.primary_of(nv.view):
        return drop(state, "not_primary")
    if nv.view < state.view or (nv.view == state.view and state.active):
        return drop(state, "old_view")
    problem, decision, handle = new_view_problem(state, message)
    if problem is not None or decision is None:
        return drop(state, problem or "bad_new_view")
    out.append(PersistVote(vote_key(NEW_VIEW), codec.encode((message.raw, None, b""))))
    _install(state, decision, handle, nv.reproposal, message.raw, out, view=nv.view)


def _install(
    state: ReplicaState,
    decision: Decision,
    handle: BlockHandle | None,
    reproposal: Reproposal | None,
    new_view_bytes: bytes,
    out: list[Action],
    *,
    view: int | None = None,
) -> None:
    state.view = state.view if view is None else view
    state.active = True
    state.floor = decision.max_committed
    state.reproposal = decision.reproposal
    state.reproposal_block = handle
    state.reproposal_signature = b"" if reproposal is None else reproposal.preprepare_signature
    state.new_view_bytes = new_view_bytes
    state.view_started_ms = state.now_ms
    state.instance = Instance(state.view, state.head_height + 1)
    state.proposal_requested = None
    state.view_change_quorum_seen = False
    state.executing = {digest: purpose for digest, purpose in state.executing.items() if purpose != "instance"}
    state.view_changes = {s: entry for s, entry in state.view_changes.items() if entry[0].body.new_view > state.view}
    state.own_view_change = b""
    out.append(SetTimer("view", state.view_timeout()))
    if decision.max_committed > state.head_height:
        note_certified_height(state, decision.max_committed, decision.committed_by, out)
    enter_height(state, out)
    state.replay_needed = True


def on_view_timer(state: ReplicaState, out: list[Action]) -> None:
    """§4.5.2: no commit in time -> VIEW-CHANGE(v+1); in a view change, escalate only after a quorum of
    VIEW-CHANGEs for the current target was seen (else re-send ours), with a doubled timeout."""
    if state.catching_up:  # behind a certified height: the others are live, suspect no one
        out.append(SetTimer("view", state.view_timeout()))
        return
    if state.active or state.view_change_quorum_seen:
        start_view_change(state, state.view + 1, out)
        return
    if state.own_view_change:
        out.append(Broadcast(state.own_view_change))
    out.append(SetTimer("view", state.view_timeout()))
