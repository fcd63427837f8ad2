"""The catalog over HTTP: products, restock, listing with cursors."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.support.builders import unique
from tests.support.functional_shop import Shop

PRODUCT = {"name": "Teapot", "priceCents": 2599, "stock": 7, "lowStockThreshold": 2}


def put(shop: Shop, sku: str, body: Any) -> Any:
    return shop.call("PUT", f"/products/{sku}", body=body, headers=shop.admin())


def restock(shop: Shop, sku: str, body: Any) -> Any:
    return shop.call("POST", f"/products/{sku}/restock", body=body, headers=shop.admin())


def test_put_creates_a_product_and_get_reads_it(shop: Shop) -> None:
    sku = unique("tea")

    response = put(shop, sku, PRODUCT)

    assert response.status_code == 200, response.body
    product = response.json_body
    assert product == {**PRODUCT, "sku": sku, "updatedAt": product["updatedAt"]}
    assert product["updatedAt"].endswith("Z")
    assert shop.call("GET", f"/products/{sku}").json_body == product


def test_put_replaces_a_product(shop: Shop) -> None:
    sku = unique("tea")
    first = put(shop, sku, PRODUCT).json_body

    second = put(shop, sku, {"name": "Big teapot", "priceCents": 4000, "stock": 1})

    assert second.status_code == 200
    assert second.json_body["name"] == "Big teapot"
    assert second.json_body["priceCents"] == 4000
    assert second.json_body["stock"] == 1
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
@pytest.mark.parametrize("method", ["PUT", "GET", "POST"])
def test_an_invalid_sku_in_the_path_is_a_400(shop: Shop, sku: str, method: str) -> None:
    if method == "PUT":
        response = put(shop, sku, PRODUCT)
    elif method == "POST":
        response = restock(shop, sku, {"quantity": 1})
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
