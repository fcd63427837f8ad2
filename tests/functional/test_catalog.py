"""The catalog over HTTP: products, restock, stock adjustments, listing with cursors."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from chalicelib.catalog.model import MAX_STOCK
from tests.support.builders import unique
from tests.support.functional_saga import NO_FAILURES, start, types
from tests.support.functional_shop import Shop

PRODUCT = {"name": "Teapot", "priceCents": 2599, "stock": 7, "lowStockThreshold": 2}


def put(shop: Shop, sku: str, body: Any) -> Any:
    return shop.call("PUT", f"/products/{sku}", body=body, headers=shop.admin())


def restock(shop: Shop, sku: str, body: Any) -> Any:
    return shop.call("POST", f"/products/{sku}/restock", body=body, headers=shop.admin())


def adjust(shop: Shop, sku: str, body: Any) -> Any:
    return shop.call("POST", f"/products/{sku}/stock-adjustments", body=body, headers=shop.admin())


def test_put_creates_a_product_and_get_reads_it(shop: Shop) -> None:
    sku = unique("tea")

    response = put(shop, sku, PRODUCT)

    assert response.status_code == 200, response.body
    product = response.json_body
    assert product == {
        **PRODUCT,
        "sku": sku,
        "updatedAt": product["updatedAt"],
        "version": 1,
        "image": None,
    }
    assert product["updatedAt"].endswith("Z")
    assert shop.call("GET", f"/products/{sku}").json_body == product


def test_put_replaces_a_product(shop: Shop) -> None:
    sku = unique("tea")
    first = put(shop, sku, PRODUCT).json_body

    second = put(shop, sku, {"name": "Big teapot", "priceCents": 4000})

    assert second.status_code == 200
    assert second.json_body["name"] == "Big teapot"
    assert second.json_body["priceCents"] == 4000
    assert second.json_body["stock"] == 7  # a PUT never sets an existing product's stock
    assert second.json_body["version"] == 2
    assert second.json_body["lowStockThreshold"] == 0  # the default, not the old value
    assert second.json_body["updatedAt"] >= first["updatedAt"]
    assert shop.call("GET", f"/products/{sku}").json_body == second.json_body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**PRODUCT, "colour": "blue"}, "colour"),
        ({**PRODUCT, "priceCents": -1}, "priceCents"),
        ({**PRODUCT, "priceCents": 1.5}, "priceCents"),
        ({**PRODUCT, "stock": "5"}, "stock"),
        ({**PRODUCT, "stock": 2.5}, "stock"),
        ({**PRODUCT, "stock": -3}, "stock"),
        ({**PRODUCT, "lowStockThreshold": -1}, "lowStockThreshold"),
        ({**PRODUCT, "name": ""}, "name"),
        ({k: v for k, v in PRODUCT.items() if k != "name"}, "name"),
        ({k: v for k, v in PRODUCT.items() if k != "priceCents"}, "priceCents"),
    ],
)
def test_put_rejects_an_invalid_body_naming_the_field(
    shop: Shop, body: dict[str, Any], field: str
) -> None:
    sku = unique("tea")

    response = put(shop, sku, body)

    assert response.status_code == 400, response.body
    error = response.json_body
    assert error["Code"] == "BadRequestError"
    assert error["Message"].startswith(f"{field}:"), error["Message"]
    assert [field] in [e["loc"] for e in error["Errors"]]
    assert shop.call("GET", f"/products/{sku}").status_code == 404


def test_put_naming_another_stock_is_a_409_and_changes_nothing(shop: Shop) -> None:
    sku = unique("tea")
    created = put(shop, sku, PRODUCT).json_body

    response = put(shop, sku, {**PRODUCT, "name": "Renamed", "stock": 8})

    assert response.status_code == 409, response.body
    assert response.json_body["Code"] == "ConflictError"
    message = response.json_body["Message"]
    assert message.startswith(f"the stock of {sku} is 7, not 8"), message
    assert f"/products/{sku}/restock" in message
    assert f"/products/{sku}/stock-adjustments" in message
    assert shop.call("GET", f"/products/{sku}").json_body == created


def test_put_naming_the_current_stock_is_accepted(shop: Shop) -> None:
    sku = unique("tea")
    put(shop, sku, PRODUCT)

    response = put(shop, sku, {**PRODUCT, "priceCents": 1})

    assert response.status_code == 200, response.body
    assert (response.json_body["priceCents"], response.json_body["stock"]) == (1, 7)


def test_a_create_without_stock_is_a_400_naming_stock(shop: Shop) -> None:
    sku = unique("tea")

    response = put(shop, sku, {k: v for k, v in PRODUCT.items() if k != "stock"})

    assert response.status_code == 400, response.body
    assert response.json_body["Message"].startswith("stock:")
    assert response.json_body["Errors"] == [
        {"loc": ["stock"], "msg": "required to create a product"}
    ]
    assert shop.call("GET", f"/products/{sku}").status_code == 404


def test_a_put_while_an_order_holds_stock_then_a_cancel_leaves_the_admins_stock(
    shop: Shop,
) -> None:
    """Set 10, one order of 5 reserved, PUT with stock 10, cancel: 10 (was 15)."""
    sku = shop.put_product(stock=10)["sku"]
    saga = start(shop, [(sku, 5)])
    assert saga.step("inventory_step", saga.relay()) == NO_FAILURES
    assert types(saga.relay()) == ["StockReserved"]

    stale = put(shop, sku, {"name": "Renamed", "priceCents": 1250, "stock": 10})
    renamed = put(shop, sku, {"name": "Renamed", "priceCents": 1250})
    cancel = shop.call("POST", f"/orders/{saga.order_id}/cancel", headers=shop.auth(saga.customer))
    assert cancel.status_code == 202, cancel.body
    cancelled = saga.relay()
    assert saga.step("inventory_step", cancelled) == NO_FAILURES

    after = shop.call("GET", f"/products/{sku}").json_body
    assert (after["name"], after["stock"]) == ("Renamed", 10)
    assert stale.status_code == 409, stale.body
    assert (renamed.status_code, renamed.json_body["stock"]) == (200, 5)


@pytest.mark.parametrize("body", [[PRODUCT], "teapot", 7])
def test_put_rejects_a_body_that_is_not_an_object(shop: Shop, body: Any) -> None:
    response = put(shop, unique("tea"), body)

    assert response.status_code == 400
    assert response.json_body["Code"] == "BadRequestError"


def test_put_rejects_malformed_json(shop: Shop) -> None:
    response = shop.call(
        "PUT", f"/products/{unique('tea')}", raw=b'{"name": "x",', headers=shop.admin()
    )

    assert response.status_code == 400
    assert response.json_body["Code"] == "BadRequestError"


@pytest.mark.parametrize("sku", ["bad sku!", "a" * 65, "under_score", "dot.ted"])
@pytest.mark.parametrize("method", ["PUT", "GET", "POST", "ADJUST"])
def test_an_invalid_sku_in_the_path_is_a_400(shop: Shop, sku: str, method: str) -> None:
    if method == "PUT":
        response = put(shop, sku, PRODUCT)
    elif method == "POST":
        response = restock(shop, sku, {"quantity": 1})
    elif method == "ADJUST":
        response = adjust(shop, sku, {"delta": 1, "reason": "x"})
    else:
        response = shop.call("GET", f"/products/{sku}")

    assert response.status_code == 400, response.body
    assert response.json_body["Errors"] == [{"loc": ["path", "sku"], "msg": "invalid sku"}]
    assert "sku" in response.json_body["Message"]


def test_a_64_character_sku_is_valid(shop: Shop) -> None:
    sku = unique("x").ljust(64, "z")

    assert put(shop, sku, PRODUCT).status_code == 200
    assert shop.call("GET", f"/products/{sku}").json_body["sku"] == sku


def test_restock_adds_to_the_stock(shop: Shop) -> None:
    sku = shop.put_product(stock=4)["sku"]

    one = restock(shop, sku, {"quantity": 1})
    many = restock(shop, sku, {"quantity": 250})

    assert one.status_code == 200, one.body
    assert one.json_body["stock"] == 5
    assert many.json_body["stock"] == 255
    assert many.json_body["sku"] == sku
    assert many.json_body["updatedAt"] >= one.json_body["updatedAt"]
    assert shop.call("GET", f"/products/{sku}").json_body["stock"] == 255


@pytest.mark.parametrize(
    "body", [{"quantity": 0}, {"quantity": -2}, {"quantity": "3"}, {}, {"quantity": 1, "x": 1}]
)
def test_restock_rejects_an_invalid_quantity(shop: Shop, body: dict[str, Any]) -> None:
    sku = shop.put_product(stock=4)["sku"]

    response = restock(shop, sku, body)

    assert response.status_code == 400, response.body
    assert shop.call("GET", f"/products/{sku}").json_body["stock"] == 4


def test_restock_of_an_unknown_sku_is_a_404_and_creates_nothing(shop: Shop) -> None:
    sku = unique("ghost")

    response = restock(shop, sku, {"quantity": 3})

    assert response.status_code == 404, response.body
    assert response.json_body["Code"] == "NotFoundError"
    assert shop.call("GET", f"/products/{sku}").status_code == 404


def test_restock_beyond_the_maximum_is_a_409(shop: Shop) -> None:
    """10^9 onto 10^9 made 2x10^9, a stock no PUT accepts."""
    sku = shop.put_product(stock=MAX_STOCK)["sku"]

    response = restock(shop, sku, {"quantity": MAX_STOCK})

    assert response.status_code == 409, response.body
    assert response.json_body == {
        "Code": "ConflictError",
        "Message": f"the stock of {sku} is {MAX_STOCK}: adding {MAX_STOCK} would exceed "
        f"the maximum stock of {MAX_STOCK}",
    }
    assert shop.call("GET", f"/products/{sku}").json_body["stock"] == MAX_STOCK


def test_restock_up_to_the_maximum(shop: Shop) -> None:
    sku = shop.put_product(stock=MAX_STOCK - 2)["sku"]

    assert restock(shop, sku, {"quantity": 3}).status_code == 409
    response = restock(shop, sku, {"quantity": 2})

    assert (response.status_code, response.json_body["stock"]) == (200, MAX_STOCK)


def test_a_create_above_the_maximum_is_a_400(shop: Shop) -> None:
    sku = unique("tea")

    response = put(shop, sku, {**PRODUCT, "stock": MAX_STOCK + 1})

    assert response.status_code == 400, response.body
    assert response.json_body["Message"].startswith("stock:")
    assert shop.call("GET", f"/products/{sku}").status_code == 404


# --- stock adjustments -----------------------------------------------------


def test_an_adjustment_moves_the_stock_and_keeps_its_reason(shop: Shop) -> None:
    sku = shop.put_product(stock=10)["sku"]
    who = unique("ops")

    down = shop.call(
        "POST",
        f"/products/{sku}/stock-adjustments",
        body={"delta": -3, "reason": "  two broken, one lost  "},
        headers=shop.auth(who, "admin"),
    )
    up = adjust(shop, sku, {"delta": 1, "reason": "found one"})

    assert down.status_code == 200, down.body
    assert (down.json_body["stock"], down.json_body["version"]) == (7, 2)
    assert (up.json_body["stock"], up.json_body["version"]) == (8, 3)
    assert shop.call("GET", f"/products/{sku}").json_body == up.json_body
    item = shop.aws("dynamodb").get_item(
        TableName=shop.outputs["ProductsTableName"],
        Key={"pk": {"S": f"PRODUCT#{sku}"}, "sk": {"S": "PRODUCT"}},
    )["Item"]
    assert item["lastStockChange"]["M"]["reason"] == {"S": "found one"}
    assert "by" in item["lastStockChange"]["M"]


def test_an_adjustment_below_zero_is_a_409_not_a_clamp(shop: Shop) -> None:
    sku = shop.put_product(stock=2)["sku"]

    response = adjust(shop, sku, {"delta": -3, "reason": "recount"})

    assert response.status_code == 409, response.body
    assert response.json_body["Message"] == (
        f"the stock of {sku} is 2: removing 3 would take it below 0"
    )
    assert shop.call("GET", f"/products/{sku}").json_body["stock"] == 2
    assert adjust(shop, sku, {"delta": -2, "reason": "recount"}).json_body["stock"] == 0


def test_an_adjustment_above_the_maximum_is_a_409(shop: Shop) -> None:
    sku = shop.put_product(stock=MAX_STOCK)["sku"]

    response = adjust(shop, sku, {"delta": 1, "reason": "recount"})

    assert response.status_code == 409, response.body
    assert "would exceed the maximum stock" in response.json_body["Message"]
    assert shop.call("GET", f"/products/{sku}").json_body["stock"] == MAX_STOCK


def test_an_adjustment_of_an_unknown_sku_is_a_404_and_creates_nothing(shop: Shop) -> None:
    sku = unique("ghost")

    response = adjust(shop, sku, {"delta": 3, "reason": "x"})

    assert response.status_code == 404, response.body
    assert shop.call("GET", f"/products/{sku}").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"delta": 0, "reason": "x"}, "delta"),
        ({"delta": "2", "reason": "x"}, "delta"),
        ({"delta": 2.5, "reason": "x"}, "delta"),
        ({"reason": "x"}, "delta"),
        ({"delta": 2}, "reason"),
        ({"delta": 2, "reason": ""}, "reason"),
        ({"delta": 2, "reason": "x" * 201}, "reason"),
        ({"delta": 2, "reason": "x", "by": "me"}, "by"),
    ],
)
def test_an_invalid_adjustment_is_a_400_naming_the_field(
    shop: Shop, body: dict[str, Any], field: str
) -> None:
    sku = shop.put_product(stock=4)["sku"]

    response = adjust(shop, sku, body)

    assert response.status_code == 400, response.body
    assert response.json_body["Message"].startswith(f"{field}:"), response.body
    assert shop.call("GET", f"/products/{sku}").json_body["stock"] == 4


def product_stream(shop: Shop, sku: str) -> list[dict[str, Any]]:
    """The products stream's records of one sku so far, as Lambda gets them.
    Read from moto's backend: its in-process DynamoDB Streams API answers
    "not yet implemented"."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][shop.session.region_name]
    shard = backend.tables[shop.outputs["ProductsTableName"]].stream_shard
    assert shard is not None, "the products table has no stream"
    return [
        {
            "eventName": r.record["eventName"],
            "eventSource": "aws:dynamodb",
            "eventSourceARN": shop.outputs["ProductsStreamArn"],
            "dynamodb": {
                k: v
                for k, v in r.record["dynamodb"].items()
                if k in {"Keys", "OldImage", "NewImage"}
            },
        }
        for r in shard.items
        if r.record["dynamodb"]["Keys"]["pk"] == {"S": f"PRODUCT#{sku}"}
    ]


