"""devstack's StartMessageMoveTask/ListMessageMoveTasks on moto (moto has neither)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from devstack.sqs_moves import patch_message_moves


@pytest.fixture
def sqs() -> Iterator[Any]:
    patch_message_moves()
    with mock_aws():
        yield boto3.client(
            "sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )


def queue(sqs: Any, name: str, dlq_arn: str | None = None) -> tuple[str, str]:
    attributes = {}
    if dlq_arn:
        attributes["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3}
        )
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return url, arn["QueueArn"]


def test_a_move_sends_every_available_message_back_as_a_new_one(sqs: Any) -> None:
    dlq_url, dlq_arn = queue(sqs, "d")
    src_url, src_arn = queue(sqs, "s", dlq_arn)
    ids = [sqs.send_message(QueueUrl=dlq_url, MessageBody=str(i))["MessageId"] for i in range(3)]
    hidden = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=1, VisibilityTimeout=60)

    handle = sqs.start_message_move_task(SourceArn=dlq_arn)["TaskHandle"]

    [task] = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
    assert task["TaskHandle"] == handle
    assert (task["Status"], task["DestinationArn"]) == ("COMPLETED", src_arn)
    assert task["ApproximateNumberOfMessagesMoved"] == 2  # the in-flight one stays
    moved = sqs.receive_message(QueueUrl=src_url, MaxNumberOfMessages=10)["Messages"]
    assert len(moved) == 2
    assert not {m["MessageId"] for m in moved} & set(ids)  # new messages
    left = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["All"])["Attributes"]
    assert left["ApproximateNumberOfMessagesNotVisible"] == "1"
    assert left["ApproximateNumberOfMessages"] == "0"
    assert hidden["Messages"]


def test_only_a_dead_letter_queue_can_be_moved_from(sqs: Any) -> None:
    _, dlq_arn = queue(sqs, "d")
    _, src_arn = queue(sqs, "s", dlq_arn)
    with pytest.raises(ClientError) as caught:
        sqs.start_message_move_task(SourceArn=src_arn)
    assert caught.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(ClientError) as missing:
        sqs.start_message_move_task(SourceArn=dlq_arn + "-nope")
    assert "NonExistentQueue" in missing.value.response["Error"]["Code"]


def test_a_shared_dlq_needs_a_destination(sqs: Any) -> None:
    dlq_url, dlq_arn = queue(sqs, "d")
    queue(sqs, "a", dlq_arn)
    b_url, b_arn = queue(sqs, "b", dlq_arn)
    sqs.send_message(QueueUrl=dlq_url, MessageBody="x")
    with pytest.raises(ClientError):
        sqs.start_message_move_task(SourceArn=dlq_arn)

    sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=b_arn)

    assert [m["Body"] for m in sqs.receive_message(QueueUrl=b_url)["Messages"]] == ["x"]
