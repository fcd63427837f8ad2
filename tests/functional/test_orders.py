"""Orders over HTTP: place, idempotency, read, list, history, cancel."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib import bootstrap
from chalicelib.platform import dynamo
from tests.support.builders import ADDRESS, order_body, unique
from tests.support.functional_shop import Shop


@pytest.fixture
def skus(shop: Shop) -> list[str]:
    """Three fresh products priced 1250, 399 and 10000 cents."""
    return [shop.put_product(price=p, stock=50)["sku"] for p in (1250, 399, 10000)]


@pytest.fixture
def ticking_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Distinct, increasing order timestamps, so "newest first" is well defined
    however fast the orders are placed."""
    seconds = itertools.count(1)
    monkeypatch.setattr(
        bootstrap.services().orders, "clock", lambda: f"2030-01-01T00:00:{next(seconds):02d}.000Z"
    )
    yield


def place(shop: Shop, customer: str, body: Any, **headers: str) -> Any:
    return shop.call("POST", "/orders", body=body, headers={**shop.auth(customer), **headers})


def test_place_order_prices_from_the_catalog(shop: Shop, skus: list[str]) -> None:
    customer = unique("cust")

    response = shop.place_order(customer, [(skus[0], 2), (skus[1], 3)])

    assert response.status_code == 201, response.body
    order = response.json_body
    assert response.headers["Location"] == f"/orders/{order['orderId']}"
    assert order["status"] == "PLACED"
    assert order["customerId"] == customer
    assert order["items"] == [
        {"sku": skus[0], "quantity": 2, "unitPriceCents": 1250, "lineTotalCents": 2500},
        {"sku": skus[1], "quantity": 3, "unitPriceCents": 399, "lineTotalCents": 1197},
    ]
    assert order["totalCents"] == 3697
    assert order["shippingAddress"] == {**ADDRESS, "line2": None}
    assert order["reason"] is None
    assert order["trackingNumber"] is None
    assert order["version"] == 1
    assert order["createdAt"] == order["updatedAt"]
    assert "paymentToken" not in order
    assert "stockReleased" not in order
    stored = shop.call("GET", response.headers["Location"], headers=shop.auth(customer))
    assert stored.status_code == 200
    assert stored.json_body == order


def test_placing_an_order_does_not_take_stock_yet(shop: Shop, skus: list[str]) -> None:
    shop.place_order(unique("cust"), [(skus[0], 5)])

    assert shop.call("GET", f"/products/{skus[0]}").json_body["stock"] == 50


def test_a_client_cannot_set_prices(shop: Shop, skus: list[str]) -> None:
    body = order_body([(skus[0], 1)])
    body["items"][0]["unitPriceCents"] = 1

    response = place(shop, unique("cust"), body)

    assert response.status_code == 400
    assert response.json_body["Errors"][0]["loc"] == ["items", 0, "unitPriceCents"]


@pytest.mark.parametrize(
    ("mutate", "loc"),
    [
        (lambda b, s: b.update(coupon="FREE"), ["coupon"]),
        (lambda b, s: b.update(items=[{"sku": s[0], "quantity": 1}] * 2), []),
        (lambda b, s: b["items"][0].update(quantity=0), ["items", 0, "quantity"]),
        (lambda b, s: b["items"][0].update(quantity=1001), ["items", 0, "quantity"]),
        (lambda b, s: b["items"][0].update(quantity="2"), ["items", 0, "quantity"]),
        (lambda b, s: b.update(items=[]), ["items"]),
        (lambda b, s: b["items"][0].update(sku="bad sku!"), ["items", 0, "sku"]),
        (lambda b, s: b.pop("paymentToken"), ["paymentToken"]),
        (lambda b, s: b["shippingAddress"].update(country="gb"), ["shippingAddress", "country"]),
        (lambda b, s: b["shippingAddress"].pop("city"), ["shippingAddress", "city"]),
        (lambda b, s: b["shippingAddress"].update(phone="1"), ["shippingAddress", "phone"]),
    ],
    ids=[
        "unknown-field",
        "duplicate-skus",
        "quantity-0",
        "quantity-1001",
        "quantity-string",
        "no-items",
        "bad-sku",
        "no-payment-token",
        "bad-country",
        "no-city",
        "unknown-address-field",
    ],
)
def test_place_order_rejects_invalid_input(
    shop: Shop, skus: list[str], mutate: Any, loc: list[Any]
) -> None:
    customer = unique("cust")
    body = order_body([(skus[0], 1), (skus[1], 1)])
    mutate(body, skus)

    response = place(shop, customer, body)

    assert response.status_code == 400, response.body
    error = response.json_body
    assert error["Code"] == "BadRequestError"
    assert error["Errors"][0]["loc"] == loc
    if loc:
        assert error["Message"].startswith(".".join(map(str, loc)) + ":")
    else:
        assert "more than once" in error["Message"]
    listed = shop.call("GET", "/orders", headers=shop.auth(customer)).json_body
    assert listed["items"] == []


