"""Python clients of the node's REST API (DESIGN.md §10): ``Client`` (sync, urllib) and ``AsyncClient``.

Transactions are sent as canonical msgpack. Every problem+json answer (RFC 9457) raises
:class:`ApiError` with the HTTP status and the problem's stable ``code``; a node that cannot be
reached raises ``ApiError(status=0, code="unreachable")``.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

import aiohttp

from chain import codec
from chain.errors import ConfigError, SilkportError
from chain.types import SignedTx

MSGPACK = "application/msgpack"
DEFAULT_TIMEOUT_S = 30.0


def encode_batch(txs: list[SignedTx] | list[bytes]) -> bytes:
    """The body of ``POST /v1/txs/batch``: a msgpack array of canonical SignedTx bytes (ADR 0023)."""
    return codec.encode([tx if isinstance(tx, bytes) else tx.encode() for tx in txs])


def batch_outcomes(answer: dict[str, Any]) -> list[str | ApiError]:
    """Per item of a batch answer: its tx id (hex), or the :class:`ApiError` that refused it."""
    outcomes: list[str | ApiError] = []
    for item in answer["results"]:
        if "tx_id" in item:
            outcomes.append(str(item["tx_id"]))
        else:
            error = item["error"]
            outcomes.append(ApiError(int(error["status"]), str(error["code"]), str(error["detail"])))
    return outcomes


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
    text = body.decode("utf-8", "replace").strip()
    if not text or text.startswith("<") or "\n" in text:  # an HTML page or the like: not our answer
        return ApiError(status, "not_silkport", f"the server answered HTTP {status} without a Silkport problem "
                                                "document: is --node a Silkport node's API URL?")
    return ApiError(status, f"http_{status}", text[:200])


def checked_base_url(url: str) -> str:
    """The node URL without a trailing slash; a URL without ``http://``/``https://`` is refused with the
    fix (``127.0.0.1:8080`` → ``http://127.0.0.1:8080``)."""
    if not url.startswith(("http://", "https://")):
        raise ApiError(0, "bad_node_url", f"node URL {url!r} has no scheme: use http://{url} (or https://)")
    return url.rstrip("/")


def _tx_id_hex(tx_id: str | bytes) -> str:
    return tx_id.hex() if isinstance(tx_id, bytes) else tx_id


def _tx_path(tx_id: str | bytes, wait: bool, timeout_s: float) -> str:
    path = f"/v1/txs/{_tx_id_hex(tx_id)}"
    return path + "?" + urlencode({"wait": "commit", "timeout": timeout_s}) if wait else path


def _block_path(height: int | None) -> str:
    return f"/v1/blocks/{'latest' if height is None else height}"


def _assets_path(page: int, per_page: int, **filters: Any) -> str:
    query: dict[str, Any] = {"page": page, "per_page": per_page}
    query.update({k: v for k, v in filters.items() if v is not None})
    return "/v1/assets?" + urlencode(query)


def _asset_path(asset_id: str, what: str = "") -> str:
    return f"/v1/assets/{asset_id}" + (f"/{what}" if what else "")


def client_ssl_context(cacert: str) -> ssl.SSLContext:
    """Verify the node's API certificate against the CA in ``cacert`` (PEM) only."""
    try:
        return ssl.create_default_context(cafile=cacert)
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(f"--cacert {cacert}: cannot load a CA certificate ({error})") from None


class Client:
    """Blocking client (plain ``urllib.request``; no event loop needed)."""

    def __init__(
        self, base_url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S, cacert: str | None = None
    ) -> None:
        self.base_url = checked_base_url(base_url)
        self.timeout_s = timeout_s
        self.ssl_context = client_ssl_context(cacert) if cacert else None

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str | None = None,
        timeout_s: float | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> bytes:
        headers = {"Accept": "application/json, application/problem+json, application/msgpack"}
        if content_type:
            headers["Content-Type"] = content_type
        headers.update(extra_headers or {})
        request = urllib.request.Request(self.base_url + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(
                request, timeout=timeout_s or self.timeout_s, context=self.ssl_context
            ) as response:
                data: bytes = response.read()
                return data
        except urllib.error.HTTPError as error:
            raise error_from_response(error.code, error.read()) from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, ssl.SSLCertVerificationError):
                raise ApiError(
                    0, "tls_unverified", f"cannot verify {self.base_url}: {error.reason.verify_message} "
                    "(give the CA certificate with --cacert or SILKPORT_CACERT)"
                ) from None
            raise ApiError(0, "unreachable", f"cannot reach {self.base_url}: {error.reason}") from None
        except ssl.SSLError as error:
            raise ApiError(0, "tls_error", f"TLS with {self.base_url} failed: {error.reason}") from None
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

    def submit_batch(self, txs: list[SignedTx]) -> list[str | ApiError]:
        """Submit up to 1,000 signed transactions in one request; per item its id or the error."""
        return batch_outcomes(self._json("POST", "/v1/txs/batch", body=encode_batch(txs), content_type=MSGPACK))

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

    # --- data assets (GET /v1/assets..., /v1/organisations, /v1/valuations) ---

    def submit_and_wait(self, tx: SignedTx, timeout: float = 10.0) -> dict[str, Any]:
        """Submit ``tx`` and wait for its commit; the ``GET /v1/txs/{id}`` answer (check ``status``)."""
        return self.tx(self.submit(tx), wait=True, timeout=timeout)

    def assets(self, page: int = 1, per_page: int = 20, **filters: Any) -> dict[str, Any]:
        """A page of assets; filters: ``owner`` (hex key), ``owner_org``, ``status``, ``grade``, ``cursor``, ``order``."""
        result: dict[str, Any] = self._json("GET", _assets_path(page, per_page, **filters))
        return result

    def asset(self, asset_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", _asset_path(asset_id))
        return result

    def asset_history(self, asset_id: str) -> dict[str, Any]:
        """Every event on the asset back to its registration, and its lineage (parents, children)."""
        result: dict[str, Any] = self._json("GET", _asset_path(asset_id, "history"))
        return result

    def valuations(self, asset_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", f"/v1/valuations/{asset_id}")
        return result

    def organisations(self, page: int = 1, per_page: int = 20) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", "/v1/organisations?" + urlencode({"page": page, "per_page": per_page}))
        return result

    def organisation(self, org_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", f"/v1/organisations/{org_id}")
        return result

    # --- cross-border transfers (chain.crossborder; GET /v1/transfers, /v1/policy) ---

    def transfers(self, *, asset: str | None = None, exporter: str | None = None, state: str | None = None,
                  page: int = 1, per_page: int = 20, order: str = "newest", cursor: int | None = None) -> dict[str, Any]:
        """A page of transfers: ``page``/``pages``/``next_page``, or ``cursor``/``next_cursor`` for a filtered
        scan (``state``; ``exporter`` with ``asset``), and ``total``, ``per_page``, ``items`` (ADR 0024)."""
        query = {k: v for k, v in {"asset": asset, "exporter": exporter, "state": state, "page": page,
                                   "per_page": per_page, "order": order, "cursor": cursor}.items() if v is not None}
        result: dict[str, Any] = self._json("GET", "/v1/transfers?" + urlencode(query))
        return result

    def transfer(self, transfer_id: str) -> dict[str, Any]:
        """A transfer with its latest decision (rules, policy version) and its steps."""
        result: dict[str, Any] = self._json("GET", f"/v1/transfers/{transfer_id}")
        return result

    def policy(self, version: int | None = None) -> dict[str, Any]:
        """The cross-border policy in force, or version ``version``."""
        path = "/v1/policy" if version is None else "/v1/policy?" + urlencode({"version": version})
        result: dict[str, Any] = self._json("GET", path)
        return result

    # --- proofs (chain.proofs, ADR 0008; GET /v1/anchors/{hash}/receipt, /v1/assets/{id}/proof) ---

    def anchor_receipt_text(self, digest: str | bytes, since: int | None = None) -> str:
        """The canonical JSON text of a hash's anchor receipt (save it unmodified; ``silkport verify``)."""
        query = "" if since is None else "?" + urlencode({"since": since})
        return self._request("GET", f"/v1/anchors/{_tx_id_hex(digest)}/receipt{query}").decode()

    def asset_proof_text(self, asset_id: str, since: int | None = None) -> str:
        """The canonical JSON text of an asset's provenance bundle."""
        query = "" if since is None else "?" + urlencode({"since": since})
        return self._request("GET", f"/v1/assets/{asset_id}/proof{query}").decode()

    # --- data valve (ADR 0018; PUT /v1/assets/{id}/data) ---

    def put_data(self, asset_id: str, reader: Any, size: int, headers: dict[str, str]) -> dict[str, Any]:
        """Stream ``size`` bytes from ``reader`` (anything with ``read(n)``) as the asset's content."""
        result: dict[str, Any] = self._json(
            "PUT", _asset_path(asset_id, "data"), body=reader, content_type="application/octet-stream",
            timeout_s=max(self.timeout_s, 600.0), extra_headers={**headers, "Content-Length": str(size)},
        )
        return result

    def data_status(self, asset_id: str) -> dict[str, Any]:
        """Whether the node stores the asset's content (and its chunk layout)."""
        result: dict[str, Any] = self._json("GET", _asset_path(asset_id, "data"))
        return result

    def history_consistency(self, from_height: int, to_height: int) -> dict[str, Any]:
        """RFC 6962 consistency proof between the history roots of two headers."""
        query = urlencode({"from": from_height, "to": to_height})
        result: dict[str, Any] = self._json("GET", f"/v1/history/consistency?{query}")
        return result


class AsyncClient:
    """aiohttp client; use as ``async with AsyncClient(url) as client: ...`` (or call ``close()``)."""

    def __init__(self, base_url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.base_url = checked_base_url(base_url)
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

    async def submit_batch(self, txs: list[SignedTx]) -> list[str | ApiError]:
        answer = await self._json("POST", "/v1/txs/batch", body=encode_batch(txs), content_type=MSGPACK)
        return batch_outcomes(answer)

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

    async def submit_and_wait(self, tx: SignedTx, timeout: float = 10.0) -> dict[str, Any]:
        return await self.tx(await self.submit(tx), wait=True, timeout=timeout)

    async def assets(self, page: int = 1, per_page: int = 20, **filters: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self._json("GET", _assets_path(page, per_page, **filters))
        return result

    async def asset(self, asset_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._json("GET", _asset_path(asset_id))
        return result

    async def asset_history(self, asset_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._json("GET", _asset_path(asset_id, "history"))
        return result

    # --- cross-border transfers (chain.crossborder; GET /v1/transfers, /v1/policy) ---

    async def transfers(self, *, asset: str | None = None, exporter: str | None = None, state: str | None = None,
                        page: int = 1, per_page: int = 20, order: str = "newest",
                        cursor: int | None = None) -> dict[str, Any]:
        """A page of transfers, as :meth:`Client.transfers`."""
        query = {k: v for k, v in {"asset": asset, "exporter": exporter, "state": state, "page": page,
                                   "per_page": per_page, "order": order, "cursor": cursor}.items() if v is not None}
        result: dict[str, Any] = await self._json("GET", "/v1/transfers?" + urlencode(query))
        return result

    async def transfer(self, transfer_id: str) -> dict[str, Any]:
        """A transfer with its latest decision (rules, policy version) and its steps."""
        result: dict[str, Any] = await self._json("GET", f"/v1/transfers/{transfer_id}")
        return result

    async def policy(self, version: int | None = None) -> dict[str, Any]:
        """The cross-border policy in force, or version ``version``."""
        path = "/v1/policy" if version is None else "/v1/policy?" + urlencode({"version": version})
        result: dict[str, Any] = await self._json("GET", path)
        return result

    # --- proofs (chain.proofs, ADR 0008) ---

    async def anchor_receipt_text(self, digest: str | bytes, since: int | None = None) -> str:
        """The canonical JSON text of a hash's anchor receipt."""
        query = "" if since is None else "?" + urlencode({"since": since})
        return (await self._request("GET", f"/v1/anchors/{_tx_id_hex(digest)}/receipt{query}")).decode()

    async def asset_proof_text(self, asset_id: str, since: int | None = None) -> str:
        """The canonical JSON text of an asset's provenance bundle."""
        query = "" if since is None else "?" + urlencode({"since": since})
        return (await self._request("GET", f"/v1/assets/{asset_id}/proof{query}")).decode()
