"""Normal-case operation: PRE-PREPARE, PREPARE, COMMIT (Castro & Liskov OSDI'99 §4.2).

One instance per height (sequence number = height), no pipelining: a replica accepts a pre-prepare for
``head + 1`` only, executes the block (the runtime checks the header's tx_root and state_root) and only
then prepares. ``prepared`` = the pre-prepare plus ``quorum - 1`` matching PREPAREs from backups;
``committed-local`` = a quorum of matching COMMITs for an executed block. The COMMIT signatures are
over :func:`chain.types.commit_signing_bytes`, so the quorum that commits a block *is* its
:class:`~chain.types.CommitCertificate`.
"""

from __future__ import annotations

from collections.abc import Iterable

from chain.consensus import checkpoint
from chain.consensus.events import (
    Action,
    CancelTimer,
    CommitBlock,
    ExecuteBlock,
    ProposalFailed,
    ProposalReady,
    RequestProposal,
    SetTimer,
)
from chain.consensus.log import buffer_message
from chain.consensus.messages import (
    COMMIT,
    PREPARE,
    PREPREPARE,
    BlockHandle,
    Message,
    PreparedCertificate,
    Vote,
)
from chain.consensus.persist import sign_persist_send
from chain.consensus.state import Instance, ReplicaState, drop, reconfigure
from chain.errors import DecodeError
from chain.types import CommitCertificate


def _vote_admission(state: ReplicaState, vote: Vote) -> str | None:
    """Shared checks of §4.2: view, height and watermarks. Returns a drop reason, "buffer" or None."""
    if vote.view < state.view:
        return "old_view"
    if vote.height <= state.head_height:
        return "old_height"
    if vote.height > state.high_watermark:
        return "outside_watermarks"
    if vote.view > state.view or not state.active or vote.height > state.head_height + 1:
        return "buffer"
    return None


def on_preprepare(state: ReplicaState, message: Message, out: list[Action]) -> None:
    """§4.2: a backup accepts PRE-PREPARE(v, n, d) from the primary of v if it is in view v, n is the
    next height, the block hashes to d, and it has accepted no other pre-prepare for (v, n)."""
    vote: Vote = message.body
    if message.sender != state.primary_of(vote.view):
        return drop(state, "not_primary")
    reason = _vote_admission(state, vote)
    if reason is not None and reason != "buffer":
        return drop(state, reason)
    try:
        handle = BlockHandle.from_bytes(message.payload)
    except DecodeError:
        return drop(state, "malformed")
    if handle.block_hash != vote.block_hash:
        return drop(state, "digest_mismatch")
    if reason == "buffer":
        return buffer_message(state, message)
    accept_preprepare(state, vote, message.signature, handle, out, reproposal=False)


def accept_preprepare(
    state: ReplicaState, vote: Vote, signature: bytes, handle: BlockHandle, out: list[Action], *, reproposal: bool
) -> None:
    """Record the instance's pre-prepare and ask the runtime to execute its block (§4.2; TOCS §4.4 for a
    NEW-VIEW re-proposal, whose header keeps the view and proposer it was first proposed in)."""
    instance = state.instance
    header = handle.header
    if instance.preprepare is not None:
        return drop(state, "duplicate" if instance.preprepare.block_hash == vote.block_hash else "equivocation")
    if not reproposal:
        if vote.height <= state.floor or (state.reproposal is not None and vote.height <= state.reproposal[0]):
            return drop(state, "below_new_view_floor")
        if header.view != vote.view or header.proposer != state.primary_of(vote.view):
            return drop(state, "bad_block_header")
    if header.height != vote.height or header.prev_hash != state.head_hash or header.chain_id != state.config.chain_id:
        return drop(state, "bad_block_header")
    for kind in (PREPREPARE, PREPARE, COMMIT):
        previous = state.my_votes.get((kind, vote.view, vote.height))
        if previous is not None and previous != vote.block_hash:
            return drop(state, "conflicts_own_vote")
    instance.preprepare = handle
    instance.preprepare_signature = signature
    instance.executed = None
    state.executing[handle.block_hash] = "instance"
    out.append(ExecuteBlock(handle))


def on_instance_executed(state: ReplicaState, block_hash: bytes, valid: bool, out: list[Action]) -> None:
    """§4.2 with execution before voting (DESIGN.md §5): a backup prepares only a block whose
    re-execution matched its header; an invalid block gets no vote (the view timer replaces the primary)."""
    instance = state.instance
    if instance.preprepare is None or instance.preprepare.block_hash != block_hash:
        return
    instance.executed = valid
    if not valid:
        drop(state, "invalid_block")
        return
    me = state.config.my_index
    if me != state.primary and not instance.sent_prepare:
        vote = Vote(instance.height, instance.view, block_hash)
        _, signature = sign_persist_send(state, out, PREPARE, vote, view=vote.view, height=vote.height,
                                         block_hash=block_hash)
        instance.sent_prepare = True
        instance.prepares[me] = (block_hash, signature)
    check_prepared(state, out)
    check_committed(state, out)


