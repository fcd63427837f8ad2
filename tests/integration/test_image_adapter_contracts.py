"""One contract per image port, run against the in-memory fake and against the
adapter on moto (the images table and bucket deployed from
infra/resources.yaml), so the fakes ImageService's unit tests run on behave
like DynamoDB and S3 where the service relies on it: the sequencer-guarded
saves that make S3 redeliveries and stale events harmless, the listing a
sku's images come back in, and the object store's answers and forms."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import boto3
import pytest
from moto import mock_aws

from chalicelib.images.dynamo import DynamoImageRepository
from chalicelib.images.model import Image, ImageStatus
from chalicelib.platform import errors
from chalicelib.platform.s3 import S3ObjectStore
from tests.support.fakes import FakeImageRepository, FakeObjectStore

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "resources.yaml"
REGION = "us-east-1"

# moto's CloudFormation skips AWS::SNS::Subscription and AWS::SQS::QueuePolicy,
# which these tests do not need.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Tried to parse AWS:UserWarning", "ignore:No Moto CloudFormation support:UserWarning"
)


@dataclass(frozen=True)
class Stack:
    outputs: dict[str, str]
    ddb: Any
    s3: Any


@pytest.fixture(scope="module")
def deployed() -> Iterator[Stack]:
    """The stack, deployed once for this module; each test empties what it uses."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
            mp.delenv(name, raising=False)
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        with mock_aws():
            cfn = session.client("cloudformation")
            cfn.create_stack(
                StackName="eventshop-test",
                TemplateBody=TEMPLATE.read_text(),
                Parameters=[{"ParameterKey": "Stage", "ParameterValue": "test"}],
            )
            described = cfn.describe_stacks(StackName="eventshop-test")["Stacks"][0]
            outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
            yield Stack(outputs, session.client("dynamodb"), session.client("s3"))


@pytest.fixture
def stack(deployed: Stack, fake_aws_env: None) -> Stack:
    table = deployed.outputs["ImagesTableName"]
    for page in deployed.ddb.get_paginator("scan").paginate(
        TableName=table, ProjectionExpression="pk"
    ):
        for item in page["Items"]:
            deployed.ddb.delete_item(TableName=table, Key=item)
    bucket = deployed.outputs["ImagesBucketName"]
    for page in deployed.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            deployed.s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
    return deployed


# ==================================================================== records


def image(
    image_id: str = "a" * 32,
    sku: str = "MUG-1",
    created: str = "2025-01-01T00:00:00Z",
    **changes: Any,
) -> Image:
    return Image(
        imageId=image_id,
        sku=sku,
        status=ImageStatus.PENDING,
        createdAt=created,
        updatedAt=created,
    ).model_copy(update=changes)


def processed(base: Image, sequencer: str, **changes: Any) -> Image:
    """What ImageService.uploaded saves: every field the processing fills."""
    return base.model_copy(
        update={
            "status": ImageStatus.READY,
            "width": 600,
            "height": 400,
            "format": "JPEG",
            "bytes": 48_213,
            "thumbnailKeys": {
                "512": f"thumbnails/{base.sku}/{base.imageId}/512.jpg",
                "200": f"thumbnails/{base.sku}/{base.imageId}/200.jpg",
            },
            "exif": {
                "make": "Canon",
                "takenAt": "2024-06-01T10:00:00",
                "gps": {"lat": -33.8688, "lon": 151.2093},
                "orientation": 6,
            },
            "updatedAt": "2025-01-01T00:00:05Z",
            "sequencer": sequencer,
            **changes,
        }
    )


