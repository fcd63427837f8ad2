"""The outbox relay: the orders table's stream -> one message per appended event.

The stream is the outbox: an order write and the event it implies are one
write, so they can never disagree; this module only reads the stream records.
"""

from __future__ import annotations

from typing import Any

from chalicelib.orders.events import OrderEventMessage
from chalicelib.platform.dynamo import from_image
from chalicelib.platform.messaging import Message


def order_event_messages(records: list[dict[str, Any]]) -> list[Message]:
    """The messages implied by a batch of orders-table stream records."""
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
        attributes = {"type": message.type, "orderId": message.orderId}
        if message.correlationId:
            attributes["correlationId"] = message.correlationId
        out.append(Message(body=message.model_dump_json(exclude_none=True), attributes=attributes))
    return out