def on_prepare(state: ReplicaState, message: Message, out: list[Action]) -> None:
    """§4.2: a backup's PREPARE(v, n, d) is logged if it is in view v and n is the next height."""
    vote: Vote = message.body
    if message.sender == state.primary_of(vote.view):
        return drop(state, "prepare_from_primary")
    reason = _vote_admission(state, vote)
    if reason == "buffer":
        return buffer_message(state, message)
    if reason is not None:
        return drop(state, reason)
    previous = state.instance.prepares.get(message.sender)
    if previous is not None:
        return drop(state, "duplicate" if previous[0] == vote.block_hash else "conflicting_vote")
    state.instance.prepares[message.sender] = (vote.block_hash, message.signature)
    check_prepared(state, out)


def on_commit(state: ReplicaState, message: Message, out: list[Action]) -> None:
    """§4.2: COMMIT(v, n, d) is logged if it is in view v and n is the next height."""
    vote: Vote = message.body
    reason = _vote_admission(state, vote)
    if reason == "buffer":
        return buffer_message(state, message)
    if reason is not None:
        return drop(state, reason)
    previous = state.instance.commits.get(message.sender)
    if previous is not None:
        return drop(state, "duplicate" if previous[0] == vote.block_hash else "conflicting_vote")
    state.instance.commits[message.sender] = (vote.block_hash, message.signature)
    check_committed(state, out)


def check_prepared(state: ReplicaState, out: list[Action]) -> None:
    """prepared(m, v, n, i) (§4.2): pre-prepare + quorum-1 matching backup PREPAREs -> send COMMIT."""
    instance = state.instance
    handle = instance.preprepare
    if handle is None or instance.executed is not True or instance.sent_commit:
        return
    block_hash = handle.block_hash
    primary = state.primary
    prepares = tuple(
        (sender, sig) for sender, (digest, sig) in sorted(instance.prepares.items())
        if digest == block_hash and sender != primary
    )
    if len(prepares) + 1 < state.q:
        return
    previous = state.my_votes.get((COMMIT, instance.view, instance.height))
    if previous is not None and previous != block_hash:
        drop(state, "conflicts_own_vote")
        return
    certificate = PreparedCertificate(instance.height, instance.view, block_hash, instance.preprepare_signature, prepares)
    state.prepared, state.prepared_block = certificate, handle
    vote = Vote(instance.height, instance.view, block_hash)
    _, signature = sign_persist_send(state, out, COMMIT, vote, view=vote.view, height=vote.height, block_hash=block_hash,
                      prepared=certificate, prepared_block=handle.block_bytes)
    instance.sent_commit = True
    instance.commits[state.config.my_index] = (block_hash, signature)


def check_committed(state: ReplicaState, out: list[Action]) -> None:
    """committed-local(m, v, n, i) (§4.2): a quorum of matching COMMITs for the executed block -> commit.
    A quorum for a block this replica does not have is a certificate: fetch the block (catch-up)."""
    instance = state.instance
    by_hash: dict[bytes, list[tuple[int, bytes]]] = {}
    for sender, (digest, sig) in instance.commits.items():
        by_hash.setdefault(digest, []).append((sender, sig))
    for digest, signatures in by_hash.items():
        if len(signatures) < state.q:
            continue
        certificate = CommitCertificate(instance.height, instance.view, digest, tuple(sorted(signatures)))
        handle = instance.preprepare
        if handle is not None and handle.block_hash == digest and instance.executed is True:
            commit_block(state, handle, certificate, out)
            return
        if not instance.catchup_requested:
            from chain.consensus.catchup import note_certified_height

            instance.catchup_requested = True
            note_certified_height(state, instance.height, tuple(s for s, _ in signatures), out)
        return


def settle_requests(state: ReplicaState, tx_hashes: Iterable[bytes]) -> None:
    """Forget committed requests; settling any restarts the request timer (§4.5.2: progress)."""
    settled = [tx_hash for tx_hash in tx_hashes if state.requests.pop(tx_hash, None) is not None]
    if settled:
        state.progress_ms = state.now_ms


