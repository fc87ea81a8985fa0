"""Strict JSON field readers shared by the cross-border models, policy and scenario files.

Every reader takes the JSON object, the key and a dotted ``where`` prefix for the message, and
raises :class:`~chain.errors.ValidationError` with a stable ``code``:

``not_object``, ``unknown_field``, ``missing_field``, ``bad_type`` (``True`` is not an integer),
``negative_count``, ``bad_value``, ``bad_date``, ``bad_country_code`` and ``unknown_<kind>`` for a
value outside an enumeration (``unknown_purpose``, ``unknown_lawful_basis``, ...).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, TypeVar

from chain.crossborder.countries import ISO_3166_ALPHA2
from chain.errors import ValidationError

E = TypeVar("E", bound=StrEnum)


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def obj(value: Any, where: str) -> Mapping[str, Any]:
    """``value`` as a JSON object (a dict with string keys)."""
    if not isinstance(value, dict):
        raise ValidationError(f"{where or 'document'}: expected an object", code="not_object")
    return value


def check_keys(
    value: Mapping[str, Any], where: str, required: Iterable[str], optional: Iterable[str] = ()
) -> None:
    """Reject unknown keys first, then missing ones (scenario and request JSON is written in full)."""
    required_set = frozenset(required)
    allowed = required_set | frozenset(optional)
    unknown = sorted(str(key) for key in value if key not in allowed)
    if unknown:
        raise ValidationError(f"{where or 'document'}: unknown field {unknown[0]!r}", code="unknown_field")
    missing = sorted(required_set - value.keys())
    if missing:
        raise ValidationError(f"{where or 'document'}: missing field {missing[0]!r}", code="missing_field")


def boolean(value: Mapping[str, Any], key: str, where: str) -> bool:
    item = value[key]
    if not isinstance(item, bool):
        raise ValidationError(f"{_at(where, key)}: expected true or false", code="bad_type")
    return item


def integer(value: Mapping[str, Any], key: str, where: str) -> int:
    item = value[key]
    if isinstance(item, bool) or not isinstance(item, int):
        raise ValidationError(f"{_at(where, key)}: expected an integer", code="bad_type")
    return item


def count(value: Mapping[str, Any], key: str, where: str) -> int:
    """A number of persons: an integer ``>= 0``."""
    item = integer(value, key, where)
    if item < 0:
        raise ValidationError(f"{_at(where, key)}: negative count {item}", code="negative_count")
    return item


def optional_count(value: Mapping[str, Any], key: str, where: str) -> int | None:
    return None if value[key] is None else count(value, key, where)


def string(value: Mapping[str, Any], key: str, where: str) -> str:
    """A non-empty string."""
    item = value[key]
    if not isinstance(item, str):
        raise ValidationError(f"{_at(where, key)}: expected a string", code="bad_type")
    if not item:
        raise ValidationError(f"{_at(where, key)}: must not be empty", code="bad_value")
    return item


def optional_string(value: Mapping[str, Any], key: str, where: str) -> str | None:
    """``null`` or a non-empty string (evidence ids: an empty id is not evidence)."""
    return None if value[key] is None else string(value, key, where)


def string_list(value: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    """A list of distinct non-empty strings, order kept."""
    items = value[key]
    if not isinstance(items, list):
        raise ValidationError(f"{_at(where, key)}: expected a list", code="bad_type")
    out: list[str] = []
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise ValidationError(f"{_at(where, key)}[{index}]: expected a string", code="bad_type")
        if not item:
            raise ValidationError(f"{_at(where, key)}[{index}]: must not be empty", code="bad_value")
        if item in out:
            raise ValidationError(f"{_at(where, key)}: duplicate {item!r}", code="bad_value")
        out.append(item)
    return tuple(out)


def date(value: Mapping[str, Any], key: str, where: str) -> datetime.date:
    """An ISO ``YYYY-MM-DD`` calendar date (Asia/Shanghai)."""
    item = value[key]
    if not isinstance(item, str):
        raise ValidationError(f"{_at(where, key)}: expected a date string", code="bad_type")
    return parse_date(item, _at(where, key))


def optional_date(value: Mapping[str, Any], key: str, where: str) -> datetime.date | None:
    return None if value[key] is None else date(value, key, where)


def parse_date(text: str, where: str) -> datetime.date:
    if len(text) != 10 or text[4] != "-" or text[7] != "-" or not (text.isascii() and text.replace("-", "").isdigit()):
        raise ValidationError(f"{where}: expected YYYY-MM-DD, got {text!r}", code="bad_date")
    try:
        return datetime.date.fromisoformat(text)
    except ValueError as exc:
        raise ValidationError(f"{where}: not a calendar date: {text!r}", code="bad_date") from exc


def country_code(text: Any, where: str) -> str:
    """An assigned ISO 3166-1 alpha-2 code (two uppercase letters)."""
    if not isinstance(text, str):
        raise ValidationError(f"{where}: expected a country code string", code="bad_type")
    if text not in ISO_3166_ALPHA2:
        raise ValidationError(
            f"{where}: {text!r} is not an ISO 3166-1 alpha-2 country code", code="bad_country_code"
        )
    return text


def country(value: Mapping[str, Any], key: str, where: str) -> str:
    return country_code(value[key], _at(where, key))


def enum_value(enum: type[E], text: Any, where: str, kind: str) -> E:
    """``text`` as a member of ``enum``; ``code = "unknown_<kind>"`` otherwise."""
    if not isinstance(text, str):
        raise ValidationError(f"{where}: expected a string", code="bad_type")
    try:
        return enum(text)
    except ValueError as exc:
        raise ValidationError(f"{where}: unknown {kind.replace('_', ' ')} {text!r}", code=f"unknown_{kind}") from exc


def member(enum: type[E], value: Mapping[str, Any], key: str, where: str, kind: str) -> E:
    return enum_value(enum, value[key], _at(where, key), kind)
