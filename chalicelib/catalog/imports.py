"""Bulk catalog imports: an upload slot for a CSV file, then applying the file
when S3 says it arrived (through an EventBridge rule), once per file however
often that is delivered. The repositories and the object store come in as
parameters (no boto3, no chalice here).

Applying: the file's valid rows in batches of ``BATCH_ROWS``, each batch's
products read in one call, then written ``WRITERS`` at a time: a new sku is
created with its stock, an existing one gets its name, price and threshold
(never its stock: that moves by reservations, restocks and adjustments only).
After each batch the record keeps how far it got, so an attempt that dies
half-way is resumed by the next one, not redone.
"""

from __future__ import annotations

import contextvars
import dataclasses
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from chalicelib.catalog import importing
from chalicelib.catalog.importing import (
    ImportRecord,
    ImportRefused,
    ImportRow,
    ImportStatus,
    RowError,
)
from chalicelib.catalog.model import Product, ProductDetails
from chalicelib.catalog.ports import CatalogRepository, ImportBook, ImportClaim, ImportProgress
from chalicelib.platform import correlation, errors
from chalicelib.platform.clock import iso, now_iso
from chalicelib.platform.metrics import MetricSink, NoMetrics
from chalicelib.platform.objects import ObjectStore

log = logging.getLogger("eventshop.catalog.imports")

BATCH_ROWS = 100
WRITERS = 8
UPLOAD_EXPIRES_SECONDS = 900
# A PENDING import this long after its form expired, and not being applied,
# is FAILED when next read: its file never came, or every attempt failed.
# (S3 refuses the form after it expires; processing starts within minutes.)
STALE_AFTER = timedelta(hours=1)
# An attempt's lease when the caller cannot say how long it may run.
DEFAULT_LEASE = timedelta(minutes=15)


