"""registry: the optional content layout (chunk_root, chunk_size) of issue 14 / ADR 0018."""

from __future__ import annotations

from typing import Any

import pytest

from chain.contracts import queries
from chain.dataplane import chunks
from testkit.contracts import BUYER, OWNER, REGISTRAR, port_chain, register_args, register_asset

DATA = bytes(range(256)) * 40
SUMMARY = chunks.summarize([DATA], 1024)


def _record(chain: Any, asset_id: str) -> dict[str, Any]:
    record = queries.asset(chain.get, asset_id)
    assert record is not None
    return record


def test_layout_at_registration() -> None:
    chain = port_chain()
    asset_id = register_asset(chain, DATA, chunk_root=SUMMARY.chunk_root, chunk_size=1024)
    record = _record(chain, asset_id)
    assert record["chunk_root"] == SUMMARY.chunk_root.hex() and record["chunk_size"] == 1024
    assert record["size"] == len(DATA)


def test_registration_without_layout_leaves_the_keys_absent() -> None:
    chain = port_chain()
    record = _record(chain, register_asset(chain, DATA))
    assert "chunk_root" not in record and "chunk_size" not in record


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"chunk_root": SUMMARY.chunk_root}, "bad_layout"),
        ({"chunk_size": 1024}, "bad_layout"),
        ({"chunk_root": SUMMARY.chunk_root, "chunk_size": 3000}, "bad_layout"),
        ({"chunk_root": SUMMARY.chunk_root, "chunk_size": 512}, "out_of_range"),
        ({"chunk_root": b"short", "chunk_size": 1024}, "bad_length"),
    ],
)
def test_bad_layout_at_registration_is_refused(overrides: dict[str, Any], code: str) -> None:
    chain = port_chain()
    receipt = chain.submit("registry", "register", register_args(DATA, **overrides), [REGISTRAR, OWNER])
    assert not receipt.ok and receipt.error_code.startswith(code), receipt.error_code
    assert chain.height == 1 and queries.asset_id_by_content(chain.get, SUMMARY.content_hash) is None


def test_owner_sets_layout_once_later() -> None:
    chain = port_chain()
    asset_id = register_asset(chain, DATA)
    args = {"asset_id": asset_id, "chunk_root": SUMMARY.chunk_root, "chunk_size": 1024}
    refused = chain.submit("registry", "set_content_layout", args, [BUYER])
    assert not refused.ok and refused.error_code in ("not_owner", "unknown_member")
    assert "chunk_root" not in _record(chain, asset_id)
    receipt = chain.submit("registry", "set_content_layout", args, [OWNER])
    assert receipt.ok, receipt.error_code
    assert receipt.events[0].name == "content_layout"
    record = _record(chain, asset_id)
    assert record["chunk_root"] == SUMMARY.chunk_root.hex() and record["last_event"]["height"] == chain.height
    again = chain.submit("registry", "set_content_layout", {**args, "chunk_size": 2048}, [OWNER])
    assert not again.ok and again.error_code == "layout_already_set"
    assert _record(chain, asset_id)["chunk_size"] == 1024
