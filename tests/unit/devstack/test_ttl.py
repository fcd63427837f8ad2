"""devstack's DynamoDB TTL on moto in-process: what ``devstack.ttl.reap`` deletes
and the REMOVE records it leaves (through GetRecords), its emulator route,
provisioning's ``UpdateTimeToLive``, and the ``TtlReaper`` event source that
``drain`` waits for after the clock moves."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from werkzeug.test import Client
from werkzeug.wrappers import Response

from devstack import eventsources as es
from devstack import provision, ttl

REGION = "us-east-1"
NOW = 1_750_000_000
LAMBDA_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


@pytest.fixture
def ddb(aws: boto3.session.Session) -> Any:
    return aws.client("dynamodb")


def table(ddb: Any, name: str, ttl_attribute: str | None = "expiresAt", view: str = "") -> str:
    """A pk/sk table, its TTL on ``ttl_attribute`` (None: never enabled) and a
    stream of ``view``; returns its stream ARN ("" without one)."""
    extra: dict[str, Any] = {}
    if view:
        extra["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": view}
    ddb.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )
    if ttl_attribute:
        ddb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"AttributeName": ttl_attribute, "Enabled": True},
        )
    return str(ddb.describe_table(TableName=name)["Table"].get("LatestStreamArn", ""))


def put(ddb: Any, name: str, sk: str, **attributes: dict[str, Any]) -> None:
    ddb.put_item(TableName=name, Item={"pk": {"S": "p"}, "sk": {"S": sk}, **attributes})


def keys(ddb: Any, name: str) -> set[str]:
    return {i["sk"]["S"] for i in ddb.scan(TableName=name, ConsistentRead=True)["Items"]}


def records(streams: Any, stream_arn: str) -> list[dict[str, Any]]:
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]
    iterator = streams.get_shard_iterator(
        StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    return list(streams.get_records(ShardIterator=iterator)["Records"])


# --- reap, in the emulator ------------------------------------------------------------


def test_only_items_whose_number_attribute_is_past_now_are_deleted(ddb: Any) -> None:
    table(ddb, "t")
    put(ddb, "t", "expired", expiresAt={"N": str(NOW - 1)})
    put(ddb, "t", "fraction", expiresAt={"N": f"{NOW - 1}.5"})
    put(ddb, "t", "future", expiresAt={"N": str(NOW + 3600)})
    put(ddb, "t", "exactly-now", expiresAt={"N": str(NOW)})  # not *less* than now
    put(ddb, "t", "missing")
    put(ddb, "t", "a-string", expiresAt={"S": str(NOW - 1)})
    put(ddb, "t", "a-set", expiresAt={"NS": [str(NOW - 1)]})
    put(ddb, "t", "nested", data={"M": {"expiresAt": {"N": str(NOW - 1)}}})
    put(ddb, "t", "over-five-years-ago", expiresAt={"N": str(NOW - ttl.FIVE_YEARS - 1)})
    put(ddb, "t", "other-attribute", ttl={"N": str(NOW - 1)})

    deleted = ttl.reap(NOW)

    assert list(deleted.values()) == [2]
    assert next(iter(deleted)).endswith(":table/t")
    assert keys(ddb, "t") == {
        "future",
        "exactly-now",
        "missing",
        "a-string",
        "a-set",
        "nested",
        "over-five-years-ago",
        "other-attribute",
    }
    assert ttl.reap(NOW) == {}  # nothing left to delete


def test_the_clock_given_decides_not_the_wall_clock(ddb: Any) -> None:
    table(ddb, "t")
    soon = int(time.time()) + 3600
    put(ddb, "t", "soon", expiresAt={"N": str(soon)})

    assert ttl.reap(time.time()) == {}
    assert ttl.reap(soon + 1) != {}
    assert keys(ddb, "t") == set()


def test_tables_without_ttl_enabled_are_untouched(ddb: Any) -> None:
    table(ddb, "never", ttl_attribute=None)
    table(ddb, "disabled")
    ddb.update_time_to_live(
        TableName="disabled",
        TimeToLiveSpecification={"AttributeName": "expiresAt", "Enabled": False},
    )
    for name in ("never", "disabled"):
        put(ddb, name, "expired", expiresAt={"N": str(NOW - 1)})

    assert ttl.reap(NOW) == {}
    assert keys(ddb, "never") == keys(ddb, "disabled") == {"expired"}


def test_a_ttl_deletion_is_a_remove_record_marked_as_dynamodbs(ddb: Any, streams: Any) -> None:
    stream_arn = table(ddb, "t", view="NEW_AND_OLD_IMAGES")
    item = {"pk": {"S": "p"}, "sk": {"S": "gone"}, "expiresAt": {"N": str(NOW - 1)}}
    ddb.put_item(TableName="t", Item=item)
    put(ddb, "t", "deleted-by-a-user")
    ddb.delete_item(TableName="t", Key={"pk": {"S": "p"}, "sk": {"S": "deleted-by-a-user"}})

    ttl.reap(NOW)

    insert, _, user_remove, ttl_remove = records(streams, stream_arn)
    assert ttl_remove["eventName"] == "REMOVE"
    assert ttl_remove["userIdentity"] == {
        "PrincipalId": "dynamodb.amazonaws.com",
        "Type": "Service",
    }
    assert ttl_remove["dynamodb"]["Keys"] == {"pk": {"S": "p"}, "sk": {"S": "gone"}}
    assert ttl_remove["dynamodb"]["OldImage"] == item
    assert "NewImage" not in ttl_remove["dynamodb"]
    # A user's delete, like any other write, has none.
    assert user_remove["eventName"] == "REMOVE"
    assert "userIdentity" not in user_remove and "userIdentity" not in insert
    assert set(ttl_remove["dynamodb"]) == set(user_remove["dynamodb"])


@pytest.mark.parametrize(
    ("view", "images"),
    [("KEYS_ONLY", set()), ("NEW_IMAGE", set()), ("OLD_IMAGE", {"OldImage"})],
)
def test_the_remove_record_follows_the_streams_view_type(
    ddb: Any, streams: Any, view: str, images: set[str]
) -> None:
    stream_arn = table(ddb, "t", view=view)
    put(ddb, "t", "gone", expiresAt={"N": str(NOW - 1)})

    ttl.reap(NOW)

    remove = records(streams, stream_arn)[-1]
    assert remove["eventName"] == "REMOVE"
    assert remove["userIdentity"]["PrincipalId"] == "dynamodb.amazonaws.com"
    assert {"Keys", "OldImage", "NewImage"} & set(remove["dynamodb"]) == {"Keys"} | images


def test_a_table_without_a_stream_is_reaped_too(ddb: Any) -> None:
    table(ddb, "t")
    put(ddb, "t", "gone", expiresAt={"N": str(NOW - 1)})
    assert list(ttl.reap(NOW).values()) == [1]


# --- the emulator's route -------------------------------------------------------------


def test_the_route_reaps_and_everything_else_goes_to_moto(ddb: Any) -> None:
    table(ddb, "t")
    put(ddb, "t", "gone", expiresAt={"N": str(NOW - 1)})
    moto_app = Response("moto", status=200)
    client = Client(ttl.with_ttl_route(moto_app))

    assert client.post("/", data="{}").get_data(as_text=True) == "moto"
    assert client.get(ttl.ROUTE).status_code == 405
    assert client.post(ttl.ROUTE, data="{}").status_code == 400
    assert client.post(ttl.ROUTE, data=json.dumps({"now": "soon"})).status_code == 400
    reply = client.post(ttl.ROUTE, data=json.dumps({"now": NOW}))
    assert reply.status_code == 200
    assert list(reply.get_json()["deleted"].values()) == [1]
    assert keys(ddb, "t") == set()


# --- provisioning ---------------------------------------------------------------------

TEMPLATE = """
Parameters:
  Stage: {Type: String}