def _parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class ImportService:
    def __init__(
        self,
        book: ImportBook,
        products: CatalogRepository,
        files: ObjectStore,
        clock: Callable[[], str] = now_iso,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        metrics: MetricSink | None = None,
    ) -> None:
        self.book = book
        self.products = products
        self.files = files
        self.clock = clock
        self.new_id = new_id
        self.metrics: MetricSink = metrics or NoMetrics()

    # --- API -------------------------------------------------------------
    def create(self) -> dict[str, Any]:
        """A new PENDING import and the form that uploads its file."""
        import_id, now = self.new_id(), self.clock()
        expires_at = iso(_parse_iso(now) + timedelta(seconds=UPLOAD_EXPIRES_SECONDS))
        self.book.create(
            ImportRecord(
                importId=import_id,
                status=ImportStatus.PENDING,
                createdAt=now,
                updatedAt=now,
                uploadExpiresAt=expires_at,
                correlationId=correlation.current(),
            )
        )
        post = self.files.presigned_post(
            importing.import_key(import_id), None, 1, importing.MAX_BYTES, UPLOAD_EXPIRES_SECONDS
        )
        log.info("import %s: upload form issued, expires %s", import_id, expires_at)
        return {
            "importId": import_id,
            "upload": {"url": post["url"], "fields": post["fields"], "expiresAt": expires_at},
        }

    def get(self, import_id: str) -> ImportRecord:
        record = self.book.get(import_id) if importing.valid_import_id(import_id) else None
        if record is None:
            raise errors.NotFound(f"import {import_id} not found")
        if record.status == ImportStatus.PENDING:
            now = self.clock()
            if _parse_iso(now) > _parse_iso(record.uploadExpiresAt) + STALE_AFTER:
                expired = self.book.expire(import_id, _stale_reason(record), now)
                record = expired or record
        return record

    @staticmethod
    def view(record: ImportRecord) -> dict[str, Any]:
        """The API's body: what the import did, without its processing state."""
        return {
            "importId": record.importId,
            "status": record.status.value,
            "created": record.created,
            "updated": record.updated,
            "errors": [e.model_dump() for e in record.errors],
            "errorCount": record.errorCount,
            "reason": record.reason,
            "createdAt": record.createdAt,
            "updatedAt": record.updatedAt,
        }

    # --- the file arrived ---------------------------------------------------
    def uploaded(self, key: str, lease_seconds: float | None = None) -> str:
        """Apply the file at ``key`` if it is a PENDING import's; what happened,
        in a word, for the log. Raises only on a transient failure, after
        giving the lease back, so a redelivery resumes where this stopped."""
        import_id = importing.import_id_of(key)
        if import_id is None:
            log.warning("ignored %s: not an import's file (imports/<importId>.csv)", key)
            return "ignored"
        record = self.book.get(import_id)
        if record is None:
            log.warning("ignored %s: no import %s was created", key, import_id)
            return "ignored"
        with correlation.use(record.correlationId, import_id=import_id):
            if record.status != ImportStatus.PENDING:
                log.info(
                    "import %s is already %s: this delivery changes nothing",
                    import_id,
                    record.status.value,
                )
                return "duplicate"
            now = self.clock()
            lease = timedelta(seconds=lease_seconds) if lease_seconds else DEFAULT_LEASE
            claim = self.book.claim(import_id, uuid.uuid4().hex, now, iso(_parse_iso(now) + lease))
            if claim is None:
                log.info("import %s is being applied by another delivery", import_id)
                return "busy"
            try:
                outcome = self._apply(key, claim)
            except Exception as exc:
                self.book.release(import_id, claim.lease, _describe(exc), self.clock())
                log.warning(
                    "import %s: attempt %d failed (%s); it is retried",
                    import_id,
                    claim.record.attempts,
                    _describe(exc),
                )
                raise
            if not self.book.finish(import_id, claim.lease, outcome):
                raise errors.Transient(f"import {import_id}: the lease was lost; retry")
            self._report(outcome)
            return outcome.status.value.lower()

    def _apply(self, key: str, claim: ImportClaim) -> ImportRecord:
        record, done = claim.record, claim.progress
        try:
            info = self.files.head(key)
            if info is None:
                raise ImportRefused("the file is gone from the bucket")
            importing.check_size(info.size)
            parsed = importing.parse(self.files.read(key))
        except errors.NotFound:
            return self._refused(record, "the file is gone from the bucket")
        except ImportRefused as exc:
            return self._refused(record, str(exc))
        progress = done
        with ThreadPoolExecutor(max_workers=WRITERS) as pool:
            for start in range(done.next_row, len(parsed.rows), BATCH_ROWS):
                batch = parsed.rows[start : start + BATCH_ROWS]
                progress = self._apply_batch(batch, progress, pool)
                progress = dataclasses.replace(progress, next_row=start + len(batch))
                if not self.book.checkpoint(record.importId, claim.lease, progress, self.clock()):
                    raise errors.Transient(f"import {record.importId}: the lease was lost")
        # Both lists are the first of their kind by line: merged, the first of all.
        found = sorted([*parsed.errors, *progress.refused], key=lambda e: e.line)
        return record.model_copy(
            update={
                "status": ImportStatus.DONE,
                "created": progress.created,
                "updated": progress.updated,
                "errors": found[: importing.MAX_REPORTED_ERRORS],
                "errorCount": len(parsed.errors) + progress.refused_count,
                "reason": None,
                "updatedAt": self.clock(),
                "lastError": None,
            }
        )

    def _apply_batch(
        self, batch: list[ImportRow], progress: ImportProgress, pool: ThreadPoolExecutor
    ) -> ImportProgress:
        existing = self.products.get_many([row.sku for row in batch])
        at = self.clock()

        def one(row: ImportRow) -> str | RowError:
            return self._apply_row(row, row.sku in existing, at)

        # Each write runs in the delivery's context (its correlation id).
        outcomes = list(pool.map(lambda row: contextvars.copy_context().run(one, row), batch))
        created = sum(1 for o in outcomes if o == "created")
        updated = sum(1 for o in outcomes if o == "updated")
        refused = [o for o in outcomes if isinstance(o, RowError)]
        return ImportProgress(
            next_row=progress.next_row,
            created=progress.created + created,
            updated=progress.updated + updated,
            refused=(*progress.refused, *refused)[: importing.MAX_REPORTED_ERRORS],
            refused_count=progress.refused_count + len(refused),
        )

    def _refused(self, record: ImportRecord, reason: str) -> ImportRecord:
        return record.model_copy(
            update={
                "status": ImportStatus.FAILED,
                "reason": reason,
                "updatedAt": self.clock(),
                "lastError": None,
            }
        )

    def _apply_row(self, row: ImportRow, exists: bool, at: str) -> str | RowError:
        data = row.product
        details = ProductDetails(
            name=data.name, priceCents=data.priceCents, lowStockThreshold=data.lowStockThreshold
        )
        if not exists:
            if data.stock is None:
                return RowError(line=row.line, message="stock: required to create a product")
            new = Product(sku=row.sku, stock=data.stock, updatedAt=at, **details.model_dump())
            if self.products.create(new) is not None:
                return "created"
        # Never the stock of an existing product: the file's column is for new ones.
        try:
            self.products.update_details(row.sku, details, None, at)
        except errors.NotFound:
            raise errors.Transient(f"product {row.sku} changed concurrently; retry") from None
        return "updated"

    def _report(self, outcome: ImportRecord) -> None:
        if outcome.status == ImportStatus.FAILED:
            log.warning("import %s FAILED: %s", outcome.importId, outcome.reason)
            self.metrics.count("CatalogImportsFailed")
            return
        log.info(
            "import %s DONE: %d created, %d updated, %d rows not applied",
            outcome.importId,
            outcome.created,
            outcome.updated,
            outcome.errorCount,
        )
        self.metrics.count("CatalogImportRowsApplied", outcome.created + outcome.updated)
        self.metrics.count("CatalogImportRowsRefused", outcome.errorCount)


def _stale_reason(record: ImportRecord) -> str:
    if record.attempts == 0:
        return f"no file arrived before the upload form expired at {record.uploadExpiresAt}"
    last = record.lastError or "the attempt did not finish"
    return f"the file could not be applied in {record.attempts} attempt(s): {last}"


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]
