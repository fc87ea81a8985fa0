"""Structured logs: ``node.py run --log-format json`` writes one JSON object per line (ADR 0024).

Each line has ``ts`` (RFC 3339, UTC, milliseconds), ``level``, ``logger``, ``msg`` (the formatted
message) and ``fields``: the message's ``key=value`` pairs (the house style, ``event=block_rejected
height=7``; integers as numbers) merged with any ``extra={...}`` the call passed; ``exc`` carries a
traceback when there is one. Log shippers (Loki, Elasticsearch, Cloud Logging) read it without a parser.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

PAIR = re.compile(r"(?<![\w.])([A-Za-z_][A-Za-z0-9_]*)=(\"[^\"]*\"|\S+)")
STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


def _value(text: str) -> Any:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    if re.fullmatch(r"-?\d{1,18}", text):
        return int(text)
    return text


def message_fields(message: str) -> dict[str, Any]:
    """The ``key=value`` pairs of a log message (``a=1 b="x y"`` -> ``{"a": 1, "b": "x y"}``)."""
    return {key: _value(value) for key, value in PAIR.findall(message)}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        fields = message_fields(message)
        for key, value in vars(record).items():
            if key not in STANDARD and not key.startswith("_"):
                fields[key] = value if isinstance(value, str | int | float | bool | type(None)) else repr(value)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        document: dict[str, Any] = {
            "ts": f"{stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": message,
            "fields": fields,
        }
        if record.exc_info:
            document["exc"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False, default=str)
