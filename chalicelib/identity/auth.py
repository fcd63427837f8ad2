"""JWT verification and roles.

Two kinds of bearer token are accepted:

* HS256 tokens the app issues itself (``issue``), signed with the stage secret.
  This is the default and the only kind unless a JWKS is configured. Local and
  test stages read the secret from the environment; deployed stages read the
  SSM SecureString named by ``JWT_SECRET_PARAMETER`` once per container
  (``platform.secrets``).
* RS256 tokens from an identity provider (a Cognito user pool), when
  ``JWT_JWKS_URL`` is set: the key is picked by the token's ``kid`` from the
  JWKS (fetched once per container), ``iss`` must equal ``JWT_ISSUER`` and, if
  ``JWT_AUDIENCE`` is set, ``aud`` (ID tokens) or ``client_id`` (access tokens)
  must equal it. Cognito claims map to roles: membership of the ``admin`` group
  in ``cognito:groups`` makes an admin, anyone else is a customer. Groups are
  set by the pool's administrators; custom attributes such as ``custom:role``
  can be writable by the users themselves, so they never grant a role.

The algorithm a token is verified with is decided by configuration, never by
the token: its ``alg`` header only selects which of the configured verifiers
runs, and each verifier allows exactly one algorithm with its own key. So
``alg: none``, HS256 tokens "signed" with the RSA public key, and any other
algorithm are rejected.

The Chalice authorizer calls ``authenticate`` (or ``verify``); routes call
``require``. PyJWT (and, for RS256, cryptography) is imported only where a
token is signed or verified, so functions that never see a token do not load
it at cold start.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from chalicelib.platform import errors
from chalicelib.platform.settings import Settings

ROLES = frozenset({"customer", "admin"})
ALGORITHM = "HS256"
JWKS_ALGORITHM = "RS256"
# A bearer header longer than this is not a token we accept; refuse it before
# spending any work on it. (Cognito tokens are 1-2 KB.)
MAX_TOKEN_BYTES = 4096
MIN_SECRET_BYTES = 32
MAX_SUB_CHARS = 128
# Clock skew tolerated on exp/nbf/iat. More than this is a misconfiguration
# that would quietly extend every token's life, so it is refused outright.
MAX_LEEWAY_SECONDS = 120
# The JWKS is cached for the container's life; a token naming an unknown kid
# (a rotated key) forces at most one re-fetch per cooldown.
JWKS_CACHE_SECONDS = 24 * 3600
JWKS_REFRESH_COOLDOWN_SECONDS = 30.0
JWKS_TIMEOUT_SECONDS = 5.0
COGNITO_ADMIN_GROUP = "admin"
COGNITO_TOKEN_USES = frozenset({"id", "access"})


@dataclass(frozen=True)
class Principal:
    sub: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class Jwks:
    """Where RS256 keys come from and what their tokens must claim."""

    url: str
    issuer: str
    audience: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> Jwks | None:
        if not settings.jwt_jwks_url:
            return None
        return cls(settings.jwt_jwks_url, settings.jwt_issuer, settings.jwt_audience)


class InvalidToken(Exception):
    """The token cannot be trusted; the message says why (for logs only)."""


class JwksUnavailable(RuntimeError):
    """The JWKS endpoint could not be read: an outage, not a bad token."""


def bearer(header: str | None) -> str:
    if not header:
        raise InvalidToken("missing Authorization header")
    if len(header) > MAX_TOKEN_BYTES:
        raise InvalidToken("Authorization header too large")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("Authorization header is not 'Bearer <token>'")
    return token.strip()


def authenticate(header: str | None, settings: Settings) -> Principal:
    """The authorizer's whole job: header -> verified principal."""
    return verify(
        bearer(header),
        secret(settings),
        leeway=settings.jwt_leeway_seconds,
        jwks=Jwks.from_settings(settings),
    )


