"""What each handler invocation logged and measured, as Lambda's log stream
would hold it: per-delivery traces and the metrics of the app's EMF lines.

- ``Recorder.capture(kind, handler, text)`` marks the current thread as running
  one invocation (a ``Trace``); every log record a ``LogCapture`` handler sees
  on that thread, and every EMF line the thread prints, goes to it. ``text``
  (the event payload, or request path and response body) is what
  ``Recorder.select`` searches ids in, besides the records' attributes.
- ``LogCapture`` is a ``logging.Handler``: on the root logger *before* the app
  is imported, so the filters the app's logging set-up puts on the root's
  handlers (context, redaction) run on it too; ``Recorder.attach_logger`` adds
  one to a logger whose records never reach the root (Chalice's ``app.log``),
  with that logger's handlers' filters.
- ``StdoutTee`` replaces ``sys.stdout``: each complete line a thread writes
  that is a JSON object with an ``_aws`` key (CloudWatch EMF) is parsed,
  routed to that thread's trace, and aggregated by ``Metrics`` (lines outside
  any invocation count too); everything else goes through unchanged.
- A log record is kept as the line the app's own formatter makes of it (the
  ``LogCapture`` handler gets the formatter the app sets on the root's
  handlers): parsed, when the app logs JSON, as CloudWatch Logs Insights
  would; else its attributes (``log_dict``).
- ``Console`` is what a person watching the stack sees: a line per
  invocation (the event sources' and the API's own), and under it that
  invocation's records and metrics, as readable text (``text``) or as the
  raw JSON lines the function printed (``json``). With a console, the tee
  holds each line until it is complete and prints EMF lines only there.

Memory is bounded: the last ``MAX_TRACES`` traces, ``MAX_LOGS`` records and
``MAX_EMF`` EMF lines per trace, ``MAX_TEXT`` characters of searched text.
Nothing here knows the app: it works for any Chalice app.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

MAX_TRACES = 5000
MAX_LOGS = 200
MAX_EMF = 100
MAX_TEXT = 32_768
MAX_MESSAGE = 8_192
MAX_PENDING = 1 << 20  # characters of one unfinished stdout line, per thread

# The attributes every LogRecord has; anything else was added (extra=, filters).
STANDARD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
_FORMATTER = logging.Formatter()


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _message(record: logging.LogRecord) -> str:
    try:
        text = record.getMessage()
    except (TypeError, ValueError, KeyError):
        text = str(record.msg)
    return text[:MAX_MESSAGE]


def log_dict(record: logging.LogRecord) -> dict[str, Any]:
    """A record as a trace keeps it: level, logger, message, timestamp, each
    attribute a filter or ``extra=`` added, and the exception text if any."""
    out: dict[str, Any] = {
        "level": record.levelname,
        "logger": record.name,
        "message": _message(record),
        "timestamp": iso(record.created),
    }
    for key, value in record.__dict__.items():
        if key not in STANDARD_ATTRIBUTES and not key.startswith("_"):
            out.setdefault(key, _json_safe(value))
    exception = record.exc_text
    if not exception and record.exc_info:
        exception = _FORMATTER.formatException(record.exc_info)
    if exception:
        out["exception"] = exception[:MAX_MESSAGE]
    if record.stack_info:
        out["stack"] = record.stack_info[:MAX_MESSAGE]
    return out


def log_entry(record: logging.LogRecord, line: str | None) -> dict[str, Any]:
    """What a trace keeps of a record: ``line`` (the app's formatting of it)
    when that is one JSON object, else the record's attributes."""
    if line is not None and line.startswith("{"):
        try:
            value = json.loads(line)
        except ValueError:
            value = None
        if isinstance(value, dict):
            return value
    return log_dict(record)


def parse_emf(line: str) -> dict[str, Any] | None:
    """The line's EMF record: a JSON object with an ``_aws`` object; else None."""
    text = line.strip()
    if not text.startswith("{") or '"_aws"' not in text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, dict) and isinstance(value.get("_aws"), dict):
        return value
    return None


