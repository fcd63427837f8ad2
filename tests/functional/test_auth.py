"""Authentication and authorization on every route, as API Gateway answers."""

from __future__ import annotations

import re
import time
from typing import Any

import jwt
import pytest

from tests.support.builders import order_body, unique
from tests.support.functional_shop import Shop

# (method, path template, roles allowed); path params are filled per test.
PROTECTED = [
    ("PUT", "/products/{sku}", ("admin",)),
    ("POST", "/products/{sku}/restock", ("admin",)),
    ("POST", "/products/{sku}/stock-adjustments", ("admin",)),
    ("POST", "/orders", ("customer",)),
    ("GET", "/orders", ("customer", "admin")),
    ("GET", "/orders/{orderId}", ("customer", "admin")),
    ("GET", "/orders/{orderId}/events", ("customer", "admin")),
    ("POST", "/orders/{orderId}/cancel", ("customer", "admin")),
    ("POST", "/products/{sku}/images", ("admin",)),
    ("GET", "/images/{imageId}", ("admin",)),
]
OPEN = [
    ("GET", "/health"),
    ("GET", "/products"),
    ("GET", "/products/{sku}"),
    ("GET", "/products/{sku}/images"),
]
# Routes API.md declares open to anyone; every other route must need a token.
OPEN_BY_CONTRACT = {
    ("GET", "/health"),
    ("GET", "/openapi.json"),
    ("GET", "/products"),
    ("GET", "/products/{sku}"),
    ("GET", "/products/{sku}/images"),
    ("POST", "/webhooks/stripe"),  # Stripe signs it (Stripe-Signature), no JWT
    ("GET", "/console"),  # the operator console's page: it asks for a token itself
    ("GET", "/console/{asset}"),
}


def _fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda m: "x1" if m.group(0) == "{sku}" else "abc123", path)


def _bad_tokens(shop: Shop) -> dict[str, dict[str, str]]:
    now = int(time.time())
    valid = {"sub": "cust-1", "role": "admin", "iat": now, "nbf": now, "exp": now + 600}
    return {
        "missing": {},
        "not-bearer": {"Authorization": f"Basic {shop.token('cust-1', 'admin')}"},
        "empty-bearer": {"Authorization": "Bearer "},
        "garbage": {"Authorization": "Bearer not.a.jwt"},
        "expired": {
            "Authorization": "Bearer "
            + shop.raw_token({**valid, "iat": now - 7200, "nbf": now - 7200, "exp": now - 3600})
        },
        "wrong-secret": {
            "Authorization": "Bearer "
            + shop.raw_token(valid, "local-only-not-a-secret-0123456789abcdef0123456789")
        },
        "unknown-role": {"Authorization": "Bearer " + shop.raw_token({**valid, "role": "root"})},
        "no-sub": {
            "Authorization": "Bearer "
            + shop.raw_token({k: v for k, v in valid.items() if k != "sub"})
        },
        "alg-none": {"Authorization": "Bearer " + jwt.encode(valid, key="", algorithm="none")},
    }


BAD_TOKEN_KINDS = [
    "missing",
    "not-bearer",
    "empty-bearer",
    "garbage",
    "expired",
    "wrong-secret",
    "unknown-role",
    "no-sub",
    "alg-none",
]


@pytest.mark.parametrize("kind", BAD_TOKEN_KINDS)
@pytest.mark.parametrize(("method", "path"), [(m, p) for m, p, _ in PROTECTED])
def test_protected_routes_answer_401_without_a_valid_token(
    shop: Shop, method: str, path: str, kind: str
) -> None:
    body: Any = {"quantity": 1} if method in ("PUT", "POST") else None
    response = shop.call(method, _fill(path), body=body, headers=_bad_tokens(shop)[kind])

    assert response.status_code == 401, (kind, response.body)
    assert response.json_body == {"message": "Unauthorized"}


def test_every_registered_route_but_the_open_ones_has_the_authorizer(shop: Shop) -> None:
    routes = shop.app.app.routes
    for path, methods in routes.items():
        for method, entry in methods.items():
            if (method, path) in OPEN_BY_CONTRACT:
                assert entry.authorizer is None, (method, path)
            else:
                assert entry.authorizer is not None, f"{method} {path} is open"
    # The routes this file checks by name are all registered.
    registered = {(m, p) for p, ms in routes.items() for m in ms}
    assert {(m, p) for m, p, _ in PROTECTED} | set(OPEN) <= registered