def test_an_adjustment_below_the_threshold_alerts_once_per_crossing(shop: Shop) -> None:
    """The products stream carries an adjustment like any stock change: one
    LowStock alert per crossing, whichever path lowered the stock."""
    sku = shop.put_product(stock=5, threshold=3)["sku"]
    tap = shop.tap("OpsAlertsTopicArn", {"kind": ["LOW_STOCK"]})

    for delta in (-1, -2, -1, 4, -3):  # 5 -> 4 -> 2 (crosses) -> 1 -> 5 -> 2 (crosses)
        assert adjust(shop, sku, {"delta": delta, "reason": "drill"}).status_code == 200
    records = product_stream(shop, sku)
    shop.client.lambda_.invoke("low_stock_alerts", {"Records": records})

    assert [r["eventName"] for r in records] == ["INSERT"] + ["MODIFY"] * 5
    alerts = [json.loads(m["Body"])["data"] for m in shop.drain(tap)]
    assert [(a["sku"], a["stock"]) for a in alerts] == [(sku, 2), (sku, 2)]


def test_get_of_an_unknown_sku_is_a_404(shop: Shop) -> None:
    response = shop.call("GET", f"/products/{unique('ghost')}")

    assert response.status_code == 404
    assert response.json_body["Code"] == "NotFoundError"


