"""devstack.traces: log records and EMF lines routed to the invocation whose
thread made them, EMF aggregated into metrics, traces selected by id, the
control routes and the ``trace`` CLI; and the capture wired into the event
sources' runtime and chalice local's request handler."""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from devstack import api, control
from devstack import eventsources as es
from devstack import traces as tr
from devstack.__main__ import main
from devstack.client import StackControl
from devstack.faults import AwsCalls
from tests.support.runtime import FakeSession


def emf(values: dict[str, Any], dims: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """An EMF record as Powertools prints it: ``values`` by metric name."""
    return {
        "_aws": {
            "Timestamp": 1,
            "CloudWatchMetrics": [
                {
                    "Namespace": "app",
                    "Dimensions": [["stage", "service", *(dims or [])]],
                    "Metrics": [{"Name": n, "Unit": "Count"} for n in values],
                }
            ],
        },
        "stage": "local",
        "service": "app",
        **extra,
        **values,
    }


class Context(logging.Filter):
    """What an app's logging set-up puts on handlers: the flow's keys."""

    def __init__(self) -> None:
        super().__init__()
        self.cid = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = getattr(self.cid, "value", "-")
        return True


@pytest.fixture
def recorder() -> tr.Recorder:
    return tr.Recorder()


@pytest.fixture
def logger(recorder: tr.Recorder) -> Iterator[logging.Logger]:
    """A logger of its own with a LogCapture, so pytest's root is left alone."""
    log = logging.getLogger("test-traces")
    handler = tr.LogCapture(recorder)
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    yield log
    log.removeHandler(handler)


# --- routing by thread -------------------------------------------------------


def test_each_threads_records_go_to_the_invocation_it_runs(
    recorder: tr.Recorder, logger: logging.Logger
) -> None:
    inside = threading.Barrier(2)
    done: dict[str, tr.Trace] = {}

    def run(name: str) -> None:
        with recorder.capture("sqs", name, "{}") as trace:
            logger.info("%s first", name)
            inside.wait()  # both invocations run at once
            logger.warning("%s second", name)
        done[name] = trace

    threads = [threading.Thread(target=run, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    logger.info("outside any invocation")

    for name in ("a", "b"):
        assert [e["message"] for e in done[name].logs] == [f"{name} first", f"{name} second"]
        assert [e["level"] for e in done[name].logs] == ["INFO", "WARNING"]
    assert len(recorder.traces) == 2
    assert recorder.current() is None


def test_a_record_keeps_every_added_attribute_and_its_exception(
    recorder: tr.Recorder, logger: logging.Logger
) -> None:
    context = Context()
    logger.handlers[0].addFilter(context)
    context.cid.value = "c-1"
    with recorder.capture("s3", "h", "{}") as trace:
        logger.info("order %s", "o-1", extra={"order_id": "o-1", "image_id": 7})
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed")
    first, second = trace.logs
    assert first["message"] == "order o-1" and first["logger"] == "test-traces"
    assert first["correlation_id"] == "c-1" and first["order_id"] == "o-1"
    assert first["image_id"] == 7 and first["timestamp"].startswith("20")
    assert "msg" not in first and "args" not in first and "thread" not in first
    assert "ValueError: boom" in second["exception"] and second["level"] == "ERROR"


def test_logs_per_invocation_are_capped(recorder: tr.Recorder, logger: logging.Logger) -> None:
    with recorder.capture("sqs", "h", "{}") as trace:
        for i in range(tr.MAX_LOGS + 5):
            logger.info("line %d", i)
    assert len(trace.logs) == tr.MAX_LOGS and trace.dropped_logs == 5
    assert trace.as_dict()["droppedLogs"] == 5


def test_the_kept_traces_are_bounded() -> None:
    recorder = tr.Recorder(max_traces=3)
    for i in range(5):
        with recorder.capture("sqs", f"h{i}", "{}"):
            pass
    assert [t.handler for t in recorder.traces] == ["h2", "h3", "h4"]


def test_an_exception_leaving_the_capture_is_an_error_outcome(recorder: tr.Recorder) -> None:
    with pytest.raises(RuntimeError), recorder.capture("sqs", "h", "{}"):
        raise RuntimeError("x")
    assert recorder.traces[0].outcome == "error" and recorder.current() is None


def test_install_puts_the_handler_on_root_where_the_apps_set_up_finds_it(
    recorder: tr.Recorder,
) -> None:
    root = logging.getLogger()
    before = sys.stdout
    uninstall = recorder.install()
    try:
        assert isinstance(sys.stdout, tr.StdoutTee)
        # As an app's configure() does at import: a filter on every root handler.
        context = Context()
        context.cid.value = "from-the-app"
        capture = next(h for h in root.handlers if isinstance(h, tr.LogCapture))
        capture.addFilter(context)
        with recorder.capture("sqs", "h", "{}") as trace:
            logging.getLogger("some.module").warning("hello")
        assert [(e["message"], e["correlation_id"]) for e in trace.logs] == [
            ("hello", "from-the-app")
        ]
    finally:
        uninstall()
    assert sys.stdout is before
    assert not any(isinstance(h, tr.LogCapture) for h in root.handlers)


def test_a_logger_that_does_not_propagate_gets_a_capture_with_its_handlers_filters(
    recorder: tr.Recorder,
) -> None:
    app_log = logging.getLogger("test-traces-app")
    own = logging.StreamHandler(io.StringIO())
    context = Context()
    own.addFilter(context)
    formatter = logging.Formatter("%(levelname)s %(message)s")
    own.setFormatter(formatter)
    app_log.addHandler(own)
    app_log.propagate = False  # as Chalice's app.log
    app_log.setLevel(logging.INFO)
    try:
        recorder.attach_logger(app_log)
        recorder.attach_logger(app_log)  # once is enough
        captures = [h for h in app_log.handlers if isinstance(h, tr.LogCapture)]
        assert len(captures) == 1 and context in captures[0].filters
        assert captures[0].formatter is formatter  # the app's format: its JSON, on Lambda
        context.cid.value = "c-9"
        with recorder.capture("http", "api", "") as trace:
            app_log.info("from app.log")
        assert [(e["message"], e["correlation_id"]) for e in trace.logs] == [
            ("from app.log", "c-9")
        ]
    finally:
        for h in list(app_log.handlers):
            app_log.removeHandler(h)
        app_log.propagate = True


def test_with_the_console_a_loggers_own_stdout_handler_is_taken_off(
    recorder: tr.Recorder,
) -> None:
    """Chalice's app.log prints to stdout itself; under the stack's console
    its records show under their invocation instead, not twice."""
    app_log = logging.getLogger("test-traces-muted")
    printing = logging.StreamHandler(sys.stdout)
    app_log.addHandler(printing)
    app_log.propagate = False
    try:
        recorder.attach_logger(app_log, mute_streams=True)
        assert printing not in app_log.handlers
        assert [type(h) for h in app_log.handlers] == [tr.LogCapture]
    finally:
        for h in list(app_log.handlers):
            app_log.removeHandler(h)
        app_log.propagate = True


def test_a_logger_whose_records_reach_a_capture_gets_none(recorder: tr.Recorder) -> None:
    parent = logging.getLogger("test-traces-parent")
    handler = tr.LogCapture(recorder)
    parent.addHandler(handler)
    try:
        child = logging.getLogger("test-traces-parent.child")
        recorder.attach_logger(child)
        assert child.handlers == []
    finally:
        parent.removeHandler(handler)


# --- stdout and EMF lines ------------------------------------------------------


def test_emf_lines_are_json_objects_with_an_aws_object() -> None:
    record = emf({"A": [1.0]})
    assert tr.parse_emf(json.dumps(record)) == record
    assert tr.parse_emf("  " + json.dumps(record) + "\r") == record
    assert tr.parse_emf(json.dumps({"level": "INFO", "message": "_aws"})) is None
    assert tr.parse_emf('{"_aws": 1}') is None
    assert tr.parse_emf('{"_aws": {"broken"') is None
    assert tr.parse_emf('[{"_aws": {}}]') is None
    assert tr.parse_emf('12:00:00 devstack {"_aws": {}}') is None


def test_stdout_passes_everything_through_and_routes_emf_lines_by_thread(
    recorder: tr.Recorder,
) -> None:
    out = io.StringIO()
    tee = tr.StdoutTee(out, recorder.on_line)
    line_a, line_b = json.dumps(emf({"A": [1.0]})), json.dumps(emf({"B": 2}))
    half = threading.Barrier(2)
    traces: dict[str, tr.Trace] = {}

    def run(name: str, line: str) -> None:
        with recorder.capture("sqs", name, "") as trace:
            tee.write(line[:10])  # a line in pieces, the other thread's in between
            half.wait()
            tee.write(line[10:])
            tee.write("\n")  # print() writes the end apart
            print("plain text", file=tee)  # type: ignore[call-overload]
        traces[name] = trace

    threads = [
        threading.Thread(target=run, args=("a", line_a)),
        threading.Thread(target=run, args=("b", line_b)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    tee.write(json.dumps(emf({"C": [3.0]})) + "\nnot json\n")  # outside any invocation

    assert traces["a"].emf == [json.loads(line_a)] and traces["b"].emf == [json.loads(line_b)]
    text = out.getvalue()
    assert text.count("plain text\n") == 2 and "not json\n" in text
    assert len(text) == len(line_a) + len(line_b) + 2 + 2 * len("plain text\n") + len(
        json.dumps(emf({"C": [3.0]})) + "\nnot json\n"
    )
    assert set(recorder.metrics.snapshot()["metrics"]) == {"A", "B", "C"}


def test_the_tee_delegates_what_it_does_not_define() -> None:
    out = io.StringIO()
    tee = tr.StdoutTee(out, lambda line: None)
    assert tee.getvalue() == "" and tee.writable()
    tee.writelines(["a\n", "b"])
    tee.flush()
    assert out.getvalue() == "a\nb"


def test_a_failing_line_handler_never_breaks_the_output() -> None:
    out = io.StringIO()

    def broken(line: str) -> None:
        raise RuntimeError("no")

    tee = tr.StdoutTee(out, broken)
    assert tee.write("x\n") == 2
    assert out.getvalue() == "x\n"


def test_with_a_console_the_tee_holds_lines_and_leaves_emf_to_the_console(
    recorder: tr.Recorder,
) -> None:
    """``make run``: EMF lines show under their invocation (or at once, by the
    console, outside one), never raw in between; other lines go through
    whole, a thread's partial line only once it is complete (or flushed)."""
    shown = io.StringIO()
    recorder.console = tr.Console("text", out=shown)
    out = io.StringIO()
    tee = tr.StdoutTee(out, recorder.on_line, hold=True)
    line = json.dumps(emf({"Placed": [1.0]}))
    with recorder.capture("sqs", "step", "") as trace:
        tee.write(line)
        tee.write("\n")
        tee.write("half a ")
        assert out.getvalue() == ""  # held: not a line yet
        tee.write("line\nand a rest")
    assert out.getvalue() == "half a line\n" and trace.emf == [json.loads(line)]
    tee.flush()
    assert out.getvalue() == "half a line\nand a rest"
    tee.write(json.dumps(emf({"Outside": 2})) + "\n")
    assert "Outside" not in out.getvalue() and shown.getvalue() == "metrics Outside=2\n"
    assert recorder.console.block([trace]) == "\n    metrics   Placed=1"
    assert set(recorder.metrics.snapshot()["metrics"]) == {"Placed", "Outside"}


def test_the_console_shows_an_invocations_records_as_text_or_raw_json(
    recorder: tr.Recorder, logger: logging.Logger
) -> None:
    with recorder.capture("sqs", "step", "") as trace:
        logger.warning("stock low\nfor sku %s", "A")
        try:
            raise ValueError("bad")
        except ValueError:
            logger.exception("failed")
    trace.add_emf(emf({"SagaStepMs": [12.345]}, ["step"], step="payments"))
    text = tr.Console("text").block([trace]).split("\n")
    assert text[0] == ""  # the block starts on a line of its own
    assert text[1] == "    WARNING   stock low"
    assert text[2] == "              for sku A  [-]"
    assert text[3].startswith("    ERROR     failed  [-]")
    assert any(line.startswith("              ") and "ValueError: bad" in line for line in text)
    assert text[-1] == "    metrics   SagaStepMs{step=payments}=12.3"
    raw = tr.Console("json").block([trace]).split("\n")[1:]
    assert [json.loads(line) for line in raw] == [*trace.logs, *trace.emf]
    assert tr.Console("text").block([]) == ""
    with pytest.raises(ValueError, match="one of text, json"):
        tr.Console("yaml")


def test_a_record_is_kept_as_the_json_line_the_apps_formatter_made(
    recorder: tr.Recorder,
) -> None:
    """Where the app logs JSON (it sets its formatter on the root's handlers,
    as on Lambda's), the trace keeps that object: what CloudWatch would hold."""

    class Json(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            return json.dumps({"level": record.levelname, "message": record.getMessage(), "k": 1})

    log = logging.getLogger("test-traces-json")
    handler = tr.LogCapture(recorder)
    handler.setFormatter(Json())
    log.addHandler(handler)
    log.propagate = False
    shown = io.StringIO()
    recorder.console = tr.Console("json", out=shown)
    try:
        with recorder.capture("sqs", "step", "") as trace:
            log.warning("inside %d", 1)
        log.warning("outside")
    finally:
        log.removeHandler(handler)
    assert trace.logs == [{"level": "WARNING", "message": "inside 1", "k": 1}]
    assert json.loads(shown.getvalue()) == {"level": "WARNING", "message": "outside", "k": 1}


# --- metrics ---------------------------------------------------------------------


def test_metrics_count_sum_min_max_of_list_and_scalar_values() -> None:
    metrics = tr.Metrics()
    metrics.add(emf({"OrdersPlaced": [1.0, 1.0], "LeadMs": 30}))
    metrics.add(emf({"OrdersPlaced": 1, "LeadMs": [10.5, 50]}))
    got = metrics.snapshot()
    assert got["records"] == 2
    placed, lead = got["metrics"]["OrdersPlaced"], got["metrics"]["LeadMs"]
    assert (placed["count"], placed["sum"], placed["min"], placed["max"]) == (3, 3.0, 1.0, 1.0)
    assert (lead["count"], lead["sum"], lead["min"], lead["max"]) == (3, 90.5, 10.5, 50.0)
    assert placed["unit"] == "Count" and placed["dimensions"] == {}
    assert got["defaultDimensions"] == {"service": "app", "stage": "local"}


def test_metrics_with_their_own_dimensions_are_series_of_their_own() -> None:
    metrics = tr.Metrics()
    metrics.add(emf({"OrdersPlaced": [1.0]}))
    metrics.add(emf({"StepMs": [5.0]}, ["step"], step="payments"))
    metrics.add(emf({"StepMs": [7.0]}, ["step"], step="payments"))
    metrics.add(emf({"StepMs": [2.0]}, ["step"], step="shipping"))
    series = metrics.snapshot()["metrics"]
    assert set(series) == {"OrdersPlaced", "StepMs{step=payments}", "StepMs{step=shipping}"}
    payments = series["StepMs{step=payments}"]
    assert payments["name"] == "StepMs" and payments["dimensions"] == {"step": "payments"}
    assert (payments["count"], payments["sum"], payments["min"], payments["max"]) == (
        2,
        12.0,
        5.0,
        7.0,
    )


def test_a_dimension_value_that_differs_is_no_default() -> None:
    metrics = tr.Metrics()
    metrics.add(emf({"A": 1}))
    metrics.add({**emf({"A": 1}), "stage": "prod"})
    assert set(metrics.snapshot()["metrics"]) == {"A{stage=local}", "A{stage=prod}"}
    assert metrics.snapshot()["defaultDimensions"] == {"service": "app"}


def test_every_dimension_set_of_a_directive_is_a_series() -> None:
    record = emf({"A": [2.0]})
    record["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = [["stage"], ["stage", "region"]]
    record["region"] = "eu"
    metrics = tr.Metrics()
    metrics.add(record)
    assert set(metrics.snapshot()["metrics"]) == {"A", "A{region=eu}"}


def test_what_is_not_a_number_counts_nothing() -> None:
    metrics = tr.Metrics()
    record = emf({"A": ["x", True, None, 4], "B": "text", "C": []})
    record["_aws"]["CloudWatchMetrics"][0]["Metrics"].append({"Name": "Missing"})
    record["_aws"]["CloudWatchMetrics"].append("junk")
    metrics.add(record)
    metrics.add({"_aws": {"CloudWatchMetrics": "junk"}})
    series = metrics.snapshot()["metrics"]
    assert set(series) == {"A"} and series["A"]["count"] == 1 and series["A"]["sum"] == 4.0


def test_reset_starts_the_numbers_again_with_the_same_keys() -> None:
    metrics = tr.Metrics()
    metrics.add(emf({"A": 1}))
    metrics.add(emf({"StepMs": [5.0]}, ["step"], step="x"))
    since = metrics.snapshot()["since"]
    metrics.reset()
    assert metrics.snapshot()["metrics"] == {} and metrics.snapshot()["records"] == 0
    assert metrics.snapshot()["since"] >= since
    metrics.add(emf({"StepMs": [1.0]}, ["step"], step="x"))
    assert list(metrics.snapshot()["metrics"]) == ["StepMs{step=x}"]  # defaults remembered


# --- selecting traces ----------------------------------------------------------------


def trace(
    handler: str, started: float, text: str = "", logs: list[dict[str, Any]] | None = None
) -> tr.Trace:
    t = tr.Trace("sqs", handler, text, started=started)
    t.logs = logs or []
    return t


def test_traces_are_selected_by_record_attributes_or_text_in_start_order(
    recorder: tr.Recorder,
) -> None:
    recorder.traces.extend(
        [
            trace("late", 30.0, text='{"body": "{\\"orderId\\": \\"o-1\\"}"}'),
            trace("by-cid", 10.0, logs=[{"message": "x", "correlation_id": "o-1"}]),
            trace("other", 5.0, text="o-2", logs=[{"message": "o-1", "correlation_id": "c"}]),
            trace("by-order", 20.0, logs=[{"message": "x", "order_id": "o-1"}]),
            trace("same-start", 20.0, text="o-1"),
        ]
    )
    for i, t in enumerate(recorder.traces):
        t.seq = i
    got = recorder.select("o-1")
    assert [i["handler"] for i in got] == ["by-cid", "by-order", "same-start", "late"]
    assert recorder.select("unknown") == [] and recorder.select("") == []
    item = got[0]
    assert set(item) >= {"handler", "kind", "startedAt", "durationMs", "outcome", "logs"}
    assert item["startedAt"] == "1970-01-01T00:00:10+00:00"


def test_a_level_or_logger_equal_to_the_id_is_no_match() -> None:
    t = trace("h", 1.0, logs=[{"level": "INFO", "logger": "x", "message": "x"}])
    assert not t.matches("INFO") and not t.matches("x")


# --- the runtime and the API server capture invocations ----------------------------------


def test_the_runtime_traces_each_handler_call(
    recorder: tr.Recorder, logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = es.Runtime(FakeSession(), "app", "test", recorder)
    monkeypatch.setattr(sys, "stdout", tr.StdoutTee(io.StringIO(), recorder.on_line))
    root_capture = tr.LogCapture(recorder)  # for the runtime's "raised" record
    logging.getLogger("lambda.runtime").addHandler(root_capture)

    def handler(event: dict[str, Any], context: Any) -> Any:
        logger.info("got %s", event["Records"][0]["body"])
        print(json.dumps(emf({"Done": [1.0]})))
        if event["Records"][0]["body"] == "bad":
            raise RuntimeError("cannot")
        if event["Records"][0]["body"] == "half":
            return {"batchItemFailures": [{"itemIdentifier": "m1"}]}
        return None

    try:
        for body in ("fine", "half", "bad"):
            rt.invoke("sqs", "step", handler, {"Records": [{"body": body}]}, 1)
        rt.faults.duplicate_deliveries = True
        rt.invoke("sqs", "step", handler, {"Records": [{"body": "twice"}]}, 1)
    finally:
        logging.getLogger("lambda.runtime").removeHandler(root_capture)

    kept = list(recorder.traces)
    assert [(t.handler, t.kind, t.outcome) for t in kept] == [
        ("step", "sqs", "ok"),
        ("step", "sqs", "partial"),
        ("step", "sqs", "error"),
        ("step", "sqs", "ok"),
        ("step", "sqs", "ok"),  # a duplicate delivery is a second invocation
    ]
    assert [d.outcome for d in rt.deliveries] == ["ok", "partial", "error", "ok"]
    assert [e["message"] for e in kept[0].logs] == ["got fine"]
    assert kept[0].emf == [emf({"Done": [1.0]})] and kept[0].duration_ms >= 0
    assert "RuntimeError: cannot" in kept[2].logs[-1]["message"]
    assert kept[2].logs[-1]["logger"] == "lambda.runtime"
    assert [i["handler"] for i in recorder.select("twice")] == ["step", "step"]
    assert recorder.metrics.snapshot()["metrics"]["Done"]["count"] == 5


def test_each_request_to_the_api_is_an_http_trace(recorder: tr.Recorder) -> None:
    from chalice.app import Chalice, Response
    from chalice.config import Config

    app = Chalice("traced")

    @app.route("/things/{thing}", methods=["GET", "POST"])
    def thing(thing: str) -> Any:
        app.log.error("looking at %s", thing)  # Chalice keeps app.log at ERROR
        print(json.dumps(emf({"Looked": [1.0]})))
        if thing == "gone":
            return Response({"message": "no"}, status_code=404)
        return Response({"thing": thing, "id": "body-id"}, headers={"X-Flow": "hdr-id"})

    recorder.attach_logger(app.log)
    tee = tr.StdoutTee(io.StringIO(), recorder.on_line)
    config = Config.create(chalice_app=app, app_name="traced", chalice_stage="local")
    server = api.start_server(config, "127.0.0.1", 0, recorder)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    saved, sys.stdout = sys.stdout, tee  # type: ignore[assignment]
    try:
        with requests.Session() as http:  # one keep-alive connection: one thread
            assert http.get(f"{url}/things/a", headers={"X-Req": "req-id"}).status_code == 200
            assert http.get(f"{url}/things/gone").status_code == 404
            assert http.get(f"{url}/nowhere").status_code == 403  # API Gateway's answer
            http.post(f"{url}/things/b", headers={"Authorization": "Bearer secret-token"})
    finally:
        sys.stdout = saved
        server.shutdown()
    a, gone, nowhere, b = recorder.traces
    assert (a.kind, a.handler, a.outcome, a.detail) == (
        "http",
        "api",
        200,
        {"method": "GET", "path": "/things/a"},
    )
    assert [e["message"] for e in a.logs] == ["looking at a"] and a.emf[0]["Looked"] == [1.0]
    assert (gone.outcome, nowhere.outcome, nowhere.logs) == (404, 403, [])
    for ident in ("/things/a", "req-id", "hdr-id", "body-id"):
        assert a in [t for t in recorder.traces if t.matches(ident)], ident
    assert not b.matches("secret-token")  # credentials are never kept
    assert b.outcome == 200 and b.detail["method"] == "POST"


def test_with_a_console_each_delivery_and_request_has_a_line_with_its_records_under_it(
    recorder: tr.Recorder, logger: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    from chalice.app import Chalice
    from chalice.config import Config

    recorder.console = tr.Console("text", out=io.StringIO())
    rt = es.Runtime(FakeSession(), "app", "test", recorder)

    def handler(event: dict[str, Any], context: Any) -> Any:
        logger.info("got %s as %s", event["Records"][0]["body"], context.function_name)

    caplog.set_level(logging.INFO, logger="devstack")
    rt.invoke("sqs", "step", handler, {"Records": [{"body": "one"}]}, 1)
    (line,) = [r.getMessage() for r in caplog.records if r.name == "devstack.events"]
    assert line.startswith("deliver sqs      step ")
    assert line.endswith("\n    INFO      got one as app-test-step  [-]")

    app = Chalice("shown")
    names: list[str] = []

    @app.route("/")
    def index() -> Any:
        names.append(app.lambda_context.function_name)
        app.log.error("served")
        return {}

    recorder.attach_logger(app.log)
    server = api.start_server(
        Config.create(chalice_app=app, app_name="shown", chalice_stage="dev"),
        "127.0.0.1",
        0,
        recorder,
    )
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        assert requests.get(url, timeout=10).status_code == 200
    finally:
        server.shutdown()
    (request,) = [r.getMessage() for r in caplog.records if r.name == "devstack.api"]
    assert request.startswith("request GET    /  ") and " 200 " in request
    assert request.endswith("\n    ERROR     served  [-]")
    assert names == ["shown-dev"]  # as `chalice deploy` names the REST API's function


# --- control routes, client and CLI ------------------------------------------------------


@pytest.fixture
def stack_control(recorder: tr.Recorder) -> Iterator[StackControl]:
    emulator = SimpleNamespace(rt=SimpleNamespace(recorder=recorder))
    server = control.serve(emulator, AwsCalls(), "127.0.0.1", 0)  # type: ignore[arg-type]
    yield StackControl(f"http://127.0.0.1:{server.server_address[1]}")
    server.shutdown()


def test_the_control_endpoint_serves_traces_and_metrics(
    recorder: tr.Recorder, logger: logging.Logger, stack_control: StackControl
) -> None:
    odd = "t-1/ ?#%"
    with recorder.capture("sqs", "step", json.dumps({"correlationId": odd})):
        logger.info("working")
    recorder.on_line(json.dumps(emf({"OrdersPlaced": [1.0]})))

    items = stack_control.traces(odd)
    assert [(i["handler"], i["kind"], i["outcome"]) for i in items] == [("step", "sqs", "ok")]
    assert items[0]["logs"][0]["message"] == "working"
    assert stack_control.traces("nobody") == []
    assert stack_control.metrics()["metrics"]["OrdersPlaced"]["count"] == 1
    assert stack_control.reset_metrics()["metrics"] == {}
    assert stack_control.metrics()["metrics"] == {}


def test_render_is_a_timeline_with_each_deliverys_records() -> None:
    items = [
        {
            "handler": "api",
            "kind": "http",
            "startedAt": "2026-01-01T00:00:00+00:00",
            "durationMs": 12.5,
            "outcome": 201,
            "method": "POST",
            "path": "/orders",
            "logs": [{"level": "INFO", "message": "placed\nsecond line", "correlation_id": "c1"}],
        },
        {
            "handler": "payments_step",
            "kind": "sqs",
            "startedAt": "2026-01-01T00:00:01.250000+00:00",
            "durationMs": 3.0,
            "outcome": "partial",
            "logs": [{"level": "ERROR", "message": "declined"}],
        },
    ]
    lines = tr.render("c1", items).splitlines()
    assert lines[0] == "2 deliveries for c1"
    assert lines[1].split() == ["+0.000s", "api", "http", "12.5ms", "201", "POST", "/orders"]
    assert lines[2].split() == ["INFO", "placed"]
    assert lines[3].split() == ["second", "line", "[c1]"]
    assert lines[4].split() == ["+1.250s", "payments_step", "sqs", "3.0ms", "partial"]
    assert lines[5].split() == ["ERROR", "declined", "[-]"]
    assert lines[2].startswith("    ") and not lines[1].startswith(" ")
    assert tr.render("c9", []) == "no deliveries for c9"


def test_the_trace_command_prints_the_timeline(
    recorder: tr.Recorder,
    logger: logging.Logger,
    stack_control: StackControl,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with recorder.capture("dynamodb", "relay", '{"orderId": "o-7"}'):
        logger.info("relayed")
    assert main(["trace", "o-7", "--control", stack_control.url]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "1 deliveries for o-7"
    assert out[1].split()[1:3] == ["relay", "dynamodb"] and "relayed" in out[2]
    assert main(["trace", "o-8", "--control", stack_control.url]) == 0
    assert capsys.readouterr().out == "no deliveries for o-8\n"
