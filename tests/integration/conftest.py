"""Adapters against moto in-process: fake credentials, no endpoint override,
and no boto3 client or session cached across tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chalicelib.platform import aws

REGION = "us-east-1"


def _reset_aws_caches() -> None:
    aws.client.cache_clear()
    aws.queue_url.cache_clear()
    aws._session = None


@pytest.fixture(autouse=True)
def fake_aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    _reset_aws_caches()
    yield
    _reset_aws_caches()
