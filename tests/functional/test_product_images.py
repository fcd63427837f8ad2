"""The catalog's image-events subscriber and the daily slot expiry, invoked
with the events Lambda would pass (SNS, EventBridge schedule), on moto."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.functional_shop import Shop


def hear(shop: Shop, detail: dict[str, Any] | str) -> None:
    message = detail if isinstance(detail, str) else json.dumps(detail)
    shop.client.lambda_.invoke("product_images", shop.client.events.generate_sns_event(message))


def ready(sku: str, image_id: str, revision: str, at: str) -> dict[str, Any]:
    return {
        "type": "ImageProcessed",
        "imageId": image_id,
        "sku": sku,
        "status": "READY",
        "revision": revision,
        "at": at,
        "thumbnailKeys": {"200": f"thumbnails/{sku}/{image_id}/200.jpg"},
    }


def product(shop: Shop, sku: str) -> dict[str, Any]:
    response = shop.call("GET", f"/products/{sku}")
    assert response.status_code == 200, response.body
    return dict(response.json_body)


def test_the_newest_ready_image_is_the_products_and_a_removal_clears_it(shop: Shop) -> None:
    sku = shop.put_product(stock=3)["sku"]
    assert product(shop, sku)["image"] is None

    hear(shop, ready(sku, "a" * 32, "01", "2026-01-01T00:00:00.000Z"))
    hear(shop, ready(sku, "b" * 32, "01", "2026-01-02T00:00:00.000Z"))
    hear(shop, ready(sku, "a" * 32, "01", "2026-01-01T00:00:00.000Z"))  # redelivered
    image = product(shop, sku)["image"]
    assert image["imageId"] == "b" * 32
    url = image["thumbnails"]["200"]
    assert f"thumbnails/{sku}/{'b' * 32}/200.jpg" in url and "Signature" in url
    listed = shop.call("GET", "/products?limit=100").json_body["items"]
    assert next(p for p in listed if p["sku"] == sku)["image"]["imageId"] == "b" * 32

    for image_id in ("b" * 32, "a" * 32):
        gone = {**ready(sku, image_id, "02", "2026-01-03T00:00:00.000Z"), "type": "ImageRemoved"}
        hear(shop, gone)
    assert product(shop, sku)["image"] is None
    assert product(shop, sku)["stock"] == 3


def test_what_is_not_an_image_event_changes_nothing_and_raises_nothing(shop: Shop) -> None:
    sku = shop.put_product(stock=1)["sku"]
    before = product(shop, sku)
    for bad in ("not json", "[1, 2]", json.dumps({"type": "ImageProcessed", "sku": sku})):
        hear(shop, bad)
    assert product(shop, sku) == before


def test_the_daily_expiry_fails_slots_unused_for_24_hours(shop: Shop) -> None:
    sku = shop.put_product(stock=1)["sku"]
    slot = shop.call("POST", f"/products/{sku}/images", headers=shop.admin()).json_body
    image_id = slot["imageId"]

    def expire_at(t: datetime) -> None:
        event = shop.client.events.generate_cw_event(
            "aws.events", "Scheduled Event", {}, ["arn:aws:events:us-east-1:1:rule/x"]
        )
        event["time"] = t.strftime("%Y-%m-%dT%H:%M:%SZ")
        shop.client.lambda_.invoke("expire_upload_slots", event)

    def status() -> dict[str, Any]:
        got = shop.call("GET", f"/images/{image_id}", headers=shop.admin())
        assert got.status_code == 200, got.body
        return dict(got.json_body)

    expire_at(datetime.now(UTC) + timedelta(hours=23))
    assert status()["status"] == "PENDING"
    expire_at(datetime.now(UTC) + timedelta(hours=24, minutes=1))
    assert status()["status"] == "FAILED"
    assert status()["reason"].startswith("expired")
