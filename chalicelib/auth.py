"""JWT verification and roles (PyJWT, HS256).

The Chalice authorizer calls ``verify``; routes call ``require``. Local and
test stages read the secret from the environment; deployed stages read the SSM
SecureString named by ``JWT_SECRET_PARAMETER`` once per container.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import jwt

from chalicelib import errors
from chalicelib.settings import Settings

ROLES = frozenset({"customer", "admin"})
ALGORITHM = "HS256"
# A bearer header longer than this is not a token we issued; refuse it before
# spending any work on it.
MAX_TOKEN_BYTES = 4096
MIN_SECRET_BYTES = 32


@dataclass(frozen=True)
class Principal:
    sub: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class InvalidToken(Exception):
    """The token cannot be trusted; the message says why (for logs only)."""


def bearer(header: str | None) -> str:
    if not header:
        raise InvalidToken("missing Authorization header")
    if len(header) > MAX_TOKEN_BYTES:
        raise InvalidToken("Authorization header too large")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("Authorization header is not 'Bearer <token>'")
    return token.strip()


def verify(token: str, secret: str, leeway: int = 30) -> Principal:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["exp", "sub"]},
            leeway=leeway,
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    sub, role = claims.get("sub"), claims.get("role")
    if not isinstance(sub, str) or not sub or len(sub) > 128:
        raise InvalidToken("claim 'sub' must be a non-empty string")
    if not isinstance(role, str) or role not in ROLES:
        raise InvalidToken(f"unknown role {role!r}")
    return Principal(sub=sub, role=role)


def issue(sub: str, role: str, secret: str, ttl_seconds: int = 3600) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {sorted(ROLES)}")
    now = int(time.time())
    return jwt.encode(
        {"sub": sub, "role": role, "iat": now, "nbf": now, "exp": now + ttl_seconds},
        secret,
        algorithm=ALGORITHM,
    )


def require(principal: Principal | None, *roles: str) -> Principal:
    if principal is None:
        raise errors.Unauthorized("a valid bearer token is required")
    if roles and principal.role not in roles:
        raise errors.Forbidden(f"this action needs the role {' or '.join(roles)}")
    return principal


_secret_lock = threading.Lock()
_secret_cache: dict[str, str] = {}


def secret(settings: Settings) -> str:
    if settings.is_local:
        value = settings.jwt_secret
    else:
        with _secret_lock:
            if settings.jwt_secret_parameter not in _secret_cache:
                from chalicelib import aws

                with aws.translate():
                    response = aws.client("ssm").get_parameter(
                        Name=settings.jwt_secret_parameter, WithDecryption=True
                    )
                _secret_cache[settings.jwt_secret_parameter] = response["Parameter"]["Value"]
            value = _secret_cache[settings.jwt_secret_parameter]
    if len(value.encode()) < MIN_SECRET_BYTES:
        raise RuntimeError(f"the JWT secret must be at least {MIN_SECRET_BYTES} bytes")
    return value
