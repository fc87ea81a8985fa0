"""Pydantic (v2, ``extra="forbid"``) models of what the API accepts (STYLE.md habit 6).

They check *shapes* at the edge; :mod:`chain.types` still checks the canonical transaction itself.
Failures become :class:`~chain.errors.ValidationError` (400 problem+json naming the fields).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

import pydantic
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from chain.errors import ValidationError

HexKey = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")]
HexSignature = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{128}$")]
HexBytes = Annotated[str, Field(pattern=r"^([0-9a-fA-F]{2})*$")]
MAX_WAIT_S = 30.0
MAX_SYNC_BLOCKS = 1000


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TxHexRequest(Strict):
    """``{"tx": "<hex of canonical SignedTx bytes>"}``."""

    tx: HexBytes


class TxBodyJson(Strict):
    chain_id: StrictStr
    contract: StrictStr
    method: StrictStr
    args: dict[str, Any]
    signer_pubkeys: list[HexKey] = Field(min_length=1, max_length=8)
    nonce: StrictInt = Field(ge=1)
    valid_until_height: StrictInt = Field(default=0, ge=0)


class TxReadableRequest(Strict):
    """``{"body": {...}, "signatures": [hex, ...]}`` (see :mod:`chain.api.jsonwire`)."""

    body: TxBodyJson
    signatures: list[HexSignature] = Field(min_length=1, max_length=8)


class TxQuery(Strict):
    """Query of ``GET /v1/txs/{id}``: ``?wait=commit&timeout=<seconds ≤ 30>``."""

    wait: Literal["commit"] | None = None
    timeout: float = Field(default=10.0, gt=0, le=MAX_WAIT_S)


class SyncQuery(Strict):
    """Query of ``GET /v1/sync/blocks``: ``?from=&to=`` (inclusive, at most 1000 heights)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    from_height: int = Field(alias="from", ge=0)
    to_height: int = Field(alias="to", ge=0)

    @pydantic.model_validator(mode="after")
    def _range(self) -> SyncQuery:
        if self.to_height < self.from_height:
            raise ValueError("'to' must be >= 'from'")
        if self.to_height - self.from_height >= MAX_SYNC_BLOCKS:
            raise ValueError(f"at most {MAX_SYNC_BLOCKS} blocks per request")
        return self


class EmptyQuery(Strict):
    """Routes that take no query parameters refuse unknown ones."""


Model = TypeVar("Model", bound=BaseModel)


def parse(model: type[Model], data: Any) -> Model:
    """Validate ``data`` against ``model``; raise ValidationError listing every failing field."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        problems = []
        for error in exc.errors()[:5]:
            where = ".".join(str(part) for part in error["loc"]) or "body"
            problems.append(f"{where}: {error['msg']}")
        raise ValidationError("; ".join(problems)) from None


RENAMED = {"offset": "page or cursor", "limit": "per_page"}
"""Paging parameters of the past: refused with a 400 naming the new ones (ADR 0024)."""


def refuse_renamed(query: dict[str, str]) -> None:
    """A 400 ``renamed_parameter`` naming ``page``/``per_page`` when an old paging parameter is used."""
    old = sorted(name for name in RENAMED if name in query)
    if old:
        raise ValidationError(
            f"{' and '.join(old)}: listings page with page (from 1) and per_page, a filtered scan with cursor; "
            + ", ".join(f"{name} -> {RENAMED[name]}" for name in old) + " (ADR 0024)",
            code="renamed_parameter",
        )


def page_fields(total: int, page: int, per_page: int) -> dict[str, int | None]:
    """The paging fields of a position-addressed page (ADR 0024): ``page``, ``per_page``, ``pages``, ``next_page``."""
    pages = (total + per_page - 1) // per_page
    return {"page": page, "per_page": per_page, "pages": pages, "next_page": page + 1 if page < pages else None}


def refuse_page_in_scan(page: int) -> None:
    """``page`` addresses an unfiltered listing; a filtered scan continues from ``cursor`` (ADR 0024)."""
    if page != 1:
        raise ValidationError("page: a filtered listing is a bounded scan; continue it with cursor=<next_cursor>, "
                              "not page", code="invalid")
