"""The emulator's state in a folder: a snapshot and a write-ahead log.

Every request that can change state (anything but a read: ``Get*``,
``Describe*``, ``List*``, ``Query``, ``Scan``, ``BatchGet*``, ``TransactGet*``,
``Head*``, and HTTP ``GET``/``HEAD``) is appended to the log, after moto has
applied it and before its response leaves, when it succeeded (2xx). So a
request that got its 2xx is in the log, and a ``kill -9`` of the whole process
tree loses none: the bytes are in the kernel's page cache when the client reads
the answer (``fsync=True`` also waits for the disk, against a power cut).

Replaying the log must rebuild exactly the state the clients saw: the same
message ids and receipt handles, the same messages visible to the same
receives. moto draws every id from one seedable generator (``mock_random``)
and reads the clock for visibility timeouts and delays, so each logged request
runs with the generator seeded from a value kept in its log record and with
the clock frozen at the time kept beside it (``time_machine``), live and in
replay alike.

A receive that returned no message and moved none to a dead-letter queue
changed nothing and is not logged (the pollers' empty receives would be most
of the log otherwise).

A snapshot (moto's backends, pickled) is taken under the request lock when
replaying the log since the last one would take longer than
``REPLAY_BUDGET_SECONDS`` (a logged request replays in about the time it took
live, which is measured; and at least twice the last snapshot's own time
apart, so a large state is not pickled after every few writes), when the
emulator has been idle a moment after writes, when the stack asks
(``POST /_devstack/snapshot``: after provisioning, whose CloudFormation call
is slow to replay), and on a clean stop; it starts a new log segment and the
older ones are removed. Restoring loads the snapshot and replays the segments
after it; a record cut short by a crash is the request that never got its
answer, and is dropped.

Kept: everything in moto's backends (tables with their items and streams,
queues with their in-flight and delayed messages, topics, subscriptions,
buckets and objects, rules, archives, parameters, the CloudFormation stack).
CloudFormation's backend is loaded last (``DEFERRED``), in the background once
the emulator serves: unpickling it imports every service moto's
CloudFormation can parse (EC2, Auto Scaling, ...), seconds a restart need not
wait for; a CloudFormation request, a replayed one or a snapshot loads it at
once if it is not yet. Its references to the other backends' objects (the
stack's tables and queues) are pickled as references to the first part's
objects, so they stay the same objects. Not kept: devstack's own
counters (requests and capacity counted, rule deliveries) and
StartMessageMoveTask's task list.
"""

from __future__ import annotations

import io
import json
import logging
import os
import pickle
import re
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from devstack.wsgi import call as wsgi_call
from devstack.wsgi import read_body, recording_status

log = logging.getLogger("devstack.persist")

WSGIApp = Any
FORMAT = 1
SNAPSHOT = "snapshot.pickle"
REPLAY_BUDGET_SECONDS = 1.0  # what replaying the log's tail may cost at a restart
SNAPSHOT_ROUTE = "/_devstack/snapshot"
# Backends restored after the rest, in the background (see the docstring).
DEFERRED = frozenset({"cloudformation"})
DEFERRED_MODULES = ("moto.cloudformation.models",)


def deferred_service(environ: dict[str, Any]) -> bool:
    """A request for a ``DEFERRED`` service (by its signature's scope, as
    moto's dispatcher tells services apart)."""
    auth = str(environ.get("HTTP_AUTHORIZATION", ""))
    return any(f"/{service}/aws4_request" in auth for service in DEFERRED)


IDLE_SNAPSHOT_SECONDS = 2.0  # this long without a write after some: snapshot
_READ = re.compile(r"^(Get|Describe|List|Query|Scan|BatchGet|TransactGet|Head)")
_HEADER = struct.Struct(">II")  # length, crc32 of the pickled record
# The environ keys a replay needs (the rest is the server's own).
_KEPT = re.compile(
    r"^(HTTP_|REQUEST_METHOD$|PATH_INFO$|QUERY_STRING$|CONTENT_|SERVER_|SCRIPT_NAME$)"
)