Resources:
  Sessions:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub app-${Stage}-sessions
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      TimeToLiveSpecification: {AttributeName: expiresAt, Enabled: true}
  Plain:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub app-${Stage}-plain
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
"""


def test_provisioning_applies_the_templates_ttl(aws: boto3.session.Session, tmp_path: Path) -> None:
    path = tmp_path / "resources.yaml"
    path.write_text(TEMPLATE)

    provision.deploy(aws, path, "devstack-test", {"Stage": "test"})

    ddb = aws.client("dynamodb")
    described = ddb.describe_time_to_live(TableName="app-test-sessions")["TimeToLiveDescription"]
    assert described == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiresAt"}
    plain = ddb.describe_time_to_live(TableName="app-test-plain")["TimeToLiveDescription"]
    assert plain["TimeToLiveStatus"] == "DISABLED"


# --- the TtlReaper source, in the parent ----------------------------------------------


class FakeRuntime:
    """What TtlReaper uses of devstack's Runtime."""

    def __init__(self) -> None:
        self.clock = es.Clock()


class CountingReaper(es.TtlReaper):
    """A TtlReaper that records the ``now`` of each reap instead of calling
    the emulator."""

    def __init__(self, rt: Any, deleted: dict[str, int] | None = None) -> None:
        super().__init__(rt)
        self.calls: list[float] = []
        self.answer = deleted or {}

    def _reap(self, now: float) -> dict[str, int]:
        self.calls.append(now)
        return self.answer


