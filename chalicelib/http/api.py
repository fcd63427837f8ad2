"""The edge's own routes (liveness, the OpenAPI document of every route) and
the middleware every route runs in: the request's correlation id."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib import bootstrap
from chalicelib.http import openapi
from chalicelib.http.routing import ROUTE_DOCS, Router

bp = Blueprint(__name__)
api = Router(bp)


@api.route(
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


@api.route("/openapi.json", summary="This document", response={"type": "object"})
def openapi_document() -> dict[str, Any]:
    return openapi.document(bp.current_app, ROUTE_DOCS)


@bp.middleware("http")
def correlate(event: Any, get_response: Any) -> Any:
    """Every request runs under a correlation id: the caller's ``X-Correlation-Id``
    when it is valid (printable ASCII, at most 128 characters), else a new one;
    the response carries it back."""
    from chalicelib.platform import correlation

    with correlation.use((event.headers or {}).get("x-correlation-id")) as cid:
        response = get_response(event)
    response.headers[correlation.HEADER] = cid
    return response


_cold = {"start": True}


@bp.middleware("all")
def publish_metrics(event: Any, get_response: Any) -> Any:
    """Every invocation, whatever its event: it logs as its function, the
    first one of the process writes the ColdStart metric, and what the
    invocation wrote is printed as EMF when it ends (raised or not)."""
    from chalicelib.platform import logs

    # Lambda's context: on the event, or (a request) on the app.
    context = getattr(event, "context", None)
    if not hasattr(context, "function_name"):
        context = bp.lambda_context
    with logs.in_function(getattr(context, "function_name", None)):
        metrics = bootstrap.services().metrics
        if _cold["start"]:
            _cold["start"] = False
            metrics.cold_start(logs.function_name())
        try:
            return get_response(event)
        finally:
            metrics.flush()