@dataclass
class Trace:
    """One handler invocation: an event source's call, or one HTTP request."""

    kind: str
    handler: str
    text: str  # searched for ids: the event payload, or path and response body
    started: float = field(default_factory=time.time)
    seq: int = 0
    thread: int = field(default_factory=threading.get_ident)
    outcome: str | int = "ok"
    duration_ms: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)
    logs: list[dict[str, Any]] = field(default_factory=list)
    emf: list[dict[str, Any]] = field(default_factory=list)
    dropped_logs: int = 0
    done: bool = False
    _clock: float = field(default_factory=time.perf_counter)

    def add_log(self, entry: dict[str, Any]) -> None:
        if len(self.logs) < MAX_LOGS:
            self.logs.append(entry)
        else:
            self.dropped_logs += 1

    def add_emf(self, record: dict[str, Any]) -> None:
        if len(self.emf) < MAX_EMF:
            self.emf.append(record)

    def matches(self, ident: str) -> bool:
        """``ident`` is one of its records' attribute values, or in its text."""
        if not ident:
            return False
        for entry in self.logs:
            for key, value in entry.items():
                if key not in ("level", "logger", "message", "timestamp") and value == ident:
                    return True
        return ident in self.text

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "handler": self.handler,
            "kind": self.kind,
            "startedAt": iso(self.started),
            "durationMs": self.duration_ms,
            "outcome": self.outcome,
            **self.detail,
            "logs": list(self.logs),
            "metrics": list(self.emf),
        }
        if self.dropped_logs:
            out["droppedLogs"] = self.dropped_logs
        return out


def _numbers(value: Any) -> list[float]:
    values = value if isinstance(value, list) else [value]
    return [
        float(v)
        for v in values
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    ]


Dims = tuple[tuple[str, str], ...]


@dataclass
class Stat:
    unit: str
    count: int = 0
    sum: float = 0.0
    min: float = math.inf
    max: float = -math.inf

    def add(self, values: list[float]) -> None:
        self.count += len(values)
        self.sum += sum(values)
        self.min = min(self.min, *values)
        self.max = max(self.max, *values)


class Metrics:
    """count/sum/min/max of every metric in the EMF records seen since start
    (or ``reset``), one series per metric name and dimension set.

    A series is keyed ``Name{dim=value,...}`` by its dimensions other than the
    defaults: the (name, value) pairs every dimension set seen since start has
    (Powertools' ``service`` and the app's default dimensions, e.g. ``stage``).
    So ``OrdersPlaced`` and ``SagaStepMs{step=payments}``. ``reset`` clears the
    numbers, not what is known of the defaults, so keys stay stable."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stats: dict[tuple[str, Dims], Stat] = {}
        self._defaults: set[tuple[str, str]] | None = None
        self.since = time.time()
        self.records = 0

    def add(self, emf: dict[str, Any]) -> None:
        directives = emf.get("_aws", {}).get("CloudWatchMetrics")
        with self._lock:
            self.records += 1
            for directive in directives if isinstance(directives, list) else []:
                self._add_directive(emf, directive)

    def _add_directive(self, emf: dict[str, Any], directive: Any) -> None:
        if not isinstance(directive, dict):
            return
        dim_sets = directive.get("Dimensions") or [[]]
        for metric in directive.get("Metrics") or []:
            name = metric.get("Name") if isinstance(metric, dict) else None
            if not isinstance(name, str) or not (values := _numbers(emf.get(name))):
                continue
            for dim_set in dim_sets:
                dims = tuple(sorted((str(d), str(emf.get(d, ""))) for d in dim_set))
                pairs = set(dims)
                self._defaults = pairs if self._defaults is None else self._defaults & pairs
                stat = self._stats.setdefault((name, dims), Stat(str(metric.get("Unit", "None"))))
                stat.add(values)

    def reset(self) -> None:
        with self._lock:
            self._stats.clear()
            self.since = time.time()
            self.records = 0

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            defaults = self._defaults or set()
            series: dict[str, Any] = {}
            for (name, dims), stat in sorted(self._stats.items()):
                own = {k: v for k, v in dims if (k, v) not in defaults}
                key = name + (
                    "{" + ",".join(f"{k}={v}" for k, v in own.items()) + "}" if own else ""
                )
                series[key] = {
                    "name": name,
                    "dimensions": own,
                    "unit": stat.unit,
                    "count": stat.count,
                    "sum": stat.sum,
                    "min": stat.min,
                    "max": stat.max,
                }
            return {
                "since": iso(self.since),
                "records": self.records,
                "defaultDimensions": dict(sorted(defaults)),
                "metrics": series,
            }


class LogCapture(logging.Handler):
    """Hands every record it is given to the recorder (which keeps those of
    threads running an invocation)."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    def emit(self, record: logging.LogRecord) -> None:
        try:
            # Formatted only when someone set a formatter (the app, as Lambda's
            # runtime does on its handler): the default one adds nothing.
            line = self.format(record) if self.formatter is not None else None
            self.recorder.on_record(record, line)
        except Exception:  # noqa: BLE001 - logging must never fail the caller
            self.handleError(record)


