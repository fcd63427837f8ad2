"""The order saga end to end, in memory: the real services and steps over the
fakes, with bus events made the way the relay makes them (stream records in
Lambda's JSON form -> ``order_bus_events``) and routed to the steps by the
event bus rules of ``infra/resources.yaml``, each delivered as the rule's
SQS target receives it (the EventBridge event, the envelope its ``detail``)."""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer
from chalice.app import SQSEvent

from chalicelib.analytics.service import AnalyticsService
from chalicelib.catalog.model import MAX_STOCK, Product
from chalicelib.catalog.service import CatalogService
from chalicelib.checkout import saga
from chalicelib.checkout.shipping import SimulatedCarrier
from chalicelib.orders.consuming import sqs_batch
from chalicelib.orders.events import OrderEventMessage, read_message
from chalicelib.orders.model import EventType, Order, OrderStatus
from chalicelib.orders.notifications import MILESTONES, CustomerNotifier
from chalicelib.orders.relay import order_bus_events
from chalicelib.orders.service import OrderService
from chalicelib.payments import events as payment_events
from chalicelib.payments.events import PaymentProviderEvent, ProviderEventKind
from chalicelib.payments.model import ChargeResult
from chalicelib.payments.service import PaymentService
from chalicelib.platform import errors
from chalicelib.platform.messaging import BusEvent, Message
from devstack import template
from tests.support.fakes import (
    FakeAlerts,
    FakeAnalyticsRepository,
    FakeBus,
    FakeCatalogRepository,
    FakeOrderRepository,
    FakePaymentRepository,
    FakeProvider,
    FakePublisher,
)

ROOT = Path(__file__).resolve().parents[3]
NOTIFICATIONS = "arn:aws:sns:us-east-1:123456789012:eventshop-test-customer-notifications"
ADDRESS = {
    "name": "Ada",
    "line1": "1 Main St",
    "city": "Berlin",
    "postalCode": "10115",
    "country": "DE",
}
_ser = TypeSerializer()


@dataclass(frozen=True)
class Who:
    sub: str
    is_admin: bool = False


def bus_rules() -> dict[str, frozenset[str]]:
    """Queue logical id -> the order event types its bus rule delivers to it."""
    resources = template.load(ROOT / "infra" / "resources.yaml")["Resources"]
    routes = {}
    for res in resources.values():
        props = res.get("Properties", {})
        if res["Type"] != "AWS::Events::Rule" or "eventshop.orders" not in props.get(
            "EventPattern", {}
        ).get("source", []):
            continue
        (target,) = props["Targets"]
        queue = target["Arn"]["Fn::GetAtt"][0]
        routes[queue] = frozenset(props["EventPattern"]["detail-type"])
    return routes


ROUTES = bus_rules()


