"""REST API of a node: aiohttp app, OpenAPI document, problem+json errors (DESIGN.md §10)."""

from __future__ import annotations

from chain.api.app import make_app, start
from chain.api.facade import NodeFacade
from chain.api.ratelimit import RateLimit

__all__ = ["NodeFacade", "RateLimit", "make_app", "start"]