def test_an_unknown_sku_is_named_in_message_and_errors(shop: Shop, skus: list[str]) -> None:
    ghost = unique("ghost")

    response = shop.place_order(unique("cust"), [(skus[0], 1), (ghost, 2)])

    assert response.status_code == 400, response.body
    assert ghost in response.json_body["Message"]
    assert response.json_body["Errors"] == [
        {"loc": ["items", 1, "sku"], "msg": f"unknown sku {ghost}"}
    ]


@pytest.mark.parametrize(
    "raw", [b'{"items": [', b"not json", b"[1, 2]", b'"a string"', b"null", b"42"]
)
def test_a_body_that_is_not_a_json_object_is_a_400(shop: Shop, raw: bytes) -> None:
    response = shop.call("POST", "/orders", raw=raw, headers=shop.auth(unique("cust")))

    assert response.status_code == 400, response.body
    assert response.json_body["Code"] == "BadRequestError"


def test_a_list_body_is_a_400(shop: Shop, skus: list[str]) -> None:
    response = place(shop, unique("cust"), [order_body([(skus[0], 1)])])

    assert response.status_code == 400
    assert response.json_body["Message"] == "the body must be a JSON object"


# --- idempotency -------------------------------------------------------------


def test_the_same_idempotency_key_and_body_replays_the_order(shop: Shop, skus: list[str]) -> None:
    customer, key = unique("cust"), unique("key")

    first = shop.place_order(customer, [(skus[0], 1)], idempotency_key=key)
    again = shop.place_order(customer, [(skus[0], 1)], idempotency_key=key)

    assert first.status_code == 201, first.body
    assert again.status_code == 200, again.body
    assert again.json_body == first.json_body
    assert again.headers["Location"] == first.headers["Location"]
    listed = shop.call("GET", "/orders", headers=shop.auth(customer)).json_body["items"]
    assert [o["orderId"] for o in listed] == [first.json_body["orderId"]]


def test_the_same_idempotency_key_with_another_body_is_a_409(shop: Shop, skus: list[str]) -> None:
    customer, key = unique("cust"), unique("key")
    shop.place_order(customer, [(skus[0], 1)], idempotency_key=key)

    response = shop.place_order(customer, [(skus[0], 2)], idempotency_key=key)

    assert response.status_code == 409, response.body
    assert response.json_body["Code"] == "ConflictError"
    assert len(shop.call("GET", "/orders", headers=shop.auth(customer)).json_body["items"]) == 1


def test_idempotency_keys_are_per_customer(shop: Shop, skus: list[str]) -> None:
    key = unique("key")

    a = shop.place_order(unique("cust"), [(skus[0], 1)], idempotency_key=key)
    b = shop.place_order(unique("cust"), [(skus[0], 1)], idempotency_key=key)

    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json_body["orderId"] != b.json_body["orderId"]


def test_without_a_key_every_post_is_a_new_order(shop: Shop, skus: list[str]) -> None:
    customer = unique("cust")

    a = shop.place_order(customer, [(skus[0], 1)])
    b = shop.place_order(customer, [(skus[0], 1)])

    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json_body["orderId"] != b.json_body["orderId"]


def test_an_overlong_idempotency_key_is_a_400(shop: Shop, skus: list[str]) -> None:
    response = shop.place_order(unique("cust"), [(skus[0], 1)], idempotency_key="k" * 256)

    assert response.status_code == 400


# --- listing -----------------------------------------------------------------


