"""Validator-signed REST requests (ADR 0011): how a replica's catch-up proves it is a validator.

The request carries four headers: ``X-Silkport-Validator`` (the validator's index), ``-Timestamp``
(ms), ``-Nonce`` (16 random bytes, hex) and ``-Signature``: Ed25519 over
``signing_bytes(DOMAIN_API_REQUEST, chain_id, [method, path?query, timestamp_ms, nonce])``
(DESIGN.md §3, domain-separated like every signature). The server accepts it when the key is the
validator's, the timestamp is within ``WINDOW_MS`` of its clock and the nonce was not seen within the
window (so a captured request cannot be replayed, not even to the same path).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Mapping

from aiohttp import web

from chain import codec
from chain.crypto import KeyPair, Signer, is_valid_signature
from chain.errors import RequestAuthError

HEADER_VALIDATOR = "X-Silkport-Validator"
HEADER_TIMESTAMP = "X-Silkport-Timestamp"
HEADER_NONCE = "X-Silkport-Nonce"
HEADER_SIGNATURE = "X-Silkport-Signature"
HEADERS = (HEADER_VALIDATOR, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE)
WINDOW_MS = 30_000
MAX_NONCES = 65_536
NONCE = re.compile(r"^[0-9a-f]{32}$")
SIGNATURE = re.compile(r"^[0-9a-f]{128}$")
DIGITS = re.compile(r"^[0-9]{1,19}$")


def request_body(method: str, path_qs: str, timestamp_ms: int, nonce: bytes) -> tuple[str, str, int, bytes]:
    return (method.upper(), path_qs, timestamp_ms, nonce)


def sign_request(
    signer: Signer | KeyPair, index: int, chain_id: str, method: str, path_qs: str, timestamp_ms: int, nonce: bytes
) -> dict[str, str]:
    """The headers that authenticate one request as validator ``index``."""
    message = codec.signing_bytes(
        codec.DOMAIN_API_REQUEST, chain_id, request_body(method, path_qs, timestamp_ms, nonce)
    )
    return {
        HEADER_VALIDATOR: str(index),
        HEADER_TIMESTAMP: str(timestamp_ms),
        HEADER_NONCE: nonce.hex(),
        HEADER_SIGNATURE: bytes(signer.sign(message)).hex(),
    }


class RequestAuthenticator:
    """Checks validator signatures on requests; remembers nonces for the freshness window."""

    def __init__(
        self, chain_id: str, validator_keys: Callable[[], tuple[bytes, ...]], clock_ms: Callable[[], int]
    ) -> None:
        self.chain_id, self.validator_keys, self.clock_ms = chain_id, validator_keys, clock_ms
        self.seen: OrderedDict[bytes, int] = OrderedDict()  # nonce -> timestamp_ms

    def check(self, method: str, path_qs: str, headers: Mapping[str, str]) -> int | None:
        """The validator index of a correctly signed request, None if unsigned; raises
        :class:`RequestAuthError` naming the header at fault otherwise (the request changes nothing)."""
        present = [name for name in HEADERS if name in headers]
        if not present:
            return None
        missing = [name for name in HEADERS if name not in headers]
        if missing:
            raise RequestAuthError(f"a signed request needs header {missing[0]}")
        index_text, ts_text = headers[HEADER_VALIDATOR], headers[HEADER_TIMESTAMP]
        nonce_text, signature_text = headers[HEADER_NONCE], headers[HEADER_SIGNATURE]
        keys = self.validator_keys()
        if not DIGITS.match(index_text) or int(index_text) >= len(keys):
            raise RequestAuthError(f"{HEADER_VALIDATOR} is not a validator index (0..{len(keys) - 1})")
        if not DIGITS.match(ts_text):
            raise RequestAuthError(f"{HEADER_TIMESTAMP} is not a time in milliseconds")
        if not NONCE.match(nonce_text):
            raise RequestAuthError(f"{HEADER_NONCE} is 32 lowercase hex characters")
        if not SIGNATURE.match(signature_text):
            raise RequestAuthError(f"{HEADER_SIGNATURE} is 128 lowercase hex characters")
        now = self.clock_ms()
        timestamp = int(ts_text)
        if abs(now - timestamp) > WINDOW_MS:
            raise RequestAuthError(f"{HEADER_TIMESTAMP} is more than {WINDOW_MS // 1000} s from this node's clock")
        nonce = bytes.fromhex(nonce_text)
        self._forget(now)
        if nonce in self.seen:
            raise RequestAuthError(f"{HEADER_NONCE} was already used (replayed request)")
        index = int(index_text)
        message = codec.signing_bytes(
            codec.DOMAIN_API_REQUEST, self.chain_id, request_body(method, path_qs, timestamp, nonce)
        )
        if not is_valid_signature(keys[index], message, bytes.fromhex(signature_text)):
            raise RequestAuthError(f"{HEADER_SIGNATURE} does not verify for validator {index}")
        self.seen[nonce] = timestamp
        while len(self.seen) > MAX_NONCES:
            self.seen.popitem(last=False)
        return index

    def _forget(self, now_ms: int) -> None:
        """Drop nonces whose timestamp left the window: a replay of them fails the timestamp check."""
        while self.seen:
            nonce, timestamp = next(iter(self.seen.items()))
            if now_ms - timestamp <= WINDOW_MS:
                break
            del self.seen[nonce]

    def __call__(self, request: web.Request) -> int | None:
        return self.check(request.method, request.raw_path, request.headers)
