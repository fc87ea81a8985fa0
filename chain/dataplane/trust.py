"""The content layout a recipient relies on, proved rather than told (ADR 0018 §12; DESIGN.md §4, §9).

A recipient checks every chunk against ``chunk_root`` and the assembled file against ``content_hash``
— so those values, and which asset a transfer moves, must not come from the exporting node's word.
:func:`proved_layout` asks the node for the asset's provenance bundle (``GET /v1/assets/{id}/proof``)
and verifies it with :class:`chain.proofs.verify.Verifier`, trusting only the genesis file: the validator
set from genesis, the certified header's CommitCertificate, the state proof of the asset record
against that header's ``state_root``, and the record's complete hash-linked event chain. The
transfer is bound to the asset by that chain: its ``crossborder.request`` transaction (whose hash
names the transfer, :func:`chain.crossborder.contract.transfer_id_for`) must be one of the proved
events. A node that lies about the record, the layout or the transfer's asset fails one of these
checks (:class:`~chain.errors.ProofError`) before a byte of data is requested.

:func:`told_layout` is the same answer read from the node's JSON, for callers that hold no genesis
file; it trusts the node.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chain.client import Client
from chain.crossborder.contract import transfer_id_for
from chain.dataplane import chunks
from chain.dataplane.store import check_asset_id
from chain.errors import ProofError, ValidationError
from chain.genesis import GenesisDoc
from chain.proofs.verify import Verifier


@dataclass(frozen=True)
class Layout:
    """What a fetch verifies the data against."""

    transfer_id: str
    asset_id: str
    content_hash: bytes
    chunk_root: bytes
    chunk_size: int
    size: int
    certified_height: int | None
    """Height of the certified header the layout was proved against; None when told by the node."""

    @property
    def chunk_count(self) -> int:
        return chunks.chunk_count(self.size, self.chunk_size)


def _layout(transfer_id: str, record: dict[str, Any], certified_height: int | None) -> Layout:
    asset_id = str(record["id"])
    if record.get("chunk_root") is None:
        raise ValidationError(f"asset {asset_id} has no chunk layout on chain", code="no_layout")
    values = (record["content_hash"], record["chunk_root"])
    content_hash, chunk_root = (bytes.fromhex(v) if isinstance(v, str) else bytes(v) for v in values)
    return Layout(transfer_id, asset_id, content_hash, chunk_root, chunks.check_chunk_size(int(record["chunk_size"])),
                  int(record["size"]), certified_height)


def _asset_named_by(client: Client, transfer_id: str) -> str:
    """The asset the node says the transfer moves (only a hint: which bundle to ask for)."""
    return check_asset_id(str(client.transfer(transfer_id).get("asset_id")))


def told_layout(client: Client, transfer_id: str) -> Layout:
    """The layout as the node's JSON states it (trusts the node)."""
    return _layout(transfer_id, client.asset(_asset_named_by(client, transfer_id)), None)


def proved_layout(client: Client, transfer_id: str, genesis: GenesisDoc | dict[str, Any]) -> Layout:
    """The layout proved from genesis by the asset's provenance bundle; ProofError if anything fails."""
    asset_id = _asset_named_by(client, transfer_id)
    verified = Verifier(genesis).verify_text(client.asset_proof_text(asset_id))
    if verified.subject != asset_id:
        raise ProofError(f"the node answered with the bundle of asset {verified.subject[:16]}…, not {asset_id[:16]}…")
    requested = [
        tx for tx, receipt in verified.txs.values()
        if receipt.ok and (tx.body.contract, tx.body.method) == ("crossborder", "request")
        and transfer_id_for(tx.tx_hash) == transfer_id
    ]
    if not requested:
        raise ProofError(f"transfer {transfer_id[:16]}… is not in the proved history of asset {asset_id[:16]}…: "
                         "the node named the wrong asset for it")
    return _layout(transfer_id, verified.details["record"], verified.certified.height)
