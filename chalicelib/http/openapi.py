"""The OpenAPI 3.1 document of the REST API, generated, not written by hand.

Paths, methods, path parameters and security come from Chalice's own route
table (``app.routes``); bodies and responses from the pydantic models the
routes validate with and return, plus what each route declares in ``app.py``
(``route(..., body=, response=, status=, query=, failures=)``). The document
is built on the first request and cached: nothing here runs at import time,
and this module imports only pydantic and the models (no boto3, no Pillow).
"""

from __future__ import annotations

import copy
import importlib
import threading
import weakref
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pydantic import BaseModel

# Importing this module must stay cheap: app.py declares its routes' shapes at
# import time, and every function imports app.py. Models are named by Ref and
# imported only when the document is built (GET /openapi.json).

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1.0.0"
REF = "#/components/schemas/{model}"
SECURITY_SCHEME = "bearerAuth"
JSON = "application/json"

Mode = Literal["validation", "serialization"]


@dataclass(frozen=True)
class Ref:
    """A pydantic model named by ``module:Name``, imported when first needed."""

    path: str

    @property
    def __name__(self) -> str:
        return self.path.rsplit(":", 1)[1]

    def resolve(self) -> type[BaseModel]:
        module, name = self.path.split(":", 1)
        model: type[BaseModel] = getattr(importlib.import_module(module), name)
        return model


def ref(path: str) -> Ref:
    return Ref(path)


# --- how a route declares its shapes ---------------------------------------------


@dataclass(frozen=True)
class View:
    """A model as the API shows it: fields left out, fields added.

    Every remaining property is required (a model dump always has them all)
    unless named in ``optional``.
    """

    model: type[BaseModel] | Ref
    exclude: tuple[str, ...] = ()
    add: Mapping[str, Any] = field(default_factory=dict)
    optional: tuple[str, ...] = ()
    name: str | None = None

    @property
    def title(self) -> str:
        return self.name or self.model.__name__


@dataclass(frozen=True)
class Listing:
    """``{"items": [item]}``, plus ``nextCursor`` when paged."""

    item: Schema
    paged: bool

    @property
    def title(self) -> str:
        return _title(self.item) + ("Page" if self.paged else "List")


Schema = type["BaseModel"] | Ref | View | Listing | dict[str, Any]


def page(item: Schema) -> Listing:
    return Listing(item, paged=True)


def items(item: Schema) -> Listing:
    return Listing(item, paged=False)


def _title(schema: Schema) -> str:
    if isinstance(schema, View | Listing):
        return schema.title
    if isinstance(schema, type | Ref):
        return schema.__name__
    return str(schema.get("title", "Object"))


@dataclass(frozen=True)
class Operation:
    """What ``app.py`` says about one route beyond Chalice's route table."""

    summary: str | None = None
    description: str | None = None
    body: type[BaseModel] | Ref | None = None
    response: Schema | None = None
    # Success statuses, all with ``response``; the first is the usual one.
    status: tuple[int, ...] = (200,)
    query: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    headers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    response_headers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # Error statuses beyond those implied by the route: 400 (a body, a query
    # or a constrained path parameter) and 401 (an authorizer).
    failures: tuple[int, ...] = ()
    roles: tuple[str, ...] = ()
    # The success responses' media types (a page and its files are not JSON).
    media_types: tuple[str, ...] = (JSON,)


# Views of models the API returns in a different shape than it stores.
ORDER = Ref("chalicelib.orders.views:Order")
ORDER_EVENT = View(Ref("chalicelib.orders.model:OrderEvent"))
UPLOAD_SLOT = Ref("chalicelib.http.wire:UploadSlot")
IMPORT_SLOT = Ref("chalicelib.http.wire:ImportSlot")
IMAGE = Ref("chalicelib.images.views:Image")

LIMIT = {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}
CURSOR = {"type": "string", "maxLength": 2048, "description": "nextCursor of the previous page"}
PAGING: Mapping[str, Mapping[str, Any]] = {"limit": LIMIT, "cursor": CURSOR}
# In a route's ``query`` schema: the parameter is required (not JSON Schema's keyword).
REQUIRED = "x-required"
DATE = {"type": "string", "format": "date", "description": "a UTC day, YYYY-MM-DD", REQUIRED: True}


