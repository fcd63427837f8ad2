"""The event-source emulator: Lambda's pollers and pushers, for one machine.

It reads the handlers the app registered (Chalice's own registry, blueprints
included) and delivers Lambda-shaped events to them, in this process:

- SQS: batch size, batching window, delete on success, ``batchItemFailures``
  honoured (an invalid identifier fails the whole batch, as on AWS), an
  exception retries the whole batch after the queue's visibility timeout, and
  redrive to the DLQ follows the queue's own RedrivePolicy (the emulator's).
  Delays (``DelaySeconds``, message timers), FIFO group ordering and
  deduplication are the emulator's SQS (``devstack.sqs_fifo`` mends moto's
  FIFO), in wall time; a FIFO queue refuses a batching window, as Lambda does.
- SNS and S3: an internal queue subscribed to the topic, or set as the bucket's
  notification target with the handler's prefix/suffix/events, turned into the
  SNS envelope or S3 record Lambda would pass. Like Lambda's asynchronous
  invocation, a failing event is retried twice, then set aside in the internal
  queue's DLQ and logged.
- DynamoDB streams: shard iterators, batches of ``batch_size``, the batching
  window, ``batchItemFailures`` (retry from the first failed record), and the
  mapping's error handling (``StreamMapping``): a failing batch retried up to
  ``MaximumRetryAttempts`` (or ``stream_max_retries``; -1 holds the shard
  until the batch succeeds), split in halves first under
  ``BisectBatchOnFunctionError`` (splits use no retries), records older than
  ``MaximumRecordAgeInSeconds`` (wall time) given up on; what is given
  up on goes, as AWS's invocation record, to ``DestinationConfig.OnFailure``
  (an SQS queue or SNS topic), or without one is skipped, and reported either
  way. (With the defaults AWS would block the shard for a day: a hang here.)
- Schedules: rate and cron expressions on a clock that tests can advance.
- DynamoDB TTL (``TtlReaper``): expired items deleted at that clock, with the
  REMOVE stream records AWS marks as TTL deletions (``devstack.ttl``).

``drain`` blocks until nothing has pending work and no handler runs.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import random
import re
import threading
import time
import traceback
import urllib.request
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus, unquote_plus

from devstack import schedule as sched
from devstack.changes import QUEUES, STREAMS, queue_key, stream_key
from devstack.moto_patches import BACKLOG_ROUTE, RULES_ROUTE
from devstack.traces import Recorder, Trace
from devstack.ttl import ROUTE as TTL_ROUTE

if TYPE_CHECKING:
    from devstack.state import StateFolder

log = logging.getLogger("devstack.events")
# What Lambda's runtime prints in the invocation's stream (a handler that
# raised): outside devstack's own loggers, so it reaches the root's handlers,
# with the app's redaction and format, and the invocation's trace.
runtime_log = logging.getLogger("lambda.runtime")

Handler = Callable[[dict[str, Any], Any], Any]

# SNS and S3 invoke Lambda asynchronously: one try plus two retries.
ASYNC_ATTEMPTS = 3


class DrainTimeout(RuntimeError):
    def __init__(self, pending: list[str]) -> None:
        super().__init__("event sources still busy: " + "; ".join(pending))
        self.pending = pending


class Clock:
    """Wall-clock time plus an offset that tests advance to fire schedules."""

    def __init__(self, offset: float = 0.0, saved: Callable[[float], None] | None = None) -> None:
        self._offset = offset
        self._lock = threading.Lock()
        self._saved = saved  # told each new offset (a state folder keeps it)

    def now(self) -> datetime:
        with self._lock:
            offset = self._offset
        return datetime.now(UTC) + timedelta(seconds=offset)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds
            if self._saved is not None:
                self._saved(self._offset)

    @property
    def offset(self) -> float:
        """Seconds the clock has been advanced by, in all."""
        with self._lock:
            return self._offset


@dataclass
class Faults:
    # Deliver every event twice, as at-least-once delivery may.
    duplicate_deliveries: bool = False


@dataclass
class Delivery:
    kind: str
    handler: str
    count: int
    outcome: str  # ok | partial | error
    failed: int
    ms: float
    at: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


class LambdaContext:
    """The parts of Lambda's context object handlers commonly read."""

    def __init__(self, function_name: str, timeout_ms: int = 60_000) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "devstack"
        self.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        )
        self._deadline = time.monotonic() + timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def to_lambda_json(value: Any) -> Any:
    """boto3 parses what Lambda would pass as JSON: undo that."""
    if isinstance(value, dict):
        return {k: to_lambda_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_lambda_json(v) for v in value]
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    return value


@dataclass(frozen=True)
class Backlogs:
    """The emulator's answer to ``BACKLOG_ROUTE``: per queue (``<account>/<name>``)
    its delayed, in-flight and visible messages; per table with a stream, each
    shard's last sequence number (-1: none yet)."""

    queues: dict[str, list[int]]
    streams: dict[str, dict[str, int]]

    def queue(self, url: str) -> list[int] | None:
        return self.queues.get("/".join(url.rstrip("/").split("/")[-2:]))

    def stream(self, stream_arn: str) -> dict[str, int] | None:
        # arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>
        return self.streams.get(stream_arn.split("/")[1])


