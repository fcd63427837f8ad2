"""The whole shop paying through Stripe: ``PAYMENT_PROVIDER=stripe`` on the
local stack, the real ``stripe`` library talking HTTP to devstack's
Stripe-compatible server, whose signed webhooks come back through
``POST /webhooks/stripe`` and the bus. Every count is the server's own:
PaymentIntents, successful charges and refunds per order."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from devstack.testing import RunningStack, running_stack
from tests.support.e2e_shop import Shop

pytestmark = pytest.mark.timeout(900)

STRIPE = {"PAYMENT_PROVIDER": "stripe"}


class StripeSide:
    """The local Stripe server's control API: what it holds, its faults."""

    def __init__(self, url: str) -> None:
        assert url, "the stack did not start a Stripe server"
        self.url = url

    def intents(self, order_id: str) -> list[dict[str, Any]]:
        r = requests.get(
            f"{self.url}/_control/payment_intents",
            params={"metadata[order_id]": order_id},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        return list(r.json()["data"])

    def stats(self) -> dict[str, Any]:
        return dict(requests.get(f"{self.url}/_control/stats", timeout=30).json())

    def faults(self, **faults: Any) -> None:
        r = requests.post(f"{self.url}/_control/faults", json=faults, timeout=30)
        assert r.status_code == 200, r.text

    def authenticate(self, intent_id: str, succeed: bool = True) -> None:
        r = requests.post(
            f"{self.url}/_control/payment_intents/{intent_id}/authenticate",
            json={"succeed": succeed},
            timeout=30,
        )
        assert r.status_code == 200, r.text

    def succeeded(self, order_id: str) -> int:
        """Successful PaymentIntents of the order (each one a capture)."""
        return sum(1 for i in self.intents(order_id) if i["status"] == "succeeded")

    def refunds(self, order_id: str) -> list[dict[str, Any]]:
        return [r for i in self.intents(order_id) for r in i["refunds"]]


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    with running_stack(stripe=True, env=STRIPE) as running:
        yield running


@pytest.fixture(scope="module")
def shop(stack: RunningStack) -> Shop:
    return Shop(stack)


@pytest.fixture(scope="module")
def stripe_side(stack: RunningStack) -> StripeSide:
    return StripeSide(stack.stripe_url)


@pytest.fixture(autouse=True)
def no_faults(stripe_side: StripeSide) -> Iterator[None]:
    yield
    stripe_side.faults()


def assert_paid_once(shop: Shop, side: StripeSide, order_id: str) -> dict[str, Any]:
    order = shop.order(order_id)
    (intent,) = side.intents(order_id)
    assert intent["status"] == "succeeded"
    assert intent["amount"] == intent["amount_received"] == order["totalCents"]
    return intent


def test_a_card_payment_completes_the_order_with_the_order_on_the_payment(
    shop: Shop, stripe_side: StripeSide
) -> None:
    sku = shop.product(stock=5, price=1299)
    flow = {"X-Correlation-Id": "stripe-flow-1"}
    order = shop.place("stripe-ada", [(sku, 2)], token="pm_card_visa", headers=flow)
    shop.stack.drain(timeout=120)

    final = shop.order(order["orderId"])
    assert final["status"] == "COMPLETED"
    intent = assert_paid_once(shop, stripe_side, order["orderId"])
    assert intent["currency"] == "eur" and intent["amount"] == 2598
    assert intent["metadata"]["order_id"] == order["orderId"]
    assert intent["metadata"]["customer_id"] == "stripe-ada"
    assert intent["metadata"]["correlation_id"] == "stripe-flow-1"
    captured = next(e for e in shop.events(order["orderId"]) if e["type"] == "PaymentCaptured")
    assert captured["data"]["chargeId"] == intent["id"]


def test_a_declined_card_cancels_with_stripes_reason_and_returns_the_stock(
    shop: Shop, stripe_side: StripeSide
) -> None:
    sku = shop.product(stock=3)
    order = shop.place("stripe-bo", [(sku, 2)], token="pm_card_chargeDeclined")
    shop.stack.drain(timeout=120)

    final = shop.order(order["orderId"])
    assert final["status"] == "CANCELLED"
    assert final["reason"] == "payment declined: Your card was declined."
    assert shop.stock(sku) == 3
    assert stripe_side.succeeded(order["orderId"]) == 0


@pytest.mark.parametrize(("succeed", "want"), [(True, "COMPLETED"), (False, "CANCELLED")])
def test_a_payment_needing_authentication_waits_reserved_and_the_webhook_decides(
    shop: Shop, stripe_side: StripeSide, succeed: bool, want: str
) -> None:
    sku = shop.product(stock=2)
    order = shop.place("stripe-cy", [(sku, 1)], token="pm_card_authenticationRequired")
    shop.stack.drain(timeout=120)
    assert shop.order(order["orderId"])["status"] == "RESERVED"
    (intent,) = stripe_side.intents(order["orderId"])
    assert intent["status"] == "requires_action"

    stripe_side.authenticate(intent["id"], succeed)  # the customer, at the bank's page
    shop.stack.drain(timeout=120)  # the webhook, the bus, the payments step, the rest

    final = shop.order(order["orderId"])
    assert final["status"] == want
    assert stripe_side.succeeded(order["orderId"]) == (1 if succeed else 0)
    assert shop.stock(sku) == (1 if succeed else 2)
    if not succeed:
        assert final["reason"].startswith("payment declined: The provided PaymentMethod has failed")


def test_rate_limits_are_retried_and_charge_once(shop: Shop, stripe_side: StripeSide) -> None:
    sku = shop.product(stock=5)
    stripe_side.faults(rate_limit=2)  # the first two API calls answer 429
    order = shop.place("stripe-di", [(sku, 1)], token="pm_card_visa")
    shop.stack.drain(timeout=120)

    assert shop.order(order["orderId"])["status"] == "COMPLETED"
    assert_paid_once(shop, stripe_side, order["orderId"])


def test_a_cancel_after_capture_refunds_once(shop: Shop, stripe_side: StripeSide) -> None:
    sku = shop.product(stock=5)
    # Postal code 00000: the simulated carrier never answers, so the order stays PAID.
    order = shop.place("stripe-fa", [(sku, 2)], token="pm_card_visa", postal_code="00000")
    shop.stack.drain(timeout=120)
    assert shop.order(order["orderId"])["status"] == "PAID"

    shop.stack.control.set_faults(duplicateDeliveries=True)  # the cancel's steps run twice
    try:
        r = shop.http.post(
            f"{shop.api}/orders/{order['orderId']}/cancel", headers=shop.admin, timeout=30
        )
        assert r.status_code == 202, r.text
        shop.stack.drain(timeout=120)
    finally:
        shop.stack.control.set_faults(duplicateDeliveries=False)

    assert shop.order(order["orderId"])["status"] == "CANCELLED"
    intent = assert_paid_once(shop, stripe_side, order["orderId"])
    (refund,) = stripe_side.refunds(order["orderId"])
    assert refund["amount"] == intent["amount"] and refund["status"] == "succeeded"
    assert refund["metadata"]["order_id"] == order["orderId"]
    assert shop.stock(sku) == 5


def report(name: str, statuses: Counter[str], before: dict[str, Any], after: dict[str, Any]) -> str:
    """One line for the closing note: the orders' statuses and what the
    server counted meanwhile."""
    delta = {k: after[k] - before[k] for k in ("succeeded", "refunds", "requests", "replayed")}
    hooks = {k: after["webhooks"][k] - before["webhooks"][k] for k in ("sent", "failed")}
    return f"\nstripe drill {name}: orders {dict(statuses)}; server {delta}, webhooks {hooks}"


def counted(shop: Shop, side: StripeSide, ids: list[str]) -> Counter[str]:
    """Each order's status; and for each, the server's count agrees: one
    successful PaymentIntent per completed order, none for any other, and a
    refund for every capture of a cancelled one."""
    statuses: Counter[str] = Counter()
    for order in shop.orders(ids):
        statuses[order["status"]] += 1
        intents = side.intents(order["orderId"])
        assert len(intents) <= 1, (order["orderId"], intents)  # never two for one order
        succeeded = sum(1 for i in intents if i["status"] == "succeeded")
        refunds = sum(len(i["refunds"]) for i in intents)
        if order["status"] == "COMPLETED":
            assert (succeeded, refunds) == (1, 0), order
        elif order["status"] == "CANCELLED":
            assert refunds == succeeded, order
        else:
            assert succeeded == 0, order
    return statuses


def test_200_concurrent_orders_for_50_units_take_50_payments(
    shop: Shop, stripe_side: StripeSide, capsys: pytest.CaptureFixture[str]
) -> None:
    sku = shop.product(stock=50)
    before = stripe_side.stats()

    def buy(i: int) -> str:
        return str(
            shop.place(f"stripe-racer-{i % 20}", [(sku, 1)], token="pm_card_visa")["orderId"]
        )

    with ThreadPoolExecutor(16) as pool:
        ids = list(pool.map(buy, range(200)))
    shop.stack.drain(timeout=300)

    statuses = counted(shop, stripe_side, ids)
    after = stripe_side.stats()
    with capsys.disabled():
        print(report("200 racers for 50 units", statuses, before, after))
    assert statuses == {"COMPLETED": 50, "REJECTED": 150}
    assert after["succeeded"] - before["succeeded"] == 50
    assert shop.stock(sku) == 0


def test_every_delivery_and_every_webhook_twice_charges_once(
    shop: Shop, stripe_side: StripeSide, capsys: pytest.CaptureFixture[str]
) -> None:
    sku = shop.product(stock=100)
    before = stripe_side.stats()
    plan = (
        [("pm_card_visa", "COMPLETED")] * 6
        + [("pm_card_chargeDeclined", "CANCELLED")] * 2
        + [("pm_card_authenticationRequired", "COMPLETED")] * 2
    )
    shop.stack.control.set_faults(duplicateDeliveries=True)
    stripe_side.faults(duplicate_webhooks=True)
    try:
        placed = [(shop.place("stripe-twice", [(sku, 1)], token=t)["orderId"], w) for t, w in plan]
        shop.stack.drain(timeout=180)
        for order_id, _ in placed[-2:]:
            (intent,) = stripe_side.intents(order_id)
            stripe_side.authenticate(intent["id"])
        shop.stack.drain(timeout=180)
    finally:
        shop.stack.control.set_faults(duplicateDeliveries=False)

    ids = [o for o, _ in placed]
    statuses = counted(shop, stripe_side, ids)
    with capsys.disabled():
        print(report("every delivery and webhook twice", statuses, before, stripe_side.stats()))
    assert statuses == {"COMPLETED": 8, "CANCELLED": 2}
    for order_id, want in placed:
        assert shop.order(order_id)["status"] == want
        types = [e["type"] for e in shop.events(order_id)]
        assert len(types) == len(set(types)), types  # no event twice
    assert shop.stock(sku) == 100 - 8


def test_ten_percent_of_aws_calls_failing_still_charges_each_order_once(
    shop: Shop, stripe_side: StripeSide, capsys: pytest.CaptureFixture[str]
) -> None:
    """The stack's own fault switch, as --aws-error-rate 0.1 sets it at
    start, for every AWS call the app makes."""
    sku = shop.product(stock=30)
    before = stripe_side.stats()
    control = shop.stack.control
    control.reset_aws_calls()
    control.set_faults(awsErrorRate=0.1)
    try:

        def buy(i: int) -> str:
            order = shop.place(
                f"stripe-flaky-{i}", [(sku, 1)], token="pm_card_visa", key=f"k-{i}", attempts=3
            )
            return str(order["orderId"])

        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(buy, range(40)))
        assert len(set(ids)) == 40
        shop.stack.drain(timeout=300)
        injected = control.aws_calls()
    finally:
        control.set_faults(awsErrorRate=0)

    statuses = counted(shop, stripe_side, ids)
    with capsys.disabled():
        print(
            report("10% of AWS calls failing", statuses, before, stripe_side.stats())
            + f", AWS faults injected {sum(injected['injected'].values())}"
        )
    assert statuses == {"COMPLETED": 30, "REJECTED": 10}, statuses
    assert stripe_side.stats()["succeeded"] - before["succeeded"] == 30
    assert shop.stock(sku) == 0
    assert sum(injected["injected"].values()) > 20, injected  # the faults did happen


