"""Step tests of a validator-set change at a checkpoint (DESIGN.md §5 epochs, ADR 0027): the core installs
the set a committed checkpoint block enacts *before* it starts the next height, so the primary of
``view mod n``, the quorum and the certificate checks of that height use the new set; certificates of the
old epoch stay checked against the old set; a catch-up never judges a new-epoch block by the old set."""

from __future__ import annotations

import hashlib
from typing import Any

from chain.consensus import (
    BlockExecuted,
    CatchUpReceived,
    CommitBlock,
    ExecuteBlock,
    ReplicaConfig,
    RequestCatchUp,
    SetTimer,
    new_replica,
    step,
)
from chain.consensus.catchup import certificate_problem
from chain.consensus.state import validators_for
from chain.crypto import KeyPair, Signer
from chain.types import (
    ZERO_HASH,
    Block,
    CommitCertificate,
    Header,
    commit_signing_bytes,
    make_tx,
    validators_hash,
)

CHAIN = "epochs"
KEYS = [KeyPair.from_seed(bytes([i + 1]) * 32) for i in range(5)]
OLD = tuple(k.public_key for k in KEYS[:4])
GROWN = tuple(k.public_key for k in KEYS)
SHRUNK = OLD[1:]
GENESIS = Header(CHAIN, 0, 0, 0, ZERO_HASH, ZERO_HASH, ZERO_HASH, ZERO_HASH, validators_hash(OLD), 0, 0)
INTERVAL = 2


def replica(i: int) -> Any:
    config = ReplicaConfig(CHAIN, OLD, i, Signer(KEYS[i]), checkpoint_interval=INTERVAL, window=4,
                           view_timeout_ms=1000, empty_block_interval_ms=100)
    return new_replica(config, 0, GENESIS.block_hash, [])


def chain_of(count: int, view: int, change_at: int = INTERVAL, new: tuple[bytes, ...] = GROWN) -> list[Block]:
    blocks, parent = [], GENESIS
    for height in range(1, count + 1):
        keys = OLD if height <= change_at else new
        txs = (make_tx(CHAIN, "anchoring", "anchor", {"label": str(height)}, [KEYS[0]], height),)
        root = hashlib.sha256(txs[0].tx_hash).digest()
        header = Header(CHAIN, height, view, height, parent.block_hash, root, root, ZERO_HASH, validators_hash(keys),
                        0, view % len(keys))
        blocks.append(Block(header, txs))
        parent = header
    return blocks


def certify(block: Block, signers: list[int], view: int) -> CommitCertificate:
    message = commit_signing_bytes(CHAIN, block.height, view, block.block_hash)
    return CommitCertificate(block.height, view, block.block_hash,
                             tuple((i, bytes(Signer(KEYS[i]).sign(message))) for i in signers))


def catch_up(state: Any, blocks: list[Block], certificates: list[CommitCertificate],
             enacted: dict[int, tuple[bytes, ...]]) -> list[Any]:
    """Feed certified blocks as a peer's catch-up answer; execute each as valid, reporting ``enacted`` sets."""
    state, actions = step(state, CatchUpReceived(list(zip(blocks, certificates, strict=True)), 1))
    seen = list(actions)
    while True:
        execute = [a for a in actions if isinstance(a, ExecuteBlock)]
        if not execute:
            return seen
        handle = execute[0].handle
        state, actions = step(state, BlockExecuted(handle.block_hash, True, "", enacted.get(handle.height)))
        seen += actions


