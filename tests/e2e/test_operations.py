"""Operations drills on the running stack: a payment provider that never
answers, its message in the DLQ, and the saga-timeout sweep (driven by the
stack's clock) that compensates the order."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest

from devstack.testing import running_stack
from tests.support.e2e_shop import Shop


@pytest.fixture(scope="module")
def shop() -> Iterator[Shop]:
    # A stack of its own: these drills move the stack's clock, and the sweep
    # would then time out the orders other tests' sagas are still moving.
    with running_stack() as stack:
        yield Shop(stack)


@pytest.fixture(autouse=True)
def consistent_after(shop: Shop) -> Iterator[None]:
    """After every drill here (timeouts, sweeps racing, redrives): every
    order consistent with its history (replay-orders)."""
    yield
    shop.replay()


def test_a_payment_that_never_answers_is_timed_out_and_compensated(shop: Shop) -> None:
    sku = shop.product(stock=4)
    alerts = shop.listen("-ops-alerts")
    order = shop.place("tess", [(sku, 3)], token="tok_unavailable")
    shop.stack.drain(timeout=90)
    assert shop.order(order["orderId"])["status"] == "RESERVED"
    assert shop.stock(sku) == 1
    # The operator's view of it, over the API: the payments DLQ holds it.
    queue = "eventshop-local-payments-dlq"
    listed = shop.http.get(f"{shop.api}/ops/dead-letters", headers=shop.admin, timeout=30)
    assert listed.status_code == 200, listed.text
    dlqs = {q["queue"]: q for q in listed.json()["items"]}
    assert dlqs[queue]["source"] == "eventshop-local-payments"
    assert dlqs[queue]["depth"] == 1
    assert dlqs[queue]["oldestAgeSeconds"] >= 0
    assert all(q["depth"] == 0 for name, q in dlqs.items() if name != queue)
    peeked = shop.http.get(f"{shop.api}/ops/dead-letters/{queue}", headers=shop.admin, timeout=30)
    assert peeked.status_code == 200, peeked.text
    mine = [m for m in peeked.json()["items"] if order["orderId"] in json.dumps(m["body"])]
    assert len(mine) == 1, peeked.json()  # the charge, given up after 3 receives
    assert mine[0]["receiveCount"] >= 3
    # Why: the error of its last receive, as the payments step recorded it.
    assert mine[0]["reason"].startswith("ProviderUnavailable: "), mine[0]

    shop.stack.control.advance_clock(600)  # not yet past the 900 s timeout
    shop.stack.drain(timeout=60)
    assert shop.order(order["orderId"])["status"] == "RESERVED"
    # The 5-minute watcher noticed the DLQ grow, once (later runs see no growth).
    grew = [m["body"] for m in shop.heard(alerts) if m["body"]["kind"] == "DEAD_LETTERS"]
    assert [a["data"]["queue"] for a in grew] == [queue], grew
    assert (grew[0]["data"]["depth"], grew[0]["data"]["previous"]) == (1, 0)

    # The sweep runs every 5 minutes: one run after the order is 900 s old.
    shop.stack.control.advance_clock(900)
    shop.stack.drain(timeout=60)
    after = shop.order(order["orderId"])
    assert (after["status"], after["reason"]) == ("CANCELLED", "timed out in RESERVED")
    assert shop.stock(sku) == 4
    types = [e["type"] for e in shop.events(order["orderId"])]
    assert types[-1] == "CancellationCompleted" and "PaymentVoided" in types
    timeouts = [
        m["body"]
        for m in shop.heard(alerts)
        if m["body"]["kind"] == "SAGA_TIMEOUT" and m["body"]["data"]["orderId"] == order["orderId"]
    ]
    assert len(timeouts) == 1
    assert shop.captures(order["orderId"]) == 0
    # The ops-alerts subscriber recorded both, once each, for GET /ops/alerts.
    recorded = [a for a in shop.alerts("SAGA_TIMEOUT") if a["data"]["orderId"] == order["orderId"]]
    assert [a["alertId"] for a in recorded] == [f"SAGA_TIMEOUT#{order['orderId']}"]
    assert [a["data"]["queue"] for a in shop.alerts("DEAD_LETTERS")] == [queue]

    # A redrive sends the charge back: the step finds a cancelled order and
    # does nothing, and the DLQ is empty.
    redriven = shop.http.post(
        f"{shop.api}/ops/dead-letters/{queue}/redrive", headers=shop.admin, timeout=30
    )
    assert redriven.status_code == 202, redriven.text
    assert (redriven.json()["status"], redriven.json()["moved"]) == ("COMPLETED", 1)
    shop.stack.drain(timeout=60)
    assert shop.order(order["orderId"])["status"] == "CANCELLED"
    assert shop.events(order["orderId"])[-1]["type"] == "CancellationCompleted"
    assert shop.captures(order["orderId"]) == 0
    assert depth(shop, queue) == 0


def depth(shop: Shop, queue: str) -> int:
    listed = shop.http.get(f"{shop.api}/ops/dead-letters", headers=shop.admin, timeout=30)
    assert listed.status_code == 200, listed.text
    return int(next(q for q in listed.json()["items"] if q["queue"] == queue)["depth"])


def test_a_poison_message_is_listed_survives_a_redrive_and_is_deleted(shop: Shop) -> None:
    queue = "eventshop-local-shipping-dlq"
    sqs = shop.stack.client("sqs")
    step = sqs.get_queue_url(QueueName="eventshop-local-shipping")["QueueUrl"]
    sqs.send_message(QueueUrl=step, MessageBody="poison: not JSON")
    shop.stack.drain(timeout=60)

    def poison() -> list[dict[str, object]]:
        peeked = shop.http.get(
            f"{shop.api}/ops/dead-letters/{queue}", headers=shop.admin, timeout=30
        )
        assert peeked.status_code == 200, peeked.text
        return [m for m in peeked.json()["items"] if m["body"] == "poison: not JSON"]

    [first] = poison()
    assert int(str(first["receiveCount"])) >= 3  # given up after 3 receives
    assert str(first["reason"]).startswith("unreadable message: "), first

    redriven = shop.http.post(
        f"{shop.api}/ops/dead-letters/{queue}/redrive", headers=shop.admin, timeout=30
    )
    assert (redriven.status_code, redriven.json()["moved"]) == (202, 1)
    shop.stack.drain(timeout=60)
    [again] = poison()  # failed 3 more times: back, as a new message
    assert again["messageId"] != first["messageId"]
    assert int(str(again["receiveCount"])) >= 3
    assert str(again["reason"]).startswith("unreadable message: "), again

    gone = shop.http.delete(
        f"{shop.api}/ops/dead-letters/{queue}/{again['messageId']}", headers=shop.admin, timeout=30
    )
    assert gone.status_code == 204, gone.text
    assert poison() == []
    assert depth(shop, queue) == 0


def stack_now(shop: Shop) -> datetime:
    return datetime.fromisoformat(shop.stack.control.status()["clock"])


def test_two_sweeps_at_once_compensate_each_of_20_stuck_orders_once(shop: Shop) -> None:
    """10 orders stuck RESERVED (a payment provider that never answers), 10
    stuck PAID (a carrier that never answers): two sweeper runs at once, on the
    stack's tables, with every write conditional; the stack compensates."""
    from chalicelib.catalog.dynamo import DynamoCatalogRepository
    from chalicelib.catalog.service import CatalogService
    from chalicelib.ops.service import OpsService
    from chalicelib.orders.dynamo import DynamoOrderRepository
    from chalicelib.orders.service import OrderService
    from tests.support.fakes import FakeAlerts

    sku = shop.product(stock=100)
    stuck_reserved = [shop.place(f"r{i}", [(sku, 2)], token="tok_unavailable") for i in range(10)]
    stuck_paid = [shop.place(f"p{i}", [(sku, 3)], postal_code="00000") for i in range(10)]
    shop.stack.drain(timeout=120)
    ids = [o["orderId"] for o in stuck_reserved + stuck_paid]
    assert [o["status"] for o in shop.orders(ids)] == ["RESERVED"] * 10 + ["PAID"] * 10
    assert shop.stock(sku) == 100 - 20 - 30

    ddb = shop.stack.client("dynamodb")
    alerts = FakeAlerts()
    catalog = CatalogService(DynamoCatalogRepository("eventshop-local-products", ddb), alerts)
    orders = OrderService(DynamoOrderRepository("eventshop-local-orders", ddb), catalog)
    sweeper = OpsService(orders, alerts, saga_timeout_seconds=900)
    later = stack_now(shop) + timedelta(seconds=901)
    start = threading.Barrier(2)

    def sweep() -> list[str]:
        start.wait()
        return sweeper.sweep_stuck_sagas(later).timed_out

    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _: sweep(), range(2)))
    assert sorted(runs[0] + runs[1]) == sorted(ids)  # each order by exactly one run
    assert len(set(runs[0]) & set(runs[1])) == 0
    # One timeout alert per order. (Orders the first run moved to CANCELLING may
    # also be reported stuck there by the other: its "now" is 15 minutes ahead
    # of the stack's own writes. Those alerts name the status in their id.)
    timed_out = [a.data["orderId"] for a in alerts.alerts if a.alert_id.count("#") == 1]
    assert sorted(timed_out) == sorted(ids)

    shop.stack.drain(timeout=120)
    after = {o["orderId"]: o for o in shop.orders(ids)}
    for o in stuck_reserved:
        assert (after[o["orderId"]]["status"], after[o["orderId"]]["reason"]) == (
            "CANCELLED",
            "timed out in RESERVED",
        )
        assert shop.captures(o["orderId"]) == 0
    for o in stuck_paid:
        assert (after[o["orderId"]]["status"], after[o["orderId"]]["reason"]) == (
            "CANCELLED",
            "timed out in PAID",
        )
        assert (shop.captures(o["orderId"]), shop.refunded(o["orderId"])) == (1, True)
        assert "PaymentRefunded" in [e["type"] for e in shop.events(o["orderId"])]
    for order_id in ids:
        types = [e["type"] for e in shop.events(order_id)]
        assert types.count("OrderCancelled") == 1 and types.count("StockReleased") == 1
    assert shop.stock(sku) == 100  # every unit back, none twice


