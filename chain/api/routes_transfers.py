"""Cross-border queries: ``/v1/transfers``, ``/v1/transfers/{id}``, ``/v1/policy``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

OPENAPI_PATHS: dict[str, Any] = {}
OPENAPI_SCHEMAS: dict[str, Any] = {}


def register(app: web.Application) -> None:
    """Add this module's routes to ``app``."""