class Runtime:
    """What every source shares: clients, clock, faults, the delivery log and
    the traces of every handler call (``devstack.traces``)."""

    def __init__(
        self, session: Any, app_name: str, stage: str, recorder: Recorder | None = None
    ) -> None:
        from botocore.config import Config

        self.session = session
        self.app_name = app_name
        self.stage = stage
        self.region = session.region_name
        config = Config(retries={"mode": "standard", "max_attempts": 3})
        self.config = config
        # Buckets whose events also go to EventBridge (provisioning applied it):
        # an S3 source that sets its notifications must keep that on.
        self.eventbridge_buckets: frozenset[str] = frozenset()
        self.sqs = session.client("sqs", config=config)
        self.sns = session.client("sns", config=config)
        self.s3 = session.client("s3", config=config)
        self.streams = session.client("dynamodbstreams", config=config)
        self.account = session.client("sts").get_caller_identity()["Account"]
        self.clock = Clock()
        # The emulator's own time, which stamps stream records and messages:
        # their ages are by it, not by ``clock`` (tests move ``clock`` ahead).
        self.wall: Callable[[], float] = time.time
        # With a state folder (devstack.state): where each stream shard's
        # handler got to, kept across restarts; None: memory only.
        self.positions: StateFolder | None = None
        self.faults = Faults()
        self.deliveries: deque[Delivery] = deque(maxlen=5000)
        self.failures: deque[dict[str, Any]] = deque(maxlen=1000)
        self.recorder = recorder or Recorder()
        self.stopping = threading.Event()
        self._lock = threading.Lock()

    def function_name(self, handler: str) -> str:
        return f"{self.app_name}-{self.stage}-{handler}"

    def invoke(
        self, kind: str, name: str, handler: Handler, event: dict[str, Any], count: int
    ) -> tuple[Any, BaseException | None]:
        """Call the handler (twice under the duplicate fault); never raises."""
        times = 2 if self.faults.duplicate_deliveries else 1
        result: Any = None
        error: BaseException | None = None
        started = time.perf_counter()
        traces: list[Trace] = []
        for _ in range(times):
            r, exc = self._call(kind, name, handler, event, count, traces)
            if exc is None:
                result = _merge_results(result, r)
            else:
                error = exc
        ms = (time.perf_counter() - started) * 1000
        outcome, failed = _outcome(error, result, count)
        self.record(Delivery(kind, name, count, outcome, failed, round(ms, 1)), traces)
        return result, error

    def _call(
        self,
        kind: str,
        name: str,
        handler: Handler,
        event: dict[str, Any],
        count: int,
        traces: list[Trace],
    ) -> tuple[Any, BaseException | None]:
        """One handler call, as one Lambda invocation: traced (its log records
        and EMF lines) by the recorder. An exception is logged in the trace, as
        Lambda's runtime logs it in the invocation's stream (through the
        root's handlers, so the app's redaction applies to it too)."""
        try:
            # A JSON round trip: handlers get fresh, JSON-shaped data, as
            # from Lambda, and cannot leak state between duplicates.
            payload = json.dumps(event)
        except (TypeError, ValueError) as exc:
            log.error("%s %s: the event is not JSON: %s", kind, name, exc)
            return None, exc
        with self.recorder.capture(kind, name, payload) as trace:
            traces.append(trace)
            try:
                r = handler(json.loads(payload), LambdaContext(self.function_name(name)))
            except Exception as exc:  # noqa: BLE001 - a handler failure is data here
                trace.outcome = "error"
                runtime_log.error(
                    "%s %s raised:\n%s",
                    kind,
                    name,
                    "".join(traceback.format_exception(exc)).rstrip(),
                )
                return None, exc
            trace.outcome = _outcome(None, r, count)[0]
            return r, None

    def record(self, d: Delivery, traces: list[Trace] | None = None) -> None:
        """Keep ``d``, and print its line with what its invocations
        (``traces``) logged and measured under it."""
        with self._lock:
            self.deliveries.append(d)
        level = logging.INFO if d.outcome == "ok" else logging.WARNING
        console = self.recorder.console
        log.log(
            level,
            "deliver %-8s %-28s count=%-3d outcome=%-7s failed=%d %.1fms%s",
            d.kind,
            d.handler,
            d.count,
            d.outcome,
            d.failed,
            d.ms,
            console.block(traces) if console is not None and traces else "",
        )

    def fail(self, kind: str, name: str, why: str, detail: Any) -> None:
        with self._lock:
            self.failures.append(
                {"kind": kind, "handler": name, "why": why, "detail": detail, "at": time.time()}
            )
        log.error("%s %s: %s", kind, name, why)

    def internal_queue(self, name: str) -> tuple[str, str]:
        """A queue the emulator uses to receive SNS/S3 pushes; its DLQ keeps
        what failed every asynchronous attempt."""
        dlq = self.sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        dlq_arn = self.queue_arn(dlq)
        url = self.sqs.create_queue(
            QueueName=name,
            Attributes={
                "VisibilityTimeout": "1",
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": ASYNC_ATTEMPTS}
                ),
            },
        )["QueueUrl"]
        return url, self.queue_arn(url)

    def queue_arn(self, url: str) -> str:
        attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(attrs["Attributes"]["QueueArn"])

    def backlogs(self) -> Backlogs | None:
        """Where work waits in the emulator, every queue and stream at one
        instant, in one request to devstack's emulator
        (``moto_patches.with_backlog_route``); None where the emulator is not
        devstack's (an in-process moto: each source then asks for itself)."""
        endpoint = str(self.sqs.meta.endpoint_url).rstrip("/")
        if not endpoint.startswith(("http://127.0.0.1", "http://localhost")):
            return None
        try:
            with urllib.request.urlopen(endpoint + BACKLOG_ROUTE, timeout=10) as r:  # noqa: S310 - the emulator
                answer = json.loads(r.read())
            return Backlogs(dict(answer["queues"]), dict(answer["streams"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def queue_backlog(self, url: str, backlogs: Backlogs | None = None) -> int:
        if backlogs is not None:
            counts = backlogs.queue(url)
            if counts is not None:
                return sum(counts)
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=[
                "ApproximateNumberOfMessagesDelayed",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessages",
            ],
        )["Attributes"]
        return sum(int(v) for v in attrs.values())


def _outcome(error: BaseException | None, result: Any, count: int) -> tuple[str, int]:
    """ok | partial | error, and how many records failed."""
    failed = count if error else len(_failure_ids(result) or [])
    return ("error" if error else ("partial" if failed else "ok")), failed


def _failure_ids(result: Any) -> list[str] | None:
    """The identifiers a handler reported failed; None means 'the whole batch'."""
    if not isinstance(result, dict) or not result.get("batchItemFailures"):
        return []
    ids = []
    for item in result["batchItemFailures"]:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not ident or not isinstance(ident, str):
            return None
        ids.append(ident)
    return ids


def _merge_results(a: Any, b: Any) -> Any:
    if a is None:
        return b
    fa, fb = _failure_ids(a), _failure_ids(b)
    if fa is None or fb is None:
        return {"batchItemFailures": [{"itemIdentifier": ""}]}
    merged = sorted(set(fa) | set(fb))
    return {"batchItemFailures": [{"itemIdentifier": i} for i in merged]}


class Source:
    kind = "?"
    # The kind of write that makes work for it (devstack.changes): a write of
    # that kind wakes its poller at once. None: it runs on time alone.
    wakes_on: str | None = None
    # The kind of work its own deliveries make (a TTL reap: stream records),
    # whose pollers are woken after it found something.
    feeds: str | None = None

    def __init__(self, rt: Runtime, name: str, handler: Handler) -> None:
        self.rt = rt
        self.name = name
        self.handler = handler
        # Maintained by the Emulator's poller thread.
        self.cycles = 0
        self.last_found = False
        self.busy = False
        self.polling = False  # inside a cycle (set and read under the Emulator's lock)
        self.errors = 0
        self.last_start = -1

    def wire(self) -> None:
        """Create what delivery needs (subscriptions, notifications, iterators)."""

    def poll(self) -> bool:
        """One cycle: deliver what is there. True if anything was delivered."""
        raise NotImplementedError

    def mark(self) -> Any:
        """What the drain must read of this source before it asks the
        emulator for the backlogs (taken under the Emulator's lock, with no
        cycle of this source running)."""
        return None

    def settled(self, mark: Any, backlogs: Backlogs) -> str | None:
        """With the emulator's backlogs read after ``mark``: why this source
        still has work, or None. ``pending`` without a per-source request."""
        return self.pending(backlogs)

    def wake_key(self) -> str | None:
        """The queue or stream whose new work wakes this source alone
        (``devstack.changes``), once wired; None: only its kind wakes it."""
        return None

    def pending(self, backlogs: Backlogs | None = None) -> str | None:
        """Why this source is not idle, or None; ``backlogs``: every queue's
        messages, read once for all sources (``Runtime.backlogs``)."""
        return None

    def waiting(self) -> bool:
        """Whether time alone will give it work (asked only when idle long)."""
        return False

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "handler": self.name,
            "cycles": self.cycles,
            "busy": self.busy,
            "lastFound": self.last_found,
            "lastStart": self.last_start,
            "pollErrors": self.errors,
        }

    def _receive(self, url: str, limit: int) -> list[dict[str, Any]]:
        # Short polls only: a long poll would hold the emulator's request lock.
        response = self.rt.sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=max(1, min(limit, 10)),
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        )
        return list(response.get("Messages", []))

    def _delete(self, url: str, messages: list[dict[str, Any]]) -> None:
        for i in range(0, len(messages), 10):
            chunk = messages[i : i + 10]
            self.rt.sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(chunk)
                ],
            )


