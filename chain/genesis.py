"""The genesis document (pydantic at the edge) and the genesis block derived from it.

The genesis file is the one thing a customs auditor trusts: from it alone anyone can recompute
the genesis state, its root and the genesis header (height 0), whose hash every later block
chains back to. Format ``silkport-genesis/1`` (JSON)::

    {"format", "chain_id", "genesis_time_ms",
     "validators": [{"public_key", "name", "organisation", "jurisdiction"}],
     "authorities": {"public_keys": [...], "threshold": k},
     "params": {...}, "organisations": [...], "roles": [...], "policy": {...}}
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from chain import codec, merkle, statekeys
from chain.crossborder.scenarios import default_policy_document
from chain.errors import ConfigError
from chain.statetree import StateTree
from chain.storage.kv import MemoryKV
from chain.types import ZERO_HASH, Header, validators_hash

GENESIS_FORMAT = "silkport-genesis/1"
HEX_KEY = r"^[0-9a-f]{64}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ValidatorEntry(_Strict):
    public_key: str = Field(pattern=HEX_KEY)
    name: str = Field(min_length=1, max_length=64)
    organisation: str = Field(min_length=1, max_length=64)
    jurisdiction: str = Field(pattern=r"^[A-Z]{2}$")


class Authorities(_Strict):
    public_keys: list[str] = Field(min_length=1, max_length=64)
    threshold: int = Field(ge=1)

    @field_validator("public_keys")
    @classmethod
    def _keys(cls, keys: list[str]) -> list[str]:
        if len(set(keys)) != len(keys) or any(len(k) != 64 for k in keys):
            raise ValueError("authority keys must be distinct 32-byte hex keys")
        return keys

    @model_validator(mode="after")
    def _threshold(self) -> Authorities:
        if self.threshold > len(self.public_keys):
            raise ValueError("threshold exceeds the number of authorities")
        return self


class Params(_Strict):
    """Limits that replace fees on a permissioned chain (DESIGN.md §7)."""

    max_tx_bytes: int = Field(default=512 * 1024, ge=256)  # a 10,000-hash anchor batch is ~330 KB
    max_block_txs: int = Field(default=2000, ge=1, le=20_000)
    max_block_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    checkpoint_interval: int = Field(default=16, ge=1)
    max_anchor_batch: int = Field(default=10_000, ge=1)
    block_time_drift_ms: int = Field(default=30_000, ge=100)
    api_rate_per_second: int = Field(default=5_000, ge=1)
    quota_window_blocks: int = Field(default=4096, ge=1)
    """Blocks per state-quota window (chain.quota, ADR 0012)."""
    max_state_bytes_per_window: int = Field(default=16 * 1024 * 1024, ge=1024)
    """State bytes one sender may add per window (chain.quota, ADR 0012)."""
    max_pending_per_sender: int = Field(default=4096, ge=1)
    """Transactions one sender may have waiting in a node's mempool (refused 429 beyond)."""
    test_mode: bool = False
    """A test chain: the ``noop`` contract is registered and Byzantine test modes are allowed (ADR 0016). Never in production."""

    def to_record(self) -> tuple[tuple[str, Any], ...]:
        """The state record; parameters added after the first release are left out while they have their
        default, so an existing genesis file keeps its genesis hash (ADR 0012)."""
        record = self.model_dump()
        for name in OMITTED_AT_DEFAULT:
            if record[name] == Params.model_fields[name].default:
                del record[name]
        return codec.pairs_from_dict(record)


OMITTED_AT_DEFAULT = ("quota_window_blocks", "max_state_bytes_per_window", "max_pending_per_sender", "test_mode")