def path_parameter_schema(name: str) -> dict[str, Any]:
    """A path parameter's schema by its name; any other is a plain string."""
    if name == "sku":
        from chalicelib.platform.types import SKU_PATTERN  # pydantic: not at cold start

        return {"type": "string", "pattern": SKU_PATTERN}
    if name == "importId":
        return {"type": "string", "pattern": "^[0-9a-f]{32}$"}
    return {"type": "string"}


STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "The request is not valid",
    401: "No valid bearer token",
    403: "The caller's role may not do this",
    404: "Not found (or not visible to the caller)",
    409: "Conflicts with the current state",
    413: "The body is too large",
    503: "A dependency is not ready: try again later",
}


# --- building the document -----------------------------------------------------


class _Components:
    def __init__(self) -> None:
        self.schemas: dict[str, dict[str, Any]] = {}

    def _add(self, name: str, schema: dict[str, Any]) -> dict[str, str]:
        known = self.schemas.setdefault(name, schema)
        if known != schema:
            raise ValueError(f"two different schemas are both named {name!r}")
        return {"$ref": REF.format(model=name)}

    def _model(self, model: type[BaseModel] | Ref, mode: Mode) -> dict[str, Any]:
        if isinstance(model, Ref):
            model = model.resolve()
        schema = model.model_json_schema(ref_template=REF, mode=mode)
        for name, definition in schema.pop("$defs", {}).items():
            self._add(name, definition)
        return schema

    def ref(self, schema: Schema, mode: Mode = "serialization") -> dict[str, Any]:
        if isinstance(schema, dict):
            return copy.deepcopy(schema)
        if isinstance(schema, type | Ref):
            return self._add(schema.__name__, self._model(schema, mode))
        if isinstance(schema, View):
            body = self._model(schema.model, mode)
            props = {k: v for k, v in body["properties"].items() if k not in schema.exclude}
            props.update({k: self.ref(v, mode) for k, v in schema.add.items()})
            body["properties"] = props
            body["required"] = [k for k in props if k not in schema.optional]
            body["title"] = schema.title
            return self._add(schema.title, body)
        properties: dict[str, Any] = {"items": {"type": "array", "items": self.ref(schema.item)}}
        if schema.paged:
            properties["nextCursor"] = {
                "anyOf": [{"type": "string"}, {"type": "null"}],
                "description": "pass as ?cursor= for the next page; null on the last",
            }
        listing = {
            "type": "object",
            "title": schema.title,
            "properties": properties,
            "required": list(properties),
        }
        return self._add(schema.title, listing)


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {JSON: {"schema": schema}}


def _error(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": _json(schema)}


def _path_parameters(entry: Any) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": path_parameter_schema(name),
        }
        for name in entry.view_args
    ]


def _operation(
    entry: Any, meta: Operation, components: _Components, operation_id: str
) -> dict[str, Any]:
    doc = getattr(entry.view_function, "__doc__", None) or ""
    summary = meta.summary or (doc.strip().splitlines() or [entry.view_name])[0]
    op: dict[str, Any] = {"operationId": operation_id, "summary": summary}
    description = meta.description or ""
    if meta.roles:
        description = (description + "\n\n" if description else "") + (
            "Roles: " + ", ".join(meta.roles)
        )
    if description:
        op["description"] = description

    parameters = _path_parameters(entry)
    parameters += [
        {
            "name": name,
            "in": "query",
            "required": bool(schema.get(REQUIRED)),
            "schema": {k: v for k, v in schema.items() if k != REQUIRED},
        }
        for name, schema in meta.query.items()
    ]
    parameters += [
        {"name": name, "in": "header", "required": False, "schema": dict(schema)}
        for name, schema in meta.headers.items()
    ]
    parameters.append(dict(CORRELATION_PARAMETER))  # every route (chalicelib.http.api.correlate)
    if parameters:
        op["parameters"] = parameters
    if meta.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": _json(components.ref(meta.body, "validation")),
        }

    if entry.authorizer is not None:
        op["security"] = [{SECURITY_SCHEME: []}]
    elif 401 in meta.failures:
        # An open route that reads a token when one is sent: optional.
        op["security"] = [{}, {SECURITY_SCHEME: []}]
    op["responses"] = _responses(entry, meta, components)
    return op


