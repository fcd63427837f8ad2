"""DynamoDB TTL on the running stack: an item of the orders table (TTL on
``expiresAt``, from infra/resources.yaml) stays until the stack's clock passes
its expiry, then goes as AWS deletes it: a REMOVE on the stream marked as
DynamoDB's own, delivered to the stream's handler like any other record.

Its own stack: it moves the clock."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from devstack.testing import RunningStack, running_stack

TABLE = "eventshop-local-orders"
TTL_IDENTITY = {"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"}


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    with running_stack() as stack:
        yield stack


def stream_records(streams: Any, stream_arn: str) -> list[dict[str, Any]]:
    (shard,) = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(
        StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    out: list[dict[str, Any]] = []
    while True:
        page = streams.get_records(ShardIterator=iterator, Limit=1000)
        out += page["Records"]
        if not page["Records"]:
            return out
        iterator = page["NextShardIterator"]


def test_an_expired_item_goes_with_a_ttl_remove_once_the_clock_passes_it(
    stack: RunningStack,
) -> None:
    ddb = stack.client("dynamodb")
    assert ddb.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": "expiresAt",
    }
    key = {"pk": {"S": f"TTL-PROBE#{uuid.uuid4().hex}"}, "sk": {"S": "PROBE"}}
    now = datetime.fromisoformat(stack.control.status()["clock"]).timestamp()
    ddb.put_item(TableName=TABLE, Item={**key, "expiresAt": {"N": str(int(now) + 3600)}})

    stack.drain()
    assert "Item" in ddb.get_item(TableName=TABLE, Key=key, ConsistentRead=True)

    advanced_at = time.time()
    stack.control.advance_clock(3601)
    status = stack.drain(60)

    assert "Item" not in ddb.get_item(TableName=TABLE, Key=key, ConsistentRead=True)
    stream_arn = ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    mine = [
        r
        for r in stream_records(stack.client("dynamodbstreams"), stream_arn)
        if r["dynamodb"]["Keys"] == key
    ]
    assert [r["eventName"] for r in mine] == ["INSERT", "REMOVE"]
    insert, remove = mine
    assert remove["userIdentity"] == TTL_IDENTITY
    assert remove["dynamodb"]["OldImage"] == insert["dynamodb"]["NewImage"]
    assert "userIdentity" not in insert

    (reaper,) = [s for s in status["sources"] if s["kind"] == "ttl"]
    assert reaper["deleted"] >= 1
    # The relay heard the REMOVE (and ignored it, as any non-INSERT) without failing.
    relayed = [
        d
        for d in stack.control.deliveries()
        if d["handler"] == "relay_order_events" and d["at"] >= advanced_at
    ]
    assert relayed
    assert {d["outcome"] for d in relayed} == {"ok"}
    assert not [f for f in status["failures"] if f["handler"] == "relay_order_events"]
