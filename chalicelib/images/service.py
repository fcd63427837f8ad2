"""Product image use cases: upload slots, processing S3 uploads, reading.

No boto3 and no chalice here; the image libraries are imported only when an
upload is processed (``chalicelib.images.processing``), so no other function
pays for them at cold start.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.images.model import (
    THUMBNAIL_SIZES,
    Image,
    ImageStatus,
    newer,
    parse_upload_key,
    revision,
    thumbnail_key,
    upload_key,
)
from chalicelib.images.ports import ImageRepository, ObjectInfo, ObjectStore
from chalicelib.platform import correlation, errors
from chalicelib.platform.alerts import Alert, AlertKind, AlertRaiser
from chalicelib.platform.clock import iso, now_iso
from chalicelib.platform.metrics import MetricSink, NoMetrics
from chalicelib.platform.types import check_sku

log = logging.getLogger("eventshop.images")
_IMAGE_ID = re.compile(r"^[0-9a-f]{32}$")
CACHE_CONTROL = "public, max-age=31536000"
# An upload slot unused for this long ends FAILED ("expired ..."), and an
# upload that arrives later is refused the same way.
SLOT_LIFETIME = timedelta(hours=24)
EXPIRED = "expired: no upload within 24 hours of the slot"
EXPIRY_PAGE = 100


# What ``GET /products/{sku}/images?status=`` takes: a status, or every image.
LISTING_STATUSES: tuple[str, ...] = (*(str(s) for s in ImageStatus), "ALL")


def parse_listing_status(raw: str) -> ImageStatus | None:
    """``?status=`` of a product's listing: the status, or None for ``ALL``;
    InvalidInput naming ``status`` for anything else."""
    if raw not in LISTING_STATUSES:
        allowed = ", ".join(LISTING_STATUSES)
        raise errors.InvalidInput(
            f"status must be one of {allowed}",
            [{"loc": ["query", "status"], "msg": f"one of {allowed}"}],
        )
    return None if raw == "ALL" else ImageStatus(raw)


@dataclass(frozen=True)
class ImageLimits:
    min_bytes: int = 1
    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 100_000_000
    upload_expires_seconds: int = 900
    url_expires_seconds: int = 3600


class ImageService:
    def __init__(
        self,
        repo: ImageRepository,
        store: ObjectStore,
        publish: Callable[[str, dict[str, Any]], None],
        product_exists: Callable[[str], bool],
        limits: ImageLimits | None = None,
        clock: Callable[[], str] = now_iso,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        alerts: AlertRaiser | None = None,
        metrics: MetricSink | None = None,
    ) -> None:
        self.alerts = alerts
        self.metrics: MetricSink = metrics or NoMetrics()
        self.repo = repo
        self.store = store
        self.publish = publish  # (event type, detail)
        self.product_exists = product_exists
        self.limits = limits or ImageLimits()
        self.clock = clock
        self.new_id = new_id

    # --- API -------------------------------------------------------------
    def create_upload(self, sku: str) -> dict[str, Any]:
        check_sku(sku)
        if not self.product_exists(sku):
            raise errors.NotFound(f"product {sku} not found")
        image_id, now = self.new_id(), self.clock()
        self.repo.create(
            Image(
                imageId=image_id,
                sku=sku,
                status=ImageStatus.PENDING,
                createdAt=now,
                updatedAt=now,
                correlationId=correlation.current(),
            )
        )
        expires = self.limits.upload_expires_seconds
        post = self.store.presigned_post(
            upload_key(sku, image_id),
            "image/",
            self.limits.min_bytes,
            self.limits.max_bytes,
            expires,
        )
        expires_at = (
            (datetime.now(UTC) + timedelta(seconds=expires))
            .isoformat(timespec="seconds")
            .replace("+00:00", "Z")
        )
        return {
            "imageId": image_id,
            "upload": {"url": post["url"], "fields": post["fields"], "expiresAt": expires_at},
        }

    def get(self, image_id: str) -> Image:
        image = self.repo.get(image_id) if _IMAGE_ID.match(image_id) else None
        if image is None:
            raise errors.NotFound(f"image {image_id} not found")
        return image

    def list_ready(self, sku: str) -> list[Image]:
        return self.list_images(sku, ImageStatus.READY)

    def list_images(self, sku: str, status: ImageStatus | None) -> list[Image]:
        """A product's images, oldest first: those in ``status`` that are not
        removed, or (None, an admin's ``ALL``) every one, removed ones too."""
        check_sku(sku)
        images = self.repo.list_for_sku(sku, status)
        return images if status is None else [i for i in images if i.deletedAt is None]

    def thumbnail_url(self, key: str) -> str:
        """A URL a browser can load for one thumbnail key (what image events carry)."""
        return self.store.url(key, self.limits.url_expires_seconds)

    def view(self, image: Image, admin: bool) -> dict[str, Any]:
        """The API's body for ``image``: thumbnail URLs; GPS and the deletion
        time for admins only."""
        from chalicelib.images import views

        exif = image.exif
        if exif is not None and not admin:
            exif = {k: v for k, v in exif.items() if k != "gps"}
        public = views.Image.model_validate(
            {
                **image.model_dump(
                    exclude={"thumbnailKeys", "sequencer", "published", "correlationId"}
                ),
                "exif": exif,
                "thumbnails": {
                    size: self.store.url(key, self.limits.url_expires_seconds)
                    for size, key in image.thumbnailKeys.items()
                },
            }
        )
        return public.dump() if admin else public.dump(exclude={"deleted_at"})

    # --- S3 events ---------------------------------------------------------
    def uploaded(self, key: str, sequencer: str) -> str:
        """Process an upload; returns what happened (for the log). Bad files
        end FAILED with a reason; only AWS trouble raises (and is retried)."""
        image = self._image_for(key)
        if image is None:
            return "ignored"
        # The upload belongs to the flow that made its slot.
        with correlation.use(image.correlationId, image_id=image.imageId):
            outcome = self._uploaded(image, key, sequencer)
            log.info("upload %s: %s", key[:200], outcome)
            return outcome

    def _uploaded(self, image: Image, key: str, sequencer: str) -> str:
        if image.status == ImageStatus.FAILED and (image.reason or "").startswith("expired"):
            log.warning("upload %s refused: slot %s %s", key[:200], image.imageId, image.reason)
            return "expired"
        if not newer(sequencer, image.sequencer):
            self._publish_once(image)
            return "duplicate"
        info = self.store.head(key)
        if info is None:
            return "gone"  # deleted before we got to it; the removal event follows
        refusal = self._refusal(info)
        if refusal:
            return self._fail(image, sequencer, refusal)
        started = time.perf_counter()
        data = self.store.read(key)
        from chalicelib.images import processing  # the image libraries load here only

        try:
            result = processing.process(
                data, sizes=THUMBNAIL_SIZES, max_pixels=self.limits.max_pixels
            )
        except processing.ProcessingError as exc:
            return self._fail(image, sequencer, exc.reason)
        except Exception as exc:
            log.exception("image %s could not be processed", image.imageId)
            return self._fail(
                image, sequencer, f"the image could not be read ({type(exc).__name__})"
            )
        keys = self._store_thumbnails(image, result.thumbnails)
        ready = image.model_copy(
            update={
                "status": ImageStatus.READY,
                "reason": None,
                "width": result.width,
                "height": result.height,
                "format": result.format,
                "bytes": result.bytes,
                "thumbnailKeys": keys,
                "exif": result.exif,
                "updatedAt": self.clock(),
                "deletedAt": None,
                "sequencer": sequencer,
                "published": False,
            }
        )
        if not self.repo.save(ready, image.sequencer):
            return "raced"
        self.metrics.count("ImagesProcessed")
        self.metrics.ms("ImageProcessingMs", (time.perf_counter() - started) * 1000)
        self._publish_once(ready)
        return "ready"

    def _refusal(self, info: ObjectInfo) -> str | None:
        """Why the object cannot be an image, from its HEAD alone, or None."""
        if info.size > self.limits.max_bytes:
            return f"file too large: {info.size} bytes, the limit is {self.limits.max_bytes}"
        if info.size < self.limits.min_bytes:
            return "empty file"
        declared = (info.content_type or "").split(";", 1)[0].strip().lower()
        if not declared.startswith("image/"):
            # S3 enforces the slot's image/ prefix on AWS; an emulator (or a
            # copy made outside the slot) may not, so the handler checks again.
            return f"content type {declared or 'missing'!r} is not an image type (image/...)"
        return None

    def _store_thumbnails(self, image: Image, thumbnails: dict[int, bytes]) -> dict[str, str]:
        """Write the new thumbnails, delete the sizes that no longer fit."""
        keys: dict[str, str] = {}
        for size, jpeg in sorted(thumbnails.items(), reverse=True):
            target = thumbnail_key(image.sku, image.imageId, size)
            self.store.write(target, jpeg, "image/jpeg", CACHE_CONTROL)
            keys[str(size)] = target
        stale = [k for s, k in image.thumbnailKeys.items() if s not in keys]
        if stale:
            self.store.delete(stale)
        return keys

    def removed(self, key: str, sequencer: str) -> str:
        image = self._image_for(key)
        if image is None:
            return "ignored"
        with correlation.use(image.correlationId, image_id=image.imageId):
            outcome = self._removed(image, sequencer)
            log.info("removal %s: %s", key[:200], outcome)
            return outcome

    def _removed(self, image: Image, sequencer: str) -> str:
        if not newer(sequencer, image.sequencer):
            self._publish_once(image)  # a removal whose event did not go out yet
            return "stale"
        if image.thumbnailKeys:
            self.store.delete(list(image.thumbnailKeys.values()))
        now = self.clock()
        gone = image.model_copy(
            update={
                "thumbnailKeys": {},
                "deletedAt": now,
                "updatedAt": now,
                "sequencer": sequencer,
                "published": False,
            }
        )
        if not self.repo.save(gone, image.sequencer):
            return "raced"
        self._publish_once(gone)
        return "deleted"

    # --- cleanup -------------------------------------------------------------
    def expire_slots(self, now: datetime) -> list[str]:
        """Upload slots still PENDING ``SLOT_LIFETIME`` after they were made end
        FAILED (``EXPIRED``). ``now``: the scheduled event's time. Each write is
        conditional on the slot still having no upload, so an upload racing the
        sweep wins and two sweeps at once expire a slot once."""
        before = iso(now - SLOT_LIFETIME)
        expired: list[str] = []
        while True:
            page = self.repo.pending_before(before, EXPIRY_PAGE)
            for slot in page:
                failed = slot.model_copy(
                    update={
                        "status": ImageStatus.FAILED,
                        "reason": EXPIRED,
                        "updatedAt": iso(now),
                        "published": False,
                    }
                )
                if self.repo.save(failed, None):
                    expired.append(slot.imageId)
                    self.metrics.count("ImagesFailed")
                    self._publish_once(failed)
            if len(page) < EXPIRY_PAGE:
                break
        log.info("expired %d upload slot(s): %s", len(expired), expired)
        return expired

    def _image_for(self, key: str) -> Image | None:
        parsed = parse_upload_key(key)
        if parsed is None:
            log.warning("ignored an object outside the upload layout: %s", key[:200])
            return None
        sku, image_id = parsed
        image = self.repo.get(image_id)
        if image is None or image.sku != sku:
            log.warning("ignored an upload without its slot: %s", key[:200])
            return None
        return image

    def _fail(self, image: Image, sequencer: str, reason: str) -> str:
        failed = image.model_copy(
            update={
                "status": ImageStatus.FAILED,
                "reason": reason,
                "updatedAt": self.clock(),
                "sequencer": sequencer,
                "published": False,
            }
        )
        if not self.repo.save(failed, image.sequencer):
            return "raced"
        self.metrics.count("ImagesFailed")
        self._publish_once(failed)
        return "failed"

    def _publish_once(self, image: Image) -> None:
        """The event for the record's current state, once: publish, then mark.
        A publish that fails raises, and the redelivery publishes again."""
        if image.published or (image.status == ImageStatus.PENDING and not image.deletedAt):
            return
        if image.deletedAt:
            kind = "ImageRemoved"
        else:
            kind = "ImageProcessed" if image.status == ImageStatus.READY else "ImageFailed"
        self.publish(
            kind,
            {
                "imageId": image.imageId,
                "sku": image.sku,
                "status": str(image.status),
                "reason": image.reason,
                "width": image.width,
                "height": image.height,
                # What a subscriber needs to show it (keys: ``thumbnail_url`` makes
                # URLs); when it changed; and ``revision``, which orders one image's
                # events as plain strings (its S3 sequencer, padded; "" before any).
                "thumbnailKeys": image.thumbnailKeys,
                "at": image.updatedAt,
                "revision": revision(image.sequencer),
                "correlationId": image.correlationId,
            },
        )
        if kind == "ImageFailed" and self.alerts is not None:
            self.alerts.raise_alert(
                Alert(
                    AlertKind.IMAGE_FAILED,
                    f"image {image.imageId} of {image.sku} failed: {image.reason}"[:300],
                    {"imageId": image.imageId, "sku": image.sku, "reason": image.reason},
                    alert_id=f"IMAGE_FAILED#{image.imageId}#{image.sequencer or 'slot'}",
                )
            )
        self.repo.save(image.model_copy(update={"published": True}), image.sequencer)
