"""Seeded, virtual-clock network simulator for the pure PBFT core (STYLE.md habit 10).

A heap of timed deliveries; per-schedule drop/duplication/delay (reordering), partitions that heal,
crash/restart (restart reloads the persisted votes), and Byzantine replicas that equivocate, send
conflicting votes, forge or replay messages, stay silent, censor requests or lie in catch-up.
Invariants are checked on every commit (agreement, validity) and at the end (liveness after healing).
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field
from typing import Any

from chain import codec
from chain.consensus import (
    BlockExecuted,
    Broadcast,
    CancelTimer,
    CatchUpReceived,
    CommitBlock,
    ExecuteBlock,
    MessageReceived,
    PersistVote,
    ProposalReady,
    RelayRequests,
    ReplicaConfig,
    RequestCatchUp,
    RequestProposal,
    RequestReceived,
    RequestsDone,
    RequestsDropped,
    Send,
    SetTimer,
    Start,
    TimerFired,
    new_replica,
    step,
)
from chain.consensus.messages import (
    COMMIT,
    PREPARE,
    PREPREPARE,
    Vote,
    decode_message,
    encode_message,
    make_message,
)
from chain.crypto import Signer
from chain.errors import DecodeError
from chain.types import Block, CommitCertificate, Header

from .executor import (
    CHAIN_ID,
    build_block,
    check_block,
    client_txs,
    expiring_txs,
    genesis_header,
    validator_keys,
)

HONEST = "honest"
BEHAVIOURS = ("silent", "equivocate", "conflicting", "forger", "liar", "censor")
VOTE_KINDS = ("preprepare", "prepare", "commit", "viewchange", "newview")


class InvariantViolation(AssertionError):
    pass


@dataclass
class Schedule:
    """Everything that varies between runs; a seed plus these fields replay a run exactly."""

    n: int = 4
    seed: int = 0
    byzantine: dict[int, str] = field(default_factory=dict)
    drop_rate: float = 0.0
    dup_rate: float = 0.0
    max_delay_ms: int = 10
    partition: tuple[frozenset[int], ...] = ()
    heal_ms: int = 500
    crashes: tuple[tuple[int, int, int], ...] = ()
    """(node, crash_at_ms, restart_at_ms); restarts happen before heal_ms."""
    txs: int = 6
    liveness_bound_ms: int = 12_000
    expiring: int = 0
    """Client transactions valid until height 1, delivered to every replica at 1 ms: all but the few the
    primary puts in block 1 can never commit and must be dropped (issue 12.1, ADR 0013)."""
    extra_blocks: int = 2
    """After healing, run until every honest replica committed this many new blocks."""
    view_timeout_ms: int = 200
    checkpoint_interval: int = 4
    window: int = 8


@dataclass
class Node:
    index: int
    config: ReplicaConfig
    state: Any = None
    up: bool = True
    incarnation: int = 0
    timer_gen: dict[str, int] = field(default_factory=dict)
    chain: list[tuple[Block, CommitCertificate | None]] = field(default_factory=list)
    persisted: dict[bytes, bytes] = field(default_factory=dict)
    ever_persisted: set[bytes] = field(default_factory=set)
    commit_times: list[int] = field(default_factory=list)
    seen: list[bytes] = field(default_factory=list)
    votes: list[tuple[int, str, int, int]] = field(default_factory=list)
    """(time, kind, view, height) of every PREPARE/COMMIT this replica sent."""

    @property
    def head(self) -> Header:
        return self.chain[-1][0].header


class Simulation:
    def __init__(self, schedule: Schedule) -> None:
        self.s = schedule
        self.rng = random.Random(schedule.seed)
        self.now = 0
        self.queue: list[tuple[int, int, int, int, str, Any]] = []
        self.seq = 0
        keys = validator_keys(schedule.n)
        self.keys = keys
        self.validators = tuple(kp.public_key for kp in keys)
        self.signers = [Signer(kp) for kp in keys]
        genesis = Block(genesis_header(self.validators), ())
        self.nodes: list[Node] = []
        for i in range(schedule.n):
            config = ReplicaConfig(
                chain_id=CHAIN_ID,
                validators=self.validators,
                my_index=i,
                signer=self.signers[i],
                checkpoint_interval=schedule.checkpoint_interval,
                window=schedule.window,
                view_timeout_ms=schedule.view_timeout_ms,
                request_timeout_ms=schedule.view_timeout_ms * 3,
                empty_block_interval_ms=schedule.view_timeout_ms // 4,
                max_backoff=3,
                max_catchup_blocks=16,
            )
            node = Node(i, config, chain=[(genesis, None)])
            node.state = new_replica(config, 0, genesis.block_hash, [])
            self.nodes.append(node)
        self.committed: dict[int, bytes] = {}
        self.checked_certs: set[bytes] = set()
        self.txs = client_txs(schedule.txs)
        self.expiring = expiring_txs(schedule.expiring)
        self.by_hash = {tx.tx_hash: tx for tx in self.txs + self.expiring}
        self.heal_height: int | None = None
        self.heal_heads: dict[int, int] = {}
        self.actions_applied = 0

    # --- scheduling ------------------------------------------------------------------------------

    def honest(self) -> list[Node]:
        return [node for node in self.nodes if node.index not in self.s.byzantine]

    def push(self, at: int, node: int, kind: str, payload: Any) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (at, self.seq, node, self.nodes[node].incarnation, kind, payload))

    def healed(self) -> bool:
        return self.now >= self.s.heal_ms

    def connected(self, a: int, b: int) -> bool:
        if self.healed() or not self.s.partition:
            return True
        return any(a in group and b in group for group in self.s.partition)

    def transmit(self, src: int, dst: int, message: bytes) -> None:
        if dst == src or not self.connected(src, dst):
            return
        if not self.healed() and self.rng.random() < self.s.drop_rate:
            return
        copies = 2 if not self.healed() and self.rng.random() < self.s.dup_rate else 1
        for _ in range(copies):
            delay = self.rng.randint(1, self.s.max_delay_ms if not self.healed() else 10)
            self.push(self.now + delay, dst, "msg", (message, src))

    # --- running -----------------------------------------------------------------------------------

    def run(self) -> None:
        for node in self.nodes:
            self.feed(node, Start(0))
        for i, tx in enumerate(self.txs):
            at = self.rng.randint(0, self.s.heal_ms + 200)
            for node in self.nodes:
                self.push(at + i, node.index, "request", tx)
        for tx in self.expiring:
            for node in self.nodes:
                self.push(1, node.index, "request", tx)
        for node_index, crash_at, restart_at in self.s.crashes:
            self.push(crash_at, node_index, "crash", None)
            self.seq += 1
            heapq.heappush(self.queue, (restart_at, self.seq, node_index, -1, "restart", None))
        self.push(self.s.heal_ms, 0, "heal", None)
        deadline = self.s.heal_ms + self.s.liveness_bound_ms
        while self.queue:
            at, _, index, incarnation, kind, payload = heapq.heappop(self.queue)
            if at > deadline:
                break
            self.now = at
            node = self.nodes[index]
            if kind == "heal":
                self.on_heal()
                continue
            if kind == "restart":
                self.restart(node)
                continue
            if incarnation != node.incarnation or not node.up:
                continue
            if kind == "crash":
                node.up = False
                node.incarnation += 1
                continue
            if self.dispatch(node, kind, payload) and self.live():
                return
        self.check_liveness(final=True)

    def on_heal(self) -> None:
        self.heal_heads = {node.index: node.head.height for node in self.honest()}
        self.heal_height = max(self.heal_heads.values())

    def live(self) -> bool:
        if self.heal_height is None:
            return False
        target = self.heal_height + self.s.extra_blocks
        return all(node.head.height >= target for node in self.honest())

    def check_liveness(self, final: bool) -> None:
        if not self.live():
            heads = {node.index: node.head.height for node in self.nodes}
            views = {node.index: (node.state.view, node.state.active) for node in self.nodes}
            raise InvariantViolation(
                f"liveness: honest replicas did not all commit {self.s.extra_blocks} new blocks within "
                f"{self.s.liveness_bound_ms} ms after healing (heal height {self.heal_height}, heads {heads}, "
                f"views {views})"
            )

    def dispatch(self, node: Node, kind: str, payload: Any) -> bool:
        if kind == "msg":
            message, src = payload
            if self.s.byzantine.get(node.index) == "forger" and self.decodable(message):
                node.seen.append(message)
                if len(node.seen) > 200:
                    node.seen.pop(0)
            return self.feed(node, MessageReceived(message, src))
        if kind == "timer":
            name, gen = payload
            if node.timer_gen.get(name) != gen:
                return False
            return self.feed(node, TimerFired(name, self.now))
        if kind == "request":
            return self.feed(node, RequestReceived(payload.tx_hash, self.now))
        if kind == "event":
            return self.feed(node, payload)
        if kind == "forge":
            self.forge(node)
            return False
        raise AssertionError(kind)

    @staticmethod
    def decodable(message: bytes) -> bool:
        try:
            decode_message(message)
        except DecodeError:
            return False
        return True

    def feed(self, node: Node, event: Any) -> bool:
        node.state, actions = step(node.state, event)
        committed = False
        for action in actions:
            committed |= self.apply(node, action)
        return committed

    def restart(self, node: Node) -> None:
        node.incarnation += 1
        node.up = True
        node.timer_gen = {}
        block, certificate = node.chain[-1]
        height = block.header.height
        node.state = new_replica(
            node.config, height, block.block_hash, list(node.persisted.values()),
            head_header=block.header if height else None, head_certificate=certificate,
        )
        self.feed(node, Start(self.now))

    # --- the runtime's side of the actions ------------------------------------------------------------

    def apply(self, node: Node, action: Any) -> bool:
        self.actions_applied += 1
        byzantine = self.s.byzantine.get(node.index)
        if isinstance(action, PersistVote):
            node.persisted[action.key] = action.value
            node.ever_persisted.add(codec.decode(action.value)[0])
        elif isinstance(action, Broadcast | Send):
            message = action.message_bytes
            if byzantine is None:
                self.check_persisted(node, message)
                decoded = decode_message(message)
                if decoded.kind in (PREPARE, COMMIT):
                    node.votes.append((self.now, decoded.kind, decoded.body.view, decoded.body.height))
            targets = [action.to_index] if isinstance(action, Send) else range(self.s.n)
            for dst in targets:
                for out in self.byzantine_rewrite(node, byzantine, dst, message):
                    self.transmit(node.index, dst, out)
            if byzantine == "forger":
                self.push(self.now + self.rng.randint(1, 50), node.index, "forge", None)
        elif isinstance(action, SetTimer):
            gen = node.timer_gen.get(action.name, 0) + 1
            node.timer_gen[action.name] = gen
            self.push(self.now + max(1, action.delay_ms), node.index, "timer", (action.name, gen))
        elif isinstance(action, CancelTimer):
            node.timer_gen[action.name] = node.timer_gen.get(action.name, 0) + 1
        elif isinstance(action, RequestProposal):
            self.propose(node, action)
        elif isinstance(action, ExecuteBlock):
            block = action.block
            valid, reason = check_block(block, node.head)
            self.push(self.now + 1, node.index, "event", BlockExecuted(block.block_hash, valid, reason))
        elif isinstance(action, CommitBlock):
            self.commit(node, action.block, action.certificate)
            return True
        elif isinstance(action, RequestCatchUp):
            self.serve_catchup(node, action)
        elif isinstance(action, RelayRequests):
            for tx_hash in action.tx_hashes:
                for dst in range(self.s.n):
                    if dst != node.index and tx_hash in self.by_hash:
                        self.push(self.now + self.rng.randint(1, 20), dst, "request", self.by_hash[tx_hash])
        return False

    def check_persisted(self, node: Node, message: bytes) -> None:
        kind = codec.decode(message)[0]
        if kind in VOTE_KINDS and message not in node.ever_persisted:
            raise InvariantViolation(f"replica {node.index} sent a {kind} it had not persisted")

    def propose(self, node: Node, action: RequestProposal) -> None:
        if node.head.block_hash != action.prev_hash:
            return
        if self.s.byzantine.get(node.index) == "censor":
            txs: list[Any] = []
        else:
            done = {tx.tx_hash for block, _ in node.chain for tx in block.txs}
            pending = [self.by_hash[h] for h in node.state.requests if h in self.by_hash and h not in done]
            dead = [tx.tx_hash for tx in pending if 0 < tx.body.valid_until_height < action.height]
            if dead:  # the runtime's builder leaves them out and reports them (Ledger.take_dropped)
                self.push(self.now + 1, node.index, "event", RequestsDropped(tuple(dead), self.now + 1))
            txs = [tx for tx in pending if tx.tx_hash not in dead][:4]
        block = build_block(node.head, action.view, node.index, txs, self.now)
        self.push(self.now + 1, node.index, "event", ProposalReady(block))

    def commit(self, node: Node, block: Block, certificate: CommitCertificate) -> None:
        header = block.header
        if header.height != node.head.height + 1 or header.prev_hash != node.head.block_hash:
            raise InvariantViolation(f"replica {node.index} committed height {header.height} off its head")
        node.chain.append((block, certificate))
        node.commit_times.append(self.now)
        if node.index not in self.s.byzantine:
            key = certificate.encode()
            if key not in self.checked_certs:
                certificate.verify(CHAIN_ID, self.validators, block.block_hash)  # validity
                self.checked_certs.add(key)
            known = self.committed.setdefault(header.height, block.block_hash)
            if known != block.block_hash:
                raise InvariantViolation(f"agreement: two blocks committed at height {header.height}")
        if block.txs:
            self.push(self.now + 1, node.index, "event", RequestsDone(tuple(tx.tx_hash for tx in block.txs), self.now + 1))
        expired = tuple(h for h in node.state.requests
                        if h in self.by_hash and 0 < self.by_hash[h].body.valid_until_height <= header.height)
        if expired:  # the mempool purge on commit (Mempool.purge_expired)
            self.push(self.now + 1, node.index, "event", RequestsDropped(expired, self.now + 1))

    def serve_catchup(self, node: Node, action: RequestCatchUp) -> None:
        for peer_index in action.peers[:1]:
            peer = self.nodes[peer_index]
            if not peer.up or not self.connected(node.index, peer_index):
                continue
            pairs = [(b, c) for b, c in peer.chain[action.from_height: action.to_height + 1] if c is not None]
            if self.s.byzantine.get(peer_index) == "liar" and pairs:
                pairs = self.lie(pairs)
            delay = self.rng.randint(1, 20)
            self.push(self.now + delay, node.index, "event", CatchUpReceived(pairs, peer_index))

    # --- Byzantine behaviour ------------------------------------------------------------------------------

    def lie(self, pairs: list[tuple[Block, CommitCertificate]]) -> list[tuple[Block, CommitCertificate]]:
        block, certificate = pairs[0]
        choice = self.rng.randrange(3)
        if choice == 0:  # forged signatures
            bad = tuple((i, bytes(64)) for i, _ in certificate.signatures)
            return [(block, CommitCertificate(certificate.height, certificate.view, certificate.block_hash, bad))]
        if choice == 1:  # a different block under a real certificate: altered transactions
            return [(Block(block.header, tuple(client_txs(2))), certificate)]
        other = build_block(block.header, 0, 0, (), block.header.timestamp_ms + 5)  # wrong chain
        return [(other, certificate)]

    def byzantine_rewrite(self, node: Node, behaviour: str | None, dst: int, message: bytes) -> list[bytes]:
        if behaviour is None or behaviour in ("liar", "censor", "forger"):
            return [message]
        if behaviour == "silent":
            return []
        decoded = decode_message(message)
        signer = self.signers[node.index]
        if behaviour == "equivocate" and decoded.kind == PREPREPARE and dst % 2 == 0:
            handle_header = decode_message(message)
            from chain.consensus.messages import BlockHandle

            block = BlockHandle.from_bytes(handle_header.payload).block
            parent = node.head if node.head.height + 1 == block.height else None
            if parent is None:
                return [message]
            other = build_block(parent, block.header.view, node.index, block.txs, block.header.timestamp_ms + 7)
            vote = Vote(other.height, block.header.view, other.block_hash)
            return [make_message(signer, CHAIN_ID, node.index, PREPREPARE, vote, other.encode())]
        if behaviour == "conflicting" and decoded.kind in (PREPARE, COMMIT) and dst % 2 == 1:
            vote = decoded.body
            fake = Vote(vote.height, vote.view, bytes(self.rng.randrange(256) for _ in range(32)))
            return [message, make_message(signer, CHAIN_ID, node.index, decoded.kind, fake)]
        return [message]

    def forge(self, node: Node) -> None:
        """A forger: replays old messages, claims other senders, corrupts signatures, sends garbage."""
        dst = self.rng.randrange(self.s.n)
        choice = self.rng.randrange(4)
        if choice == 0 and node.seen:
            self.transmit(node.index, dst, self.rng.choice(node.seen))
        elif choice == 1 and node.seen:
            original = decode_message(self.rng.choice(node.seen))
            other = self.rng.randrange(self.s.n)
            forged = codec.encode((original.kind, original.body_wire, other, bytes(64), original.payload))
            self.transmit(node.index, dst, forged)
        elif choice == 2:
            vote = Vote(node.head.height + 1, node.state.view, bytes(32))
            body_sig = bytes(self.rng.randrange(256) for _ in range(64))
            self.transmit(node.index, dst, encode_message(COMMIT, vote, node.index, body_sig))
        else:
            self.transmit(node.index, dst, bytes(self.rng.randrange(256) for _ in range(self.rng.randint(0, 40))))


def run_schedule(schedule: Schedule) -> Simulation:
    simulation = Simulation(schedule)
    simulation.run()
    return simulation
