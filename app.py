"""eventshop: the Chalice app. Routes and event handlers stay thin: parse, one
service call, return. Domain errors become HTTP responses in ``route`` below."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any

from chalice.app import AuthRequest, AuthResponse, Chalice, Response

from chalicelib import auth, container, cursor, errors, logs, openapi
from chalicelib.settings import get_settings

# Cold start: every function imports this module, so it imports only what all
# of them need. Models, services and adapters load on first use (container,
# the saga in its handlers; route docs name models by reference).
PRODUCT = openapi.ref("chalicelib.inventory.model:Product")
PRODUCT_INPUT = openapi.ref("chalicelib.inventory.model:ProductInput")
RESTOCK = openapi.ref("chalicelib.inventory.model:Restock")
PLACE_ORDER = openapi.ref("chalicelib.orders.model:PlaceOrder")

settings = get_settings()
app = Chalice(app_name="eventshop")
# Chalice leaves app.log at WARNING unless debug is on; INFO is what operators
# read in CloudWatch.
app.log.setLevel(getattr(logging, settings.log_level.upper(), logging.INFO))
# Secrets never reach the logs (chalicelib.logs): on the root logger's handlers
# and on app.log, which Chalice gives its own handler.
logs.install(logging.getLogger())
logs.install(app.log)


@app.authorizer(ttl_seconds=60)
def jwt_auth(auth_request: AuthRequest) -> AuthResponse:
    try:
        principal = auth.authenticate(auth_request.token, settings)
    except auth.InvalidToken as exc:
        app.log.info("token rejected: %s", exc)
        # API Gateway answers 401 only for this exact message (any other
        # exception is a 500); the local stack emulates the same contract.
        raise Exception("Unauthorized") from None  # noqa: TRY002
    return AuthResponse(routes=["*"], principal_id=principal.sub, context={"role": principal.role})


def current_principal() -> auth.Principal | None:
    request = app.current_request
    context = (request.context or {}).get("authorizer") or {} if request else {}
    sub, role = context.get("principalId"), context.get("role")
    if not sub or role not in auth.ROLES:
        return None
    return auth.Principal(sub=str(sub), role=str(role))


def error_response(exc: errors.DomainError) -> Response:
    body: dict[str, Any] = {"Code": exc.code, "Message": exc.message}
    if exc.errors:
        body["Errors"] = exc.errors
    return Response(body=body, status_code=exc.status)


# (path, method) -> what the OpenAPI document says beyond Chalice's route table
ROUTE_DOCS: dict[tuple[str, str], openapi.Operation] = {}


def route(
    path: str,
    methods: tuple[str, ...] = ("GET",),
    roles: tuple[str, ...] = (),
    *,
    summary: str | None = None,
    body: type[Any] | openapi.Ref | None = None,
    response: openapi.Schema | None = None,
    status: int | tuple[int, ...] = 200,
    query: Mapping[str, Mapping[str, Any]] | None = None,
    headers: Mapping[str, Mapping[str, Any]] | None = None,
    response_headers: Mapping[str, Mapping[str, Any]] | None = None,
    failures: tuple[int, ...] = (),
    **kwargs: Any,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``app.route`` plus role checks and the domain-error -> HTTP mapping.

    ``roles`` empty means the route is open. Otherwise the JWT authorizer runs
    first (401 without a valid token) and the role is checked here (403).
    The keyword-only arguments document the route (``GET /openapi.json``):
    the pydantic model of the body, the response shape and success status(es),
    query and header parameters, and error statuses beyond 400/401/403.
    """

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def view(**params: Any) -> Any:
            try:
                if roles:
                    auth.require(current_principal(), *roles)
                return fn(**params)
            except errors.DomainError as exc:
                if exc.status >= 500:
                    app.log.exception("request failed: %s", exc)
                return error_response(exc)

        if roles:
            kwargs.setdefault("authorizer", jwt_auth)
        app.route(path, methods=list(methods), **kwargs)(view)
        # A role check that some valid token can fail is a documented 403.
        forbidden = (403,) if roles and not set(roles) >= auth.ROLES else ()
        meta = openapi.Operation(
            summary=summary,
            body=body,
            response=response,
            status=(status,) if isinstance(status, int) else status,
            query=query or {},
            headers=headers or {},
            response_headers=response_headers or {},
            failures=tuple(sorted({*failures, *forbidden})),
            roles=roles,
        )
        for method in methods:
            ROUTE_DOCS[(path, method)] = meta
        return fn

    return decorate


@route(
    "/health",
    summary="Liveness",
    response={
        "type": "object",
        "properties": {"status": {"const": "ok"}},
        "required": ["status"],
    },
)
def health() -> dict[str, str]:
    return {"status": "ok"}