class OrganisationEntry(_Strict):
    """An organisation seeded at genesis (the governance contract's ``register_organisation`` fields)."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
    name: str = Field(min_length=1, max_length=128)
    jurisdiction: str = Field(pattern=r"^[A-Z]{2}$")
    zone: str | None = Field(default=None, pattern=r"^[A-Z]{2}-[A-Z0-9]{2,16}$")
    ciio: bool = False
    type: str = "COMPANY"
    restricted: bool = False
    members: list[str] = Field(default_factory=list, max_length=1024)

    @field_validator("members")
    @classmethod
    def _member_keys(cls, keys: list[str]) -> list[str]:
        if any(len(k) != 64 for k in keys) or len(set(keys)) != len(keys):
            raise ValueError("members must be distinct 32-byte hex keys")
        return keys


class RoleEntry(_Strict):
    """A role granted at genesis (``registrar``, ``appraiser``, ``lender``, ``customs``, ``member``)."""

    public_key: str = Field(pattern=HEX_KEY)
    role: str = Field(pattern=r"^(registrar|appraiser|lender|customs|member)$")


class GenesisDoc(_Strict):
    format: str = Field(pattern=f"^{GENESIS_FORMAT}$")
    chain_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    genesis_time_ms: int = Field(ge=0)
    validators: list[ValidatorEntry] = Field(min_length=1, max_length=256)
    authorities: Authorities
    params: Params = Params()
    organisations: list[OrganisationEntry] = Field(default_factory=list)
    roles: list[RoleEntry] = Field(default_factory=list)
    policy: dict[str, Any]

    @field_validator("validators")
    @classmethod
    def _distinct(cls, validators: list[ValidatorEntry]) -> list[ValidatorEntry]:
        if len({v.public_key for v in validators}) != len(validators):
            raise ValueError("validator keys must be distinct")
        return validators

    @property
    def validator_keys(self) -> tuple[bytes, ...]:
        return tuple(bytes.fromhex(v.public_key) for v in self.validators)


def default_policy() -> dict[str, Any]:
    """policy-default.json (shared/crossborder), shipped as package data: policy version 1."""
    return default_policy_document()


def canonical_json(document: Any) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def load_genesis(path: Path | str) -> GenesisDoc:
    try:
        return parse_genesis(json.loads(Path(path).read_text()))
    except UnicodeDecodeError:
        raise ConfigError(f"genesis file {path} is binary, not a silkport-genesis/1 JSON document") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read genesis file {path}: {exc}") from exc


def parse_genesis(document: Any) -> GenesisDoc:
    try:
        return GenesisDoc.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"genesis: {where}: {first['msg']}") from exc


# Contract modules add their genesis writes here (governance: organisations, roles).
GenesisHook = Callable[[GenesisDoc], dict[bytes, bytes]]
GENESIS_HOOKS: list[GenesisHook] = []


def genesis_state(doc: GenesisDoc) -> dict[bytes, bytes]:
    """The state map at height 0."""
    writes: dict[bytes, bytes] = {
        statekeys.VALIDATORS: codec.encode(
            tuple((bytes.fromhex(v.public_key), v.name, v.organisation, v.jurisdiction) for v in doc.validators)
        ),
        statekeys.AUTHORITIES: codec.encode(
            (doc.authorities.threshold, tuple(bytes.fromhex(k) for k in doc.authorities.public_keys))
        ),
        statekeys.PARAMS: codec.encode(doc.params.to_record()),
        statekeys.POLICY_CURRENT: codec.encode(1),
        statekeys.policy_key(1): codec.encode(canonical_json(doc.policy)),
    }
    writes.update(_governance_writes(doc))
    for hook in GENESIS_HOOKS:
        writes.update(hook(doc))
    return writes


def _governance_writes(doc: GenesisDoc) -> dict[bytes, bytes]:
    """Organisations, their members and roles, written exactly as the governance contract would."""
    from chain.contracts import governance
    from chain.errors import ContractError

    organisations = [
        {**org.model_dump(exclude={"members"}), "members": [bytes.fromhex(k) for k in org.members]}
        for org in doc.organisations
    ]
    roles = [(bytes.fromhex(entry.public_key), entry.role) for entry in doc.roles]
    try:
        return governance.genesis_writes(organisations, roles)
    except ContractError as exc:
        raise ConfigError(f"genesis: organisations/roles: {exc.message}") from exc


def genesis_header(doc: GenesisDoc, state_root: bytes) -> Header:
    return Header(
        chain_id=doc.chain_id,
        height=0,
        view=0,
        timestamp_ms=doc.genesis_time_ms,
        prev_hash=ZERO_HASH,
        tx_root=merkle.EMPTY_ROOT,
        state_root=state_root,
        history_root=merkle.EMPTY_ROOT,
        validators_hash=validators_hash(doc.validator_keys),
        policy_version=1,
        proposer=0,
    )


def compute_genesis(doc: GenesisDoc) -> Header:
    """Recompute the genesis header from the document alone (what an offline verifier does)."""
    update = StateTree(MemoryKV()).update(None, 0, dict(genesis_state(doc)))
    return genesis_header(doc, update.root)
