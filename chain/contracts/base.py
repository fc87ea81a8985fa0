"""The native-contract framework: execution context, typed argument schemas, a dispatch table.

A contract method is a plain function ``handler(ctx, args) -> None`` registered in a
:class:`ContractRegistry` under ``(contract, method)`` with an argument :class:`Schema`. Handlers
read and write state only through the :class:`Context` (a write overlay over the block's state),
emit :class:`~chain.types.Event` s, and signal refusal by raising :class:`ContractError` with a
stable code. The executor then discards the transaction's overlay, so a failed transaction
changes nothing but the sender's nonce (DESIGN.md §7).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chain import codec, statekeys
from chain.crossborder.countries import ISO_3166_ALPHA2
from chain.errors import ContractError, DecodeError
from chain.types import Event, EventRef

if TYPE_CHECKING:
    from chain.contracts.callers import Callers

# --- argument schemas -----------------------------------------------------------------------------


class Field:
    """One typed argument; ``check`` returns the normalised value or raises ContractError."""

    def __init__(self, *, optional: bool = False, default: Any = None) -> None:
        self.optional = optional
        self.default = default

    def check(self, name: str, value: Any) -> Any:
        raise ContractError(f"{name}: no checker", code="bad_args")


class Int(Field):
    def __init__(self, minimum: int = 0, maximum: int = 2**63 - 1, **kw: Any) -> None:
        super().__init__(**kw)
        self.minimum, self.maximum = minimum, maximum

    def check(self, name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ContractError(f"{name}: expected an integer", code="bad_args")
        if not self.minimum <= value <= self.maximum:
            raise ContractError(f"{name}: {value} outside [{self.minimum}, {self.maximum}]", code="out_of_range")
        return value


class Bool(Field):
    def check(self, name: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise ContractError(f"{name}: expected a boolean", code="bad_args")
        return value


class Bytes(Field):
    def __init__(self, size: int | None = None, max_size: int = 1024, **kw: Any) -> None:
        super().__init__(**kw)
        self.size, self.max_size = size, max_size

    def check(self, name: str, value: Any) -> bytes:
        if not isinstance(value, bytes):
            raise ContractError(f"{name}: expected bytes", code="bad_args")
        if self.size is not None and len(value) != self.size:
            raise ContractError(f"{name}: expected {self.size} bytes", code="bad_length")
        if len(value) > self.max_size:
            raise ContractError(f"{name}: more than {self.max_size} bytes", code="oversize")
        return value

    def check_items(self, name: str, values: tuple[Any, ...] | list[Any]) -> tuple[bytes, ...]:
        """Every item of a list at once (an anchor batch is 10,000): bulk type and length tests, and
        the per-item :meth:`check` (which names the first bad item) only when they fail."""
        if type(values) is tuple and _ONLY_BYTES.issuperset(map(type, values)):
            lengths = set(map(len, values))
            size = self.size
            if (lengths <= {size} and size <= self.max_size) if size is not None else max(lengths, default=0) <= self.max_size:
                return values
        return tuple(self.check(f"{name}[{i}]", v) for i, v in enumerate(values))


_ONLY_BYTES = frozenset({bytes})


class Str(Field):
    def __init__(self, max_len: int = 256, pattern: str | None = None, choices: tuple[str, ...] = (), **kw: Any):
        super().__init__(**kw)
        self.max_len = max_len
        self.pattern = re.compile(pattern) if pattern else None
        self.choices = choices

    def check(self, name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise ContractError(f"{name}: expected a string", code="bad_args")
        if len(value) > self.max_len:
            raise ContractError(f"{name}: longer than {self.max_len}", code="oversize")
        if self.choices and value not in self.choices:
            raise ContractError(f"{name}: {value!r} is not one of {', '.join(self.choices)}", code="bad_enum")
        if self.pattern and not self.pattern.fullmatch(value):
            raise ContractError(f"{name}: {value!r} has the wrong format", code="bad_format")
        return value


class List(Field):
    def __init__(self, item: Field, max_items: int = 64, unique: bool = False, **kw: Any) -> None:
        super().__init__(**kw)
        self.item, self.max_items, self.unique = item, max_items, unique

    def check(self, name: str, value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple):
            raise ContractError(f"{name}: expected a list", code="bad_args")
        if len(value) > self.max_items:
            raise ContractError(f"{name}: more than {self.max_items} items", code="oversize")
        if isinstance(self.item, Bytes):
            items = self.item.check_items(name, value)
        else:
            items = tuple(self.item.check(f"{name}[{i}]", v) for i, v in enumerate(value))
        if self.unique and len(set(items)) != len(items):
            raise ContractError(f"{name}: duplicate items", code="duplicate")
        return items


class Record(Field):
    """A nested record (sorted pairs on the wire) checked against its own schema."""

    def __init__(self, schema: Schema, **kw: Any) -> None:
        super().__init__(**kw)
        self.schema = schema

    def check(self, name: str, value: Any) -> dict[str, Any]:
        try:
            fields = codec.dict_from_pairs(value)
        except DecodeError as exc:
            raise ContractError(f"{name}: {exc.message}", code="bad_args") from exc
        return self.schema.validate(fields, prefix=f"{name}.")


class Amount(Field):
    """A non-negative integer amount in minor units (no floats on chain); refusal code ``bad_amount``."""

    def __init__(self, maximum: int = 2**63 - 1, **kw: Any) -> None:
        super().__init__(**kw)
        self.maximum = maximum

    def check(self, name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= self.maximum:
            raise ContractError(f"{name}: an amount is an integer in [0, {self.maximum}]", code="bad_amount")
        return value


class PublicKey(Bytes):
    """A 32-byte Ed25519 public key."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(size=32, max_size=32, **kw)


