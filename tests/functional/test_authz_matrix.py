"""The authorization matrix: every route x every kind of caller, as API Gateway
answers through the app (chalice.test.Client -> app.py -> moto).

One row per route in ``app.app.routes`` (the test fails if a route has no row,
or a row names no route), with the status each caller gets:

* anonymous: no token; 401 on every route that needs one.
* customer A: owns ``world.order`` (placed in the module's setup).
* customer B: another customer; 404 on A's order, as if it did not exist.
* admin: 403 where only customers may act (placing orders).

Success is the route's own status (200, 201 or 202). ``VARIANTS`` adds rows
for the same route with a query that changes the answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.builders import order_body, unique
from tests.support.functional_shop import Shop

CALLERS = ("anonymous", "customerA", "customerB", "admin")

# fmt: off
MATRIX: list[tuple[str, str, int, int, int, int]] = [
    # method  path template                   anonymous  A    B    admin
    ("GET",   "/health",                        200,    200, 200, 200),
    ("GET",   "/openapi.json",                  200,    200, 200, 200),
    # The operator console's page and files: open (the page asks for a token).
    ("GET",   "/console",                       200,    200, 200, 200),
    ("GET",   "/console/{asset}",               200,    200, 200, 200),
    ("GET",   "/products",                      200,    200, 200, 200),
    ("GET",   "/products/{sku}",                200,    200, 200, 200),
    ("PUT",   "/products/{sku}",                401,    403, 403, 200),
    ("POST",  "/products/{sku}/restock",        401,    403, 403, 200),
    ("POST",  "/products/{sku}/stock-adjustments", 401, 403, 403, 200),
    ("POST",  "/orders",                        401,    201, 201, 403),
    ("GET",   "/orders",                        401,    200, 200, 200),
    ("GET",   "/orders/{orderId}",              401,    200, 404, 200),
    ("GET",   "/orders/{orderId}/events",       401,    200, 404, 200),
    ("POST",  "/orders/{orderId}/cancel",       401,    202, 404, 202),
    ("POST",  "/products/{sku}/images",         401,    403, 403, 201),
    ("GET",   "/products/{sku}/images",         200,    200, 200, 200),
    ("GET",   "/images/{imageId}",              401,    403, 403, 200),
    ("GET",   "/ops/dead-letters",              401,    403, 403, 200),
    ("GET",   "/ops/dead-letters/{queue}",      401,    403, 403, 200),
    ("DELETE", "/ops/dead-letters/{queue}/{messageId}", 401, 403, 403, 204),
    ("POST",  "/ops/dead-letters/{queue}/redrive", 401, 403, 403, 202),
    ("GET",   "/ops/alerts",                    401,    403, 403, 200),
    ("GET",   "/analytics/daily",               401,    403, 403, 200),
    ("GET",   "/analytics/products/{sku}",      401,    403, 403, 200),
    ("GET",   "/analytics/top-products",        401,    403, 403, 200),
    ("POST",  "/catalog/imports",               401,    403, 403, 201),
    ("GET",   "/catalog/imports/{importId}",    401,    403, 403, 200),
    # Stripe's, signed by Stripe and by nothing else: a token opens nothing,
    # an unsigned request is a 400 for everyone (test_stripe_webhooks signs).
    ("POST",  "/webhooks/stripe",               400,    400, 400, 400),
]

# The query a route needs to succeed at all (its required parameters).
REQUIRED_QUERY = {"/analytics/daily": "?from=2026-01-01&to=2026-01-31"}

# The same route with a query that changes who may call it.
VARIANTS: list[tuple[str, str, str, int, int, int, int]] = [
    # method  path        query                        anonymous  A    B    admin
    ("GET",   "/orders",  "?customerId={customerA}",     401,    200, 403, 200),
    ("GET",   "/orders",  "?status=PLACED",              401,    200, 200, 200),
    ("GET",   "/orders",  "?customerId={customerA}&status=PLACED", 401, 200, 403, 200),
    # An open route: the app reads the token itself (its 401 is the app's body).
    ("GET",   "/products/{sku}/images", "?status=READY",   200,    200, 200, 200),
    ("GET",   "/products/{sku}/images", "?status=FAILED",  401,    403, 403, 200),
    ("GET",   "/products/{sku}/images", "?status=ALL",     401,    403, 403, 200),
]
# fmt: on

SUMMARY = f"{len(MATRIX)} routes x {len(CALLERS)} callers = {len(MATRIX) * len(CALLERS)} cells"

# Error bodies by status: the gateway's for 401, the app's for the rest.
ERROR_BODIES: dict[int, dict[str, Any]] = {
    401: {"message": "Unauthorized"},
    403: {"Code": "ForbiddenError"},
    404: {"Code": "NotFoundError"},
}
# An open route that reads a token itself answers 401 with the app's body.
APP_401 = {"Code": "UnauthorizedError"}


@dataclass(frozen=True)
class World:
    """The objects the rows act on, and a token for each caller."""

    sku: str
    customer_a: str
    customer_b: str
    order: str  # owned by customer A
    image: str  # an upload slot (PENDING image) on ``sku``
    catalog_import: str  # a PENDING catalog import
    queue: str  # a dead-letter queue of the stage
    message: str  # a message in ``queue``
    headers: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def world(shop: Shop) -> World:
    customer_a, customer_b = unique("cust-a"), unique("cust-b")
    sku = shop.put_product(stock=1000)["sku"]
    placed = shop.place_order(customer_a, [(sku, 1)])
    assert placed.status_code == 201, placed.body
    slot = shop.call("POST", f"/products/{sku}/images", headers=shop.admin())
    assert slot.status_code == 201, slot.body
    catalog_import = shop.call("POST", "/catalog/imports", headers=shop.admin())
    assert catalog_import.status_code == 201, catalog_import.body
    dlqs = shop.call("GET", "/ops/dead-letters", headers=shop.admin())
    assert dlqs.status_code == 200, dlqs.body
    # A step queue's DLQ: the one kind a redrive sends back (source: its queue).
    queue = next(
        q["queue"]
        for q in dlqs.json_body["items"]
        if q["queue"].endswith("-dlq") and q["queue"] == f"{q['source']}-dlq"
    )
    sqs = shop.aws("sqs")
    sent = sqs.send_message(
        QueueUrl=sqs.get_queue_url(QueueName=queue)["QueueUrl"], MessageBody="{}"
    )
    return World(
        queue=queue,
        message=sent["MessageId"],
        sku=sku,
        customer_a=customer_a,
        customer_b=customer_b,
        order=placed.json_body["orderId"],
        image=slot.json_body["imageId"],
        catalog_import=catalog_import.json_body["importId"],
        headers={
            "anonymous": {},
            "customerA": shop.auth(customer_a),
            "customerB": shop.auth(customer_b),
            "admin": shop.auth(unique("ops"), "admin"),
        },
    )


def fill(shop: Shop, world: World, method: str, path: str) -> str:
    """The path with real ids. Cancelling changes the order, so each cancel
    cell gets a fresh order of customer A's; a new path parameter fails here
    until the world provides an object for it."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "orderId" and path.endswith("/cancel"):
            placed = shop.place_order(world.customer_a, [(world.sku, 1)])
            assert placed.status_code == 201, placed.body
            return str(placed.json_body["orderId"])
        known = {
            "sku": world.sku,
            "orderId": world.order,
            "imageId": world.image,
            "importId": world.catalog_import,
            "queue": world.queue,
            "messageId": world.message,
            "asset": "main.js",
        }
        if name not in known:
            pytest.fail(f"no object for path parameter {{{name}}} in {method} {path}")
        return known[name]

    return re.sub(r"\{([^}]+)\}", value, path)


