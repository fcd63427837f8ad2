"""Bad input gets a clear 4xx with Chalice's error body, never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest


def test_an_oversized_body_is_a_413(shop: Any) -> None:
    body = json.dumps({"name": "x" * 70_000, "priceCents": 1, "stock": 1})
    r = shop.client.http.put(
        "/products/BIG-1", body=body, headers={**shop.admin(), "Content-Type": "application/json"}
    )
    assert r.status_code == 413
    assert json.loads(r.body)["Code"] == "RequestEntityTooLargeError"


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml"])
def test_a_wrong_content_type_is_a_4xx(shop: Any, content_type: str) -> None:
    r = shop.client.http.put(
        "/products/CT-1",
        body='{"name": "x"}',
        headers={**shop.admin(), "Content-Type": content_type},
    )
    assert 400 <= r.status_code < 500
    assert "Traceback" not in r.body.decode()
