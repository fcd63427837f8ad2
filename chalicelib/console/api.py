"""``GET /console`` and ``GET /console/{asset}``: the operator console's page
and its files, read from ``static/`` on each request (never at import: every
function imports app.py, and only this route needs them). Open: the page asks
for a token and sends it to the API itself.

Every answer carries a Content-Security-Policy that allows this origin and,
for images (the thumbnails' presigned GET URLs) and for the upload of a photo
or a catalog CSV (the presigned POST, sent with ``fetch``), the stage's S3
bucket: the local emulator's origin (``AWS_ENDPOINT_URL``, path-style URLs)
or, on AWS, the bucket's virtual-hosted origins (boto3 signs with the global
one, ``<bucket>.s3.amazonaws.com``; the regional one is what S3 redirects a
new bucket to). No inline script or style anywhere.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.http import openapi
from chalicelib.http.routing import ROUTE_DOCS, error_response
from chalicelib.platform import errors

bp = Blueprint(__name__)

STATIC = Path(__file__).with_name("static")
PAGE = "index.html"
# One path segment, a known kind: nothing else is looked up on disk.
ASSET = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}\.(js|css|svg)$")
MEDIA_TYPES = {
    "html": "text/html; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "svg": "image/svg+xml",
}


def s3_origins(bucket: str, region: str, endpoint: str | None) -> list[str]:
    """Where the browser fetches thumbnails from and posts uploads to."""
    if endpoint:
        parts = urlsplit(endpoint)
        return [f"{parts.scheme}://{parts.netloc}"]
    return [f"https://{bucket}.s3.amazonaws.com", f"https://{bucket}.s3.{region}.amazonaws.com"]


def content_security_policy(s3: list[str]) -> str:
    bucket = " ".join(s3)
    return "; ".join(
        [
            "default-src 'self'",
            f"img-src 'self' {bucket}",
            f"connect-src 'self' {bucket}",
            "form-action 'none'",
            "base-uri 'none'",
            "object-src 'none'",
            "frame-ancestors 'none'",
        ]
    )


def _headers(media_type: str) -> dict[str, str | list[str]]:
    settings = bootstrap.settings()
    origins = s3_origins(
        settings.images_bucket_name, settings.region, os.environ.get("AWS_ENDPOINT_URL")
    )
    return {
        "Content-Type": media_type,
        "Content-Security-Policy": content_security_policy(origins),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        # Small files: always revalidated, so a deploy shows at the next load.
        "Cache-Control": "no-cache",
    }


def _file(name: str, kind: str) -> Response:
    body = (STATIC / name).read_text(encoding="utf-8")
    return Response(body=body, status_code=200, headers=_headers(MEDIA_TYPES[kind]))


@bp.route("/console", methods=["GET"])
def console_page() -> Response:
    """The operator console (HTML)."""
    return _file(PAGE, "html")


@bp.route("/console/{asset}", methods=["GET"])
def console_asset(asset: str) -> Response:
    """One of the console's files (JavaScript module, stylesheet, icon)."""
    match = ASSET.match(asset)
    if match is None or not (STATIC / asset).is_file():
        response = error_response(errors.NotFound(f"no console file {asset!r}"))
        response.headers.update(_headers("application/json"))
        return response
    return _file(asset, match.group(1))


def _text(media_types: tuple[str, ...], summary: str, failures: tuple[int, ...] = ()) -> Any:
    return openapi.Operation(
        summary=summary,
        response={"type": "string"},
        media_types=media_types,
        failures=failures,
    )


ROUTE_DOCS[("/console", "GET")] = _text(("text/html",), "The operator console (HTML page)")
ROUTE_DOCS[("/console/{asset}", "GET")] = _text(
    ("text/javascript", "text/css", "image/svg+xml"),
    "A file of the operator console (JavaScript module, stylesheet or icon)",
    failures=(404,),
)
