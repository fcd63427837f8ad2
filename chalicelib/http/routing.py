"""Routes on a context's blueprint: role checks, the one domain-error -> HTTP
mapping, and what the OpenAPI document says about each route.

Every context's ``api.py`` makes a ``Router`` over its own ``Blueprint``; the
route table and ``ROUTE_DOCS`` are what ``GET /openapi.json`` is built from.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from chalice.app import Blueprint, Response

from chalicelib.http import openapi
from chalicelib.http.authorizer import current_principal, jwt_auth
from chalicelib.identity import auth
from chalicelib.platform import errors

# (path, method) -> what the OpenAPI document says beyond Chalice's route table
ROUTE_DOCS: dict[tuple[str, str], openapi.Operation] = {}


def error_response(exc: errors.DomainError) -> Response:
    """Chalice's error body, ``{"Code", "Message", "Errors"?}``."""
    body: dict[str, Any] = {"Code": exc.code, "Message": exc.message}
    if exc.errors:
        body["Errors"] = exc.errors
    return Response(body=body, status_code=exc.status)


class Router:
    """``blueprint.route`` plus role checks and error mapping."""

    def __init__(self, blueprint: Blueprint) -> None:
        self.blueprint = blueprint

    def route(
        self,
        path: str,
        methods: tuple[str, ...] = ("GET",),
        roles: tuple[str, ...] = (),
        *,
        summary: str | None = None,
        description: str | None = None,
        body: type[Any] | openapi.Ref | None = None,
        response: openapi.Schema | None = None,
        status: int | tuple[int, ...] = 200,
        query: Mapping[str, Mapping[str, Any]] | None = None,
        headers: Mapping[str, Mapping[str, Any]] | None = None,
        response_headers: Mapping[str, Mapping[str, Any]] | None = None,
        failures: tuple[int, ...] = (),
        **kwargs: Any,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """``roles`` empty means the route is open. Otherwise the JWT authorizer
        runs first (401 without a valid token) and the role is checked here
        (403). The keyword-only arguments document the route: the pydantic
        model of the body, the response shape and success status(es), query
        and header parameters, and error statuses beyond 400/401/403."""
        meta = openapi.Operation(
            summary=summary,
            description=description,
            body=body,
            response=response,
            status=(status,) if isinstance(status, int) else status,
            query=query or {},
            headers=headers or {},
            response_headers=response_headers or {},
            # A role check that some valid token can fail is a documented 403.
            failures=tuple(
                sorted({*failures, *((403,) if roles and not set(roles) >= auth.ROLES else ())})
            ),
            roles=roles,
        )

        def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
            view = self._view(fn, roles)
            if roles:
                kwargs.setdefault("authorizer", jwt_auth)
            self.blueprint.route(path, methods=list(methods), **kwargs)(view)
            for method in methods:
                ROUTE_DOCS[(path, method)] = meta
            return fn

        return decorate

    def _view(self, fn: Callable[..., Any], roles: tuple[str, ...]) -> Callable[..., Any]:
        blueprint = self.blueprint

        @functools.wraps(fn)
        def view(**params: Any) -> Any:
            try:
                if roles:
                    auth.require(current_principal(blueprint), *roles)
                return fn(**params)
            except errors.DomainError as exc:
                if exc.status >= 500:
                    blueprint.log.exception("request failed: %s", exc)
                return error_response(exc)

        return view
