"""The image routes (upload slots, listings), the S3 handlers that process
an upload and clean up after a removal, and the daily expiry of unused slots."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Cron, Response

from chalicelib import bootstrap
from chalicelib.http import openapi
from chalicelib.http.request import RequestReader
from chalicelib.http.routing import Router
from chalicelib.identity import auth
from chalicelib.platform import errors

bp = Blueprint(__name__)
api = Router(bp)
request = RequestReader(bp)
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


# The values ``?status=`` takes (chalicelib.images.service.LISTING_STATUSES,
# named here: the service module is for later than cold start; a test ties the two).
LISTING_STATUSES = ("PENDING", "READY", "FAILED", "ALL")


@api.route(
    "/products/{sku}/images",
    summary="A product's images: READY ones for anyone, any status for an admin",
    description="Oldest first. Without `status`: the READY images, for anyone (a token "
    "is not read). With `status`, a bearer token, when sent, is verified (401 if it is not "
    "valid): `READY` is the same list for anyone, `PENDING`, `FAILED` and `ALL` (every "
    "image, removed ones too) need an admin (401 without a token, 403 for another role). "
    "An admin's items carry what `GET /images/{imageId}` gives.",
    response=openapi.items(openapi.IMAGE),
    query={"status": {"type": "string", "enum": list(LISTING_STATUSES)}},
    failures=(401, 403, 503),
)
def list_images(sku: str) -> dict[str, Any]:
    from chalicelib.images.model import ImageStatus
    from chalicelib.images.service import parse_listing_status

    service = bootstrap.services().images
    raw = request.query("status")
    if raw is None:  # the storefront's listing, as it always was
        return {"items": [service.view(i, admin=False) for i in service.list_ready(sku)]}
    status = parse_listing_status(raw)
    caller = _caller()
    admin = caller is not None and caller.is_admin
    if status != ImageStatus.READY and not admin:
        auth.require(caller, "admin")  # 401 without a token, 403 for another role
    return {"items": [service.view(i, admin=admin) for i in service.list_images(sku, status)]}


def _caller() -> auth.Principal | None:
    """Who sent the request on this open route: None without an Authorization
    header; a header that is not a valid token is a 401, as on any other route."""
    header = request.header("Authorization")
    if header is None:
        return None
    try:
        return auth.authenticate(header, settings)
    except auth.InvalidToken as exc:
        bp.log.info("token rejected: %s", exc)  # why is for the logs only, as the authorizer's
        raise errors.Unauthorized("a valid bearer token is required") from None
    except auth.JwksUnavailable as exc:
        raise errors.Transient("the identity provider's keys cannot be read now") from exc


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
