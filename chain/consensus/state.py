"""Replica configuration and state (Castro & Liskov TOCS 2002 §4: the replica's view, log and checkpoints).

The state is a mutable record that ``step`` updates in place (for speed) — but every handler validates
its input completely before it changes anything, so a dropped input changes only ``dropped``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from chain.consensus.messages import BlockHandle, Message, PreparedCertificate, ViewChange
from chain.consensus.quorum import max_faulty, quorum, weak_quorum
from chain.crypto import Signer
from chain.errors import ConfigError
from chain.types import CommitCertificate, Header, validators_hash


@dataclass(frozen=True)
class ReplicaConfig:
    """Static parameters of one replica.

    ``validators`` are Ed25519 public keys in validator-index order; the primary of view v is
    ``validators[v % n]``. Heights are consensus sequence numbers (one instance per height).
    """

    chain_id: str
    validators: tuple[bytes, ...]
    my_index: int
    signer: Signer
    checkpoint_interval: int = 10
    """K: a CHECKPOINT is signed after every height that is a multiple of K (§4.3)."""
    window: int = 40
    """Watermark window L: messages for heights above ``stable checkpoint + window`` are dropped."""
    view_timeout_ms: int = 4_000
    """Base view-change timeout; doubles with every consecutive view change (§4.5.2)."""
    request_timeout_ms: int = 10_000
    """A pending request older than this (in the current view) makes a backup start a view change."""
    max_log_messages: int = 4_096
    """Bound on buffered (future height/view) messages; excess is dropped and counted."""
    max_log_bytes: int = 64 * 1024 * 1024
    """Bound on the bytes of buffered messages."""
    empty_block_interval_ms: int = 1_000
    batch_delay_ms: int = 0
    """Blocks sized by load: with requests pending, the primary proposes when ``block_txs`` of them are
    pending or the oldest has waited this long (0: at once). The runtime sets it from the node config."""
    block_txs: int = 2_000
    """A block is full at this many transactions (the genesis ``max_block_txs``): propose at once."""
    """The primary proposes an empty block this long after the last commit if no request is pending."""
    status_interval_ms: int = 0
    """Period of STATUS broadcasts and checkpoint retransmission (0: ``view_timeout_ms``)."""
    max_backoff: int = 6
    """The view timeout is at most ``view_timeout_ms * 2**max_backoff``."""
    genesis_height: int = 0
    """Height of the genesis block, the only head that needs no CommitCertificate."""
    max_catchup_blocks: int = 256
    """Most blocks asked for in one RequestCatchUp."""
    previous_validators: tuple[bytes, ...] = ()
    """The set before the last change (empty: none known): it certified the heights below ``epoch_start``."""
    epoch_start: int = 0
    """The first height that ``validators`` certify (the block after the checkpoint that enacted them)."""

    def __post_init__(self) -> None:
        n = len(self.validators)
        if n < 1 or not 0 <= self.my_index < n:
            raise ConfigError(f"my_index {self.my_index} is not a validator index of {n} validators")
        if len(set(self.validators)) != n:
            raise ConfigError("duplicate validator key")
        if self.signer.public_key != self.validators[self.my_index]:
            raise ConfigError("signer key is not validators[my_index]")
        if self.checkpoint_interval < 1 or self.window < 2 * self.checkpoint_interval:
            raise ConfigError("need checkpoint_interval >= 1 and window >= 2 * checkpoint_interval")

    @property
    def n(self) -> int:
        return len(self.validators)

    @property
    def status_period_ms(self) -> int:
        return self.status_interval_ms or self.view_timeout_ms


@dataclass
class Instance:
    """The consensus instance for (view, height = head + 1): its pre-prepare, prepares and commits (§4.2)."""

    view: int
    height: int
    preprepare: BlockHandle | None = None
    preprepare_signature: bytes = b""
    executed: bool | None = None
    """None: not executed yet; True/False: the runtime's BlockExecuted verdict for ``preprepare``."""
    prepares: dict[int, tuple[bytes, bytes]] = field(default_factory=dict)
    """sender -> (block_hash, signature); the first vote of each sender counts."""
    commits: dict[int, tuple[bytes, bytes]] = field(default_factory=dict)
    sent_prepare: bool = False
    sent_commit: bool = False
    catchup_requested: bool = False