@pytest.mark.usefixtures("ticking_clock")
def test_orders_are_listed_newest_first_across_pages(shop: Shop, skus: list[str]) -> None:
    customer = unique("cust")
    placed = [shop.place_order(customer, [(skus[0], n)]).json_body["orderId"] for n in (1, 2, 3)]
    shop.place_order(unique("cust"), [(skus[0], 1)])  # someone else's

    first = shop.call("GET", "/orders?limit=2", headers=shop.auth(customer))
    assert first.status_code == 200, first.body
    cursor = first.json_body["nextCursor"]
    assert cursor
    second = shop.call("GET", f"/orders?limit=2&cursor={cursor}", headers=shop.auth(customer))

    assert second.status_code == 200, second.body
    seen = [o["orderId"] for o in first.json_body["items"] + second.json_body["items"]]
    assert seen == placed[::-1]
    assert second.json_body["nextCursor"] is None


def test_an_orders_cursor_is_bound_to_its_customer(shop: Shop, skus: list[str]) -> None:
    a, b = unique("cust"), unique("cust")
    for customer in (a, a, b, b):
        shop.place_order(customer, [(skus[0], 1)])
    cursor = shop.call("GET", "/orders?limit=1", headers=shop.auth(a)).json_body["nextCursor"]

    response = shop.call("GET", f"/orders?limit=1&cursor={cursor}", headers=shop.auth(b))

    assert response.status_code == 400, response.body
    products_cursor = shop.call("GET", "/products?limit=1").json_body["nextCursor"]
    response = shop.call("GET", f"/orders?cursor={products_cursor}", headers=shop.auth(a))
    assert response.status_code == 400, response.body


def test_an_admin_lists_a_customers_orders(shop: Shop, skus: list[str]) -> None:
    customer = unique("cust")
    order_id = shop.place_order(customer, [(skus[0], 1)]).json_body["orderId"]

    response = shop.call("GET", f"/orders?customerId={customer}", headers=shop.admin())

    assert response.status_code == 200, response.body
    assert [o["orderId"] for o in response.json_body["items"]] == [order_id]


def test_a_customer_cannot_list_another_customers_orders(shop: Shop, skus: list[str]) -> None:
    other = unique("cust")
    shop.place_order(other, [(skus[0], 1)])

    response = shop.call("GET", f"/orders?customerId={other}", headers=shop.auth(unique("cust")))

    assert response.status_code == 403, response.body
    assert response.json_body["Code"] == "ForbiddenError"


def test_a_customer_may_name_themself(shop: Shop, skus: list[str]) -> None:
    customer = unique("cust")
    order_id = shop.place_order(customer, [(skus[0], 1)]).json_body["orderId"]

    response = shop.call("GET", f"/orders?customerId={customer}", headers=shop.auth(customer))

    assert response.status_code == 200
    assert [o["orderId"] for o in response.json_body["items"]] == [order_id]


def test_a_new_customer_has_no_orders(shop: Shop) -> None:
    response = shop.call("GET", "/orders", headers=shop.auth(unique("cust")))

    assert response.json_body == {"items": [], "nextCursor": None}


# Later than any other order of the session (ticking_clock's are in 2030), and
# increasing across tests: an admin's newest-first listing starts with them.
_LATEST = itertools.count(1)


@pytest.fixture
def latest_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def clock() -> str:
        n = next(_LATEST)
        return f"2099-01-01T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}.000Z"

    monkeypatch.setattr(bootstrap.services().orders, "clock", clock)
    yield


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.body
    return [o["orderId"] for o in response.json_body["items"]]


@pytest.mark.usefixtures("latest_clock")
def test_an_admin_lists_every_order_newest_first_across_pages(shop: Shop, skus: list[str]) -> None:
    a, b = unique("cust"), unique("cust")
    placed = [shop.place_order(c, [(skus[0], 1)]).json_body["orderId"] for c in (a, b, a)]

    first = shop.call("GET", "/orders?limit=2", headers=shop.admin())
    assert ids(first) == placed[:0:-1]
    cursor = first.json_body["nextCursor"]
    second = shop.call("GET", f"/orders?limit=2&cursor={cursor}", headers=shop.admin())
    assert ids(second)[0] == placed[0]
    # The same cursor is no customer's: a 400, not someone else's page.
    response = shop.call("GET", f"/orders?cursor={cursor}", headers=shop.auth(a))
    assert response.status_code == 400, response.body


