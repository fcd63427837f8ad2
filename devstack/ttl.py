"""DynamoDB Time to Live, which moto records but never enforces.

Inside the emulator, ``reap(now)`` deletes every item whose TTL attribute is
past ``now`` (epoch seconds, the stack's clock, which tests can advance) from
each table whose TTL is ENABLED, as DynamoDB's background process does:

- the attribute is the table's ``TimeToLiveSpecification.AttributeName``; an
  item without it, or whose value is not a Number, is never deleted, nor is
  one that expired more than five years ago (AWS ignores those too);
- each deletion is a normal delete (indexes, and a REMOVE stream record with
  ``Keys`` and ``OldImage`` per the stream's view type) whose stream record
  also carries ``userIdentity`` = ``{"Type": "Service", "PrincipalId":
  "dynamodb.amazonaws.com"}``, as on AWS; GetRecords returns it (the event
  sources turn it into Lambda's lowercase ``type``/``principalId``).

The event sources call it over a devstack-only route of the emulator,
``POST /_devstack/dynamodb/ttl`` with ``{"now": <epoch seconds>}``, answered
inside the emulator's request lock and outside AWS's API: no AWS client has
such an operation, so none is faked into moto's DynamoDB.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

ROUTE = "/_devstack/dynamodb/ttl"
TTL_IDENTITY = {"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"}
# "The TTL attribute value must be a datetimestamp with an expiration of no
# more than five years in the past" (DynamoDB Developer Guide).
FIVE_YEARS = 5 * 365 * 24 * 3600

WSGIApp = Any


def expired(item: Any, attribute: str, now: float) -> bool:
    """Whether TTL deletes this moto ``Item`` at ``now``."""
    value = item.attrs.get(attribute)
    if value is None or value.type != "N":
        return False
    try:
        at = Decimal(str(value.value))
    except InvalidOperation:
        return False
    return Decimal(now) - FIVE_YEARS <= at < Decimal(now)


def reap_table(table: Any, now: float) -> int:
    """Delete ``table``'s expired items (a moto ``Table``); how many."""
    if table.ttl.get("TimeToLiveStatus") != "ENABLED" or not table.ttl.get("AttributeName"):
        return 0
    attribute = str(table.ttl["AttributeName"])
    doomed = [item for item in table.all_items() if expired(item, attribute, now)]
    for item in doomed:
        shard = table.stream_shard
        before = len(shard.items) if shard is not None else 0
        table.delete_item(item.hash_key, item.range_key)
        if shard is not None:
            for record in shard.items[before:]:
                record.record["userIdentity"] = dict(TTL_IDENTITY)
    return len(doomed)


def reap(now: float, backends: Iterable[Any] | None = None) -> dict[str, int]:
    """Reap every table of ``backends`` (default: every DynamoDB backend moto
    holds, any account and region); the tables' ARNs -> items deleted."""
    if backends is None:
        from moto.dynamodb.models import dynamodb_backends

        backends = [backend for _, _, backend in dynamodb_backends.iter_backends()]
    deleted: dict[str, int] = {}
    for backend in backends:
        for table in list(backend.tables.values()):
            n = reap_table(table, now)
            if n:
                deleted[str(table.table_arn)] = n
    return deleted


def _reply(start_response: Any, status: str, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]


def with_ttl_route(app: WSGIApp) -> WSGIApp:
    """``app`` with ``POST /_devstack/dynamodb/ttl`` answered by ``reap``;
    wrap it in the emulator's lock, like every other request."""

    def call(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != ROUTE:
            return app(environ, start_response)  # type: ignore[no-any-return]
        if environ.get("REQUEST_METHOD") != "POST":
            return _reply(start_response, "405 Method Not Allowed", {"message": "POST only"})
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = json.loads(environ["wsgi.input"].read(length) or b"{}")
            now = float(body["now"])
        except (KeyError, TypeError, ValueError) as exc:
            return _reply(start_response, "400 Bad Request", {"message": f"need now: {exc}"})
        return _reply(start_response, "200 OK", {"deleted": reap(now)})

    return call
