"""RFC 9457 problem details: the one middleware that turns errors into ``application/problem+json``.

``type`` is ``https://silkport.dev/problems/<code>`` where ``code`` is the stable code of the
:mod:`chain.errors` class (or of the HTTP condition); the same ``code`` is repeated as an extension
member so scripts need not parse the URI. Status mapping (most specific class first):

====================================================  ======  =====================================
error                                                 status  why
====================================================  ======  =====================================
OversizeError                                         413     body or transaction over the limit
RequestAuthError                                      401     a validator-signed request that does not
                                                              verify, is stale or replayed (ADR 0011)
SignatureError, ChainIdError, NonceError, ...         400     the request itself is invalid. Not 401:
(every ValidationError, DecodeError, EncodeError)             a transaction carries its own
                                                              authentication; there is no HTTP
                                                              credential to retry with
                                                              (RFC 9110 §15.5.2 needs WWW-Authenticate)
ContractError, ProofError                             400
NotFoundError                                         404
NotPermittedError                                     403     the signers are nobody to the method
                                                              (ADR 0012); ``code`` names the role
DuplicateTxError                                      409     already pending or committed
QuotaError                                            429     a sender over its quota; ``Retry-After``
MempoolFullError, CatchingUpError                     503     retry later (``Retry-After: 1``); ``catching_up``:
                                                              the node is behind (ADR 0026), try another
StorageError with code ``disk_full``                  507     the content store has no room (ADR 0018)
rate limit (per address or global, ADR 0011)          429     ``Retry-After`` seconds
too many requests in flight (ADR 0011)                503     ``Retry-After`` seconds
aiohttp HTTPException (404, 405, 413, ...)            same    code from the status (``not_found``,
                                                              ``method_not_allowed``, ``oversize``)
anything else                                         500     ``internal``; logged, never leaked
====================================================  ======  =====================================
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from aiohttp import web

from chain.errors import (
    ConfigError,
    ContractError,
    DecodeError,
    DuplicateTxError,
    EncodeError,
    MempoolFullError,
    NotFoundError,
    NotPermittedError,
    OversizeError,
    ProofError,
    QuotaError,
    RequestAuthError,
    SilkportError,
    StorageError,
    ValidationError,
)

PROBLEM_BASE = "https://silkport.dev/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"
LOG = logging.getLogger("silkport.api")

STATUS_BY_ERROR: tuple[tuple[type[SilkportError], int], ...] = (
    (OversizeError, 413),
    (RequestAuthError, 401),
    (ValidationError, 400),
    (DecodeError, 400),
    (EncodeError, 400),
    (ContractError, 400),
    (ProofError, 400),
    (NotFoundError, 404),
    (NotPermittedError, 403),
    (QuotaError, 429),
    (DuplicateTxError, 409),
    (MempoolFullError, 503),
    (StorageError, 500),
    (ConfigError, 500),
)

CODE_BY_STATUS = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    403: "forbidden",
    413: "oversize",
    415: "unsupported_media_type",
    401: "unauthorized",
    429: "rate_limited",
}


def status_for(error: SilkportError) -> int:
    """The HTTP status of an error: the first matching class in :data:`STATUS_BY_ERROR`."""
    if error.code == "disk_full":  # the content store has no room (ADR 0018): 507, said plainly
        return 507
    for klass, status in STATUS_BY_ERROR:
        if isinstance(error, klass):
            return status
    return 500


def problem(
    status: int, code: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> web.Response:
    """One ``application/problem+json`` response."""
    document = {
        "type": PROBLEM_BASE + code,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return web.Response(
        status=status,
        body=json.dumps(document).encode(),
        content_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LOG_LINE_CHARS = 300
ERROR_LOGS_PER_MINUTE = 30


class _LogBudget:
    """Bounded error logging: at most ``ERROR_LOGS_PER_MINUTE`` lines a minute, each truncated, so a
    flood of failing requests cannot fill the disk; the number suppressed is told on the next line."""

    def __init__(self) -> None:
        self.window_start = 0.0
        self.count = 0
        self.suppressed = 0

    def allow(self) -> bool:
        now = time.monotonic()
        if now - self.window_start >= 60.0:
            self.window_start, self.count = now, 0
        self.count += 1
        if self.count > ERROR_LOGS_PER_MINUTE:
            self.suppressed += 1
            return False
        return True

    def error(self, message: str, *, exc_info: BaseException | None = None) -> None:
        if not self.allow():
            return
        if self.suppressed:
            message += f" ({self.suppressed} similar lines suppressed)"
            self.suppressed = 0
        LOG.error("%s", message[:LOG_LINE_CHARS], exc_info=exc_info)


LOG_BUDGET = _LogBudget()


def _where(request: web.Request) -> str:
    return f"{request.method} {request.path[:120]!r}"


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map every error raised below it to problem+json (the only place that does)."""
    try:
        return await handler(request)
    except SilkportError as error:
        status = status_for(error)
        if status == 500:
            LOG_BUDGET.error(f"{_where(request)} failed: {error}", exc_info=error)
            return problem(status, error.code, "the node could not complete the request")
        headers = {"Retry-After": "1"} if status == 503 else None
        if isinstance(error, QuotaError):
            headers = {"Retry-After": str(max(1, error.retry_after_s))}
        elif status == 401:
            headers = {"WWW-Authenticate": "Silkport-Ed25519"}
        return problem(status, error.code, error.message, headers=headers)
    except web.HTTPException as http:
        if http.status < 400:
            raise
        code = CODE_BY_STATUS.get(http.status, f"http_{http.status}")
        detail = http.text if http.text and not http.text.startswith(f"{http.status}:") else http.reason
        if http.status == 405:
            detail = f"{request.method} is not allowed on {request.path}"
        elif http.status == 404:
            detail = f"no route for {request.path}"
        headers = {k: v for k, v in http.headers.items() if k in ("Allow", "Retry-After")}
        return problem(http.status, code, detail, headers=headers or None)
    except RecursionError:  # input nested deeper than the parser can go: the client's fault
        LOG_BUDGET.error(f"{_where(request)} refused: input nested too deeply")
        return problem(400, "too_deep", "the request is nested too deeply")
    except Exception as error:  # never leak a traceback to the client
        LOG_BUDGET.error(f"{_where(request)} failed unexpectedly: {type(error).__name__}", exc_info=error)
        return problem(500, "internal", "internal error; see the node log")