def test_the_reaper_is_due_until_it_has_reaped_at_the_clocks_offset() -> None:
    rt = FakeRuntime()
    reaper = CountingReaper(rt)
    assert reaper.pending() == "ttl reap due (the clock moved since the last reap)"

    assert reaper.poll() is False  # nothing deleted
    assert reaper.pending() is None
    assert reaper.poll() is False
    assert len(reaper.calls) == 1  # at most once a second while the clock only ticks

    rt.clock.advance(3601)
    assert reaper.pending() is not None
    reaper.poll()
    assert len(reaper.calls) == 2  # at once after the clock moved
    assert reaper.calls[1] - time.time() == pytest.approx(3601, abs=5)
    assert reaper.pending() is None


def test_the_reaper_reaps_again_once_a_wall_second_passed() -> None:
    reaper = CountingReaper(FakeRuntime())
    reaper.poll()
    reaper._last_attempt -= reaper.INTERVAL
    reaper.poll()
    assert len(reaper.calls) == 2


def test_a_reap_that_deleted_something_counts_as_work_and_is_described() -> None:
    reaper = CountingReaper(FakeRuntime(), {"arn:aws:dynamodb:us-east-1:1:table/t": 3})
    assert reaper.poll() is True
    described = reaper.describe()
    assert (described["kind"], described["handler"]) == ("ttl", "dynamodb-ttl")
    assert (described["reaps"], described["deleted"]) == (1, 3)
    assert described["lastReap"] is not None


def test_a_failed_reap_stays_due_and_is_retried_once_a_second() -> None:
    class Failing(CountingReaper):
        def _reap(self, now: float) -> dict[str, int]:
            self.calls.append(now)
            raise OSError("emulator down")

    reaper = Failing(FakeRuntime())
    with pytest.raises(OSError):
        reaper.poll()
    assert reaper.pending() is not None
    assert reaper.busy is False
    assert reaper.poll() is False  # not again within the second
    assert len(reaper.calls) == 1


def test_a_ttl_identity_reaches_the_handler_in_lambdas_keys() -> None:
    got = es._lambda_record(
        {"eventName": "REMOVE", "userIdentity": ttl.TTL_IDENTITY, "dynamodb": {"Keys": {}}}
    )
    assert got["userIdentity"] == LAMBDA_IDENTITY
    assert "userIdentity" not in es._lambda_record({"eventName": "REMOVE", "dynamodb": {}})


def test_drain_after_an_advance_includes_the_reap_and_its_stream_delivery(
    aws: boto3.session.Session, ddb: Any, streams: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole loop in one process: the clock moves, drain returns only
    after the reaper deleted the item and the stream handler got its REMOVE."""
    stream_arn = table(ddb, "t", view="NEW_AND_OLD_IMAGES")
    rt = es.Runtime(aws, "app", "test")
    rt.streams = streams
    heard: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], context: Any) -> None:
        heard.extend(event["Records"])

    monkeypatch.setattr(es.TtlReaper, "_reap", lambda self, now: ttl.reap(now))
    stream = es.StreamSource(rt, "on_change", handler, stream_arn, 100, "TRIM_HORIZON", 0, 3)
    emulator = es.Emulator(rt, [stream, es.TtlReaper(rt)])
    emulator.start()
    try:
        put(ddb, "t", "k", expiresAt={"N": str(int(time.time()) + 3600)})
        emulator.drain(10)
        assert keys(ddb, "t") == {"k"}
        assert [r["eventName"] for r in heard] == ["INSERT"]

        rt.clock.advance(3601)
        emulator.kick()
        status = emulator.drain(10)
    finally:
        emulator.stop()
    assert keys(ddb, "t") == set()
    insert, remove = heard
    assert (remove["eventName"], remove["userIdentity"]) == ("REMOVE", LAMBDA_IDENTITY)
    assert remove["dynamodb"]["OldImage"] == insert["dynamodb"]["NewImage"]
    (reaper,) = [s for s in status["sources"] if s["kind"] == "ttl"]
    assert reaper["deleted"] == 1