@pytest.mark.usefixtures("latest_clock")
def test_orders_are_listed_by_status(shop: Shop, skus: list[str]) -> None:
    customer = unique("cust")
    kept = shop.place_order(customer, [(skus[0], 1)]).json_body["orderId"]
    cancelled = shop.place_order(customer, [(skus[0], 1)]).json_body["orderId"]
    response = shop.call("POST", f"/orders/{cancelled}/cancel", headers=shop.auth(customer))
    assert response.status_code == 202, response.body

    every_cancelling = shop.call("GET", "/orders?status=CANCELLING&limit=100", headers=shop.admin())
    assert ids(every_cancelling)[0] == cancelled
    assert {o["status"] for o in every_cancelling.json_body["items"]} == {"CANCELLING"}
    every_placed = ids(shop.call("GET", "/orders?status=PLACED&limit=100", headers=shop.admin()))
    assert every_placed[0] == kept and cancelled not in every_placed
    theirs = f"/orders?customerId={customer}&status=PLACED"
    assert ids(shop.call("GET", theirs, headers=shop.admin())) == [kept]
    own = shop.call("GET", "/orders?status=CANCELLING", headers=shop.auth(customer))
    assert ids(own) == [cancelled]
    assert ids(shop.call("GET", "/orders?status=COMPLETED", headers=shop.auth(customer))) == []


@pytest.mark.usefixtures("latest_clock")
def test_a_status_listings_cursor_is_bound_to_its_status(shop: Shop, skus: list[str]) -> None:
    customer = unique("cust")
    for _ in range(2):
        shop.place_order(customer, [(skus[0], 1)])
    placed = shop.call("GET", "/orders?status=PLACED&limit=1", headers=shop.auth(customer))
    cursor = placed.json_body["nextCursor"]
    assert cursor

    for query in ("", "&status=PAID"):
        url = f"/orders?limit=1&cursor={cursor}{query}"
        response = shop.call("GET", url, headers=shop.auth(customer))
        assert response.status_code == 400, (query, response.body)
    url = f"/orders?limit=1&status=PLACED&cursor={cursor}"
    assert len(ids(shop.call("GET", url, headers=shop.auth(customer)))) == 1


@pytest.mark.parametrize("status", ["NOPE", "", "placed", "COMPLETED%00"])
def test_an_unknown_status_is_a_400_naming_status(shop: Shop, status: str) -> None:
    for headers in (shop.admin(), shop.auth(unique("cust"))):
        response = shop.call("GET", f"/orders?status={status}", headers=headers)

        assert response.status_code == 400, response.body
        assert response.json_body["Errors"][0]["loc"] == ["query", "status"]
        assert "status must be one of PLACED" in response.json_body["Message"]


def test_the_documented_statuses_are_the_order_statuses(shop: Shop) -> None:
    from chalicelib.orders.model import OrderStatus

    document = shop.call("GET", "/openapi.json").json_body
    parameters = document["paths"]["/orders"]["get"]["parameters"]
    (status,) = [p for p in parameters if p["name"] == "status"]
    assert status["schema"]["enum"] == [str(s) for s in OrderStatus]


@pytest.mark.parametrize("limit", ["0", "101", "abc", "%C2%B2"])
def test_orders_listing_rejects_an_invalid_limit(shop: Shop, limit: str) -> None:
    response = shop.call("GET", f"/orders?limit={limit}", headers=shop.auth(unique("cust")))

    assert response.status_code == 400


# --- reading, history, cancelling ----------------------------------------------


@pytest.mark.parametrize("order_id", ["0" * 32, "nope", "a" * 65, "has-dash"])
def test_an_unknown_order_is_a_404(shop: Shop, order_id: str) -> None:
    response = shop.call("GET", f"/orders/{order_id}", headers=shop.admin())

    assert response.status_code == 404
    assert response.json_body["Code"] == "NotFoundError"


def test_a_new_orders_history_is_one_order_placed_event(shop: Shop, skus: list[str]) -> None:
    customer = unique("cust")
    order = shop.place_order(customer, [(skus[2], 2)]).json_body

    response = shop.call("GET", f"/orders/{order['orderId']}/events", headers=shop.auth(customer))

    assert response.status_code == 200, response.body
    (event,) = response.json_body["items"]
    assert event["version"] == 1
    assert event["type"] == "OrderPlaced"
    assert event["at"] == order["createdAt"]
    assert event["data"]["orderId"] == order["orderId"]
    assert event["data"]["totalCents"] == 20000
    assert "paymentToken" not in event["data"]


