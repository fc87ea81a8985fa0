"""Data-asset queries: ``/v1/assets``, ``/v1/assets/{id}``, ``/v1/assets/{id}/history``, ``/v1/organisations``, ``/v1/valuations/{asset}``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

OPENAPI_PATHS: dict[str, Any] = {}
OPENAPI_SCHEMAS: dict[str, Any] = {}


def register(app: web.Application) -> None:
    """Add this module's routes to ``app``."""
