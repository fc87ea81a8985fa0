"""JSON form of transactions, for the REST API and the client (DESIGN.md §3, §10).

Canonical transactions are msgpack arrays; JSON users may send either the canonical bytes as hex
(``{"tx": "<hex>"}``) or this readable form, which maps one-to-one onto the canonical body::

    {"body": {"chain_id": str, "contract": str, "method": str, "args": {...},
              "signer_pubkeys": [hex, ...], "nonce": int, "valid_until_height": int},
     "signatures": [hex, ...]}

``args`` values map to canonical values like this (JSON → canonical → JSON):

=========================  ==========================  ==========================================
JSON                       canonical msgpack           notes
=========================  ==========================  ==========================================
integer                    int                         64-bit range; floats are refused (no floats
                                                       anywhere in signed data)
string, true/false, null   str, bool, nil
array                      array
``{"hex": "00ff"}``        bytes (bin)                 an object whose only key is ``hex`` with a
                                                       string value is always bytes
any other object           record: sorted pairs        ``[[name, value], ...]`` sorted by name,
                                                       like ``codec.pairs_from_dict``
=========================  ==========================  ==========================================

Going back, an array of ``[str, value]`` pairs with strictly ascending names is shown as an object
(it has the same bytes as that object, so the signatures and the tx id do not change).
The body is signed over its canonical bytes, never over this JSON: a client builds the SignedTx,
signs it, and may then render it here for people.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chain import codec
from chain.errors import NotFoundError, ValidationError
from chain.types import Block, CommitCertificate, Header, Receipt, SignedTx, TxBody

if TYPE_CHECKING:
    from chain.ledger import Ledger


def _hex(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise ValidationError(f"{what}: expected a hex string")
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise ValidationError(f"{what}: not valid hex") from exc


def value_from_json(value: Any, where: str = "args") -> Any:
    """Convert one JSON value to its canonical form (see the table above)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        if not codec.INT_MIN <= value <= codec.INT_MAX:
            raise ValidationError(f"{where}: integer out of the 64-bit range")
        return value
    if isinstance(value, float):
        raise ValidationError(f"{where}: floats are not allowed (use integers, e.g. minor units)")
    if isinstance(value, list | tuple):
        return tuple(value_from_json(item, f"{where}[{i}]") for i, item in enumerate(value))
    if isinstance(value, dict):
        if set(value) == {"hex"} and isinstance(value["hex"], str):
            return _hex(value["hex"], where)
        return args_from_json(value, where)
    raise ValidationError(f"{where}: unsupported JSON value of type {type(value).__name__}")


def args_from_json(record: dict[str, Any], where: str = "args") -> tuple[tuple[str, Any], ...]:
    """A JSON object → canonical record (sorted ``(name, value)`` pairs)."""
    if not isinstance(record, dict):
        raise ValidationError(f"{where}: expected an object")
    return tuple((name, value_from_json(record[name], f"{where}.{name}")) for name in sorted(record))


def _is_record(value: tuple[Any, ...]) -> bool:
    names = [
        pair[0] for pair in value if isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str)
    ]
    return (
        bool(value)
        and len(names) == len(value)
        and all(a < b for a, b in zip(names, names[1:], strict=False))
    )


def value_to_json(value: Any) -> Any:
    """Canonical value → JSON (bytes become ``{"hex": ...}``, records become objects)."""
    if isinstance(value, bytes):
        return {"hex": value.hex()}
    if isinstance(value, tuple | list):
        if _is_record(tuple(value)):
            return {name: value_to_json(item) for name, item in value}
        return [value_to_json(item) for item in value]
    return value


