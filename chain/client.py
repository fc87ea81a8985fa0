"""Python clients of the node's REST API (DESIGN.md §10): ``Client`` (sync, urllib) and ``AsyncClient``.

Transactions are sent as canonical msgpack. Every problem+json answer (RFC 9457) raises
:class:`ApiError` with the HTTP status and the problem's stable ``code``; a node that cannot be
reached raises ``ApiError(status=0, code="unreachable")``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

import aiohttp

from chain import codec
from chain.errors import SilkportError
from chain.types import SignedTx

MSGPACK = "application/msgpack"
DEFAULT_TIMEOUT_S = 30.0


class ApiError(SilkportError):
    """An error answer of the API: HTTP ``status`` (0 if unreachable), problem ``code`` and ``detail``."""

    code = "api_error"

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail or code, code=code)
        self.status = status
        self.detail = detail

    def __str__(self) -> str:
        where = f"HTTP {self.status}" if self.status else "no answer"
        return f"{self.detail} ({self.code}, {where})"


def error_from_response(status: int, body: bytes) -> ApiError:
    """Build the ApiError of a non-2xx answer (problem+json if it is one, else its text)."""
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if isinstance(document, dict) and isinstance(document.get("type"), str):
        code = document.get("code") or document["type"].rsplit("/", 1)[-1]
        return ApiError(status, str(code), str(document.get("detail") or document.get("title") or ""))
    text = body.decode("utf-8", "replace").strip()[:200]
    return ApiError(status, f"http_{status}", text or f"HTTP {status}")


def _tx_id_hex(tx_id: str | bytes) -> str:
    return tx_id.hex() if isinstance(tx_id, bytes) else tx_id


def _tx_path(tx_id: str | bytes, wait: bool, timeout_s: float) -> str:
    path = f"/v1/txs/{_tx_id_hex(tx_id)}"
    return path + "?" + urlencode({"wait": "commit", "timeout": timeout_s}) if wait else path


def _block_path(height: int | None) -> str:
    return f"/v1/blocks/{'latest' if height is None else height}"


class Client:
    """Blocking client (plain ``urllib.request``; no event loop needed)."""

    def __init__(self, base_url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        timeout_s: float | None = None,
    ) -> bytes:
        headers = {"Accept": "application/json, application/problem+json, application/msgpack"}
        if content_type:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(self.base_url + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout_s or self.timeout_s) as response:
                data: bytes = response.read()
                return data
        except urllib.error.HTTPError as error:
            raise error_from_response(error.code, error.read()) from None
        except urllib.error.URLError as error:
            raise ApiError(0, "unreachable", f"cannot reach {self.base_url}: {error.reason}") from None
        except (TimeoutError, ConnectionError) as error:
            raise ApiError(0, "unreachable", f"cannot reach {self.base_url}: {error}") from None

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return json.loads(self._request(method, path, **kwargs))

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", "/v1/status")
        return result

    def submit(self, tx: SignedTx) -> str:
        """Submit a signed transaction (canonical msgpack); returns its id (hex)."""
        answer = self._json("POST", "/v1/txs", body=tx.encode(), content_type=MSGPACK)
        return str(answer["tx_id"])

    def tx(self, tx_id: str | bytes, wait: bool = False, timeout: float = 10.0) -> dict[str, Any]:
        """A transaction's state; with ``wait`` the node answers once it commits (or at ``timeout``)."""
        result: dict[str, Any] = self._json(
            "GET", _tx_path(tx_id, wait, timeout), timeout_s=timeout + self.timeout_s
        )
        return result

    def block(self, height: int | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", _block_path(height))
        return result

    def raw_blocks(self, from_height: int, to_height: int) -> list[bytes]:
        """Canonical ``[block, certificate]`` bytes for catch-up (verify them before use)."""
        data = self._request("GET", "/v1/sync/blocks?" + urlencode({"from": from_height, "to": to_height}))
        return list(codec.decode(data))


class AsyncClient:
    """aiohttp client; use as ``async with AsyncClient(url) as client: ...`` (or call ``close()``)."""

    def __init__(self, base_url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        timeout_s: float | None = None,
    ) -> bytes:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        headers = {"Content-Type": content_type} if content_type else {}
        timeout = aiohttp.ClientTimeout(total=timeout_s or self.timeout_s)
        try:
            async with self._session.request(
                method, self.base_url + path, data=body, headers=headers, timeout=timeout
            ) as response:
                data = await response.read()
                if response.status >= 400:
                    raise error_from_response(response.status, data)
                return data
        except (aiohttp.ClientConnectionError, TimeoutError) as error:
            raise ApiError(0, "unreachable", f"cannot reach {self.base_url}: {error}") from None

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return json.loads(await self._request(method, path, **kwargs))

    async def status(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._json("GET", "/v1/status")
        return result

    async def submit(self, tx: SignedTx) -> str:
        answer = await self._json("POST", "/v1/txs", body=tx.encode(), content_type=MSGPACK)
        return str(answer["tx_id"])

    async def tx(self, tx_id: str | bytes, wait: bool = False, timeout: float = 10.0) -> dict[str, Any]:
        result: dict[str, Any] = await self._json(
            "GET", _tx_path(tx_id, wait, timeout), timeout_s=timeout + self.timeout_s
        )
        return result

    async def block(self, height: int | None = None) -> dict[str, Any]:
        result: dict[str, Any] = await self._json("GET", _block_path(height))
        return result

    async def raw_blocks(self, from_height: int, to_height: int) -> list[bytes]:
        data = await self._request(
            "GET", "/v1/sync/blocks?" + urlencode({"from": from_height, "to": to_height})
        )
        return list(codec.decode(data))
