"""A node's configuration file, ``HOME/config.json`` (pydantic at the edge, ``extra="forbid"``)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chain.errors import ConfigError

CONFIG_FORMAT = "silkport-node/1"


class ConsensusTimeouts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    view_timeout_ms: int = Field(default=4000, ge=100)
    request_timeout_ms: int = Field(default=8000, ge=100)
    empty_block_interval_ms: int = Field(default=1000, ge=10)
    batch_delay_ms: int = Field(default=50, ge=0, le=10_000)
    """Blocks sized by load: the primary proposes when a block is full or the oldest pending
    transaction has waited this long (0: at once, one block per handful of transactions)."""


class PeerConfig(BaseModel):
    """Where validator ``i`` is reached: its REST API (catch-up) and its peer port (ADR 0010)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api: str = Field(pattern=r"^https?://\S+$")
    p2p: str = Field(pattern=r"^\S+:[0-9]{1,5}$")


class RouteBudget(BaseModel):
    """The limits of one route class (ADR 0011): token buckets per source address and in total, and
    caps on requests in flight per address and in total."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate_per_s: float = Field(gt=0)
    """Sustained requests per second from one source address."""
    burst: int = Field(ge=1)
    global_rate_per_s: float = Field(gt=0)
    """Sustained requests per second from all addresses together (so many addresses cannot bypass)."""
    global_burst: int = Field(ge=1)
    in_flight_per_address: int = Field(ge=1)
    in_flight_global: int = Field(ge=1)


class ApiBudgets(BaseModel):
    """Budgets per route class (ADR 0011). ``write`` defaults to one derived from the genesis
    parameter ``api_rate_per_second`` (see :func:`chain.api.limits.write_budget`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ops: RouteBudget = RouteBudget(
        rate_per_s=20, burst=40, global_rate_per_s=200, global_burst=400, in_flight_per_address=4, in_flight_global=32
    )
    read: RouteBudget = RouteBudget(
        rate_per_s=300, burst=600, global_rate_per_s=3000, global_burst=6000,
        in_flight_per_address=64, in_flight_global=256,
    )
    write: RouteBudget | None = None
    heavy: RouteBudget = RouteBudget(
        rate_per_s=4, burst=8, global_rate_per_s=16, global_burst=32, in_flight_per_address=1, in_flight_global=2
    )
    validator_in_flight: int = Field(default=4, ge=1)
    """Heavy reads in flight for requests signed by a validator (a pool the public cannot take)."""
    max_addresses: int = Field(default=10_000, ge=1)
    """Per-address state kept at most (least recently used forgotten first)."""
    max_response_bytes: int = Field(default=4 * 1024 * 1024, ge=64 * 1024)
    """Cap on one heavy response (block sync)."""


class NodeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: str = Field(default=CONFIG_FORMAT, pattern=f"^{CONFIG_FORMAT}$")
    index: int = Field(ge=0)
    listen_host: str = "127.0.0.1"
    listen_port: int = Field(ge=0, le=65535)
    genesis_file: str = "genesis.json"
    key_file: str = "validator.key"
    key_passphrase_file: str | None = None
    """File holding the passphrase of an encrypted ``key_file`` (else ``$SILKPORT_KEY_PASSPHRASE``)."""
    data_dir: str = "data"
    p2p_listen: str = Field(default="127.0.0.1:26656", pattern=r"^\S+:[0-9]{1,5}$")
    """HOST:PORT of the peer port (TLS 1.3 validator links; separate from the REST API)."""
    p2p_tls: bool = True
    """False only on a devnet created with ``--insecure-plaintext``: peer links without TLS."""
    peers: dict[int, PeerConfig] = Field(default_factory=dict)
    log_level: str = Field(default="info", pattern="^(debug|info|warning|error)$")
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    timeouts: ConsensusTimeouts = ConsensusTimeouts()
    api_budgets: ApiBudgets = ApiBudgets()
    api_tls_cert: str | None = None
    """PEM certificate chain for the API listener (with ``api_tls_key``): HTTPS instead of HTTP."""
    api_tls_key: str | None = None
    state_sync_min_blocks: int = Field(default=1024, ge=1)
    """With ``node.py run --state-sync``: install the peers' checkpoint snapshot only when it is at least
    this many blocks above the local head; closer than that, replaying the blocks is cheaper (ADR 0021)."""
    state_sync_resync_blocks: int = Field(default=4096, ge=1)
    """With ``node.py run --state-sync``: a running node whose catch-up is at least this many blocks (and
    ``state_sync_min_blocks``) long stops its runtime, installs the peers' snapshot and starts again,
    instead of replaying them (ADR 0021). Large by default: replay runs at hundreds of blocks/s."""
    advertise: PeerConfig | None = None
    """Where the other validators reach this node, announced to lower-indexed peers that have no link with it
    (ADR 0027); default: ``listen_host:listen_port`` and ``p2p_listen`` (wrong for a wildcard listener)."""
    join: bool = False
    """Written by ``node.py init --join``: this validator was added by governance, its key is not in the
    genesis set; the node starts by state sync and votes only once the certified state names its key as
    validator ``index`` (ADR 0027)."""
    clock_offset_ms: int = 0
    """Added to the wall clock for every timestamp this node uses (proposals, drift checks, timers):
    simulated time for staging and tests (e.g. a year boundary). Every validator of a network must use
    the same offset, or their blocks fail each other's drift check."""

    def path(self, home: Path, name: str) -> Path:
        candidate = Path(name)
        return candidate if candidate.is_absolute() else home / candidate


def load_config(home: Path) -> NodeConfig:
    path = home / "config.json"
    try:
        return NodeConfig.model_validate(json.loads(path.read_text()))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"{path}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from exc


def save_config(home: Path, config: NodeConfig) -> None:
    (home / "config.json").write_text(config.model_dump_json(indent=1) + "\n")
