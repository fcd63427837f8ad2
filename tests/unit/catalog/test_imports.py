"""ImportService over the in-memory book, catalog and object store."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from chalicelib.catalog import importing
from chalicelib.catalog.imports import ImportService
from chalicelib.catalog.model import Product
from chalicelib.platform import errors
from tests.support.builders import IMPORT_HEADER, catalog_csv
from tests.support.fakes import FakeCatalogRepository, FakeImportBook, FakeObjectStore


class Clock:
    def __init__(self) -> None:
        self.now = "2026-03-01T10:00:00.000Z"

    def __call__(self) -> str:
        return self.now


class Flaky(FakeCatalogRepository):
    """Fails the ``fail_at``-th batch read once (before any write of it)."""

    def __init__(self) -> None:
        super().__init__()
        self.batches = 0
        self.fail_at: int | None = None
        self.writes = 0

    def get_many(self, skus: list[str]) -> dict[str, Product]:
        self.batches += 1
        if self.batches == self.fail_at:
            self.fail_at = None
            raise errors.Transient("throttled")
        return super().get_many(skus)

    def create(self, product: Product) -> Product | None:
        self.writes += 1
        return super().create(product)

    def update_details(self, *args: Any, **kwargs: Any) -> Product:
        self.writes += 1
        return super().update_details(*args, **kwargs)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def world(clock: Clock) -> tuple[ImportService, FakeImportBook, Flaky, FakeObjectStore]:
    book, products, files = FakeImportBook(), Flaky(), FakeObjectStore()
    return ImportService(book, products, files, clock=clock), book, products, files


def upload(files: FakeObjectStore, slot: dict[str, Any], data: bytes) -> str:
    key = str(slot["upload"]["fields"]["key"])
    files.objects[key] = data
    return key


def test_a_slot_is_a_pending_import_and_a_form_for_one_csv_file(world: Any) -> None:
    service, _, _, _ = world
    slot = service.create()
    record = service.get(slot["importId"])
    assert record.status == importing.ImportStatus.PENDING
    assert slot["upload"]["fields"]["key"] == f"imports/{slot['importId']}.csv"
    policy = json.loads(base64.b64decode(slot["upload"]["fields"]["policy"]))
    assert ["content-length-range", 1, importing.MAX_BYTES] in policy["conditions"]
    assert slot["upload"]["expiresAt"] == "2026-03-01T10:15:00.000Z"
    assert service.view(record) == {
        "importId": slot["importId"],
        "status": "PENDING",
        "created": 0,
        "updated": 0,
        "errors": [],
        "errorCount": 0,
        "reason": None,
        "createdAt": "2026-03-01T10:00:00.000Z",
        "updatedAt": "2026-03-01T10:00:00.000Z",
    }


def test_the_drill_file_creates_its_products_reports_its_bad_rows_and_counts_once(
    world: Any,
) -> None:
    service, _, products, files = world
    data, skus, expected = catalog_csv("SKU", 500)
    slot = service.create()
    key = upload(files, slot, data)
    assert service.uploaded(key) == "done"
    record = service.get(slot["importId"])
    assert (record.status, record.created, record.updated) == ("DONE", 500, 0)
    assert [e.line for e in record.errors] == sorted(expected) and record.errorCount == 7
    first = products.get(skus[1])
    assert first is not None
    assert (first.name, first.priceCents, first.stock, first.lowStockThreshold) == (
        "Product 1, imported",
        101,
        1,
        1,
    )
    writes = products.writes
    assert service.uploaded(key) == "duplicate"  # the same file delivered again
    assert products.writes == writes and service.get(slot["importId"]) == record


def test_a_second_import_updates_details_and_never_the_stock_of_existing_products(
    world: Any,
) -> None:
    service, _, products, files = world
    data, skus, _ = catalog_csv("SKU", 500)
    service.uploaded(upload(files, service.create(), data))
    products.adjust_stock(skus[3], 40, "2026-03-01T10:01:00.000Z", _change())
    again = service.create()
    service.uploaded(upload(files, again, data))
    record = service.get(again["importId"])
    assert (record.status, record.created, record.updated, record.errorCount) == ("DONE", 0, 500, 7)
    changed = upload(
        files, third := service.create(), f"{IMPORT_HEADER}\n{skus[3]},Renamed,999,0,9\n".encode()
    )
    service.uploaded(changed)
    assert service.get(third["importId"]).updated == 1
    product = products.get(skus[3])
    assert product is not None
    assert (product.name, product.priceCents, product.lowStockThreshold) == ("Renamed", 999, 9)
    assert product.stock == 3 + 40  # the file's stock column is for new products only


def _change() -> Any:
    from chalicelib.catalog.ports import StockChange

    return StockChange("count", "ops")


def test_a_new_product_without_stock_is_a_bad_row(world: Any) -> None:
    service, _, products, files = world
    slot = service.create()
    service.uploaded(
        upload(files, slot, f"{IMPORT_HEADER}\nA-1,Mug,5,,0\nA-2,Cup,5,1,0\n".encode())
    )
    record = service.get(slot["importId"])
    assert (record.created, [(e.line, e.message) for e in record.errors]) == (
        1,
        [(2, "stock: required to create a product")],
    )
    assert products.get("A-1") is None


def test_a_file_that_is_no_catalog_csv_ends_failed_with_its_reason(world: Any) -> None:
    service, _, _, files = world
    slot = service.create()
    key = upload(files, slot, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert service.uploaded(key) == "failed"
    record = service.get(slot["importId"])
    assert record.status == "FAILED" and "not UTF-8" in str(record.reason)
    assert service.uploaded(key) == "duplicate"


def test_an_attempt_that_fails_half_way_is_resumed_not_redone(world: Any) -> None:
    service, _, products, files = world
    data, _, _ = catalog_csv("SKU", 500)
    slot = service.create()
    key = upload(files, slot, data)
    products.fail_at = 3  # the third batch of 100
    with pytest.raises(errors.Transient):
        service.uploaded(key)
    halfway = service.get(slot["importId"])
    assert (halfway.status, halfway.created, halfway.attempts) == ("PENDING", 200, 1)
    assert halfway.lastError == "Transient: throttled"
    assert service.uploaded(key) == "done"
    record = service.get(slot["importId"])
    assert (record.created, record.updated, record.errorCount, record.attempts) == (500, 0, 7, 2)
    assert products.writes == 500


def test_a_delivery_while_another_applies_the_file_leaves_it_alone(
    world: Any, clock: Clock
) -> None:
    service, book, _, files = world
    slot = service.create()
    key = upload(files, slot, f"{IMPORT_HEADER}\nA-1,Mug,5,1,0\n".encode())
    assert book.claim(slot["importId"], "other", clock.now, "2026-03-01T10:05:00.000Z")
    assert service.uploaded(key) == "busy"
    clock.now = "2026-03-01T10:06:00.000Z"  # the other delivery's lease ran out
    assert service.uploaded(key) == "done"


def test_a_pending_import_long_past_its_form_is_failed_when_read(world: Any, clock: Clock) -> None:
    service, _, _, files = world
    never, crashed = service.create(), service.create()
    key = upload(files, crashed, f"{IMPORT_HEADER}\nA-1,Mug,5,1,0\n".encode())
    service.book.claim(crashed["importId"], "lost", clock.now, "2026-03-01T10:05:00.000Z")
    clock.now = "2026-03-01T11:15:00.000Z"  # the form expired at 10:15: not yet stale
    assert service.get(never["importId"]).status == "PENDING"
    clock.now = "2026-03-01T11:16:00.000Z"
    gone = service.get(never["importId"])
    assert gone.status == "FAILED"
    assert (
        gone.reason == "no file arrived before the upload form expired at 2026-03-01T10:15:00.000Z"
    )
    died = service.get(crashed["importId"])
    assert (
        died.reason == "the file could not be applied in 1 attempt(s): the attempt did not finish"
    )
    assert service.uploaded(key) == "duplicate"  # a very late delivery changes nothing


@pytest.mark.parametrize(
    "key", ["uploads/SKU-1/x.jpg", "imports/not-an-id.csv", f"imports/{'a' * 32}.csv"]
)
def test_objects_that_are_no_imports_file_are_ignored(world: Any, key: str) -> None:
    service, _, _, files = world
    files.objects[key] = b"x"
    assert service.uploaded(key) == "ignored"


@pytest.mark.parametrize("import_id", ["a" * 32, "nope", "../../x"])
def test_an_unknown_import_is_not_found(world: Any, import_id: str) -> None:
    with pytest.raises(errors.NotFound):
        world[0].get(import_id)