def test_the_primary_after_growth_is_view_mod_the_new_n() -> None:
    """View 4, 4 -> 5 validators at checkpoint 2: the primary of height 3 is validator 4 (4 mod 5), not 0
    (4 mod 4). Before the fix replica 0 armed its proposal timer as if it were still the primary."""
    view = 4
    blocks = chain_of(2, view)
    certificates = [certify(b, [0, 1, 2], view) for b in blocks]
    state = replica(0)
    actions = catch_up(state, blocks, certificates, {2: GROWN})
    assert [a.block.height for a in actions if isinstance(a, CommitBlock)] == [1, 2]
    assert state.n == 5 and state.q == 4 and state.f == 1
    assert state.config.validators == GROWN and state.config.my_index == 0
    assert state.view == view and state.primary == 4 and not state.is_primary
    after_commit_2 = actions[[i for i, a in enumerate(actions) if isinstance(a, CommitBlock)][-1]:]
    assert not any(isinstance(a, SetTimer) and a.name == "proposal" for a in after_commit_2)


def test_a_removal_moves_the_primary_role_to_the_new_index() -> None:
    """Validator 0 removed at checkpoint 2 (indices shift down): in view 0 the old validator 1 is now index 0,
    the primary of height 3, and arms its proposal timer on committing block 2."""
    blocks = chain_of(2, 0, new=SHRUNK)
    certificates = [certify(b, [0, 1, 2], 0) for b in blocks]
    state = replica(1)
    actions = catch_up(state, blocks, certificates, {2: SHRUNK})
    assert state.config.validators == SHRUNK and state.config.my_index == 0 and state.is_primary
    assert any(isinstance(a, SetTimer) and a.name == "proposal" for a in actions)


def test_a_removed_replica_keeps_its_configuration_for_its_host_to_stop_it() -> None:
    blocks = chain_of(2, 0, new=SHRUNK)
    state = replica(0)
    catch_up(state, blocks, [certify(b, [0, 1, 2], 0) for b in blocks], {2: SHRUNK})
    assert state.head_height == 2 and state.config.validators == OLD


def test_old_epoch_certificates_are_checked_against_the_old_set() -> None:
    """The checkpoint block's certificate (3 of the 4 old validators) stays valid after the set grew to 5
    (quorum 4): a STATUS or VIEW-CHANGE of a replica whose head is that checkpoint is not dropped. A
    certificate of the new epoch needs 4 of the 5."""
    blocks = chain_of(3, 0)
    state = replica(1)
    catch_up(state, blocks[:2], [certify(b, [0, 1, 2], 0) for b in blocks[:2]], {2: GROWN})
    assert validators_for(state, 2) == OLD and validators_for(state, 3) == GROWN
    assert certificate_problem(state, blocks[1].header, certify(blocks[1], [0, 1, 2], 0)) is None
    assert certificate_problem(state, blocks[2].header, certify(blocks[2], [0, 1, 2], 0)) == "bad_certificate"
    assert certificate_problem(state, blocks[2].header, certify(blocks[2], [0, 1, 2, 4], 0)) is None


def test_catch_up_stops_at_the_epoch_boundary_and_fetches_the_rest_under_the_new_set() -> None:
    """Blocks 1..4, the set grows at 2; block 3's certificate holds validator 4's signature, which the old
    set cannot check. The replica queues 1..2 only (without blaming the peer), installs the new set on
    committing 2, and asks for 3.. again; those then verify against the new set."""
    blocks = chain_of(4, 0)
    certificates = [certify(b, [0, 1, 2], 0) for b in blocks[:2]] + [certify(b, [1, 2, 3, 4], 0) for b in blocks[2:]]
    state = replica(0)
    state.catchup_target, state.catchup_peers = 4, (1,)  # a peer's STATUS showed height 4
    actions = catch_up(state, blocks, certificates, {2: GROWN})
    assert [a.block.height for a in actions if isinstance(a, CommitBlock)] == [1, 2]
    assert not any(reason.startswith("catchup_bad") for reason in state.dropped)
    assert state.config.validators == GROWN
    asked = [a for a in actions if isinstance(a, RequestCatchUp)]
    assert asked and asked[-1].from_height == 3
    state.catchup_inflight = False
    actions = catch_up(state, blocks[2:], certificates[2:], {})
    assert [a.block.height for a in actions if isinstance(a, CommitBlock)] == [3, 4]
    assert state.head_height == 4