class StdoutTee:
    """``sys.stdout`` that hands each complete line a thread wrote to
    ``on_line`` (a line's writes come from one thread: ``print``).

    Without ``hold``, every write goes through to the real stdout at once.
    With ``hold``, a thread's text goes through a line at a time, once the
    line is complete, unless ``on_line`` returns True (it took the line), and
    a line longer than ``MAX_PENDING`` goes through unexamined."""

    def __init__(
        self, target: TextIO, on_line: Callable[[str], bool | None], hold: bool = False
    ) -> None:
        self.target = target
        self._on_line = on_line
        self._hold = hold
        self._local = threading.local()

    def write(self, text: str) -> int:
        if not self._hold:
            n = self.target.write(text)
            with contextlib.suppress(Exception):  # capture never breaks the output
                self._feed(text)
            return n
        try:
            out = self._feed(text)
        except Exception:  # noqa: BLE001 - capture never breaks the output
            out = text
        if out:
            self.target.write(out)
        return len(text)

    def _pending(self) -> list[str]:
        pending: list[str] = self._local.__dict__.setdefault("pending", [])
        return pending

    def _feed(self, text: str) -> str:
        """Hands on the lines ``text`` completes; returns what to write."""
        pending = self._pending()
        if "\n" not in text:
            if sum(map(len, pending)) + len(text) <= MAX_PENDING:
                pending.append(text)
                return ""
            out = "".join(pending) + text
            pending.clear()
            return out
        lines = ("".join(pending) + text).split("\n")
        rest = lines.pop()
        pending.clear()
        tail = ""
        if len(rest) <= MAX_PENDING:
            pending.append(rest)
        else:
            tail = rest  # too long to hold: through, unexamined
        written = [line for line in lines if not self._on_line(line)]
        return "".join(line + "\n" for line in written) + tail

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._hold and (pending := self._pending()):
            text = "".join(pending)
            pending.clear()
            self.target.write(text)
        self.target.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)


def _metric_text(emf: dict[str, Any]) -> str:
    """An EMF record as ``Name{dim=value}=1, Other=12.5ms``: the dimensions
    shown are those beyond stage, service and function name."""
    parts = []
    directives = emf.get("_aws", {}).get("CloudWatchMetrics")
    for directive in directives if isinstance(directives, list) else []:
        if not isinstance(directive, dict):
            continue
        dims = [d for set_ in directive.get("Dimensions") or [] for d in set_]
        own = ",".join(
            f"{d}={emf.get(d)}" for d in dims if d not in ("stage", "service", "function_name")
        )
        for metric in directive.get("Metrics") or []:
            name = metric.get("Name") if isinstance(metric, dict) else None
            if not isinstance(name, str):
                continue
            unit = "ms" if metric.get("Unit") == "Milliseconds" else ""
            values = ",".join(f"{round(v, 1):g}{unit}" for v in _numbers(emf.get(name)))
            parts.append(f"{name}{'{' + own + '}' if own else ''}={values}")
    return ", ".join(parts)