def test_stripe_failing_forever_parks_the_step_in_the_dlq_and_charges_nothing(
    shop: Shop, stripe_side: StripeSide
) -> None:
    sku = shop.product(stock=5)
    stripe_side.faults(server_error_forever=True)
    order = shop.place("stripe-ed", [(sku, 1)], token="pm_card_visa")
    shop.stack.drain(timeout=120)
    stripe_side.faults()

    assert shop.order(order["orderId"])["status"] == "RESERVED"  # the saga timeout's, now
    queue = "eventshop-local-payments-dlq"
    peeked = shop.http.get(f"{shop.api}/ops/dead-letters/{queue}", headers=shop.admin, timeout=30)
    mine = [m for m in peeked.json()["items"] if order["orderId"] in json.dumps(m["body"])]
    assert len(mine) == 1 and mine[0]["reason"].startswith("ProviderUnavailable: Stripe: 500")
    assert stripe_side.intents(order["orderId"]) == []  # nothing created, nothing taken

    # The saga timeout (its sweep every 5 minutes, on the stack's clock; last
    # in this module, so no other saga is moving) cancels it: the void finds
    # no PaymentIntent, nothing was captured, nothing is refunded.
    shop.stack.control.advance_clock(1200)
    shop.stack.drain(timeout=120)
    final = shop.order(order["orderId"])
    assert (final["status"], final["reason"]) == ("CANCELLED", "timed out in RESERVED")
    assert "PaymentVoided" in [e["type"] for e in shop.events(order["orderId"])]
    assert stripe_side.intents(order["orderId"]) == []
    assert shop.stock(sku) == 5