def body(world: World, method: str, path: str) -> Any:
    if (method, path) == ("PUT", "/products/{sku}"):
        # No stock: a PUT on an existing product changes the rest only, and
        # the restock and adjustment cells move the stock in between.
        return {"name": f"Product {world.sku}", "priceCents": 1250, "lowStockThreshold": 0}
    if (method, path) == ("POST", "/products/{sku}/restock"):
        return {"quantity": 1}
    if (method, path) == ("POST", "/products/{sku}/stock-adjustments"):
        return {"delta": -1, "reason": "authorization matrix"}
    if (method, path) == ("POST", "/orders"):
        return order_body([(world.sku, 1)])
    return None


def cells() -> list[Any]:
    out = []
    for method, path, *expected in MATRIX:
        for caller, status in zip(CALLERS, expected, strict=True):
            out.append(
                pytest.param(
                    method, path, "", caller, status, id=f"{method} {path} as {caller} -> {status}"
                )
            )
    for method, path, query, *expected in VARIANTS:
        for caller, status in zip(CALLERS, expected, strict=True):
            out.append(
                pytest.param(
                    method,
                    path,
                    query,
                    caller,
                    status,
                    id=f"{method} {path}{query} as {caller} -> {status}",
                )
            )
    return out


def registered(shop: Shop) -> set[tuple[str, str]]:
    return {(m, p) for p, methods in shop.app.app.routes.items() for m in methods}


@pytest.mark.parametrize("summary", [SUMMARY])
def test_the_matrix_has_one_row_per_route(shop: Shop, summary: str) -> None:
    rows = [(m, p) for m, p, *_ in MATRIX]
    assert len(rows) == len(set(rows)), "a route has two rows"
    routes = registered(shop)
    assert sorted(routes - set(rows)) == [], "routes without a row in MATRIX"
    assert sorted(set(rows) - routes) == [], "rows for routes that do not exist"
    assert {(m, p) for m, p, *_ in VARIANTS} <= routes
    for method, path, *expected in MATRIX:
        assert len(expected) == len(CALLERS), (method, path)
    print(f"\nauthorization matrix: {summary}")


def test_the_matrix_agrees_with_the_authorizer_wiring(shop: Shop) -> None:
    """A route anonymous callers may use has no authorizer, and the reverse."""
    for method, path, anonymous, *_ in MATRIX:
        entry = shop.app.app.routes[path][method]
        assert (entry.authorizer is None) == (anonymous != 401), (method, path)


@pytest.mark.parametrize(("method", "path", "query", "caller", "expected"), cells())
def test_cell(
    shop: Shop, world: World, method: str, path: str, query: str, caller: str, expected: int
) -> None:
    query = query or REQUIRED_QUERY.get(path, "")
    url = fill(shop, world, method, path) + query.format(customerA=world.customer_a)
    response = shop.call(method, url, body=body(world, method, path), headers=world.headers[caller])

    assert response.status_code == expected, (method, url, caller, response.body)
    if expected in ERROR_BODIES:
        gateway = shop.app.app.routes[path][method].authorizer is not None
        want = ERROR_BODIES[expected] if expected != 401 or gateway else APP_401
        assert {k: response.json_body.get(k) for k in want} == want, response.body
    if (method, path) == ("POST", "/orders/{orderId}/cancel") and expected == 404:
        # The other customer's attempt left the order alone.
        order_id = url.split("/")[2]
        owner_view = shop.call("GET", f"/orders/{order_id}", headers=world.headers["customerA"])
        assert owner_view.json_body["status"] == "PLACED"