def forget_requests(state: ReplicaState, tx_hashes: Iterable[bytes]) -> None:
    """Forget requests that can no longer commit (ADR 0013: dropped). Unlike :func:`settle_requests`
    this is no progress: the request timer keeps measuring the oldest request that can still commit,
    and a primary with only dead requests left proposes no block for them."""
    for tx_hash in tx_hashes:
        state.requests.pop(tx_hash, None)


def on_proposal_failed(state: ReplicaState, event: ProposalFailed, out: list[Action]) -> None:
    """The runtime could not build the requested block: retry in the same view after the empty-block
    interval (ADR 0013) instead of leaving the instance without a pre-prepare until the view timer."""
    if state.proposal_requested != (event.view, event.height):
        return drop(state, "stale_proposal")
    state.proposal_requested = None
    if state.active and state.is_primary and state.instance.preprepare is None:
        _arm_proposal(state, out, state.now_ms + state.config.empty_block_interval_ms, replace=True)


def commit_block(
    state: ReplicaState, handle: BlockHandle, certificate: CommitCertificate, out: list[Action], *, sync: bool = True
) -> None:
    """Apply a committed block: CommitBlock, advance the head, checkpoint every K heights (§4.3), start
    the next height. Used by the normal case and by catch-up (certificate already verified)."""
    height = handle.height
    out.append(CommitBlock(handle, certificate, sync))
    state.head_height, state.head_hash = height, handle.block_hash
    state.head_header, state.head_certificate = handle.header, certificate
    state.committed_blocks += 1
    state.backoff = 0
    state.prepared, state.prepared_block = None, None
    state.proposal_requested = None
    if state.proposed_txs is not None and state.proposed_txs[0] == handle.block_hash:
        settle_requests(state, state.proposed_txs[1])
        state.proposed_txs = None
    state.my_votes = {key: value for key, value in state.my_votes.items() if key[2] > height or key[0] == "viewchange"}
    state.sent_messages = {key: value for key, value in state.sent_messages.items() if key[2] > height}
    state.executing = {digest: purpose for digest, purpose in state.executing.items() if purpose != "instance"}
    if certificate.view > state.view:
        adopt_certified_view(state, certificate.view)
    elif certificate.view < state.view and not state.active and height > _own_view_change_head(state) + 1:
        rejoin_view(state, certificate.view)
    state.instance = Instance(state.view, height + 1)
    if height % state.config.checkpoint_interval == 0:
        checkpoint.send_checkpoint(state, height, handle.block_hash, out)
        checkpoint.stabilize_certified(state, height)
    enact_validators(state, handle.block_hash)
    if state.active:
        out.append(SetTimer("view", state.view_timeout()))
        enter_height(state, out)
    state.replay_needed = True


def enact_validators(state: ReplicaState, block_hash: bytes) -> None:
    """The committed block enacted a new validator set (its execution said so): install it before the next
    height starts, so the primary of ``view mod n``, the quorum and every signature check of that height
    use the new set on every replica alike (DESIGN.md §5 epochs, ADR 0027). Certified blocks fetched
    ahead were checked against the old set: they are fetched and checked again. A replica whose key left
    the set keeps its configuration; its host stops it."""
    validators = state.enacted.pop(block_hash, None)
    state.enacted.clear()
    if validators is None or validators == state.config.validators:
        return
    me = state.config.signer.public_key
    if me not in validators:
        return
    reconfigure(state, validators, validators.index(me))
    state.catchup_queue.clear()
    state.catchup_sources.clear()
    state.catchup_executing = b""


def adopt_certified_view(state: ReplicaState, view: int) -> None:
    """Join ``view`` on committing a block certified in it (a replica that missed the view change,
    e.g. it was down, learns of it through catch-up).

    A quorum COMMITted in ``view``, so a quorum installed its NEW-VIEW; its re-proposal concerned a
    height at or below the certified one, which this replica has now committed, so nothing of that
    NEW-VIEW remains to be checked for the heights above (TOCS 2002 §4.4). Without this a restarted
    replica stays in an old view and never votes again until the next view change.
    """
    state.view, state.active = view, True
    state.reproposal, state.reproposal_block, state.reproposal_signature = None, None, b""
    state.new_view_bytes = b""
    state.view_change_quorum_seen = False
    state.view_changes = {s: entry for s, entry in state.view_changes.items() if entry[0].body.new_view > view}
    state.own_view_change = b""


def _own_view_change_head(state: ReplicaState) -> int:
    own = state.view_changes.get(state.config.my_index)
    if own is None or own[0].body.stable_certificate is None:
        return state.config.genesis_height
    return int(own[0].body.stable_certificate.height)