def operation(environ: dict[str, Any], body: bytes) -> str:
    """The AWS operation a request names (``X-Amz-Target``'s or the query
    protocol's ``Action``), or "" for a REST call (S3, devstack's routes)."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return str(target).rpartition(".")[2]
    if "x-www-form-urlencoded" in str(environ.get("CONTENT_TYPE", "")):
        action = parse_qs(body.decode("utf-8", "replace")).get("Action")
        if action:
            return action[0]
    action = parse_qs(str(environ.get("QUERY_STRING", ""))).get("Action")
    return action[0] if action else ""


def changes_state(environ: dict[str, Any], body: bytes) -> bool:
    if environ.get("REQUEST_METHOD") in ("GET", "HEAD", "OPTIONS"):
        return False
    return not _READ.match(operation(environ, body))


@dataclass
class Record:
    seed: int
    at: float  # the clock the request ran at (time.time())
    environ: dict[str, str]
    body: bytes


def _encode(record: Record) -> bytes:
    data = pickle.dumps(
        (record.seed, record.at, record.environ, record.body), protocol=pickle.HIGHEST_PROTOCOL
    )
    return _HEADER.pack(len(data), zlib.crc32(data)) + data


def read_segment(path: Path) -> tuple[list[Record], int]:
    """The whole records of a log segment, and the length they end at (a torn
    last record, cut by a crash, is not among them)."""
    data = path.read_bytes()
    records: list[Record] = []
    at = 0
    while at + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, at)
        start, end = at + _HEADER.size, at + _HEADER.size + length
        if end > len(data) or zlib.crc32(data[start:end]) != crc:
            break
        seed, when, environ, body = pickle.loads(data[start:end])  # noqa: S301 - our own file
        records.append(Record(seed, when, environ, body))
        at = end
    return records, at


# --- moto's backends --------------------------------------------------------


def _backend_dicts() -> list[Any]:
    from moto.core.base_backend import BackendDict

    return list(BackendDict._instances)  # type: ignore[misc]  # the services in use


class _DeadLetterMoves:
    """How many messages moto's receives have moved to a dead-letter queue
    (a receive that returns nothing may still have moved some)."""

    count = 0


def patch_dead_letter_count() -> None:
    from moto.sqs.models import SQSBackend

    if getattr(SQSBackend, "_devstack_counts_moves", False):
        return
    original = SQSBackend.receive_message

    def receive_message(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        queue = self.get_queue(queue_name)
        dlq = queue.dead_letter_queue
        before = len(dlq._messages) if dlq is not None else 0
        result = original(self, queue_name, *args, **kwargs)
        if dlq is not None and len(dlq._messages) != before:
            _DeadLetterMoves.count += 1
        return result

    SQSBackend.receive_message = receive_message  # type: ignore[method-assign]
    SQSBackend._devstack_counts_moves = True  # type: ignore[attr-defined]


def _stream_record(text: str, created: str | None) -> Any:
    """A DynamoDB stream record from ``_stream_record_state``'s text, decoded
    when first read (``_lazy_record``): a restart reads few of them again."""
    from moto.dynamodb.models.table import StreamRecord

    record: Any = StreamRecord.__new__(StreamRecord)
    record.__dict__["_devstack_text"] = (text, created)
    return record


def _lazy_record() -> property:
    """``StreamRecord.record`` as a property: the dict moto set, or the one
    decoded from a snapshot's text on first use."""
    from datetime import datetime

    def get(self: Any) -> dict[str, Any]:
        state = self.__dict__
        if "record" not in state:
            text, created = state.pop("_devstack_text")
            record = json.loads(text)
            if created is not None:
                record["dynamodb"]["ApproximateCreationDateTime"] = datetime.fromisoformat(created)
            state["record"] = record
        found: dict[str, Any] = state["record"]
        return found

    def set_(self: Any, value: dict[str, Any]) -> None:
        self.__dict__["record"] = value
        self.__dict__.pop("_devstack_text", None)

    return property(get, set_)


def _stream_record_state(self: Any) -> Any:
    """A stream record (its one attribute, a JSON-shaped dict, with a
    datetime) as one JSON text: a table's stream holds an old and a new image
    for every write, most of a snapshot's objects, and one string pickles and
    loads many times faster than their thousands of small dicts (a record
    still undecoded since a restore is written as it was read)."""
    pending = self.__dict__.get("_devstack_text")
    if pending is not None:
        return (_stream_record, pending)
    body = dict(self.record)
    dynamodb = dict(body.get("dynamodb", {}))
    created = dynamodb.pop("ApproximateCreationDateTime", None)
    body["dynamodb"] = dynamodb
    try:
        text = json.dumps(body, separators=(",", ":"))
    except (TypeError, ValueError):  # something not JSON: as pickle would
        return object.__reduce_ex__(self, pickle.HIGHEST_PROTOCOL)
    return (_stream_record, (text, created.isoformat() if created is not None else None))


