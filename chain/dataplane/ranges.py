"""HTTP ``Range`` on the egress stream: one byte range of the dataset, served as whole chunks (ADR 0018 §11).

RFC 9110 §14: a ``Range: bytes=...`` request names bytes of the selected representation. The egress
body is a fresh end-to-end encrypted stream per response (a new secretstream key each time), so its
own bytes are not a stable representation to slice. The range is therefore read as bytes **of the
dataset** (plaintext offsets ``0 .. size-1``, the numbering the asset record's ``size`` uses) and
widened outward to whole chunks, because a chunk is the unit that carries its inclusion proof and its
authentication tag. The 206 answer's ``Content-Range: bytes A-B/size`` names exactly the widened
dataset bytes its sealed chunks carry; the opening frame names the first chunk and the last chunk
carries ``TAG_FINAL``.

- no ``Range``, or a range unit other than ``bytes``: ignored (RFC 9110 §14.2: a server MUST ignore
  a unit it does not understand) — the whole stream, 200;
- one ``first-last``, ``first-`` or ``-suffix`` range that overlaps the dataset: 206;
- a range past the end, a zero suffix, or any range of an empty dataset: 416 ``range_not_satisfiable``
  with ``Content-Range: bytes */size`` (§15.5.17);
- more than one range, or a malformed one: 416 ``multiple_ranges`` / ``bad_range`` — refused
  outright, as §14.2 allows, rather than silently widened to the whole dataset.

Pure: no I/O. Positions are bounded to 20 digits before they are turned into ints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NoReturn

from chain.errors import ValidationError

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}")
_SPEC = re.compile(r"(\d{0,20})-(\d{0,20})")
MAX_HEADER = 256


class RangeRefused(ValidationError):
    """A ``Range`` the node will not serve (answered 416 with ``Content-Range: bytes */size``)."""

    code = "range_not_satisfiable"


@dataclass(frozen=True)
class ByteRange:
    """One parsed range: ``first-last`` (``last`` None: to the end) or a suffix of ``suffix`` bytes."""

    first: int | None
    last: int | None
    suffix: int | None = None


@dataclass(frozen=True)
class ChunkSpan:
    """The chunks that serve a range, and the dataset bytes they carry."""

    first_chunk: int
    last_chunk: int
    first_byte: int
    last_byte: int
    size: int

    @property
    def content_range(self) -> str:
        return f"bytes {self.first_byte}-{self.last_byte}/{self.size}"


def parse_range(header: str | None) -> ByteRange | None:
    """The one byte range in a ``Range`` header; None when absent or in another unit; RangeRefused if bad."""
    if header is None:
        return None
    if len(header) > MAX_HEADER:
        raise RangeRefused(f"the Range header is longer than {MAX_HEADER} characters", code="bad_range")
    unit, equals, specs = header.strip().partition("=")
    unit = unit.strip()
    if not equals or not _TOKEN.fullmatch(unit):
        _bad(header)
    if unit.lower() != "bytes":
        return None
    parts = [p.strip() for p in specs.split(",")]
    if len(parts) != 1:
        raise RangeRefused("multiple ranges are not served: ask for one range per request", code="multiple_ranges")
    match = _SPEC.fullmatch(parts[0])
    if match is None or match.group(0) == "-":
        _bad(header)
    first, last = match.group(1), match.group(2)
    if not first:
        return ByteRange(None, None, int(last))
    if last and int(last) < int(first):
        raise RangeRefused(f"range {parts[0]} ends before it starts", code="bad_range")
    return ByteRange(int(first), int(last) if last else None)


def _bad(header: str) -> NoReturn:
    raise RangeRefused(f"Range {header[:60]!r} is not 'bytes=first-last', 'bytes=first-' or 'bytes=-suffix'",
                       code="bad_range")


def chunk_span(wanted: ByteRange, size: int, chunk_size: int) -> ChunkSpan:
    """Widen ``wanted`` to whole chunks of a ``size``-byte dataset; RangeRefused if it misses the dataset."""
    if wanted.suffix is not None:
        if wanted.suffix == 0 or size == 0:
            raise RangeRefused(f"a suffix of {wanted.suffix} bytes of a {size}-byte dataset is empty")
        first, last = max(0, size - wanted.suffix), size - 1
    else:
        assert wanted.first is not None
        if wanted.first >= size:
            raise RangeRefused(f"byte {wanted.first} is past the end of the {size}-byte dataset")
        first = wanted.first
        last = size - 1 if wanted.last is None else min(wanted.last, size - 1)
    first_chunk, last_chunk = first // chunk_size, last // chunk_size
    return ChunkSpan(first_chunk, last_chunk, first_chunk * chunk_size, min((last_chunk + 1) * chunk_size, size) - 1,
                     size)
