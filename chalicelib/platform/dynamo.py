"""The one DynamoDB codec: items from the API and images from streams.

Numbers come back as ``Decimal`` from boto3's deserializer and become ``int``
exactly when integral (no detour through ``float``, which loses integers above
2**53); only fractional numbers become ``float``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from chalicelib.platform import aws

# The subclasses declare the calls they make; this module's own: ``batch_get``.
AWS_CALLS: frozenset[str] = frozenset({"dynamodb:BatchGetItem"})

# A BatchGetItem reads at most this many keys.
BATCH_GET_KEYS = 100

_ser = TypeSerializer()
_de = TypeDeserializer()


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set | frozenset):
        return [_plain(v) for v in value]
    return value


def _storable(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _storable(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_storable(v) for v in value]
    return value


def to_item(data: dict[str, Any]) -> dict[str, Any]:
    """Plain dict -> DynamoDB attribute map (None values are left out)."""
    return {k: _ser.serialize(_storable(v)) for k, v in data.items() if v is not None}


def value(v: Any) -> dict[str, Any]:
    return dict(_ser.serialize(_storable(v)))


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(_de.deserialize(v)) for k, v in item.items()}


def from_image(image: dict[str, Any] | None) -> dict[str, Any] | None:
    """A stream record's ``NewImage``/``OldImage`` (the same attribute-value
    JSON as an item) as a plain dict, or None when the record has none."""
    return from_item(image) if image else None


def cancellation_codes(exc: BaseException) -> list[str]:
    response = getattr(exc, "response", None) or {}
    return [str(r.get("Code", "None")) for r in response.get("CancellationReasons", [])]


@dataclass(frozen=True)
class Joint:
    """TransactWriteItems entries one context's adapter makes for another's
    to commit with its own write, all or nothing (the stock an order's
    StockReserved takes, written with the order's record). The services pass
    it along unread."""

    items: tuple[dict[str, Any], ...]


class DynamoTable:
    """Base of the DynamoDB adapters: one table, and the container's shared
    client unless a test passes its own."""

    def __init__(self, table: str, client: Any | None = None) -> None:
        self.table = table
        self._client = client

    @property
    def ddb(self) -> Any:
        return self._client or aws.client("dynamodb")

    def batch_get(
        self, keys: list[dict[str, Any]], consistent: bool = True
    ) -> list[dict[str, Any]]:
        """The items of ``keys`` (DynamoDB keys of this table), strongly
        consistent unless told otherwise, BATCH_GET_KEYS per request, the
        unprocessed ones asked again; absent items are left out, the rest in
        no given order."""
        found: list[dict[str, Any]] = []
        pending = list(keys)
        with aws.translate():
            while pending:
                chunk, pending = pending[:BATCH_GET_KEYS], pending[BATCH_GET_KEYS:]
                request: dict[str, Any] = {
                    self.table: {"Keys": chunk, "ConsistentRead": consistent}
                }
                while request:
                    response = self.ddb.batch_get_item(RequestItems=request)
                    found += response.get("Responses", {}).get(self.table, [])
                    request = response.get("UnprocessedKeys") or {}
        return found
