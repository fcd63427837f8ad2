"""The catalog's routes (products, stock, bulk imports), its stream handler
(low-stock alerts), its image-events subscriber (each product's primary
image) and the EventBridge rule that applies an uploaded import file."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.http import openapi
from chalicelib.http.request import RequestReader
from chalicelib.http.routing import Router

# Models are named, not imported: this module loads at every cold start.
PRODUCT = openapi.ref("chalicelib.catalog.model:Product")
PRODUCT_INPUT = openapi.ref("chalicelib.catalog.model:ProductInput")
RESTOCK = openapi.ref("chalicelib.catalog.model:Restock")
STOCK_ADJUSTMENT = openapi.ref("chalicelib.catalog.model:StockAdjustment")
IMPORT = openapi.ref("chalicelib.catalog.importing:ImportView")

bp = Blueprint(__name__)
api = Router(bp)
request = RequestReader(bp)
settings = bootstrap.settings()


@api.route(
    "/products", summary="List products", response=openapi.page(PRODUCT), query=openapi.PAGING
)
def list_products() -> dict[str, Any]:
    start = request.page_start("products")
    catalog = bootstrap.services().catalog
    page = catalog.list_products(request.page_limit(), start)
    return request.page([catalog.view(p) for p in page.products], page.last_key, "products")


@api.route("/products/{sku}", summary="Get a product", response=PRODUCT, failures=(404,))
def get_product(sku: str) -> dict[str, Any]:
    catalog = bootstrap.services().catalog
    return catalog.view(catalog.get(sku))


@api.route(
    "/products/{sku}",
    methods=("PUT",),
    roles=("admin",),
    summary="Create a product, or change its name, price and threshold (never its stock)",
    body=PRODUCT_INPUT,
    response=PRODUCT,
    failures=(409,),
)
def put_product(sku: str) -> dict[str, Any]:
    catalog = bootstrap.services().catalog
    return catalog.view(catalog.put_product(sku, request.json_body()))


@api.route(
    "/products/{sku}/restock",
    methods=("POST",),
    roles=("admin",),
    summary="Add stock, up to the maximum stock",
    body=RESTOCK,
    response=PRODUCT,
    failures=(404, 409),
)
def restock(sku: str) -> dict[str, Any]:
    by = request.principal().sub
    catalog = bootstrap.services().catalog
    return catalog.view(catalog.restock(sku, request.json_body(), by))


@api.route(
    "/products/{sku}/stock-adjustments",
    methods=("POST",),
    roles=("admin",),
    summary="Correct the stock by a signed delta, with a reason (never clamped)",
    body=STOCK_ADJUSTMENT,
    response=PRODUCT,
    failures=(404, 409),
)
def adjust_stock(sku: str) -> dict[str, Any]:
    by = request.principal().sub
    catalog = bootstrap.services().catalog
    return catalog.view(catalog.adjust_stock(sku, request.json_body(), by))


@api.route(
    "/catalog/imports",
    methods=("POST",),
    roles=("admin",),
    summary="A bulk import: a presigned S3 POST for one CSV file of products",
    response=openapi.IMPORT_SLOT,
    status=201,
)
def create_import() -> Response:
    return Response(body=bootstrap.services().imports.create(), status_code=201)


@api.route(
    "/catalog/imports/{importId}",
    roles=("admin",),
    summary="A bulk import: PENDING until its file is applied, then DONE (or FAILED)",
    response=IMPORT,
    failures=(404,),
)
def get_import(importId: str) -> dict[str, Any]:  # noqa: N803
    imports = bootstrap.services().imports
    return imports.view(imports.get(importId))


# S3 sends the bucket's events to EventBridge (the template's
# EventBridgeConfiguration); this rule takes an import's file as it lands.
@bp.on_cw_event(
    {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [settings.images_bucket_name]},
            "object": {"key": [{"prefix": "imports/"}]},
        },
    }
)
def catalog_import(event: Any) -> None:
    key = str(event.detail["object"]["key"])
    # The lease on the import lasts as long as this invocation may.
    remaining = event.context.get_remaining_time_in_millis() / 1000 if event.context else None
    outcome = bootstrap.services().imports.uploaded(key, lease_seconds=remaining)
    bp.log.info("import file %s: %s", key, outcome)


@bp.on_dynamodb_record(
    stream_arn=settings.products_stream_arn, batch_size=100, starting_position="TRIM_HORIZON"
)
def low_stock_alerts(event: Any) -> None:
    from chalicelib.platform.dynamo import from_image

    changes = [
        (from_image(r["dynamodb"].get("OldImage")), from_image(r["dynamodb"].get("NewImage")))
        for r in event.to_dict()["Records"]
    ]
    bootstrap.services().catalog.alert_crossings(changes)


@bp.on_sns_message(topic=settings.image_events_topic_arn)
def product_images(event: Any) -> None:
    """The images context's events: the product's primary image follows them."""
    import json

    try:
        detail = json.loads(event.message)
    except ValueError:
        bp.log.warning("ignored an image event that is not JSON")
        return
    if not isinstance(detail, dict):
        bp.log.warning("ignored an image event that is not an object")
        return
    from chalicelib.platform import correlation

    image_id = detail.get("imageId")
    with correlation.use(detail.get("correlationId"), image_id=str(image_id or "")):
        outcome = bootstrap.services().catalog.hear_image(detail)
        bp.log.info("image %s of %s: %s", image_id, detail.get("sku"), outcome)
