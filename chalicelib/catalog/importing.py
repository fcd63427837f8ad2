"""Bulk catalog imports: the CSV format, how a file is read into rows and
errors, and the import record. Standard library and pydantic only.

A file is UTF-8 (a byte-order mark is allowed, as spreadsheets write one),
at most ``MAX_BYTES`` and ``MAX_ROWS`` rows under a header naming exactly the
columns of ``HEADER`` (in any order). Each row is validated with the model of
``PUT /products/{sku}`` (``ProductInput``) and the sku rule; a bad row is
reported with the line a spreadsheet shows (the header is line 1) and never
stops the good ones. A file that is not UTF-8 text, has the wrong header or
is too large is refused whole (``ImportRefused``).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.catalog.model import ProductInput
from chalicelib.platform import errors
from chalicelib.platform.types import check_sku

HEADER = ("sku", "name", "priceCents", "stock", "lowStockThreshold")
MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 10_000
# A row longer than this is refused unread: no field of a valid row comes near
# (a name is at most 200 characters, a sku 64).
MAX_ROW_CHARS = 2048
# The record keeps the first errors (an item holds at most 400 KB);
# ``errorCount`` counts them all.
MAX_REPORTED_ERRORS = 500
_INTEGER = re.compile(r"^[+-]?[0-9]+$")
_INTEGER_COLUMNS = ("priceCents", "stock", "lowStockThreshold")
_IMPORT_ID = re.compile(r"^[0-9a-f]{32}$")
KEY_PREFIX = "imports/"


class ImportStatus(StrEnum):
    PENDING = "PENDING"  # the upload form is out, or the file is being applied
    DONE = "DONE"  # every row applied or reported
    FAILED = "FAILED"  # the file was refused whole (``reason``)


class RowError(BaseModel):
    model_config = ConfigDict(frozen=True)

    line: int = Field(description="the line a spreadsheet shows; the header is line 1")
    message: str


class ImportRecord(BaseModel):
    """One import: its upload slot, then what applying the file did."""

    model_config = ConfigDict(frozen=True)

    importId: str  # noqa: N815
    status: ImportStatus
    createdAt: str  # noqa: N815
    updatedAt: str  # noqa: N815
    uploadExpiresAt: str  # noqa: N815
    created: int = 0
    updated: int = 0
    errors: list[RowError] = Field(default_factory=list)
    errorCount: int = 0  # noqa: N815
    reason: str | None = None
    correlationId: str | None = None  # noqa: N815
    # Processing: attempts started, and the last one's error if it raised.
    attempts: int = 0
    lastError: str | None = None  # noqa: N815


class ImportView(BaseModel):
    """``GET /catalog/imports/{importId}``."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    importId: str  # noqa: N815
    status: ImportStatus
    created: int = Field(description="products created by the file")
    updated: int = Field(description="existing products whose name, price and threshold it set")
    errors: list[RowError] = Field(
        description=f"the rows not applied, by line (the first {MAX_REPORTED_ERRORS})"
    )
    errorCount: int = Field(description="every row not applied")  # noqa: N815
    reason: str | None = Field(description="why the file was refused whole (FAILED)")
    createdAt: str  # noqa: N815
    updatedAt: str  # noqa: N815


class ImportRefused(errors.DomainError):
    """The file is refused whole; the message is the record's ``reason``."""


@dataclass(frozen=True)
class ImportRow:
    line: int
    sku: str
    product: ProductInput


