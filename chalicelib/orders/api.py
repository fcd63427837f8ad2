"""The order routes, the outbox relay (orders stream -> the domain bus) and the
customer notifications step."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.http import openapi
from chalicelib.http.request import RequestReader
from chalicelib.http.routing import Router

PLACE_ORDER = openapi.ref("chalicelib.orders.model:PlaceOrder")

bp = Blueprint(__name__)


def public(order: Any) -> dict[str, Any]:
    from chalicelib.orders import views  # pydantic: on first use, not at cold start

    return views.public(order)


api = Router(bp)
request = RequestReader(bp)
settings = bootstrap.settings()


@api.route(
    "/orders",
    methods=("POST",),
    roles=("customer",),
    summary="Place an order (200: replayed for a known Idempotency-Key)",
    body=PLACE_ORDER,
    response=openapi.ORDER,
    status=(201, 200),
    headers={"Idempotency-Key": {"type": "string", "minLength": 1, "maxLength": 255}},
    response_headers={"Location": {"type": "string"}},
    failures=(409,),
)
def place_order() -> Response:
    order, created = bootstrap.services().orders.place(
        request.principal().sub, request.json_body(), request.header("Idempotency-Key")
    )
    return Response(
        body=public(order),
        status_code=201 if created else 200,
        headers={"Location": f"/orders/{order.orderId}"},
    )


# The values of chalicelib.orders.model.OrderStatus (named here: the model
# imports pydantic, which cold start leaves for later; a test ties the two).
ORDER_STATUSES = (
    "PLACED",
    "RESERVED",
    "PAID",
    "SHIPPED",
    "COMPLETED",
    "REJECTED",
    "CANCELLING",
    "CANCELLED",
)


@api.route(
    "/orders",
    roles=("customer", "admin"),
    summary="Orders, newest first: the caller's (admins: every order, or one customer's)",
    description="An admin without `customerId` lists every order; with it, that "
    "customer's (a customer may name only themselves). `status` keeps the orders in "
    "that status: such a page reads at most 100 orders, so it may hold fewer than "
    "`limit`, or none, with a `nextCursor` for more.",
    response=openapi.page(openapi.ORDER),
    query={
        **openapi.PAGING,
        "customerId": {"type": "string"},
        "status": {"type": "string", "enum": list(ORDER_STATUSES)},
    },
    failures=(403,),
)
def list_orders() -> dict[str, Any]:
    from chalicelib.orders.service import parse_status

    who = request.principal()
    customer = request.query("customerId") or None
    status = parse_status(request.query("status"))
    listed = customer or (None if who.is_admin else who.sub)
    scope = f"orders:{listed}" if listed else "orders-every"
    if status is not None:
        scope += f":{status}"
    start = request.page_start(scope)
    limit = request.page_limit()
    page = bootstrap.services().orders.list_orders(who, customer, limit, start, status)
    return request.page([public(o) for o in page.orders], page.last_key, scope)


@api.route(
    "/orders/{orderId}",
    roles=("customer", "admin"),
    summary="Get an order",
    response=openapi.ORDER,
    failures=(404,),
)
def get_order(orderId: str) -> dict[str, Any]:  # noqa: N803 - Chalice passes path names
    return public(bootstrap.services().orders.get(orderId, request.principal()))


@api.route(
    "/orders/{orderId}/events",
    roles=("customer", "admin"),
    summary="An order's event history, in version order",
    response=openapi.items(openapi.ORDER_EVENT),
    failures=(404,),
)
def order_events(orderId: str) -> dict[str, Any]:  # noqa: N803
    events = bootstrap.services().orders.events(orderId, request.principal())
    return {"items": [e.model_dump(mode="json") for e in events]}


@api.route(
    "/orders/{orderId}/cancel",
    methods=("POST",),
    roles=("customer", "admin"),
    summary="Cancel an order that has not shipped",
    response=openapi.ORDER,
    status=202,
    failures=(404, 409),
)
def cancel_order(orderId: str) -> Response:  # noqa: N803
    order = bootstrap.services().orders.cancel(orderId, request.principal())
    return Response(body=public(order), status_code=202)


@bp.on_dynamodb_record(
    stream_arn=settings.orders_stream_arn, batch_size=100, starting_position="TRIM_HORIZON"
)
def relay_order_events(event: Any) -> None:
    """The outbox relay: every appended order event goes onto the domain bus."""
    from chalicelib.orders.relay import order_bus_events
    from chalicelib.platform import correlation

    relayed = order_bus_events(event.to_dict()["Records"])
    if relayed:
        bootstrap.services().bus.put([bus_event for bus_event, _ in relayed])
    for _, m in relayed:
        with correlation.use(m.correlationId, order_id=m.orderId):
            bp.log.info("relayed %s v%d of order %s", m.type, m.version, m.orderId)


@bp.on_sqs_message(
    queue=settings.notify_queue_name, batch_size=100, maximum_batching_window_in_seconds=1
)
def notify_step(event: Any) -> dict[str, Any]:
    from chalicelib.orders.notifications import notify_batch

    s = bootstrap.services()
    return notify_batch(event, s.notifier, s.failures)
