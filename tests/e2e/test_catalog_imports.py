"""Bulk catalog imports end to end: the presigned POST into the running stack,
S3's "Object Created" event on EventBridge, the catalog_import rule, and the
import record. The drill: 500 good rows and 7 bad ones, the same file again,
the same file delivered twice, and a PNG named .csv."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from devstack.testing import RunningStack
from tests.support.builders import catalog_csv
from tests.support.e2e_shop import Shop
from tests.support.images import photo_jpeg


@pytest.fixture(scope="module")
def shop(app_stack: RunningStack) -> Shop:
    return Shop(app_stack)


def upload(shop: Shop, data: bytes, filename: str = "catalog.csv") -> dict[str, Any]:
    r = shop.http.post(f"{shop.api}/catalog/imports", headers=shop.admin, timeout=30)
    assert r.status_code == 201, r.text
    slot = dict(r.json())
    form = requests.post(
        slot["upload"]["url"],
        data=slot["upload"]["fields"],
        files={"file": (filename, data, "text/csv")},
        timeout=60,
    )
    assert form.status_code in (200, 201, 204), form.text
    return slot


def record(shop: Shop, import_id: str) -> dict[str, Any]:
    r = shop.http.get(f"{shop.api}/catalog/imports/{import_id}", headers=shop.admin, timeout=30)
    assert r.status_code == 200, r.text
    return dict(r.json())


def product(shop: Shop, sku: str) -> dict[str, Any]:
    r = shop.http.get(f"{shop.api}/products/{sku}", timeout=30)
    assert r.status_code == 200, (sku, r.text)
    return dict(r.json())


def test_500_good_rows_and_7_bad_ones_then_the_same_file_again(shop: Shop) -> None:
    prefix = f"IMP-{uuid.uuid4().hex[:8]}"
    data, skus, expected = catalog_csv(prefix, 500)
    first = upload(shop, data)
    assert record(shop, first["importId"])["status"] == "PENDING"
    shop.stack.drain(timeout=120)
    done = record(shop, first["importId"])
    assert (done["status"], done["created"], done["updated"], done["reason"]) == (
        "DONE",
        500,
        0,
        None,
    )
    assert [e["line"] for e in done["errors"]] == sorted(expected), done["errors"]
    for error in done["errors"]:
        assert expected[error["line"]] in error["message"], error
    assert done["errorCount"] == 7
    for i in (0, 137, 499):
        got = product(shop, skus[i])
        assert (got["name"], got["priceCents"], got["stock"], got["lowStockThreshold"]) == (
            f"Product {i}, imported",
            100 + i,
            i % 50,
            i % 7,
        )
    versions = {sku: product(shop, sku)["version"] for sku in skus[:20]}

    # S3 tells EventBridge again (the same file written to the same key):
    # the import is DONE, so nothing changes.
    s3 = shop.stack.client("s3")
    bucket = s3.list_buckets()["Buckets"]
    (images_bucket,) = [b["Name"] for b in bucket if "-images-" in b["Name"]]
    s3.put_object(Bucket=images_bucket, Key=first["upload"]["fields"]["key"], Body=data)
    shop.stack.drain(timeout=60)
    assert record(shop, first["importId"]) == done
    assert {sku: product(shop, sku)["version"] for sku in skus[:20]} == versions

    again = upload(shop, data)
    shop.stack.drain(timeout=120)
    second = record(shop, again["importId"])
    assert (second["status"], second["created"], second["updated"], second["errorCount"]) == (
        "DONE",
        0,
        500,
        7,
    )
    # The stock column is for new products: an existing one keeps its stock.
    assert product(shop, skus[137])["stock"] == 137 % 50

    rules = {r["name"]: r for r in shop.stack.control.status()["rules"]}
    (rule,) = [r for name, r in rules.items() if name.endswith("-catalog_import")]
    assert rule["eventPattern"]["detail"]["object"]["key"] == [{"prefix": "imports/"}]
    assert rule["matched"] >= 3


def test_a_png_named_csv_ends_failed(shop: Shop) -> None:
    jpeg = upload(shop, photo_jpeg(64, 48), filename="catalog.csv")
    png = upload(shop, b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, filename="catalog.csv")
    shop.stack.drain(timeout=60)
    for import_id in (jpeg["importId"], png["importId"]):
        failed = record(shop, import_id)
        assert failed["status"] == "FAILED", failed
        assert failed["reason"].startswith("not a CSV file"), failed
        assert (failed["created"], failed["updated"], failed["errors"]) == (0, 0, [])
