"""The OpenAPI document: generated from Chalice's route table and the models,
valid OpenAPI 3.1, and true to what the code returns."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import jsonschema
import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator

from chalicelib.http import openapi
from chalicelib.images.model import Image, ImageStatus
from chalicelib.images.service import ImageService
from chalicelib.orders.model import OrderEvent, PlaceOrder

ROOT = Path(__file__).resolve().parents[3]
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}

# The app needs its environment at import time, and importing it here would
# leave its settings cached for other tests: a child process reports instead.
DUMP_APP = """
import dataclasses, json, os, sys
from chalicelib.platform.settings import Settings
for f in dataclasses.fields(Settings):
    if f.default is dataclasses.MISSING:
        os.environ.setdefault(f.name.upper(), 'arn:aws:x:us-east-1:1:y/z/stream/1')
os.environ.update(AWS_REGION='us-east-1', STAGE='test')
import app
from chalicelib.http import openapi
from chalicelib.http.routing import ROUTE_DOCS
doc = openapi.document(app.app, ROUTE_DOCS)
assert openapi.document(app.app, ROUTE_DOCS) is doc, 'not cached'
routes = [
    {'path': path, 'method': method, 'view': entry.view_name,
     'authorizer': getattr(entry.authorizer, 'name', None) if entry.authorizer else None}
    for path, methods in app.app.routes.items() for method, entry in methods.items()
]
documented = sorted(f'{m} {p}' for p, m in ROUTE_DOCS)
json.dump({'doc': doc, 'routes': routes, 'documented': documented}, sys.stdout)
"""


@pytest.fixture(scope="module")
def dumped() -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", DUMP_APP], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return dict(json.loads(out.stdout))


@pytest.fixture(scope="module")
def doc(dumped: dict[str, Any]) -> dict[str, Any]:
    return dict(dumped["doc"])


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method.upper(), op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def validator(doc: dict[str, Any], name: str) -> jsonschema.Draft202012Validator:
    """A validator for one component schema, its $refs resolved in ``doc``."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
    return jsonschema.Draft202012Validator(schema)


def test_is_a_valid_openapi_3_1_document(doc: dict[str, Any]) -> None:
    assert doc["openapi"].startswith("3.1.")
    OpenAPIV31SpecValidator(doc).validate()


def test_documents_every_route_and_nothing_else(
    dumped: dict[str, Any], doc: dict[str, Any]
) -> None:
    routes = {(r["path"], r["method"]) for r in dumped["routes"]}
    documented = {(path, method) for path, method, _ in operations(doc)}
    assert documented == routes
    assert ("/openapi.json", "GET") in routes
    # ... and every route declares its shapes (none falls back to the defaults)
    assert sorted(f"{m} {p}" for p, m in routes) == dumped["documented"]
    for path, method, op in operations(doc):
        assert op["operationId"] in {r["view"] for r in dumped["routes"]}, (method, path)
        assert op["summary"], (method, path)
        success = [s for s in op["responses"] if s.startswith("2")]
        assert success, (method, path)
        for status in success:
            if status == "204":  # No Content: nothing to describe
                assert "content" not in op["responses"][status], (method, path)
                continue
            content = op["responses"][status]["content"]
            # JSON, but for the console's page and files (chalicelib/console).
            json_only = not path.startswith("/console")
            assert (list(content) == ["application/json"]) is json_only, (method, path)
            assert all(c["schema"] for c in content.values()), (method, path, status)


def test_path_parameters_match_the_route_templates(doc: dict[str, Any]) -> None:
    for path, _, op in operations(doc):
        names = [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]
        assert names == [seg[1:-1] for seg in path.split("/") if seg.startswith("{")], path
        for p in op.get("parameters", []):
            if p["name"] == "sku":
                assert p["schema"] == {"type": "string", "pattern": "^[A-Za-z0-9-]{1,64}$"}
            if p["in"] == "path":
                assert p["required"] is True


# Open routes whose answer depends on a token when one is sent (?status= of a
# product's images: an admin's listing).
OPTIONAL_TOKEN = {("/products/{sku}/images", "GET")}


