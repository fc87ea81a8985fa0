"""Per-sender state quota: how many state bytes one sender may add per window of blocks (ADR 0012).

A chain without fees still needs a price on state (DESIGN.md §7: limits take the place of fees).
The rule, deterministic and kept in the authenticated state:

- a transaction's **growth** is ``sum(size(new) - size(old))`` over every key it writes, where
  ``size`` is ``len(key) + len(value)`` (0 for an absent key): deletions give bytes back;
- it is charged to the **sender** (first signer) in the window ``height // quota_window_blocks``;
  the record ``quota/<sender>`` = ``(window, used)`` is itself charged (its own key and value) when
  it is created;
- a successful transaction that would take ``used`` above ``max_state_bytes_per_window`` is refused
  with ``quota_exceeded`` and its writes are discarded (the nonce stays recorded, like any failure).

Why a window and not a lifetime total: an honest registrar registers assets for years; a lifetime
cap would stop it, a per-block cap would refuse honest bursts (a day's batch). A window bounds the
rate at which any one member can grow the state (``members x limit`` per window in all), and
members are admitted by governance.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from chain import codec, statekeys

Read = Callable[[bytes], bytes | None]
RECORD_VALUE_BOUND = 19


@dataclass(frozen=True)
class QuotaRule:
    """The genesis parameters of the rule."""

    window_blocks: int
    max_bytes: int

    def window(self, height: int) -> int:
        return height // self.window_blocks

    def window_end(self, height: int) -> int:
        """The first height of the next window."""
        return (self.window(height) + 1) * self.window_blocks


def entry_size(key: bytes, value: bytes | None) -> int:
    return 0 if value is None else len(key) + len(value)


def used_in_window(read: Read, sender: bytes, window: int) -> int:
    """Bytes ``sender`` has been charged in ``window`` (0 for an earlier window or no record)."""
    raw = read(statekeys.quota_key(sender))
    if raw is None:
        return 0
    recorded_window, used = codec.decode_stored(raw)
    return int(used) if recorded_window == window else 0


def charge(
    read: Read, writes: Mapping[bytes, bytes | None], sender: bytes, height: int, rule: QuotaRule
) -> tuple[bytes, bytes] | int:
    """The quota record write ``(key, value)`` for ``writes`` by ``sender`` at ``height``, or the
    number of bytes the sender would then have used when that exceeds the limit."""
    window = rule.window(height)
    key = statekeys.quota_key(sender)
    old_record = read(key)
    growth = sum(entry_size(k, v) - entry_size(k, read(k)) for k, v in writes.items())
    used = used_in_window(read, sender, window)
    # the record itself, once, when it is created: its value is an array of two unsigned integers
    # (at most 1 + 9 + 9 bytes), charged at that bound so the charge does not depend on itself
    record_growth = entry_size(key, b"\x00" * RECORD_VALUE_BOUND) if old_record is None else 0
    after = max(0, used + growth + record_growth)
    if after > rule.max_bytes:
        return after
    return key, codec.encode((window, after))
