"""Drills on the running local stack: each asserts exact numbers."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from devstack.client import DrainTimedOut
from devstack.testing import RunningStack, running_stack
from tests.support.e2e_shop import TERMINAL, Shop


@pytest.fixture(scope="module")
def shop(app_stack: RunningStack) -> Shop:
    """The drills' shop; the stack's metrics count from here on (the last
    test compares them with what the drills' orders did)."""
    app_stack.drain(timeout=120)
    app_stack.control.reset_metrics()
    return Shop(app_stack)


@pytest.fixture(autouse=True)
def consistent_after(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every drill on the shared stack: replay-orders finds every order
    so far consistent with its history (Shop.replay fails otherwise)."""
    yield
    if "shop" in request.fixturenames:
        request.getfixturevalue("shop").replay()


def test_the_ready_line_still_reads_eventshop_ready(shop: Shop) -> None:
    assert shop.stack.app_name == "eventshop"
    assert "\neventshop ready api=" in "\n" + shop.stack.log_text()


def test_happy_path_completes_with_five_events_and_a_tracking_number(shop: Shop) -> None:
    sku = shop.product(stock=5)
    order = shop.place("alice", [(sku, 2)])
    assert order["status"] == "PLACED" and order["totalCents"] == 2000
    shop.stack.drain()
    final = shop.order(order["orderId"], "alice")
    assert final["status"] == "COMPLETED"
    assert final["trackingNumber"].startswith("TRK-") and len(final["trackingNumber"]) == 14
    assert [e["type"] for e in shop.events(order["orderId"])] == [
        "OrderPlaced",
        "StockReserved",
        "PaymentCaptured",
        "OrderShipped",
        "OrderCompleted",
    ]
    assert [e["version"] for e in shop.events(order["orderId"])] == [1, 2, 3, 4, 5]
    assert shop.stock(sku) == 3


def test_200_concurrent_orders_for_50_units_never_oversell(shop: Shop) -> None:
    sku = shop.product(stock=50)

    def buy(i: int) -> str:
        return str(shop.place(f"racer-{i % 20}", [(sku, 1)])["orderId"])

    with ThreadPoolExecutor(16) as pool:
        ids = list(pool.map(buy, range(200)))
    shop.stack.drain(timeout=240)
    statuses = Counter(o["status"] for o in shop.orders(ids))
    assert statuses == {"COMPLETED": 50, "REJECTED": 150}
    assert shop.stock(sku) == 0
    rejected = [o for o in shop.orders(ids) if o["status"] == "REJECTED"]
    assert all(o["reason"] == f"insufficient stock: {sku}" for o in rejected)


def test_every_message_delivered_twice_changes_nothing(shop: Shop) -> None:
    sku = shop.product(stock=100)
    listener = shop.listen("-customer-notifications")
    shop.stack.control.set_faults(duplicateDeliveries=True)
    try:
        plan = (
            [("tok_ok", "COMPLETED")] * 6
            + [("tok_declined", "CANCELLED")] * 2
            + [("tok_flaky", "COMPLETED")] * 2
        )
        placed = [(shop.place("twice", [(sku, 1)], token=t)["orderId"], want) for t, want in plan]
        shop.stack.drain(timeout=120)
    finally:
        shop.stack.control.set_faults(duplicateDeliveries=False)
    for order_id, want in placed:
        assert shop.order(order_id)["status"] == want, order_id
        assert shop.captures(order_id) == (1 if want == "COMPLETED" else 0)
        types = [e["type"] for e in shop.events(order_id)]
        assert len(types) == len(set(types)), types  # no event twice
        if want == "CANCELLED":
            assert types[-2:] == ["StockReleased", "CancellationCompleted"], types
    assert shop.stock(sku) == 100 - 8  # the declined ones were given back
    heard = Counter((m["body"]["orderId"], m["body"]["type"]) for m in shop.heard(listener))
    assert heard and set(heard.values()) == {1}
    completed = [o for o, want in placed if want == "COMPLETED"]
    for order_id in completed:
        assert {t for (o, t) in heard if o == order_id} == {
            "OrderPlaced",
            "PaymentCaptured",
            "OrderShipped",
            "OrderCompleted",
        }
    for order_id in (o for o, want in placed if want == "CANCELLED"):
        # A cancellation is one milestone, heard once it is complete.
        assert {t for (o, t) in heard if o == order_id} == {"OrderPlaced", "CancellationCompleted"}


def test_ten_percent_of_aws_calls_failing_loses_nothing() -> None:
    with running_stack(extra_args=("--aws-error-rate", "0.1")) as stack:
        shop = Shop(stack)
        # Product setup retries on its own: the API's clients retry injected 503s.
        sku = shop.product(stock=30)

        def buy(i: int) -> str:
            return str(shop.place(f"flaky-{i}", [(sku, 1)], key=f"k-{i}", attempts=3)["orderId"])

        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(buy, range(40)))
        assert len(set(ids)) == 40
        stack.drain(timeout=240)
        calls = stack.control.aws_calls()
        assert sum(calls["injected"].values()) > 20  # the fault really was on
        stack.control.set_faults(awsErrorRate=0)
        orders = shop.orders(ids)
        statuses = Counter(o["status"] for o in orders)
        assert set(statuses) <= TERMINAL, statuses
        assert statuses == {"COMPLETED": 30, "REJECTED": 10}
        assert shop.stock(sku) == 0
        assert Shop(stack).replay() == "replayed 40 orders: 40 consistent, 0 differ"


def test_poison_message_in_a_batch_of_ten(shop: Shop) -> None:
    sqs = shop.stack.client("sqs")
    queue = sqs.get_queue_url(QueueName="eventshop-local-notify")["QueueUrl"]
    dlq = sqs.get_queue_url(QueueName="eventshop-local-notify-dlq")["QueueUrl"]
    listener = shop.listen("-customer-notifications")
    ids = [uuid.uuid4().hex for _ in range(9)]

    def message(order_id: str) -> dict[str, Any]:
        return {
            "type": "OrderPlaced",
            "orderId": order_id,
            "customerId": "poison-drill",
            "version": 1,
            "at": "2026-01-01T00:00:00Z",
            "data": {},
            "order": {"orderId": order_id, "customerId": "poison-drill", "status": "PLACED"},
        }

    entries = [{"Id": str(i), "MessageBody": json.dumps(message(o))} for i, o in enumerate(ids)]
    entries.insert(4, {"Id": "poison", "MessageBody": '{"type": "OrderPlaced", "orderId": '})
    sqs.send_message_batch(QueueUrl=queue, Entries=entries)
    shop.stack.drain(timeout=60)
    heard = {m["body"]["orderId"] for m in shop.heard(listener)}
    assert heard == set(ids)  # nine processed, each once
    batches = [
        d
        for d in shop.stack.control.deliveries()
        if d["handler"] == "notify_step" and d["count"] == 10
    ]
    assert batches and batches[-1]["failed"] == 1  # one batch of ten, one failure
    dead = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, AttributeNames=["All"]).get(
        "Messages", []
    )
    assert [m["Body"] for m in dead] == ['{"type": "OrderPlaced", "orderId": ']
    assert dead[0]["Attributes"]["ApproximateReceiveCount"] in ("3", "4")


def test_customer_cancel_before_shipping_releases_stock_exactly_once(shop: Shop) -> None:
    sku = shop.product(stock=3)
    order = shop.place("carol", [(sku, 3)])
    r = shop.http.post(
        f"{shop.api}/orders/{order['orderId']}/cancel", headers=shop.customer("carol"), timeout=30
    )
    # Accepted, not done: CANCELLED only once the stock is back (and any payment settled).
    assert r.status_code == 202 and r.json()["status"] == "CANCELLING"
    shop.stack.drain()
    assert shop.stock(sku) == 3
    assert shop.order(order["orderId"], "carol")["status"] == "CANCELLED"
    types = [e["type"] for e in shop.events(order["orderId"])]
    assert types.count("StockReleased") <= 1 and types[:1] == ["OrderPlaced"]
    assert "OrderCancelled" in types
    assert types[-1] == "CancellationCompleted" and types.count("CancellationCompleted") == 1
    again = shop.http.post(
        f"{shop.api}/orders/{order['orderId']}/cancel", headers=shop.customer("carol"), timeout=30
    )
    assert again.status_code == 409
    other = shop.http.get(
        f"{shop.api}/orders/{order['orderId']}", headers=shop.customer("mallory"), timeout=30
    )
    assert other.status_code == 404


def test_low_stock_alert_once_per_crossing_and_on_shortage(shop: Shop) -> None:
    sku = shop.product(stock=5, threshold=3)
    alerts = shop.listen("-ops-alerts")
    for _ in range(4):  # 5 -> 4 -> 3 -> 2 (crosses) -> 1
        shop.place("dora", [(sku, 1)])
        shop.stack.drain()
    rejected = shop.place("dora", [(sku, 2)])  # only 1 left
    shop.stack.drain()
    assert shop.order(rejected["orderId"])["status"] == "REJECTED"
    heard = [m["body"] for m in shop.heard(alerts) if sku in str(m["body"])]
    assert {a["kind"] for a in heard} == {"LOW_STOCK"}
    crossings = [a["data"] for a in heard if "orderId" not in a["data"]]
    assert [(a["sku"], a["stock"]) for a in crossings] == [(sku, 2)]
    shortages = [a["data"] for a in heard if "orderId" in a["data"]]
    assert [(a["orderId"], a["skus"]) for a in shortages] == [(rejected["orderId"], [sku])]
    # restock above the threshold, then cross again: a second alert
    r = shop.http.post(
        f"{shop.api}/products/{sku}/restock", headers=shop.admin, json={"quantity": 9}, timeout=30
    )
    assert r.status_code == 200 and r.json()["stock"] == 10
    shop.place("dora", [(sku, 8)])
    shop.stack.drain()
    again = [m["body"] for m in shop.heard(alerts) if m["body"]["data"].get("sku") == sku]
    assert [(a["kind"], a["data"]["stock"]) for a in again] == [("LOW_STOCK", 2)]


def test_failing_only_the_bus_delays_the_saga_and_loses_nothing(shop: Shop) -> None:
    """A targeted drill: half of the PutEvents requests fail with EventBridge's
    own 503 (JSON, which botocore parses and retries); nothing else is touched."""
    sku = shop.product(stock=10)
    control = shop.stack.control
    control.reset_aws_calls()
    put = "eventbridge.PutEvents"
    faults = control.set_faults(awsErrorRate=0.5, awsErrorOperations=[put])
    assert (faults["awsErrorOperations"], faults["awsErrorServices"]) == ([put], [])
    try:
        ids = [str(shop.place(f"bus-drill-{i}", [(sku, 1)])["orderId"]) for i in range(5)]
        shop.stack.drain(timeout=120)
        calls = control.aws_calls()
    finally:
        control.set_faults(awsErrorRate=0, awsErrorOperations=[])
    assert calls["errorOperations"] == [put]
    assert calls["injectedByService"] == {"eventbridge": {"PutEvents": calls["injected"][put]}}
    assert calls["injected"][put] > 0
    assert calls["sent"][put] > 0
    assert calls["sent"]["dynamodb.TransactWriteItems"] > 0  # untouched: never injected
    assert {o["status"] for o in shop.orders(ids)} == {"COMPLETED"}
    assert shop.stock(sku) == 5


def test_fault_targets_must_be_lists_of_names(shop: Shop) -> None:
    url = shop.stack.control.url + "/faults"
    for body in ({"awsErrorServices": "sns"}, {"awsErrorOperations": [1]}, {"awsErrorRate": "x"}):
        r = requests.post(url, json=body, timeout=10)
        assert r.status_code == 400, (body, r.text)
    assert shop.stack.control.aws_calls()["errorRate"] == 0


def _relay(shop: Shop) -> dict[str, Any]:
    return next(
        s for s in shop.stack.control.status()["sources"] if s["handler"] == "relay_order_events"
    )


def test_the_relay_holds_its_shard_through_a_bus_outage_and_loses_no_event(shop: Shop) -> None:
    """Every PutEvents fails for a while: the outbox relay keeps its failed
    batch and retries it (MaximumRetryAttempts -1, as deployed) instead of
    setting it aside after 3 retries, so once EventBridge answers again every
    order event reaches its consumers."""
    sku = shop.product(stock=100)
    control = shop.stack.control
    assert _relay(shop)["maximumRetryAttempts"] == -1  # .chalice/event-source-mappings.json
    control.set_faults(awsErrorRate=1.0, awsErrorOperations=["eventbridge.PutEvents"])
    try:
        ids = [str(shop.place(f"outage-{i}", [(sku, 1)])["orderId"]) for i in range(4)]
        # The old policy gave up after 4 attempts (1 + 3 retries). While the
        # batch is held the stack is never idle: each short drain times out.
        for _ in range(120):
            with pytest.raises(DrainTimedOut, match="relay_order_events"):
                shop.stack.drain(timeout=1)
            if _relay(shop)["heldAttempts"] >= 6:
                break
        relay = _relay(shop)
        assert relay["heldAttempts"] >= 6, relay
        assert relay["iteratorAgeSeconds"] > 0
        failures = control.status()["failures"]
        assert not [f for f in failures if f["handler"] == "relay_order_events"], failures
    finally:
        control.set_faults(awsErrorRate=0, awsErrorOperations=[])
    shop.stack.drain(timeout=120)
    assert _relay(shop)["heldAttempts"] == 0
    assert {o["status"] for o in shop.orders(ids)} == {"COMPLETED"}
    for order_id in ids:
        assert [e["type"] for e in shop.events(order_id)] == [
            "OrderPlaced",
            "StockReserved",
            "PaymentCaptured",
            "OrderShipped",
            "OrderCompleted",
        ]
    assert shop.stock(sku) == 96  # replay-orders runs after it (consistent_after)


def test_the_metrics_count_what_the_drills_observed(shop: Shop) -> None:
    """The last drill: after every drill above on this stack, GET /metrics
    (read from the EMF the functions printed) counts what their orders did,
    redeliveries and retries included, each change once."""
    shop.stack.drain(timeout=120)
    ids = shop.placed
    assert len(ids) > 200, len(ids)  # the 200-order drill and the rest
    statuses = Counter(o["status"] for o in shop.orders(ids))
    declined = sum(
        1 for events in shop.histories(ids) if any(e["type"] == "PaymentDeclined" for e in events)
    )
    series = shop.stack.control.metrics()["metrics"]

    def count(name: str) -> float:
        return float(series[name]["sum"]) if name in series else 0.0

    observed = {
        "OrdersPlaced": len(ids),
        "OrdersCompleted": statuses["COMPLETED"],
        "OrdersRejected": statuses["REJECTED"],
        "OrdersCancelled": statuses["CANCELLED"],
        "PaymentsDeclined": declined,
    }
    print("\nmetrics after the drills (GET /metrics | the drills' orders):")
    for name in sorted(series):
        stat = series[name]
        seen = observed.get(name, "")
        print(f"  {name:32} count={stat['count']:<5} sum={stat['sum']:<12g} {seen}")
    assert {name: count(name) for name in observed} == observed
    assert statuses["COMPLETED"] and statuses["REJECTED"] and statuses["CANCELLED"] and declined
    terminal = sum(statuses[s] for s in TERMINAL)
    assert series["OrderLeadTimeMs"]["count"] == terminal
