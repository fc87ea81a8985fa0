"""Catch-up: fetch certified blocks from peers, verify every certificate, re-execute, apply.

The PBFT papers transfer state after a stable checkpoint (TOCS 2002 §5.3); a blockchain replica
instead replays the missing blocks, each proven by its :class:`~chain.types.CommitCertificate`. A
replica that sees a *verified* certificate above its head (in a STATUS, a VIEW-CHANGE, a NEW-VIEW or
a quorum of COMMITs) asks the peers that showed it for the blocks. Every pair received is checked in
the core — height and prev_hash chain from the head, the certificate names the block and verifies
against the validator set — then re-executed by the runtime before it is committed. A peer whose
block or certificate is bad is moved to the back of the list; nothing it says is trusted.
"""

from __future__ import annotations

from chain.consensus.events import Action, Broadcast, CatchUpReceived, ExecuteBlock, RequestCatchUp, SetTimer
from chain.consensus.messages import STATUS, BlockHandle, Message, Status, make_message
from chain.consensus.state import ReplicaState, drop, validators_for
from chain.errors import ProofError
from chain.types import CommitCertificate, Header


def certificate_problem(state: ReplicaState, header: Header, certificate: CommitCertificate) -> str | None:
    """None if ``certificate`` is a valid quorum certificate for ``header``, else a drop reason."""
    if header.chain_id != state.config.chain_id or header.height != certificate.height:
        return "bad_certificate"
    try:
        certificate.verify(state.config.chain_id, validators_for(state, header.height), header.block_hash)
    except ProofError:
        return "bad_certificate"
    return None


def note_certified_height(
    state: ReplicaState,
    height: int,
    peers: tuple[int, ...],
    out: list[Action],
    certificate: CommitCertificate | None = None,
) -> None:
    """A certificate for ``height`` > head was seen (verified by the caller). If it certifies the next
    block and this replica already executed that block (it prepared it), commit it now; else fetch."""
    if height <= state.head_height:
        return
    if certificate is not None and certificate.height == state.head_height + 1:
        from chain.consensus.normal import commit_block

        instance = state.instance
        for handle in (instance.preprepare if instance.executed else None, state.prepared_block):
            if handle is not None and handle.block_hash == certificate.block_hash:
                commit_block(state, handle, certificate, out)
                return
    state.catchup_target = max(state.catchup_target, height)
    me = state.config.my_index
    known = state.catchup_peers
    # new witnesses go first; known peers keep their order (a peer demoted for lying stays at the back)
    state.catchup_peers = tuple(p for p in peers if p != me and p not in known) + known
    if not state.catchup_inflight and not state.catchup_queue:
        request_catchup(state, out)


def request_catchup(state: ReplicaState, out: list[Action]) -> None:
    """Ask for the next window after the queued blocks (pipelined: the queue is still executing)."""
    queue = state.catchup_queue
    tail = queue[-1][0].height if queue else state.head_height
    if state.catchup_target <= tail or not state.catchup_peers:
        return
    first = tail + 1
    last = min(state.catchup_target, tail + state.config.max_catchup_blocks)
    out.append(RequestCatchUp(first, last, state.catchup_peers))
    out.append(SetTimer("catchup", state.config.view_timeout_ms))
    state.catchup_inflight = True
    state.catchup_asked = state.catchup_peers[0]
    # round robin: the next attempt prefers the next peer, so no single peer can stall us by lying
    state.catchup_peers = state.catchup_peers[1:] + state.catchup_peers[:1]


def _demote(state: ReplicaState, peer: int | None) -> None:
    if peer is not None and peer in state.catchup_peers:
        state.catchup_peers = tuple(p for p in state.catchup_peers if p != peer) + (peer,)


