"""The saga's handlers, invoked through the test client with Lambda-shaped events.

The relay gets DynamoDB-stream records built from the order's items; what it
puts on the event bus is read back from an SQS queue a rule on the bus fills
(matching the order id) and handed to the next step as an SQS event, as the
rules in infra/resources.yaml would.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.support.functional_saga import NO_FAILURES, STEP_QUEUES, detail, start, types
from tests.support.functional_shop import Shop
from tests.support.lambda_events import sqs_event, stream_event


def test_an_order_goes_from_placed_to_completed(shop: Shop) -> None:
    a = shop.put_product(price=500, stock=10)["sku"]
    b = shop.put_product(price=120, stock=3)["sku"]
    saga = start(shop, [(a, 2), (b, 3)])

    placed = saga.relay(with_marker=True)
    assert types(placed) == ["OrderPlaced"]
    message = detail(placed[0])
    assert message["orderId"] == saga.order_id
    assert message["customerId"] == saga.customer
    assert message["order"]["paymentToken"] == "tok_ok"

    assert saga.step("inventory_step", placed) == NO_FAILURES
    assert saga.order()["status"] == "RESERVED"
    assert shop.call("GET", f"/products/{a}").json_body["stock"] == 8
    assert shop.call("GET", f"/products/{b}").json_body["stock"] == 0
    reserved = saga.relay()
    assert types(reserved) == ["StockReserved"]

    assert saga.step("payments_step", reserved) == NO_FAILURES
    assert saga.order()["status"] == "PAID"
    captured = saga.relay()
    assert types(captured) == ["PaymentCaptured"]
    assert detail(captured[0])["data"]["amountCents"] == 1360
    # The token is gone once the payment is settled.
    assert "paymentToken" not in detail(captured[0])["order"]

    assert saga.step("shipping_step", captured) == NO_FAILURES
    assert types(saga.relay()) == ["OrderShipped", "OrderCompleted"]

    order = saga.order()
    assert order["status"] == "COMPLETED"
    assert order["version"] == 5
    assert re.fullmatch(r"TRK-\d{10}", order["trackingNumber"])
    assert saga.history() == [
        "OrderPlaced",
        "StockReserved",
        "PaymentCaptured",
        "OrderShipped",
        "OrderCompleted",
    ]
    raw = shop.order_items(saga.order_id, "ORDER")
    assert [i["sk"]["S"] for i in raw] == ["ORDER"]
    assert "paymentToken" not in raw[0]


def test_redelivered_messages_change_nothing(shop: Shop) -> None:
    sku = shop.put_product(stock=5)["sku"]
    saga = start(shop, [(sku, 2)])
    placed = saga.relay()

    assert saga.step("inventory_step", placed + placed) == NO_FAILURES
    assert saga.step("inventory_step", placed) == NO_FAILURES
    reserved = saga.relay()
    assert types(reserved) == ["StockReserved"]
    assert saga.step("payments_step", reserved + reserved) == NO_FAILURES
    captured = saga.relay()
    assert saga.step("shipping_step", captured) == NO_FAILURES
    assert saga.step("shipping_step", captured) == NO_FAILURES

    assert shop.call("GET", f"/products/{sku}").json_body["stock"] == 3
    assert saga.history() == [
        "OrderPlaced",
        "StockReserved",
        "PaymentCaptured",
        "OrderShipped",
        "OrderCompleted",
    ]
    ledger = shop.aws("dynamodb").get_item(
        TableName=shop.outputs["PaymentsTableName"],
        Key={"pk": {"S": f"SIMULATED#{saga.order_id}"}},
    )["Item"]
    assert ledger["captures"]["N"] == "1"


def test_a_declined_payment_cancels_and_gives_the_stock_back(shop: Shop) -> None:
    sku = shop.put_product(stock=4)["sku"]
    saga = start(shop, [(sku, 3)], payment_token="tok_declined")

    saga.step("inventory_step", saga.relay())
    assert shop.call("GET", f"/products/{sku}").json_body["stock"] == 1
    assert saga.step("payments_step", saga.relay()) == NO_FAILURES
    declined = saga.relay()
    assert types(declined) == ["PaymentDeclined"]
    # The stock is still taken, so the order does not say CANCELLED yet.
    assert saga.order()["status"] == "CANCELLING"
    assert saga.step("inventory_step", declined) == NO_FAILURES
    assert saga.step("inventory_step", declined) == NO_FAILURES

    order = saga.order()
    assert order["status"] == "CANCELLED"
    assert order["reason"] == "payment declined: card declined"
    assert shop.call("GET", f"/products/{sku}").json_body["stock"] == 4
    assert saga.history() == [
        "OrderPlaced",
        "StockReserved",
        "PaymentDeclined",
        "StockReleased",
        "CancellationCompleted",
    ]


def test_an_order_short_of_stock_is_rejected_and_takes_nothing(shop: Shop) -> None:
    plenty = shop.put_product(stock=10)["sku"]
    scarce = shop.put_product(stock=1)["sku"]
    saga = start(shop, [(plenty, 2), (scarce, 2)])

    assert saga.step("inventory_step", saga.relay()) == NO_FAILURES

    order = saga.order()
    assert order["status"] == "REJECTED"
    assert scarce in order["reason"]
    assert plenty not in order["reason"]
    assert shop.call("GET", f"/products/{plenty}").json_body["stock"] == 10
    assert shop.call("GET", f"/products/{scarce}").json_body["stock"] == 1
    assert types(saga.relay()) == ["OrderRejected"]


def test_a_customer_cancel_after_reservation_releases_the_stock(shop: Shop) -> None:
    sku = shop.put_product(stock=6)["sku"]
    saga = start(shop, [(sku, 4)])
    saga.step("inventory_step", saga.relay())
    saga.relay()  # StockReserved: payment not taken yet

    cancel = shop.call("POST", f"/orders/{saga.order_id}/cancel", headers=shop.auth(saga.customer))
    assert cancel.status_code == 202, cancel.body
    assert cancel.json_body["status"] == "CANCELLING"
    cancelled = saga.relay()
    assert types(cancelled) == ["OrderCancelled"]
    assert saga.step("inventory_step", cancelled) == NO_FAILURES
    assert shop.call("GET", f"/products/{sku}").json_body["stock"] == 6
    # The stock is back, but a charge may still be on its way: not CANCELLED yet.
    assert saga.order()["status"] == "CANCELLING"
    assert saga.step("payments_step", cancelled) == NO_FAILURES

    assert saga.order()["status"] == "CANCELLED"
    assert shop.call("GET", f"/products/{sku}").json_body["stock"] == 6
    assert saga.history() == [
        "OrderPlaced",
        "StockReserved",
        "OrderCancelled",
        "StockReleased",
        "PaymentVoided",
        "CancellationCompleted",
    ]
    assert payment_state(shop, saga.order_id) == "VOIDED"


@pytest.mark.parametrize("step", ["inventory_step", "payments_step", "shipping_step"])
def test_a_poison_message_fails_alone(shop: Shop, step: str) -> None:
    sku = shop.put_product(stock=5)["sku"]
    saga = start(shop, [(sku, 1)])
    good = saga.relay()
    if step != "inventory_step":
        saga.step("inventory_step", good)
        good = saga.relay()
    if step == "shipping_step":
        saga.step("payments_step", good)
        good = saga.relay()
    poison = ["{not json", json.dumps({"type": "OrderPlaced"}), "[]"]
    event, ids = sqs_event(shop, STEP_QUEUES[step], [poison[0], good[0], *poison[1:]])

    payload = shop.client.lambda_.invoke(step, event).payload

    poison_ids = [ids[0], ids[2], ids[3]]
    assert payload == {"batchItemFailures": [{"itemIdentifier": i} for i in poison_ids]}
    # The good message in the batch still did its work.
    expected = {"inventory_step": "RESERVED", "payments_step": "PAID", "shipping_step": "COMPLETED"}
    assert saga.order()["status"] == expected[step]


def test_a_message_whose_step_fails_is_reported(shop: Shop) -> None:
    sku = shop.put_product(stock=5)["sku"]
    saga = start(shop, [(sku, 1)])
    placed = detail(saga.relay()[0])
    # A well-formed StockReserved for an order that does not exist: the
    # payment is taken (idempotently) but recording it cannot succeed.
    ghost = {**placed, "type": "StockReserved", "orderId": "0" * 32}
    ghost["order"] = {**placed["order"], "orderId": "0" * 32, "status": "RESERVED", "version": 2}
    event, ids = sqs_event(shop, "PaymentsQueueName", [json.dumps(ghost)])

    payload = shop.client.lambda_.invoke("payments_step", event).payload

    assert payload == {"batchItemFailures": [{"itemIdentifier": ids[0]}]}


def test_notifications_go_out_once_per_milestone(shop: Shop) -> None:
    sku = shop.put_product(stock=5)["sku"]
    saga = start(shop, [(sku, 1)])
    tap = shop.tap("CustomerNotificationsTopicArn", {"customerId": [saga.customer]})
    placed = saga.relay()

    assert saga.step("notify_step", placed + placed) == NO_FAILURES
    assert saga.step("notify_step", placed) == NO_FAILURES

    (sent,) = shop.drain(tap)
    body = json.loads(sent["Body"])
    assert body["type"] == "OrderPlaced"
    assert body["orderId"] == saga.order_id
    assert sent["MessageAttributes"]["customerId"]["StringValue"] == saga.customer


def test_the_relay_ignores_writes_that_append_nothing_and_other_items(shop: Shop) -> None:
    sku = shop.put_product(stock=5)["sku"]
    saga = start(shop, [(sku, 1)])
    (item,) = shop.order_items(saga.order_id, "ORDER")
    marker = {"pk": item["pk"], "sk": {"S": "NOTIFIED#OrderPlaced"}, "at": {"N": "1"}}

    # A write that appended no event (old and new at one version), a marker, a removal.
    shop.client.lambda_.invoke(
        "relay_order_events", stream_event(shop, [item, marker], "MODIFY", [item, None])
    )
    shop.client.lambda_.invoke("relay_order_events", stream_event(shop, [item], "REMOVE"))

    assert shop.drain(saga.tap) == []
    assert types(saga.relay()) == ["OrderPlaced"]


def test_low_stock_alert_on_crossing_the_threshold(shop: Shop) -> None:
    product = shop.put_product(stock=5, threshold=3)
    tap = shop.tap("OpsAlertsTopicArn", {"kind": ["LOW_STOCK"]})
    table = shop.outputs["ProductsTableName"]
    key = {"pk": {"S": f"PRODUCT#{product['sku']}"}, "sk": {"S": "PRODUCT"}}
    old = shop.aws("dynamodb").get_item(TableName=table, Key=key)["Item"]
    new = {**old, "stock": {"N": "2"}}
    lower = {**old, "stock": {"N": "1"}}

    def record(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
        return {
            "eventName": "MODIFY",
            "eventSource": "aws:dynamodb",
            "eventSourceARN": shop.outputs["ProductsStreamArn"],
            "dynamodb": {"Keys": key, "OldImage": before, "NewImage": after},
        }

    shop.client.lambda_.invoke(
        "low_stock_alerts", {"Records": [record(old, new), record(new, lower)]}
    )

    (alert,) = shop.drain(tap)
    body = json.loads(alert["Body"])
    assert (body["kind"], body["data"]) == (
        "LOW_STOCK",
        {"sku": product["sku"], "stock": 2, "lowStockThreshold": 3},
    )


def payment_state(shop: Shop, order_id: str) -> str:
    item = shop.aws("dynamodb").get_item(
        TableName=shop.outputs["PaymentsTableName"], Key={"pk": {"S": f"PAYMENT#{order_id}"}}
    )["Item"]
    return str(item["state"]["S"])


def test_a_completed_order_cannot_be_cancelled(shop: Shop) -> None:
    sku = shop.put_product(stock=5)["sku"]
    saga = start(shop, [(sku, 1)])
    saga.step("inventory_step", saga.relay())
    saga.step("payments_step", saga.relay())
    saga.step("shipping_step", saga.relay())

    response = shop.call(
        "POST", f"/orders/{saga.order_id}/cancel", headers=shop.auth(saga.customer)
    )

    assert response.status_code == 409, response.body
    assert saga.order()["status"] == "COMPLETED"


def test_a_flaky_provider_is_retried_until_it_approves(shop: Shop) -> None:
    sku = shop.put_product(stock=5)["sku"]
    saga = start(shop, [(sku, 1)], payment_token="tok_flaky")
    saga.step("inventory_step", saga.relay())
    reserved = saga.relay()

    outcomes = []
    for _ in range(3):
        event, ids = sqs_event(shop, "PaymentsQueueName", reserved)
        payload = shop.client.lambda_.invoke("payments_step", event).payload
        outcomes.append(payload == {"batchItemFailures": [{"itemIdentifier": ids[0]}]})

    assert outcomes == [True, True, False]
    assert saga.order()["status"] == "PAID"
    assert (
        payment_state(shop, saga.order_id) == "PENDING"
    )  # a claim; the provider holds the capture


def test_cancelling_a_paid_order_refunds_and_nothing_ships(shop: Shop) -> None:
    sku = shop.put_product(stock=5)["sku"]
    saga = start(shop, [(sku, 2)])
    saga.step("inventory_step", saga.relay())
    saga.step("payments_step", saga.relay())
    captured = saga.relay()
    assert types(captured) == ["PaymentCaptured"]

    cancel = shop.call("POST", f"/orders/{saga.order_id}/cancel", headers=shop.auth(saga.customer))
    assert cancel.status_code == 202, cancel.body
    cancelled = saga.relay()
    # The PaymentCaptured still queued for shipping arrives after the cancel.
    assert saga.step("shipping_step", captured) == NO_FAILURES
    assert saga.step("payments_step", cancelled) == NO_FAILURES
    # Refunded, but the stock is still taken: not CANCELLED yet.
    assert saga.order()["status"] == "CANCELLING"
    assert shop.call("GET", f"/products/{sku}").json_body["stock"] == 3
    assert saga.step("inventory_step", cancelled) == NO_FAILURES

    order = saga.order()
    assert order["status"] == "CANCELLED"
    assert order["trackingNumber"] is None
    assert payment_state(shop, saga.order_id) == "REFUNDED"
    assert shop.call("GET", f"/products/{sku}").json_body["stock"] == 5
    assert saga.history() == [
        "OrderPlaced",
        "StockReserved",
        "PaymentCaptured",
        "OrderCancelled",
        "PaymentRefunded",
        "StockReleased",
        "CancellationCompleted",
    ]
    ledger = shop.aws("dynamodb").get_item(
        TableName=shop.outputs["PaymentsTableName"],
        Key={"pk": {"S": f"SIMULATED#{saga.order_id}"}},
    )["Item"]
    assert ledger["refunded"]["BOOL"] is True


def test_a_declined_order_tells_its_customer_once_when_cancelled(shop: Shop) -> None:
    sku = shop.put_product(stock=2)["sku"]
    saga = start(shop, [(sku, 1)], payment_token="tok_declined")
    tap = shop.tap("CustomerNotificationsTopicArn", {"customerId": [saga.customer]})
    published = saga.relay()
    saga.step("inventory_step", published)
    published += saga.relay()
    saga.step("payments_step", published[-1:])
    published += saga.relay()
    saga.step("inventory_step", published[-1:])
    published += saga.relay()
    assert types(published)[-3:] == ["PaymentDeclined", "StockReleased", "CancellationCompleted"]

    assert saga.step("notify_step", published + published) == NO_FAILURES

    sent = [json.loads(m["Body"]) for m in shop.drain(tap)]
    assert sorted(body["type"] for body in sent) == ["CancellationCompleted", "OrderPlaced"]
    (cancelled,) = (body for body in sent if body["type"] == "CancellationCompleted")
    assert (cancelled["status"], cancelled["reason"]) == (
        "CANCELLED",
        "payment declined: card declined",
    )
