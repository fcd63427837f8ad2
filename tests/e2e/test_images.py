"""Product images end to end: presigned POST upload into the running stack,
S3 notification, thumbnails, EXIF, records, events, overwrite and removal."""

from __future__ import annotations

import io
import json
from collections import Counter
from typing import Any

import pytest
import requests
from PIL import Image

from devstack.testing import RunningStack
from tests.support import images as fx
from tests.support.e2e_shop import Shop


@pytest.fixture(scope="module")
def shop(app_stack: RunningStack) -> Shop:
    return Shop(app_stack)


def upload(
    shop: Shop,
    sku: str,
    data: bytes,
    content_type: str = "image/jpeg",
    slot: dict[str, Any] | None = None,
) -> dict[str, Any]:
    if slot is None:
        r = shop.http.post(f"{shop.api}/products/{sku}/images", headers=shop.admin, timeout=30)
        assert r.status_code == 201, r.text
        slot = dict(r.json())
    form = {**slot["upload"]["fields"], "Content-Type": content_type}
    r = requests.post(
        slot["upload"]["url"],
        data=form,
        files={"file": ("photo.jpg", data, content_type)},
        timeout=60,
    )
    assert r.status_code in (200, 201, 204), r.text
    return slot


def image(shop: Shop, image_id: str) -> dict[str, Any]:
    r = shop.http.get(f"{shop.api}/images/{image_id}", headers=shop.admin, timeout=30)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_a_phone_photo_becomes_upright_thumbnails_and_metadata(shop: Shop) -> None:
    sku = shop.product(stock=1)
    events = shop.listen("-image-events")
    photo = fx.photo_jpeg(
        1600,
        1200,
        orientation=6,
        make="Apple",
        model="iPhone 15",
        taken_at="2026:05:01 12:30:00",
        gps=(52.52, 13.405),
    )
    slot = upload(shop, sku, photo)
    shop.stack.drain()
    img = image(shop, slot["imageId"])
    assert img["status"] == "READY", img
    assert (img["width"], img["height"]) == (1200, 1600)  # upright: orientation 6 swaps
    assert img["format"] == "JPEG" and img["bytes"] == len(photo)
    assert img["exif"]["make"] == "Apple" and img["exif"]["model"] == "iPhone 15"
    assert img["exif"]["orientation"] == 6
    assert img["exif"]["gps"] == pytest.approx({"lat": 52.52, "lon": 13.405}, abs=1e-4)
    assert set(img["thumbnails"]) == {"200", "512", "1024"}
    for size, url in img["thumbnails"].items():
        r = requests.get(url, timeout=30)  # what a browser would do
        assert r.status_code == 200 and r.headers["Content-Type"] == "image/jpeg"
        thumb = Image.open(io.BytesIO(r.content))
        assert max(thumb.size) == int(size) and thumb.size[1] > thumb.size[0]
        assert not thumb.getexif()  # no EXIF, no GPS in derivatives
    public = shop.http.get(f"{shop.api}/products/{sku}/images", timeout=30).json()["items"]
    assert [p["imageId"] for p in public] == [slot["imageId"]]
    assert "gps" not in public[0]["exif"]  # GPS is for admins only
    heard = [m["body"] for m in shop.heard(events) if m["body"]["imageId"] == slot["imageId"]]
    assert [h["type"] for h in heard] == ["ImageProcessed"]


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("zero bytes", b"", "empty"),
        ("html renamed .jpg", b"<!doctype html><html><body>hi</body></html>", "HTML"),
        ("truncated jpeg", fx.truncated_jpeg(), "truncated"),
        ("png declaring 30000x30000", fx.png_declaring(30000, 30000), "MP"),
    ],
)
def test_bad_files_end_failed_with_a_reason(
    shop: Shop, name: str, data: bytes, reason: str
) -> None:
    sku = shop.product(stock=1)
    slot = upload(shop, sku, data)
    shop.stack.drain()
    img = image(shop, slot["imageId"])
    assert img["status"] == "FAILED", img
    assert img["reason"] and reason.lower() in img["reason"].lower(), img["reason"]
    assert shop.http.get(f"{shop.api}/products/{sku}/images", timeout=30).json()["items"] == []


def test_redelivered_events_change_nothing_and_publish_once(shop: Shop) -> None:
    sku = shop.product(stock=1)
    events = shop.listen("-image-events")
    shop.stack.control.set_faults(duplicateDeliveries=True)
    try:
        slot = upload(shop, sku, fx.photo_jpeg(900, 600))
        shop.stack.drain()
    finally:
        shop.stack.control.set_faults(duplicateDeliveries=False)
    img = image(shop, slot["imageId"])
    assert img["status"] == "READY" and set(img["thumbnails"]) == {"200", "512"}
    kinds = Counter(
        m["body"]["type"] for m in shop.heard(events) if m["body"]["imageId"] == slot["imageId"]
    )
    assert kinds == {"ImageProcessed": 1}