# --- listing ---------------------------------------------------------------


@pytest.fixture
def empty_catalog(shop: Shop) -> None:
    """Other tests leave products behind; the listing test needs none."""
    ddb = shop.aws("dynamodb")
    table = shop.outputs["ProductsTableName"]
    paginator = ddb.get_paginator("scan")
    for page in paginator.paginate(TableName=table, ProjectionExpression="pk, sk"):
        for item in page["Items"]:
            ddb.delete_item(TableName=table, Key=item)


@pytest.mark.usefixtures("empty_catalog")
def test_listing_pages_through_every_product_once_in_sku_order(shop: Shop) -> None:
    skus = ["p-d", "p-b", "p-e", "p-a", "p-c"]
    for sku in skus:
        shop.put_product(sku)

    pages: list[list[str]] = []
    cursor: str | None = None
    for _ in range(3):
        path = "/products?limit=2" + (f"&cursor={cursor}" if cursor else "")
        response = shop.call("GET", path)
        assert response.status_code == 200, response.body
        pages.append([p["sku"] for p in response.json_body["items"]])
        cursor = response.json_body["nextCursor"]
        if len(pages) < 3:
            assert isinstance(cursor, str) and cursor

    assert pages == [["p-a", "p-b"], ["p-c", "p-d"], ["p-e"]]
    assert cursor is None