@dataclass
class ReplicaState:
    """Everything a replica knows. Field groups follow the paper: view, log, checkpoints, view change."""

    config: ReplicaConfig
    n: int
    f: int
    q: int
    # --- view (§4.4) ---
    view: int = 0
    active: bool = True
    """False between sending VIEW-CHANGE for ``view`` and accepting its NEW-VIEW."""
    floor: int = 0
    """Heights <= floor take no fresh pre-prepare in this view (the NEW-VIEW's max certified height)."""
    reproposal: tuple[int, bytes] | None = None
    """(height, block_hash) the NEW-VIEW of this view re-proposed."""
    reproposal_block: BlockHandle | None = None
    reproposal_signature: bytes = b""
    new_view_bytes: bytes = b""
    """The NEW-VIEW that installed ``view`` (re-sent by the primary to replicas that missed it)."""
    backoff: int = 0
    view_started_ms: int = 0
    # --- committed head ---
    head_height: int = 0
    head_hash: bytes = b""
    head_header: Header | None = None
    head_certificate: CommitCertificate | None = None
    # --- normal case (§4.2) ---
    instance: Instance = field(default_factory=lambda: Instance(0, 1))
    my_votes: dict[tuple[str, int, int], bytes] = field(default_factory=dict)
    """(kind, view, height) -> block hash of every vote this replica signed (persisted; never changed)."""
    sent_messages: dict[tuple[str, int, int], bytes] = field(default_factory=dict)
    """(kind, view, height) -> the envelope bytes sent, for retransmission after restart."""
    prepared: PreparedCertificate | None = None
    """Highest-view prepared certificate for height head + 1 (reported in VIEW-CHANGE)."""
    prepared_block: BlockHandle | None = None
    proposal_requested: tuple[int, int] | None = None
    proposal_due_ms: int = 0
    """When the armed "proposal" timer fires (0: not armed), so a new request re-arms it only earlier."""
    proposed_txs: tuple[bytes, frozenset[bytes]] | None = None
    """(block_hash, tx hashes) of this primary's last proposal: pending requests it settles on commit."""
    executing: dict[bytes, str] = field(default_factory=dict)
    """block_hash -> "instance": the pre-prepared block's ExecuteBlock awaiting BlockExecuted."""
    catchup_executing: bytes = b""
    """Hash of the certified block whose catch-up ExecuteBlock awaits BlockExecuted."""
    # --- message log of buffered future messages, bounded (§4.3) ---
    pending: list[Message] = field(default_factory=list)
    pending_bytes: int = 0
    pending_by_sender: dict[int, int] = field(default_factory=dict)
    replay_needed: bool = False
    """Set when the head or view moved: buffered messages are re-examined after the current event."""
    # --- checkpoints and watermarks (§4.3) ---
    stable_checkpoint: int = 0
    checkpoints: dict[int, dict[int, bytes]] = field(default_factory=dict)
    own_checkpoint: bytes = b""
    # --- validator-set changes (DESIGN.md §5 epochs; ADR 0027) ---
    enacted: dict[bytes, tuple[bytes, ...]] = field(default_factory=dict)
    """block_hash -> the validator set that executed (checkpoint) block enacts, installed on its commit."""
    validators_digest: bytes = b""
    """``validators_hash`` of ``config.validators``: the value a header certified by them names."""
    # --- view change (§4.4) ---
    view_changes: dict[int, tuple[Message, bytes]] = field(default_factory=dict)
    """sender -> (its latest valid VIEW-CHANGE, the envelope bytes)."""
    own_view_change: bytes = b""
    view_change_quorum_seen: bool = False
    withdrawn_view: int = 0
    """Highest view this replica sent a VIEW-CHANGE for and then left for a lower view (rejoin, ADR 0013):
    a NEW-VIEW for a view up to it that counts such a stale VIEW-CHANGE of ours is refused."""
    activity: dict[int, tuple[int, int]] = field(default_factory=dict)
    """sender -> (view, head) its latest signed message proves: a PREPARE/COMMIT at h in view v proves
    head >= h - 1 in v, a STATUS its head. Marks its earlier VIEW-CHANGEs for higher views stale."""
    # --- catch-up ---
    catchup_target: int = 0
    catchup_peers: tuple[int, ...] = ()
    catchup_inflight: bool = False
    catchup_asked: int | None = None
    """The peer the outstanding RequestCatchUp prefers (its answer ends the request)."""
    catchup_queue: list[tuple[BlockHandle, CommitCertificate]] = field(default_factory=list)
    catchup_sources: dict[bytes, int | None] = field(default_factory=dict)
    """block_hash -> the peer that sent this queued block (demoted if it does not execute)."""
    # --- requests (§4.5.2 liveness: a censoring primary is replaced) ---
    requests: dict[bytes, int] = field(default_factory=dict)
    progress_ms: int = 0
    """When a pending request of this replica last committed (restarts the request timer, §4.5.2)."""
    relayed_ms: int = -1
    """When the request timer last relayed the pending requests instead of suspecting the primary."""
    now_ms: int = 0
    # --- metrics ---
    dropped: dict[str, int] = field(default_factory=dict)
    """Dropped inputs by reason (metrics)."""
    committed_blocks: int = 0
    view_changes_started: int = 0

    @property
    def primary(self) -> int:
        return self.view % self.n

    @property
    def is_primary(self) -> bool:
        return self.primary == self.config.my_index

    @property
    def low_watermark(self) -> int:
        return self.stable_checkpoint

    @property
    def high_watermark(self) -> int:
        return self.stable_checkpoint + self.config.window

    def primary_of(self, view: int) -> int:
        return view % self.n

    def view_change_payload(self) -> ViewChange:
        return ViewChange(self.view, self.head_header, self.head_certificate, self.prepared)

    @property
    def catching_up(self) -> bool:
        """Behind a certified height it knows of: the others are live, so no suspicion (DESIGN.md §5)."""
        return self.catchup_target > self.head_height

    def view_timeout(self) -> int:
        return self.config.view_timeout_ms * (2 ** min(self.backoff, self.config.max_backoff))


