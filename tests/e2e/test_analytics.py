"""The analytics read model on the running stack: fed by its rule on the
event bus, its numbers are the orders' own, every delivery doubled."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from devstack.testing import RunningStack
from tests.support.e2e_shop import TERMINAL, Shop


@pytest.fixture(scope="module")
def shop(app_stack: RunningStack) -> Shop:
    return Shop(app_stack)


def daily(shop: Shop, days: list[str]) -> dict[str, dict[str, int]]:
    r = shop.http.get(
        f"{shop.api}/analytics/daily",
        params={"from": min(days), "to": max(days)},
        headers=shop.admin,
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return {d["day"]: d for d in r.json()["items"] if d["day"] in days}


def sales(shop: Shop, sku: str) -> dict[str, Any]:
    r = shop.http.get(f"{shop.api}/analytics/products/{sku}", headers=shop.admin, timeout=30)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_forty_mixed_orders_delivered_twice_count_as_their_histories_say(shop: Shop) -> None:
    plenty, scarce = shop.product(stock=100, price=700), shop.product(stock=3, price=1100)
    shop.stack.drain(timeout=60)
    today = shop.order(shop.place("analytics-probe", [(plenty, 1)])["orderId"])["createdAt"][:10]
    shop.stack.drain(timeout=60)
    days = [today]
    before = daily(shop, days)
    before_sales = {sku: sales(shop, sku) for sku in (plenty, scarce)}

    plan: list[tuple[str, list[tuple[str, int]], bool]] = []
    for i in range(40):
        token = "tok_declined" if i % 5 == 1 else "tok_ok"
        lines = [(scarce, 1)] if i % 4 == 2 else [(plenty, 1 + i % 3)]  # scarce: 3 of 10
        plan.append((token, lines, i % 7 == 3))  # some cancelled by their customer

    def run(i: int) -> str:
        token, lines, cancel = plan[i]
        sub = f"analytics-{uuid.uuid4().hex[:6]}"
        order_id = str(shop.place(sub, lines, token=token)["orderId"])
        if cancel:
            shop.http.post(
                f"{shop.api}/orders/{order_id}/cancel", headers=shop.customer(sub), timeout=30
            )  # 202 or 409 (too late): either way the history says
        return order_id

    shop.stack.control.set_faults(duplicateDeliveries=True)
    try:
        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(run, range(40)))
        shop.stack.drain(timeout=240)
    finally:
        shop.stack.control.set_faults(duplicateDeliveries=False)

    # What the orders' own event histories say.
    want: dict[str, Counter[str]] = {d: Counter() for d in days}
    sold: dict[str, Counter[str]] = {plenty: Counter(), scarce: Counter()}
    outcomes: Counter[str] = Counter()
    for order_id in ids:
        order = shop.order(order_id)
        history = [e["type"] for e in shop.events(order_id)]
        assert order["status"] in TERMINAL, order
        tally = want.setdefault(order["createdAt"][:10], Counter())
        tally["orders"] += 1
        tally["units"] += sum(line["quantity"] for line in order["items"])
        outcome = {
            "OrderCompleted": "completed",
            "OrderRejected": "rejected",
            "CancellationCompleted": "cancelled",
        }[history[-1]]
        outcomes[outcome] += 1
        tally[outcome] += 1
        if outcome == "completed":
            tally["revenueCents"] += order["totalCents"]
            for line in order["items"]:
                sold[line["sku"]]["unitsSold"] += line["quantity"]
                sold[line["sku"]]["revenueCents"] += line["lineTotalCents"]
                sold[line["sku"]]["orders"] += 1
    assert set(outcomes) == {"completed", "rejected", "cancelled"}, outcomes

    after = daily(shop, sorted(want))
    for day, counts in want.items():
        got = {k: after[day][k] - before.get(day, {}).get(k, 0) for k in after[day] if k != "day"}
        assert got == {k: counts.get(k, 0) for k in got}, day
    for sku, counts in sold.items():
        got = {k: sales(shop, sku)[k] - before_sales[sku][k] for k in counts}
        assert got == dict(counts), sku


def replay(shop: Shop, *args: str) -> str:
    import subprocess
    import sys

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools",
            "replay-events",
            "--into",
            "analytics",
            *args,
            "--endpoint",
            shop.stack.emulator_url,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_wiped_and_replayed_from_the_archive_the_numbers_are_the_same(shop: Shop) -> None:
    """The projection rebuilt from the bus's archive (StartReplay to the
    analytics rule only) equals the live one; no other consumer hears the
    replay; a replay since a moment changes nothing that was counted."""
    sku = shop.product(stock=10, price=900)
    order = shop.place("replay-1", [(sku, 2)])
    shop.stack.drain(timeout=60)
    today = shop.order(order["orderId"])["createdAt"][:10]
    live = (daily(shop, [today]), sales(shop, sku))
    assert live[1]["unitsSold"] == 2
    listener = shop.listen("-customer-notifications")
    started = time.time()

    printed = replay(shop)

    assert "COMPLETED" in printed and "to rule eventshop-local-analytics only" in printed
    assert "after wiping" in printed
    shop.stack.drain(timeout=120)
    assert (daily(shop, [today]), sales(shop, sku)) == live
    # Only the analytics consumer heard it: no saga step ran, no one was told.
    ran = Counter(d["handler"] for d in shop.stack.control.deliveries() if d["at"] >= started)
    assert ran["analytics_step"] > 0, ran
    assert not {"inventory_step", "payments_step", "shipping_step", "notify_step"} & set(ran)
    assert shop.heard(listener) == []

    again = replay(shop, "--since", f"{today}T00:00:00Z")
    assert "after wiping" not in again
    shop.stack.drain(timeout=120)
    assert (daily(shop, [today]), sales(shop, sku)) == live


def test_the_stacks_status_lists_the_bus_rules_and_what_they_delivered(shop: Shop) -> None:
    sku = shop.product(stock=5)
    shop.place("rules-1", [(sku, 1)])
    shop.stack.drain(timeout=60)
    rules = {r["name"]: r for r in shop.stack.control.status()["rules"]}
    consumers = {"inventory", "payments", "shipping", "notify", "analytics"}
    assert {f"eventshop-local-{c}" for c in consumers} <= set(rules), sorted(rules)
    analytics = rules["eventshop-local-analytics"]
    assert analytics["bus"] == "eventshop-local"
    assert analytics["eventPattern"]["source"] == ["eventshop.orders"]
    assert analytics["targets"] == [
        next(t for t in analytics["targets"] if t.endswith(":eventshop-local-analytics"))
    ]
    assert all(rules[f"eventshop-local-{c}"]["matched"] > 0 for c in consumers), rules
    assert not [n for n in rules if n.startswith("Events-Archive-")]  # the archive's own