def entry_lines(entry: dict[str, Any], indent: str = "    ") -> list[str]:
    """A kept log record for a person: level, message and correlation id,
    then its exception, indented."""
    pad = "\n" + indent + " " * 10
    message = str(entry.get("message", "")).replace("\n", pad)
    cid = entry.get("correlation_id", "-")
    lines = [f"{indent}{entry.get('level', '')!s:<8}  {message}  [{cid}]"]
    exception = entry.get("exception")
    if exception:
        lines.append(indent + " " * 10 + str(exception).replace("\n", pad))
    return lines


class Console:
    """The stack's output for a person: the line of each invocation, then
    what it logged and measured, indented (``text``) or as the raw JSON lines
    (``json``: CloudWatch's view). Writes go to ``out`` (the real stdout)."""

    MODES = ("text", "json")

    def __init__(self, mode: str = "text", out: TextIO | None = None) -> None:
        if mode not in self.MODES:
            raise ValueError(f"log format {mode!r}: one of {', '.join(self.MODES)}")
        self.mode = mode
        self.out = out if out is not None else sys.stdout
        self._lock = threading.Lock()

    def block(self, traces: list[Trace]) -> str:
        """What goes under an invocation's line: each line with a newline in
        front ("" when the invocations logged and measured nothing)."""
        lines: list[str] = []
        for trace in traces:
            if self.mode == "json":
                lines += [json.dumps(e, default=str) for e in (*trace.logs, *trace.emf)]
                continue
            for entry in trace.logs:
                lines += entry_lines(entry)
            lines += [f"    {'metrics':<8}  {_metric_text(e)}" for e in trace.emf]
            if trace.dropped_logs:
                lines.append(f"    ... {trace.dropped_logs} more records not kept")
        return "".join("\n" + line for line in lines)

    def _write(self, text: str) -> None:
        with self._lock:
            self.out.write(text + "\n")
            self.out.flush()

    def record(self, record: logging.LogRecord, entry: dict[str, Any]) -> None:
        """A record logged outside any invocation (at import, by a library)."""
        if self.mode == "json":
            self._write(json.dumps(entry, default=str))
            return
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        self._write(f"{stamp} {record.name} " + "\n".join(entry_lines(entry, indent="")))

    def emf(self, emf: dict[str, Any]) -> None:
        """An EMF line printed outside any invocation."""
        self._write(json.dumps(emf) if self.mode == "json" else f"metrics {_metric_text(emf)}")


