"""eventshop: the Chalice app. Routes and event handlers stay thin: parse, one
service call, return. Domain errors become HTTP responses in ``route`` below."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from chalice import AuthResponse, Chalice, Response
from chalice.app import AuthRequest

from chalicelib import auth, errors
from chalicelib.settings import get_settings

settings = get_settings()
app = Chalice(app_name="eventshop")
# Chalice leaves app.log at WARNING unless debug is on; INFO is what operators
# read in CloudWatch.
app.log.setLevel(getattr(logging, settings.log_level.upper(), logging.INFO))


@app.authorizer(ttl_seconds=60)
def jwt_auth(auth_request: AuthRequest) -> AuthResponse:
    try:
        principal = auth.verify(
            auth.bearer(auth_request.token),
            auth.secret(settings),
            leeway=settings.jwt_leeway_seconds,
        )
    except auth.InvalidToken as exc:
        app.log.info("token rejected: %s", exc)
        # API Gateway answers 401 only for this exact message (any other
        # exception is a 500); the local stack emulates the same contract.
        raise Exception("Unauthorized") from None  # noqa: TRY002
    return AuthResponse(
        routes=["*"], principal_id=principal.sub, context={"role": principal.role}
    )


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


def route(
    path: str,
    methods: tuple[str, ...] = ("GET",),
    roles: tuple[str, ...] = (),
    **kwargs: Any,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``app.route`` plus role checks and the domain-error -> HTTP mapping.

    ``roles`` empty means the route is open. Otherwise the JWT authorizer runs
    first (401 without a valid token) and the role is checked here (403).
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
        return fn

    return decorate


@route("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}