def _patch_picklable() -> None:
    """moto's SQS queue holds a Condition (its long-poll wake-up): not
    picklable, and meaningless in a file; a restored queue gets a new one.
    DynamoDB stream records pickle as JSON text (``_stream_record_state``)."""
    from threading import Condition

    from moto.dynamodb.models.table import StreamRecord
    from moto.sqs.models import Queue

    if getattr(Queue, "_devstack_picklable", False):
        return
    from devstack.moto_patches import patch_item_size_checks

    patch_item_size_checks()  # items' attribute maps load without re-measuring
    StreamRecord.record = _lazy_record()  # type: ignore[attr-defined,assignment]
    StreamRecord.__reduce__ = _stream_record_state  # type: ignore[method-assign,assignment]
    StreamRecord.__reduce_ex__ = lambda self, protocol: _stream_record_state(self)  # type: ignore[method-assign,assignment]

    def getstate(self: Any) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_messages_lock", None)
        return state

    def setstate(self: Any, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._messages_lock = Condition()

    Queue.__getstate__ = getstate  # type: ignore[method-assign]
    Queue.__setstate__ = setstate  # type: ignore[attr-defined]
    Queue._devstack_picklable = True  # type: ignore[attr-defined]


def _backend_state(keep: Callable[[str], bool]) -> dict[tuple[str, str], Any]:
    return {
        (bd.backend.__module__, bd.service_name): {
            account: dict(regions) for account, regions in bd.items()
        }
        for bd in _backend_dicts()
        if keep(bd.service_name)
    }


def dump_backends() -> bytes:
    """Every backend moto has created, by service, account and region: the
    ``DEFERRED`` ones in a second pickle after the first, referring to the
    first's objects by their place in it (so a reference between backends,
    a queue's dead-letter queue or a stack's table, stays a reference)."""
    import moto

    _patch_picklable()
    first = io.BytesIO()
    pickler = pickle.Pickler(first, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dump(
        {
            "format": FORMAT,
            "moto": moto.__version__,
            "backends": _backend_state(lambda s: s not in DEFERRED),
        }
    )
    places = {key: place for key, (place, _) in pickler.memo.copy().items()}

    class Referring(pickle.Pickler):
        def persistent_id(self, obj: Any) -> int | None:
            return places.get(id(obj))

    second = io.BytesIO()
    Referring(second, protocol=pickle.HIGHEST_PROTOCOL).dump(
        _backend_state(lambda s: s in DEFERRED)
    )
    data = first.getvalue()
    return len(data).to_bytes(8, "big") + data + second.getvalue()


@dataclass
class Loaded:
    """What ``load_backends`` restored, and the deferred part still to load."""

    backends: int
    deferred: bytes = b""
    objects: dict[int, Any] | None = None  # the first part's, by place


def load_backends(data: bytes) -> Loaded:
    """Put a ``dump_backends`` result in place of moto's (empty) backends,
    but its deferred part (``load_deferred``)."""
    import moto

    _patch_picklable()
    length = int.from_bytes(data[:8], "big")
    unpickler = pickle.Unpickler(io.BytesIO(data[8 : 8 + length]))  # noqa: S301 - our own file
    saved = unpickler.load()
    if saved.get("format") != FORMAT or saved.get("moto") != moto.__version__:
        raise StateMismatch(
            f"the state was saved by moto {saved.get('moto')} (format {saved.get('format')}); "
            f"this is moto {moto.__version__}"
        )
    deferred = data[8 + length :]
    return Loaded(
        _install(saved["backends"]), deferred, unpickler.memo.copy() if deferred else None
    )


def load_deferred(loaded: Loaded) -> int:
    """Install the deferred backends (once); returns how many."""
    if not loaded.deferred:
        return 0
    objects = loaded.objects or {}

    class Resolving(pickle.Unpickler):
        def persistent_load(self, pid: Any) -> Any:
            return objects[pid]

    backends = Resolving(io.BytesIO(loaded.deferred)).load()
    loaded.deferred, loaded.objects = b"", None
    return _install(backends)


def _install(backends: dict[tuple[str, str], Any]) -> int:
    import importlib

    count = 0
    for (module, service), accounts in backends.items():
        backend_dict = _find_backend_dict(importlib.import_module(module), service)
        for account, regions in accounts.items():
            per_account = backend_dict[account]
            for region, backend in regions.items():
                dict.__setitem__(per_account, region, backend)
                count += 1
    return count


def _find_backend_dict(module: Any, service: str) -> Any:
    from moto.core.base_backend import BackendDict

    for value in vars(module).values():
        if isinstance(value, BackendDict) and value.service_name == service:
            return value
    raise StateMismatch(f"moto has no backends for {service} in {module.__name__}")


class StateMismatch(RuntimeError):
    """The folder holds state this emulator cannot load."""


# --- the journal --------------------------------------------------------------


class Journal:
    """The log and the snapshots of one state folder, around one WSGI app.
    Call ``restore`` before serving, then ``call`` for each request under
    ``lock`` (``devstack.emulator.serialized`` does)."""

    def __init__(
        self,
        folder: Path,
        fsync: bool = False,
        replay_budget: float = REPLAY_BUDGET_SECONDS,
        idle_snapshot: float = IDLE_SNAPSHOT_SECONDS,
    ) -> None:
        self.folder = folder
        self.fsync = fsync
        self.replay_budget = replay_budget
        self.idle_snapshot = idle_snapshot
        self.lock = threading.Lock()
        self._fd: int | None = None
        self._segment = 0
        self._since_snapshot = 0
        self._tail_seconds = 0.0  # the live time of the records since the snapshot
        self._snapshot_seconds = 0.0  # what the last snapshot took
        self._last_write = 0.0
        self._app: WSGIApp = None
        self._loaded: Loaded | None = None  # the snapshot restored, its deferred part
        self._stopping = threading.Event()

    # Restoring -----------------------------------------------------------

    def _segments(self) -> list[tuple[int, Path]]:
        found = []
        for path in self.folder.glob("wal-*.log"):
            m = re.fullmatch(r"wal-(\d+)\.log", path.name)
            if m:
                found.append((int(m.group(1)), path))
        return sorted(found)

    def bind(self, app: WSGIApp) -> None:
        """The WSGI app (moto's, and devstack's routes) the log's requests go to."""
        self._app = app

    def restore(self, app: WSGIApp | None = None) -> dict[str, Any]:
        """Load the folder's state into moto (through ``app``, or the bound
        one) and open the log, under ``lock``; returns what was restored
        (counts, seconds)."""
        with self.lock:
            return self._restore(app)

    def _restore(self, app: WSGIApp | None) -> dict[str, Any]:
        started = time.perf_counter()
        if app is not None:
            self._app = app
        app = self._app
        patch_dead_letter_count()
        self.folder.mkdir(parents=True, exist_ok=True)
        snapshot = self.folder / SNAPSHOT
        backends, first_segment = 0, 0
        if snapshot.exists():
            data = snapshot.read_bytes()
            first_segment = int.from_bytes(data[:8], "big")
            self._loaded = load_backends(data[8:])
            backends = self._loaded.backends
        replayed = diverged = 0
        segments = [(n, p) for n, p in self._segments() if n >= first_segment]
        for n, path in self._segments():
            if n < first_segment:
                path.unlink()  # already in the snapshot
        for n, path in segments:
            records, end = read_segment(path)
            if end < path.stat().st_size:
                log.warning("%s: dropped a record cut short by a crash", path.name)
                with path.open("r+b") as f:
                    f.truncate(end)
            for record in records:
                replayed += 1
                if deferred_service(record.environ):
                    self._load_deferred()
                if not 200 <= replay(app, record) < 300:
                    diverged += 1
            self._segment = n
        self._since_snapshot = replayed
        self._tail_seconds = time.perf_counter() - started
        if not segments:
            self._segment = first_segment
        self._open()
        if self._loaded is not None and self._loaded.deferred:
            threading.Thread(target=self._preload, name="deferred-backends", daemon=True).start()
        if diverged:
            log.warning("%d of %d replayed requests did not succeed again", diverged, replayed)
        return {
            "snapshot": snapshot.exists(),
            "backends": backends,
            "replayed": replayed,
            "diverged": diverged,
            "seconds": round(time.perf_counter() - started, 3),
        }

    def _preload(self) -> None:
        """The deferred backends' modules imported outside the lock (the slow
        part), then installed under it."""
        import importlib

        for module in DEFERRED_MODULES:
            importlib.import_module(module)
        with self.lock:
            self._load_deferred()

    def _load_deferred(self) -> None:
        """Under ``lock`` (or before serving): the deferred backends, if still to load."""
        if self._loaded is not None and self._loaded.deferred:
            started = time.perf_counter()
            count = load_deferred(self._loaded)
            log.info(
                "deferred backends restored: %d in %.0f ms",
                count,
                (time.perf_counter() - started) * 1000,
            )

    def _open(self) -> None:
        path = self.folder / f"wal-{self._segment:08d}.log"
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    # Serving -------------------------------------------------------------

    def call(self, environ: dict[str, Any], start_response: Any) -> bytes:
        """One request, under ``lock``: applied, logged when it changed state
        and succeeded, and its body returned."""
        if environ.get("PATH_INFO") == SNAPSHOT_ROUTE and environ.get("REQUEST_METHOD") == "POST":
            if self._since_snapshot:
                self._snapshot()
            start_response("204 No Content", [])
            return b""
        if deferred_service(environ):
            self._load_deferred()
        body_in = read_body(environ)
        if not changes_state(environ, body_in):
            return wsgi_call(self._app, environ, start_response)
        record = Record(
            int.from_bytes(os.urandom(8), "big"),
            time.time(),
            {k: v for k, v in environ.items() if isinstance(v, str) and _KEPT.match(k)},
            body_in,
        )
        status, recording = recording_status(start_response)
        started = time.perf_counter()
        moved_before = _DeadLetterMoves.count
        body = _with_seed_and_clock(record, lambda: wsgi_call(self._app, environ, recording))
        if not (status and 200 <= status[0] < 300):
            return body
        if (
            operation(environ, body_in) == "ReceiveMessage"
            and b"ReceiptHandle" not in body
            and _DeadLetterMoves.count == moved_before
        ):
            return body  # an empty receive: nothing changed
        self._append(record, time.perf_counter() - started)
        return body

    def _append(self, record: Record, seconds: float) -> None:
        assert self._fd is not None
        os.write(self._fd, _encode(record))
        if self.fsync:
            os.fsync(self._fd)
        self._since_snapshot += 1
        self._tail_seconds += seconds
        self._last_write = time.monotonic()
        if self._tail_seconds >= max(self.replay_budget, 2 * self._snapshot_seconds):
            self._snapshot()

    def _snapshot(self) -> None:
        """Under ``lock``: every backend to the snapshot file, and a new log
        segment after it (the older ones are in the snapshot now)."""
        self._load_deferred()  # a snapshot holds every backend
        started = time.perf_counter()
        data = (self._segment + 1).to_bytes(8, "big") + dump_backends()
        tmp = self.folder / (SNAPSHOT + ".tmp")
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.folder / SNAPSHOT)
        if self._fd is not None:
            os.close(self._fd)
        old = self._segment
        self._segment += 1
        self._open()
        for n, path in self._segments():
            if n <= old:
                path.unlink()
        log.info(
            "snapshot: %d records folded in, %.1f MB, %.0f ms",
            self._since_snapshot,
            len(data) / 1e6,
            (time.perf_counter() - started) * 1000,
        )
        self._since_snapshot = 0
        self._tail_seconds = 0.0
        self._snapshot_seconds = time.perf_counter() - started

    def start_idle_snapshots(self) -> None:
        """A thread that snapshots once writes have stopped for a moment, so a
        restart after a burst replays little."""

        def run() -> None:
            while not self._stopping.wait(self.idle_snapshot / 2):
                with self.lock:
                    quiet = time.monotonic() - self._last_write >= self.idle_snapshot
                    if self._since_snapshot and quiet:
                        self._snapshot()

        threading.Thread(target=run, name="idle-snapshots", daemon=True).start()

    def close(self) -> None:
        """A clean stop: the last snapshot, so the next start replays nothing."""
        self._stopping.set()
        with self.lock:
            if self._since_snapshot:
                self._snapshot()
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def _with_seed_and_clock(record: Record, call: Callable[[], bytes]) -> bytes:
    import time_machine
    from moto.moto_api._internal import mock_random

    mock_random.seed(record.seed)
    with time_machine.travel(record.at, tick=False):
        return call()


def replay(app: WSGIApp, record: Record) -> int:
    """Run one logged request again; returns its status code."""
    environ: dict[str, Any] = dict(record.environ)
    environ.update(
        {
            "wsgi.input": io.BytesIO(record.body),
            "wsgi.errors": io.StringIO(),
            "wsgi.url_scheme": "http",
            "wsgi.version": (1, 0),
            "wsgi.multithread": False,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "CONTENT_LENGTH": str(len(record.body)),
        }
    )
    status: list[int] = []

    def start_response(code: str, headers: Any, exc_info: Any = None) -> Any:
        status.append(int(code.split(" ", 1)[0]))
        return lambda _data: None

    _with_seed_and_clock(record, lambda: wsgi_call(app, environ, start_response))
    return status[0] if status else 500


def records(folder: Path) -> Iterator[Record]:
    """Every record of a folder's log segments, oldest first (for tests)."""
    for _, path in Journal(folder)._segments():
        yield from read_segment(path)[0]
