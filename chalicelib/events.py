"""Domain event envelope and publishing.

The orders table's stream is the outbox: ``relay`` turns every appended order
event into an ``OrderEventMessage`` on the order-events topic, with the event
type as the message attribute the subscriptions filter on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict


class OrderEventMessage(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: str
    orderId: str  # noqa: N815
    customerId: str  # noqa: N815
    version: int
    at: str
    data: dict[str, Any]
    order: dict[str, Any]  # the order after this event (with the payment token until settled)


@dataclass(frozen=True)
class Message:
    body: str
    attributes: dict[str, str]
    subject: str | None = None


class Publisher(Protocol):
    def publish(self, topic_arn: str, messages: list[Message]) -> None: ...


def _plain(attr: dict[str, Any]) -> Any:
    """One DynamoDB stream attribute value (Lambda's JSON form) -> plain."""
    ((kind, value),) = attr.items()
    if kind == "S":
        return value
    if kind == "N":
        number = float(value)
        return int(number) if number.is_integer() else number
    if kind == "BOOL":
        return bool(value)
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: _plain(v) for k, v in value.items()}
    if kind == "L":
        return [_plain(v) for v in value]
    if kind in ("SS", "NS", "BS"):
        return list(value)
    return value


def image(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    return {k: _plain(v) for k, v in raw.items()} if raw else None


def order_event_messages(records: list[dict[str, Any]]) -> list[Message]:
    """The messages implied by a batch of orders-table stream records."""
    out = []
    for record in records:
        if record.get("eventName") != "INSERT":
            continue
        new = image(record.get("dynamodb", {}).get("NewImage"))
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
        )
        out.append(
            Message(
                body=message.model_dump_json(),
                attributes={"type": message.type, "orderId": message.orderId},
            )
        )
    return out


def alert_message(kind: str, subject: str, detail: dict[str, Any]) -> Message:
    return Message(
        body=json.dumps({"type": kind, **detail}), attributes={"type": kind}, subject=subject
    )
