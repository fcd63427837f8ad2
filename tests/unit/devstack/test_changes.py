"""Wake-ups (devstack.changes): which requests make work for which pollers,
the emulator's long poll, and the emulator waking only the sources a write
made work for."""

from __future__ import annotations

import io
import json
import threading
import time
from typing import Any

from devstack.changes import CHANGES_ROUTE, QUEUES, STREAMS, Feed, kinds_of, with_change_feed
from devstack.eventsources import Emulator, Source


def environ(
    method: str = "POST",
    target: str = "",
    body: bytes = b"",
    path: str = "/",
    extra: dict[str, str] | None = None,
) -> dict[str, Any]:
    env: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        **(extra or {}),
    }
    if target:
        env["HTTP_X_AMZ_TARGET"] = target
    return env


def test_writes_are_classified_by_what_they_make_work_for() -> None:
    form: dict[str, str] = {"CONTENT_TYPE": "application/x-www-form-urlencoded; charset=utf-8"}
    assert kinds_of(environ(target="DynamoDB_20120810.PutItem"), b"") == {STREAMS}
    assert kinds_of(environ(target="DynamoDB_20120810.TransactWriteItems"), b"") == {STREAMS}
    assert kinds_of(environ(target="DynamoDB_20120810.Query"), b"") == set()
    assert kinds_of(environ(target="AmazonSQS.SendMessageBatch"), b"") == {QUEUES}
    assert kinds_of(environ(target="AmazonSQS.ReceiveMessage"), b"") == set()
    assert kinds_of(environ(target="AWSEvents.PutEvents"), b"") == {QUEUES}
    publish = b"Action=Publish&TopicArn=arn"
    assert kinds_of(environ(extra=form), publish) == {QUEUES}
    assert kinds_of(environ(extra=form), b"Action=ListTopics") == set()
    # An S3 object written (put, posted form, deleted): its notifications go through queues.
    assert kinds_of(environ("PUT", path="/bucket/key"), b"...") == {QUEUES}
    assert kinds_of(environ(path="/bucket", extra=form), b"key=uploads%2Fa&policy=x") == {QUEUES}
    assert kinds_of(environ("GET", path="/bucket/key"), b"") == set()
    assert kinds_of(environ(path="/_devstack/dynamodb/ttl"), b"{}") == set()


def test_the_long_poll_answers_when_a_write_lands_and_says_its_kind() -> None:
    feed = Feed()
    answers: list[tuple[int, list[str]]] = []
    waiter = threading.Thread(target=lambda: answers.append(feed.wait(0, 10)))
    waiter.start()
    feed.note([STREAMS])  # before or while it waits: either way it answers
    waiter.join(timeout=5)
    assert answers == [(1, [STREAMS])]
    feed.note([QUEUES])
    assert feed.wait(1, 0) == (2, [QUEUES])  # only what moved after generation 1
    assert feed.wait(2, 0) == (2, [])  # nothing new: an empty answer after the wait


def test_the_feed_notes_only_successful_writes_and_serves_its_route() -> None:
    feed = Feed()
    statuses = iter(["200 OK", "400 Bad Request", "200 OK"])

    def app(env: dict[str, Any], start_response: Any) -> list[bytes]:
        assert env["wsgi.input"].read() == b"{}"  # the body still reaches moto
        start_response(next(statuses), [])
        return [b""]

    wrapped = with_change_feed(app, feed)
    start = lambda *a: None  # noqa: E731
    visibility = "AmazonSQS.ChangeMessageVisibility"  # may release a message, adds none
    wrapped(environ(target=visibility, body=b"{}"), start)
    wrapped(environ(target=visibility, body=b"{}"), start)  # a 400
    # A table write that appended no stream record (moto's hook saw none): no work.
    wrapped(environ(target="DynamoDB_20120810.PutItem", body=b"{}"), start)
    assert feed.generation == 1
    route = environ("GET", path=CHANGES_ROUTE, extra={"QUERY_STRING": "since=0&wait=0"})
    (body,) = wrapped(route, start)
    assert json.loads(body) == {"generation": 1, "kinds": [QUEUES]}


class Counting(Source):
    def __init__(self, name: str, wakes_on: str | None) -> None:
        self.name, self.wakes_on = name, wakes_on
        self.cycles = 0
        self.last_found = False
        self.busy = False
        self.errors = 0
        self.last_start = -1
        self.kind = "test"
        self.polls = 0
        self.polled = threading.Condition()

    def wire(self) -> None:
        pass

    def poll(self) -> bool:
        with self.polled:
            self.polls += 1
            self.polled.notify_all()
        return False

    def wait_polls(self, n: int) -> bool:
        with self.polled:
            return self.polled.wait_for(lambda: self.polls >= n, timeout=10)


def test_a_wake_polls_the_sources_of_its_kind_at_once_and_no_others() -> None:
    stream, queue = Counting("s", STREAMS), Counting("q", QUEUES)
    emulator = Emulator(rt=_Rt(), sources=[stream, queue], wakeups=True)  # type: ignore[arg-type]
    emulator.start()
    try:
        # Idle: both back off (0.05, 0.1, 0.2, 0.4, 0.8 s ...) towards IDLE_MAX_WOKEN.
        assert stream.wait_polls(7) and queue.wait_polls(7)
        before = (stream.polls, queue.polls)
        started = time.monotonic()
        emulator.wake([STREAMS])
        assert stream.wait_polls(before[0] + 1)
        # At once: after its 7th look, the next was due only after a 3.2 s backoff.
        assert time.monotonic() - started < 1.5
        assert queue.polls <= before[1] + 1  # at most its own timer, no wake
    finally:
        emulator.stop()


class _Rt:
    def __init__(self) -> None:
        self.stopping = threading.Event()
