"""A DynamoDB stream mapping's error handling on moto in-process, as Lambda
does it: retries (``MaximumRetryAttempts``), bisection
(``BisectBatchOnFunctionError``: splits use no retries), records too old
(``MaximumRecordAgeInSeconds``), and the invocation record sent to the
on-failure destination (SQS or SNS) in the shape AWS documents; the
iterator age ``/status`` shows."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

from devstack import eventsources as es

ROOT = Path(__file__).resolve().parents[3]
ACCOUNT = "123456789012"
FAILURES = "arn:aws:sqs:${AWS::Region}:${AWS::AccountId}:failures-${Stage}"
BISECTING_ONE_RETRY = {"MaximumRetryAttempts": 1, "BisectBatchOnFunctionError": True}


class Journal:
    """The handler: each call's keys; raises (or reports) for 'bad' items."""

    def __init__(self, report: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.report = report  # report the bad record in batchItemFailures
        self.healed = False

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        keys = [r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"]]
        self.calls.append(keys)
        bad = [
            r["dynamodb"]["SequenceNumber"]
            for r in event["Records"]
            if r["dynamodb"]["Keys"]["pk"]["S"].startswith("bad") and not self.healed
        ]
        if bad and self.report:
            return {"batchItemFailures": [{"itemIdentifier": bad[0]}]}
        if bad:
            raise RuntimeError("poison record")
        return None


@pytest.fixture
def rt(aws: boto3.session.Session, streams: Any) -> es.Runtime:
    runtime = es.Runtime(aws, "app", "test")
    runtime.streams = streams
    return runtime


@pytest.fixture
def stream_arn(aws: boto3.session.Session) -> str:
    ddb = aws.client("dynamodb")
    ddb.create_table(
        TableName="items",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return str(ddb.describe_table(TableName="items")["Table"]["LatestStreamArn"])


@pytest.fixture
def failures(aws: boto3.session.Session) -> str:
    return str(aws.client("sqs").create_queue(QueueName="failures-test")["QueueUrl"])


def later(rt: es.Runtime, seconds: float) -> None:
    """The emulator's time (which stamps the records) moves on by ``seconds``."""
    wall = rt.wall
    rt.wall = lambda: wall() + seconds


def write(aws: boto3.session.Session, *keys: str) -> None:
    ddb = aws.client("dynamodb")
    for key in keys:
        ddb.put_item(TableName="items", Item={"pk": {"S": key}})


def source(
    rt: es.Runtime,
    stream_arn: str,
    handler: Journal,
    destination: str | None = None,
    **settings: Any,
) -> es.StreamSource:
    """A wired source with these mapping ``settings`` (and this on-failure
    ``destination``), reading from the start of the stream."""
    if destination is not None:
        settings["DestinationConfig"] = {"OnFailure": {"Destination": destination}}
    mapping = es.StreamMapping.declared(settings, 3)
    s = es.StreamSource(
        rt,
        "on_change",
        handler,
        stream_arn,
        10,
        "TRIM_HORIZON",
        0,
        mapping.maximum_retry_attempts,
        mapping,
    )
    s.wire()
    return s


def settle(s: es.StreamSource) -> None:
    """Poll until the stream is read and nothing is held, each retry made at
    once (the backoff between attempts is Lambda's, not what is tested)."""
    for _ in range(100):
        for shard in s.shards:
            shard.not_before = 0.0
        if not s.poll() and not any(shard.retry for shard in s.shards):
            return
    raise AssertionError("the stream never settled")


def sent(aws: boto3.session.Session, url: str) -> list[dict[str, Any]]:
    response = aws.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in response.get("Messages", [])]


def sequence_numbers(s: es.StreamSource, streams: Any) -> dict[str, str]:
    """Every record's key -> its sequence number, read from the stream again."""
    (shard,) = s.shards
    iterator = streams.get_shard_iterator(
        StreamArn=s.stream_arn, ShardId=shard.shard_id, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = streams.get_records(ShardIterator=iterator)["Records"]
    return {r["dynamodb"]["Keys"]["pk"]["S"]: r["dynamodb"]["SequenceNumber"] for r in records}


def test_an_exhausted_batch_sends_aws_invocation_record_to_the_queue(
    aws: boto3.session.Session, rt: es.Runtime, stream_arn: str, failures: str, streams: Any
) -> None:
    handler = Journal()
    s = source(rt, stream_arn, handler, MaximumRetryAttempts=2, destination=FAILURES)
    write(aws, "bad-1")
    settle(s)
    write(aws, "good-1")
    settle(s)

    assert handler.calls == [["bad-1"]] * 3 + [["good-1"]]  # 1 try + 2 retries, then on
    (record,) = sent(aws, failures)
    seq = sequence_numbers(s, streams)["bad-1"]
    request, response, info = (
        record.pop("requestContext"),
        record.pop("responseContext"),
        record.pop("DDBStreamBatchInfo"),
    )
    assert re.fullmatch(r"[0-9a-f-]{36}", request.pop("requestId"))
    assert request == {
        "functionArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:app-test-on_change",
        "condition": "RetryAttemptsExhausted",
        "approximateInvokeCount": 3,
    }
    assert response == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert record.pop("version") == "1.0"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record.pop("timestamp"))
    assert record == {}
    arrival = info.pop("approximateArrivalOfFirstRecord")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", arrival)
    assert info == {
        "shardId": s.shards[0].shard_id,
        "startSequenceNumber": seq,
        "endSequenceNumber": seq,
        "approximateArrivalOfLastRecord": arrival,
        "batchSize": 1,
        "streamArn": stream_arn,
    }
    # What it holds is where to read the records again, as on AWS.
    iterator = streams.get_shard_iterator(
        StreamArn=info["streamArn"],
        ShardId=info["shardId"],
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        SequenceNumber=info["startSequenceNumber"],
    )["ShardIterator"]
    (again, *_) = streams.get_records(ShardIterator=iterator, Limit=1)["Records"]
    assert again["dynamodb"]["Keys"] == {"pk": {"S": "bad-1"}}
    (failure,) = rt.failures
    assert "batch failed 3 time(s); 1 record(s) set aside to " in failure["why"]
    assert failure["why"].endswith("/failures-test") and failure["detail"] == [seq]
    status = s.describe()
    assert (status["setAside"], status["heldAttempts"], status["iteratorAgeSeconds"]) == (1, 0, 0)
    assert status["onFailureDestination"] == FAILURES


def test_bisection_isolates_the_poison_record_and_splits_use_no_retries(
    aws: boto3.session.Session, rt: es.Runtime, stream_arn: str, failures: str, streams: Any
) -> None:
    handler = Journal()
    s = source(rt, stream_arn, handler, FAILURES, **BISECTING_ONE_RETRY)
    write(aws, "a", "b", "bad", "d")
    settle(s)

    assert handler.calls == [
        ["a", "b", "bad", "d"],  # fails: split in two
        ["a", "b"],  # the first half succeeds
        ["bad", "d"],  # fails: split again
        ["bad"],  # fails alone: now each failure is a retry
        ["bad"],  # its one retry
        ["d"],  # the shard goes on
    ]
    (record,) = sent(aws, failures)
    seq = sequence_numbers(s, streams)["bad"]
    info = record["DDBStreamBatchInfo"]
    assert (info["batchSize"], info["startSequenceNumber"], info["endSequenceNumber"]) == (
        1,
        seq,
        seq,
    )
    assert record["requestContext"]["approximateInvokeCount"] == 2


def test_without_bisection_the_whole_batch_is_set_aside(
    aws: boto3.session.Session, rt: es.Runtime, stream_arn: str, failures: str, streams: Any
) -> None:
    handler = Journal()
    s = source(rt, stream_arn, handler, MaximumRetryAttempts=1, destination=FAILURES)
    write(aws, "a", "b", "bad", "d")
    settle(s)

    assert handler.calls == [["a", "b", "bad", "d"]] * 2
    (record,) = sent(aws, failures)
    seqs = sequence_numbers(s, streams)
    info = record["DDBStreamBatchInfo"]
    assert (info["batchSize"], info["startSequenceNumber"], info["endSequenceNumber"]) == (
        4,
        seqs["a"],
        seqs["d"],
    )


def test_a_partial_batch_failure_retries_from_the_failed_record_and_is_no_function_error(
    aws: boto3.session.Session, rt: es.Runtime, stream_arn: str, failures: str, streams: Any
) -> None:
    """ReportBatchItemFailures: the batch goes on from the first failed record
    (bisection is for a failed invocation only), and what is set aside is that
    rest, with no functionError: the function returned."""
    handler = Journal(report=True)
    s = source(rt, stream_arn, handler, FAILURES, **BISECTING_ONE_RETRY)
    write(aws, "a", "bad", "c")
    settle(s)

    assert handler.calls == [["a", "bad", "c"], ["bad", "c"]]
    (record,) = sent(aws, failures)
    seqs = sequence_numbers(s, streams)
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    info = record["DDBStreamBatchInfo"]
    assert (info["batchSize"], info["startSequenceNumber"], info["endSequenceNumber"]) == (
        2,
        seqs["bad"],
        seqs["c"],
    )


def test_an_sns_destination_gets_the_record_as_its_message(
    aws: boto3.session.Session, rt: es.Runtime, stream_arn: str
) -> None:
    sns, sqs = aws.client("sns"), aws.client("sqs")
    topic = sns.create_topic(Name="stream-failures-test")["TopicArn"]
    url = sqs.create_queue(QueueName="heard")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"])
    handler = Journal()
    elsewhere = "arn:aws:sns:eu-west-1:111111111111:stream-failures-test"
    s = source(rt, stream_arn, handler, MaximumRetryAttempts=0, destination=elsewhere)
    write(aws, "bad")
    settle(s)

    assert handler.calls == [["bad"]]
    (envelope,) = sent(aws, url)
    assert envelope["TopicArn"] == topic  # found by its name, in the emulator's account
    record = json.loads(envelope["Message"])
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["DDBStreamBatchInfo"]["batchSize"] == 1


def test_without_a_destination_the_batch_is_skipped_loudly(
    aws: boto3.session.Session,
    rt: es.Runtime,
    stream_arn: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    handler = Journal()
    s = source(rt, stream_arn, handler, MaximumRetryAttempts=0)
    write(aws, "bad", "good")
    settle(s)

    assert handler.calls == [["bad", "good"]]
    (failure,) = rt.failures
    assert (
        failure["why"] == "batch failed 1 time(s); 2 record(s) skipped (no on-failure destination)"
    )
    assert any(r.levelname == "ERROR" and "skipped" in r.getMessage() for r in caplog.records)
    assert s.describe()["setAside"] == 1


def test_a_destination_that_does_not_exist_is_reported_and_the_shard_goes_on(
    aws: boto3.session.Session, rt: es.Runtime, stream_arn: str
) -> None:
    handler = Journal()
    missing = "arn:aws:sqs:us-east-1:123456789012:no-such-queue"
    s = source(rt, stream_arn, handler, MaximumRetryAttempts=0, destination=missing)
    write(aws, "bad")
    settle(s)
    write(aws, "good")
    settle(s)

    assert handler.calls == [["bad"], ["good"]]
    (failure,) = rt.failures
    assert failure["why"] == f"batch failed 1 time(s); 1 record(s) skipped ({missing} unreachable)"


def test_records_older_than_the_maximum_age_are_set_aside_uninvoked(
    aws: boto3.session.Session, rt: es.Runtime, stream_arn: str, failures: str
) -> None:
    handler = Journal()
    s = source(rt, stream_arn, handler, MaximumRecordAgeInSeconds=60, destination=FAILURES)
    write(aws, "late-1", "late-2")
    later(rt, 120)  # the records are two minutes old
    settle(s)
    rt.clock.advance(3600)  # the stack's clock is not what ages records
    write(aws, "fresh")
    rt.wall = time.time
    settle(s)

    assert handler.calls == [["fresh"]]
    (record,) = sent(aws, failures)
    assert record["requestContext"]["condition"] == "RecordAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert "responseContext" not in record  # never invoked
    assert record["DDBStreamBatchInfo"]["batchSize"] == 2


def test_a_held_batch_expires_by_age_after_failing(
    aws: boto3.session.Session, rt: es.Runtime, stream_arn: str, failures: str
) -> None:
    handler = Journal()
    s = source(
        rt,
        stream_arn,
        handler,
        MaximumRetryAttempts=-1,
        MaximumRecordAgeInSeconds=60,
        destination=FAILURES,
    )
    write(aws, "bad")
    s.poll()
    s.shards[0].not_before = 0.0
    s.poll()
    assert handler.calls == [["bad"]] * 2 and s.describe()["heldAttempts"] == 2
    later(rt, 61)
    settle(s)

    assert handler.calls == [["bad"]] * 2
    (record,) = sent(aws, failures)
    assert record["requestContext"]["condition"] == "RecordAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["responseContext"]["functionError"] == "Unhandled"


def test_the_iterator_age_is_the_oldest_unfinished_record_and_zero_when_caught_up(
    aws: boto3.session.Session, rt: es.Runtime, stream_arn: str
) -> None:
    handler = Journal()
    s = source(rt, stream_arn, handler, MaximumRetryAttempts=-1)
    assert s.describe()["iteratorAgeSeconds"] == 0
    write(aws, "bad")
    s.poll()  # failed: held for a retry
    later(rt, 100)
    held = s.describe()
    assert held["heldAttempts"] == 1
    assert 100 <= held["iteratorAgeSeconds"] < 160
    assert "failed batch, 1 attempt(s) so far" in str(s.pending())
    assert s.waiting()  # its next attempt is on a timer
    handler.healed = True
    settle(s)
    assert s.describe()["iteratorAgeSeconds"] == 0 and not s.waiting()
    assert s.pending() is None


def test_the_project_mappings_send_bounded_streams_to_the_stream_failures_queue() -> None:
    """eventshop's file: the products stream's handler gets 3 retries with
    bisection, then the template's stream-failures queue of the stage; the
    outbox relay holds its shard and sets nothing aside."""
    declared = json.loads((ROOT / ".chalice" / "event-source-mappings.json").read_text())
    alerts = es.stream_mapping(declared, "low_stock_alerts", 0)
    relay = es.stream_mapping(declared, "relay_order_events", 0)
    assert (alerts.maximum_retry_attempts, alerts.bisect_on_error) == (3, True)
    assert (relay.maximum_retry_attempts, relay.on_failure) == (-1, None)
    assert alerts.on_failure is not None
    sqs = QueueUrls()
    rt = SimpleNamespace(stage="local", region="us-east-1", account=ACCOUNT, sqs=sqs)
    assert es.resolve_destination(rt, alerts.on_failure) == ("sqs", "url")  # type: ignore[arg-type]
    template = (ROOT / "infra" / "resources.yaml").read_text()
    assert "QueueName: !Sub eventshop-${Stage}-stream-failures" in template
    assert sqs.asked == ["eventshop-local-stream-failures"]


class QueueUrls:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def get_queue_url(self, **request: str) -> dict[str, str]:
        self.asked.append(request["QueueName"])
        return {"QueueUrl": "url"}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"MaximumRetryAttempts": "3"}, "MaximumRetryAttempts must be an integer from -1"),
        ({"MaximumRetryAttempts": -2}, "MaximumRetryAttempts must be an integer from -1"),
        ({"MaximumRecordAgeInSeconds": True}, "MaximumRecordAgeInSeconds must be an integer"),
        ({"BisectBatchOnFunctionError": "yes"}, "BisectBatchOnFunctionError must be true or false"),
        (
            {"DestinationConfig": {"OnFailure": {"Destination": "arn:aws:lambda:x:1:function:f"}}},
            "must be an SQS queue or SNS topic ARN",
        ),
        ({"DestinationConfig": {"OnFailure": {"Destination": 5}}}, "SQS queue or SNS topic ARN"),
    ],
)
def test_a_malformed_mapping_is_refused_with_the_function_named(
    settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        es.stream_mapping({"on_change": settings}, "on_change", 3)
    assert str(raised.value).startswith("event source mapping of on_change: ")


def test_an_unknown_placeholder_in_a_destination_is_an_error() -> None:
    rt = SimpleNamespace(stage="local", region="us-east-1", account=ACCOUNT)
    with pytest.raises(ValueError, match=r"unknown placeholder \$\{Env\}"):
        es.resolve_destination(rt, "arn:aws:sqs:us-east-1:1:q-${Env}")  # type: ignore[arg-type]
