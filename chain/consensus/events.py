"""Inputs and outputs of the pure replica: events in, actions out (STYLE.md habits 1–3).

The runtime applies the actions of one ``step`` **in list order**: a :class:`PersistVote` always
precedes the :class:`Broadcast`/:class:`Send` of the vote it stores, so applying in order is
"persist before send". ``SetTimer`` with a name that is already armed re-arms it (one timer per name);
a timer comes back as :class:`TimerFired` with the runtime's clock reading.

Timer names: ``"view"`` (view-change timer, exponential back-off), ``"request"`` (oldest pending
request), ``"proposal"`` (primary: empty-block interval), ``"status"`` (periodic STATUS and checkpoint
retransmission), ``"catchup"`` (retry a catch-up that got no usable answer).
"""

from __future__ import annotations

from dataclasses import dataclass

from chain.consensus.messages import BlockHandle
from chain.types import Block, CommitCertificate

# --- events ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Start:
    """Arms the timers after construction or restart; re-sends the persisted votes of the current round."""

    now_ms: int


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """Raw envelope bytes from a peer; the core decodes and verifies them. ``from_index`` is the
    authenticated transport peer (None if unknown); the envelope's own signature is what counts."""

    message_bytes: bytes
    from_index: int | None = None


@dataclass(frozen=True, slots=True)
class TimerFired:
    """Timer ``name`` expired; ``due_ms`` (0: unknown) is when it should have, on the same clock as
    ``now_ms``. A view or request timer that fires far past its deadline (the process was stopped,
    SIGSTOP/SIGCONT) is re-armed, not obeyed: its silence says nothing about the primary (ADR 0013)."""

    name: str
    now_ms: int
    due_ms: int = 0


@dataclass(frozen=True, slots=True)
class ProposalReady:
    """Answer to :class:`RequestProposal`: a block built and executed on the head by the runtime.
    ``block_bytes`` (optional) is its canonical encoding if the runtime already has it."""

    block: Block
    block_bytes: bytes = b""
    validators: tuple[bytes, ...] | None = None
    """The validator set this (checkpoint) block enacts, None when it changes nothing (ADR 0027)."""


@dataclass(frozen=True, slots=True)
class BlockExecuted:
    """Answer to :class:`ExecuteBlock`: prev_hash/height/timestamp/tx signatures/nonces checked and
    re-execution gave the header's tx_root and state_root (``valid``), or ``reason`` why not."""

    block_hash: bytes
    valid: bool
    reason: str = ""
    validators: tuple[bytes, ...] | None = None
    """The validator set this (checkpoint) block enacts, None when it changes nothing: the core installs it
    when it commits the block, before it starts the next height (ADR 0027)."""


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """A client transaction reached this validator's mempool at ``now_ms`` (request timer, §4.5.2)."""

    tx_hash: bytes
    now_ms: int


@dataclass(frozen=True, slots=True)
class RequestsDone:
    """These transactions were committed at ``now_ms`` (no longer pending; restarts the request timer)."""

    tx_hashes: tuple[bytes, ...]
    now_ms: int = 0


@dataclass(frozen=True, slots=True)
class RequestsDropped:
    """These pending transactions left the mempool without committing: they can no longer commit
    (expired, nonce used by a committed block, skipped by block building). The request timer forgets
    them and settling them is no progress (DESIGN.md §5; ADR 0013: admitted -> proposed -> committed |
    dropped)."""

    tx_hashes: tuple[bytes, ...]
    now_ms: int = 0


@dataclass(frozen=True, slots=True)
class ProposalFailed:
    """Answer to :class:`RequestProposal` when the runtime could not build a block for a reason other
    than a bad transaction (those are left out of the block): the primary retries in the same view
    after the empty-block interval instead of waiting for a view change (ADR 0013)."""

    height: int
    view: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class CatchUpReceived:
    """Answer to :class:`RequestCatchUp`: ``(block, certificate)`` pairs from peer ``from_index``."""

    blocks_and_certificates: list[tuple[Block, CommitCertificate]]
    from_index: int | None = None


Event = (
    Start | MessageReceived | TimerFired | ProposalReady | ProposalFailed | BlockExecuted | RequestReceived
    | RequestsDone | RequestsDropped | CatchUpReceived
)

# --- actions -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Broadcast:
    """Send to every other validator."""

    message_bytes: bytes


@dataclass(frozen=True, slots=True)
class Send:
    to_index: int
    message_bytes: bytes


@dataclass(frozen=True, slots=True)
class PersistVote:
    """Durably store ``value`` under ``key`` (overwriting) before applying the next action. There are at
    most five keys (``pbft/vote/<kind>``); on restart pass all stored values to ``new_replica``."""

    key: bytes
    value: bytes


@dataclass(frozen=True, slots=True)
class SetTimer:
    name: str
    delay_ms: int


@dataclass(frozen=True, slots=True)
class CancelTimer:
    name: str


@dataclass(frozen=True, slots=True)
class RequestProposal:
    """Primary: build a block at ``height`` on ``prev_hash`` for ``view``, execute it, answer
    :class:`ProposalReady` — or :class:`ProposalFailed`, never nothing (the core waits for one of them)."""

    height: int
    view: int
    prev_hash: bytes


@dataclass(frozen=True, slots=True)
class ExecuteBlock:
    """Check and execute the block on the current head; answer :class:`BlockExecuted`.
    ``handle.block`` decodes the transactions (lazily: the core itself never needs them).

    ``certified``: the block already carries a verified commit certificate (catch-up, ADR 0026), so its
    transactions' signatures were checked by at least f+1 correct validators and need not be again;
    everything else (chain, height, parent, proposer, the executed roots) is still checked."""

    handle: BlockHandle
    certified: bool = False

    @property
    def block(self) -> Block:
        return self.handle.block

    @property
    def block_hash(self) -> bytes:
        return self.handle.block_hash


@dataclass(frozen=True, slots=True)
class CommitBlock:
    """Write block + certificate in one synced batch; the core has moved to the next height.
    ``sync=False`` only for a caught-up certified block with more queued behind it (ADR 0020)."""

    handle: BlockHandle
    certificate: CommitCertificate
    sync: bool = True

    @property
    def block(self) -> Block:
        return self.handle.block

    @property
    def block_hash(self) -> bytes:
        return self.handle.block_hash


@dataclass(frozen=True, slots=True)
class RequestCatchUp:
    """Fetch blocks ``from_height..to_height`` with their certificates from ``peers`` (in order of
    preference); answer :class:`CatchUpReceived`."""

    from_height: int
    to_height: int
    peers: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class RelayRequests:
    """Send these pending transactions to every validator again before suspecting the primary (§4.1: a
    backup hands a request it holds to the primary; it may never have arrived there)."""

    tx_hashes: tuple[bytes, ...]


Action = (
    Broadcast | Send | PersistVote | SetTimer | CancelTimer | RequestProposal | ExecuteBlock | CommitBlock
    | RequestCatchUp | RelayRequests
)
