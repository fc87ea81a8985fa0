"""Counters of the peer transport (exported as ``silkport_net{counter=...}`` by the runtime)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class NetStats:
    """Counters of one PeerNetwork (exported as metrics by the runtime)."""

    frames_in: int = 0
    frames_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    links_opened: int = 0
    links_closed: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    """Outbound frames not sent, by reason: ``queue_full``, ``not_connected``, ``oversize``."""
    garbage: Counter[str] = field(default_factory=Counter)
    """Peers disconnected for sending garbage, by reason: ``text``, ``decode_error``, ``oversize``,
    ``unknown_channel``, ``protocol``."""
    refused: Counter[str] = field(default_factory=Counter)
    """Connections refused before or at authentication, by reason: ``too_many_connections``,
    ``per_address_limit`` (pre-auth caps), ``tls_handshake_failed``, ``bad_certificate``,
    ``unknown_validator``, ``timeout``, ``self_connection``, ``unexpected_index``,
    ``wrong_direction``, ``duplicate_link``, ``not_started``, ``protocol`` (a frame before the link
    was confirmed), ``peer_refused`` (the peer closed instead of confirming: it refused us); plaintext mode adds ``wrong_chain``,
    ``bad_signature``, ``decode_error``, ``oversize``."""
    replaced: int = 0
    """Authenticated links that replaced an idle link to the same validator (ADR 0010 §4)."""

    @property
    def garbage_disconnects(self) -> int:
        return sum(self.garbage.values())

    @property
    def handshake_refusals(self) -> int:
        return sum(self.refused.values())

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    def flat(self) -> dict[str, int]:
        """Every counter as one flat name → int map (``dropped_queue_full``, ``refused_bad_signature``...)."""
        out = {
            "frames_in": self.frames_in,
            "frames_out": self.frames_out,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "links_opened": self.links_opened,
            "links_closed": self.links_closed,
            "links_replaced": self.replaced,
            "dropped": self.dropped_total,
            "garbage_disconnects": self.garbage_disconnects,
            "handshake_refusals": self.handshake_refusals,
        }
        for prefix, counter in (
            ("dropped", self.dropped),
            ("garbage", self.garbage),
            ("refused", self.refused),
        ):
            out.update({f"{prefix}_{reason}": count for reason, count in counter.items()})
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "frames_in": self.frames_in,
            "frames_out": self.frames_out,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "links_opened": self.links_opened,
            "links_closed": self.links_closed,
            "links_replaced": self.replaced,
            "dropped": dict(self.dropped),
            "garbage": dict(self.garbage),
            "refused": dict(self.refused),
        }
