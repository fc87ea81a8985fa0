"""One error tree for Silkport (STYLE.md habit 7).

Every failure a caller can act on is a subclass of :class:`SilkportError` and carries a stable,
machine-readable ``code`` (used in failure receipts, problem+json ``type`` and metrics labels).
Bad input never raises anything outside this tree.
"""

from __future__ import annotations


class SilkportError(Exception):
    """Root of every error Silkport raises on purpose."""

    code = "error"

    def __init__(self, message: str = "", *, code: str | None = None) -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.code


# --- bytes on the wire -------------------------------------------------------------------------


class DecodeError(SilkportError):
    """Malformed bytes: not canonical msgpack, trailing data, floats, maps, oversize, too deep."""

    code = "decode_error"


class EncodeError(SilkportError):
    """A value that has no canonical encoding (float, map in signed data, int out of range)."""

    code = "encode_error"


# --- validation --------------------------------------------------------------------------------


class ValidationError(SilkportError):
    """Well-formed bytes whose content is invalid (wrong length, wrong chain, out of range)."""

    code = "invalid"


class KeyFormatError(ValidationError):
    """A public key, secret key or key file of the wrong shape."""

    code = "bad_key"


class SignatureError(ValidationError):
    """A signature that does not verify, or is missing for a required signer."""

    code = "bad_signature"


class ChainIdError(ValidationError):
    """A message or transaction for another chain."""

    code = "wrong_chain"


class NonceError(ValidationError):
    """A nonce that is not above the sender's last committed nonce (a replay)."""

    code = "stale_nonce"


class TxExpiredError(ValidationError):
    """A transaction whose valid_until_height has passed."""

    code = "tx_expired"


class OversizeError(ValidationError):
    """Input larger than the configured limit."""

    code = "oversize"


class RequestAuthError(ValidationError):
    """A signed REST request whose validator signature is bad, stale or replayed (ADR 0011)."""

    code = "bad_request_signature"


class ProofError(SilkportError):
    """A Merkle, state or certificate proof that does not verify; the message says which check failed."""

    code = "bad_proof"


# --- node-level --------------------------------------------------------------------------------


class SnapshotError(ProofError):
    """A state-snapshot manifest or chunk that does not verify (ADR 0021); the peer that sent it is
    not asked again for this snapshot."""

    code = "bad_snapshot"


class MempoolFullError(SilkportError):
    """The mempool is at capacity; retry later."""

    code = "mempool_full"


class CatchingUpError(MempoolFullError):
    """The node is several certified blocks behind and admits nothing until it has caught up (ADR 0026);
    retry later or at another node (503, like a full mempool)."""

    code = "catching_up"


class NotPermittedError(SilkportError):
    """The signers are nobody to the method: no role, membership or quorum its declaration accepts
    (ADR 0012); ``code`` names the failed check (``missing_role``, ``unknown_member``, ``no_quorum``)."""

    code = "not_permitted"


class QuotaError(SilkportError):
    """A sender over one of its limits (state bytes per window, pending transactions); retry later."""

    code = "quota_exceeded"

    def __init__(self, message: str = "", *, code: str | None = None, retry_after_s: int = 1) -> None:
        super().__init__(message, code=code)
        self.retry_after_s = retry_after_s


class DuplicateTxError(SilkportError):
    """The transaction is already in the mempool or committed."""

    code = "duplicate_tx"


class NotFoundError(SilkportError):
    """An unknown id: block, transaction, asset, organisation, transfer."""

    code = "not_found"


class StorageError(SilkportError):
    """The store is corrupt or cannot be opened."""

    code = "storage_error"


class ConfigError(SilkportError):
    """A configuration or genesis file that cannot be used."""

    code = "bad_config"


class ContractError(SilkportError):
    """A transaction that is valid but fails in its contract; ``code`` is the stable receipt code."""

    code = "contract_error"
