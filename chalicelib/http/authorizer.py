"""The JWT authorizer, defined once for every context's routes, and the
caller it lets through (API Gateway passes its context to the route)."""

from __future__ import annotations

from typing import Any

from chalice.app import AuthRequest, AuthResponse, Blueprint

from chalicelib import bootstrap
from chalicelib.identity import auth

# Registered by app.py like the contexts' blueprints: the authorizer is a
# function of its own (``jwt_auth``) on AWS.
edge = Blueprint(__name__)


@edge.authorizer(ttl_seconds=60)
def jwt_auth(auth_request: AuthRequest) -> AuthResponse:
    try:
        principal = auth.authenticate(auth_request.token, bootstrap.settings())
    except auth.InvalidToken as exc:
        edge.log.info("token rejected: %s", exc)
        # API Gateway answers 401 only for this exact message (any other
        # exception is a 500); the local stack emulates the same contract.
        raise Exception("Unauthorized") from None  # noqa: TRY002
    return AuthResponse(routes=["*"], principal_id=principal.sub, context={"role": principal.role})


def current_principal(blueprint: Any) -> auth.Principal | None:
    """The caller the authorizer let through, or None on an open route."""
    request = blueprint.current_request
    context = (request.context or {}).get("authorizer") or {} if request else {}
    sub, role = context.get("principalId"), context.get("role")
    if not sub or role not in auth.ROLES:
        return None
    return auth.Principal(sub=str(sub), role=str(role))
