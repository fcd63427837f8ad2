"""The outbox relay: the orders table's stream -> one bus event per appended event.

The stream is the outbox: an order's state and the events that changed it
are one record (``orders.record``), written in one conditional write, so
they can never disagree; this module only reads the stream records: the
events a record's new image has past its old image's version.
"""

from __future__ import annotations

from typing import Any

from chalicelib.orders import record
from chalicelib.orders.events import OrderEventMessage
from chalicelib.platform.dynamo import from_image
from chalicelib.platform.messaging import BusEvent

SOURCE = "eventshop.orders"  # the orders context's events on the domain bus


def order_bus_events(records: list[dict[str, Any]]) -> list[tuple[BusEvent, OrderEventMessage]]:
    """The bus events implied by a batch of orders-table stream records, each
    with the event it carries."""
    out = []
    for r in records:
        if r.get("eventName") not in ("INSERT", "MODIFY"):
            continue
        images = r.get("dynamodb", {})
        new = from_image(images.get("NewImage"))
        if not new or new.get("sk") != "ORDER" or "history" not in new:
            continue
        for message in record.appended(from_image(images.get("OldImage")), new):
            detail = message.model_dump_json(exclude_none=True)
            out.append((BusEvent(SOURCE, message.type, detail), message))
    return out
