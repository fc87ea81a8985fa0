"""The ``noop`` contract: the smallest contract that exercises the pipeline (tests, benchmarks).

- ``ping(note?)`` — anyone; emits ``noop.pinged``; changes no state.
- ``put(key, value)`` — anyone; writes ``value`` under the sender's namespace; emits ``noop.put``.
- ``fail(code)`` — anyone; always refused with ``code`` (to test failure receipts).
"""

from __future__ import annotations

from typing import Any

from chain.contracts.base import Bytes, Context, ContractRegistry, Schema, Str
from chain.contracts.callers import Callers
from chain.errors import ContractError

NAMESPACE = b"noop/"


def register(registry: ContractRegistry) -> None:
    @registry.method("noop", "ping", Schema({"note": Str(max_len=128, optional=True, default="")}),
                     callers=Callers.anyone())
    def ping(ctx: Context, args: dict[str, Any]) -> None:
        """Anyone. Emits noop.pinged."""
        ctx.emit("noop", "pinged", note=args["note"])

    @registry.method("noop", "put", Schema({"key": Bytes(max_size=64), "value": Bytes(max_size=4096)}),
                     callers=Callers.anyone())
    def put(ctx: Context, args: dict[str, Any]) -> None:
        """Anyone. Writes value at noop/<sender>/<key>; emits noop.put."""
        ctx.put(NAMESPACE + ctx.sender + b"/" + args["key"], args["value"])
        ctx.emit("noop", "put", key=args["key"])

    @registry.method("noop", "fail", Schema({"code": Str(max_len=32, pattern=r"[a-z_]+")}),
                     callers=Callers.anyone())
    def fail(ctx: Context, args: dict[str, Any]) -> None:
        """Anyone. Always refused with the given code (writes first, to prove they are discarded)."""
        ctx.put(NAMESPACE + b"should-not-exist", b"x")
        raise ContractError("refused on request", code=args["code"])
