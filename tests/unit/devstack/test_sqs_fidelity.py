"""SQS through devstack's poller on moto in-process: message delays
(``DelaySeconds`` on the queue, and per message), FIFO queues (a failed
message holds its group back, other groups go on; deduplication; no batching
window), and the age of the oldest message ``/status`` shows."""

from __future__ import annotations

import json
import logging
import time
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

from devstack import eventsources as es
from devstack.sqs_fifo import DEDUPLICATION_MS, _first_sent, patch_fifo


class Handler:
    """Records every batch; fails the bodies in ``failing`` (reporting them,
    and with ``successors`` every later message of their group too)."""

    def __init__(self, successors: bool = True) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.done: list[str] = []  # bodies handled successfully, in order
        self.failing: dict[str, int] = {}  # body -> failures still to come (-1: always)
        self.successors = successors

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        records = event["Records"]
        self.batches.append(records)
        failed: list[str] = []
        failed_groups: set[str] = set()
        for r in records:
            body, group = r["body"], r["attributes"].get("MessageGroupId")
            left = self.failing.get(body, 0)
            if left or (self.successors and group in failed_groups):
                failed.append(r["messageId"])
                failed_groups.add(group)
                if left > 0:
                    self.failing[body] = left - 1
            else:
                self.done.append(body)
        return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}


@pytest.fixture
def rt(aws: boto3.session.Session) -> es.Runtime:
    patch_fifo()  # the emulator's SQS FIFO, as the local stack runs it
    return es.Runtime(aws, "app", "test")


def fifo_queue(sqs: Any, receives: int = 5, attributes: dict[str, str] | None = None) -> str:
    dlq = sqs.create_queue(QueueName="work-dlq.fifo", Attributes={"FifoQueue": "true"})
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq["QueueUrl"], AttributeNames=["QueueArn"])
    redrive = {
        "deadLetterTargetArn": dlq_arn["Attributes"]["QueueArn"],
        "maxReceiveCount": receives,
    }
    return str(
        sqs.create_queue(
            QueueName="work.fifo",
            Attributes={
                "FifoQueue": "true",
                "VisibilityTimeout": "1",
                "RedrivePolicy": json.dumps(redrive),
                **(attributes or {}),
            },
        )["QueueUrl"]
    )


def send(sqs: Any, url: str, group: str, *bodies: str) -> None:
    for body in bodies:
        sqs.send_message(
            QueueUrl=url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=body
        )


def drained(rt: es.Runtime, source: es.SqsSource) -> None:
    emulator = es.Emulator(rt, [source])
    emulator.start()
    try:
        emulator.drain(20)
    finally:
        emulator.stop()


@pytest.mark.parametrize("where", ["queue", "message"])
def test_a_delayed_message_is_not_delivered_before_its_delay_and_drain_waits_for_it(
    aws: boto3.session.Session, rt: es.Runtime, where: str
) -> None:
    sqs = aws.client("sqs")
    attrs = {"DelaySeconds": "1"} if where == "queue" else {}
    url = sqs.create_queue(QueueName="later", Attributes=attrs)["QueueUrl"]
    handler = Handler()
    source = es.SqsSource(rt, "on_later", handler, "later", 10, 0)
    source.wire()
    timer = {"DelaySeconds": 1} if where == "message" else {}
    sqs.send_message(QueueUrl=url, MessageBody="soon", **timer)

    assert source.poll() is False and handler.batches == []  # delayed: not receivable yet
    assert source.pending() == "queue later holds 1 message(s)"  # so drain waits for it
    assert source.waiting()  # and the poller looks again soon
    drained(rt, source)

    ((record,),) = handler.batches
    attributes = record["attributes"]
    assert record["body"] == "soon"
    assert (
        int(attributes["ApproximateFirstReceiveTimestamp"]) - int(attributes["SentTimestamp"])
        >= 1000
    )
    assert not source.waiting() and source.pending() is None


def test_a_failed_fifo_message_holds_its_group_back_while_other_groups_go_on(
    aws: boto3.session.Session, rt: es.Runtime
) -> None:
    sqs = aws.client("sqs")
    url = fifo_queue(sqs)
    send(sqs, url, "a", "a1", "a2", "a3")
    send(sqs, url, "b", "b1", "b2")
    handler = Handler()
    handler.failing["a1"] = 1  # fails once, then succeeds
    source = es.SqsSource(rt, "on_work", handler, "work.fifo", 2, 0)
    drained(rt, source)

    # a1 failed (and a2 with it, reported as its successor): nothing more of
    # group a came while they were in flight, group b went on meanwhile, and
    # group a came back from a1 (moto alone gave a2 first).
    batches = [[r["body"] for r in b] for b in handler.batches]
    assert batches[:2] == [["a1", "a2"], ["b1", "b2"]]
    assert [body for batch in batches[2:] for body in batch] == ["a1", "a2", "a3"]
    assert handler.done == ["b1", "b2", "a1", "a2", "a3"]
    first = handler.batches[0][0]
    assert first["attributes"]["MessageGroupId"] == "a"
    assert first["attributes"]["MessageDeduplicationId"] == "a1"