def test_overwrite_regenerates_and_removal_cleans_up(shop: Shop) -> None:
    sku = shop.product(stock=1)
    slot = upload(shop, sku, fx.photo_jpeg(2000, 1000))
    shop.stack.drain()
    first = image(shop, slot["imageId"])
    assert (first["width"], first["height"]) == (2000, 1000)
    upload(shop, sku, fx.photo_jpeg(700, 900, seed=3), slot=slot)  # same key again
    shop.stack.drain()
    second = image(shop, slot["imageId"])
    assert (second["width"], second["height"]) == (700, 900)
    assert set(second["thumbnails"]) == {"200", "512"}  # 1024 no longer fits: removed
    s3 = shop.stack.client("s3")
    bucket = next(
        b["Name"]
        for b in s3.list_buckets()["Buckets"]
        if b["Name"].startswith("eventshop-local-images")
    )
    thumbs = s3.list_objects_v2(Bucket=bucket, Prefix=f"thumbnails/{sku}/")
    assert sorted(o["Key"].rsplit("/", 1)[1] for o in thumbs.get("Contents", [])) == [
        "200.jpg",
        "512.jpg",
    ]
    s3.delete_object(Bucket=bucket, Key=f"uploads/{sku}/{slot['imageId']}")
    shop.stack.drain()
    gone = image(shop, slot["imageId"])
    assert gone["deletedAt"] and gone["thumbnails"] == {}
    assert s3.list_objects_v2(Bucket=bucket, Prefix=f"thumbnails/{sku}/").get("KeyCount") == 0
    assert shop.http.get(f"{shop.api}/products/{sku}/images", timeout=30).json()["items"] == []


def test_upload_slot_rules(shop: Shop) -> None:
    r = shop.http.post(f"{shop.api}/products/NOPE-404/images", headers=shop.admin, timeout=30)
    assert r.status_code == 404
    sku = shop.product(stock=1)
    r = shop.http.post(
        f"{shop.api}/products/{sku}/images", headers=shop.customer("eve"), timeout=30
    )
    assert r.status_code == 403
    r = shop.http.post(f"{shop.api}/products/{sku}/images", timeout=30)
    assert r.status_code == 401
    slot = shop.http.post(
        f"{shop.api}/products/{sku}/images", headers=shop.admin, timeout=30
    ).json()
    assert slot["upload"]["fields"]["key"] == f"uploads/{sku}/{slot['imageId']}"
    policy = json.loads(__import__("base64").b64decode(slot["upload"]["fields"]["policy"]))
    conditions = json.dumps(policy["conditions"])
    assert "content-length-range" in conditions and "image/" in conditions
    assert image(shop, slot["imageId"])["status"] == "PENDING"


@pytest.mark.parametrize("declared", ["text/html", "application/octet-stream"])
def test_an_upload_declared_as_another_type_fails_with_a_reason(shop: Shop, declared: str) -> None:
    """S3 enforces the slot's image/ prefix on AWS; the emulator does not, so
    the handler's own check is what stops a PNG uploaded as text/html."""
    sku = shop.product(stock=1)
    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), "red").save(buffer, "PNG")
    slot = upload(shop, sku, buffer.getvalue(), content_type=declared)
    shop.stack.drain()
    record = image(shop, slot["imageId"])
    assert record["status"] == "FAILED"
    assert record["reason"] == f"content type {declared!r} is not an image type (image/...)"


def listed(shop: Shop, sku: str) -> dict[str, Any]:
    """The product as the catalog listing shows it (paging: the session's
    other tests, catalog imports among them, add many products)."""
    params: dict[str, Any] = {"limit": 100}
    while True:
        page = shop.http.get(f"{shop.api}/products", params=params, timeout=30).json()
        for product in page["items"]:
            if product["sku"] == sku:
                return dict(product)
        assert page["nextCursor"], f"{sku} is not in the listing"
        params["cursor"] = page["nextCursor"]


def test_the_newest_ready_image_becomes_the_products_and_a_removal_clears_it(
    shop: Shop,
) -> None:
    sku = shop.product(stock=1)

    def product_image() -> Any:
        r = shop.http.get(f"{shop.api}/products/{sku}", timeout=30)
        assert r.status_code == 200, r.text
        return r.json()["image"]

    assert product_image() is None
    first = upload(shop, sku, fx.photo_jpeg(800, 600))
    shop.stack.drain()
    assert product_image()["imageId"] == first["imageId"]
    second = upload(shop, sku, fx.photo_jpeg(640, 480))
    shop.stack.drain()
    shown = product_image()
    assert shown["imageId"] == second["imageId"]
    assert set(shown["thumbnails"]) == {"200", "512"}
    r = requests.get(shown["thumbnails"]["512"], timeout=30)  # a URL a browser loads
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/jpeg"
    assert listed(shop, sku)["image"]["imageId"] == second["imageId"]

    s3 = shop.stack.client("s3")
    bucket = next(b["Name"] for b in s3.list_buckets()["Buckets"] if "-images-" in b["Name"])
    s3.delete_object(Bucket=bucket, Key=f"uploads/{sku}/{second['imageId']}")
    shop.stack.drain()
    assert product_image()["imageId"] == first["imageId"]  # the next newest READY one
    s3.delete_object(Bucket=bucket, Key=f"uploads/{sku}/{first['imageId']}")
    shop.stack.drain()
    assert product_image() is None
