"""S3 behind ``ObjectStore``: presigned POSTs, objects, presigned GET URLs, for
the images (uploads, thumbnails) and the catalog (import files), in one bucket.

The bucket is private; thumbnails are served through presigned GET URLs, which
a browser loads from AWS and from the local emulator alike.
"""

from __future__ import annotations

from typing import Any

from chalicelib.platform import aws, errors
from chalicelib.platform.objects import ObjectInfo

# IAM actions this module's own calls need (collected by tools.iam).
# HeadObject needs s3:GetObject, and s3:ListBucket for a missing key to answer
# 404 (NotFound) rather than 403; DeleteObjects needs s3:DeleteObject; the
# presigned POST and GET carry the signer's s3:PutObject and s3:GetObject.
AWS_CALLS = frozenset({"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"})


class S3ObjectStore:
    def __init__(self, bucket: str, client: Any | None = None) -> None:
        self.bucket = bucket
        self._client = client

    @property
    def s3(self) -> Any:
        return self._client or aws.client("s3")

    def head(self, key: str) -> ObjectInfo | None:
        try:
            with aws.translate():
                r = self.s3.head_object(Bucket=self.bucket, Key=key)
        except errors.NotFound:
            return None
        return ObjectInfo(int(r["ContentLength"]), r.get("ContentType"), str(r.get("ETag", "")))

    def read(self, key: str) -> bytes:
        with aws.translate():
            return bytes(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def write(self, key: str, data: bytes, content_type: str, cache_control: str) -> None:
        with aws.translate():
            self.s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType=content_type,
                CacheControl=cache_control,
            )

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            with aws.translate():
                self.s3.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True},
                )

    def presigned_post(
        self,
        key: str,
        content_type_prefix: str | None,
        min_bytes: int,
        max_bytes: int,
        expires_in: int,
    ) -> dict[str, Any]:
        # S3 enforces the conditions itself; the handlers check again, since
        # an emulator may not.
        conditions: list[Any] = [["content-length-range", min_bytes, max_bytes]]
        if content_type_prefix is not None:
            conditions.append(["starts-with", "$Content-Type", content_type_prefix])
        return dict(
            self.s3.generate_presigned_post(
                Bucket=self.bucket, Key=key, ExpiresIn=expires_in, Conditions=conditions
            )
        )

    def url(self, key: str, expires_in: int) -> str:
        return str(
            self.s3.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_in
            )
        )
