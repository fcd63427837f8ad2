"""devstack's EventBridge replays (moto_patches.replay_events): only the
events archived in the replay's window, only to the rules its destination
names, marked with the replay's name; as EventBridge replays."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from devstack.moto_patches import patch_replays

REGION = "us-east-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for name in ("AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    patch_replays()
    with mock_aws():
        yield


def drained(sqs: Any, url: str) -> list[dict[str, Any]]:
    out = []
    while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        for m in got:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return out


def test_a_replay_keeps_to_its_window_and_its_rules(aws: None) -> None:
    events, sqs = boto3.client("events"), boto3.client("sqs")
    bus = events.create_event_bus(Name="shop")["EventBusArn"]
    archive = events.create_archive(ArchiveName="all", EventSourceArn=bus)["ArchiveArn"]
    queues, rules = {}, {}
    for name in ("a", "b"):
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
        rules[name] = events.put_rule(
            Name=name, EventBusName="shop", EventPattern=json.dumps({"source": ["shop"]})
        )["RuleArn"]
        events.put_targets(
            Rule=name, EventBusName="shop", Targets=[{"Id": name, "Arn": arn["QueueArn"]}]
        )
        queues[name] = url
    days = [datetime(2026, 1, d, tzinfo=UTC) for d in (1, 2, 3)]
    for n, at in enumerate(days):
        events.put_events(
            Entries=[
                {
                    "EventBusName": "shop",
                    "Source": "shop",
                    "DetailType": "Thing",
                    "Detail": json.dumps({"n": n}),
                    "Time": at,
                }
            ]
        )
    assert len(drained(sqs, queues["a"])) == 3 and len(drained(sqs, queues["b"])) == 3  # live

    events.start_replay(
        ReplayName="r1",
        EventSourceArn=archive,
        EventStartTime=days[1],
        EventEndTime=datetime(2026, 1, 4, tzinfo=UTC),
        Destination={"Arn": bus, "FilterArns": [rules["a"]]},
    )

    replayed = drained(sqs, queues["a"])
    assert sorted(e["detail"]["n"] for e in replayed) == [1, 2]  # the window: days 2 and 3
    assert {e["replay-name"] for e in replayed} == {"r1"}
    assert drained(sqs, queues["b"]) == []  # not a destination of this replay
    assert events.describe_replay(ReplayName="r1")["State"] == "COMPLETED"
    # Replayed events are not archived again: a second full replay sends 3.
    events.start_replay(
        ReplayName="r2",
        EventSourceArn=archive,
        EventStartTime=datetime(2025, 12, 31, tzinfo=UTC),
        EventEndTime=datetime(2026, 1, 4, tzinfo=UTC),
        Destination={"Arn": bus},
    )
    assert len(drained(sqs, queues["a"])) == 3 and len(drained(sqs, queues["b"])) == 3
