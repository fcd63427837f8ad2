"""ImageService over in-memory fakes: the rules the S3 handler relies on."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from chalicelib.images.model import ImageStatus, newer
from chalicelib.images.service import ImageLimits, ImageService, parse_listing_status
from chalicelib.platform import errors
from tests.support import images as fx
from tests.support.fakes import FakeImageRepository, FakeObjectStore

SKU = "MUG-1"


class FakeStore(FakeObjectStore):
    """The shared fake, checking what the service asks of it: thumbnails are
    cacheable JPEGs, and the upload form's policy carries the size limit
    (shown as ``max``, for the assertions)."""

    def write(self, key: str, data: bytes, content_type: str, cache_control: str) -> None:
        assert content_type == "image/jpeg" and "max-age" in cache_control
        super().write(key, data, content_type, cache_control)

    def presigned_post(
        self,
        key: str,
        content_type_prefix: str | None,
        min_bytes: int,
        max_bytes: int,
        expires_in: int,
    ) -> dict[str, Any]:
        assert content_type_prefix == "image/"
        post = super().presigned_post(key, content_type_prefix, min_bytes, max_bytes, expires_in)
        conditions = json.loads(base64.b64decode(post["fields"]["policy"]))["conditions"]
        ranges = [c for c in conditions if isinstance(c, list) and c[0] == "content-length-range"]
        ((_, _, limit),) = ranges
        return {"url": post["url"], "fields": {**post["fields"], "max": limit}}


@pytest.fixture
def world() -> tuple[
    ImageService, FakeImageRepository, FakeStore, list[tuple[str, dict[str, Any]]]
]:
    repo, store, published = FakeImageRepository(), FakeStore(), []
    service = ImageService(
        repo,
        store,
        lambda kind, d: published.append((kind, d)),
        product_exists=lambda sku: sku == SKU,
        limits=ImageLimits(max_bytes=200_000),
    )
    return service, repo, store, published


def slot(service: ImageService, store: FakeStore, data: bytes) -> tuple[str, str]:
    image_id = service.create_upload(SKU)["imageId"]
    key = f"uploads/{SKU}/{image_id}"
    store.objects[key] = data
    store.content_types[key] = "image/jpeg"  # what the browser's POST declares
    return image_id, key


def test_upload_slot_needs_an_existing_product_and_a_valid_sku(world: Any) -> None:
    service, repo, _, _ = world
    with pytest.raises(errors.NotFound):
        service.create_upload("OTHER")
    with pytest.raises(errors.InvalidInput):
        service.create_upload("bad sku!")
    made = service.create_upload(SKU)
    assert made["upload"]["fields"]["max"] == 200_000
    assert repo.items[made["imageId"]].status == ImageStatus.PENDING


def test_oversized_upload_fails_from_head_without_downloading(world: Any) -> None:
    service, repo, store, published = world
    image_id, key = slot(service, store, b"x" * 200_001)
    assert service.uploaded(key, "0A") == "failed"
    assert store.reads == []
    assert "too large" in (repo.items[image_id].reason or "")
    assert [k for k, _ in published] == ["ImageFailed"]


def test_processing_is_idempotent_per_sequencer_and_regenerates_on_overwrite(world: Any) -> None:
    service, repo, store, published = world
    image_id, key = slot(service, store, fx.photo_jpeg(600, 400))
    assert service.uploaded(key, "0A") == "ready"
    assert service.uploaded(key, "0A") == "duplicate"  # redelivery
    assert service.uploaded(key, "09") == "duplicate"  # an older event, late
    assert [k for k, _ in published] == ["ImageProcessed"]
    store.objects[key] = fx.photo_jpeg(300, 150)
    assert service.uploaded(key, "0B") == "ready"
    assert (repo.items[image_id].width, repo.items[image_id].height) == (300, 150)
    assert set(repo.items[image_id].thumbnailKeys) == {"200"}
    assert f"thumbnails/{SKU}/{image_id}/512.jpg" not in store.objects  # stale size removed


def test_a_failed_publish_is_retried_by_the_redelivery(world: Any) -> None:
    service, repo, store, published = world
    image_id, key = slot(service, store, fx.photo_jpeg(300, 200))
    calls = {"n": 0}

    def flaky(kind: str, detail: dict[str, Any]) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise errors.Transient("SNS hiccup")
        published.append((kind, detail))

    service.publish = flaky
    with pytest.raises(errors.Transient):
        service.uploaded(key, "0A")
    assert repo.items[image_id].status == ImageStatus.READY and not repo.items[image_id].published
    assert service.uploaded(key, "0A") == "duplicate"
    assert [k for k, _ in published] == ["ImageProcessed"] and repo.items[image_id].published
    assert service.uploaded(key, "0A") == "duplicate"
    assert len(published) == 1


def test_removal_deletes_derivatives_and_ignores_stale_events(world: Any) -> None:
    service, repo, store, _ = world
    image_id, key = slot(service, store, fx.photo_jpeg(600, 400))
    service.uploaded(key, "0A")
    assert service.removed(key, "09") == "stale"
    assert service.removed(key, "0B") == "deleted"
    assert not [k for k in store.objects if k.startswith("thumbnails/")]
    assert repo.items[image_id].deletedAt is not None
    assert service.list_ready(SKU) == []


def test_a_listing_by_status_keeps_that_status_and_all_is_every_image(world: Any) -> None:
    service, _, store, _ = world
    ticks = iter(range(60))
    service.clock = lambda: f"2026-01-01T00:00:{next(ticks):02d}Z"  # created in this order
    pending, _ = slot(service, store, fx.photo_jpeg(60, 40))
    ready, ready_key = slot(service, store, fx.photo_jpeg(60, 40))
    failed, failed_key = slot(service, store, b"this is not an image")
    removed, removed_key = slot(service, store, fx.photo_jpeg(60, 40))
    for key in (ready_key, failed_key, removed_key):
        service.uploaded(key, "0A")
    service.removed(removed_key, "0B")

    def ids(status: ImageStatus | None) -> list[str]:
        return [i.imageId for i in service.list_images(SKU, status)]

    assert ids(ImageStatus.PENDING) == [pending]
    assert ids(ImageStatus.READY) == [ready] == [i.imageId for i in service.list_ready(SKU)]
    assert ids(ImageStatus.FAILED) == [failed]
    assert ids(None) == [pending, ready, failed, removed]  # oldest first, removed too
    assert service.list_images(SKU, ImageStatus.FAILED)[0].reason
    assert service.list_images("OTHER-1", None) == []
    with pytest.raises(errors.InvalidInput):
        service.list_images("bad sku!", None)


@pytest.mark.parametrize("raw", ["PENDING", "READY", "FAILED", "ALL"])
def test_the_listing_statuses_parse(raw: str) -> None:
    assert parse_listing_status(raw) == (None if raw == "ALL" else ImageStatus(raw))


@pytest.mark.parametrize("raw", ["", "ready", "DELETED", "ALL ", "\u00c4"])
def test_an_unknown_listing_status_is_a_400_naming_status(raw: str) -> None:
    with pytest.raises(errors.InvalidInput) as refused:
        parse_listing_status(raw)
    assert refused.value.errors == [
        {"loc": ["query", "status"], "msg": "one of PENDING, READY, FAILED, ALL"}
    ]


def test_uploads_without_a_slot_or_outside_the_layout_are_ignored(world: Any) -> None:
    service, _, store, published = world
    store.objects[f"uploads/{SKU}/{'0' * 32}"] = b"x"
    assert service.uploaded(f"uploads/{SKU}/{'0' * 32}", "01") == "ignored"
    assert service.uploaded("uploads/../../etc/passwd", "01") == "ignored"
    image_id, _ = slot(service, store, b"x")
    assert service.uploaded(f"uploads/OTHER/{image_id}", "01") == "ignored"  # sku mismatch
    assert published == []


def test_public_view_hides_gps_and_admin_view_shows_it(world: Any) -> None:
    service, repo, store, _ = world
    image_id, key = slot(service, store, fx.photo_jpeg(600, 400, gps=(-33.8688, 151.2093)))
    service.uploaded(key, "0A")
    image = repo.items[image_id]
    assert service.view(image, admin=True)["exif"]["gps"]["lat"] == pytest.approx(-33.8688, 1e-4)
    public = service.view(image, admin=False)
    assert "gps" not in public["exif"] and "deletedAt" not in public
    assert public["thumbnails"]["200"].endswith("200.jpg?signed")
    assert "sequencer" not in public and "thumbnailKeys" not in public


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("0A", None, True),
        ("0B", "0A", True),
        ("0A", "0A", False),
        ("A", "0B", False),
        ("100", "FF", True),
    ],
)
def test_sequencers_compare_as_padded_hex(a: str, b: str | None, expected: bool) -> None:
    assert newer(a, b) is expected


@pytest.mark.parametrize("declared", ["text/html", "binary/octet-stream", ""])
def test_an_upload_not_declared_as_an_image_fails_without_downloading(
    world: Any, declared: str
) -> None:
    service, repo, store, _ = world
    image_id, key = slot(service, store, fx.photo_jpeg(300, 150))
    store.content_types[key] = declared
    assert service.uploaded(key, "0A") == "failed"
    shown = declared or "missing"
    assert repo.items[image_id].reason == f"content type {shown!r} is not an image type (image/...)"
    assert store.reads == []


def test_a_removal_publishes_image_removed_once(world: Any) -> None:
    service, _, store, published = world
    image_id, key = slot(service, store, fx.photo_jpeg(600, 400))
    service.uploaded(key, "0A")
    assert service.removed(key, "0B") == "deleted"
    assert service.removed(key, "0B") == "stale"  # redelivered: not again
    assert [k for k, _ in published] == ["ImageProcessed", "ImageRemoved"]
    ready, gone = (d for _, d in published)
    assert set(ready["thumbnailKeys"]) == {"512", "200"} and ready["imageId"] == image_id
    assert gone["thumbnailKeys"] == {} and gone["revision"] > ready["revision"] > ""


def test_slots_unused_for_24_hours_expire_and_refuse_a_late_upload(world: Any) -> None:
    from datetime import datetime, timedelta

    from tests.support.fakes import FakeAlerts

    service, repo, store, published = world
    service.alerts = alerts = FakeAlerts()
    old = service.create_upload(SKU)["imageId"]
    made = datetime.fromisoformat(repo.items[old].createdAt.replace("Z", "+00:00"))
    used, used_key = slot(service, store, fx.photo_jpeg(300, 200))
    service.uploaded(used_key, "0A")

    assert service.expire_slots(made + timedelta(hours=23)) == []  # not yet
    assert service.expire_slots(made + timedelta(hours=24, seconds=1)) == [old]
    assert service.expire_slots(made + timedelta(hours=25)) == []  # a second run: nothing
    assert repo.items[old].status == ImageStatus.FAILED
    assert (repo.items[old].reason or "").startswith("expired")
    assert repo.items[used].status == ImageStatus.READY
    assert [k for k, _ in published] == ["ImageProcessed", "ImageFailed"]
    assert alerts.kinds() == ["IMAGE_FAILED"] and old in alerts.alerts[0].subject

    late = f"uploads/{SKU}/{old}"
    store.objects[late] = fx.photo_jpeg(300, 200)
    store.content_types[late] = "image/jpeg"
    assert service.uploaded(late, "0C") == "expired"
    assert repo.items[old].status == ImageStatus.FAILED and not repo.items[old].thumbnailKeys


def test_an_upload_racing_the_expiry_wins(world: Any) -> None:
    from datetime import datetime, timedelta

    service, repo, store, _ = world
    image_id, key = slot(service, store, fx.photo_jpeg(300, 200))
    made = datetime.fromisoformat(repo.items[image_id].createdAt.replace("Z", "+00:00"))
    seen = repo.pending_before  # the sweep reads the slot, then the upload lands

    def read_then_upload(before: str, limit: int) -> Any:
        page = seen(before, limit)
        if page:
            service.uploaded(key, "0A")
        return page

    repo.pending_before = read_then_upload  # type: ignore[method-assign]
    assert service.expire_slots(made + timedelta(days=2)) == []
    assert repo.items[image_id].status == ImageStatus.READY


def test_the_slots_correlation_id_follows_its_upload_and_events(world: Any) -> None:
    from chalicelib.platform import correlation

    service, repo, store, published = world
    with correlation.use("t-upload-1"):
        image_id, key = slot(service, store, fx.photo_jpeg(300, 200))
    seen: list[tuple[str | None, dict[str, str]]] = []
    read = store.read

    def spy(k: str) -> bytes:
        seen.append((correlation.current(), dict(correlation.subject())))
        return bytes(read(k))

    store.read = spy  # type: ignore[method-assign]
    assert correlation.current() is None  # the S3 handler starts outside any flow
    service.uploaded(key, "0A")
    service.removed(key, "0B")
    assert seen == [("t-upload-1", {"image_id": image_id})]
    assert [d["correlationId"] for _, d in published] == ["t-upload-1", "t-upload-1"]
    assert "correlationId" not in service.view(repo.items[image_id], admin=True)
