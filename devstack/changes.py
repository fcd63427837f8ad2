"""Wake-ups: the emulator says which kind of work a write made, so the
stack's pollers look at once instead of on their next poll.

The emulator (its own process) notes every successful request that may
create work for an event source: a DynamoDB write (a stream record), a
message sent, published or put on a bus, an object written (S3 delivers
its notifications through queues inside the emulator). Each
such request moves a generation counter and marks its kind (``STREAMS`` or
``QUEUES``). ``GET /_devstack/changes?since=N&wait=S`` answers as soon as
the generation passes ``N`` (or after ``S`` seconds) with the generation and
the kinds that changed since ``N``; the stack keeps one such long poll open
(``Watcher``) and wakes the sources of those kinds. The route sits outside
the emulator's request lock: a waiting long poll holds nothing.

Wake-ups are precise where the emulator can tell: a request that put a
message in a queue (sent, published to a subscribed topic, matched by a
rule, an S3 notification, a redrive) or appended a stream record notes
``queue:<name>`` / ``stream:<table>`` (``track_work`` hooks moto where both
happen; a TTL reap's deletions included), and only the source of that queue
or stream looks. A request that may release work without adding a message
(a visibility change, a message move, an archive replay) wakes every
queue's source; any other write that added no message and no stream record
(a publish to a topic with no queue subscribed, an event no rule sent to a
queue, a table without a stream, an S3 write without notifications) wakes
none.

What stays on a timer is what is time on AWS too: a visibility timeout
running out, a batching window, a schedule, TTL.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from devstack.persist import operation
from devstack.wsgi import read_body, recording_status

CHANGES_ROUTE = "/_devstack/changes"
STREAMS = "streams"
QUEUES = "queues"
MAX_WAIT_SECONDS = 30.0

# Operations (X-Amz-Target's, or a query-protocol Action) that create work.
_STREAM_WRITES = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
)
_QUEUE_WRITES = frozenset(
    {
        "SendMessage",
        "SendMessageBatch",
        "ChangeMessageVisibility",
        "ChangeMessageVisibilityBatch",
        "Publish",
        "PublishBatch",
        "PutEvents",
        "StartMessageMoveTask",
        "StartReplay",
    }
)
_READS = frozenset({"GET", "HEAD", "OPTIONS"})
# Queue writes that may release work without moto adding a message while the
# request runs: a message made visible again, a move or an archive replay.
_RELEASES = frozenset(
    {
        "ChangeMessageVisibility",
        "ChangeMessageVisibilityBatch",
        "StartMessageMoveTask",
        "StartReplay",
    }
)


_touched = threading.local()


def queue_key(name: str) -> str:
    return f"queue:{name}"


def stream_key(table: str) -> str:
    return f"stream:{table}"


def _note_touched(key: str) -> None:
    keys: set[str] | None = getattr(_touched, "keys", None)
    if keys is not None:
        keys.add(key)


def track_work() -> None:
    """Hook moto where work is made: every message added to a queue and every
    record appended to a table's stream notes its queue or table for the
    request being served (the change feed reads it, ``with_change_feed``)."""
    from moto.dynamodb.models.table import StreamShard
    from moto.sqs.models import Queue

    if getattr(Queue, "_devstack_tracked", False):
        return
    add_message = Queue.add_message
    add_record = StreamShard.add

    def adding_message(self: Any, message: Any) -> None:
        add_message(self, message)
        _note_touched(queue_key(self.name))

    def adding_record(self: Any, old: Any, new: Any) -> None:
        add_record(self, old, new)
        _note_touched(stream_key(self.table.name))

    Queue.add_message = adding_message  # type: ignore[method-assign]
    StreamShard.add = adding_record  # type: ignore[method-assign]
    Queue._devstack_tracked = True  # type: ignore[attr-defined]


def _operation_kinds(operation: str) -> frozenset[str]:
    if operation in _STREAM_WRITES:
        return frozenset({STREAMS})
    if operation in _QUEUE_WRITES:
        return frozenset({QUEUES})
    return frozenset()


def kinds_of(environ: dict[str, Any], body: bytes) -> frozenset[str]:
    """The kinds of work a request may create (empty for a read)."""
    if environ.get("REQUEST_METHOD", "GET") in _READS:
        return frozenset()
    path = str(environ.get("PATH_INFO", ""))
    if path.startswith("/_devstack/"):
        # devstack's own routes; a TTL reap's deletions are stream records,
        # which wake their source through ``track_work``.
        return frozenset()
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    if target:  # the JSON protocols (DynamoDB, SQS, EventBridge)
        return _operation_kinds(target.rpartition(".")[2])
    content_type = str(environ.get("CONTENT_TYPE", ""))
    if content_type.startswith("application/x-www-form-urlencoded") and b"Action=" in body:
        # The query protocol (SNS, older SQS clients); an S3 POST form has no Action.
        actions = parse_qs(body.decode("utf-8", "replace")).get("Action", [""])
        return _operation_kinds(actions[0])
    # Anything else that writes (an S3 object put, posted or deleted): its
    # notifications reach the sources through queues.
    return frozenset({QUEUES})


class Feed:
    """The generation counter and, per kind, the generation it last moved at."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.generation = 0
        self._moved: dict[str, int] = {}

    def note(self, kinds: Iterable[str]) -> None:
        kinds = list(kinds)
        if not kinds:
            return
        with self._cond:
            self.generation += 1
            for kind in kinds:
                self._moved[kind] = self.generation
            self._cond.notify_all()

    def wait(self, since: int, timeout: float) -> tuple[int, list[str]]:
        """(generation, kinds moved after ``since``), once there are any or
        after ``timeout`` seconds."""
        with self._cond:
            self._cond.wait_for(lambda: self.generation > since, timeout=timeout)
            return self.generation, sorted(k for k, g in self._moved.items() if g > since)


