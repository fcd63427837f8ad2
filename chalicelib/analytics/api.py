"""The analytics blueprint: the consumer of the bus's order events and the
admin routes that read the numbers."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib import bootstrap
from chalicelib.http import openapi
from chalicelib.http.request import RequestReader
from chalicelib.http.routing import Router

bp = Blueprint(__name__)
api = Router(bp)
request = RequestReader(bp)
settings = bootstrap.settings()


@bp.on_sqs_message(
    queue=settings.analytics_queue_name, batch_size=100, maximum_batching_window_in_seconds=1
)
def analytics_step(event: Any) -> dict[str, Any]:
    """Order events from the bus's analytics rule: each counted once, the
    whole batch in one write."""
    from chalicelib.analytics.service import count_batch

    s = bootstrap.services()
    return count_batch(event, s.analytics, s.failures)


DAY = openapi.ref("chalicelib.analytics.views:Day")
PRODUCT_SALES = openapi.ref("chalicelib.analytics.views:ProductSales")


@api.route(
    "/analytics/daily",
    roles=("admin",),
    summary="Orders, outcomes, revenue and units per day placed",
    description="Every day from `from` to `to` (UTC, both included, at most 366 days), "
    "zeros where nothing was placed. An order counts on the day it was placed; "
    "revenue is that of the completed ones.",
    response=openapi.items(DAY),
    query={"from": openapi.DATE, "to": openapi.DATE},
)
def analytics_daily() -> dict[str, Any]:
    days = bootstrap.services().analytics.daily(request.query("from"), request.query("to"))
    return {"items": [d.as_dict() for d in days]}


TOP_DEFAULT, TOP_MAX = 10, 50  # GET /analytics/top-products?limit=


@api.route(
    "/analytics/top-products",
    roles=("admin",),
    summary="The best-selling products: units, revenue and orders of the completed orders",
    description="Highest `revenueCents` first (then most units, then by sku), at most "
    "`limit` of them; only products some completed order holds.",
    response=openapi.items(PRODUCT_SALES),
    query={"limit": {"type": "integer", "minimum": 1, "maximum": TOP_MAX, "default": TOP_DEFAULT}},
)
def analytics_top_products() -> dict[str, Any]:
    limit = request.page_limit(default=TOP_DEFAULT, maximum=TOP_MAX)
    top = bootstrap.services().analytics.top_products(limit)
    return {"items": [p.as_dict() for p in top]}


@api.route(
    "/analytics/products/{sku}",
    roles=("admin",),
    summary="A product's sales: units, revenue and orders of the completed orders",
    response=PRODUCT_SALES,
)
def analytics_product(sku: str) -> dict[str, Any]:
    return bootstrap.services().analytics.product(sku).as_dict()
