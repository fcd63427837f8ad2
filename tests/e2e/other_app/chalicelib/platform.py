"""Where every handler leaves its mark: one item per effect in the marks table.

``chalicelib.platform`` is a package in eventshop; here it is a module, so a
handler that got eventshop's would fail on ``mark`` or report its path."""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

import boto3

ORIGIN = __file__
_table: Any = None


def mark(kind: str, **data: Any) -> None:
    """Record that a handler of ``kind`` ran, with what it saw and this module's path."""
    global _table
    if _table is None:
        _table = boto3.resource("dynamodb").Table(os.environ["MARKS_TABLE_NAME"])
    _table.put_item(
        Item={
            "kind": kind,
            "at": f"{time.time_ns()}-{uuid.uuid4().hex[:6]}",
            "origin": ORIGIN,
            **{k: str(v) for k, v in data.items()},
        }
    )