def test_every_route_with_the_authorizer_answers_401_without_a_token(shop: Shop) -> None:
    checked = 0
    for path, methods in shop.app.app.routes.items():
        for method, entry in methods.items():
            if entry.authorizer is None:
                continue
            response = shop.call(method, _fill(path), body={} if method != "GET" else None)
            assert response.status_code == 401, (method, path, response.body)
            checked += 1
    assert checked >= len(PROTECTED)


@pytest.mark.parametrize(
    ("method", "path"),
    [(m, p) for m, p, roles in PROTECTED if roles == ("admin",)],
)
def test_customer_on_admin_route_gets_403(shop: Shop, method: str, path: str) -> None:
    sku = shop.put_product(stock=3)["sku"]
    bodies = {"restock": {"quantity": 5}, "stock-adjustments": {"delta": -3, "reason": "hijack"}}
    body = bodies.get(path.rsplit("/", 1)[1], {"name": "hijack", "priceCents": 1, "stock": 999})

    response = shop.call(
        method,
        path.format(sku=sku, imageId="abc123"),
        body=body,
        headers=shop.auth(unique("cust")),
    )

    assert response.status_code == 403, response.body
    assert response.json_body["Code"] == "ForbiddenError"
    # Nothing changed.
    after = shop.call("GET", f"/products/{sku}").json_body
    assert (after["stock"], after["priceCents"]) == (3, 1250)


def test_admin_cannot_place_an_order(shop: Shop) -> None:
    sku = shop.put_product()["sku"]

    response = shop.call("POST", "/orders", body=order_body([(sku, 1)]), headers=shop.admin())

    assert response.status_code == 403, response.body


@pytest.mark.parametrize(("method", "path"), OPEN)
def test_open_routes_work_without_a_token(shop: Shop, method: str, path: str) -> None:
    sku = shop.put_product()["sku"]

    response = shop.call(method, path.format(sku=sku))

    assert response.status_code == 200, response.body
    if path == "/health":
        assert response.json_body == {"status": "ok"}
    elif path == "/products":
        assert set(response.json_body) == {"items", "nextCursor"}
    elif path.endswith("/images"):
        assert response.json_body == {"items": []}
    else:
        assert response.json_body["sku"] == sku


def test_open_routes_ignore_a_bad_token(shop: Shop) -> None:
    response = shop.call("GET", "/health", headers={"Authorization": "Bearer nonsense"})

    assert response.status_code == 200


@pytest.mark.parametrize("suffix", ["", "/events"])
def test_a_customer_cannot_see_another_customers_order_but_an_admin_can(
    shop: Shop, suffix: str
) -> None:
    sku = shop.put_product()["sku"]
    owner, other = unique("cust"), unique("cust")
    order_id = shop.place_order(owner, [(sku, 1)]).json_body["orderId"]

    as_owner = shop.call("GET", f"/orders/{order_id}{suffix}", headers=shop.auth(owner))
    as_other = shop.call("GET", f"/orders/{order_id}{suffix}", headers=shop.auth(other))
    as_admin = shop.call("GET", f"/orders/{order_id}{suffix}", headers=shop.admin())

    assert as_owner.status_code == 200
    assert as_other.status_code == 404, as_other.body
    assert as_other.json_body["Code"] == "NotFoundError"
    assert as_admin.status_code == 200
    assert as_admin.json_body == as_owner.json_body


def test_another_customer_cannot_cancel_an_order(shop: Shop) -> None:
    sku = shop.put_product()["sku"]
    owner = unique("cust")
    order_id = shop.place_order(owner, [(sku, 1)]).json_body["orderId"]

    response = shop.call("POST", f"/orders/{order_id}/cancel", headers=shop.auth(unique("cust")))

    assert response.status_code == 404
    status = shop.call("GET", f"/orders/{order_id}", headers=shop.auth(owner)).json_body["status"]
    assert status == "PLACED"


def test_an_admin_may_cancel_any_order(shop: Shop) -> None:
    sku = shop.put_product()["sku"]
    order_id = shop.place_order(unique("cust"), [(sku, 1)]).json_body["orderId"]

    response = shop.call("POST", f"/orders/{order_id}/cancel", headers=shop.admin())

    assert response.status_code == 202, response.body
    assert response.json_body["status"] == "CANCELLING"
    assert response.json_body["reason"] == "cancelled by an admin"
