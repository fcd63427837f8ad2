"""Operations drills on the running stack: a payment provider that never
answers, its message in the DLQ, and the saga-timeout sweep (driven by the
stack's clock) that compensates the order."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from devstack.testing import running_stack
from tests.support.e2e_shop import Shop


@pytest.fixture(scope="module")
def shop() -> Iterator[Shop]:
    # A stack of its own: these drills move the stack's clock, and the sweep
    # would then time out the orders other tests' sagas are still moving.
    with running_stack() as stack:
        yield Shop(stack)


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
