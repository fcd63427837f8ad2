"""Stock drills on the running local stack: an admin writing products back while
orders reserve, racing creates, and the low-stock alert of an adjustment.

The emulator serializes requests as DynamoDB serializes writes to one item, so
these drills race the app's conditions, not the emulator's internals.
"""

from __future__ import annotations

import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from devstack.testing import RunningStack
from tests.support.e2e_shop import Shop

DESCRIPTIVE = ("name", "priceCents", "stock", "lowStockThreshold")


@pytest.fixture(scope="module")
def shop(app_stack: RunningStack) -> Shop:
    return Shop(app_stack)


class AdminLoop:
    """GET the product and PUT it back unchanged, over and over, until the stock
    reads 0 (every unit reserved) or ``limit`` rounds have passed."""

    def __init__(self, shop: Shop, sku: str, limit: int = 2000) -> None:
        self.shop, self.sku, self.limit = shop, sku, limit
        self.http = requests.Session()  # a Session is not shared between threads
        self.seen: list[int] = []
        self.statuses: Counter[int] = Counter()
        self.refusals: list[str] = []

    def run(self) -> None:
        url = f"{self.shop.api}/products/{self.sku}"
        for _ in range(self.limit):
            product = self.http.get(url, timeout=30).json()
            self.seen.append(product["stock"])
            if product["stock"] == 0:
                return
            body = {k: product[k] for k in DESCRIPTIVE}
            r = self.http.put(url, json=body, headers=self.shop.admin, timeout=30)
            self.statuses[r.status_code] += 1
            if r.status_code == 409:
                self.refusals.append(r.json()["Message"])


def test_an_admin_writing_back_what_it_read_never_oversells(shop: Shop) -> None:
    """20 orders of 1 on stock 20 while an admin GETs and PUTs the product back,
    then 25 more: exactly 20 sold. A PUT that set stock sold 28."""
    sku = shop.product(stock=20)
    admin = AdminLoop(shop, sku)

    def buy(i: int) -> str:
        return str(shop.place(f"stock-racer-{i % 10}", [(sku, 1)])["orderId"])

    with ThreadPoolExecutor(1) as background:
        looping = background.submit(admin.run)
        with ThreadPoolExecutor(8) as pool:
            first = list(pool.map(buy, range(20)))
        looping.result(timeout=600)
    shop.stack.drain(timeout=240)
    with ThreadPoolExecutor(8) as pool:
        second = list(pool.map(buy, range(20, 45)))
    shop.stack.drain(timeout=240)

    statuses = Counter(o["status"] for o in shop.orders(first + second))
    assert statuses == {"COMPLETED": 20, "REJECTED": 25}  # sold: exactly the 20 units
    assert Counter(o["status"] for o in shop.orders(first)) == {"COMPLETED": 20}
    assert shop.stock(sku) == 0
    assert min(admin.seen) >= 0
    assert admin.seen[-1] == 0, admin.seen  # the loop ran until every unit was reserved
    assert len(set(admin.seen)) > 2, admin.seen  # it saw the reservations happen
    assert set(admin.statuses) <= {200, 409}, admin.statuses
    assert all("/stock-adjustments" in m for m in admin.refusals), admin.refusals
    print(f"\nadmin loop: {len(admin.seen)} reads, PUTs {dict(admin.statuses)}")


def test_racing_creates_set_the_stock_once(shop: Shop) -> None:
    sku = f"SKU-{uuid.uuid4().hex[:10]}"

    def create(stock: int) -> requests.Response:
        body: dict[str, Any] = {"name": f"Product {sku}", "priceCents": 100, "stock": stock}
        return requests.put(f"{shop.api}/products/{sku}", json=body, headers=shop.admin, timeout=30)

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(create, range(1, 9)))

    created = [r.json() for r in responses if r.status_code == 200]
    assert sorted(r.status_code for r in responses) == [200] + [409] * 7
    assert created[0]["version"] == 1
    assert shop.stock(sku) == created[0]["stock"]


def heard_low_stock(shop: Shop, url: str, sku: str) -> list[tuple[str, Any]]:
    return [
        (m["body"]["kind"], m["body"]["data"]["stock"])
        for m in shop.heard(url)
        if m["body"]["data"].get("sku") == sku
    ]


def test_an_adjustment_below_the_threshold_alerts_once_per_crossing(shop: Shop) -> None:
    sku = shop.product(stock=5, threshold=3)
    alerts = shop.listen("-ops-alerts")

    def adjust(delta: int) -> dict[str, Any]:
        r = shop.http.post(
            f"{shop.api}/products/{sku}/stock-adjustments",
            json={"delta": delta, "reason": "drill"},
            headers=shop.admin,
            timeout=30,
        )
        assert r.status_code == 200, r.text
        return dict(r.json())

    adjust(-1)  # 5 -> 4
    adjust(-2)  # 4 -> 2: crosses
    adjust(-1)  # 2 -> 1
    shop.stack.drain()
    assert heard_low_stock(shop, alerts, sku) == [("LOW_STOCK", 2)]

    refused = shop.http.post(
        f"{shop.api}/products/{sku}/stock-adjustments",
        json={"delta": -2, "reason": "drill"},
        headers=shop.admin,
        timeout=30,
    )
    assert refused.status_code == 409, refused.text
    adjust(4)  # 1 -> 5
    assert adjust(-4)["stock"] == 1  # crosses again
    shop.stack.drain()
    assert heard_low_stock(shop, alerts, sku) == [("LOW_STOCK", 1)]