@route("/openapi.json", summary="This document", response={"type": "object"})
def openapi_document() -> dict[str, Any]:
    return openapi.document(app, ROUTE_DOCS)


# --- helpers ---------------------------------------------------------------


def principal() -> auth.Principal:
    return auth.require(current_principal())


# The largest valid body (an order of 50 lines with a full address) is a few
# KB; anything far beyond is refused before it is parsed.
MAX_BODY_BYTES = 64 * 1024


def json_body() -> Any:
    request = app.current_request
    if request is None:
        return None
    if len(request.raw_body or b"") > MAX_BODY_BYTES:
        raise errors.PayloadTooLarge(f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        return request.json_body
    except Exception as exc:  # Chalice raises BadRequestError for bad JSON
        raise errors.InvalidInput("the body is not valid JSON") from exc


def query(name: str) -> str | None:
    params: Any = (app.current_request.query_params if app.current_request else None) or {}
    value = params.get(name)
    return None if value is None else str(value)


def page_limit(default: int = 20) -> int:
    raw = query("limit")
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 100:
        raise errors.InvalidInput(
            "limit must be an integer from 1 to 100", [{"loc": ["query", "limit"], "msg": "1-100"}]
        )
    return int(raw)


def cursor_secret() -> bytes:
    import hashlib

    return hashlib.sha256(b"cursor\0" + auth.secret(settings).encode()).digest()


def page_start(scope: str) -> dict[str, Any] | None:
    """The listing's start key from ``?cursor=``, or a 400."""
    raw = query("cursor")
    # Cursors are ASCII (base64url): anything else is refused here, since
    # hmac.compare_digest raises TypeError on non-ASCII text (a 500).
    if raw is not None and not raw.isascii():
        raise errors.InvalidInput(
            "cursor is not valid for this listing",
            [{"loc": ["query", "cursor"], "msg": "not a cursor"}],
        )
    return cursor.decode(raw, cursor_secret(), scope)


# --- catalog -----------------------------------------------------------------


@route("/products", summary="List products", response=openapi.page(PRODUCT), query=openapi.PAGING)
def list_products() -> dict[str, Any]:
    start = page_start("products")
    page = container.inventory().list_products(page_limit(), start)
    return {
        "items": [p.model_dump() for p in page.products],
        "nextCursor": cursor.encode(page.last_key, cursor_secret(), "products"),
    }


@route("/products/{sku}", summary="Get a product", response=PRODUCT, failures=(404,))
def get_product(sku: str) -> dict[str, Any]:
    return container.inventory().get(sku).model_dump()


@route(
    "/products/{sku}",
    methods=("PUT",),
    roles=("admin",),
    summary="Create or replace a product",
    body=PRODUCT_INPUT,
    response=PRODUCT,
)
def put_product(sku: str) -> dict[str, Any]:
    return container.inventory().put_product(sku, json_body()).model_dump()


@route(
    "/products/{sku}/restock",
    methods=("POST",),
    roles=("admin",),
    summary="Add stock",
    body=RESTOCK,
    response=PRODUCT,
    failures=(404,),
)
def restock(sku: str) -> dict[str, Any]:
    return container.inventory().restock(sku, json_body()).model_dump()


# --- orders ------------------------------------------------------------------


@route(
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
    headers = app.current_request.headers if app.current_request else {}
    order, created = container.orders().place(
        principal().sub, json_body(), headers.get("idempotency-key")
    )
    return Response(
        body=order.public(),
        status_code=201 if created else 200,
        headers={"Location": f"/orders/{order.orderId}"},
    )


@route(
    "/orders",
    roles=("customer", "admin"),
    summary="The caller's orders, newest first (admins: any customer's)",
    response=openapi.page(openapi.ORDER),
    query={**openapi.PAGING, "customerId": {"type": "string"}},
    failures=(403,),
)
def list_orders() -> dict[str, Any]:
    who = principal()
    customer = query("customerId") or who.sub
    scope = f"orders:{customer}"
    start = page_start(scope)
    page = container.orders().list_orders(who, customer, page_limit(), start)
    return {
        "items": [o.public() for o in page.orders],
        "nextCursor": cursor.encode(page.last_key, cursor_secret(), scope),
    }


@route(
    "/orders/{orderId}",
    roles=("customer", "admin"),
    summary="Get an order",
    response=openapi.ORDER,
    failures=(404,),
)
def get_order(orderId: str) -> dict[str, Any]:  # noqa: N803 - Chalice passes path names
    return container.orders().get(orderId, principal()).public()


@route(
    "/orders/{orderId}/events",
    roles=("customer", "admin"),
    summary="An order's event history, in version order",
    response=openapi.items(openapi.ORDER_EVENT),
    failures=(404,),
)
def order_events(orderId: str) -> dict[str, Any]:  # noqa: N803
    events = container.orders().events(orderId, principal())
    return {"items": [e.model_dump(mode="json") for e in events]}


@route(
    "/orders/{orderId}/cancel",
    methods=("POST",),
    roles=("customer", "admin"),
    summary="Cancel an order that has not shipped",
    response=openapi.ORDER,
    status=202,
    failures=(404, 409),
)
def cancel_order(orderId: str) -> Response:  # noqa: N803
    order = container.orders().cancel(orderId, principal())
    return Response(body=order.public(), status_code=202)


# --- images ------------------------------------------------------------------


@route(
    "/products/{sku}/images",
    methods=("POST",),
    roles=("admin",),
    summary="An upload slot: a presigned S3 POST for one image",
    response=openapi.UPLOAD_SLOT,
    status=201,
    failures=(404,),
)
def create_image_upload(sku: str) -> Response:
    return Response(body=container.images().create_upload(sku), status_code=201)


@route(
    "/products/{sku}/images",
    summary="A product's READY images",
    response=openapi.items(openapi.IMAGE),
)
def list_images(sku: str) -> dict[str, Any]:
    service = container.images()
    return {"items": [service.view(i, admin=False) for i in service.list_ready(sku)]}


@route(
    "/images/{imageId}",
    roles=("admin",),
    summary="An image with full metadata, any status",
    response=openapi.IMAGE,
    failures=(404,),
)
def get_image(imageId: str) -> dict[str, Any]:  # noqa: N803
    service = container.images()
    return service.view(service.get(imageId), admin=True)


@app.on_s3_event(
    bucket=settings.images_bucket_name, prefix="uploads/", events=["s3:ObjectCreated:*"]
)
def image_uploaded(event: Any) -> None:
    raw = event.to_dict()["Records"][0]["s3"]["object"]
    outcome = container.images().uploaded(event.key, raw.get("sequencer", "0"))
    app.log.info("upload %s: %s", event.key, outcome)


@app.on_s3_event(
    bucket=settings.images_bucket_name, prefix="uploads/", events=["s3:ObjectRemoved:*"]
)
def image_removed(event: Any) -> None:
    raw = event.to_dict()["Records"][0]["s3"]["object"]
    outcome = container.images().removed(event.key, raw.get("sequencer", "0"))
    app.log.info("removal %s: %s", event.key, outcome)


# --- the saga ----------------------------------------------------------------


@app.on_dynamodb_record(
    stream_arn=settings.orders_stream_arn, batch_size=100, starting_position="TRIM_HORIZON"
)
def relay_order_events(event: Any) -> None:
    """The outbox relay: every appended order event goes to order-events."""
    from chalicelib.events import order_event_messages

    messages = order_event_messages(event.to_dict()["Records"])
    if messages:
        container.publisher().publish(settings.order_events_topic_arn, messages)


@app.on_sqs_message(queue=settings.inventory_queue_name, batch_size=10)
def inventory_step(event: Any) -> dict[str, Any]:
    from chalicelib import saga

    return saga.sqs_batch(
        event, lambda m: saga.reserve_or_release(m, container.orders(), container.inventory())
    )


@app.on_sqs_message(queue=settings.payments_queue_name, batch_size=10)
def payments_step(event: Any) -> dict[str, Any]:
    from chalicelib import saga

    return saga.sqs_batch(
        event, lambda m: saga.take_payment(m, container.orders(), container.payments())
    )


@app.on_sqs_message(queue=settings.shipping_queue_name, batch_size=10)
def shipping_step(event: Any) -> dict[str, Any]:
    from chalicelib import saga

    return saga.sqs_batch(event, lambda m: saga.ship(m, container.orders(), container.carrier()))


@app.on_sqs_message(queue=settings.notify_queue_name, batch_size=10)
def notify_step(event: Any) -> dict[str, Any]:
    from chalicelib import saga

    return saga.notify_batch(event, container.notifier())


@app.on_dynamodb_record(
    stream_arn=settings.products_stream_arn, batch_size=100, starting_position="TRIM_HORIZON"
)
def low_stock_alerts(event: Any) -> None:
    from chalicelib.events import image

    changes = [
        (image(r["dynamodb"].get("OldImage")), image(r["dynamodb"].get("NewImage")))
        for r in event.to_dict()["Records"]
    ]
    container.inventory().alert_crossings(changes)
