"""The outbox relay: the orders table's stream -> one bus event per appended event.

The stream is the outbox: an order write and the event it implies are one
write, so they can never disagree; this module only reads the stream records.
"""

from __future__ import annotations

from typing import Any

from chalicelib.orders.events import OrderEventMessage
from chalicelib.platform.dynamo import from_image
from chalicelib.platform.messaging import BusEvent

SOURCE = "eventshop.orders"  # the orders context's events on the domain bus


def order_bus_events(records: list[dict[str, Any]]) -> list[tuple[BusEvent, OrderEventMessage]]:
    """The bus events implied by a batch of orders-table stream records, each
    with the event it carries."""
    out = []
    for record in records:
        if record.get("eventName") != "INSERT":
            continue
        new = from_image(record.get("dynamodb", {}).get("NewImage"))
        if not new or not str(new.get("sk", "")).startswith("EVENT#"):
            continue
        message = OrderEventMessage(
            type=new["type"],
            orderId=new["orderId"],
            customerId=new["customerId"],
            version=new["version"],
            at=new["at"],
            data=new.get("data") or {},
            order=new.get("snapshot") or {},
            correlationId=new.get("correlationId"),
        )
        detail = message.model_dump_json(exclude_none=True)
        out.append((BusEvent(SOURCE, message.type, detail), message))
    return out