def test_cancel_a_placed_order_then_again(shop: Shop, skus: list[str]) -> None:
    customer = unique("cust")
    order_id = shop.place_order(customer, [(skus[0], 1)]).json_body["orderId"]

    cancelled = shop.call("POST", f"/orders/{order_id}/cancel", headers=shop.auth(customer))
    again = shop.call("POST", f"/orders/{order_id}/cancel", headers=shop.auth(customer))

    assert cancelled.status_code == 202, cancelled.body
    # Accepted, not done: CANCELLED once the saga has released the stock.
    assert cancelled.json_body["status"] == "CANCELLING"
    assert cancelled.json_body["reason"] == "cancelled by the customer"
    assert cancelled.json_body["version"] == 2
    assert again.status_code == 409, again.body
    assert again.json_body["Code"] == "ConflictError"
    history = shop.call("GET", f"/orders/{order_id}/events", headers=shop.auth(customer))
    assert [e["type"] for e in history.json_body["items"]] == ["OrderPlaced", "OrderCancelled"]
    assert [e["version"] for e in history.json_body["items"]] == [1, 2]
    stored = shop.call("GET", f"/orders/{order_id}", headers=shop.auth(customer)).json_body
    assert stored == cancelled.json_body


def test_cancel_an_unknown_order_is_a_404(shop: Shop) -> None:
    response = shop.call("POST", f"/orders/{'f' * 32}/cancel", headers=shop.auth(unique("c")))

    assert response.status_code == 404


@pytest.mark.parametrize("country", ["XX", "AA", "QZ", "ZZ"])
def test_a_country_code_of_the_right_shape_that_names_no_country_is_a_400(
    shop: Shop, skus: list[str], country: str
) -> None:
    body = order_body([(skus[0], 1)])
    body["shippingAddress"]["country"] = country
    response = place(shop, unique("cust"), body)
    assert response.status_code == 400, response.body
    assert response.json_body["Errors"][0]["loc"] == ["shippingAddress", "country"]


@pytest.mark.parametrize("country", ["DE", "GB", "US", "JP", "BR", "ZA"])
def test_real_country_codes_are_accepted(shop: Shop, skus: list[str], country: str) -> None:
    body = order_body([(skus[0], 1)])
    body["shippingAddress"]["country"] = country
    response = place(shop, unique("cust"), body)
    assert response.status_code == 201, response.body


def test_the_correlation_id_is_answered_and_stored_with_the_orders_events(shop: Shop) -> None:
    import uuid

    from tests.support.builders import order_body

    sku = shop.put_product(stock=5)["sku"]
    cid = f"t-{uuid.uuid4().hex}"
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    placed = shop.call(
        "POST",
        "/orders",
        body=order_body([(sku, 1)]),
        headers={**shop.auth(customer), "X-Correlation-Id": cid},
    )
    assert placed.status_code == 201, placed.body
    assert placed.headers["X-Correlation-Id"] == cid
    (item,) = shop.order_items(placed.json_body["orderId"], prefix="ORDER")
    stored = dynamo.from_item(item)
    assert [e.get("c") for e in stored["history"]] == [cid]  # the first event's flow
    assert stored["flow"] == cid  # the flow a later write is compared with


def test_every_route_answers_with_a_correlation_id_even_for_errors_and_bad_ids(
    shop: Shop,
) -> None:
    for path, status in [("/health", 200), ("/products/NOPE-404", 404), ("/orders/x", 401)]:
        response = shop.call("GET", path, headers={"X-Correlation-Id": "a" * 129})
        assert response.status_code == status, (path, response.body)
        if status != 401:  # API Gateway's own 401 never reaches the app
            got = response.headers["X-Correlation-Id"]
            assert got != "a" * 129 and len(got) == 32
    kept = shop.call("GET", "/health", headers={"X-Correlation-Id": "mine"})
    assert kept.headers["X-Correlation-Id"] == "mine"


def test_each_invocation_prints_its_metrics_as_emf(
    shop: Shop, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    sku = shop.put_product(stock=5)["sku"]
    capsys.readouterr()
    placed = shop.place_order("emf-customer", [(sku, 1)])
    assert placed.status_code == 201, placed.body
    records = [
        json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith('{"_aws"')
    ]
    placed_metrics = [r for r in records if "OrdersPlaced" in r]
    assert len(placed_metrics) == 1 and placed_metrics[0]["OrdersPlaced"] == [1.0]
    assert placed_metrics[0]["stage"] == "test"