@pytest.mark.usefixtures("empty_catalog")
def test_listing_default_limit_returns_everything_small(shop: Shop) -> None:
    for sku in ["q-2", "q-1"]:
        shop.put_product(sku)

    body = shop.call("GET", "/products").json_body

    assert [p["sku"] for p in body["items"]] == ["q-1", "q-2"]
    assert body["items"][0] == shop.call("GET", "/products/q-1").json_body
    assert body["nextCursor"] is None


def _retarget(cursor: str, sku: str) -> str:
    body, mac = cursor.split(".", 1)
    key = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    key.update(gsi1sk=sku, pk=f"PRODUCT#{sku}")
    payload = json.dumps(key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=") + "." + mac


def test_a_tampered_cursor_is_a_400(shop: Shop) -> None:
    for _ in range(3):
        shop.put_product()
    cursor = shop.call("GET", "/products?limit=1").json_body["nextCursor"]
    assert cursor
    assert shop.call("GET", f"/products?limit=1&cursor={cursor}").status_code == 200

    flipped_mac = cursor[:-1] + ("A" if cursor[-1] != "A" else "B")
    for bad in (_retarget(cursor, "zzz"), flipped_mac, "not-a-cursor", "x" * 3000):
        response = shop.call("GET", f"/products?limit=1&cursor={bad}")
        assert response.status_code == 400, (bad, response.body)
        assert response.json_body["Code"] == "BadRequestError"


@pytest.mark.parametrize("limit", ["0", "101", "abc", "-1", "1.5", "", "%C2%B2", "1e1"])
def test_an_invalid_limit_is_a_400(shop: Shop, limit: str) -> None:
    response = shop.call("GET", f"/products?limit={limit}")

    assert response.status_code == 400, response.body
    assert response.json_body["Errors"][0]["loc"] == ["query", "limit"]


@pytest.mark.parametrize("limit", ["1", "100"])
def test_the_limit_bounds_are_accepted(shop: Shop, limit: str) -> None:
    shop.put_product()

    response = shop.call("GET", f"/products?limit={limit}")

    assert response.status_code == 200
    assert 1 <= len(response.json_body["items"]) <= int(limit)