def _storable(value: Any) -> Any:
    # What dynamo.to_item stores: no None values, floats as Decimal.
    if isinstance(value, dict):
        return {k: _storable(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_storable(v) for v in value]
    if isinstance(value, float):
        return Decimal(str(value))
    return value


def stream_record(
    event_name: str, item: dict[str, Any], seq: int, old: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One orders-table stream record as Lambda receives it."""
    new_image = {k: _ser.serialize(v) for k, v in _storable(item).items()}
    images = {"NewImage": new_image}
    if old is not None:
        images["OldImage"] = {k: _ser.serialize(v) for k, v in _storable(old).items()}
    return {
        "eventID": f"ev{seq}",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "Keys": {"pk": new_image["pk"], "sk": new_image["sk"]},
            **images,
            "SequenceNumber": str(seq),
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }


def bus_body(event: BusEvent) -> str:
    """What a bus rule's SQS target receives: the whole EventBridge event."""
    return json.dumps(
        {
            "version": "0",
            "id": f"ev-{abs(hash(event.detail))}",
            "detail-type": event.detail_type,
            "source": event.source,
            "account": "123456789012",
            "time": "2025-01-01T00:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": json.loads(event.detail),
        }
    )


def sqs_event(messages: Sequence[BusEvent | Message]) -> SQSEvent:
    """Bus events as their rule's queue delivers them; messages as they are."""
    records = [
        {
            "messageId": f"m{i}",
            "receiptHandle": f"r{i}",
            "body": bus_body(m) if isinstance(m, BusEvent) else m.body,
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
        }
        for i, m in enumerate(messages)
    ]
    return SQSEvent({"Records": records}, context=None)


class Shop:
    """The whole saga wired over fakes; ``relay`` and ``deliver`` stand in for
    the stream, SNS and SQS."""

    def __init__(self, stock: dict[str, int]) -> None:
        ticks = itertools.count()
        self.clock = lambda: f"2025-01-01T00:00:{next(ticks):02d}.000Z"
        self.order_repo = FakeOrderRepository()
        self.inventory_repo = FakeCatalogRepository()
        for sku, count in stock.items():
            self.inventory_repo.put(
                Product(
                    sku=sku,
                    name=sku,
                    priceCents=250,
                    stock=count,
                    lowStockThreshold=0,
                    updatedAt="t0",
                )
            )
        self.alerts = FakeAlerts()
        self.inventory = CatalogService(self.inventory_repo, self.alerts, clock=self.clock)
        self.orders = OrderService(self.order_repo, self.inventory, clock=self.clock)
        self.provider = FakeProvider()
        self.payment_repo = FakePaymentRepository()
        self.payments = PaymentService(self.payment_repo, self.provider)
        self.publisher = FakePublisher()
        self.bus = FakeBus()
        self.notifier = CustomerNotifier(
            self.order_repo,
            lambda messages: self.publisher.publish(
                NOTIFICATIONS,
                [Message(body=b, attributes=a, subject=s) for s, b, a in messages],
            ),
        )
        self.analytics = AnalyticsService(FakeAnalyticsRepository())
        self.steps: dict[str, Callable[[OrderEventMessage], object]] = {
            "InventoryQueue": lambda m: saga.reserve_or_release(m, self.orders, self.inventory),
            "PaymentsQueue": lambda m: saga.payments_step(m, self.orders, self.payments),
            "ShippingQueue": lambda m: saga.ship(m, self.orders, SimulatedCarrier()),
            "NotifyQueue": self._notify,
            "AnalyticsQueue": self.analytics.apply,
        }
        self._relayed = 0

    # -- plumbing

    def _notify(self, message: OrderEventMessage) -> None:
        self.notifier.notify(message.type, message.order)

    def relay(self) -> list[BusEvent]:
        """The stream relay: new stream records -> events on the bus."""
        stream = self.order_repo.stream()
        records = [
            stream_record(name, item, seq, old)
            for seq, (name, old, item) in enumerate(stream[self._relayed :], self._relayed)
        ]
        self._relayed = len(stream)
        events = [bus_event for bus_event, _ in order_bus_events(records)]
        self.bus.put(events)
        return events

    def deliver(self, message: BusEvent, times: int = 1, only: str | None = None) -> None:
        """The bus's rules, then each queue's SQS handler; after every
        delivery, CANCELLED must be the whole truth."""
        for queue, types in ROUTES.items():
            if message.detail_type in types and only in (None, queue):
                read: Callable[[dict[str, Any]], Any] = (
                    saga.read_payments if queue == "PaymentsQueue" else read_message
                )
                for _ in range(times):
                    result = sqs_batch(sqs_event([message]), self.steps[queue], read=read)
                    assert result == {"batchItemFailures": []}
                    self.check_cancelled_means_done()

    def check_cancelled_means_done(self) -> None:
        """A CANCELLED order holds no stock (it was given back, or never
        taken; and a late OrderPlaced takes none: the order is not PLACED)
        and every capture went back; a CANCELLING one may still hold either."""
        for order_id in self.order_repo.all_order_ids():
            order = self.orders.current(order_id)
            if order.status is OrderStatus.CANCELLED:
                assert order.stockReleased and not order.stockHeld, order_id
                assert self.provider.captures(order_id) == self.provider.refunds(order_id)

    def run(self, times: int = 1) -> list[str]:
        """Relay and deliver until nothing new happens; the event types seen."""
        seen = []
        while messages := self.relay():
            for message in messages:
                seen.append(message.detail_type)
                self.deliver(message, times)
        return seen

    # -- shortcuts
    def pay(self, order_id: str) -> None:
        """Reserve and capture, but leave the capture unshipped: PAID."""
        for _ in range(2):
            for message in self.relay():
                self.deliver(message, only="InventoryQueue")
                self.deliver(message, only="PaymentsQueue")
        assert self.status(order_id) is OrderStatus.PAID

    def place(self, token: str = "tok_ok", **lines: int) -> Order:
        items = [{"sku": sku, "quantity": q} for sku, q in lines.items()]
        order, _ = self.orders.place(
            "ada", {"items": items, "paymentToken": token, "shippingAddress": ADDRESS}
        )
        return order

    def history(self, order_id: str) -> list[str]:
        return [str(e.type) for e in self.order_repo.events(order_id)]

    def stock(self, sku: str) -> int:
        return self.inventory.get(sku).stock

    def status(self, order_id: str) -> OrderStatus:
        return self.orders.current(order_id).status

    def notifications(self) -> list[str]:
        return [json.loads(m.body)["type"] for m in self.publisher.messages(NOTIFICATIONS)]


def types_of(messages: list[BusEvent]) -> list[str]:
    return [m.detail_type for m in messages]


# --- the relay ---------------------------------------------------------------------


def test_the_relay_publishes_each_appended_event_with_its_snapshot() -> None:
    shop = Shop({"A": 5})
    order = shop.place(A=2)

    messages = shop.relay()

    assert types_of(messages) == ["OrderPlaced"]  # the order and stream items are skipped
    assert (messages[0].source, messages[0].detail_type) == ("eventshop.orders", "OrderPlaced")
    msg = OrderEventMessage.model_validate_json(messages[0].detail)
    assert (msg.orderId, msg.customerId, msg.version) == (order.orderId, "ada", 1)
    assert msg.order["paymentToken"] == "tok_ok"
    assert msg.order["totalCents"] == 500
    assert msg.data["items"][0]["lineTotalCents"] == 500
    assert shop.relay() == []


# --- the happy path --------------------------------------------------------------


def test_a_whole_order_step_by_step() -> None:
    shop = Shop({"A": 5, "B": 1})
    order = shop.place(A=2, B=1)
    oid = order.orderId

    placed = shop.relay()
    shop.deliver(placed[0], only="InventoryQueue")
    assert shop.status(oid) is OrderStatus.RESERVED
    assert (shop.stock("A"), shop.stock("B")) == (3, 0)

    reserved = shop.relay()
    assert types_of(reserved) == ["StockReserved"]
    reserved_msg = OrderEventMessage.model_validate_json(reserved[0].detail)
    assert reserved_msg.order["paymentToken"] == "tok_ok"  # the payments step needs it
    shop.deliver(reserved[0])
    assert shop.status(oid) is OrderStatus.PAID
    assert shop.provider.captures(oid) == 1
    assert shop.order_repo.payment_token(oid) is None  # settled: the token is gone

    captured = shop.relay()
    assert types_of(captured) == ["PaymentCaptured"]
    assert "paymentToken" not in OrderEventMessage.model_validate_json(captured[0].detail).order
    shop.deliver(captured[0])

    assert types_of(shop.relay()) == ["OrderShipped", "OrderCompleted"]
    done = shop.orders.current(oid)
    assert done.status is OrderStatus.COMPLETED
    assert done.trackingNumber == SimulatedCarrier().ship(oid)
    assert shop.history(oid) == [
        "OrderPlaced",
        "StockReserved",
        "PaymentCaptured",
        "OrderShipped",
        "OrderCompleted",
    ]
    assert shop.orders.replay(oid) == []


def test_the_whole_order_through_every_subscription() -> None:
    shop = Shop({"A": 5})
    order = shop.place(A=1)

    seen = shop.run()

    assert seen == [
        "OrderPlaced",
        "StockReserved",
        "PaymentCaptured",
        "OrderShipped",
        "OrderCompleted",
    ]
    assert shop.status(order.orderId) is OrderStatus.COMPLETED
    assert shop.notifications() == [
        "OrderPlaced",
        "PaymentCaptured",
        "OrderShipped",
        "OrderCompleted",
    ]


def test_every_step_delivered_twice_gives_the_same_result() -> None:
    once, twice = Shop({"A": 5}), Shop({"A": 5})
    first, second = once.place(A=2), twice.place(A=2)

    assert twice.run(times=2) == once.run(times=1)

    assert twice.history(second.orderId) == once.history(first.orderId)
    assert twice.stock("A") == once.stock("A") == 3
    assert twice.provider.captures(second.orderId) == 1
    # a redelivered StockReserved asks the provider again, which is idempotent
    assert twice.provider.charge_calls <= 2
    assert twice.notifications() == once.notifications()
    assert twice.orders.current(second.orderId).trackingNumber == SimulatedCarrier().ship(
        second.orderId
    )


def test_a_step_redelivered_after_the_saga_moved_on_changes_nothing() -> None:
    shop = Shop({"A": 5})
    order = shop.place(A=2)
    shop.run()
    for message in shop.bus.events:
        shop.deliver(message)

    assert shop.relay() == []
    assert len(shop.history(order.orderId)) == 5
    assert shop.stock("A") == 3
    assert shop.provider.captures(order.orderId) == 1


@pytest.mark.parametrize("end", ["PAID", "COMPLETED", "CANCELLED"])
def test_a_late_stock_reserved_after_its_claim_expired_charges_nothing(end: str) -> None:
    """Claims carry a TTL: once DynamoDB deleted one, a redelivered (or
    redriven) StockReserved must still not reach the provider."""
    shop = Shop({"A": 5})
    order = shop.place(A=1)
    if end == "PAID":
        shop.pay(order.orderId)
    elif end == "COMPLETED":
        shop.run()
    else:
        shop.orders.cancel(order.orderId, Who("ada"))
        shop.run()
    assert shop.status(order.orderId) == end
    reserved = [m for m in shop.bus.events if m.detail_type == "StockReserved"]
    shop.payment_repo._records.clear()  # the TTL deleted every claim
    calls: list[str] = []
    charge = shop.provider.charge

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append("charge")
        return charge(*args, **kwargs)

    shop.provider.charge = counted  # type: ignore[method-assign]
    for message in reserved:
        shop.deliver(message, only="PaymentsQueue")
    assert calls == []
    assert shop.status(order.orderId) == end
    assert shop.provider.captures(order.orderId) == (0 if end == "CANCELLED" else 1)


# --- unhappy paths ---------------------------------------------------------------


def test_a_declined_payment_releases_the_stock() -> None:
    shop = Shop({"A": 5})
    order = shop.place(token="tok_declined", A=2)

    seen = shop.run(times=2)

    assert seen == [
        "OrderPlaced",
        "StockReserved",
        "PaymentDeclined",
        "StockReleased",
        "CancellationCompleted",
    ]
    final = shop.orders.current(order.orderId)
    assert final.status is OrderStatus.CANCELLED
    assert final.reason == "payment declined: card declined"
    assert final.stockReleased
    assert shop.stock("A") == 5
    assert shop.provider.captures(order.orderId) == 0
    released = shop.order_repo.events(order.orderId)[-2]
    assert released.type is EventType.STOCK_RELEASED
    assert released.data == {"lines": [{"sku": "A", "quantity": 2}]}
    assert shop.notifications() == ["OrderPlaced", "CancellationCompleted"]


def test_a_flaky_provider_is_retried_by_redelivery() -> None:
    shop = Shop({"A": 5})
    order = shop.place(token="tok_flaky", A=1)
    shop.deliver(shop.relay()[0])
    reserved = shop.relay()[0]

    for _ in range(2):
        result = sqs_batch(sqs_event([reserved]), shop.steps["PaymentsQueue"])
        assert result == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    shop.deliver(reserved)

    assert shop.status(order.orderId) is OrderStatus.PAID
    assert shop.provider.captures(order.orderId) == 1


def test_short_stock_rejects_and_alerts_once() -> None:
    shop = Shop({"A": 5, "B": 1})
    order = shop.place(A=1, B=2)

    seen = shop.run(times=2)

    assert seen == ["OrderPlaced", "OrderRejected"]
    rejected = shop.orders.current(order.orderId)
    assert (rejected.status, rejected.reason) == (OrderStatus.REJECTED, "insufficient stock: B")
    assert (shop.stock("A"), shop.stock("B")) == (5, 1)
    assert shop.alerts.sent == [
        (
            "LOW_STOCK",
            f"order {order.orderId} rejected: out of stock",
            {"orderId": order.orderId, "skus": ["B"]},
        )
    ]
    assert shop.notifications() == ["OrderPlaced", "OrderRejected"]


def test_a_redelivered_order_placed_of_a_rejected_order_takes_no_stock() -> None:
    shop = Shop({"A": 1})
    order = shop.place(A=2)
    placed = shop.relay()[0]
    shop.deliver(placed, only="InventoryQueue")
    assert shop.status(order.orderId) is OrderStatus.REJECTED

    shop.inventory.restock("A", {"quantity": 10})
    shop.deliver(placed, only="InventoryQueue")  # SQS delivers at least once

    assert shop.status(order.orderId) is OrderStatus.REJECTED
    assert shop.stock("A") == 11


def test_customer_cancel_at_reserved_releases_once_and_refunds_a_late_charge() -> None:
    shop = Shop({"A": 5})
    order = shop.place(A=2)
    shop.deliver(shop.relay()[0])
    reserved = shop.relay()
    assert types_of(reserved) == ["StockReserved"]

    shop.orders.cancel(order.orderId, Who("ada"))
    cancelled = shop.relay()
    shop.deliver(cancelled[0], times=2, only="InventoryQueue")
    # The payments step charges before it hears of the cancel: the charge
    # cannot be recorded on the cancelled order, so it is given back.
    shop.deliver(reserved[0], times=2)
    shop.deliver(cancelled[0], times=2)
    shop.run(times=2)

    final = shop.orders.current(order.orderId)
    assert (final.status, final.reason) == (OrderStatus.CANCELLED, "cancelled by the customer")
    assert shop.stock("A") == 5
    assert shop.history(order.orderId) == [
        "OrderPlaced",
        "StockReserved",
        "OrderCancelled",
        "StockReleased",
        "PaymentRefunded",
        "CancellationCompleted",
    ]
    assert shop.provider.captures(order.orderId) == shop.provider.refunds(order.orderId) == 1


def test_customer_cancel_at_reserved_voids_a_charge_not_yet_taken() -> None:
    shop = Shop({"A": 5})
    order = shop.place(A=2)
    shop.deliver(shop.relay()[0])
    reserved = shop.relay()[0]
    shop.orders.cancel(order.orderId, Who("ada"))
    cancelled = OrderEventMessage.model_validate_json(shop.relay()[0].detail)

    # The payments step hears of the cancel before it charges.
    saga.take_payment(cancelled, shop.orders, shop.payments)
    shop.deliver(reserved, times=2)
    saga.reserve_or_release(cancelled, shop.orders, shop.inventory)
    saga.reserve_or_release(cancelled, shop.orders, shop.inventory)

    assert shop.provider.charge_calls == 0
    assert shop.payment_repo.record(order.orderId) == {
        "pk": f"PAYMENT#{order.orderId}",
        "state": "VOIDED",
        "amountCents": 0,
    }
    assert shop.stock("A") == 5
    assert shop.history(order.orderId).count("StockReleased") == 1


def test_customer_cancel_when_paid_refunds_the_payment() -> None:
    shop = Shop({"A": 5})
    order = shop.place(A=2)
    shop.pay(order.orderId)

    shop.orders.cancel(order.orderId, Who("ada"))
    shop.run(times=2)

    assert shop.stock("A") == 5
    assert shop.history(order.orderId)[-4:] == [
        "OrderCancelled",
        "StockReleased",
        "PaymentRefunded",
        "CancellationCompleted",
    ]
    assert shop.provider.refunds(order.orderId) == 1
    assert shop.status(order.orderId) is OrderStatus.CANCELLED


def test_shipping_moves_no_stock_the_reservation_took_it() -> None:
    shop = Shop({"A": 5})
    order = shop.place(A=2)
    shop.run(times=4)
    assert shop.status(order.orderId) is OrderStatus.COMPLETED

    assert shop.stock("A") == 3
    assert not shop.orders.current(order.orderId).stockHeld


def test_a_release_past_the_maximum_sets_the_stock_to_it() -> None:
    """A restock to the maximum while an order holds units: the release gives
    back what fits and the order is still cancelled, with its StockReleased."""
    shop = Shop({"A": 5, "B": 5})
    order = shop.place(A=2, B=1)
    for message in shop.relay():
        shop.deliver(message, only="InventoryQueue")
    assert shop.status(order.orderId) is OrderStatus.RESERVED
    shop.inventory.restock("A", {"quantity": MAX_STOCK - 3})
    shop.orders.cancel(order.orderId, Who("ada"))
    shop.run(times=2)

    assert shop.status(order.orderId) is OrderStatus.CANCELLED
    assert (shop.stock("A"), shop.stock("B")) == (MAX_STOCK, 5)
    assert shop.history(order.orderId).count("StockReleased") == 1


def test_a_capture_heard_after_a_cancel_ships_nothing_and_the_stock_comes_back() -> None:
    """A PaymentCaptured reaching shipping once the order is CANCELLING must not
    mark its units gone: the release that follows would then give nothing back."""
    shop = Shop({"A": 5})
    order = shop.place(A=2)
    shop.pay(order.orderId)
    [captured] = shop.relay()
    capture_msg = OrderEventMessage.model_validate_json(captured.detail)
    assert capture_msg.type == "PaymentCaptured"
    shop.orders.cancel(order.orderId, Who("ada"))

    saga.ship(capture_msg, shop.orders, SimulatedCarrier())
    shop.run(times=2)

    assert shop.status(order.orderId) is OrderStatus.CANCELLED
    assert shop.stock("A") == 5


def test_the_payments_step_refunds_a_cancelled_order_it_is_told_about() -> None:
    shop = Shop({"A": 5})
    order = shop.place(A=1)
    shop.deliver(shop.relay()[0], only="InventoryQueue")
    shop.deliver(shop.relay()[0], only="PaymentsQueue")
    shop.orders.cancel(order.orderId, Who("ada"))
    cancelled = OrderEventMessage.model_validate_json(shop.relay()[-1].detail)
    assert cancelled.type == "OrderCancelled"

    saga.take_payment(cancelled, shop.orders, shop.payments)
    saga.take_payment(cancelled, shop.orders, shop.payments)

    assert shop.provider.refunds(order.orderId) == 1


def test_a_cancel_that_overtakes_the_reservation_takes_no_stock() -> None:
    shop = Shop({"A": 5})
    order = shop.place(A=3)
    placed = shop.relay()
    shop.orders.cancel(order.orderId, Who("ada"))
    cancelled = shop.relay()
    assert types_of(cancelled) == ["OrderCancelled"]

    shop.deliver(cancelled[0], times=2)  # processed before OrderPlaced
    shop.deliver(placed[0], times=2)
    shop.run(times=2)

    assert shop.stock("A") == 5
    assert not shop.orders.current(order.orderId).stockHeld
    # Cancelled while PLACED: no charge can start, so the stock is all there is to wait for.
    assert shop.history(order.orderId) == [
        "OrderPlaced",
        "OrderCancelled",
        "StockReleased",
        "CancellationCompleted",
    ]
    assert shop.order_repo.events(order.orderId)[-2].data == {"lines": []}
    assert shop.provider.charge_calls == 0


def test_an_order_placed_heard_after_the_cancel_takes_nothing_before_the_release() -> None:
    """The reservation is the order's own write (StockReserved with the stock,
    on the order being PLACED): once cancelled, a late OrderPlaced cannot
    take stock it would then have to give back."""
    shop = Shop({"A": 5})
    order = shop.place(A=3)
    placed = shop.relay()
    shop.orders.cancel(order.orderId, Who("ada"))
    cancelled = shop.relay()

    shop.deliver(placed[0], only="InventoryQueue")
    assert shop.stock("A") == 5
    assert shop.status(order.orderId) is OrderStatus.CANCELLING  # the release is still to come
    shop.deliver(cancelled[0], only="InventoryQueue")

    assert shop.stock("A") == 5
    assert shop.status(order.orderId) is OrderStatus.CANCELLED
    assert shop.history(order.orderId) == [
        "OrderPlaced",
        "OrderCancelled",
        "StockReleased",
        "CancellationCompleted",
    ]


# --- CANCELLED only once the compensation is done (defect 7) ---------------------


def test_a_declined_order_is_cancelling_until_its_stock_is_back() -> None:
    shop = Shop({"A": 5})
    order = shop.place(token="tok_declined", A=2)
    oid = order.orderId
    shop.deliver(shop.relay()[0], only="InventoryQueue")
    shop.deliver(shop.relay()[0], only="PaymentsQueue")

    declined = shop.relay()
    assert types_of(declined) == ["PaymentDeclined"]
    assert shop.status(oid) is OrderStatus.CANCELLING
    assert shop.stock("A") == 3  # still taken: the order does not say CANCELLED yet
    shop.deliver(declined[0], only="InventoryQueue")

    assert types_of(shop.relay()) == ["StockReleased", "CancellationCompleted"]
    assert shop.status(oid) is OrderStatus.CANCELLED
    assert shop.stock("A") == 5


def test_a_customer_cancel_is_cancelling_until_stock_and_payment_are_settled() -> None:
    shop = Shop({"A": 5})
    order = shop.place(A=2)
    oid = order.orderId
    shop.deliver(shop.relay()[0], only="InventoryQueue")
    reserved = shop.relay()[0]

    cancelling = shop.orders.cancel(oid, Who("ada"))
    assert (cancelling.status, cancelling.openPayment) == (OrderStatus.CANCELLING, "CHARGE")
    cancelled = shop.relay()[0]
    shop.deliver(cancelled, only="InventoryQueue")
    assert shop.stock("A") == 5
    # The stock is back, but the StockReserved may still charge: not done yet.
    assert shop.status(oid) is OrderStatus.CANCELLING
    shop.deliver(cancelled, only="PaymentsQueue")

    assert shop.status(oid) is OrderStatus.CANCELLED
    assert shop.history(oid)[-3:] == ["StockReleased", "PaymentVoided", "CancellationCompleted"]
    shop.relay()
    shop.deliver(reserved, times=2)  # the late charge request takes nothing
    assert shop.provider.charge_calls == 0
    assert shop.relay() == []


def deliveries(messages: list[BusEvent]) -> list[tuple[BusEvent, str]]:
    """Each event once per queue whose rule matches it."""
    return [
        (m, queue) for m in messages for queue, kinds in ROUTES.items() if m.detail_type in kinds
    ]


def shuffled_run(shop: Shop, order_id: str, seed: int, cancel: bool) -> None:
    """Relay and deliver in an order drawn from ``seed``: every (message,
    queue) pair in any order, a quarter of them redelivered, and the customer's
    cancel (if any) at a drawn moment. Shop.deliver checks after each delivery
    that a CANCELLED order has its stock back and its money returned."""
    rng = random.Random(seed)
    pending = deliveries(shop.relay())
    cancel_at = rng.randrange(8) if cancel else -1
    seen: Counter[tuple[str, str]] = Counter()
    for step in itertools.count():
        if step == cancel_at:
            with contextlib.suppress(errors.Conflict):  # shipped, or declined already
                assert shop.orders.cancel(order_id, Who("ada")).status is OrderStatus.CANCELLING
            pending += deliveries(shop.relay())
        if not pending:
            return
        message, queue = pending.pop(rng.randrange(len(pending)))
        shop.deliver(message, only=queue)
        seen[(message.detail, queue)] += 1
        if seen[(message.detail, queue)] == 1 and rng.random() < 0.25:
            pending.append((message, queue))  # SQS delivers at least once
        pending += deliveries(shop.relay())


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize(
    ("token", "cancel"), [("tok_declined", False), ("tok_ok", True), ("tok_declined", True)]
)
def test_cancelled_means_stock_back_and_money_returned_in_any_delivery_order(
    token: str, cancel: bool, seed: int
) -> None:
    shop = Shop({"A": 5})
    oid = shop.place(token=token, A=2).orderId

    shuffled_run(shop, oid, seed, cancel)

    final = shop.orders.current(oid)
    captures, refunds = shop.provider.captures(oid), shop.provider.refunds(oid)
    if final.status is OrderStatus.COMPLETED:  # the cancel came after shipping
        assert (shop.stock("A"), captures, refunds) == (3, 1, 0)
    else:
        assert final.status is OrderStatus.CANCELLED
        assert (shop.stock("A"), captures - refunds) == (5, 0)
        assert shop.history(oid)[-1] == "CancellationCompleted"
        assert "CancellationCompleted" in shop.notifications()
    assert shop.orders.replay(oid) == []
    # Terminal: every message delivered again changes nothing.
    history = shop.history(oid)
    for message in shop.bus.events:
        shop.deliver(message)
    assert shop.relay() == []
    assert shop.history(oid) == history
    assert (shop.provider.captures(oid), shop.provider.refunds(oid)) == (captures, refunds)
    assert len(shop.notifications()) == len(set(shop.notifications()))


class SlowProvider(FakeProvider):
    """A provider at which things happen while a charge is out: ``before``
    runs before the charge lands, ``after`` once it landed but before its
    answer is back (each once)."""

    def __init__(self) -> None:
        super().__init__()
        self.before: Callable[[], None] | None = None
        self.after: Callable[[], None] | None = None

    def charge(
        self,
        idempotency_key: str,
        amount_cents: int,
        token: str,
        metadata: Mapping[str, str] | None = None,
    ) -> ChargeResult:
        hook, self.before = self.before, None
        if hook:
            hook()
        result = super().charge(idempotency_key, amount_cents, token, metadata)
        hook, self.after = self.after, None
        if hook:
            hook()
        return result


def slow_shop() -> tuple[Shop, SlowProvider]:
    shop = Shop({"A": 5})
    shop.provider = SlowProvider()
    shop.payments = PaymentService(shop.payment_repo, shop.provider)
    return shop, shop.provider


@pytest.mark.parametrize(
    ("token", "when", "meanwhile"),
    [
        ("tok_ok", "before", OrderStatus.CANCELLING),  # nothing to refund yet: wait
        ("tok_ok", "after", OrderStatus.CANCELLED),  # the cancel refunds the capture
        ("tok_declined", "before", OrderStatus.CANCELLING),
        ("tok_declined", "after", OrderStatus.CANCELLING),  # the decline is not recorded yet
    ],
)
def test_a_cancel_while_the_charge_is_at_the_provider(
    token: str, when: str, meanwhile: OrderStatus
) -> None:
    shop, provider = slow_shop()
    oid = shop.place(token=token, A=2).orderId
    shop.deliver(shop.relay()[0], only="InventoryQueue")
    reserved = shop.relay()[0]

    def cancel() -> None:
        shop.orders.cancel(oid, Who("ada"))
        shop.deliver(shop.relay()[0])  # inventory releases, payments settles what it can
        assert shop.status(oid) is meanwhile
        assert shop.stock("A") == 5

    setattr(provider, when, cancel)
    shop.deliver(reserved, only="PaymentsQueue")
    shop.run(times=2)

    assert shop.status(oid) is OrderStatus.CANCELLED
    assert shop.provider.captures(oid) == shop.provider.refunds(oid) == (token == "tok_ok")
    settled = "PaymentRefunded" if token == "tok_ok" else "PaymentVoided"
    assert shop.history(oid).count(settled) == 1
    assert shop.history(oid)[-1] == "CancellationCompleted"
    assert shop.orders.replay(oid) == []


def test_a_capture_whose_step_died_is_refunded_before_the_order_is_cancelled() -> None:
    shop, provider = slow_shop()
    oid = shop.place(A=2).orderId
    shop.deliver(shop.relay()[0], only="InventoryQueue")
    reserved = shop.relay()[0]

    def cancel() -> None:
        shop.orders.cancel(oid, Who("ada"))
        shop.deliver(shop.relay()[0])  # the refund finds nothing yet

    def die() -> None:
        raise ConnectionError("the payments step lost its answer")

    provider.before, provider.after = cancel, die
    failed = sqs_batch(sqs_event([reserved]), shop.steps["PaymentsQueue"])
    assert failed == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    assert (shop.status(oid), shop.provider.captures(oid)) == (OrderStatus.CANCELLING, 1)
    shop.check_cancelled_means_done()

    shop.deliver(reserved, only="PaymentsQueue")  # SQS redelivers it

    assert shop.status(oid) is OrderStatus.CANCELLED
    assert shop.provider.refunds(oid) == 1
    assert shop.history(oid)[-2:] == ["PaymentRefunded", "CancellationCompleted"]


def test_a_void_whose_step_died_is_settled_by_the_late_charge_request() -> None:
    shop = Shop({"A": 5})
    oid = shop.place(A=2).orderId
    shop.deliver(shop.relay()[0], only="InventoryQueue")
    reserved = shop.relay()[0]
    shop.orders.cancel(oid, Who("ada"))
    cancelled = shop.relay()[0]
    shop.deliver(cancelled, only="InventoryQueue")
    shop.payments.cancel(oid)  # voided; then the step died before recording it

    shop.deliver(cancelled, only="PaymentsQueue")  # the redelivery cannot tell a void from a claim
    assert shop.status(oid) is OrderStatus.CANCELLING
    shop.deliver(reserved, only="PaymentsQueue")

    assert shop.status(oid) is OrderStatus.CANCELLED
    assert shop.history(oid)[-2:] == ["PaymentVoided", "CancellationCompleted"]
    assert shop.provider.charge_calls == 0


@pytest.mark.parametrize("redelivered", ["OrderCancelled", "StockReserved"])
def test_a_refund_whose_step_died_is_settled_by_a_redelivery(redelivered: str) -> None:
    shop = Shop({"A": 5})
    oid = shop.place(A=2).orderId
    shop.deliver(shop.relay()[0], only="InventoryQueue")
    reserved = shop.relay()[0]
    shop.deliver(reserved, only="PaymentsQueue")
    assert shop.status(oid) is OrderStatus.PAID
    shop.orders.cancel(oid, Who("ada"))
    cancelled = shop.relay()[-1]
    shop.deliver(cancelled, only="InventoryQueue")
    shop.payments.cancel(oid)  # refunded; then the step died before recording it
    assert shop.status(oid) is OrderStatus.CANCELLING

    # The recorded capture is known: a refund that finds nothing means it went back.
    shop.deliver(cancelled if redelivered == "OrderCancelled" else reserved, only="PaymentsQueue")

    assert shop.status(oid) is OrderStatus.CANCELLED
    assert shop.provider.refunds(oid) == 1
    assert shop.history(oid)[-2:] == ["PaymentRefunded", "CancellationCompleted"]


def test_a_cancellation_is_notified_once_when_it_is_complete() -> None:
    shop = Shop({"A": 5})
    oid = shop.place(A=1).orderId
    shop.deliver(shop.relay()[0])
    shop.orders.cancel(oid, Who("ada"))
    shop.run(times=2)

    sent = [json.loads(m.body) for m in shop.publisher.messages(NOTIFICATIONS)]
    assert [m["type"] for m in sent] == ["OrderPlaced", "CancellationCompleted"]
    assert (sent[1]["status"], sent[1]["reason"]) == ("CANCELLED", "cancelled by the customer")
    assert sent[1]["message"] == "Your order was cancelled"


# --- notifications ---------------------------------------------------------------


def test_each_milestone_is_notified_once_to_its_customer() -> None:
    shop = Shop({"A": 5})
    shop.place(A=1)
    shop.run(times=3)

    sent = shop.publisher.messages(NOTIFICATIONS)
    assert [m.attributes["type"] for m in sent] == [
        "OrderPlaced",
        "PaymentCaptured",
        "OrderShipped",
        "OrderCompleted",
    ]
    assert {m.attributes["customerId"] for m in sent} == {"ada"}
    assert [m.subject for m in sent] == [MILESTONES[m.attributes["type"]] for m in sent]


def test_a_failed_send_is_sent_again_on_redelivery() -> None:
    shop = Shop({"A": 5})
    shop.place(A=1)
    placed = shop.relay()[0]
    calls: list[str] = []

    def flaky_send(messages: list[tuple[str, str, dict[str, str]]]) -> None:
        calls.extend(subject for subject, _, _ in messages)
        if len(calls) == 1:
            raise ConnectionError("SNS unavailable")

    shop.notifier.send = flaky_send
    failed = sqs_batch(sqs_event([placed]), shop.steps["NotifyQueue"])
    ok = sqs_batch(sqs_event([placed]), shop.steps["NotifyQueue"])
    sqs_batch(sqs_event([placed]), shop.steps["NotifyQueue"])

    assert failed == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    assert ok == {"batchItemFailures": []}
    assert calls == [MILESTONES["OrderPlaced"]] * 2


# --- sqs_batch -----------------------------------------------------------------------


def test_sqs_batch_reports_only_the_failing_records() -> None:
    shop = Shop({"A": 5})
    for _ in range(3):
        shop.place(A=1)
    good = shop.relay()
    assert len(good) == 3
    boom = json.loads(good[1].detail)["orderId"]
    handled = []

    def step(message: OrderEventMessage) -> None:
        if message.orderId == boom:
            raise RuntimeError("downstream exploded")
        handled.append(message.orderId)

    batch = [
        Message(body=bus_body(good[0]), attributes={}),
        Message(body="{not json", attributes={}),
        Message(body=bus_body(good[1]), attributes={}),
        Message(body=json.dumps({"type": "OrderPlaced"}), attributes={}),
        Message(body=bus_body(good[2]), attributes={}),
    ]
    result = sqs_batch(sqs_event(batch), step)

    assert result == {
        "batchItemFailures": [
            {"itemIdentifier": "m1"},
            {"itemIdentifier": "m2"},
            {"itemIdentifier": "m3"},
        ]
    }
    assert handled == [json.loads(good[i].detail)["orderId"] for i in (0, 2)]


# Which event types each step acts on (it ignores the rest).
HANDLED: dict[str, set[str]] = {
    "InventoryQueue": {
        EventType.ORDER_PLACED,
        EventType.ORDER_CANCELLED,
        EventType.PAYMENT_DECLINED,
    },
    "PaymentsQueue": {EventType.STOCK_RESERVED, EventType.ORDER_CANCELLED},
    "ShippingQueue": {EventType.PAYMENT_CAPTURED},
    "NotifyQueue": set(MILESTONES),
}


@pytest.mark.parametrize("queue", sorted(HANDLED))
def test_each_step_is_subscribed_to_every_event_it_reacts_to(queue: str) -> None:
    assert {str(t) for t in HANDLED[queue]} - ROUTES[queue] == set()


def test_an_unreachable_carrier_leaves_the_order_paid_for_the_sweep() -> None:
    from chalicelib.checkout.shipping import CarrierUnavailable

    with pytest.raises(CarrierUnavailable):
        SimulatedCarrier().ship("o-1", "00000")
    assert SimulatedCarrier().ship("o-1", "10115") == SimulatedCarrier().ship("o-1")


def test_the_correlation_id_rides_the_relay_and_every_step_runs_under_it() -> None:
    from chalicelib.platform import correlation

    shop = Shop({"A": 5})
    with correlation.use("t-flow-1"):
        order = shop.place(A=1)
    seen: list[tuple[str | None, dict[str, str]]] = []
    original = shop.steps["PaymentsQueue"]

    def spy(message: OrderEventMessage) -> None:
        seen.append((correlation.current(), dict(correlation.subject())))
        original(message)

    shop.steps["PaymentsQueue"] = spy
    assert shop.run() == [
        "OrderPlaced",
        "StockReserved",
        "PaymentCaptured",
        "OrderShipped",
        "OrderCompleted",
    ]
    # Every message of the flow carries the id, though only the API set it:
    # each step appended its events under the id of the message it handled.
    assert {json.loads(m.detail)["correlationId"] for m in shop.bus.events} == {"t-flow-1"}
    assert seen == [("t-flow-1", {"order_id": order.orderId})]


def test_metrics_count_written_changes_never_deliveries() -> None:
    from chalicelib.platform.metrics import RecordedMetrics

    shop = Shop({"A": 5})
    shop.orders.metrics = recorded = RecordedMetrics()
    shop.place(A=1)
    shop.place(token="tok_declined", A=1)  # cancelled: the payment was declined
    shop.place(A=50)  # rejected: not enough stock
    shop.run(times=2)  # every message delivered twice
    names = recorded.names()
    assert names.count("OrdersPlaced") == 3
    assert names.count("OrdersCompleted") == 1
    assert names.count("OrdersCancelled") == 1
    assert names.count("OrdersRejected") == 1
    assert names.count("PaymentsDeclined") == 1
    assert names.count("OrderLeadTimeMs") == 3
    assert all(v >= 0 for n, v, _ in recorded.written if n == "OrderLeadTimeMs")


def test_each_written_change_is_logged_once_with_its_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    shop = Shop({"A": 5})
    with caplog.at_level(logging.INFO, logger="eventshop.orders"):
        declined = shop.place(token="tok_declined", A=1).orderId
        shop.run(times=2)  # every message delivered twice: each change logged once
    lines = [r.getMessage() for r in caplog.records if declined in r.getMessage()]
    changes = [line.split(" by ", 1)[1] for line in lines if " -> " in line]
    assert changes == [
        "StockReserved",
        "PaymentDeclined: payment declined: card declined",
        "StockReleased+CancellationCompleted",
    ], lines


# --- analytics, the read model on the same events -------------------------------------


def recomputed(shop: Shop, order_ids: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The analytics numbers from the orders themselves: each order counts on
    the day it was placed; completed ones give revenue and product sales."""
    days: dict[str, Counter[str]] = {}
    products: dict[str, Counter[str]] = {}
    for order_id in order_ids:
        order = shop.orders.current(order_id)
        day = days.setdefault(order.createdAt[:10], Counter())
        day["orders"] += 1
        day["units"] += sum(line.quantity for line in order.items)
        status = order.status.value.lower()
        if status in ("completed", "rejected", "cancelled"):
            day[status] += 1
        if order.status is OrderStatus.COMPLETED:
            day["revenueCents"] += order.totalCents
            for sku in {line.sku for line in order.items}:
                sold = products.setdefault(sku, Counter())
                sold["orders"] += 1
                for line in (x for x in order.items if x.sku == sku):
                    sold["unitsSold"] += line.quantity
                    sold["revenueCents"] += line.lineTotalCents
    return (
        {d: dict(c) for d, c in days.items()},
        {s: dict(c) for s, c in products.items()},
    )


@pytest.mark.parametrize("seed", range(12))
def test_analytics_equal_the_orders_under_shuffled_duplicated_delivery(seed: int) -> None:
    """Completed, rejected, declined and cancelled orders, every event
    delivered in a drawn order with redeliveries: the read model's numbers
    are the orders' own."""
    shop = Shop({"A": 6, "B": 3})
    plans = [("tok_ok", {"A": 2, "B": 1}), ("tok_declined", {"A": 1}), ("tok_ok", {"B": 9})]
    plans += [("tok_ok", {"A": 1})] * 2
    ids = []
    for i, (token, lines) in enumerate(plans):
        order = shop.place(token=token, **lines)
        ids.append(order.orderId)
        shuffled_run(shop, order.orderId, seed * 10 + i, cancel=(i == 3))
    days, products = recomputed(shop, ids)
    statuses = {shop.status(i) for i in ids}
    assert {OrderStatus.COMPLETED, OrderStatus.REJECTED, OrderStatus.CANCELLED} <= statuses
    repo = shop.analytics.repo
    assert isinstance(repo, FakeAnalyticsRepository)
    assert {d: {k: v for k, v in c.items() if v} for d, c in repo.daily.items()} == days
    assert repo.products == products
    # Everything delivered again, in reverse: nothing changes.
    before = (dict(repo.daily), dict(repo.products))
    for message in reversed(shop.bus.events):
        shop.deliver(message, only="AnalyticsQueue")
    assert (repo.daily, repo.products) == before


# --- payments the provider decides later (Stripe's webhooks, on the bus) ---------------


def provider_event(
    shop: Shop, order_id: str, kind: ProviderEventKind, event_id: str = "evt_1"
) -> BusEvent:
    """What POST /webhooks/stripe puts on the bus for the payments rule."""
    heard = PaymentProviderEvent(
        provider="stripe",
        eventId=event_id,
        kind=kind,
        orderId=order_id,
        chargeId=shop.provider.charge_id(order_id),
        amountCents=500,
        reason="authentication failed" if kind is ProviderEventKind.FAILED else None,
        at="2025-01-01T00:01:00.000Z",
    )
    return BusEvent(payment_events.SOURCE, payment_events.DETAIL_TYPE, heard.model_dump_json())


def reserved_and_pending(shop: Shop) -> Order:
    order = shop.place("tok_pending", A=2)
    shop.run(times=2)  # reserved, charged: the provider waits for the customer
    assert shop.status(order.orderId) is OrderStatus.RESERVED
    assert shop.history(order.orderId) == ["OrderPlaced", "StockReserved"]
    return order


def test_a_pending_payment_leaves_the_order_reserved_until_the_webhook_captures_it() -> None:
    shop = Shop({"A": 5})
    order = reserved_and_pending(shop)

    shop.provider.settle(order.orderId, succeed=True)
    shop.deliver(provider_event(shop, order.orderId, ProviderEventKind.SUCCEEDED), times=2)
    shop.run(times=2)

    assert shop.status(order.orderId) is OrderStatus.COMPLETED
    assert shop.history(order.orderId).count("PaymentCaptured") == 1
    assert shop.provider.captures(order.orderId) == 1 and shop.provider.refunds(order.orderId) == 0


def test_a_payment_failed_webhook_declines_and_releases_the_stock() -> None:
    shop = Shop({"A": 5})
    order = reserved_and_pending(shop)

    shop.provider.settle(order.orderId, succeed=False)
    failed = provider_event(shop, order.orderId, ProviderEventKind.FAILED)
    shop.deliver(failed, times=2)
    shop.run(times=2)
    shop.deliver(failed)  # long after: changes nothing

    final = shop.orders.current(order.orderId)
    assert final.status is OrderStatus.CANCELLED
    assert final.reason == "payment declined: authentication failed"
    assert shop.stock("A") == 5
    assert shop.history(order.orderId).count("PaymentDeclined") == 1


def test_a_success_heard_after_a_cancel_is_refunded_before_the_cancel_completes() -> None:
    shop = Shop({"A": 5})
    order = reserved_and_pending(shop)
    shop.orders.cancel(order.orderId, Who("ada"))
    cancelled = shop.relay()
    shop.deliver(cancelled[0], only="InventoryQueue")
    # The customer passed 3-D Secure just as the cancel went out; Stripe took
    # the money and says so before the payments step hears of the cancel.
    shop.provider.settle(order.orderId, succeed=True)
    shop.deliver(provider_event(shop, order.orderId, ProviderEventKind.SUCCEEDED), times=2)
    shop.deliver(cancelled[0], only="PaymentsQueue", times=2)
    shop.run(times=2)

    assert shop.status(order.orderId) is OrderStatus.CANCELLED
    assert shop.stock("A") == 5
    assert shop.provider.captures(order.orderId) == shop.provider.refunds(order.orderId) == 1
    assert shop.history(order.orderId)[-2:] == ["PaymentRefunded", "CancellationCompleted"]


def test_a_cancel_of_a_pending_payment_voids_it_and_a_late_redelivery_takes_nothing() -> None:
    shop = Shop({"A": 5})
    order = reserved_and_pending(shop)
    reserved = next(
        e for e in shop.bus.events if e.detail_type == "StockReserved" and order.orderId in e.detail
    )

    shop.orders.cancel(order.orderId, Who("ada"))
    shop.run(times=2)
    shop.deliver(reserved, only="PaymentsQueue")  # the old step, redelivered

    assert shop.status(order.orderId) is OrderStatus.CANCELLED
    assert shop.provider.captures(order.orderId) == 0
    assert shop.history(order.orderId)[-3:] == [
        "StockReleased",
        "PaymentVoided",
        "CancellationCompleted",
    ]


@pytest.mark.parametrize("kind", list(ProviderEventKind))
def test_a_webhook_for_a_terminal_order_changes_nothing(kind: ProviderEventKind) -> None:
    shop = Shop({"A": 5})
    order = shop.place(A=1)
    shop.run()
    assert shop.status(order.orderId) is OrderStatus.COMPLETED
    before = shop.history(order.orderId)

    shop.deliver(provider_event(shop, order.orderId, kind), times=2)

    assert shop.history(order.orderId) == before
    assert shop.provider.refunds(order.orderId) == 0


def test_a_webhook_for_an_unknown_order_is_acknowledged_and_ignored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    shop = Shop({"A": 5})
    with caplog.at_level(logging.WARNING, "eventshop.checkout"):
        shop.deliver(provider_event(shop, "no-such-order", ProviderEventKind.SUCCEEDED))
    assert "no-such-order, which does not exist" in caplog.text