def test_a_day_on_the_stacks_clock_expires_slots_and_ttl_records(shop: Shop) -> None:
    sku = shop.product(stock=5)
    slot = shop.http.post(f"{shop.api}/products/{sku}/images", headers=shop.admin, timeout=30)
    assert slot.status_code == 201, slot.text
    image_id = slot.json()["imageId"]
    placed = shop.place("ida", [(sku, 1)], key=f"key-{image_id}")
    ddb = shop.stack.client("dynamodb")

    def idempotency_records() -> list[dict[str, object]]:
        found = ddb.scan(
            TableName="eventshop-local-orders",
            FilterExpression="begins_with(pk, :p) AND orderId = :o",
            ExpressionAttributeValues={
                ":p": {"S": "IDEMPOTENCY#"},
                ":o": {"S": placed["orderId"]},
            },
        )
        return list(found["Items"])

    shop.stack.drain(timeout=60)
    assert len(idempotency_records()) == 1
    # The slot expiry runs daily (03:15 UTC): two days on the stack's clock
    # pass at least one run more than 24 h after the slot was made.
    shop.stack.control.advance_clock(2 * 24 * 3600)
    shop.stack.drain(timeout=180)

    got = shop.http.get(f"{shop.api}/images/{image_id}", headers=shop.admin, timeout=30).json()
    assert got["status"] == "FAILED" and got["reason"].startswith("expired"), got
    failed = [a for a in shop.alerts("IMAGE_FAILED") if a["data"]["imageId"] == image_id]
    assert len(failed) == 1 and failed[0]["data"]["reason"].startswith("expired")
    # The idempotency key's TTL (24 h) passed on the stack's clock: DynamoDB's
    # TTL (devstack's reaper) deleted it, and the order itself stays.
    assert idempotency_records() == []
    assert shop.order(placed["orderId"])["status"] == "COMPLETED"
    ttl = next(s for s in shop.stack.control.status()["sources"] if s["kind"] == "ttl")
    assert ttl["deleted"] >= 1