def test_a_fifo_message_that_keeps_failing_goes_to_the_dlq_and_frees_its_group(
    aws: boto3.session.Session, rt: es.Runtime
) -> None:
    sqs = aws.client("sqs")
    url = fifo_queue(sqs, receives=2)
    send(sqs, url, "a", "a1", "a2", "a3")
    handler = Handler()
    handler.failing["a1"] = -1
    source = es.SqsSource(rt, "on_work", handler, "work.fifo", 10, 0)
    drained(rt, source)

    seen = [
        [(r["body"], r["attributes"]["ApproximateReceiveCount"]) for r in batch]
        for batch in handler.batches
    ]
    # (each batch's bodies with their receive counts, should this ever differ)
    assert handler.done == ["a2", "a3"], seen  # only once a1 had left the queue
    assert [r["body"] for r in handler.batches[0]] == ["a1", "a2", "a3"]
    dlq = sqs.get_queue_url(QueueName="work-dlq.fifo")["QueueUrl"]
    (dead,) = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    assert dead["Body"] == "a1"
    assert source.describe()["oldestMessageAgeSeconds"] == 0


def test_a_fifo_handler_that_reports_a_failure_but_not_its_successors_is_warned(
    aws: boto3.session.Session, rt: es.Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    """Lambda deletes what the handler did not report: a2 is gone before a1's
    retry, out of order. devstack does the same, and says so."""
    sqs = aws.client("sqs")
    url = fifo_queue(sqs)
    send(sqs, url, "a", "a1", "a2")
    handler = Handler(successors=False)
    handler.failing["a1"] = 1
    source = es.SqsSource(rt, "on_work", handler, "work.fifo", 10, 0)
    source.wire()
    with caplog.at_level(logging.WARNING, logger="devstack.events"):
        assert source.poll()
    assert handler.done == ["a2"]
    (warning,) = [r.getMessage() for r in caplog.records if "FIFO group a" in r.getMessage()]
    assert "was reported failed but the later" in warning
    assert source.describe()["oldestMessageAgeSeconds"] >= 0
    assert list(source._unfinished) == [handler.batches[0][0]["messageId"]]  # a1 only


@pytest.mark.parametrize("content_based", [False, True])
def test_fifo_deduplication_delivers_a_repeated_send_once(
    aws: boto3.session.Session, rt: es.Runtime, content_based: bool
) -> None:
    sqs = aws.client("sqs")
    attrs = {"ContentBasedDeduplication": "true"} if content_based else {}
    url = fifo_queue(sqs, attributes=attrs)
    for _ in range(3):  # a producer retrying its send
        extra = {} if content_based else {"MessageDeduplicationId": "order-1"}
        sqs.send_message(QueueUrl=url, MessageBody="order 1", MessageGroupId="g", **extra)
    handler = Handler()
    source = es.SqsSource(rt, "on_work", handler, "work.fifo", 10, 0)
    drained(rt, source)

    assert handler.done == ["order 1"]
    assert len(handler.batches) == 1


def test_fifo_deduplication_outlives_the_message_it_dropped_a_repeat_of(
    aws: boto3.session.Session, rt: es.Runtime
) -> None:
    """The producer retries after the consumer already handled and deleted
    the first send: within 5 minutes SQS still drops it (moto alone did not)."""
    sqs = aws.client("sqs")
    url = fifo_queue(sqs)
    handler = Handler()
    source = es.SqsSource(rt, "on_work", handler, "work.fifo", 10, 0)
    send(sqs, url, "g", "order-1")
    drained(rt, source)
    send(sqs, url, "g", "order-1", "order-2")
    drained(rt, source)

    assert handler.done == ["order-1", "order-2"]


def test_deduplication_ids_are_forgotten_after_five_minutes_and_scoped_as_asked() -> None:
    def message(at: int, group: str = "g", ident: str = "d") -> SimpleNamespace:
        return SimpleNamespace(sent_timestamp=at, group_id=group, deduplication_id=ident)

    queue = SimpleNamespace(deduplication_scope="queue")
    assert _first_sent(queue, message(0))
    assert not _first_sent(queue, message(DEDUPLICATION_MS - 1))
    assert not _first_sent(queue, message(1, group="h"))  # the queue's scope: any group
    assert _first_sent(queue, message(DEDUPLICATION_MS))  # the interval is over
    per_group = SimpleNamespace(deduplication_scope="messageGroup")
    assert _first_sent(per_group, message(0))
    assert _first_sent(per_group, message(1, group="h"))
    assert not _first_sent(per_group, message(2, group="h"))


def test_a_batching_window_on_a_fifo_queue_is_refused_as_lambda_refuses_it(
    aws: boto3.session.Session, rt: es.Runtime
) -> None:
    fifo_queue(aws.client("sqs"))
    source = es.SqsSource(rt, "on_work", Handler(), "work.fifo", 10, 5)
    with pytest.raises(RuntimeError, match="Lambda refuses a batching window on a FIFO queue"):
        source.wire()


def test_the_oldest_message_age_is_the_oldest_failed_message_kept(
    aws: boto3.session.Session, rt: es.Runtime
) -> None:
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="plain", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    handler = Handler()
    handler.failing["x"] = -1
    source = es.SqsSource(rt, "on_plain", handler, "plain", 10, 0)
    source.wire()
    assert source.describe()["oldestMessageAgeSeconds"] == 0
    sqs.send_message(QueueUrl=url, MessageBody="x")
    sqs.send_message(QueueUrl=url, MessageBody="y")
    assert source.poll()
    wall = rt.wall
    rt.wall = lambda: wall() + 50  # the emulator's time moves on
    status = source.describe()
    assert 50 <= status["oldestMessageAgeSeconds"] < 110  # x, failed and kept
    assert (status["queue"], status["fifo"]) == ("plain", False)
    assert source.waiting()  # x is in flight until its visibility timeout
    rt.wall = time.time
    sqs.purge_queue(QueueUrl=url)
    assert source.pending() is None  # the queue is empty: nothing is kept
    assert source.describe()["oldestMessageAgeSeconds"] == 0