def verify(token: str, secret: str, leeway: int = 30, *, jwks: Jwks | None = None) -> Principal:
    if not 0 <= leeway <= MAX_LEEWAY_SECONDS:
        raise ValueError(f"the JWT leeway must be 0-{MAX_LEEWAY_SECONDS} seconds, not {leeway}")
    if len(token) > MAX_TOKEN_BYTES:
        raise InvalidToken("token too large")

    import jwt

    try:
        header = jwt.get_unverified_header(token)
        if jwks is not None and header.get("alg") == JWKS_ALGORITHM:
            return _verify_jwks(token, header, jwks, leeway)
        # Anything else is held to HS256 with the stage secret; PyJWT refuses
        # every other alg (none, HS512, RS256 without a JWKS, ...).
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["exp", "sub"]},
            leeway=leeway,
        )
    except jwt.PyJWKClientConnectionError as exc:
        raise JwksUnavailable(str(exc)) from exc
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    role = claims.get("role")
    if not isinstance(role, str) or role not in ROLES:
        raise InvalidToken(f"unknown role {role!r}")
    return Principal(sub=_sub(claims), role=role)


def _sub(claims: dict[str, Any]) -> str:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > MAX_SUB_CHARS:
        raise InvalidToken("claim 'sub' must be a non-empty string")
    return sub


_jwks_lock = threading.Lock()
_jwks_clients: dict[str, Any] = {}


def _jwks_client(url: str) -> Any:
    """One PyJWKClient per JWKS URL per container, so its caches persist."""
    with _jwks_lock:
        client = _jwks_clients.get(url)
        if client is None:
            from jwt import PyJWKClient

            client = PyJWKClient(
                url,
                cache_keys=True,
                cache_jwk_set=True,
                lifespan=JWKS_CACHE_SECONDS,
                timeout=JWKS_TIMEOUT_SECONDS,
                cooldown_duration=JWKS_REFRESH_COOLDOWN_SECONDS,
            )
            _jwks_clients[url] = client
        return client


def _verify_jwks(token: str, header: dict[str, Any], jwks: Jwks, leeway: int) -> Principal:
    import jwt

    if not jwks.issuer:
        # Without an issuer check any token the key set's owner signs for any
        # other purpose would do; refuse to run half-configured.
        raise RuntimeError("JWT_ISSUER must be set together with JWT_JWKS_URL")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("RS256 token without a 'kid' header")
    key = _jwks_client(jwks.url).get_signing_key(kid)
    if key.algorithm_name != JWKS_ALGORITHM:
        raise InvalidToken(f"key {kid!r} is not an {JWKS_ALGORITHM} key")
    claims: dict[str, Any] = jwt.decode(
        token,
        key.key,
        algorithms=[JWKS_ALGORITHM],
        issuer=jwks.issuer,
        options={"require": ["exp", "iat", "sub", "iss"], "verify_aud": False},
        leeway=leeway,
    )
    token_use = claims.get("token_use")
    if token_use is not None and token_use not in COGNITO_TOKEN_USES:
        raise InvalidToken(f"token_use {token_use!r} is not accepted")
    if jwks.audience:
        _check_audience(claims, jwks.audience)
    return Principal(sub=_sub(claims), role=_cognito_role(claims))


def _check_audience(claims: dict[str, Any], audience: str) -> None:
    # Cognito ID tokens carry the app client in 'aud'; access tokens carry no
    # 'aud' but 'client_id'.
    if "aud" in claims:
        aud = claims["aud"]
        ok = aud == audience if isinstance(aud, str) else isinstance(aud, list) and audience in aud
    else:
        ok = claims.get("client_id") == audience
    if not ok:
        raise InvalidToken("token is for another audience")


def _cognito_role(claims: dict[str, Any]) -> str:
    groups = claims.get("cognito:groups", [])
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise InvalidToken("claim 'cognito:groups' must be a list of strings")
    return "admin" if COGNITO_ADMIN_GROUP in groups else "customer"


def issue(sub: str, role: str, secret: str, ttl_seconds: int = 3600) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {sorted(ROLES)}")
    import jwt

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


def secret(settings: Settings) -> str:
    if settings.is_local:
        value = settings.jwt_secret
    else:
        from chalicelib.platform import secrets

        value = secrets.read(settings.jwt_secret_parameter)
    if len(value.encode()) < MIN_SECRET_BYTES:
        raise RuntimeError(f"the JWT secret must be at least {MIN_SECRET_BYTES} bytes")
    return value