def initial_state(config: ReplicaConfig, head_height: int, head_hash: bytes) -> ReplicaState:
    n = config.n
    state = ReplicaState(config=config, n=n, f=max_faulty(n), q=quorum(n), validators_digest=validators_hash(config.validators))
    state.head_height = head_height
    state.head_hash = head_hash
    state.floor = config.genesis_height
    state.stable_checkpoint = head_height - head_height % config.checkpoint_interval
    state.instance = Instance(0, head_height + 1)
    return state


def reconfigure(state: ReplicaState, validators: tuple[bytes, ...], my_index: int, *, epoch_start: int | None = None) -> None:
    """Install a new validator set after the checkpoint block that enacted it (DESIGN.md §5 epochs).

    Called on committing that block (:func:`chain.consensus.normal.commit_block`, before the next height
    starts), so every message, certificate and primary choice (``view mod n``) for the next height is
    judged against the new set; quorum sizes follow ``n``. Certificates of heights below ``epoch_start``
    (default: the head + 1) stay checked against the set they were made by (``previous_validators``).
    """
    if validators == state.config.validators:
        return
    start = state.head_height + 1 if epoch_start is None else epoch_start
    state.config = replace(state.config, validators=validators, my_index=my_index,
                           previous_validators=state.config.validators, epoch_start=start)
    state.n = len(validators)
    state.f, state.q = max_faulty(state.n), quorum(state.n)
    state.validators_digest = validators_hash(validators)


def validators_for(state: ReplicaState, height: int) -> tuple[bytes, ...]:
    """The set that certifies ``height``: the current one, or the previous one below ``epoch_start``."""
    config = state.config
    return config.previous_validators if height < config.epoch_start and config.previous_validators else config.validators


def drop(state: ReplicaState, reason: str) -> None:
    """Count a dropped input by reason; the only state change a dropped input may cause."""
    state.dropped[reason] = state.dropped.get(reason, 0) + 1


def weak(state: ReplicaState) -> int:
    return weak_quorum(state.n)
