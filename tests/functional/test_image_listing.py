"""A product's images through the app (GET /products/{sku}/images): READY ones
for anyone, any status with ``?status=`` for an admin, each with what
GET /images/{imageId} gives; uploads processed by the S3 handler as Lambda
would invoke it, on moto."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.functional_shop import Shop
from tests.support.images import photo_jpeg


@dataclass(frozen=True)
class Photos:
    sku: str
    pending: str
    ready: str
    failed: str
    removed: str


def upload(shop: Shop, sku: str, data: bytes, content_type: str = "image/jpeg") -> str:
    """An upload slot, its file in the bucket, and the upload handler's run."""
    slot = shop.call("POST", f"/products/{sku}/images", headers=shop.admin())
    assert slot.status_code == 201, slot.body
    image_id = str(slot.json_body["imageId"])
    bucket, key = shop.outputs["ImagesBucketName"], f"uploads/{sku}/{image_id}"
    shop.aws("s3").put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)
    event = shop.client.events.generate_s3_event(bucket, key)
    shop.client.lambda_.invoke("image_uploaded", event)
    return image_id


@pytest.fixture(scope="module")
def photos(shop: Shop) -> Photos:
    sku = shop.put_product(stock=2)["sku"]
    pending = shop.call("POST", f"/products/{sku}/images", headers=shop.admin())
    ready = upload(shop, sku, photo_jpeg(640, 480, make="Listing", gps=(48.8584, 2.2945)))
    # A text file named like a photo: the slot lets any image/ type through.
    failed = upload(shop, sku, b"just some text, not a photo\n")
    removed = upload(shop, sku, photo_jpeg(300, 200))
    bucket = shop.outputs["ImagesBucketName"]
    shop.aws("s3").delete_object(Bucket=bucket, Key=f"uploads/{sku}/{removed}")
    gone = shop.client.events.generate_s3_event(
        bucket, f"uploads/{sku}/{removed}", event_name="ObjectRemoved:Delete"
    )
    # S3 orders one key's events by sequencer: the removal comes after the upload.
    gone["Records"][0]["s3"]["object"]["sequencer"] = "FF5B039F73C627CE8B"
    shop.client.lambda_.invoke("image_removed", gone)
    return Photos(sku, str(pending.json_body["imageId"]), ready, failed, removed)


def listing(shop: Shop, sku: str, query: str = "", headers: dict[str, str] | None = None) -> Any:
    return shop.call("GET", f"/products/{sku}/images{query}", headers=headers)


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.body
    assert set(response.json_body) == {"items"}
    return [i["imageId"] for i in response.json_body["items"]]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("PENDING", ["pending"]),
        ("READY", ["ready"]),
        ("FAILED", ["failed"]),
        ("ALL", ["pending", "ready", "failed", "removed"]),
    ],
)
def test_an_admin_lists_a_products_images_by_status_oldest_first(
    shop: Shop, photos: Photos, status: str, expected: list[str]
) -> None:
    got = listing(shop, photos.sku, f"?status={status}", shop.admin())
    assert sorted(ids(got)) == sorted(getattr(photos, name) for name in expected)
    # gsi1's order: by creation time (then id: slots made in one millisecond).
    keys = [f"{i['createdAt']}#{i['imageId']}" for i in got.json_body["items"]]
    assert keys == sorted(keys)


def test_an_admins_items_are_what_get_image_gives(shop: Shop, photos: Photos) -> None:
    admin = shop.admin()
    items = listing(shop, photos.sku, "?status=ALL", admin).json_body["items"]
    by_id = {i["imageId"]: i for i in items}
    for image_id, item in by_id.items():
        one = shop.call("GET", f"/images/{image_id}", headers=admin).json_body
        # Presigned URLs are signed per call: compare the rest, and the keys' paths.
        assert {**item, "thumbnails": {}} == {**one, "thumbnails": {}}
        strip = {s: u.split("?")[0] for s, u in item["thumbnails"].items()}
        assert strip == {s: u.split("?")[0] for s, u in one["thumbnails"].items()}
    failed = by_id[photos.failed]
    assert failed["status"] == "FAILED" and failed["thumbnails"] == {}
    assert failed["reason"].startswith("not an image"), failed["reason"]
    ready = by_id[photos.ready]
    assert ready["status"] == "READY" and set(ready["thumbnails"]) == {"200", "512"}
    assert ready["exif"]["make"] == "Listing" and "gps" in ready["exif"]  # admins see GPS
    assert by_id[photos.pending]["status"] == "PENDING"
    assert by_id[photos.removed]["deletedAt"] is not None


