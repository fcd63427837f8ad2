"""Bulk catalog imports through the app: the routes, and the EventBridge rule's
handler invoked with the event S3 sends to EventBridge for the uploaded file."""

from __future__ import annotations

from typing import Any

from tests.support.builders import IMPORT_HEADER, catalog_csv, unique
from tests.support.functional_shop import Shop


def bucket(shop: Shop) -> str:
    return shop.outputs["ImagesBucketName"]


def start(shop: Shop) -> dict[str, Any]:
    created = shop.call("POST", "/catalog/imports", headers=shop.admin())
    assert created.status_code == 201, created.body
    return dict(created.json_body)


def deliver(shop: Shop, key: str) -> None:
    """What EventBridge hands the handler for an "Object Created" event."""
    event = shop.client.events.generate_cw_event(
        "aws.s3",
        "Object Created",
        {"version": "0", "bucket": {"name": bucket(shop)}, "object": {"key": key, "size": 1}},
        [f"arn:aws:s3:::{bucket(shop)}"],
    )
    shop.client.lambda_.invoke("catalog_import", event)


def upload(shop: Shop, slot: dict[str, Any], data: bytes) -> str:
    key = str(slot["upload"]["fields"]["key"])
    shop.aws("s3").put_object(Bucket=bucket(shop), Key=key, Body=data)
    deliver(shop, key)
    return key


def status(shop: Shop, import_id: str) -> dict[str, Any]:
    got = shop.call("GET", f"/catalog/imports/{import_id}", headers=shop.admin())
    assert got.status_code == 200, got.body
    return dict(got.json_body)


def test_the_rule_takes_created_objects_under_imports_in_the_bucket(shop: Shop) -> None:
    (source,) = [s for s in shop.app.app.event_sources if s.name == "catalog_import"]
    assert source.event_pattern == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [bucket(shop)]},
            "object": {"key": [{"prefix": "imports/"}]},
        },
    }


def test_an_import_applies_its_file_once_and_reports_by_line(shop: Shop) -> None:
    prefix = unique("imp")
    data, skus, expected = catalog_csv(prefix, 40)
    slot = start(shop)
    assert status(shop, slot["importId"])["status"] == "PENDING"
    assert set(slot["upload"]) == {"url", "fields", "expiresAt"}
    key = upload(shop, slot, data)
    done = status(shop, slot["importId"])
    assert (done["status"], done["created"], done["updated"], done["reason"]) == (
        "DONE",
        40,
        0,
        None,
    )
    assert [e["line"] for e in done["errors"]] == sorted(expected)
    assert done["errorCount"] == 7
    product = shop.call("GET", f"/products/{skus[5]}").json_body
    assert (product["name"], product["priceCents"], product["stock"]) == (
        "Product 5, imported",
        105,
        5,
    )
    deliver(shop, key)  # EventBridge delivers at least once
    assert status(shop, slot["importId"]) == done

    again = start(shop)
    upload(shop, again, data)
    assert (
        status(shop, again["importId"])["created"],
        status(shop, again["importId"])["updated"],
    ) == (0, 40)


def test_an_existing_products_stock_is_not_the_files_to_set(shop: Shop) -> None:
    sku = shop.put_product(stock=7)["sku"]
    slot = start(shop)
    upload(shop, slot, f"{IMPORT_HEADER}\n{sku},Renamed,4321,999,2\n".encode())
    assert status(shop, slot["importId"])["updated"] == 1
    product = shop.call("GET", f"/products/{sku}").json_body
    assert (product["name"], product["priceCents"], product["stock"]) == ("Renamed", 4321, 7)


def test_a_png_named_csv_ends_failed_and_a_bad_header_too(shop: Shop) -> None:
    png = start(shop)
    upload(shop, png, b"\x89PNG\r\n\x1a\n" + bytes(200))
    failed = status(shop, png["importId"])
    assert failed["status"] == "FAILED" and "not UTF-8" in failed["reason"]
    header = start(shop)
    upload(shop, header, b"sku;name;priceCents;stock;lowStockThreshold\nA;B;1;1;1\n")
    failed = status(shop, header["importId"])
    assert failed["status"] == "FAILED" and failed["reason"].startswith("the header must be")


def test_objects_that_are_no_imports_file_change_nothing(shop: Shop) -> None:
    s3 = shop.aws("s3")
    for key in ("imports/notes.csv", f"imports/{'b' * 32}.csv"):
        s3.put_object(Bucket=bucket(shop), Key=key, Body=f"{IMPORT_HEADER}\n".encode())
        deliver(shop, key)  # no record to fill, and nothing raised


def test_an_unknown_or_malformed_import_id_is_a_404(shop: Shop) -> None:
    for import_id in ("f" * 32, "not-an-import", "A" * 32):
        got = shop.call("GET", f"/catalog/imports/{import_id}", headers=shop.admin())
        assert got.status_code == 404, got.body
        assert got.json_body["Code"] == "NotFoundError"