class Date(Str):
    """A calendar date ``YYYY-MM-DD`` (Asia/Shanghai, RULES.md); refusal code ``bad_date``."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(max_len=10, **kw)

    def check(self, name: str, value: Any) -> str:
        text = super().check(name, value)
        try:
            if len(text) != 10 or datetime.date.fromisoformat(text).isoformat() != text:
                raise ValueError(text)
        except ValueError as exc:
            raise ContractError(f"{name}: {text!r} is not a YYYY-MM-DD date", code="bad_date") from exc
        return text


class Country(Str):
    """An assigned ISO 3166-1 alpha-2 code; refusal code ``bad_country``."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(max_len=2, **kw)

    def check(self, name: str, value: Any) -> str:
        text = super().check(name, value)
        if text not in ISO_3166_ALPHA2:
            raise ContractError(f"{name}: {text!r} is not an ISO 3166-1 alpha-2 code", code="bad_country")
        return text


@dataclass(frozen=True)
class Schema:
    """A record's fields; unknown fields are refused, optional ones get their default."""

    fields: Mapping[str, Field]

    def validate(self, args: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
        if not self.fields.keys() >= args.keys():
            unknown = sorted(set(args) - set(self.fields))
            raise ContractError(f"unknown argument {prefix}{unknown[0]}", code="unknown_argument")
        out: dict[str, Any] = {}
        for name, spec in self.fields.items():
            if name not in args or args[name] is None:
                if not spec.optional:
                    raise ContractError(f"missing argument {prefix}{name}", code="missing_argument")
                out[name] = spec.default
            else:
                out[name] = spec.check(prefix + name, args[name])
        return out


# --- execution context ------------------------------------------------------------------------------


class Overlay:
    """Buffered writes over a read function; ``None`` marks a deletion. Child overlays isolate one tx."""

    __slots__ = ("_read", "_read_many", "writes")

    def __init__(
        self,
        read: Callable[[bytes], bytes | None],
        read_many: Callable[[list[bytes]], list[bytes | None]] | None = None,
    ) -> None:
        self._read = read
        self._read_many = read_many
        self.writes: dict[bytes, bytes | None] = {}

    def get(self, key: bytes) -> bytes | None:
        if key in self.writes:
            return self.writes[key]
        return self._read(key)

    def get_many(self, keys: list[bytes]) -> list[bytes | None]:
        """``[self.get(k) for k in keys]``, in one call per overlay level (anchor batches read 10,000)."""
        writes = self.writes
        if writes and not writes.keys().isdisjoint(keys):
            below = [key for key in keys if key not in writes]
            found = dict(zip(below, self._below_many(below), strict=True))
            return [writes[key] if key in writes else found[key] for key in keys]
        return self._below_many(keys)

    def _below_many(self, keys: list[bytes]) -> list[bytes | None]:
        if self._read_many is not None:
            return self._read_many(keys)
        read = self._read
        return [read(key) for key in keys]

    def child(self) -> Overlay:
        return Overlay(self.get, self.get_many)

    def merge(self, child: Overlay) -> None:
        self.writes.update(child.writes)


_ROLES = statekeys.ROLES


def _no_entry(_key: bytes) -> bytes | None:
    return None


@dataclass
class Context:
    """What a handler may see and touch: block facts, the signers, state through an overlay, events."""

    chain_id: str
    height: int
    timestamp_ms: int
    tx_index: int
    tx_hash: bytes
    signers: tuple[bytes, ...]
    state: Overlay
    events: list[Event] = field(default_factory=list)
    index: Overlay = field(default_factory=lambda: Overlay(_no_entry))
    """The node-local index (ADR 0009): deterministic entries kept outside the state tree."""
    _role_signers: dict[str, bytes] = field(default_factory=dict, repr=False)
    """role -> the signer :meth:`signer_with_role` found (the access check and the handler both ask);
    forgotten when this transaction writes any role."""

    @property
    def sender(self) -> bytes:
        return self.signers[0]

    @property
    def ref(self) -> EventRef:
        """This transaction's event reference (height, tx_index)."""
        return EventRef(self.height, self.tx_index)

    def get(self, key: bytes) -> bytes | None:
        return self.state.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        if key.startswith(_ROLES):
            self._role_signers.clear()
        self.state.writes[key] = value

    def delete(self, key: bytes) -> None:
        if key.startswith(_ROLES):
            self._role_signers.clear()
        self.state.writes[key] = None

    def get_value(self, key: bytes) -> Any:
        raw = self.state.get(key)
        return None if raw is None else codec.decode_stored(raw)

    def put_value(self, key: bytes, value: Any) -> None:
        self.put(key, codec.encode(value))

    def emit(self, contract: str, name: str, subject: str = "", prev: EventRef | None = None, **data: Any) -> None:
        self.events.append(Event(contract, name, subject, prev, codec.pairs_from_dict(data)))

    def emit_record(
        self, contract: str, name: str, subject: str, prev: EventRef | None, data: Mapping[str, Any]
    ) -> None:
        """As :meth:`emit`, with the data as a mapping (fields may be called ``name`` or ``subject``)."""
        self.events.append(Event(contract, name, subject, prev, codec.pairs_from_dict(data)))

    def require_signer(self, public_key: bytes, what: str = "signer") -> None:
        if public_key not in self.signers:
            raise ContractError(f"the {what} {public_key.hex()[:16]}… must sign", code="missing_signature")

    # --- records and roles (access itself is declared: chain.contracts.callers) ---

    def get_record(self, key: bytes) -> dict[str, Any] | None:
        """A record stored as sorted pairs, as a dict (one level; nested records stay pairs)."""
        raw = self.state.get(key)
        return None if raw is None else codec.dict_from_pairs(codec.decode_stored(raw))

    def put_record(self, key: bytes, record: Mapping[str, Any]) -> None:
        self.put(key, codec.encode_record(record))

    def roles_of(self, public_key: bytes) -> tuple[str, ...]:
        value = self.get_value(statekeys.roles_key(public_key))
        return () if value is None else tuple(value)

    def has_role(self, public_key: bytes, role: str) -> bool:
        return role in self.roles_of(public_key)

    def signer_with_role(self, role: str) -> bytes:
        """The first signer holding ``role``; refusal code ``missing_role``."""
        found = self._role_signers.get(role)
        if found is not None:
            return found
        for public_key in self.signers:
            if self.has_role(public_key, role):
                self._role_signers[role] = public_key
                return public_key
        raise ContractError(f"a signer with the {role} role is required", code="missing_role")


Handler = Callable[[Context, dict[str, Any]], None]


@dataclass(frozen=True)
class Method:
    contract: str
    name: str
    schema: Schema
    handler: Handler
    doc: str
    callers: Callers

    def run(self, ctx: Context, args: dict[str, Any]) -> None:
        """The callers check, then the handler: the one path every transaction takes."""
        self.callers.check(ctx, args)
        self.handler(ctx, args)


class ContractRegistry:
    """The dispatch table ``(contract, method) -> Method``."""

    def __init__(self) -> None:
        self._methods: dict[tuple[str, str], Method] = {}

    def method(
        self, contract: str, name: str, schema: Schema, *, callers: Callers
    ) -> Callable[[Handler], Handler]:
        """Register ``handler`` with its callers declaration (ADR 0012); the executor checks
        ``callers`` (:meth:`Method.run`) before the handler runs."""

        def register(handler: Handler) -> Handler:
            key = (contract, name)
            if key in self._methods:
                raise ValueError(f"{contract}.{name} registered twice")
            self._methods[key] = Method(contract, name, schema, handler, (handler.__doc__ or "").strip(), callers)
            return handler

        return register

    def lookup(self, contract: str, name: str) -> Method | None:
        return self._methods.get((contract, name))

    def methods(self) -> list[Method]:
        return sorted(self._methods.values(), key=lambda m: (m.contract, m.name))