class Recorder:
    """The traces of the last ``max_traces`` invocations and the EMF metrics."""

    def __init__(self, max_traces: int = MAX_TRACES, console: Console | None = None) -> None:
        self.console = console
        self.traces: deque[Trace] = deque(maxlen=max_traces)
        self.metrics = Metrics()
        self._active: dict[int, Trace] = {}
        self._lock = threading.Lock()
        self._seq = itertools.count()

    def start(self, kind: str, handler: str, text: str, **detail: Any) -> Trace:
        """The current thread runs this invocation until ``finish``."""
        trace = Trace(kind, handler, text[:MAX_TEXT], seq=next(self._seq), detail=detail)
        self._active[trace.thread] = trace
        return trace

    def finish(self, trace: Trace) -> None:
        """Stop routing to ``trace`` and keep it (again: a no-op)."""
        if trace.done:
            return
        trace.done = True
        trace.duration_ms = round((time.perf_counter() - trace._clock) * 1000, 1)
        trace.text = trace.text[:MAX_TEXT]
        if self._active.get(trace.thread) is trace:
            del self._active[trace.thread]
        with self._lock:
            self.traces.append(trace)

    @contextlib.contextmanager
    def capture(self, kind: str, handler: str, text: str, **detail: Any) -> Iterator[Trace]:
        trace = self.start(kind, handler, text, **detail)
        try:
            yield trace
        except BaseException:
            trace.outcome = "error"
            raise
        finally:
            self.finish(trace)

    def current(self) -> Trace | None:
        return self._active.get(threading.get_ident())

    def on_record(self, record: logging.LogRecord, line: str | None = None) -> None:
        entry = log_entry(record, line)
        trace = self.current()
        if trace is not None:
            trace.add_log(entry)
        elif self.console is not None:
            self.console.record(record, entry)

    def on_line(self, line: str) -> bool:
        """An EMF line is counted and kept; True when the console shows it
        (under its invocation, or at once), so the tee need not."""
        emf = parse_emf(line)
        if emf is None:
            return False
        self.metrics.add(emf)
        trace = self.current()
        if trace is not None:
            trace.add_emf(emf)
        elif self.console is not None:
            self.console.emf(emf)
        return self.console is not None

    def select(self, ident: str) -> list[dict[str, Any]]:
        """Every kept trace about ``ident``, in the order they started."""
        with self._lock:
            kept = list(self.traces)
        found = sorted((t for t in kept if t.matches(ident)), key=lambda t: (t.started, t.seq))
        return [t.as_dict() for t in found]

    def install(self) -> Callable[[], None]:
        """A ``LogCapture`` on the root logger and the tee on ``sys.stdout``;
        returns what undoes both. Call it before the app is imported."""
        root = logging.getLogger()
        handler = LogCapture(self)
        root.addHandler(handler)
        tee = StdoutTee(sys.stdout, self.on_line, hold=self.console is not None)
        sys.stdout = tee  # type: ignore[assignment]

        def uninstall() -> None:
            root.removeHandler(handler)
            if sys.stdout is tee:  # type: ignore[comparison-overlap]
                sys.stdout = tee.target

        return uninstall

    def attach_logger(self, logger: logging.Logger, mute_streams: bool = False) -> None:
        """Capture ``logger``'s records too when they never reach a
        ``LogCapture`` (``propagate`` off), with its handlers' filters and
        formatter. ``mute_streams``: the console shows its records (under
        their invocation), so its own handlers that print to stdout or stderr
        (Chalice's on ``app.log``) are taken off, or each would show twice."""
        node: logging.Logger | None = logger
        while node is not None:
            if any(isinstance(h, LogCapture) for h in node.handlers):
                return
            if not node.propagate:
                break
            node = node.parent
        handler = LogCapture(self)
        for existing in logger.handlers:
            for f in existing.filters:
                if f not in handler.filters:
                    handler.addFilter(f)
            if handler.formatter is None and existing.formatter is not None:
                handler.setFormatter(existing.formatter)
        logger.addHandler(handler)
        if mute_streams:
            for existing in list(logger.handlers):
                if existing is not handler and _prints(existing):
                    logger.removeHandler(existing)


def _prints(handler: logging.Handler) -> bool:
    """A handler that writes to the process's stdout or stderr (or the tee)."""
    stream = getattr(handler, "stream", None)
    return isinstance(handler, logging.StreamHandler) and (
        isinstance(stream, StdoutTee)
        or stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)
    )


def _offset(item: dict[str, Any], first: float) -> float:
    return datetime.fromisoformat(item["startedAt"]).timestamp() - first


def render(ident: str, items: list[dict[str, Any]]) -> str:
    """The timeline ``python -m devstack trace`` prints: a line per delivery
    (seconds since the first, handler, kind, duration, outcome), then its log
    records indented (level, message, correlation id)."""
    if not items:
        return f"no deliveries for {ident}"
    first = min(datetime.fromisoformat(i["startedAt"]).timestamp() for i in items)
    lines = [f"{len(items)} deliveries for {ident}"]
    for item in items:
        request = f"  {item['method']} {item['path']}" if "method" in item else ""
        lines.append(
            f"{f'+{_offset(item, first):.3f}s':<9}  {item['handler']:<28} {item['kind']:<8} "
            f"{item['durationMs']:>9.1f}ms  {item['outcome']}{request}"
        )
        for entry in item.get("logs", []):
            lines += entry_lines(entry)
    return "\n".join(lines)