@dataclass
class ParsedFile:
    rows: list[ImportRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def import_key(import_id: str) -> str:
    return f"{KEY_PREFIX}{import_id}.csv"


def import_id_of(key: str) -> str | None:
    """The import an object key belongs to, or None if it is no import's."""
    if not key.startswith(KEY_PREFIX) or not key.endswith(".csv"):
        return None
    candidate = key[len(KEY_PREFIX) : -len(".csv")]
    return candidate if _IMPORT_ID.match(candidate) else None


def valid_import_id(import_id: str) -> bool:
    return bool(_IMPORT_ID.match(import_id))


def check_size(size: int) -> None:
    if size > MAX_BYTES:
        raise ImportRefused(f"the file is {size} bytes; an import is at most {MAX_BYTES} bytes")


def parse(data: bytes) -> ParsedFile:
    """The file's valid rows and its bad ones; ImportRefused if it is not a
    catalog CSV at all."""
    check_size(len(data))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRefused(
            f"not a CSV file: it is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start})"
        ) from None
    if "\x00" in text:
        raise ImportRefused("not a CSV file: it contains NUL characters")
    records = csv.reader(io.StringIO(text, newline=""), strict=True)
    columns = _header(records)
    parsed = ParsedFile()
    first_line: dict[str, int] = {}
    line = 1
    while True:
        line += 1
        try:
            record = next(records)
        except StopIteration:
            break
        except csv.Error as exc:  # an unclosed quote or a field over csv's own limit
            parsed.errors.append(RowError(line=line, message=f"not a CSV row: {exc}"))
            continue
        if line - 1 > MAX_ROWS:
            raise ImportRefused(f"the file has more than {MAX_ROWS} rows")
        row = _row(line, record, columns, first_line)
        if isinstance(row, RowError):
            parsed.errors.append(row)
        else:
            first_line[row.sku] = line
            parsed.rows.append(row)
    return parsed


def _header(records: Any) -> dict[str, int]:
    try:
        names = [name.strip() for name in next(records)]
    except StopIteration:
        raise ImportRefused("the file is empty: the first line must be the header") from None
    except csv.Error as exc:
        raise ImportRefused(f"not a CSV file: {exc}") from None
    expected = ",".join(HEADER)
    shown = ",".join(names)[:200]
    if sorted(names) != sorted(HEADER):
        missing = [n for n in HEADER if n not in names]
        unknown = [n for n in names if n not in HEADER]
        what = "; ".join(
            part
            for part in (
                f"missing {', '.join(missing)}" if missing else "",
                f"unknown {', '.join(unknown)[:100]}" if unknown else "",
                "a column named twice" if not missing and not unknown else "",
            )
            if part
        )
        raise ImportRefused(f"the header must be {expected} (any order); found {shown}: {what}")
    return {name: index for index, name in enumerate(names)}


def _row(
    line: int, record: list[str], columns: dict[str, int], first_line: dict[str, int]
) -> ImportRow | RowError:
    def error(message: str) -> RowError:
        return RowError(line=line, message=message)

    length = sum(len(value) for value in record) + max(len(record) - 1, 0)
    if length > MAX_ROW_CHARS:
        return error(f"the row is {length} characters long; at most {MAX_ROW_CHARS}")
    if not any(value.strip() for value in record):
        return error("the line is empty")
    if len(record) != len(HEADER):
        return error(f"expected {len(HEADER)} columns ({','.join(HEADER)}), found {len(record)}")
    values = {name: record[index].strip() for name, index in columns.items()}
    sku = values.pop("sku")
    try:
        check_sku(sku)
    except errors.InvalidInput as exc:
        return error(str(exc))
    if sku in first_line:
        return error(f"sku {sku} appears again: it is first on line {first_line[sku]}")
    body: dict[str, Any] = {"name": values["name"]}
    for name in _INTEGER_COLUMNS:
        value = values[name]
        if value == "":
            continue  # left out: the model's default, or "required"
        body[name] = int(value) if _INTEGER.match(value) else value
    try:
        product = ProductInput.model_validate(body)
    except ValidationError as exc:
        return error(_messages(exc))
    return ImportRow(line=line, sku=sku, product=product)


def _messages(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in e["loc"]) or "row"
        parts.append(f"{where}: {e['msg']}")
    return "; ".join(parts)[:300]