class SqsSource(Source):
    kind = "sqs"
    wakes_on = QUEUES

    def __init__(
        self,
        rt: Runtime,
        name: str,
        handler: Handler,
        queue: str,
        batch_size: int,
        window_seconds: int,
    ) -> None:
        super().__init__(rt, name, handler)
        self.queue = queue
        self.batch_size = batch_size
        self.window = window_seconds
        self.url = ""
        self.arn = ""
        self.fifo = queue.endswith(".fifo")
        self.max_receives: int | None = None  # the queue's redrive maxReceiveCount
        # Messages received and not deleted (being handled, or failed and
        # waiting out their visibility timeout): id -> sent at (epoch seconds).
        self._unfinished: dict[str, float] = {}

    def wire(self) -> None:
        self.url = self.rt.sqs.get_queue_url(QueueName=self.queue)["QueueUrl"]
        attrs = self.rt.sqs.get_queue_attributes(
            QueueUrl=self.url, AttributeNames=["QueueArn", "VisibilityTimeout", "RedrivePolicy"]
        )["Attributes"]
        self.arn = attrs["QueueArn"]
        if "RedrivePolicy" in attrs:
            self.max_receives = int(json.loads(attrs["RedrivePolicy"])["maxReceiveCount"])
        if self.fifo and self.window:
            raise RuntimeError(
                f"{self.name}: queue {self.queue} is FIFO, and Lambda refuses a batching "
                f"window on a FIFO queue (maximum_batching_window_in_seconds={self.window})"
            )
        if int(attrs["VisibilityTimeout"]) <= self.window:
            # Messages held for the window reappear before they are handled.
            log.warning(
                "sqs %s: queue %s visibility timeout %ss should exceed the "
                "batching window %ss (AWS: 6x the function timeout plus the window)",
                self.name,
                self.queue,
                attrs["VisibilityTimeout"],
                self.window,
            )

    def poll(self) -> bool:
        """One batch. A FIFO queue's ordering is SQS's own (the emulator's,
        ``devstack.sqs_fifo``): a receive returns no message of a group while
        one of it is in flight, so a failed message holds its group back until
        it succeeds or is redriven to the DLQ; Lambda deletes what the handler
        did not report, as here, so a handler must report a failed message's
        successors in its group too (a warning says when it did not)."""
        messages = self._receive(self.url, self.batch_size)
        if not messages:
            return False
        deadline = time.monotonic() + self.window
        by_id = {m["MessageId"]: m for m in messages}
        while len(by_id) < self.batch_size and time.monotonic() < deadline:
            more = self._receive(self.url, self.batch_size - len(by_id))
            # A message whose visibility timeout ran out inside the window
            # comes back: keep one copy, with the newest receipt handle.
            by_id.update((m["MessageId"], m) for m in more)
            if not more:
                self.rt.stopping.wait(0.05)  # inside the batching window
        messages = list(by_id.values())
        for m in messages:
            sent = int(m.get("Attributes", {}).get("SentTimestamp", time.time() * 1000))
            self._unfinished[m["MessageId"]] = sent / 1000
        self.busy = True
        try:
            records = [self._record(m) for m in messages]
            result, error = self.rt.invoke(
                self.kind, self.name, self.handler, {"Records": records}, len(records)
            )
        finally:
            self.busy = False
        failed = None if error is not None else _failure_ids(result)
        ids = {m["MessageId"] for m in messages}
        if error is None and (failed is None or not set(failed) <= ids):
            log.warning(
                "sqs %s: invalid batchItemFailures %r: the whole batch fails", self.name, result
            )
            failed = None
        if failed is None:  # nothing deleted: all of it returns after the timeout
            self._kept(messages)
            return True
        if self.fifo:
            self._check_group_order(messages, set(failed))
        self._delete(self.url, [m for m in messages if m["MessageId"] not in set(failed)])
        for m in messages:
            if m["MessageId"] not in set(failed):
                self._unfinished.pop(m["MessageId"], None)
        self._kept([m for m in messages if m["MessageId"] in set(failed)])
        return True

    def _kept(self, messages: list[dict[str, Any]]) -> None:
        """``messages`` failed and stay in the queue, but one received its
        last time goes to the DLQ at the next receive: no longer this queue's."""
        for m in messages:
            receives = int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
            if self.max_receives is not None and receives >= self.max_receives:
                self._unfinished.pop(m["MessageId"], None)

    def _check_group_order(self, messages: list[dict[str, Any]], failed: set[str]) -> None:
        failed_groups: dict[str, str] = {}
        for m in messages:
            group = m.get("Attributes", {}).get("MessageGroupId")
            if group is None:
                continue
            if m["MessageId"] in failed:
                failed_groups.setdefault(group, m["MessageId"])
            elif group in failed_groups:
                log.warning(
                    "sqs %s: FIFO group %s: message %s was reported failed but the later "
                    "%s was not: it is deleted (as Lambda does) before %s is retried, out "
                    "of order; report every message after a failed one in its group",
                    self.name,
                    group,
                    failed_groups[group],
                    m["MessageId"],
                    failed_groups[group],
                )

    def oldest_message_age(self) -> float:
        """About SQS's ApproximateAgeOfOldestMessage, in wall time: how
        long ago the oldest message this mapping received and has not finished
        with was sent (a failed one is kept until it succeeds or is
        redriven); 0 when none. Messages not yet received are not counted."""
        oldest = min(self._unfinished.values(), default=None)
        if oldest is None:
            return 0.0
        return round(max(0.0, self.rt.wall() - oldest), 3)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "queue": self.queue,
            "fifo": self.fifo,
            "oldestMessageAgeSeconds": self.oldest_message_age(),
        }

    def waiting(self) -> bool:
        """A delayed message (``DelaySeconds``, a message timer) or one in
        flight (a failed one waiting out its visibility timeout)."""
        counts = self.rt.sqs.get_queue_attributes(
            QueueUrl=self.url,
            AttributeNames=[
                "ApproximateNumberOfMessagesDelayed",
                "ApproximateNumberOfMessagesNotVisible",
            ],
        )["Attributes"]
        return any(int(v) for v in counts.values())

    def _record(self, m: dict[str, Any]) -> dict[str, Any]:
        attributes = {}
        for key, attr in m.get("MessageAttributes", {}).items():
            value: dict[str, Any] = {
                "dataType": attr["DataType"],
                "stringListValues": [],
                "binaryListValues": [],
            }
            if "StringValue" in attr:
                value["stringValue"] = attr["StringValue"]
            if "BinaryValue" in attr:
                value["binaryValue"] = base64.b64encode(attr["BinaryValue"]).decode()
            attributes[key] = value
        return {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": m.get("Attributes", {}),
            "messageAttributes": attributes,
            "md5OfBody": m.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.arn,
            "awsRegion": self.rt.region,
        }

    def wake_key(self) -> str | None:
        return queue_key(self.queue)

    def pending(self, backlogs: Backlogs | None = None) -> str | None:
        n = self.rt.queue_backlog(self.url, backlogs)
        if not n:
            self._unfinished.clear()  # whatever was kept left the queue (a redrive, a purge)
        return f"queue {self.queue} holds {n} message(s)" if n else None


