"""The catalog hears the images: the newest READY image is the product's,
whatever order or number of times the events arrive."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from chalicelib.catalog.service import CatalogService
from tests.support.fakes import FakeAlerts, FakeCatalogRepository

SKU = "MUG-1"


def event(kind: str, image_id: str, revision: str, at: str, **extra: Any) -> dict[str, Any]:
    keys = {"512": f"thumbnails/{SKU}/{image_id}/512.jpg"} if kind == "ImageProcessed" else {}
    return {
        "type": kind,
        "imageId": image_id,
        "sku": SKU,
        "revision": revision,
        "at": at,
        "thumbnailKeys": keys,
        **extra,
    }


@pytest.fixture
def catalog() -> CatalogService:
    service = CatalogService(
        FakeCatalogRepository(), FakeAlerts(), thumbnail_url=lambda key: f"https://cdn/{key}"
    )
    service.put_product(SKU, {"name": "Mug", "priceCents": 900, "stock": 5})
    return service


def image_of(catalog: CatalogService) -> str | None:
    image = catalog.get(SKU).image
    return image.imageId if image else None


A_READY = event("ImageProcessed", "a", "01", "2026-01-01T00:00:00.000Z")
B_READY = event("ImageProcessed", "b", "01", "2026-01-02T00:00:00.000Z")
B_GONE = event("ImageRemoved", "b", "02", "2026-01-03T00:00:00.000Z")


def test_null_until_ready_then_the_newest_ready_image_with_urls(catalog: CatalogService) -> None:
    assert catalog.view(catalog.get(SKU))["image"] is None
    assert catalog.hear_image(A_READY) == "ready"
    assert catalog.hear_image(B_READY) == "ready"
    assert catalog.view(catalog.get(SKU))["image"] == {
        "imageId": "b",
        "thumbnails": {"512": f"https://cdn/thumbnails/{SKU}/b/512.jpg"},
    }


def test_removing_the_primary_falls_back_to_the_next_ready_one(catalog: CatalogService) -> None:
    for e in (A_READY, B_READY, B_GONE):
        catalog.hear_image(e)
    assert image_of(catalog) == "a"
    catalog.hear_image(event("ImageRemoved", "a", "02", "2026-01-04T00:00:00.000Z"))
    assert image_of(catalog) is None


@pytest.mark.parametrize("order", list(itertools.permutations([A_READY, B_READY, B_GONE])))
def test_any_order_and_any_redelivery_ends_the_same(
    catalog: CatalogService, order: tuple[dict[str, Any], ...]
) -> None:
    for e in order + order:  # every event twice
        catalog.hear_image(e)
    assert image_of(catalog) == "a"


def test_a_redelivered_ready_never_brings_back_a_removed_image(catalog: CatalogService) -> None:
    catalog.hear_image(B_READY)
    catalog.hear_image(B_GONE)
    assert catalog.hear_image(B_READY) == "stale"
    assert image_of(catalog) is None


def test_a_failed_reupload_takes_the_image_away_and_a_new_upload_brings_it_back(
    catalog: CatalogService,
) -> None:
    catalog.hear_image(A_READY)
    catalog.hear_image(event("ImageFailed", "a", "02", "2026-01-02T00:00:00.000Z"))
    assert image_of(catalog) is None
    catalog.hear_image(event("ImageProcessed", "a", "03", "2026-01-03T00:00:00.000Z"))
    assert image_of(catalog) == "a"


def test_every_change_of_the_image_is_a_new_product_version(catalog: CatalogService) -> None:
    before = catalog.get(SKU).version
    catalog.hear_image(A_READY)
    catalog.hear_image(A_READY)  # a duplicate changes nothing
    assert catalog.get(SKU).version == before + 1


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"type": "ImageProcessed"},
        {**A_READY, "sku": "not a sku!"},
        {**A_READY, "type": "Unknown"},
        {**A_READY, "thumbnailKeys": ["not", "a", "map"]},
    ],
)
def test_what_is_not_an_image_event_is_ignored(catalog: CatalogService, bad: Any) -> None:
    assert catalog.hear_image(bad) == "ignored"
    assert image_of(catalog) is None


def test_an_event_for_an_unknown_product_changes_nothing(catalog: CatalogService) -> None:
    assert catalog.hear_image({**A_READY, "sku": "OTHER-1"}) == "no product"


def test_a_product_that_keeps_changing_is_retried_then_left_to_redelivery() -> None:
    from chalicelib.platform import errors

    repo = FakeCatalogRepository()
    catalog = CatalogService(repo, FakeAlerts())
    catalog.put_product(SKU, {"name": "Mug", "priceCents": 900, "stock": 5})
    repo.set_images = lambda *a, **k: False  # type: ignore[method-assign]
    with pytest.raises(errors.Transient):
        catalog.hear_image(A_READY)