def test_anyone_gets_the_ready_images_without_gps_as_before(shop: Shop, photos: Photos) -> None:
    for headers in (None, shop.auth("cust-listing"), shop.admin()):
        plain = listing(shop, photos.sku, headers=headers)
        assert ids(plain) == [photos.ready]
        (item,) = plain.json_body["items"]
        assert "gps" not in item["exif"] and "deletedAt" not in item
    # ?status=READY is the same list for anyone; an admin's carries GPS.
    assert ids(listing(shop, photos.sku, "?status=READY")) == [photos.ready]
    customer = listing(shop, photos.sku, "?status=READY", shop.auth("cust-listing"))
    assert "gps" not in customer.json_body["items"][0]["exif"]
    admin = listing(shop, photos.sku, "?status=READY", shop.admin())
    assert "gps" in admin.json_body["items"][0]["exif"]


@pytest.mark.parametrize("status", ["PENDING", "FAILED", "ALL"])
def test_other_statuses_need_an_admin(shop: Shop, photos: Photos, status: str) -> None:
    anonymous = listing(shop, photos.sku, f"?status={status}")
    assert anonymous.status_code == 401, anonymous.body
    assert anonymous.json_body["Code"] == "UnauthorizedError"
    customer = listing(shop, photos.sku, f"?status={status}", shop.auth("cust-listing"))
    assert customer.status_code == 403, customer.body
    assert customer.json_body["Code"] == "ForbiddenError"
    assert "admin" in customer.json_body["Message"]


@pytest.mark.parametrize("status", ["READY", "FAILED"])
def test_a_bad_token_with_a_status_is_a_401(shop: Shop, photos: Photos, status: str) -> None:
    for bad in ("Bearer not.a.jwt", "Basic abc", "Bearer "):
        got = listing(shop, photos.sku, f"?status={status}", {"Authorization": bad})
        assert got.status_code == 401, (bad, got.body)
        assert got.json_body == {
            "Code": "UnauthorizedError",
            "Message": "a valid bearer token is required",
        }
    # Without ?status= the token is not read: the public listing, as before.
    assert ids(listing(shop, photos.sku, headers={"Authorization": "Bearer x"})) == [photos.ready]


@pytest.mark.parametrize("status", ["", "ready", "DELETED", "ALL,FAILED", "%C3%84"])
def test_an_unknown_status_is_a_400_naming_status(shop: Shop, photos: Photos, status: str) -> None:
    for headers in (None, shop.admin()):
        got = listing(shop, photos.sku, f"?status={status}", headers)
        assert got.status_code == 400, (status, got.body)
        assert got.json_body["Errors"] == [
            {"loc": ["query", "status"], "msg": "one of PENDING, READY, FAILED, ALL"}
        ]


def test_a_product_without_images_and_a_bad_sku(shop: Shop) -> None:
    sku = shop.put_product(stock=1)["sku"]
    assert ids(listing(shop, sku, "?status=ALL", shop.admin())) == []
    bad = listing(shop, "bad%20sku!", "?status=ALL", shop.admin())
    assert bad.status_code == 400, bad.body


def test_the_routes_statuses_are_the_services() -> None:
    # Named in the route module too, which leaves the service for after cold start.
    from chalicelib.images import api
    from chalicelib.images.model import ImageStatus
    from chalicelib.images.service import LISTING_STATUSES

    assert api.LISTING_STATUSES == LISTING_STATUSES == (*ImageStatus, "ALL")