def on_catchup_received(state: ReplicaState, event: CatchUpReceived, out: list[Action]) -> None:
    """Verify each (block, certificate) in order; queue the valid prefix for re-execution. Only the
    answer of the peer asked last ends the request (stale answers are used, but start nothing)."""
    if event.from_index == state.catchup_asked:
        state.catchup_inflight = False
    queue = state.catchup_queue
    expected_height = queue[-1][0].height + 1 if queue else state.head_height + 1
    expected_prev = queue[-1][0].block_hash if queue else state.head_hash
    accepted = 0
    for block, certificate in event.blocks_and_certificates:
        header = block.header
        if header.height < expected_height:
            continue
        if header.height != expected_height or header.prev_hash != expected_prev:
            drop(state, "catchup_bad_block")
            _demote(state, event.from_index)
            break
        if header.validators_hash != state.validators_digest and header.height >= state.config.epoch_start:
            break  # certified by a set a queued checkpoint enacts: fetched again once it is installed (ADR 0027)
        problem = certificate_problem(state, header, certificate)
        if problem is not None:
            drop(state, "catchup_" + problem)
            _demote(state, event.from_index)
            break
        queue.append((BlockHandle.from_block(block), certificate))
        state.catchup_sources[block.block_hash] = event.from_index
        accepted += 1
        expected_height, expected_prev = header.height + 1, header.block_hash
    if accepted == 0 and not queue:
        drop(state, "catchup_useless")
        _demote(state, event.from_index)
    execute_next(state, out)


def execute_next(state: ReplicaState, out: list[Action]) -> None:
    """Ask the runtime to re-execute the next queued certified block (one at a time, on the head), and
    fetch the next window while the queue still has half a window to execute (pipelined catch-up:
    the fetch overlaps execution instead of following it)."""
    queue = state.catchup_queue
    while queue and queue[0][0].height <= state.head_height:
        queue.pop(0)
    if queue and (queue[0][0].height != state.head_height + 1 or queue[0][0].header.prev_hash != state.head_hash):
        queue.clear()
        return
    if queue and not state.catchup_executing:
        handle = queue[0][0]
        state.catchup_executing = handle.block_hash
        out.append(ExecuteBlock(handle, certified=True))
        out.append(SetTimer("catchup", state.config.view_timeout_ms))
    if not state.catchup_inflight and len(queue) <= state.config.max_catchup_blocks // 2:
        request_catchup(state, out)


def on_catchup_executed(state: ReplicaState, block_hash: bytes, valid: bool, out: list[Action]) -> None:
    """Commit a certified block whose re-execution matched; a mismatch means the peer altered the txs."""
    from chain.consensus.normal import commit_block

    queue = state.catchup_queue
    if not queue or queue[0][0].block_hash != block_hash:
        execute_next(state, out)
        return
    handle, certificate = queue.pop(0)
    source = state.catchup_sources.pop(block_hash, None)
    if not valid:
        drop(state, "catchup_block_invalid")
        queue.clear()
        state.catchup_sources.clear()
        _demote(state, source)
        request_catchup(state, out)
        return
    if handle.height == state.head_height + 1 and handle.header.prev_hash == state.head_hash:
        # with more certified blocks queued behind it, the next synced write makes this one durable
        commit_block(state, handle, certificate, out, sync=not queue)
    execute_next(state, out)


def on_catchup_timer(state: ReplicaState, out: list[Action]) -> None:
    """No usable answer in time: rotate the peers and ask again."""
    state.catchup_inflight = False
    if state.catchup_queue:
        state.catchup_executing = b""  # the runtime's answer was lost: ask again
        execute_next(state, out)
        return
    if state.catchup_target > state.head_height:
        state.catchup_peers = state.catchup_peers[1:] + state.catchup_peers[:1]
        request_catchup(state, out)


def send_status(state: ReplicaState, out: list[Action]) -> None:
    """Status timer: multicast this replica's certified head so lagging peers can catch up."""
    config = state.config
    body = Status(state.view, state.head_header, state.head_certificate)
    out.append(Broadcast(make_message(config.signer, config.chain_id, config.my_index, STATUS, body)))


def on_status(state: ReplicaState, message: Message, out: list[Action]) -> None:
    """A peer's certified head above ours (verified here) starts a catch-up from that peer."""
    status: Status = message.body
    if status.head_header is None or status.head_certificate is None:
        return
    height = status.head_certificate.height
    if height <= state.head_height or (height <= state.catchup_target and message.sender in state.catchup_peers):
        return
    problem = certificate_problem(state, status.head_header, status.head_certificate)
    if problem is not None:
        return drop(state, problem)
    note_certified_height(state, height, (message.sender,), out, status.head_certificate)
