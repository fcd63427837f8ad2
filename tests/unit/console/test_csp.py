"""The console's Content-Security-Policy names exactly the S3 origins the
browser talks to: where boto3 (as the app configures it) points the
thumbnails' presigned GETs and the uploads' presigned POSTs."""

from __future__ import annotations

from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config

from chalicelib.console.api import ASSET, content_security_policy, s3_origins

BUCKET = "eventshop-dev-images-123456789012"


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "ap-southeast-2"])
def test_on_aws_the_bucket_origins_cover_what_boto3_signs(region: str) -> None:
    s3 = boto3.session.Session(
        aws_access_key_id="x", aws_secret_access_key="y", region_name=region
    ).client("s3", config=Config(signature_version="s3v4"))
    get = s3.generate_presigned_url(
        "get_object", Params={"Bucket": BUCKET, "Key": "thumbs/a/200.jpg"}, ExpiresIn=60
    )
    post = s3.generate_presigned_post(Bucket=BUCKET, Key="uploads/a/b")["url"]
    allowed = s3_origins(BUCKET, region, None)
    assert origin(get) in allowed and origin(post) in allowed
    assert f"https://{BUCKET}.s3.{region}.amazonaws.com" in allowed  # where S3 may redirect
    assert all(BUCKET in o for o in allowed)  # this bucket only, never all of S3


def test_locally_the_emulator_origin_path_style() -> None:
    endpoint = "http://127.0.0.1:4566"
    s3 = boto3.session.Session(
        aws_access_key_id="x", aws_secret_access_key="y", region_name="us-east-1"
    ).client(
        "s3",
        endpoint_url=endpoint,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    get = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "k"})
    assert s3_origins(BUCKET, "us-east-1", endpoint + "/") == [origin(get)] == [endpoint]


def test_the_policy_allows_self_and_the_bucket_only() -> None:
    policy = content_security_policy(["http://127.0.0.1:4566"])
    directives = dict(d.split(" ", 1) for d in policy.split("; "))
    assert directives == {
        "default-src": "'self'",
        "img-src": "'self' http://127.0.0.1:4566",
        "connect-src": "'self' http://127.0.0.1:4566",
        "form-action": "'none'",
        "base-uri": "'none'",
        "object-src": "'none'",
        "frame-ancestors": "'none'",
    }


@pytest.mark.parametrize(
    ("name", "served"),
    [
        ("main.js", True),
        ("console.css", True),
        ("favicon.svg", True),
        ("index.html", False),
        ("..", False),
        ("api.py", False),
        ("Main.js", False),
        (".hidden.js", False),
        ("a" * 70 + ".js", False),
    ],
)
def test_asset_names(name: str, served: bool) -> None:
    assert bool(ASSET.match(name)) is served
