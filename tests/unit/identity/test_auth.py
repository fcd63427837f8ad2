"""chalicelib.identity.auth: bearer parsing, JWT verification, roles and the secret."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import MISSING, fields
from typing import Any

import boto3
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from moto import mock_aws

from chalicelib.identity import auth
from chalicelib.platform import aws, errors, secrets
from chalicelib.platform.settings import Settings

SECRET = "s" * 40
OTHER_SECRET = "o" * 40


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        f.name: f"test-{f.name}" for f in fields(Settings) if f.default is MISSING
    }
    values.update(stage="local", region="us-east-1", jwt_secret=SECRET)
    values.update(overrides)
    return Settings(**values)


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    c: dict[str, Any] = {"sub": "user-1", "role": "customer", "iat": now, "exp": now + 3600}
    c.update(overrides)
    return {k: v for k, v in c.items() if v is not _DROP}


_DROP = object()


def token(key: Any = SECRET, algorithm: str = "HS256", **overrides: Any) -> str:
    return jwt.encode(claims(**overrides), key, algorithm=algorithm)


def b64url(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


# --------------------------------------------------------------------- bearer


def test_bearer_returns_the_token() -> None:
    assert auth.bearer("Bearer abc.def.ghi") == "abc.def.ghi"


def test_bearer_scheme_is_case_insensitive_and_whitespace_is_trimmed() -> None:
    assert auth.bearer("bearer abc") == "abc"
    assert auth.bearer("BEARER abc") == "abc"
    assert auth.bearer("  Bearer   abc  ") == "abc"


@pytest.mark.parametrize("header", [None, ""])
def test_bearer_missing_header(header: str | None) -> None:
    with pytest.raises(auth.InvalidToken, match="missing"):
        auth.bearer(header)


@pytest.mark.parametrize(
    "header",
    ["Basic dXNlcjpwYXNz", "Token abc", "abc.def.ghi", "Bearer", "Bearer ", "Bearer    ", "   "],
)
def test_bearer_wrong_scheme_or_empty_token(header: str) -> None:
    with pytest.raises(auth.InvalidToken, match="not 'Bearer <token>'"):
        auth.bearer(header)


def test_bearer_size_limit() -> None:
    prefix = "Bearer "
    at_limit = prefix + "a" * (auth.MAX_TOKEN_BYTES - len(prefix))
    assert len(at_limit) == auth.MAX_TOKEN_BYTES
    assert auth.bearer(at_limit) == "a" * (auth.MAX_TOKEN_BYTES - len(prefix))
    with pytest.raises(auth.InvalidToken, match="too large"):
        auth.bearer(at_limit + "a")


# --------------------------------------------------------------------- issue / verify


def test_verify_accepts_an_issued_token() -> None:
    p = auth.verify(auth.issue("user-1", "admin", SECRET), SECRET)
    assert p == auth.Principal(sub="user-1", role="admin")
    assert p.is_admin


def test_issue_sets_claims_and_ttl() -> None:
    before = int(time.time())
    t = auth.issue("user-2", "customer", SECRET, ttl_seconds=120)
    after = int(time.time())
    c = jwt.decode(t, SECRET, algorithms=["HS256"])
    assert jwt.get_unverified_header(t)["alg"] == "HS256"
    assert c["sub"] == "user-2"
    assert c["role"] == "customer"
    assert before <= c["iat"] <= after
    assert c["nbf"] == c["iat"]
    assert c["exp"] - c["iat"] == 120
    assert not auth.verify(t, SECRET).is_admin


def test_issue_rejects_an_unknown_role() -> None:
    with pytest.raises(ValueError, match="role"):
        auth.issue("user-1", "superuser", SECRET)


def test_verify_accepts_a_hand_built_hs256_token() -> None:
    p = auth.verify(token(role="customer", sub="abc"), SECRET)
    assert p == auth.Principal("abc", "customer")


def test_verify_rejects_alg_none_from_pyjwt() -> None:
    unsigned = jwt.encode(claims(role="admin"), key=None, algorithm="none")  # type: ignore[arg-type]
    assert unsigned.endswith(".")
    with pytest.raises(auth.InvalidToken):
        auth.verify(unsigned, SECRET)


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_verify_rejects_hand_built_alg_none(alg: str) -> None:
    unsigned = f"{b64url({'alg': alg, 'typ': 'JWT'})}.{b64url(claims(role='admin'))}."
    with pytest.raises(auth.InvalidToken):
        auth.verify(unsigned, SECRET)


def test_verify_rejects_hs512_even_with_the_right_secret() -> None:
    key = "k" * 64
    t = token(key=key, algorithm="HS512")
    assert jwt.decode(t, key, algorithms=["HS512"])["sub"] == "user-1"
    with pytest.raises(auth.InvalidToken):
        auth.verify(t, key)


def test_verify_rejects_rs256() -> None:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    t = token(key=private_key, algorithm="RS256")
    assert jwt.decode(t, private_key.public_key(), algorithms=["RS256"])["sub"] == "user-1"
    with pytest.raises(auth.InvalidToken):
        auth.verify(t, SECRET)


def test_verify_rejects_a_signature_from_another_secret() -> None:
    with pytest.raises(auth.InvalidToken, match=r"[Ss]ignature"):
        auth.verify(token(key=OTHER_SECRET), SECRET)


def test_verify_rejects_a_tampered_payload() -> None:
    header, _, signature = token(role="customer").split(".")
    forged = f"{header}.{b64url(claims(role='admin'))}.{signature}"
    with pytest.raises(auth.InvalidToken):
        auth.verify(forged, SECRET)


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "....", "Bearer x"])
def test_verify_rejects_garbage(garbage: str) -> None:
    with pytest.raises(auth.InvalidToken):
        auth.verify(garbage, SECRET)


def test_verify_rejects_expired_beyond_leeway() -> None:
    now = int(time.time())
    with pytest.raises(auth.InvalidToken, match="expired"):
        auth.verify(token(iat=now - 600, exp=now - 120), SECRET, leeway=30)


def test_verify_accepts_expired_within_leeway() -> None:
    now = int(time.time())
    t = token(iat=now - 600, exp=now - 10)
    assert auth.verify(t, SECRET, leeway=30).sub == "user-1"
    # The same token without leeway is expired: the leeway is what let it in.
    with pytest.raises(auth.InvalidToken, match="expired"):
        auth.verify(t, SECRET, leeway=0)


def test_verify_rejects_nbf_in_the_future() -> None:
    now = int(time.time())
    with pytest.raises(auth.InvalidToken, match="not yet valid"):
        auth.verify(token(iat=now, nbf=now + 600), SECRET, leeway=30)


def test_verify_accepts_nbf_within_leeway() -> None:
    now = int(time.time())
    assert auth.verify(token(nbf=now + 5), SECRET, leeway=30).sub == "user-1"


@pytest.mark.parametrize("missing", ["sub", "exp"])
def test_verify_rejects_a_missing_required_claim(missing: str) -> None:
    with pytest.raises(auth.InvalidToken, match=missing):
        auth.verify(token(**{missing: _DROP}), SECRET)  # type: ignore[arg-type]


@pytest.mark.parametrize("sub", ["", "x" * 129])
def test_verify_rejects_empty_or_oversized_sub(sub: str) -> None:
    with pytest.raises(auth.InvalidToken, match="sub"):
        auth.verify(token(sub=sub), SECRET)


def test_verify_accepts_sub_at_the_length_limit() -> None:
    assert auth.verify(token(sub="x" * 128), SECRET).sub == "x" * 128


@pytest.mark.parametrize("sub", [123, None, ["user-1"], {"id": "user-1"}])
def test_verify_rejects_non_string_sub(sub: Any) -> None:
    with pytest.raises(auth.InvalidToken):
        auth.verify(token(sub=sub), SECRET)


@pytest.mark.parametrize("role", ["superuser", "Admin", "", None, 1, _DROP])
def test_verify_rejects_unknown_role(role: Any) -> None:
    with pytest.raises(auth.InvalidToken, match="role"):
        auth.verify(token(role=role), SECRET)


@pytest.mark.parametrize("role", [["admin"], {"name": "admin"}])
def test_verify_rejects_a_non_scalar_role_as_invalid_token(role: Any) -> None:
    # The authorizer maps only InvalidToken to 401; anything else is a 500.
    with pytest.raises(auth.InvalidToken, match="role"):
        auth.verify(token(role=role), SECRET)


# --------------------------------------------------------------------- require


def test_require_without_a_principal_is_unauthorized() -> None:
    with pytest.raises(errors.Unauthorized) as info:
        auth.require(None, "admin")
    assert info.value.status == 401
    with pytest.raises(errors.Unauthorized):
        auth.require(None)


def test_require_with_the_wrong_role_is_forbidden() -> None:
    with pytest.raises(errors.Forbidden) as info:
        auth.require(auth.Principal("u", "customer"), "admin")
    assert info.value.status == 403
    assert "admin" in info.value.message


def test_require_with_the_right_role_returns_the_principal() -> None:
    admin = auth.Principal("u", "admin")
    customer = auth.Principal("c", "customer")
    assert auth.require(admin, "admin") is admin
    assert auth.require(customer, "customer", "admin") is customer
    assert auth.require(customer) is customer  # no roles: any signed-in user


# --------------------------------------------------------------------- secret


def _reset_aws_state() -> None:
    aws.client.cache_clear()
    aws.queue_url.cache_clear()
    aws._session = None
    secrets.forget()


@pytest.fixture(autouse=True)
def _clean_state() -> Any:
    _reset_aws_state()
    yield
    _reset_aws_state()


@pytest.fixture
def ssm(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        yield boto3.client("ssm", region_name="us-east-1")


def test_secret_local_stage_returns_the_env_secret() -> None:
    assert auth.secret(make_settings(stage="local", jwt_secret=SECRET)) == SECRET
    assert auth.secret(make_settings(stage="test", jwt_secret=OTHER_SECRET)) == OTHER_SECRET
    # No AWS session was created for it.
    assert aws._session is None


@pytest.mark.parametrize("value", ["", "x" * 31])
def test_secret_local_stage_rejects_a_short_secret(value: str) -> None:
    with pytest.raises(RuntimeError, match="32 bytes"):
        auth.secret(make_settings(stage="local", jwt_secret=value))


def test_secret_length_is_measured_in_bytes() -> None:
    assert auth.secret(make_settings(jwt_secret="x" * 32)) == "x" * 32
    # 16 characters, 32 bytes in UTF-8.
    assert auth.secret(make_settings(jwt_secret="é" * 16)) == "é" * 16
    with pytest.raises(RuntimeError):
        auth.secret(make_settings(jwt_secret="é" * 15))


def test_secret_deployed_stage_reads_ssm_once_and_caches(ssm: Any) -> None:
    ssm.put_parameter(Name="/eventshop/prod/jwt", Value=SECRET, Type="SecureString")
    settings = make_settings(
        stage="prod", jwt_secret="", jwt_secret_parameter="/eventshop/prod/jwt"
    )
    calls: list[str] = []
    aws.client("ssm").meta.events.register(
        "before-parameter-build.ssm.GetParameter", lambda **kw: calls.append(kw["params"]["Name"])
    )

    assert auth.secret(settings) == SECRET  # decrypted, not the KMS-prefixed form
    ssm.put_parameter(
        Name="/eventshop/prod/jwt", Value=OTHER_SECRET, Type="SecureString", Overwrite=True
    )
    assert auth.secret(settings) == SECRET  # cached for the container's life
    assert calls == ["/eventshop/prod/jwt"]

    secrets.forget()
    assert auth.secret(settings) == OTHER_SECRET
    assert len(calls) == 2


def test_secret_cache_is_per_parameter(ssm: Any) -> None:
    ssm.put_parameter(Name="/a", Value=SECRET, Type="SecureString")
    ssm.put_parameter(Name="/b", Value=OTHER_SECRET, Type="SecureString")
    assert auth.secret(make_settings(stage="dev", jwt_secret_parameter="/a")) == SECRET
    assert auth.secret(make_settings(stage="dev", jwt_secret_parameter="/b")) == OTHER_SECRET


def test_secret_deployed_stage_ignores_the_env_secret(ssm: Any) -> None:
    ssm.put_parameter(Name="/p", Value=SECRET, Type="SecureString")
    settings = make_settings(stage="prod", jwt_secret=OTHER_SECRET, jwt_secret_parameter="/p")
    assert auth.secret(settings) == SECRET


def test_secret_deployed_stage_rejects_a_short_ssm_value(ssm: Any) -> None:
    ssm.put_parameter(Name="/short", Value="tooshort", Type="SecureString")
    with pytest.raises(RuntimeError, match="32 bytes"):
        auth.secret(make_settings(stage="prod", jwt_secret_parameter="/short"))


def test_secret_missing_parameter_is_not_found(ssm: Any) -> None:
    with pytest.raises(errors.NotFound):
        auth.secret(make_settings(stage="prod", jwt_secret_parameter="/does/not/exist"))
    assert secrets._cache == {}