class _AsyncQueueSource(Source):
    """SNS and S3 push to Lambda asynchronously; here through an internal queue."""

    wakes_on = QUEUES

    def __init__(self, rt: Runtime, name: str, handler: Handler) -> None:
        super().__init__(rt, name, handler)
        self.url = ""
        self.arn = ""

    def wire(self) -> None:
        self.url, self.arn = self.rt.internal_queue(f"devstack-{self.kind}-{self.name}"[:80])

    def events(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        raise NotImplementedError

    def poll(self) -> bool:
        messages = self._receive(self.url, 10)
        done = []
        for m in messages:
            receives = int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
            ok = True
            for event in self.events(m):
                self.busy = True
                try:
                    _, error = self.rt.invoke(
                        self.kind, self.name, self.handler, event, len(event.get("Records", [1]))
                    )
                finally:
                    self.busy = False
                ok = ok and error is None
            if ok:
                done.append(m)
            elif receives >= ASYNC_ATTEMPTS:
                self.rt.fail(
                    self.kind,
                    self.name,
                    f"failed {receives} attempts; set aside in {self.url}-dlq",
                    m.get("Body", "")[:2000],
                )
        if done:
            self._delete(self.url, done)
        return bool(messages)

    def wake_key(self) -> str | None:
        return queue_key(self.url.rstrip("/").rsplit("/", 1)[-1]) if self.url else None

    def pending(self, backlogs: Backlogs | None = None) -> str | None:
        n = self.rt.queue_backlog(self.url, backlogs)
        return f"{self.kind} events for {self.name}: {n}" if n else None


class SnsSource(_AsyncQueueSource):
    kind = "sns"

    def __init__(self, rt: Runtime, name: str, handler: Handler, topic: str) -> None:
        super().__init__(rt, name, handler)
        self.topic = topic
        self.topic_arn = ""
        self.subscription_arn = ""

    def wire(self) -> None:
        super().wire()
        arn = (
            self.topic
            if self.topic.startswith("arn:")
            else (f"arn:aws:sns:{self.rt.region}:{self.rt.account}:{self.topic}")
        )
        try:
            self.rt.sns.get_topic_attributes(TopicArn=arn)
        except Exception as exc:
            raise RuntimeError(
                f"{self.name}: topic {self.topic!r} does not exist; "
                "define it in the resource template"
            ) from exc
        self.topic_arn = arn
        self.subscription_arn = self.rt.sns.subscribe(
            TopicArn=arn,
            Protocol="sqs",
            Endpoint=self.arn,
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]

    def events(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        envelope = json.loads(message["Body"])
        sns = {
            "Type": envelope.get("Type", "Notification"),
            "MessageId": envelope["MessageId"],
            "TopicArn": envelope.get("TopicArn", self.topic_arn),
            "Subject": envelope.get("Subject"),
            "Message": envelope["Message"],
            "Timestamp": envelope.get("Timestamp"),
            "SignatureVersion": envelope.get("SignatureVersion", "1"),
            "Signature": envelope.get("Signature", "EXAMPLE"),
            "SigningCertUrl": envelope.get("SigningCertURL", ""),
            "UnsubscribeUrl": envelope.get("UnsubscribeURL", ""),
            "MessageAttributes": {
                k: {"Type": v.get("Type"), "Value": v.get("Value")}
                for k, v in (envelope.get("MessageAttributes") or {}).items()
            },
        }
        return [
            {
                "Records": [
                    {
                        "EventSource": "aws:sns",
                        "EventVersion": "1.0",
                        "EventSubscriptionArn": self.subscription_arn,
                        "Sns": sns,
                    }
                ]
            }
        ]


class EventBridgeSource(_AsyncQueueSource):
    """An ``on_cw_event`` handler: Chalice deploys a rule on the default bus
    with the handler's pattern and the function as its target. moto cannot
    invoke a Lambda target (it fails the whole PutEvents), so the rule here
    targets an internal queue, and each event it gets is handed to the
    handler as EventBridge hands it to Lambda (asynchronously: 3 attempts,
    then set aside). The emulator matches the pattern (prefix, anything-but,
    numeric, exists, ...)."""

    kind = "eventbridge"

    def __init__(self, rt: Runtime, name: str, handler: Handler, pattern: dict[str, Any]) -> None:
        super().__init__(rt, name, handler)
        self.pattern = pattern
        self.rule = f"devstack-{rt.app_name}-{rt.stage}-{name}"[:64]

    def wire(self) -> None:
        super().wire()
        events = self.rt.session.client("events", config=self.rt.config)
        events.put_rule(Name=self.rule, EventPattern=json.dumps(self.pattern), State="ENABLED")
        events.put_targets(Rule=self.rule, Targets=[{"Id": "devstack", "Arn": self.arn}])

    def events(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        sent = json.loads(message["Body"])  # what the rule's default input gives a queue
        return [
            {
                "version": sent.get("version", "0"),
                "id": sent["id"],
                "detail-type": sent["detail-type"],
                "source": sent["source"],
                "account": sent.get("account") or self.rt.account,
                "time": sent["time"],
                "region": sent.get("region") or self.rt.region,
                "resources": sent.get("resources") or [],
                "detail": sent.get("detail") or {},
            }
        ]


class S3Source(_AsyncQueueSource):
    kind = "s3"
    # S3's sequencer orders every event of a key, created and removed alike:
    # one counter for all sources, or a removal heard by one handler can look
    # older than the upload another handler heard.
    _sequencer = int(time.time() * 1e6)
    _seq_lock = threading.Lock()

    def __init__(
        self,
        rt: Runtime,
        name: str,
        handler: Handler,
        bucket: str,
        events: list[str],
        prefix: str | None,
        suffix: str | None,
    ) -> None:
        super().__init__(rt, name, handler)
        self.bucket = bucket
        self.event_names = events
        self.prefix = prefix
        self.suffix = suffix

    def wire(self) -> None:
        super().wire()
        config = self.rt.s3.get_bucket_notification_configuration(Bucket=self.bucket)
        config.pop("ResponseMetadata", None)
        config_id = f"devstack-{self.name}"
        queues = [q for q in config.get("QueueConfigurations", []) if q.get("Id") != config_id]
        entry: dict[str, Any] = {"Id": config_id, "QueueArn": self.arn, "Events": self.event_names}
        rules = [
            {"Name": n, "Value": v}
            for n, v in (("prefix", self.prefix), ("suffix", self.suffix))
            if v
        ]
        if rules:
            entry["Filter"] = {"Key": {"FilterRules": rules}}
        config["QueueConfigurations"] = [*queues, entry]
        if self.bucket in self.rt.eventbridge_buckets:  # moto never reports it back
            config["EventBridgeConfiguration"] = {}
        self.rt.s3.put_bucket_notification_configuration(
            Bucket=self.bucket, NotificationConfiguration=config
        )
        # The configuration call queues an s3:TestEvent; drop it now.
        for m in self._receive(self.url, 10):
            if "s3:TestEvent" in m["Body"]:
                self._delete(self.url, [m])

    @classmethod
    def _next_sequencer(cls) -> str:
        with cls._seq_lock:
            cls._sequencer += 1
            return f"{cls._sequencer:016X}"

    def events(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        body = json.loads(message["Body"])
        out = []
        for raw in body.get("Records", []):
            record = dict(raw)
            s3 = dict(record.get("s3", {}))
            obj = dict(s3.get("object", {}))
            # AWS form-encodes keys but keeps '/': 'uploads/my photo.jpg' arrives
            # as 'uploads/my+photo.jpg'. The emulator also encodes '/'.
            obj["key"] = quote_plus(unquote_plus(obj.get("key", "")), safe="/")
            obj.setdefault("sequencer", self._next_sequencer())
            s3["object"] = obj
            bucket = dict(s3.get("bucket", {}))
            bucket.setdefault("ownerIdentity", {"principalId": "DEVSTACK"})
            s3["bucket"] = bucket
            record["s3"] = s3
            record.setdefault("userIdentity", {"principalId": "DEVSTACK"})
            record.setdefault("requestParameters", {"sourceIPAddress": "127.0.0.1"})
            record.setdefault(
                "responseElements", {"x-amz-request-id": uuid.uuid4().hex[:16].upper()}
            )
            out.append({"Records": [record]})
        return out


@dataclass
class _Shard:
    shard_id: str
    iterator: str | None
    retry: list[dict[str, Any]] | None = None
    attempts: int = 0  # the retries the held batch has used
    not_before: float = 0.0  # a failed batch's next attempt, after a backoff
    # Bisection's other halves, delivered in order once the held batch is done.
    after: list[list[dict[str, Any]]] = field(default_factory=list)
    # The batch being delivered: read, not yet done with (the iterator age).
    inflight: list[dict[str, Any]] = field(default_factory=list)
    invokes: int = 0  # the held batch's invocations (approximateInvokeCount)
    function_error: str | None = None  # its last invocation's, if it raised
    # The last sequence number read from the shard (-1: none yet; None: not
    # known, an iterator at LATEST without devstack's backlog route).
    read_to: int | None = None


@dataclass(frozen=True)
class StreamMapping:
    """A stream mapping's error handling: the UpdateEventSourceMapping
    parameters Lambda reads for it (``.chalice/event-source-mappings.json``)."""

    maximum_retry_attempts: int = -1  # -1: until the batch succeeds
    bisect_on_error: bool = False  # BisectBatchOnFunctionError
    maximum_record_age: int = -1  # MaximumRecordAgeInSeconds, -1: no limit
    on_failure: str | None = None  # DestinationConfig.OnFailure.Destination

    @classmethod
    def declared(cls, settings: dict[str, Any], default_retries: int) -> StreamMapping:
        """From a mapping's settings; ValueError names a malformed one."""
        on_failure = (settings.get("DestinationConfig") or {}).get("OnFailure") or {}
        destination = on_failure.get("Destination")
        retries = settings.get("MaximumRetryAttempts", default_retries)
        age = settings.get("MaximumRecordAgeInSeconds", -1)
        bisect = settings.get("BisectBatchOnFunctionError", False)
        for key, value in (("MaximumRetryAttempts", retries), ("MaximumRecordAgeInSeconds", age)):
            if not isinstance(value, int) or isinstance(value, bool) or value < -1:
                raise ValueError(f"{key} must be an integer from -1, not {value!r}")
        if not isinstance(bisect, bool):
            raise ValueError(f"BisectBatchOnFunctionError must be true or false, not {bisect!r}")
        if destination is not None and not (
            isinstance(destination, str) and destination.split(":")[2:3] in (["sqs"], ["sns"])
        ):
            raise ValueError(
                "DestinationConfig.OnFailure.Destination must be an SQS queue "
                f"or SNS topic ARN, not {destination!r}"
            )
        return cls(retries, bisect, age, destination)


_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


def resolve_destination(rt: Runtime, declared: str) -> tuple[str, str]:
    """An on-failure destination's ARN (``${Stage}``, ``${AWS::Region}`` and
    ``${AWS::AccountId}`` substituted, as in a template's ``!Sub``) as the
    emulator names it: ``("sqs", queue URL)`` or ``("sns", topic ARN)``, by
    the resource's name (the emulator has one account and region). Raises
    ValueError for an unknown placeholder, the service's error for a queue or
    topic that does not exist."""
    values = {
        "Stage": str(rt.stage),
        "AWS::Region": str(rt.region),
        "AWS::AccountId": str(rt.account),
    }

    def value(match: re.Match[str]) -> str:
        if match.group(1) not in values:
            raise ValueError(f"{declared}: unknown placeholder ${{{match.group(1)}}}")
        return values[match.group(1)]

    arn = _PLACEHOLDER.sub(value, declared)
    service, name = arn.split(":")[2], arn.split(":", 5)[-1]
    if service == "sqs":
        return "sqs", str(rt.sqs.get_queue_url(QueueName=name)["QueueUrl"])
    topic = f"arn:aws:sns:{rt.region}:{rt.account}:{name}"
    rt.sns.get_topic_attributes(TopicArn=topic)
    return "sns", topic


def _created_at(record: dict[str, Any]) -> float:
    """A stream record's creation time (boto3 parses it into a datetime)."""
    value = record.get("dynamodb", {}).get("ApproximateCreationDateTime")
    if value is None:
        return time.time()
    return value.timestamp() if hasattr(value, "timestamp") else float(value)


def _lambda_record(record: dict[str, Any]) -> dict[str, Any]:
    """A GetRecords record as Lambda passes it: JSON-shaped, and a TTL
    deletion's ``userIdentity`` in Lambda's lowercase keys (GetRecords has
    ``PrincipalId``/``Type``; the event has ``principalId``/``type``)."""
    item: dict[str, Any] = to_lambda_json(record)
    identity = item.get("userIdentity")
    if isinstance(identity, dict):
        item["userIdentity"] = {k[:1].lower() + k[1:]: v for k, v in identity.items()}
    return item


class StreamSource(Source):
    kind = "dynamodb"
    wakes_on = STREAMS

    def __init__(
        self,
        rt: Runtime,
        name: str,
        handler: Handler,
        stream_arn: str,
        batch_size: int,
        starting_position: str,
        window_seconds: int,
        max_retries: int,
        mapping: StreamMapping | None = None,
    ) -> None:
        super().__init__(rt, name, handler)
        self.stream_arn = stream_arn
        self.batch_size = batch_size
        self.starting_position = starting_position
        self.window = window_seconds
        self.max_retries = max_retries
        # ``max_retries`` wins over the mapping's own MaximumRetryAttempts.
        self.mapping = mapping or StreamMapping()
        self.shards: list[_Shard] = []
        self._has_more = False
        self._target: tuple[str, str] | None = None  # the resolved on-failure destination
        self.set_aside = 0  # batches given up on (to the destination or skipped)

    def wire(self) -> None:
        desc = self.rt.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        kind = "TRIM_HORIZON" if self.starting_position == "TRIM_HORIZON" else "LATEST"
        if self.rt.positions is not None and self.rt.positions.restored:
            kind = "TRIM_HORIZON"  # a shard none of whose records was finished
        backlogs = self.rt.backlogs() if kind == "LATEST" else None
        heads = (backlogs.stream(self.stream_arn) if backlogs else None) or {}
        for shard in desc["Shards"]:
            where: dict[str, str] = {"ShardIteratorType": kind}
            read_to = -1 if kind == "TRIM_HORIZON" else None
            done = self.rt.positions and self.rt.positions.position(
                self.stream_arn, shard["ShardId"]
            )
            if done:  # go on after the last record a handler finished with
                where = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": done}
                read_to = int(done)
            elif kind == "LATEST" and shard["ShardId"] in heads:
                # LATEST as of the head the drain compares with: after it, or
                # from the start of a shard with no record yet.
                head = heads[shard["ShardId"]]
                where = (
                    {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": str(head)}
                    if head >= 0
                    else {"ShardIteratorType": "TRIM_HORIZON"}
                )
                read_to = head
            iterator = self.rt.streams.get_shard_iterator(
                StreamArn=self.stream_arn, ShardId=shard["ShardId"], **where
            )["ShardIterator"]
            self.shards.append(_Shard(shard["ShardId"], iterator, read_to=read_to))

    def _fetch(self, shard: _Shard, limit: int) -> list[dict[str, Any]]:
        if shard.iterator is None:
            return []
        response = self.rt.streams.get_records(ShardIterator=shard.iterator, Limit=limit)
        shard.iterator = response.get("NextShardIterator")
        records = list(response.get("Records", []))
        if records and shard.read_to is not None:
            shard.read_to = max(shard.read_to, int(records[-1]["dynamodb"]["SequenceNumber"]))
        return records

    def poll(self) -> bool:
        found = False
        self._has_more = False
        for shard in self.shards:
            if shard.retry and time.monotonic() < shard.not_before:
                self._has_more = True  # held: still work, not yet due
                continue
            records = shard.retry or self._fetch(shard, self.batch_size)
            if not records:
                continue
            shard.inflight = records
            deadline = time.monotonic() + self.window
            while (
                shard.retry is None
                and len(records) < self.batch_size
                and time.monotonic() < deadline
            ):
                more = self._fetch(shard, self.batch_size - len(records))
                records.extend(more)
                if not more:
                    self.rt.stopping.wait(0.05)  # inside the batching window
            found = True
            try:
                self._deliver(shard, records)
            finally:
                shard.inflight = []
            self._has_more = self._has_more or shard.retry is not None
        return found

    def _deliver(self, shard: _Shard, records: list[dict[str, Any]]) -> None:
        """One invocation with ``records`` (a new batch, or the held one
        again), then what Lambda does with its outcome: the shard moves on,
        or the batch (from its first failed record) is held for a retry,
        bisected, or set aside once its retries or its records' age run out."""
        expired = self._expired(records)
        if expired:
            self._set_aside(shard, records[:expired], "RecordAgeExceeded")
            self._finished(shard, records[:expired])
            records = records[expired:]
            if not records:
                self._next(shard)
                return
        event_records = []
        for r in records:
            item = _lambda_record(r)
            item["eventSourceARN"] = self.stream_arn
            item.setdefault("awsRegion", self.rt.region)
            item.setdefault("eventSource", "aws:dynamodb")
            event_records.append(item)
        self.busy = True
        try:
            result, error = self.rt.invoke(
                self.kind, self.name, self.handler, {"Records": event_records}, len(records)
            )
        finally:
            self.busy = False
        shard.invokes += 1
        shard.function_error = None if error is None else "Unhandled"
        retry: list[dict[str, Any]] | None = None
        whole = error is not None  # the whole batch failed, not some records
        if error is not None:
            retry = records
        else:
            failed = _failure_ids(result)
            seqs = [r["dynamodb"]["SequenceNumber"] for r in records]
            if failed is None or not set(failed) <= set(seqs):
                retry, whole = records, True
            elif failed:
                retry = records[min(seqs.index(f) for f in failed) :]
        if retry is None:
            self._finished(shard, records)
            self._next(shard)
            return
        if whole and self.mapping.bisect_on_error and len(retry) > 1:
            # Two halves, the first tried next; splitting uses no retries.
            half = (len(retry) + 1) // 2
            shard.after.insert(0, retry[half:])
            shard.retry, shard.attempts, shard.invokes = retry[:half], 0, 0
            shard.not_before = time.monotonic() + 0.05
            return
        shard.attempts += 1
        # Lambda backs off between attempts; a held shard must not spin a core.
        shard.not_before = time.monotonic() + min(2.0, 0.05 * 2 ** min(shard.attempts, 6))
        if 0 <= self.max_retries < shard.attempts:
            self._set_aside(shard, retry, "RetryAttemptsExhausted")
            self._finished(shard, records)
            self._next(shard)
        else:
            shard.retry = retry

    def _next(self, shard: _Shard) -> None:
        """The held batch is done with: next, the half a bisection left, if any."""
        shard.retry = shard.after.pop(0) if shard.after else None
        shard.attempts, shard.invokes, shard.function_error = 0, 0, None
        shard.not_before = 0.0

    def _expired(self, records: list[dict[str, Any]]) -> int:
        """How many leading records are older than MaximumRecordAgeInSeconds
        (in wall time, as the records are stamped; they come in creation order)."""
        limit = self.mapping.maximum_record_age
        if limit < 0:
            return 0
        oldest_kept = self.rt.wall() - limit
        return next(
            (i for i, r in enumerate(records) if _created_at(r) >= oldest_kept), len(records)
        )

    def _set_aside(self, shard: _Shard, records: list[dict[str, Any]], condition: str) -> None:
        """Give up on ``records`` as Lambda does: the invocation record to the
        mapping's on-failure destination when it has one, else just skipped;
        either way reported in the failures (``/status``)."""
        self.set_aside += 1
        if condition == "RecordAgeExceeded":
            why = f"{len(records)} record(s) older than {self.mapping.maximum_record_age}s"
        else:
            why = f"batch failed {shard.invokes} time(s); {len(records)} record(s)"
        destination = self.mapping.on_failure
        if destination is None:
            where = "skipped (no on-failure destination)"
        else:
            sent = self._send_failure(self._failure_record(shard, records, condition))
            where = f"set aside to {sent}" if sent else f"skipped ({destination} unreachable)"
        self.rt.fail(
            self.kind,
            self.name,
            f"{why} {where}",
            [r["dynamodb"]["SequenceNumber"] for r in records],
        )

    def _failure_record(
        self, shard: _Shard, records: list[dict[str, Any]], condition: str
    ) -> dict[str, Any]:
        """What Lambda sends a stream mapping's on-failure destination: the
        batch's place in the stream, not its records (AWS's example in
        "Retain discarded records for a DynamoDB event source"). Records set
        aside for their age before any invocation have no response context."""

        def arrival(record: dict[str, Any]) -> str:
            return datetime.fromtimestamp(_created_at(record), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

        rt = self.rt
        failure: dict[str, Any] = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": (
                    f"arn:aws:lambda:{rt.region}:{rt.account}:function:"
                    f"{rt.function_name(self.name)}"
                ),
                "condition": condition,
                "approximateInvokeCount": shard.invokes,
            }
        }
        if shard.invokes:
            response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
            if shard.function_error:
                response["functionError"] = shard.function_error
            failure["responseContext"] = response
        now = datetime.fromtimestamp(rt.wall(), UTC)
        failure["version"] = "1.0"
        failure["timestamp"] = (
            now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
        )
        failure["DDBStreamBatchInfo"] = {
            "shardId": shard.shard_id,
            "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
            "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
            "approximateArrivalOfFirstRecord": arrival(records[0]),
            "approximateArrivalOfLastRecord": arrival(records[-1]),
            "batchSize": len(records),
            "streamArn": self.stream_arn,
        }
        return failure

    def _send_failure(self, record: dict[str, Any]) -> str | None:
        """``record`` to the on-failure destination; where it went, or None."""
        assert self.mapping.on_failure is not None
        try:
            if self._target is None:
                self._target = resolve_destination(self.rt, self.mapping.on_failure)
            service, where = self._target
            body = json.dumps(record)
            if service == "sqs":
                self.rt.sqs.send_message(QueueUrl=where, MessageBody=body)
            else:
                self.rt.sns.publish(TopicArn=where, Message=body)
        except Exception:
            log.exception("%s %s: cannot send to %s", self.kind, self.name, self.mapping.on_failure)
            return None
        return where

    def _finished(self, shard: _Shard, records: list[dict[str, Any]]) -> None:
        """The shard's handler is done with ``records``: a state folder keeps
        the position after them."""
        if self.rt.positions is not None and records:
            last = records[-1]["dynamodb"]["SequenceNumber"]
            self.rt.positions.advance(self.stream_arn, shard.shard_id, last)

    def describe(self) -> dict[str, Any]:
        held = [s for s in self.shards if s.retry]
        mapping = self.mapping
        return {
            **super().describe(),
            "maximumRetryAttempts": self.max_retries,
            "bisectBatchOnFunctionError": mapping.bisect_on_error,
            "maximumRecordAgeInSeconds": mapping.maximum_record_age,
            "onFailureDestination": mapping.on_failure,
            # A failed batch being retried: its retries so far.
            "heldAttempts": max((s.attempts for s in held), default=0),
            "iteratorAgeSeconds": self.iterator_age(),
            "setAside": self.set_aside,
        }

    def iterator_age(self) -> float:
        """Lambda's IteratorAge (the alarm's metric), in wall time (the
        records' own, not the stack's clock): how old the oldest record read
        and not yet done with is (in flight, held for a retry, or a half a
        bisection left); 0 when caught up."""
        oldest = min(
            (
                _created_at(r)
                for s in self.shards
                for batch in (s.inflight, s.retry or [], *s.after)
                for r in batch
            ),
            default=None,
        )
        if oldest is None:
            return 0.0
        return round(max(0.0, self.rt.wall() - oldest), 3)

    def wake_key(self) -> str | None:
        # arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>
        return stream_key(self.stream_arn.split("/")[1])

    def mark(self) -> Any:
        return {s.shard_id: s.read_to for s in self.shards}

    def settled(self, mark: Any, backlogs: Backlogs) -> str | None:
        held = self.pending(backlogs)
        if held:
            return held
        heads = backlogs.stream(self.stream_arn) or {}
        unread = [
            shard
            for shard, read_to in mark.items()
            if read_to is not None and heads.get(shard, -1) > read_to
        ]
        if unread:
            return f"stream {self.stream_arn.split('/')[1]} has unread records for {self.name}"
        return None

    def pending(self, backlogs: Backlogs | None = None) -> str | None:
        held = [s.attempts for s in self.shards if s.retry]
        if self._has_more or held:
            where = f"stream {self.stream_arn.split('/')[1]} has records for {self.name}"
            return where + (f" (failed batch, {max(held)} attempt(s) so far)" if held else "")
        return None

    def waiting(self) -> bool:
        return any(s.retry for s in self.shards)  # a held batch's next attempt


class ScheduleSource(Source):
    kind = "schedule"
    # A clock jump of a year must not fire a rate(1 minute) rule 500,000 times.
    MAX_CATCH_UP = 100

    def __init__(self, rt: Runtime, name: str, handler: Handler, expression: str) -> None:
        super().__init__(rt, name, handler)
        self.expression = expression
        self.schedule: sched.Schedule | None = None
        self.next_fire: datetime | None = None

    def wire(self) -> None:
        now = self.rt.clock.now()
        self.schedule = sched.parse(self.expression, start=now)
        self.next_fire = self.schedule.next_after(now)

    def poll(self) -> bool:
        assert self.schedule is not None and self.next_fire is not None
        now = self.rt.clock.now()
        fired = 0
        while self.next_fire <= now and fired < self.MAX_CATCH_UP:
            self._fire(self.next_fire)
            fired += 1
            self.next_fire = self.schedule.next_after(self.next_fire)
        if self.next_fire <= now:
            log.warning("schedule %s: skipped fires up to %s", self.name, now.isoformat())
            self.next_fire = self.schedule.next_after(now)
        return fired > 0

    def _fire(self, at: datetime) -> None:
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self.rt.account,
            "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.rt.region,
            "resources": [
                f"arn:aws:events:{self.rt.region}:{self.rt.account}:rule/"
                f"{self.rt.function_name(self.name)}-event"
            ],
            "detail": {},
        }
        for _attempt in range(ASYNC_ATTEMPTS):
            self.busy = True
            try:
                _, error = self.rt.invoke(self.kind, self.name, self.handler, event, 1)
            finally:
                self.busy = False
            if error is None:
                return
        self.rt.fail(self.kind, self.name, f"failed {ASYNC_ATTEMPTS} attempts", event["time"])

    def pending(self, backlogs: Backlogs | None = None) -> str | None:
        if self.next_fire is not None and self.next_fire <= self.rt.clock.now():
            return f"schedule {self.name} is due"
        return None

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(
            expression=self.expression,
            nextFire=self.next_fire.isoformat() if self.next_fire else None,
        )
        return d


def _no_handler(event: dict[str, Any], context: Any) -> None:
    """The TTL reaper invokes nothing: its REMOVE records reach the stream
    handlers through their own sources."""


class TtlReaper(Source):
    """DynamoDB's TTL process: the emulator deletes what expired by the
    stack's clock (``devstack.ttl``), whenever that clock was advanced since
    the last reap and otherwise at most once every INTERVAL (wall) seconds.
    While the clock is ahead of the last reap it is pending, so ``drain``
    after an advance includes the reap and the stream deliveries it causes;
    a reap that deleted something wakes the stream pollers (``feeds``)."""

    kind = "ttl"
    INTERVAL = 5.0
    feeds = STREAMS

    def __init__(self, rt: Runtime, name: str = "dynamodb-ttl") -> None:
        super().__init__(rt, name, _no_handler)
        self.url = ""
        self.reaped_offset: float | None = None  # the clock's offset the last reap saw
        self.reaps = 0
        self.deleted = 0
        self.last_reap: datetime | None = None
        self._last_attempt = float("-inf")
        self._last_ok = True

    def wire(self) -> None:
        self.url = str(self.rt.streams.meta.endpoint_url).rstrip("/") + TTL_ROUTE

    def _due(self) -> bool:
        return self.reaped_offset != self.rt.clock.offset

    def poll(self) -> bool:
        wall = time.monotonic()
        recent = wall - self._last_attempt < self.INTERVAL
        # A failing emulator is retried once a second, not every cycle.
        if recent and not (self._due() and self._last_ok):
            return False
        self._last_attempt = wall
        offset = self.rt.clock.offset
        now = time.time() + offset
        self.busy = True
        self._last_ok = False
        try:
            deleted = self._reap(now)
        finally:
            self.busy = False
        self._last_ok = True
        self.reaped_offset = offset
        self.reaps += 1
        self.last_reap = datetime.fromtimestamp(now, UTC)
        for table, n in sorted(deleted.items()):
            self.deleted += n
            log.info("ttl deleted %d expired item(s) from %s", n, table.rsplit("/", 1)[-1])
        return bool(deleted)

    def _reap(self, now: float) -> dict[str, int]:
        request = urllib.request.Request(  # noqa: S310 - the emulator, on loopback
            self.url,
            data=json.dumps({"now": now}).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return {str(k): int(v) for k, v in json.loads(response.read())["deleted"].items()}

    def pending(self, backlogs: Backlogs | None = None) -> str | None:
        if self._due():
            return "ttl reap due (the clock moved since the last reap)"
        return None

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "reaps": self.reaps,
            "deleted": self.deleted,
            "lastReap": self.last_reap.isoformat() if self.last_reap else None,
        }


def stream_mapping(
    mappings: dict[str, dict[str, Any]] | None, name: str, default_retries: int
) -> StreamMapping:
    """``mappings``: event source mapping settings by function name (the
    parameters of Lambda's UpdateEventSourceMapping), with ``_stream_default``
    for stream functions not named; a stream's ``MaximumRetryAttempts`` (-1:
    without end, as on Lambda) overrides ``default_retries``. ValueError
    names the function whose settings are malformed."""
    declared = (mappings or {}).get(name) or (mappings or {}).get("_stream_default") or {}
    try:
        return StreamMapping.declared(declared, default_retries)
    except ValueError as exc:
        raise ValueError(f"event source mapping of {name}: {exc}") from None


# Caps every mapping's batching window (seconds) when set: test stacks set
# it to 0 (devstack.testing.running_stack), so a drain does not wait out a
# window; unset (make run, the benchmarks), each window is Lambda's.
MAX_BATCHING_WINDOW_ENV = "DEVSTACK_MAX_BATCHING_WINDOW"


def _window(config: Any) -> int:
    window = int(config.maximum_batching_window_in_seconds or 0)
    cap = os.environ.get(MAX_BATCHING_WINDOW_ENV, "")
    return min(window, int(cap)) if cap.strip() else window


def sources_for(
    app: Any,
    rt: Runtime,
    stream_max_retries: int = 3,
    mappings: dict[str, dict[str, Any]] | None = None,
) -> list[Source]:
    """Build a source per event handler the app registered with Chalice
    (``mappings``: see ``stream_mapping``)."""
    from chalice import app as chalice_app

    out: list[Source] = []
    for config in app.event_sources:
        handler = app.handler_map[config.name]
        if isinstance(config, chalice_app.SQSEventConfig):
            queue = config.queue or (config.queue_arn or "").rsplit(":", 1)[-1]
            out.append(
                SqsSource(
                    rt,
                    config.name,
                    handler,
                    queue,
                    config.batch_size,
                    _window(config),
                )
            )
        elif isinstance(config, chalice_app.SNSEventConfig):
            out.append(SnsSource(rt, config.name, handler, config.topic))
        elif isinstance(config, chalice_app.S3EventConfig):
            out.append(
                S3Source(
                    rt,
                    config.name,
                    handler,
                    config.bucket,
                    list(config.events),
                    config.prefix,
                    config.suffix,
                )
            )
        elif isinstance(config, chalice_app.DynamoDBEventConfig):
            mapping = stream_mapping(mappings, config.name, stream_max_retries)
            out.append(
                StreamSource(
                    rt,
                    config.name,
                    handler,
                    config.stream_arn,
                    config.batch_size,
                    config.starting_position,
                    _window(config),
                    mapping.maximum_retry_attempts,
                    mapping,
                )
            )
        elif isinstance(config, chalice_app.CloudWatchEventConfig):
            out.append(EventBridgeSource(rt, config.name, handler, dict(config.event_pattern)))
        elif isinstance(config, chalice_app.ScheduledEventConfig):
            expression = config.schedule_expression
            if not isinstance(expression, str):
                expression = expression.to_string()
            out.append(ScheduleSource(rt, config.name, handler, expression))
        else:
            log.warning("%s: %s is not emulated locally", config.name, type(config).__name__)
    return out


class Emulator:
    """Runs one poller thread per source and answers ``drain``.

    An idle poller looks again after a backoff from IDLE_MIN to IDLE_MAX; with
    wake-ups (``wake``, fed by ``devstack.changes.Watcher``) a write of a
    source's kind wakes it at once, so its backoff can reach IDLE_MAX_WOKEN:
    what is left on the timer is time on AWS too (a visibility timeout that
    runs out, a schedule, TTL), and a drain wakes every poller anyway. A
    source that says it is ``waiting`` on such time (a delayed SQS message, one
    in flight, a held stream batch) backs off to IDLE_MAX only, so that work
    is not up to 30 s late."""

    IDLE_MIN, IDLE_MAX, IDLE_MAX_WOKEN = 0.05, 0.25, 30.0

    def __init__(self, rt: Runtime, sources: list[Source], wakeups: bool = False) -> None:
        self.rt = rt
        self.wakeups = wakeups
        self._woken = {STREAMS: 0, QUEUES: 0}
        self.wakes = 0
        self._events: Any = None
        self.sources = sources
        # Services beside the emulator whose work feeds the app (the local
        # Stripe server's webhooks): name -> idle(timeout) -> bool. A drain
        # ends only when they are idle too.
        self.outside: dict[str, Callable[[float], bool]] = {}
        # One lock, two conditions: pollers wait on ``_cond`` (a wake-up, a
        # kick, a stop), drains on ``_cycle`` (a cycle ended). A cycle's end
        # then wakes no poller: idle, the schedules' and TTL's quarter-second
        # looks woke every waiting thread, a third of an idle stack's CPU.
        lock = threading.RLock()
        self._cond = threading.Condition(lock)
        self._cycle = threading.Condition(lock)
        self._generation = 0
        self._seq = 0
        self._ended = 0  # cycles ended, any source's
        self._last_work = 0
        self._stop = False
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for source in self.sources:
            source.wire()
            log.info("wired %s %s", source.kind, source.name)
        for source in self.sources:
            t = threading.Thread(
                target=self._run, args=(source,), name=f"poll-{source.name}", daemon=True
            )
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self.rt.stopping.set()
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout=10)

    def kick(self) -> None:
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    def wake(self, kinds: list[str]) -> None:
        """A write of these kinds happened: wake the sources it made work for."""
        with self._cond:
            for kind in kinds:  # a kind (every source of it) or one queue / stream
                self._woken[kind] = self._woken.get(kind, 0) + 1
            self.wakes += 1
            self._cond.notify_all()

    def _run(self, source: Source) -> None:
        idle = self.IDLE_MIN
        longest = self.IDLE_MAX_WOKEN if self.wakeups and source.wakes_on else self.IDLE_MAX
        kind = source.wakes_on
        key = source.wake_key() if kind else None
        while True:
            with self._cond:
                if self._stop:
                    return
                seen = self._generation
                # Taken before the poll: a write during it wakes the next wait.
                woken = self._woken.get(kind, 0) if kind else 0
                woken_key = self._woken.get(key, 0) if key else 0
                self._seq += 1
                started = self._seq
                source.polling = True
            try:
                found = source.poll()
                # Work that only time releases (a delayed message, a visibility
                # timeout): look as often as without wake-ups until it is due.
                soon = not found and idle > self.IDLE_MAX and source.waiting()
            except Exception:
                source.errors += 1
                found = soon = False
                log.exception("poller %s failed", source.name)
            with self._cond:
                source.polling = False
                self._ended += 1
                source.cycles += 1
                source.last_found = found
                source.last_start = started
                if found:
                    # Drain must see every source look again after this.
                    self._seq += 1
                    self._last_work = self._seq
                    if source.feeds in self._woken:
                        self._woken[str(source.feeds)] += 1
                        self._cond.notify_all()
                self._cycle.notify_all()
                if found:
                    idle = self.IDLE_MIN
                    continue
                if soon:
                    idle = self.IDLE_MAX
                self._cond.wait_for(
                    lambda: (
                        self._stop
                        or self._generation != seen  # noqa: B023 - used at once
                        or (kind is not None and self._woken[kind] != woken)  # noqa: B023
                        or (key is not None and self._woken.get(key, 0) != woken_key)  # noqa: B023
                    ),
                    timeout=idle + random.uniform(0, 0.01),
                )
                idle = min(idle * 2, longest)

    def _quiet(self, since: int) -> bool:
        """Every source finished an empty cycle that began after ``since`` and
        after the last delivery anywhere: nothing can be in flight between them."""
        floor = max(since, self._last_work)
        return all(s.last_start > floor and not s.last_found for s in self.sources)

    def drain(self, timeout: float = 30.0) -> dict[str, Any]:
        """Until every source is quiet and every outside service idle: a
        delivery may make an outside service send something to the app (a
        webhook), whose handling may make deliveries again."""
        deadline = time.monotonic() + timeout
        while True:
            status = self._drain_sources(max(0.0, deadline - time.monotonic()))
            busy = [name for name, idle in self.outside.items() if not idle(0)]
            if not busy:
                return status
            for name in busy:
                if not self.outside[name](max(0.0, deadline - time.monotonic())):
                    raise DrainTimeout([f"{name} is still sending"])

    def _drain_sources(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        settled = self._settle(deadline)
        if settled is not None:
            return settled
        # Without devstack's backlog route (an in-process moto): every source
        # looks again, and asks for its own backlog.
        with self._cond:
            since = self._seq
        while True:
            with self._cond:
                quiet = False
                while not quiet and time.monotonic() < deadline:
                    # Wake every poller; again whenever a delivery happens
                    # meanwhile, so none sits out its idle backoff (up to
                    # IDLE_MAX_WOKEN) before its look after that delivery.
                    self._generation += 1
                    self._cond.notify_all()
                    kicked_at = self._last_work
                    self._cycle.wait_for(
                        lambda: self._quiet(since) or self._last_work != kicked_at,  # noqa: B023
                        timeout=max(0.0, deadline - time.monotonic()),
                    )
                    quiet = self._quiet(since)
                last_work = self._last_work
            if not quiet:
                raise DrainTimeout(self.pending() or ["deliveries kept happening"])
            reasons = self.pending()
            with self._cond:
                if not reasons and self._last_work == last_work and self._quiet(since):
                    return self.status(rules=False)
            if time.monotonic() >= deadline:
                raise DrainTimeout(reasons or ["deliveries kept happening"])
            with self._cond:
                # Work is waiting on time (a visibility timeout): let it pass,
                # then look again from a new mark.
                self._cycle.wait(0.05)
                since = self._seq

    NUDGE_EVERY = 0.05  # at most this often the drain wakes one source

    def _settle(self, deadline: float) -> dict[str, Any] | None:
        """The drain with the emulator's backlog route: no poller is asked to
        look. Under the lock, no cycle runs and none found work last; then
        the emulator's backlogs (one request) show no message in any source's
        queue and no stream record past what its source read at that moment,
        and no source holds work of its own (a retry, a due schedule); and no
        cycle began meanwhile. Then nothing ran between the two reads and
        nothing is left: settled. Otherwise wait for a cycle to end (or 50 ms:
        work that time releases) and look again, waking a source whose work
        is waiting (its write's wake-up may still be on its way, or time
        released it). None: the route is not there."""
        nudged: dict[int, float] = {}
        while True:
            with self._cond:
                seq = self._seq
                ended = self._ended
                running = [s for s in self.sources if s.polling or s.last_found]
                marks = [(s, s.mark()) for s in self.sources]
            reasons = [f"{s.kind} {s.name} is delivering" for s in running]
            waiting: list[Source] = []
            if not running:
                backlogs = self.rt.backlogs()
                if backlogs is None:
                    return None
                for source, mark in marks:
                    try:
                        why = source.settled(mark, backlogs)
                    except Exception as exc:  # noqa: BLE001
                        why = f"{source.name}: cannot read its backlog ({exc})"
                    if why:
                        reasons.append(why)
                        waiting.append(source)
                if not reasons:
                    with self._cond:
                        if self._seq == seq:
                            return self.status(rules=False)
                    continue
            if time.monotonic() >= deadline:
                raise DrainTimeout(self._why_not_settled(running, marks))
            now = time.monotonic()
            with self._cond:
                for source in waiting:
                    if source.polling or now - nudged.get(id(source), 0.0) < self.NUDGE_EVERY:
                        continue
                    nudged[id(source)] = now
                    key = source.wake_key()
                    if key is not None:
                        self._woken[key] = self._woken.get(key, 0) + 1
                    else:
                        self._generation += 1
                self._cond.notify_all()
                self._cycle.wait_for(
                    lambda: self._ended != ended,  # noqa: B023 - used at once
                    timeout=min(self.NUDGE_EVERY, max(0.0, deadline - time.monotonic())),
                )

    def _why_not_settled(self, running: list[Source], marks: list[tuple[Source, Any]]) -> list[str]:
        """A timed-out drain's reasons: each source delivering, and the work
        each still has in the emulator (a source can be both)."""
        backlogs = self.rt.backlogs()
        reasons = []
        for source, mark in marks:
            if source in running:
                reasons.append(f"{source.kind} {source.name} is delivering")
            try:
                why = source.settled(mark, backlogs) if backlogs is not None else None
            except Exception as exc:  # noqa: BLE001
                why = f"{source.name}: cannot read its backlog ({exc})"
            if why:
                reasons.append(why)
        return reasons or ["deliveries kept happening"]

    def pending(self) -> list[str]:
        reasons = []
        backlogs = self.rt.backlogs()
        for s in self.sources:
            if s.busy or s.last_found:
                reasons.append(f"{s.kind} {s.name} is delivering")
                continue
            try:
                why = s.pending(backlogs)
            except Exception as exc:  # noqa: BLE001
                why = f"{s.name}: cannot read its backlog ({exc})"
            if why:
                reasons.append(why)
        return reasons

    def rules(self) -> list[dict[str, Any]]:
        """Every EventBridge rule of every bus, with its pattern, targets and
        how many events it matched and sent on (the emulator counts them)."""
        if self._events is None:  # one client for every status call
            self._events = self.rt.session.client("events", config=self.rt.config)
        events = self._events
        url = str(events.meta.endpoint_url).rstrip("/") + RULES_ROUTE
        try:
            with urllib.request.urlopen(url, timeout=10) as r:  # noqa: S310 - the emulator
                matched: dict[str, int] = json.loads(r.read())["matched"]
        except (OSError, ValueError, KeyError):
            matched = {}
        out = []
        for bus in events.list_event_buses().get("EventBuses", []):
            for rule in events.list_rules(EventBusName=bus["Name"]).get("Rules", []):
                if rule.get("ManagedBy"):  # an archive's own rule, not the app's
                    continue
                targets = events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus["Name"])
                out.append(
                    {
                        "name": rule["Name"],
                        "bus": bus["Name"],
                        "eventPattern": json.loads(rule.get("EventPattern") or "null"),
                        "schedule": rule.get("ScheduleExpression"),
                        "targets": [t["Arn"] for t in targets.get("Targets", [])],
                        "matched": matched.get(rule["Arn"], 0),
                    }
                )
        return out

    def status(self, rules: bool = True) -> dict[str, Any]:
        """The stack's state; ``rules`` False leaves out the EventBridge rules
        (a request per rule: a drain's answer does without them)."""
        deliveries = list(self.rt.deliveries)
        return {
            "sources": [s.describe() for s in self.sources],
            **({"rules": self.rules()} if rules else {}),
            "deliveries": len(deliveries),
            "byOutcome": {
                o: sum(1 for d in deliveries if d.outcome == o) for o in ("ok", "partial", "error")
            },
            "failures": list(self.rt.failures),
            "faults": self.rt.faults.__dict__.copy(),
            "clock": self.rt.clock.now().isoformat(),
            # Whether writes wake the pollers (devstack.changes), and how often they did.
            "wakeups": {"on": self.wakeups, "wakes": self.wakes},
        }
