"""The analytics read model through the app: the consumer fed what the bus's
analytics rule delivers, and the admin routes that read the numbers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.support.functional_saga import NO_FAILURES, start, types
from tests.support.functional_shop import Shop


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def daily(shop: Shop, first: str, last: str) -> dict[str, dict[str, int]]:
    response = shop.call("GET", f"/analytics/daily?from={first}&to={last}", headers=shop.admin())
    assert response.status_code == 200, response.body
    return {d["day"]: d for d in response.json_body["items"]}


def test_a_completed_order_counts_on_its_day_and_for_its_products(shop: Shop) -> None:
    a = shop.put_product(price=500, stock=10)["sku"]
    saga = start(shop, [(a, 2)])
    day = today()
    before = daily(shop, day, day)[day]
    bodies = saga.relay()
    for step in ("inventory_step", "payments_step", "shipping_step"):
        assert saga.step(step, bodies[-1:]) == NO_FAILURES
        bodies += saga.relay()
    assert types(bodies) == [
        "OrderPlaced",
        "StockReserved",
        "PaymentCaptured",
        "OrderShipped",
        "OrderCompleted",
    ]
    # The analytics rule's events, each delivered twice: counted once.
    kinds = ("OrderPlaced", "OrderCompleted")
    counted = [b for b, t in zip(bodies, types(bodies), strict=True) if t in kinds]
    assert saga.step("analytics_step", counted + counted) == NO_FAILURES

    after = daily(shop, day, day)[day]
    change = {k: after[k] - before[k] for k in after if k != "day"}
    assert change == {
        "orders": 1,
        "completed": 1,
        "rejected": 0,
        "cancelled": 0,
        "revenueCents": 1000,
        "units": 2,
    }
    sold = shop.call("GET", f"/analytics/products/{a}", headers=shop.admin())
    assert sold.status_code == 200, sold.body
    assert sold.json_body == {"sku": a, "unitsSold": 2, "revenueCents": 1000, "orders": 1}


def test_every_day_of_the_range_is_listed_zeros_included(shop: Shop) -> None:
    days = daily(shop, "2020-02-27", "2020-03-01")
    assert list(days) == ["2020-02-27", "2020-02-28", "2020-02-29", "2020-03-01"]
    assert days["2020-02-29"] == {
        "day": "2020-02-29",
        "orders": 0,
        "completed": 0,
        "rejected": 0,
        "cancelled": 0,
        "revenueCents": 0,
        "units": 0,
    }
    never = shop.call("GET", "/analytics/products/NEVER-SOLD-1", headers=shop.admin())
    assert never.json_body == {
        "sku": "NEVER-SOLD-1",
        "unitsSold": 0,
        "revenueCents": 0,
        "orders": 0,
    }


def test_a_bad_range_is_a_400_that_names_the_parameter(shop: Shop) -> None:
    for query, field in (
        ("", "from"),
        ("?from=2026-01-01", "to"),
        ("?from=2026-13-01&to=2026-12-31", "from"),
        ("?from=2026-01-02&to=2026-01-01", "to"),
        ("?from=2025-01-01&to=2026-01-02", "to"),
    ):
        response = shop.call("GET", f"/analytics/daily{query}", headers=shop.admin())
        assert response.status_code == 400, (query, response.body)
        assert response.json_body["Errors"][0]["loc"] == ["query", field], query
    bad_sku = shop.call("GET", "/analytics/products/no%20sku", headers=shop.admin())
    assert bad_sku.status_code == 400, bad_sku.body


def complete(shop: Shop, items: list[tuple[str, int]]) -> None:
    """An order of ``items`` through the saga to COMPLETED, and its facts counted."""
    saga = start(shop, items)
    bodies = saga.relay()
    for step in ("inventory_step", "payments_step", "shipping_step"):
        assert saga.step(step, bodies[-1:]) == NO_FAILURES
        bodies += saga.relay()
    assert types(bodies)[-1] == "OrderCompleted"
    assert saga.step("analytics_step", bodies) == NO_FAILURES


def test_the_top_products_are_the_highest_revenue_first(shop: Shop) -> None:
    # Prices far above any other test's products: these three lead the ranking.
    big, mid, small = (
        shop.put_product(price=p, stock=100)["sku"] for p in (90_000_000, 80_000_000, 70_000_000)
    )
    complete(shop, [(mid, 2), (small, 1)])  # mid 160M, small 70M
    complete(shop, [(big, 1), (mid, 1)])  # big 90M, mid 240M in all
    complete(shop, [(big, 1)])  # big 180M

    top = shop.call("GET", "/analytics/top-products?limit=3", headers=shop.admin())
    assert top.status_code == 200, top.body
    assert top.json_body == {
        "items": [
            {"sku": mid, "unitsSold": 3, "revenueCents": 240_000_000, "orders": 2},
            {"sku": big, "unitsSold": 2, "revenueCents": 180_000_000, "orders": 2},
            {"sku": small, "unitsSold": 1, "revenueCents": 70_000_000, "orders": 1},
        ]
    }
    default = shop.call("GET", "/analytics/top-products", headers=shop.admin()).json_body["items"]
    assert [p["sku"] for p in default[:3]] == [mid, big, small] and len(default) <= 10
    revenue = [p["revenueCents"] for p in default]
    assert revenue == sorted(revenue, reverse=True)


@pytest.mark.parametrize("limit", ["0", "51", "ten", "-1", ""])
def test_a_top_products_limit_out_of_range_is_a_400_naming_it(shop: Shop, limit: str) -> None:
    response = shop.call("GET", f"/analytics/top-products?limit={limit}", headers=shop.admin())
    assert response.status_code == 400, response.body
    assert response.json_body["Errors"] == [{"loc": ["query", "limit"], "msg": "1-50"}]


def test_a_batch_counts_in_one_write_and_a_bad_record_fails_alone(shop: Shop) -> None:
    import json

    a = shop.put_product(price=300, stock=10)["sku"]
    sagas = [start(shop, [(a, 1)]) for _ in range(3)]
    placed = [s.relay()[0] for s in sagas]
    day = today()
    before = daily(shop, day, day)[day]
    no_items = json.loads(placed[0])
    no_items["detail"]["order"]["items"] = []
    no_items["detail"]["orderId"] = "f" * 32

    result = sagas[0].step("analytics_step", ["not json", json.dumps(no_items), *placed, placed[1]])

    ids = [f["itemIdentifier"] for f in result["batchItemFailures"]]
    assert len(ids) == 2  # the unreadable record and the one whose fact cannot be made
    after = daily(shop, day, day)[day]
    assert after["orders"] - before["orders"] == 3  # each placed order once
    assert after["units"] - before["units"] == 3
