"""chalicelib.identity.auth with a JWKS (Cognito user pool): RS256 tokens, issuer and
audience checks, Cognito claims -> roles, and the JWKS cache.

The JWKS is served over real HTTP from a local ``http.server`` on 127.0.0.1;
the keys are RSA keys generated here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import MISSING, dataclass, field, fields
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from chalicelib.identity import auth
from chalicelib.platform.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
SECRET = "s" * 40
ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TestPool"
CLIENT_ID = "3n4b5urk1ft4fl3mg5e62d9ado"
KID = "key-1"


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


KEY = rsa_key()
OTHER_KEY = rsa_key()


def public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "alg": "RS256", "use": "sig"}


@dataclass
class JwksServer:
    """A JWKS endpoint on 127.0.0.1 that counts its requests."""

    keys: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    server: HTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/.well-known/jwks.json"

    def start(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                if self.path != "/.well-known/jwks.json":
                    self.send_error(404)
                    return
                body = json.dumps({"keys": outer.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture(autouse=True)
def _fresh_jwks_clients() -> Iterator[None]:
    auth._jwks_clients.clear()
    yield
    auth._jwks_clients.clear()


@pytest.fixture(scope="module")
def _server() -> Iterator[JwksServer]:
    s = JwksServer()
    s.start()
    yield s
    s.stop()


@pytest.fixture
def server(_server: JwksServer, monkeypatch: pytest.MonkeyPatch) -> JwksServer:
    """The module's JWKS endpoint, reset: one key, no requests yet."""
    # urllib honours *_PROXY variables; the JWKS here is on loopback.
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    _server.keys = [public_jwk(KEY, KID)]
    _server.requests = 0
    return _server


@pytest.fixture
def jwks(server: JwksServer) -> auth.Jwks:
    return auth.Jwks(url=server.url, issuer=ISSUER, audience=CLIENT_ID)


_DROP = object()


def id_claims(**overrides: Any) -> dict[str, Any]:
    """The claims of a Cognito ID token."""
    now = int(time.time())
    c: dict[str, Any] = {
        "sub": "6f1c9c7e-8e7a-4f5e-9d0f-0123456789ab",
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "token_use": "id",
        "auth_time": now,
        "iat": now,
        "exp": now + 3600,
        "email": "ada@example.com",
    }
    c.update(overrides)
    return {k: v for k, v in c.items() if v is not _DROP}


def access_claims(**overrides: Any) -> dict[str, Any]:
    """The claims of a Cognito access token: no 'aud', a 'client_id'."""
    c = id_claims(aud=_DROP, email=_DROP, token_use="access", client_id=CLIENT_ID, scope="openid")
    c.update(overrides)
    return {k: v for k, v in c.items() if v is not _DROP}


