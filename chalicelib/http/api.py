"""The edge's own routes: liveness and the OpenAPI document of every route."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

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