def rejoin_view(state: ReplicaState, view: int) -> None:
    """Leave a view change nobody joined for the lower ``view`` a quorum is committing in (ADR 0013).

    The block just committed is certified in ``view`` more than one height above the head this replica
    reported in its own VIEW-CHANGE (the next height may have been committing as it left): a quorum
    was committing in ``view`` after this replica left it, so ``view`` is live,
    and no NEW-VIEW for the higher view can have been installed before that commit without a quorum
    leaving ``view`` first. PBFT's f+1 rule (TOCS §4.5.2) moves a replica *up* to a view others want;
    this moves it back to the view the others never left. The VIEW-CHANGEs it sent for the views it
    leaves become stale: it refuses any NEW-VIEW that counts them (``withdrawn_view``) and the others
    drop them once they see it active in the lower view (:func:`viewchange.note_activity`).
    """
    state.withdrawn_view = max(state.withdrawn_view, state.view)
    state.view_changes.pop(state.config.my_index, None)
    adopt_certified_view(state, view)
    state.view_started_ms = state.now_ms


def enter_height(state: ReplicaState, out: list[Action]) -> None:
    """Start the instance for head + 1 in the current (active) view: take the NEW-VIEW's re-proposal
    if it is for this height (TOCS §4.4), else let the primary propose."""
    if (
        state.reproposal is not None
        and state.reproposal[0] == state.head_height + 1
        and state.reproposal_block is not None
        and state.instance.preprepare is None
    ):
        vote = Vote(state.reproposal[0], state.view, state.reproposal[1])
        accept_preprepare(state, vote, state.reproposal_signature, state.reproposal_block, out, reproposal=True)
    maybe_propose(state, out, arm_timer=True)


def maybe_propose(state: ReplicaState, out: list[Action], *, arm_timer: bool = False, force: bool = False) -> None:
    """Primary: cut a block by load (DESIGN.md §5; issue 13): at once when it would be full or on
    ``force`` (the proposal timer), else when the oldest pending request has waited ``batch_delay_ms``,
    else — nothing pending — an empty heartbeat block after the empty-block interval."""
    height, view = state.head_height + 1, state.view
    if not state.active or not state.is_primary or state.instance.preprepare is not None:
        return
    if height <= state.floor or (state.reproposal is not None and state.reproposal[0] >= height):
        return
    if height > state.high_watermark or state.proposal_requested == (view, height):
        return
    if (PREPREPARE, view, height) in state.my_votes:
        return
    config = state.config
    if state.requests and not force and len(state.requests) < config.block_txs and config.batch_delay_ms:
        oldest = next(iter(state.requests.values()))  # arrival order: the first entry is the oldest
        due = oldest + config.batch_delay_ms
        if due > state.now_ms:
            _arm_proposal(state, out, due)
            return
    if state.requests or force:
        out.append(CancelTimer("proposal"))
        out.append(RequestProposal(height, view, state.head_hash))
        state.proposal_requested = (view, height)
        state.proposal_due_ms = 0
    elif arm_timer:
        _arm_proposal(state, out, state.now_ms + config.empty_block_interval_ms, replace=True)


def _arm_proposal(state: ReplicaState, out: list[Action], due_ms: int, *, replace: bool = False) -> None:
    """Arm the proposal timer for ``due_ms`` unless it is already armed to fire no later."""
    if replace or not state.proposal_due_ms or due_ms < state.proposal_due_ms:
        state.proposal_due_ms = due_ms
        out.append(SetTimer("proposal", max(1, due_ms - state.now_ms)))


def on_proposal_ready(state: ReplicaState, event: ProposalReady, out: list[Action]) -> None:
    """§4.2: the primary assigns the next height to its (executed) block and multicasts PRE-PREPARE."""
    header = event.block.header
    height, view = state.head_height + 1, state.view
    if (
        not state.active
        or not state.is_primary
        or state.instance.preprepare is not None
        or header.height != height
        or header.view != view
        or header.prev_hash != state.head_hash
        or header.proposer != state.config.my_index
        or header.chain_id != state.config.chain_id
        or height <= state.floor
    ):
        return drop(state, "stale_proposal")
    if (PREPREPARE, view, height) in state.my_votes:
        return drop(state, "conflicts_own_vote")
    handle = BlockHandle.from_block(event.block, event.block_bytes)
    vote = Vote(height, view, handle.block_hash)
    _, signature = sign_persist_send(state, out, PREPREPARE, vote, view=view, height=height, block_hash=handle.block_hash,
                                payload=handle.block_bytes)
    instance = state.instance
    instance.preprepare = handle
    instance.preprepare_signature = signature
    instance.executed = True
    state.proposed_txs = (handle.block_hash, frozenset(tx.tx_hash for tx in event.block.txs))
    check_prepared(state, out)
    check_committed(state, out)

