"""The image routes (upload slots, listings), the S3 handlers that process
an upload and clean up after a removal, and the daily expiry of unused slots."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Cron, Response

from chalicelib import bootstrap
from chalicelib.http import openapi
from chalicelib.http.routing import Router

bp = Blueprint(__name__)
api = Router(bp)
settings = bootstrap.settings()


@api.route(
    "/products/{sku}/images",
    methods=("POST",),
    roles=("admin",),
    summary="An upload slot: a presigned S3 POST for one image",
    response=openapi.UPLOAD_SLOT,
    status=201,
    failures=(404,),
)
def create_image_upload(sku: str) -> Response:
    return Response(body=bootstrap.services().images.create_upload(sku), status_code=201)


@api.route(
    "/products/{sku}/images",
    summary="A product's READY images",
    response=openapi.items(openapi.IMAGE),
)
def list_images(sku: str) -> dict[str, Any]:
    service = bootstrap.services().images
    return {"items": [service.view(i, admin=False) for i in service.list_ready(sku)]}


@api.route(
    "/images/{imageId}",
    roles=("admin",),
    summary="An image with full metadata, any status",
    response=openapi.IMAGE,
    failures=(404,),
)
def get_image(imageId: str) -> dict[str, Any]:  # noqa: N803
    service = bootstrap.services().images
    return service.view(service.get(imageId), admin=True)


@bp.on_s3_event(
    bucket=settings.images_bucket_name, prefix="uploads/", events=["s3:ObjectCreated:*"]
)
def image_uploaded(event: Any) -> None:
    raw = event.to_dict()["Records"][0]["s3"]["object"]
    # The service logs the outcome, under the slot's correlation id.
    bootstrap.services().images.uploaded(event.key, raw.get("sequencer", "0"))


@bp.on_s3_event(
    bucket=settings.images_bucket_name, prefix="uploads/", events=["s3:ObjectRemoved:*"]
)
def image_removed(event: Any) -> None:
    raw = event.to_dict()["Records"][0]["s3"]["object"]
    bootstrap.services().images.removed(event.key, raw.get("sequencer", "0"))


@bp.schedule(Cron(15, 3, "*", "*", "?", "*"))
def expire_upload_slots(event: Any) -> None:
    """Daily at 03:15 UTC: upload slots unused for 24 h end FAILED ("expired ...")."""
    from datetime import datetime

    from chalicelib.platform import correlation

    # "now" is the scheduled event's time: on the local stack, its clock.
    now = datetime.fromisoformat(event.to_dict()["time"].replace("Z", "+00:00"))
    with correlation.use(None):  # a run is a flow of its own
        bootstrap.services().images.expire_slots(now)
