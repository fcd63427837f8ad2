"""Driving one order by hand through the relay and the saga's steps, on the
functional tier's Chalice test client (shared by the saga and catalog tests)."""

from __future__ import annotations

import json
from typing import Any

from tests.support.builders import unique
from tests.support.functional_shop import Shop
from tests.support.lambda_events import sqs_event, stream_event

STEP_QUEUES = {
    "inventory_step": "InventoryQueueName",
    "payments_step": "PaymentsQueueName",
    "shipping_step": "ShippingQueueName",
    "notify_step": "NotifyQueueName",
    "analytics_step": "AnalyticsQueueName",
}


class Saga:
    """One order driven by hand through the relay and the saga's steps."""

    def __init__(self, shop: Shop, customer: str, order_id: str) -> None:
        self.shop = shop
        self.customer = customer
        self.order_id = order_id
        self.relayed = 0
        self.tap = shop.tap_bus({"source": ["eventshop.orders"], "detail": {"orderId": [order_id]}})

    def relay(self, *, with_marker: bool = False) -> list[str]:
        """Relay the events appended since the last call (the order's record
        as the stream shows it: its new image, and an old image at the version
        relayed last); return what went on the bus, each as the rules' SQS
        targets receive it (the EventBridge event)."""
        (item,) = self.shop.order_items(self.order_id, "ORDER")
        old = {"pk": item["pk"], "sk": item["sk"], "version": {"N": str(self.relayed)}}
        records, olds = [item], [old if self.relayed else None]
        if with_marker:
            # The table's stream also carries other items (a notification marker).
            marker = {"pk": item["pk"], "sk": {"S": "NOTIFIED#OrderPlaced"}, "at": {"N": "1"}}
            records, olds = [marker, *records], [None, *olds]
        response = self.shop.client.lambda_.invoke(
            "relay_order_events",
            stream_event(self.shop, records, "MODIFY" if self.relayed else "INSERT", olds),
        )
        assert response.payload is None
        self.relayed = int(item["version"]["N"])
        return [m["Body"] for m in self.shop.drain(self.tap)]

    def step(self, name: str, bodies: list[str]) -> dict[str, Any]:
        event, _ = sqs_event(self.shop, STEP_QUEUES[name], bodies)
        payload = self.shop.client.lambda_.invoke(name, event).payload
        assert isinstance(payload, dict)
        return payload

    def order(self) -> dict[str, Any]:
        response = self.shop.call(
            "GET", f"/orders/{self.order_id}", headers=self.shop.auth(self.customer)
        )
        assert response.status_code == 200, response.body
        return dict(response.json_body)

    def history(self) -> list[str]:
        response = self.shop.call(
            "GET", f"/orders/{self.order_id}/events", headers=self.shop.auth(self.customer)
        )
        return [e["type"] for e in response.json_body["items"]]


def detail(body: str) -> dict[str, Any]:
    """The order event an SQS body from a bus rule carries (the event's detail)."""
    event = json.loads(body)
    assert event["source"] == "eventshop.orders", event
    return dict(event["detail"])


def types(bodies: list[str]) -> list[str]:
    """Each body's event type, as the rules match it (its detail-type)."""
    found = [json.loads(b)["detail-type"] for b in bodies]
    assert found == [detail(b)["type"] for b in bodies]
    return found


def start(shop: Shop, items: list[tuple[str, int]], payment_token: str = "tok_ok") -> Saga:
    customer = unique("cust")
    response = shop.place_order(customer, items, payment_token=payment_token)
    assert response.status_code == 201, response.body
    return Saga(shop, customer, response.json_body["orderId"])


NO_FAILURES: dict[str, Any] = {"batchItemFailures": []}