class ImageRepositoryContract:
    """Subclasses provide ``repo``."""

    def test_create_then_get_returns_the_record(self, repo: Any) -> None:
        pending = image()
        repo.create(pending)
        assert repo.get(pending.imageId) == pending

    def test_an_unknown_image_reads_as_nothing(self, repo: Any) -> None:
        assert repo.get("f" * 32) is None

    def test_creating_an_existing_image_conflicts_and_keeps_the_first(self, repo: Any) -> None:
        first = image()
        repo.create(first)
        with pytest.raises(errors.Conflict):
            repo.create(image(sku="OTHER-1"))
        assert repo.get(first.imageId) == first

    def test_every_field_survives_a_save(self, repo: Any) -> None:
        pending = image()
        repo.create(pending)
        ready = processed(pending, "0A", published=True, reason=None)
        assert repo.save(ready, None) is True
        stored = repo.get(pending.imageId)
        assert stored == ready
        assert stored.exif["gps"]["lat"] == pytest.approx(-33.8688)
        assert isinstance(stored.exif["orientation"], int)

    def test_the_first_processing_expects_no_sequencer(self, repo: Any) -> None:
        pending = image()
        repo.create(pending)
        assert repo.save(processed(pending, "0A"), None) is True
        assert repo.get(pending.imageId).sequencer == "0A"

    def test_expecting_no_sequencer_fails_once_one_is_set(self, repo: Any) -> None:
        pending = image()
        repo.create(pending)
        repo.save(processed(pending, "0A"), None)
        # A redelivery that read the record before the first save landed.
        assert repo.save(processed(pending, "0A", width=1), None) is False
        assert repo.get(pending.imageId).width == 600

    def test_a_save_from_the_current_sequencer_lands(self, repo: Any) -> None:
        pending = image()
        repo.create(pending)
        ready = processed(pending, "0A")
        repo.save(ready, None)
        newer = processed(pending, "0B", width=300, height=150)
        assert repo.save(newer, "0A") is True
        assert repo.get(pending.imageId) == newer

    def test_marking_published_keeps_the_sequencer_and_lands(self, repo: Any) -> None:
        # ImageService._publish_once: the same record, published, same sequencer.
        pending = image()
        repo.create(pending)
        ready = processed(pending, "0A")
        repo.save(ready, None)
        marked = ready.model_copy(update={"published": True})
        assert repo.save(marked, "0A") is True
        assert repo.save(marked, "0A") is True  # a redelivery marks again, harmlessly
        assert repo.get(pending.imageId).published is True

    def test_a_save_from_a_stale_sequencer_is_refused(self, repo: Any) -> None:
        pending = image()
        repo.create(pending)
        repo.save(processed(pending, "0A"), None)
        current = processed(pending, "0B")
        repo.save(current, "0A")
        assert repo.save(processed(pending, "0C", width=1), "0A") is False
        assert repo.get(pending.imageId) == current

    def test_of_two_saves_from_one_state_only_the_first_lands(self, repo: Any) -> None:
        pending = image()
        repo.create(pending)
        repo.save(processed(pending, "0A"), None)
        removed = processed(pending, "0B", thumbnailKeys={}, deletedAt="2025-01-02T00:00:00Z")
        overwritten = processed(pending, "0C", width=10)
        assert repo.save(removed, "0A") is True
        assert repo.save(overwritten, "0A") is False
        assert repo.get(pending.imageId) == removed

    @pytest.mark.parametrize("expected", [None, "0A"])
    def test_a_save_never_creates_a_record(self, repo: Any, expected: str | None) -> None:
        assert repo.save(processed(image(), "0B"), expected) is False
        assert repo.get(image().imageId) is None

    def test_list_for_sku_is_that_skus_images_oldest_first(self, repo: Any) -> None:
        later = image("c" * 32, created="2025-01-03T00:00:00Z")
        first = image("b" * 32, created="2025-01-01T00:00:00Z")
        same_time = image("a" * 32, created="2025-01-03T00:00:00Z")
        other_sku = image("d" * 32, sku="MUG-10", created="2025-01-02T00:00:00Z")
        for made in (later, first, other_sku, same_time):
            repo.create(made)
        assert repo.list_for_sku("MUG-1") == [first, same_time, later]
        assert repo.list_for_sku("MUG-10") == [other_sku]

    def test_list_for_sku_shows_every_status_and_removed_images(self, repo: Any) -> None:
        # The service filters READY and not deleted; the repository does not.
        pending, ready, failed, gone = (
            image(c * 32, created=f"2025-01-0{n}T00:00:00Z") for n, c in enumerate("abcd", 1)
        )
        for made in (pending, ready, failed, gone):
            repo.create(made)
        repo.save(processed(ready, "0A"), None)
        repo.save(failed.model_copy(update={"status": ImageStatus.FAILED, "sequencer": "0A"}), None)
        repo.save(processed(gone, "0B", deletedAt="2025-01-09T00:00:00Z", thumbnailKeys={}), None)
        listed = repo.list_for_sku("MUG-1")
        assert [i.imageId for i in listed] == [i.imageId for i in (pending, ready, failed, gone)]
        assert [i.status for i in listed] == ["PENDING", "READY", "FAILED", "READY"]
        assert listed[3].deletedAt == "2025-01-09T00:00:00Z"

    def test_list_for_sku_by_status_keeps_that_status_in_the_same_order(self, repo: Any) -> None:
        a, b, c, d, e = (
            image(ch * 32, created=f"2025-01-0{n}T00:00:00Z") for n, ch in enumerate("edcba", 1)
        )
        other = image("f" * 32, sku="MUG-10", created="2025-01-01T00:00:00Z")
        for made in (e, c, a, other, b, d):
            repo.create(made)
        failed = {
            i.imageId: i.model_copy(update={"status": ImageStatus.FAILED, "reason": "not an image"})
            for i in (a, d)
        }
        for i in failed.values():
            repo.save(i, None)
        repo.save(processed(c, "0A"), None)
        repo.save(processed(e, "0B", deletedAt="2025-01-09T00:00:00Z", thumbnailKeys={}), None)
        assert repo.list_for_sku("MUG-1", ImageStatus.FAILED) == [
            failed[a.imageId],
            failed[d.imageId],
        ]
        assert repo.list_for_sku("MUG-1", ImageStatus.PENDING) == [b]
        ready = repo.list_for_sku("MUG-1", ImageStatus.READY)
        assert [i.imageId for i in ready] == [c.imageId, e.imageId]  # removed ones too
        assert repo.list_for_sku("MUG-1", None) == repo.list_for_sku("MUG-1")
        assert len(repo.list_for_sku("MUG-1")) == 5
        assert repo.list_for_sku("MUG-10", ImageStatus.FAILED) == []

    def test_list_for_an_unknown_sku_is_empty(self, repo: Any) -> None:
        repo.create(image())
        assert repo.list_for_sku("NONE-1") == []

    def test_pending_before_lists_open_slots_older_than_the_time_oldest_first(
        self, repo: Any
    ) -> None:
        old2 = image("b" * 32, created="2025-01-02T00:00:00Z")
        old1 = image("a" * 32, created="2025-01-01T00:00:00Z")
        young = image("c" * 32, created="2025-01-05T00:00:00Z")
        used = image("d" * 32, created="2025-01-01T00:00:00Z")
        failed = image("e" * 32, created="2025-01-01T00:00:00Z")
        for made in (old2, old1, young, used, failed):
            repo.create(made)
        repo.save(processed(used, "0A"), None)
        repo.save(failed.model_copy(update={"status": ImageStatus.FAILED}), None)
        assert repo.pending_before("2025-01-04T00:00:00Z", 10) == [old1, old2]
        assert repo.pending_before("2025-01-04T00:00:00Z", 1) == [old1]
        assert repo.pending_before("2025-01-01T00:00:00Z", 10) == []