def args_to_json(args: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    return {name: value_to_json(item) for name, item in args}


def tx_to_json(tx: SignedTx) -> dict[str, Any]:
    """The readable form of a signed transaction (accepted back by :func:`tx_from_json`)."""
    body = tx.body
    return {
        "body": {
            "chain_id": body.chain_id,
            "contract": body.contract,
            "method": body.method,
            "args": args_to_json(body.args),
            "signer_pubkeys": [key.hex() for key in body.signer_pubkeys],
            "nonce": body.nonce,
            "valid_until_height": body.valid_until_height,
        },
        "signatures": [signature.hex() for signature in tx.signatures],
    }


def tx_from_json(document: Any) -> SignedTx:
    """Either ``{"tx": hex}`` or the readable form → SignedTx (checked like the msgpack form).

    Shapes are checked by pydantic at the API edge first; this function re-checks what it relies on
    so that it is safe to call directly (client, tests).
    """
    if not isinstance(document, dict):
        raise ValidationError("a transaction document must be a JSON object")
    if set(document) == {"tx"}:
        return SignedTx.decode(_hex(document["tx"], "tx"))
    if set(document) != {"body", "signatures"} or not isinstance(document["body"], dict):
        raise ValidationError('expected {"tx": hex} or {"body": {...}, "signatures": [...]}')
    body = document["body"]
    fields = ("chain_id", "contract", "method", "args", "signer_pubkeys", "nonce", "valid_until_height")
    unknown = set(body) - set(fields)
    if unknown:
        raise ValidationError(f"body: unknown fields {sorted(unknown)}")
    try:
        keys = body["signer_pubkeys"]
        signatures = document["signatures"]
        if not isinstance(keys, list) or not isinstance(signatures, list):
            raise ValidationError("signer_pubkeys and signatures must be arrays")
        wire = (
            body["chain_id"],
            body["contract"],
            body["method"],
            args_from_json(body["args"]),
            tuple(_hex(key, "signer_pubkeys") for key in keys),
            body["nonce"],
            body.get("valid_until_height", 0),
        )
    except KeyError as exc:
        raise ValidationError(f"body: missing field {exc.args[0]!r}") from exc
    tx_body = TxBody.from_wire(wire)
    return SignedTx.from_wire((tx_body.to_wire(), tuple(_hex(s, "signatures") for s in signatures)))


# --- blocks, receipts and certificates (what GET /v1/blocks and GET /v1/txs show) ----------------


def receipt_to_json(receipt: Receipt) -> dict[str, Any]:
    return {
        "status": receipt.status,
        "ok": receipt.ok,
        "error_code": receipt.error_code,
        "events": [
            {
                "contract": event.contract,
                "name": event.name,
                "subject": event.subject,
                "prev": list(event.prev.to_wire()) if event.prev else None,
                "data": args_to_json(event.data),
            }
            for event in receipt.events
        ],
    }


def certificate_to_json(certificate: CommitCertificate) -> dict[str, Any]:
    return {
        "height": certificate.height,
        "view": certificate.view,
        "block_hash": certificate.block_hash.hex(),
        "signatures": [
            {"validator_index": index, "signature": sig.hex()} for index, sig in certificate.signatures
        ],
    }


def header_to_json(header: Header) -> dict[str, Any]:
    return {
        "hash": header.hash_hex,
        "chain_id": header.chain_id,
        "height": header.height,
        "view": header.view,
        "timestamp_ms": header.timestamp_ms,
        "prev_hash": header.prev_hash.hex(),
        "tx_root": header.tx_root.hex(),
        "state_root": header.state_root.hex(),
        "history_root": header.history_root.hex(),
        "validators_hash": header.validators_hash.hex(),
        "policy_version": header.policy_version,
        "proposer": header.proposer,
    }


def block_to_json(block: Block, certificate: CommitCertificate | None) -> dict[str, Any]:
    """Header fields (+ ``hash``), ``tx_ids`` and ``certificate``: the ``GET /v1/blocks`` shape."""
    return {
        **header_to_json(block.header),
        "tx_ids": [tx.tx_id for tx in block.txs],
        "certificate": certificate_to_json(certificate) if certificate is not None else None,
    }


def tx_record_to_json(
    tx: SignedTx, receipt: Receipt | None, height: int | None, index: int | None
) -> dict[str, Any]:
    """The ``GET /v1/txs/{id}`` shape: pending (no receipt yet) or committed at (height, index)."""
    return {
        "tx_id": tx.tx_id,
        "status": "pending" if receipt is None else "committed",
        "height": height,
        "index": index,
        "receipt": receipt_to_json(receipt) if receipt is not None else None,
        "tx": tx_to_json(tx),
    }


def ledger_tx_json(ledger: Ledger, tx_id: bytes) -> dict[str, Any] | None:
    """``GET /v1/txs/{id}`` from a ledger: committed (with receipt), pending in the mempool, or None."""
    try:
        tx, receipt, height, index = ledger.store.tx(tx_id)
    except NotFoundError:
        pending = ledger.mempool.get(tx_id)
        return None if pending is None else tx_record_to_json(pending, None, None, None)
    return tx_record_to_json(tx, receipt, height, index)


def ledger_block_json(ledger: Ledger, height: int | None) -> dict[str, Any] | None:
    """``GET /v1/blocks/{height|latest}`` from a ledger (None: the head); the shape of :func:`block_to_json`."""
    height = ledger.height if height is None else height
    header = ledger.store.header(height)
    if header is None:
        return None
    certificate = ledger.store.certificate(height)
    return {
        **header_to_json(header),
        "tx_ids": ledger.tx_ids(height),
        "certificate": certificate_to_json(certificate) if certificate is not None else None,
    }