def rs256(claims: dict[str, Any], key: Any = KEY, kid: str | None = KID) -> str:
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(claims, key, algorithm="RS256", headers=headers)


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def hand_built(header: dict[str, Any], claims: dict[str, Any], key: bytes | None = None) -> str:
    """A JWS built by hand, HMAC-SHA256-signed with ``key`` (or unsigned)."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    if key is None:
        return signing_input + "."
    mac = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def verify(token: str, jwks: auth.Jwks | None, leeway: int = 30) -> auth.Principal:
    return auth.verify(token, SECRET, leeway=leeway, jwks=jwks)


# --------------------------------------------------------------------- accepted


def test_a_cognito_id_token_is_accepted_as_a_customer(jwks: auth.Jwks) -> None:
    p = verify(rs256(id_claims()), jwks)
    assert p == auth.Principal(sub="6f1c9c7e-8e7a-4f5e-9d0f-0123456789ab", role="customer")


def test_the_admin_group_makes_an_admin(jwks: auth.Jwks) -> None:
    p = verify(rs256(id_claims(**{"cognito:groups": ["staff", "admin"]})), jwks)
    assert p.role == "admin"
    assert p.is_admin


def test_other_groups_make_a_customer(jwks: auth.Jwks) -> None:
    groups = {"cognito:groups": ["staff", "Admin", "admins"]}
    assert verify(rs256(id_claims(**groups)), jwks).role == "customer"


@pytest.mark.parametrize("custom", ["admin", "customer", "root", "", 7, ["admin"]])
def test_a_user_writable_custom_role_never_grants_a_role(jwks: auth.Jwks, custom: object) -> None:
    # custom attributes can be writable by the user: only the admin group counts
    assert verify(rs256(id_claims(**{"custom:role": custom})), jwks).role == "customer"


def test_an_access_token_is_checked_by_client_id(jwks: auth.Jwks) -> None:
    p = verify(rs256(access_claims(**{"cognito:groups": ["admin"]})), jwks)
    assert p.role == "admin"


def test_without_an_audience_setting_any_app_client_is_accepted(server: JwksServer) -> None:
    config = auth.Jwks(url=server.url, issuer=ISSUER)
    assert verify(rs256(id_claims(aud="another-client")), config).role == "customer"
    assert verify(rs256(access_claims(client_id="another-client")), config).role == "customer"


def test_hs256_tokens_still_work_with_a_jwks_configured(jwks: auth.Jwks) -> None:
    p = verify(auth.issue("ops-1", "admin", SECRET), jwks)
    assert p == auth.Principal("ops-1", "admin")


def test_expired_within_leeway_is_accepted(jwks: auth.Jwks) -> None:
    now = int(time.time())
    t = rs256(id_claims(iat=now - 600, exp=now - 10))
    assert verify(t, jwks, leeway=30).role == "customer"
    with pytest.raises(auth.InvalidToken, match="expired"):
        verify(t, jwks, leeway=0)


# --------------------------------------------------------------------- rejected


def test_an_unknown_kid_is_rejected(jwks: auth.Jwks) -> None:
    with pytest.raises(auth.InvalidToken, match="signing key"):
        verify(rs256(id_claims(), kid="key-2"), jwks)


def test_a_missing_kid_is_rejected(jwks: auth.Jwks) -> None:
    with pytest.raises(auth.InvalidToken, match="kid"):
        verify(rs256(id_claims(), kid=None), jwks)


def test_a_token_signed_by_another_key_under_a_known_kid_is_rejected(jwks: auth.Jwks) -> None:
    with pytest.raises(auth.InvalidToken, match=r"[Ss]ignature"):
        verify(rs256(id_claims(), key=OTHER_KEY), jwks)


def test_a_tampered_payload_is_rejected(jwks: auth.Jwks) -> None:
    header, _, signature = rs256(id_claims()).split(".")
    payload = b64url(json.dumps(id_claims(**{"cognito:groups": ["admin"]})).encode())
    with pytest.raises(auth.InvalidToken):
        verify(f"{header}.{payload}.{signature}", jwks)


@pytest.mark.parametrize("iss", ["https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Other", ""])
def test_a_wrong_issuer_is_rejected(jwks: auth.Jwks, iss: str) -> None:
    with pytest.raises(auth.InvalidToken, match=r"[Ii]ssuer"):
        verify(rs256(id_claims(iss=iss)), jwks)


@pytest.mark.parametrize("missing", ["iss", "exp", "sub", "iat"])
def test_a_missing_required_claim_is_rejected(jwks: auth.Jwks, missing: str) -> None:
    with pytest.raises(auth.InvalidToken, match=missing):
        verify(rs256(id_claims(**{missing: _DROP})), jwks)


def test_expired_is_rejected(jwks: auth.Jwks) -> None:
    now = int(time.time())
    with pytest.raises(auth.InvalidToken, match="expired"):
        verify(rs256(id_claims(iat=now - 7200, exp=now - 3600)), jwks)


def test_nbf_in_the_future_is_rejected(jwks: auth.Jwks) -> None:
    now = int(time.time())
    with pytest.raises(auth.InvalidToken, match="not yet valid"):
        verify(rs256(id_claims(nbf=now + 600)), jwks)


def test_an_id_token_for_another_app_client_is_rejected(jwks: auth.Jwks) -> None:
    with pytest.raises(auth.InvalidToken, match="audience"):
        verify(rs256(id_claims(aud="another-client")), jwks)


def test_an_access_token_for_another_app_client_is_rejected(jwks: auth.Jwks) -> None:
    with pytest.raises(auth.InvalidToken, match="audience"):
        verify(rs256(access_claims(client_id="another-client")), jwks)
    with pytest.raises(auth.InvalidToken, match="audience"):
        verify(rs256(access_claims(client_id=_DROP)), jwks)


def test_an_unexpected_token_use_is_rejected(jwks: auth.Jwks) -> None:
    with pytest.raises(auth.InvalidToken, match="token_use"):
        verify(rs256(id_claims(token_use="refresh")), jwks)


@pytest.mark.parametrize("groups", ["admin", [1], {"admin": True}])
def test_malformed_groups_are_rejected(jwks: auth.Jwks, groups: Any) -> None:
    with pytest.raises(auth.InvalidToken, match="groups"):
        verify(rs256(id_claims(**{"cognito:groups": groups})), jwks)


@pytest.mark.parametrize("sub", ["", "x" * 129, 42])
def test_a_bad_sub_is_rejected(jwks: auth.Jwks, sub: Any) -> None:
    with pytest.raises(auth.InvalidToken):
        verify(rs256(id_claims(sub=sub)), jwks)


def test_a_plain_role_claim_does_not_make_an_admin(jwks: auth.Jwks) -> None:
    # Only the Cognito claims carry roles for RS256 tokens.
    assert verify(rs256(id_claims(role="admin")), jwks).role == "customer"


@pytest.mark.parametrize(
    "public",
    [
        KEY.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1),
        json.dumps(public_jwk(KEY, KID)).encode(),
    ],
    ids=["spki-pem", "pkcs1-pem", "jwk-json"],
)
def test_hs256_signed_with_the_public_key_is_rejected(jwks: auth.Jwks, public: bytes) -> None:
    """Algorithm confusion: the attacker knows the public key and signs an
    HS256 token with it as the HMAC secret, naming the JWKS key."""
    forged = hand_built(
        {"alg": "HS256", "typ": "JWT", "kid": KID},
        id_claims(**{"cognito:groups": ["admin"]}, role="admin"),
        public,
    )
    with pytest.raises(auth.InvalidToken):
        verify(forged, jwks)


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_is_rejected(jwks: auth.Jwks, alg: str) -> None:
    unsigned = hand_built(
        {"alg": alg, "typ": "JWT", "kid": KID},
        id_claims(**{"cognito:groups": ["admin"]}, role="admin"),
    )
    with pytest.raises(auth.InvalidToken):
        verify(unsigned, jwks)


def test_alg_none_from_pyjwt_is_rejected(jwks: auth.Jwks) -> None:
    claims = id_claims(**{"cognito:groups": ["admin"]}, role="admin")
    unsigned = jwt.encode(claims, key=None, algorithm="none", headers={"kid": KID})  # type: ignore[arg-type]
    with pytest.raises(auth.InvalidToken):
        verify(unsigned, jwks)


@pytest.mark.parametrize("alg", ["RS384", "RS512", "PS256"])
def test_other_rsa_algorithms_are_rejected(jwks: auth.Jwks, alg: str) -> None:
    t = jwt.encode(id_claims(), KEY, algorithm=alg, headers={"kid": KID})
    with pytest.raises(auth.InvalidToken):
        verify(t, jwks)


def test_a_jwks_key_for_another_algorithm_is_rejected(server: JwksServer) -> None:
    server.keys = [{**public_jwk(KEY, KID), "alg": "RS512"}]
    config = auth.Jwks(url=server.url, issuer=ISSUER)
    with pytest.raises(auth.InvalidToken, match="RS256"):
        verify(rs256(id_claims()), config)


def test_rs256_is_rejected_without_a_jwks(server: JwksServer) -> None:
    with pytest.raises(auth.InvalidToken):
        verify(rs256(id_claims(**{"custom:role": "customer"}, role="customer")), None)
    assert server.requests == 0


def test_an_oversized_token_is_rejected_before_any_fetch(
    jwks: auth.Jwks, server: JwksServer
) -> None:
    big = rs256(id_claims(padding="x" * auth.MAX_TOKEN_BYTES))
    with pytest.raises(auth.InvalidToken, match="too large"):
        verify(big, jwks)
    assert server.requests == 0


@pytest.mark.parametrize("leeway", [-1, auth.MAX_LEEWAY_SECONDS + 1, 86400])
def test_a_large_or_negative_leeway_is_a_configuration_error(jwks: auth.Jwks, leeway: int) -> None:
    with pytest.raises(ValueError, match="leeway"):
        verify(rs256(id_claims()), jwks, leeway=leeway)


def test_a_jwks_without_an_issuer_is_a_configuration_error(server: JwksServer) -> None:
    with pytest.raises(RuntimeError, match="JWT_ISSUER"):
        verify(rs256(id_claims()), auth.Jwks(url=server.url, issuer=""))


def test_an_unreachable_jwks_is_an_outage_not_a_bad_token(server: JwksServer) -> None:
    gone = JwksServer()
    gone.start()
    url = gone.url
    gone.stop()
    # The authorizer maps only InvalidToken to 401; an outage surfaces as a 500.
    with pytest.raises(auth.JwksUnavailable):
        verify(rs256(id_claims()), auth.Jwks(url=url, issuer=ISSUER))


# --------------------------------------------------------------------- the cache


def test_the_jwks_is_fetched_once_per_container(jwks: auth.Jwks, server: JwksServer) -> None:
    for n in range(5):
        assert verify(rs256(id_claims(sub=f"user-{n}")), jwks).sub == f"user-{n}"
    assert server.requests == 1
    assert auth._jwks_client(jwks.url) is auth._jwks_client(jwks.url)


def test_unknown_kids_do_not_hammer_the_endpoint(jwks: auth.Jwks, server: JwksServer) -> None:
    verify(rs256(id_claims()), jwks)
    for n in range(5):
        with pytest.raises(auth.InvalidToken):
            verify(rs256(id_claims(), kid=f"made-up-{n}"), jwks)
    assert server.requests == 1  # still within the refresh cooldown


def test_a_rotated_key_is_picked_up_after_the_cooldown(
    jwks: auth.Jwks, server: JwksServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth, "JWKS_REFRESH_COOLDOWN_SECONDS", 0.0)
    verify(rs256(id_claims()), jwks)
    server.keys = [*server.keys, public_jwk(OTHER_KEY, "key-2")]

    p = verify(rs256(id_claims(**{"cognito:groups": ["admin"]}), key=OTHER_KEY, kid="key-2"), jwks)

    assert p.role == "admin"
    assert server.requests == 2


# --------------------------------------------------------------------- settings


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        f.name: f"test-{f.name}" for f in fields(Settings) if f.default is MISSING
    }
    values.update(stage="local", region="us-east-1", jwt_secret=SECRET)
    values.update(overrides)
    return Settings(**values)


def test_the_jwks_settings_default_to_off() -> None:
    settings = make_settings()
    assert (settings.jwt_jwks_url, settings.jwt_issuer, settings.jwt_audience) == ("", "", "")
    assert auth.Jwks.from_settings(settings) is None


def test_the_jwks_settings_come_from_the_environment() -> None:
    env = {f.name.upper(): "x" for f in fields(Settings) if f.default is MISSING}
    env.update(
        AWS_REGION="eu-west-1",
        JWT_JWKS_URL="https://example.test/jwks.json",
        JWT_ISSUER=ISSUER,
        JWT_AUDIENCE=CLIENT_ID,
    )
    settings = Settings.from_env(env)
    assert auth.Jwks.from_settings(settings) == auth.Jwks(
        "https://example.test/jwks.json", ISSUER, CLIENT_ID
    )


def test_authenticate_uses_the_settings(server: JwksServer) -> None:
    settings = make_settings(jwt_jwks_url=server.url, jwt_issuer=ISSUER, jwt_audience=CLIENT_ID)
    admin = rs256(id_claims(**{"cognito:groups": ["admin"]}))
    assert auth.authenticate(f"Bearer {admin}", settings).role == "admin"
    own = auth.issue("cust-1", "customer", SECRET)
    assert auth.authenticate(f"Bearer {own}", settings) == auth.Principal("cust-1", "customer")
    with pytest.raises(auth.InvalidToken):
        auth.authenticate(f"Bearer {admin}", make_settings())  # no JWKS: RS256 refused
    with pytest.raises(auth.InvalidToken, match="missing"):
        auth.authenticate(None, settings)


# --------------------------------------------------------------------- cold start


def test_importing_the_app_loads_neither_pyjwt_nor_cryptography() -> None:
    """Functions that never verify a token do not pay for PyJWT at cold start."""
    script = (
        "import os, sys, dataclasses\n"
        "from chalicelib.platform.settings import Settings\n"
        "for f in dataclasses.fields(Settings):\n"
        "    if f.default is dataclasses.MISSING:\n"
        "        os.environ.setdefault(f.name.upper(), 'arn:aws:x:us-east-1:1:y/z/stream/1')\n"
        "os.environ.update(AWS_REGION='us-east-1', STAGE='test')\n"
        "import app\n"
        "print(','.join(sorted(m for m in ('jwt', 'cryptography') if m in sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "", out.stdout
