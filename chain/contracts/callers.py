"""Who may call a contract method: a small closed vocabulary, declared at registration (ADR 0012).

Every method names its callers in :meth:`chain.contracts.base.ContractRegistry.method`; the
declaration is the one truth about access and is checked in two places:

- **admission** (:meth:`Callers.admissible`, against committed state, no arguments read): the
  signers hold something the declaration could ever accept — a role, a membership, an authority
  quorum. Refused transactions never reach the mempool, so they never record a nonce.
- **execution** (:meth:`Callers.check`, against the block's state, before the handler runs): the
  exact check, with a stable refusal code naming what failed. State may have changed since
  admission (a role revoked), so this check stays; the executor records no nonce for a
  transaction its declaration refuses (ADR 0012), so a key that is nobody leaves no state at all.

========================  ==========================================================  =================
declaration               execution check                                             refusal code
========================  ==========================================================  =================
``anyone()``              nothing (only the ``noop`` test contract)                   —
``member()``              some signer is a member of an organisation                  ``unknown_member``
``role(r)``               some signer holds role ``r``                                ``missing_role``
``authority_quorum()``    ``threshold`` distinct genesis authorities sign             ``no_quorum``
``asset_owner()``         the live asset ``args["asset_id"]``'s owner signs           ``not_owner``
``pledgee()``             the live asset ``args["asset_id"]``'s pledgee signs         ``not_pledgee``
``validator()``           a signer is in the current validator set (a node's key)     ``not_validator``
``any_of(a, b, code=c)``  one alternative passes                                      ``c``
========================  ==========================================================  =================

At admission ``asset_owner()`` and ``pledgee()`` ask only for a member among the signers (owners and
pledgees are members when they become so; ownership may change while a transaction waits); for
``pledgee()`` a ``lender`` role holder also passes, so a pledgee removed from its organisation can
still release its pledge.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chain import codec, statekeys
from chain.errors import ContractError

if TYPE_CHECKING:
    from chain.contracts.base import Context

Read = Callable[[bytes], bytes | None]
KINDS = ("anyone", "member", "role", "authority_quorum", "asset_owner", "pledgee", "validator", "any_of")
REFUSAL_CODES = {
    "member": "unknown_member", "role": "missing_role", "authority_quorum": "no_quorum",
    "asset_owner": "not_owner", "pledgee": "not_pledgee", "validator": "not_validator",
}


def short(public_key: bytes) -> str:
    """A key as people quote it in messages: the first 16 hex characters."""
    return public_key.hex()[:16] + "…"


def _signers_text(signers: tuple[bytes, ...]) -> str:
    return ", ".join(short(k) for k in signers) or "no signer"


def _roles(read: Read, public_key: bytes) -> tuple[str, ...]:
    raw = read(statekeys.roles_key(public_key))
    return () if raw is None else tuple(codec.decode_stored(raw))


def _is_validator(read: Read, signers: tuple[bytes, ...]) -> bool:
    raw = read(statekeys.VALIDATORS)
    keys: set[bytes] = set() if raw is None else {v[0] for v in codec.decode_stored(raw)}
    return any(k in keys for k in signers)


def _quorum_shortfall(read: Read, signers: tuple[bytes, ...]) -> str | None:
    raw = read(statekeys.AUTHORITIES)
    if raw is None:
        return "no authorities are configured"
    threshold, keys = codec.decode_stored(raw)
    signed = len(set(keys) & set(signers))
    if signed < threshold:
        return f"{signed} of {threshold} required authority signatures"
    return None


@dataclass(frozen=True)
class Refusal:
    """Why a declaration refuses: a stable code and a message naming the role/key at fault."""

    code: str
    message: str


@dataclass(frozen=True)
class Callers:
    """One declaration of the vocabulary; build them with the class methods, never directly."""

    kind: str
    role_name: str = ""
    alternatives: tuple[Callers, ...] = ()
    code: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown callers kind {self.kind!r}")

    # --- the vocabulary ---

    @classmethod
    def anyone(cls) -> Callers:
        return cls("anyone")

    @classmethod
    def member(cls) -> Callers:
        return cls("member")

    @classmethod
    def role(cls, name: str) -> Callers:
        from chain.contracts.governance import ROLES

        if name not in ROLES:
            raise ValueError(f"unknown role {name!r}")
        return cls("role", role_name=name)

    @classmethod
    def authority_quorum(cls) -> Callers:
        return cls("authority_quorum")

    @classmethod
    def asset_owner(cls) -> Callers:
        return cls("asset_owner")

    @classmethod
    def pledgee(cls) -> Callers:
        return cls("pledgee")

    @classmethod
    def validator(cls) -> Callers:
        """A node speaking for itself with its validator key (the data valve's ``delivered``, ADR 0022)."""
        return cls("validator")

    @classmethod
    def any_of(cls, *alternatives: Callers, code: str) -> Callers:
        if len(alternatives) < 2:
            raise ValueError("any_of needs two alternatives or more")
        return cls("any_of", alternatives=alternatives, code=code)

    def describe(self) -> str:
        if self.kind == "role":
            return f"role {self.role_name}"
        if self.kind == "any_of":
            return " or ".join(a.describe() for a in self.alternatives)
        return self.kind.replace("_", " ")

    # --- execution: the exact check ---

    def refusal(self, ctx: Context, args: dict[str, Any]) -> Refusal | None:
        """Why ``ctx.signers`` may not call with ``args`` (None: they may)."""
        kind, signers = self.kind, ctx.signers
        if kind == "anyone":
            return None
        if kind == "member":
            if any(ctx.get(statekeys.member_key(k)) is not None for k in signers):
                return None
            return Refusal("unknown_member", f"no signer ({_signers_text(signers)}) is a member of an organisation")
        if kind == "role":
            try:
                ctx.signer_with_role(self.role_name)
            except ContractError:
                return Refusal("missing_role", f"signer {_signers_text(signers)} lacks role {self.role_name}")
            return None
        if kind == "authority_quorum":
            shortfall = _quorum_shortfall(ctx.get, signers)
            return None if shortfall is None else Refusal("no_quorum", shortfall)
        if kind in ("asset_owner", "pledgee"):
            return _asset_refusal(ctx, args, kind)
        if kind == "validator":
            if _is_validator(ctx.get, signers):
                return None
            return Refusal("not_validator", f"no signer ({_signers_text(signers)}) is a validator")
        refusals = []
        for alternative in self.alternatives:
            found = alternative.refusal(ctx, args)
            if found is None:
                return None
            refusals.append(found.message)
        return Refusal(self.code, f"{self.describe()} must sign: " + "; ".join(refusals))

    def check(self, ctx: Context, args: dict[str, Any]) -> None:
        """Raise :class:`ContractError` with the refusal's code unless the signers may call."""
        found = self.refusal(ctx, args)
        if found is not None:
            raise ContractError(found.message, code=found.code)

    # --- admission: could this declaration ever accept these signers? ---

    def admissible(self, signers: tuple[bytes, ...], read: Read) -> Refusal | None:
        """The admission test against committed state (see the module docstring); None: admissible."""
        kind = self.kind
        if kind == "anyone":
            return None
        if kind in ("member", "asset_owner", "pledgee"):
            if any(read(statekeys.member_key(k)) is not None for k in signers):
                return None
            if kind == "pledgee" and any("lender" in _roles(read, k) for k in signers):
                return None  # a pledgee removed from its organisation may still release its pledge
            what = "" if kind == "member" else f" (the {kind.replace('_', ' ')} is one)"
            return Refusal("unknown_member",
                           f"no signer ({_signers_text(signers)}) is a member of an organisation{what}")
        if kind == "role":
            if any(self.role_name in _roles(read, k) for k in signers):
                return None
            return Refusal("missing_role", f"signer {_signers_text(signers)} lacks role {self.role_name}")
        if kind == "authority_quorum":
            shortfall = _quorum_shortfall(read, signers)
            return None if shortfall is None else Refusal("no_quorum", shortfall)
        if kind == "validator":
            if _is_validator(read, signers):
                return None
            return Refusal("not_validator", f"no signer ({_signers_text(signers)}) is a validator")
        refusals = []
        for alternative in self.alternatives:
            found = alternative.admissible(signers, read)
            if found is None:
                return None
            refusals.append(found.message)
        return Refusal(self.code, f"{self.describe()} must sign: " + "; ".join(refusals))


def _asset_refusal(ctx: Context, args: dict[str, Any], kind: str) -> Refusal | None:
    from chain.contracts import assets

    record = assets.load_active(ctx, args["asset_id"])  # unknown_asset, asset_retired come first
    if kind == "asset_owner":
        if record["owner"] in ctx.signers:
            return None
        return Refusal("not_owner", f"the asset's owner {short(record['owner'])} must sign")
    pledge = assets.pledge_of(record)
    if pledge is None:
        return Refusal("not_pledged", f"asset {record['id'][:16]}… is not pledged")
    if pledge["pledgee"] in ctx.signers:
        return None
    return Refusal("not_pledgee", f"the pledgee {short(pledge['pledgee'])} must sign")