class TestFakeImageRepository(ImageRepositoryContract):
    @pytest.fixture
    def repo(self) -> FakeImageRepository:
        return FakeImageRepository()


class TestDynamoImageRepository(ImageRepositoryContract):
    @pytest.fixture
    def repo(self, stack: Stack) -> DynamoImageRepository:
        return DynamoImageRepository(stack.outputs["ImagesTableName"], client=stack.ddb)


# ==================================================================== objects

KEY = "uploads/MUG-1/" + "a" * 32
THUMB = "thumbnails/MUG-1/" + "a" * 32 + "/200.jpg"
CACHE = "public, max-age=31536000"


def policy(fields: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(base64.b64decode(fields["policy"])))


class ObjectStoreContract:
    """Subclasses provide ``store`` and ``bucket``."""

    def test_head_of_a_missing_key_is_none(self, store: Any) -> None:
        assert store.head(KEY) is None

    def test_a_written_object_heads_and_reads_back(self, store: Any) -> None:
        data = b"\xff\xd8\xff" + b"x" * 100
        store.write(THUMB, data, "image/jpeg", CACHE)
        info = store.head(THUMB)
        assert (info.size, info.content_type) == (len(data), "image/jpeg")
        assert info.etag == f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'
        assert store.read(THUMB) == data

    def test_a_write_replaces_the_object(self, store: Any) -> None:
        store.write(THUMB, b"old bytes", "image/jpeg", CACHE)
        store.write(THUMB, b"new", "image/png", CACHE)
        assert store.read(THUMB) == b"new"
        assert (store.head(THUMB).size, store.head(THUMB).content_type) == (3, "image/png")

    def test_reading_a_missing_key_is_not_found(self, store: Any) -> None:
        with pytest.raises(errors.NotFound):
            store.read(KEY)

    def test_delete_removes_the_keys_given_and_ignores_missing_ones(self, store: Any) -> None:
        for size in (1024, 512, 200):
            store.write(THUMB.replace("200", str(size)), b"t", "image/jpeg", CACHE)
        store.write(KEY, b"upload", "image/jpeg", CACHE)
        store.delete([THUMB.replace("200", "1024"), THUMB, "thumbnails/never/written.jpg"])
        assert store.head(THUMB) is None and store.head(THUMB.replace("200", "1024")) is None
        assert store.head(THUMB.replace("200", "512")) is not None
        assert store.read(KEY) == b"upload"
        store.delete([])

    def test_the_presigned_post_is_s3s_form_with_the_limits(self, store: Any, bucket: str) -> None:
        post = store.presigned_post(KEY, "image/", 1, 200_000, 900)
        assert post["url"] == f"https://{bucket}.s3.amazonaws.com/"
        assert post["fields"]["key"] == KEY
        signed = policy(post["fields"])
        conditions = signed["conditions"]
        assert ["content-length-range", 1, 200_000] in conditions
        assert ["starts-with", "$Content-Type", "image/"] in conditions
        assert {"bucket": bucket} in conditions and {"key": KEY} in conditions
        expires = datetime.strptime(signed["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert abs(expires.timestamp() - (time.time() + 900)) < 60

    def test_a_presigned_post_without_a_type_prefix_takes_any_type(self, store: Any) -> None:
        conditions = policy(store.presigned_post(KEY, None, 1, 5_000, 900)["fields"])["conditions"]
        assert ["content-length-range", 1, 5_000] in conditions
        assert not [c for c in conditions if isinstance(c, list) and "$Content-Type" in c]

    def test_a_presigned_url_is_the_objects_and_signed(self, store: Any, bucket: str) -> None:
        url = urlsplit(store.url(THUMB, 3600))
        assert (url.scheme, url.netloc) == ("https", f"{bucket}.s3.amazonaws.com")
        assert unquote(url.path) == f"/{THUMB}"
        assert url.query


class TestFakeObjectStore(ObjectStoreContract):
    @pytest.fixture
    def bucket(self) -> str:
        return "eventshop-test-images-123456789012"

    @pytest.fixture
    def store(self, bucket: str) -> FakeObjectStore:
        return FakeObjectStore(bucket)


class TestS3ObjectStore(ObjectStoreContract):
    @pytest.fixture
    def bucket(self, stack: Stack) -> str:
        return stack.outputs["ImagesBucketName"]

    @pytest.fixture
    def store(self, stack: Stack, bucket: str) -> S3ObjectStore:
        return S3ObjectStore(bucket, client=stack.s3)

    def test_delete_asks_for_at_most_1000_keys_per_request(self, stack: Stack, bucket: str) -> None:
        # S3's DeleteObjects limit, which moto does not enforce: count the keys asked.
        sizes: list[int] = []

        class Counting:
            def delete_objects(self, **kwargs: Any) -> Any:
                sizes.append(len(kwargs["Delete"]["Objects"]))
                return stack.s3.delete_objects(**kwargs)

        store = S3ObjectStore(bucket, client=stack.s3)
        store.write(KEY, b"upload", "image/jpeg", CACHE)
        keys = [f"thumbnails/MUG-1/{n:04d}.jpg" for n in range(2001)]
        S3ObjectStore(bucket, client=Counting()).delete([*keys, KEY])
        assert sizes == [1000, 1000, 2]
        assert store.head(KEY) is None
