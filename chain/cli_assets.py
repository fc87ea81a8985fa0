"""``silkport asset ...``, ``silkport pledge ...``, ``silkport gov ...``."""

from __future__ import annotations

from typing import Any


def register(commands: Any) -> None:
    """Add this group's subcommands."""
