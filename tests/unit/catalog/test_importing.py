"""Reading a catalog import file: rows, bad rows by spreadsheet line, refusals."""

from __future__ import annotations

import pytest

from chalicelib.catalog import importing
from chalicelib.catalog.importing import ImportRefused
from tests.support.builders import IMPORT_HEADER, catalog_csv


def parse(*lines: str) -> importing.ParsedFile:
    return importing.parse(("\n".join(lines) + "\n").encode())


def test_the_drill_file_gives_its_good_rows_and_exactly_its_seven_bad_ones() -> None:
    data, skus, expected = catalog_csv("SKU", 500)
    parsed = importing.parse(data)
    assert [row.sku for row in parsed.rows] == skus
    assert [e.line for e in parsed.errors] == sorted(expected)
    for error in parsed.errors:
        assert expected[error.line] in error.message, error
    assert all(len(e.message) <= 300 for e in parsed.errors)


def test_a_row_is_validated_as_put_products_validates_a_body() -> None:
    parsed = parse(
        IMPORT_HEADER,
        "A-1,Mug,500,10,2",
        "A-2,Cup,0,0,",  # threshold left out: 0, as in a PUT
        "A-3,Pot,100,,1",  # stock left out: fine for an existing product
        "A-4,,100,1,0",  # no name
        "A-5,Big,100000001,1,0",  # above the price limit
        "A-6,Many,100,1000000001,0",  # above MAX_STOCK
        "A-7,Plus,+5,1,0",
        "A-8,Float,5.0,1,0",
        "A-9,No price,,1,0",
    )
    rows = {row.sku: row.product for row in parsed.rows}
    assert rows["A-1"].model_dump() == {
        "name": "Mug",
        "priceCents": 500,
        "stock": 10,
        "lowStockThreshold": 2,
    }
    assert rows["A-2"].lowStockThreshold == 0 and rows["A-3"].stock is None
    assert rows["A-7"].priceCents == 5
    errors = {e.line: e.message for e in parsed.errors}
    assert sorted(errors) == [5, 6, 7, 9, 10]
    assert errors[5].startswith("name:")
    assert errors[6].startswith("priceCents:") and errors[7].startswith("stock:")
    assert "valid integer" in errors[9] and "Field required" in errors[10]


def test_lines_count_records_as_a_spreadsheet_does() -> None:
    parsed = parse(IMPORT_HEADER, 'A-1,"Two\nlines",1,1,0', "A-2,-,x,1,0")
    assert [row.sku for row in parsed.rows] == ["A-1"]
    assert parsed.rows[0].product.name == "Two\nlines"
    assert [e.line for e in parsed.errors] == [3]


def test_columns_may_come_in_any_order_and_a_bom_is_allowed() -> None:
    data = "\ufefflowStockThreshold,stock,priceCents,name,sku\n3,4,500,Mug,A-1\n".encode()
    (row,) = importing.parse(data).rows
    assert (row.sku, row.product.stock, row.product.lowStockThreshold) == ("A-1", 4, 3)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "not UTF-8"),
        (b"sku,name\x00,priceCents,stock,lowStockThreshold\n", "NUL"),
        (b"", "empty"),
        (b"sku,name,price,stock,lowStockThreshold\nA,B,1,1,1\n", "missing priceCents"),
        (b"sku,name,priceCents,stock\n", "missing lowStockThreshold"),
        (b"sku,sku,name,priceCents,stock\n", "missing lowStockThreshold"),
        (b"sku,name,priceCents,stock,lowStockThreshold,colour\n", "unknown colour"),
        (b"x" * (importing.MAX_BYTES + 1), "at most 5242880 bytes"),
    ],
)
def test_a_file_that_is_no_catalog_csv_is_refused_whole(data: bytes, reason: str) -> None:
    with pytest.raises(ImportRefused, match=reason):
        importing.parse(data)


def test_more_than_the_row_limit_is_refused_and_the_limit_itself_is_not() -> None:
    rows = [f"A-{i},Name,1,1,0" for i in range(importing.MAX_ROWS)]
    assert len(parse(IMPORT_HEADER, *rows).rows) == importing.MAX_ROWS
    with pytest.raises(ImportRefused, match="more than 10000 rows"):
        parse(IMPORT_HEADER, *rows, "B-1,Name,1,1,0")


def test_an_unclosed_quote_is_a_bad_row_not_a_crash() -> None:
    parsed = parse(IMPORT_HEADER, "A-1,Mug,1,1,0", 'A-2,"Unclosed,1,1,0')
    assert [row.sku for row in parsed.rows] == ["A-1"]
    assert [e.line for e in parsed.errors] == [3]
    assert parsed.errors[0].message.startswith("not a CSV row")


def test_import_keys_name_their_import_and_nothing_else() -> None:
    import_id = "0123456789abcdef0123456789abcdef"
    assert importing.import_id_of(importing.import_key(import_id)) == import_id
    for key in ("imports/x.csv", f"imports/{import_id}.txt", f"uploads/{import_id}.csv"):
        assert importing.import_id_of(key) is None