CORRELATION_HEADER = "X-Correlation-Id"
CORRELATION_PARAMETER: Mapping[str, Any] = {
    "name": CORRELATION_HEADER,
    "in": "header",
    "required": False,
    "description": "the business flow this request belongs to: printable ASCII, at most "
    "128 characters; anything else (or none) gets a new id. Answered in the response's "
    "header and carried by every event, message and log record of the flow.",
    "schema": {"type": "string"},
}


def _responses(entry: Any, meta: Operation, components: _Components) -> dict[str, Any]:
    """Success statuses with the response shape, then every error status the
    route can answer (implied by its body, parameters and authorizer, or named)."""
    responses: dict[str, Any] = {}
    body = components.ref(meta.response) if meta.response is not None else {}
    for status in meta.status:
        response: dict[str, Any] = {"description": STATUS_TEXT.get(status, str(status))}
        if status != 204:  # No Content: no body to describe
            response["content"] = {t: {"schema": copy.deepcopy(body)} for t in meta.media_types}
        response["headers"] = {
            CORRELATION_HEADER: {
                "required": True,
                "schema": {"type": "string", "maxLength": 128},
                "description": "the request's correlation id (the caller's, or a new one)",
            },
            **{
                name: {"required": True, "schema": dict(schema)}
                for name, schema in meta.response_headers.items()
            },
        }
        responses[str(status)] = response

    error = components.ref(_wire("Error"))
    failures = set(meta.failures)
    constrained_path = any("pattern" in p["schema"] for p in _path_parameters(entry))
    if meta.body is not None or meta.query or meta.headers or constrained_path:
        failures.add(400)
    if meta.body is not None:
        failures.add(413)  # chalicelib.http.request.MAX_BODY_BYTES
    if entry.authorizer is not None:
        failures.add(401)
    for status in sorted(failures):
        # The authorizer's refusal is API Gateway's body, not the app's.
        schema = (
            {"anyOf": [error, components.ref(_wire("GatewayError"))]} if status == 401 else error
        )
        responses[str(status)] = _error(STATUS_TEXT.get(status, str(status)), schema)
    return dict(sorted(responses.items()))


def _wire(name: str) -> Ref:
    return Ref(f"chalicelib.http.wire:{name}")


def build(app: Any, routes_meta: Mapping[tuple[str, str], Operation]) -> dict[str, Any]:
    """The document, built afresh (``document`` caches it)."""
    components = _Components()
    components.ref(_wire("Error"))
    # One view function may serve several methods; operation ids must be unique.
    views = Counter(e.view_name for methods in app.routes.values() for e in methods.values())
    paths: dict[str, Any] = {}
    for path in sorted(app.routes):
        methods = app.routes[path]
        item: dict[str, Any] = {}
        for method in sorted(methods):
            entry = methods[method]
            operation_id = entry.view_name
            if views[operation_id] > 1:
                operation_id = f"{operation_id}_{method.lower()}"
            meta = routes_meta.get((path, method), Operation())
            item[method.lower()] = _operation(entry, meta, components, operation_id)
        paths[path] = item
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": app.app_name,
            "version": API_VERSION,
            "description": (
                "JSON in and out, camelCase fields, money in integer cents. "
                'Errors are {"Code", "Message", "Errors"?}.'
            ),
        },
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.schemas.items())),
            "securitySchemes": {
                SECURITY_SCHEME: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


_lock = threading.Lock()
_cache: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def document(app: Any, routes_meta: Mapping[tuple[str, str], Operation]) -> dict[str, Any]:
    """The document of ``app``, built on first use and cached. Do not mutate it."""
    with _lock:
        doc = _cache.get(app)
        if doc is None:
            doc = _cache[app] = build(app, routes_meta)
        return doc