def test_secured_routes_are_exactly_those_with_an_authorizer(
    dumped: dict[str, Any], doc: dict[str, Any]
) -> None:
    assert doc["components"]["securitySchemes"] == {
        "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }
    assert "security" not in doc  # open routes stay open
    authorizer = {(r["path"], r["method"]): r["authorizer"] for r in dumped["routes"]}
    assert set(authorizer.values()) >= {None, "jwt_auth"}
    for path, method, op in operations(doc):
        if authorizer[(path, method)]:
            assert op["security"] == [{"bearerAuth": []}], (method, path)
            unauthorized = op["responses"]["401"]["content"]["application/json"]["schema"]
            assert unauthorized == {
                "anyOf": [
                    {"$ref": "#/components/schemas/Error"},
                    {"$ref": "#/components/schemas/GatewayError"},
                ]
            }
        elif (path, method) in OPTIONAL_TOKEN:
            # Open, and reading a token when one is sent.
            assert op["security"] == [{}, {"bearerAuth": []}], (method, path)
            assert {"401", "403"} <= set(op["responses"]), (method, path)
        else:
            assert "security" not in op, (method, path)
            assert "401" not in op["responses"], (method, path)
            assert "403" not in op["responses"], (method, path)


def test_statuses_follow_the_api_contract(doc: dict[str, Any]) -> None:
    statuses = {(p, m): sorted(op["responses"]) for p, m, op in operations(doc)}
    assert statuses[("/health", "GET")] == ["200"]
    assert statuses[("/products", "GET")] == ["200", "400"]
    assert statuses[("/products/{sku}", "GET")] == ["200", "400", "404"]
    # 413: a body route refuses anything beyond app.MAX_BODY_BYTES
    # 409: a PUT naming a stock that is not the current one
    assert statuses[("/products/{sku}", "PUT")] == ["200", "400", "401", "403", "409", "413"]
    # 409: the stock would leave 0..MAX_STOCK
    for stock_route in ("/products/{sku}/restock", "/products/{sku}/stock-adjustments"):
        assert statuses[(stock_route, "POST")] == [
            "200",
            "400",
            "401",
            "403",
            "404",
            "409",
            "413",
        ]
    assert statuses[("/orders", "POST")] == ["200", "201", "400", "401", "403", "409", "413"]
    assert statuses[("/orders", "GET")] == ["200", "400", "401", "403"]
    assert statuses[("/orders/{orderId}", "GET")] == ["200", "401", "404"]
    assert statuses[("/orders/{orderId}/events", "GET")] == ["200", "401", "404"]
    assert statuses[("/orders/{orderId}/cancel", "POST")] == ["202", "401", "404", "409"]
    assert statuses[("/products/{sku}/images", "POST")] == ["201", "400", "401", "403", "404"]
    # 401/403: a status other than READY needs an admin's token; 503: its JWKS
    assert statuses[("/products/{sku}/images", "GET")] == ["200", "400", "401", "403", "503"]
    assert statuses[("/images/{imageId}", "GET")] == ["200", "401", "403", "404"]
    created = doc["paths"]["/orders"]["post"]["responses"]["201"]
    assert created["headers"]["Location"]["required"] is True


def test_request_bodies_and_parameters(doc: dict[str, Any]) -> None:
    def body(path: str, method: str) -> Any:
        content = doc["paths"][path][method]["requestBody"]["content"]
        return content["application/json"]["schema"]

    assert body("/products/{sku}", "put") == {"$ref": "#/components/schemas/ProductInput"}
    assert body("/products/{sku}/restock", "post") == {"$ref": "#/components/schemas/Restock"}
    assert body("/products/{sku}/stock-adjustments", "post") == {
        "$ref": "#/components/schemas/StockAdjustment"
    }
    assert body("/orders", "post") == {"$ref": "#/components/schemas/PlaceOrder"}
    params = {p["name"]: p for p in doc["paths"]["/orders"]["post"]["parameters"]}
    assert params["Idempotency-Key"]["in"] == "header"
    listing = {p["name"]: p["schema"] for p in doc["paths"]["/orders"]["get"]["parameters"]}
    assert listing["limit"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}
    assert listing["cursor"]["type"] == "string"
    assert listing["customerId"]["type"] == "string"


def test_place_order_forbids_unknown_fields(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    for name in (
        "PlaceOrder",
        "OrderLineInput",
        "ShippingAddress",
        "ProductInput",
        "Restock",
        "StockAdjustment",
    ):
        assert schemas[name]["additionalProperties"] is False, name
    check = validator(doc, "PlaceOrder")
    good = {
        "items": [{"sku": "SKU-1", "quantity": 2}],
        "paymentToken": "tok_ok",
        "shippingAddress": {
            "name": "Ada",
            "line1": "1 Main St",
            "city": "Berlin",
            "postalCode": "10115",
            "country": "DE",
        },
    }
    check.validate(good)
    PlaceOrder.model_validate(good)
    assert not check.is_valid({**good, "couponCode": "FREE"})
    assert not check.is_valid({**good, "items": [{"sku": "bad sku!", "quantity": 1}]})
    assert not check.is_valid({**good, "items": []})


def test_response_schemas_describe_what_the_code_returns(doc: dict[str, Any]) -> None:
    order = {
        "orderId": "a" * 32,
        "customerId": "c-1",
        "status": "PLACED",
        "items": [{"sku": "S-1", "quantity": 1, "unitPriceCents": 5, "lineTotalCents": 5}],
        "totalCents": 5,
        "shippingAddress": {
            "name": "Ada",
            "line1": "1 Main St",
            "city": "Berlin",
            "postalCode": "10115",
            "country": "DE",
        },
        "createdAt": "2026-01-01T00:00:00.000Z",
        "updatedAt": "2026-01-01T00:00:00.000Z",
        "version": 1,
    }
    from chalicelib.orders.model import Order
    from chalicelib.orders.views import public as public_order

    public = public_order(Order.model_validate(order))
    validator(doc, "Order").validate(public)
    assert set(doc["components"]["schemas"]["Order"]["properties"]) == set(public)
    assert not validator(doc, "Order").is_valid({k: v for k, v in public.items() if k != "status"})
    validator(doc, "OrderPage").validate({"items": [public], "nextCursor": None})
    event = OrderEvent.model_validate({"version": 1, "type": "OrderPlaced", "at": "t"})
    validator(doc, "OrderEventList").validate({"items": [event.model_dump(mode="json")]})


def test_catalog_schemas_follow_the_stock_rules(doc: dict[str, Any]) -> None:
    from chalicelib.catalog.model import MAX_STOCK, Product

    schemas = doc["components"]["schemas"]
    product_input = validator(doc, "ProductInput")
    described = {"name": "Mug", "priceCents": 100, "lowStockThreshold": 2}
    product_input.validate(described)  # stock is optional: required only to create
    product_input.validate({**described, "stock": MAX_STOCK})
    for bad in (None, -1, MAX_STOCK + 1, "5", 1.5):
        assert not product_input.is_valid({**described, "stock": bad}), bad
    assert schemas["ProductInput"]["required"] == ["name", "priceCents"]

    adjustment = validator(doc, "StockAdjustment")
    for delta in (-MAX_STOCK, -1, 1, MAX_STOCK):
        adjustment.validate({"delta": delta, "reason": "recount"})
    bad_adjustments: list[dict[str, Any]] = [
        {"delta": 0, "reason": "x"},
        {"delta": 1, "reason": ""},
        {"delta": 1},
    ]
    for wrong in bad_adjustments:
        assert not adjustment.is_valid(wrong), wrong
    assert not adjustment.is_valid({"delta": 1, "reason": "x" * 201})

    product = Product(
        sku="S-1", name="Mug", priceCents=1, stock=0, lowStockThreshold=0, updatedAt="t"
    ).model_dump()
    validator(doc, "Product").validate(product)
    assert set(schemas["Product"]["required"]) == set(product)
    assert "version" in product


@pytest.mark.parametrize("admin", [True, False])
def test_image_view_matches_the_image_schema(doc: dict[str, Any], admin: bool) -> None:
    class Urls:  # view() reads nothing but URLs
        def url(self, key: str, expires: int) -> str:
            return f"http://images.local/{key}?expires={expires}"

    unused: Any = None
    service = ImageService(unused, cast(Any, Urls()), lambda k, d: None, lambda s: True)
    image = Image(
        imageId="0" * 32,
        sku="S-1",
        status=ImageStatus.READY,
        width=640,
        height=480,
        format="JPEG",
        bytes=1234,
        thumbnailKeys={"200": "thumbnails/S-1/x/200.jpg", "512": "thumbnails/S-1/x/512.jpg"},
        exif={"make": "X", "model": "Y", "gps": {"lat": 1.0, "lon": 2.0}},
        createdAt="t",
        updatedAt="t",
    )
    view = service.view(image, admin=admin)
    validator(doc, "Image").validate(view)
    validator(doc, "ImageList").validate({"items": [view]})
    documented = set(doc["components"]["schemas"]["Image"]["properties"])
    assert set(view) <= documented
    assert documented - set(view) <= {"deletedAt"}


def test_error_bodies(doc: dict[str, Any]) -> None:
    validator(doc, "Error").validate({"Code": "NotFoundError", "Message": "no"})
    validator(doc, "Error").validate(
        {"Code": "BadRequestError", "Message": "m", "Errors": [{"loc": ["items", 0], "msg": "x"}]}
    )
    assert not validator(doc, "Error").is_valid({"message": "Unauthorized"})
    validator(doc, "GatewayError").validate({"message": "Unauthorized"})


def test_built_once_and_cheap_to_import() -> None:
    script = (
        "import sys\n"
        "from chalicelib.http import openapi\n"
        "heavy = sorted(m for m in ('boto3', 'botocore', 'PIL', 'exifread', 'chalice')"
        " if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "", out.stdout


def test_document_of_a_small_app() -> None:
    """Generated from whatever routes an app has: nothing is hard-wired."""
    from chalice.app import Chalice

    small = Chalice(app_name="small")

    @small.route("/things/{thingId}", methods=["GET", "DELETE"])
    def thing(thingId: str) -> dict[str, str]:  # noqa: N803
        return {}

    meta = {("/things/{thingId}", "GET"): openapi.Operation(response=openapi.ORDER)}
    doc = openapi.document(small, meta)
    OpenAPIV31SpecValidator(doc).validate()
    assert list(doc["paths"]) == ["/things/{thingId}"]
    assert set(doc["paths"]["/things/{thingId}"]) == {"get", "delete"}
    ids = {op["operationId"] for op in doc["paths"]["/things/{thingId}"].values()}
    assert ids == {"thing_get", "thing_delete"}
    assert "Order" in doc["components"]["schemas"]
    assert openapi.document(small, meta) is doc


def test_two_different_schemas_with_one_name_are_refused() -> None:
    from chalice.app import Chalice

    small = Chalice(app_name="clash")

    @small.route("/a")
    def a() -> dict[str, str]:
        return {}

    @small.route("/b")
    def b() -> dict[str, str]:
        return {}

    meta = {
        ("/a", "GET"): openapi.Operation(response=openapi.View(Image, exclude=("sku",))),
        ("/b", "GET"): openapi.Operation(response=openapi.IMAGE),
    }
    with pytest.raises(ValueError, match="Image"):
        openapi.build(small, meta)


def test_order_statuses_and_event_types_are_the_models(doc: dict[str, Any]) -> None:
    from chalicelib.orders.model import EventType, OrderStatus

    order, event = validator(doc, "Order"), validator(doc, "OrderEventList")
    public = {
        "orderId": "o1",
        "customerId": "c1",
        "status": "CANCELLING",
        "items": [],
        "totalCents": 0,
        "shippingAddress": {
            "name": "Ada",
            "line1": "1 Main St",
            "city": "Berlin",
            "postalCode": "10115",
            "country": "DE",
        },
        "reason": "payment declined: card declined",
        "trackingNumber": None,
        "createdAt": "t",
        "updatedAt": "t",
        "version": 3,
    }
    for status in OrderStatus:
        order.validate({**public, "status": str(status)})
    assert not order.is_valid({**public, "status": "CANCELING"})
    for type_ in EventType:
        event.validate({"items": [{"version": 2, "type": str(type_), "at": "t", "data": {}}]})
    assert not event.is_valid({"items": [{"version": 2, "type": "OrderCanceled", "at": "t"}]})