def with_change_feed(app: Any, feed: Feed) -> Any:
    """The emulator's WSGI app, noting what each successful write may have
    made work for, and answering ``CHANGES_ROUTE``."""

    def call(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == CHANGES_ROUTE:
            query = parse_qs(str(environ.get("QUERY_STRING", "")))
            since = int(query.get("since", ["0"])[0])
            wait = min(float(query.get("wait", ["0"])[0]), MAX_WAIT_SECONDS)
            generation, kinds = feed.wait(since, wait)
            body = json.dumps({"generation": generation, "kinds": kinds}).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        body = read_body(environ)
        status, recording = recording_status(start_response)
        touched: set[str] = set()
        _touched.keys = touched
        try:
            result: Iterable[bytes] = app(environ, recording)
        finally:
            _touched.keys = None
        if status and status[0] < 400:
            # The queues and streams it put work in (every message added and
            # every stream record passes the hooks: a publish, an event or an
            # S3 write that added none made no work). Else, for a request that
            # may release work without adding any, every queue's sources.
            released = operation(environ, body) in _RELEASES
            feed.note(touched or (kinds_of(environ, body) & {QUEUES} if released else ()))
        return result

    return call


class Watcher:
    """The stack's side: one long poll of the emulator's feed at a time;
    ``wake(kinds)`` for each change. Stops when ``stopping`` is set."""

    def __init__(
        self,
        endpoint: str,
        wake: Callable[[list[str]], None],
        stopping: threading.Event,
        wait: float = 20.0,
    ) -> None:
        self.url = endpoint.rstrip("/") + CHANGES_ROUTE
        self.wake = wake
        self.stopping = stopping
        self.wait = wait
        self.generation = 0
        self.errors = 0
        self.thread = threading.Thread(target=self._run, name="devstack-changes", daemon=True)

    def start(self) -> Watcher:
        self.thread.start()
        return self

    def _run(self) -> None:
        import requests

        session = requests.Session()
        while not self.stopping.is_set():
            try:
                answer = session.get(
                    self.url,
                    params={"since": self.generation, "wait": self.wait},
                    timeout=self.wait + 10,
                ).json()
            except (requests.RequestException, ValueError):
                self.errors += 1
                self.stopping.wait(0.5)
                continue
            generation = int(answer.get("generation", 0))
            if generation < self.generation:
                self.generation = 0  # the emulator restarted: everything may be new
                self.wake([STREAMS, QUEUES])
                continue
            self.generation = generation
            if answer.get("kinds"):
                self.wake(list(answer["kinds"]))
