"""devstack.reload: what it watches, how it imports the app again, and what
it leaves behind when that fails.

The Reloader itself runs in a fresh interpreter (``_scenario``): it swaps
``app`` and ``chalicelib*`` in ``sys.modules``, which this test process has
loaded for eventshop's own tests."""

from __future__ import annotations

import functools
import importlib
import json
import logging
import os
import subprocess
import sys
import textwrap
import types
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chalice.app import Chalice, Rate

from devstack import reload

ROOT = Path(__file__).resolve().parents[3]


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


# --- what is watched ----------------------------------------------------------------


def test_the_app_module_chalicelib_and_the_config_are_watched(tmp_path: Path) -> None:
    _write(tmp_path / "app.py", "")
    _write(tmp_path / ".chalice" / "config.json", "{}")
    _write(tmp_path / "chalicelib" / "__init__.py", "")
    _write(tmp_path / "chalicelib" / "orders" / "api.py", "")
    _write(tmp_path / "chalicelib" / "__pycache__" / "stale.py", "")
    _write(tmp_path / "chalicelib" / "notes.txt", "")
    _write(tmp_path / "tools" / "demo.py", "")
    _write(tmp_path / "tests" / "test_x.py", "")
    assert sorted(reload.scan(tmp_path)) == [
        ".chalice/config.json",
        "app.py",
        "chalicelib/__init__.py",
        "chalicelib/orders/api.py",
    ]


def test_an_edit_an_added_and_a_removed_file_are_changes(tmp_path: Path) -> None:
    _write(tmp_path / "app.py", "A = 1\n")
    kept = _write(tmp_path / "chalicelib" / "kept.py", "")
    gone = _write(tmp_path / "chalicelib" / "gone.py", "")
    before = reload.scan(tmp_path)
    assert reload.changes(before, reload.scan(tmp_path)) == []
    (tmp_path / "app.py").write_text("A = 2\n")  # same size: the mtime says it
    gone.unlink()
    _write(tmp_path / "chalicelib" / "new.py", "")
    assert reload.changes(before, reload.scan(tmp_path)) == [
        "app.py",
        "chalicelib/gone.py",
        "chalicelib/new.py",
    ]
    assert kept.exists()


@pytest.mark.parametrize(
    ("relative", "module"),
    [
        ("app.py", "app"),
        ("chalicelib/__init__.py", "chalicelib"),
        ("chalicelib/orders/api.py", "chalicelib.orders.api"),
        ("chalicelib/orders/__init__.py", "chalicelib.orders"),
        (".chalice/config.json", None),
        ("tools/demo.py", None),
    ],
)
def test_module_names_of_watched_files(relative: str, module: str | None) -> None:
    assert reload.module_name(relative) == module


def test_a_changed_file_that_is_not_python_stops_before_any_import(tmp_path: Path) -> None:
    good = _write(tmp_path / "chalicelib" / "good.py", "X = 1\n")
    _write(tmp_path / "chalicelib" / "bad.py", "def broken(:\n")
    reload.compile_changed(tmp_path, ["chalicelib/good.py"])
    with pytest.raises(SyntaxError) as caught:
        reload.compile_changed(tmp_path, ["chalicelib/good.py", "chalicelib/bad.py"])
    assert caught.value.filename == str(tmp_path / "chalicelib" / "bad.py")
    assert caught.value.lineno == 1
    assert good.exists()


def test_stale_bytecode_of_a_changed_module_goes(tmp_path: Path) -> None:
    """A .pyc records its source's mtime in whole seconds and its size: an
    edit of the same size within that second would import the old code."""
    source = _write(tmp_path / "chalicelib" / "value.py", "V = 1\n")
    cached = Path(importlib.util.cache_from_source(str(source)))
    _write(cached, "stale")
    reload.compile_changed(tmp_path, ["chalicelib/value.py", "chalicelib/removed.py"])
    assert not cached.exists()


# --- importing again ----------------------------------------------------------------


@pytest.fixture
def package(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A package with a unique name on sys.path: ``<name>/value.py``."""
    name = f"reload_test_{uuid.uuid4().hex[:8]}"
    _write(tmp_path / name / "__init__.py", "")
    _write(tmp_path / name / "value.py", "V = 1\n")
    sys.path.insert(0, str(tmp_path))
    yield name, tmp_path / name
    sys.path.remove(str(tmp_path))
    for module in [m for m in sys.modules if reload.is_app_module(m, (name,))]:
        del sys.modules[module]


def _value(name: str) -> Any:
    return importlib.import_module(f"{name}.value")


def test_a_fresh_import_runs_the_new_code_and_returns_the_previous_modules(
    package: tuple[str, Path],
) -> None:
    name, folder = package
    first = _value(name)
    (folder / "value.py").write_text("V = 2\n")
    reload.compile_changed(folder.parent, [])  # nothing to compile: the package is not the app's
    Path(importlib.util.cache_from_source(str(folder / "value.py"))).unlink(missing_ok=True)
    second, previous = reload.fresh_import(lambda: _value(name), roots=(name,))
    assert (first.V, second.V) == (1, 2)
    assert previous[f"{name}.value"] is first
    assert sys.modules[f"{name}.value"] is second


def test_a_failed_import_puts_the_previous_modules_back(package: tuple[str, Path]) -> None:
    name, folder = package
    first = _value(name)
    package_module = sys.modules[name]
    _write(folder / "other.py", "import no_such_module_anywhere\n")

    def load() -> Any:
        _value(name)  # imports fine, then:
        return importlib.import_module(f"{name}.other")

    with pytest.raises(ModuleNotFoundError):
        reload.fresh_import(load, roots=(name,))
    assert sys.modules[f"{name}.value"] is first
    assert sys.modules[name] is package_module
    assert f"{name}.other" not in sys.modules


def test_a_failed_import_leaves_logging_and_the_execution_env_as_they_were(
    package: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    name, _ = package
    monkeypatch.setenv("AWS_EXECUTION_ENV", "AWS_Lambda aws-chalice/1.34.0")
    logger = logging.getLogger(f"{name}.app")
    kept_handler = logging.NullHandler()
    logger.addHandler(kept_handler)
    kept_filter = logging.Filter("kept")
    logging.getLogger().addFilter(kept_filter)

    def load() -> Any:
        Chalice(app_name=f"{name}.app")  # adds a handler to its logger, the env grows
        logger.addFilter(logging.Filter("added"))
        logging.getLogger().removeFilter(kept_filter)
        raise RuntimeError("the app failed half-way")

    try:
        with pytest.raises(RuntimeError):
            reload.fresh_import(load, roots=(name,))
        assert logger.handlers == [kept_handler]
        assert logger.filters == []
        assert kept_filter in logging.getLogger().filters
        assert os.environ["AWS_EXECUTION_ENV"] == "AWS_Lambda aws-chalice/1.34.0"
    finally:
        logger.removeHandler(kept_handler)
        logging.getLogger().removeFilter(kept_filter)


def test_a_successful_import_keeps_the_execution_env_from_growing(
    package: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    name, _ = package
    monkeypatch.setenv("AWS_EXECUTION_ENV", "AWS_Lambda aws-chalice/1.34.0")
    reload.fresh_import(lambda: Chalice(app_name=f"{name}-app"), roots=(name,))
    assert os.environ["AWS_EXECUTION_ENV"] == "AWS_Lambda aws-chalice/1.34.0"


def test_the_previous_codes_logging_filters_and_handlers_go() -> None:
    old = types.ModuleType("old_app_logs")
    exec(  # noqa: S102 - a module body, as the previous app's
        "import logging\n"
        "class Context(logging.Filter): pass\n"
        "class Out(logging.NullHandler): pass\n",
        old.__dict__,
    )
    logger = logging.getLogger(f"reload-test-{uuid.uuid4().hex[:6]}")
    other = logging.Filter("someone else's")
    handler = logging.NullHandler()
    handler.addFilter(old.Context())
    handler.addFilter(other)
    logger.addHandler(handler)
    logger.addHandler(old.Out())
    logger.addFilter(old.Context())
    assert reload.forget_logging_of([old]) == 3
    assert logger.handlers == [handler]
    assert handler.filters == [other]
    assert logger.filters == []
    logger.removeHandler(handler)


# --- the new app in place of the old ------------------------------------------------


def _app(queue: str = "work-q", extra: bool = False, schedule_minutes: int = 5) -> Chalice:
    app = Chalice(app_name="rewire")

    @app.on_sqs_message(queue=queue)
    def work(event: Any) -> None: ...

    @app.schedule(Rate(schedule_minutes, unit=Rate.MINUTES))
    def tick(event: Any) -> None: ...

    @app.on_sns_message(topic="kept")
    def gone(event: Any) -> None: ...

    if extra:

        @app.on_sqs_message(queue="new-q")
        def added(event: Any) -> None: ...

    return app


class _Source:
    def __init__(self, name: str, handler: Any) -> None:
        self.name = name
        self.handler = handler


def test_sources_declared_alike_get_the_new_handler_and_the_rest_need_a_restart() -> None:
    old = _app()
    sources = [_Source(c.name, old.handler_map[c.name]) for c in old.event_sources]
    sources.append(_Source("dynamodb-ttl", "devstack's own"))
    new = _app(queue="other-q", extra=True)
    del new.handler_map["gone"]
    new.event_sources[:] = [c for c in new.event_sources if c.name != "gone"]
    swapped, restart = reload.rewire(old, new, sources)
    handlers = {s.name: s.handler for s in sources}
    assert swapped == 1
    assert handlers["tick"] is new.handler_map["tick"]  # same Rate: the same declaration
    assert handlers["work"] is old.handler_map["work"]  # another queue: still wired to the old
    assert handlers["gone"] is old.handler_map["gone"]
    assert handlers["dynamodb-ttl"] == "devstack's own"
    assert restart == ["added: added", "gone: removed", "work: declared differently"]


def test_a_changed_schedule_is_a_different_declaration() -> None:
    old, new = _app(), _app(schedule_minutes=10)
    sources = [_Source("tick", old.handler_map["tick"])]
    assert reload.rewire(old, new, sources) == (0, ["tick: declared differently"])


def test_a_stand_in_follows_what_it_stands_for() -> None:
    current = [types.SimpleNamespace(name="first", call=lambda: 1)]
    proxy = reload.Follows(lambda: current[0])
    assert proxy.name == "first"
    current[0] = types.SimpleNamespace(name="second")
    assert proxy.name == "second"
    proxy.name = "written"
    assert current[0].name == "written"
    callable_proxy = reload.Follows(lambda: functools.partial(max, 3))
    assert callable_proxy(1, 7) == 7


# --- the Reloader, in a fresh interpreter --------------------------------------------

SCENARIO = """
import functools, json, logging, os, sys
from pathlib import Path

from devstack.api import load_app
from devstack.reload import Reloader
from devstack.traces import Recorder

project = Path(sys.argv[1])
out = {}
logging.getLogger("devstack").addHandler(logging.StreamHandler(sys.stderr))
recorder = Recorder()
recorder.install()  # as the stack does, before the app is imported
config = load_app(project, "local")
recorder.attach_logger(config.chalice_app.log, mute_streams=True)
server = type("Server", (), {})()
server.RequestHandlerClass = functools.partial(
    object, app_object=config.chalice_app, config=config
)


class Source:
    def __init__(self, name, handler):
        self.name, self.handler = name, handler


sources = [Source(c.name, config.chalice_app.handler_map[c.name])
           for c in config.chalice_app.event_sources]
reloader = Reloader(project, "local", config, server, sources, recorder)
swapped = []
reloader.on_swap.append(swapped.append)
proxy = server.RequestHandlerClass.keywords["app_object"]
APP = (project / "app.py").read_text()


def step(name, path=None, text=None):
    if path and text is None:
        (project / path).unlink()
    elif path:
        (project / path).write_text(text)
    polled = reloader.poll()
    status = reloader.status()
    out[name] = {
        "polled": polled,
        "hello": proxy.routes["/hello"]["GET"].view_function(),
        "source_is_current": sources[0].handler is reloader.app.handler_map["work"],
        "greeting_module": id(sys.modules["chalicelib.greeting"]),
        "app_log_handlers": [type(h).__name__ for h in logging.getLogger("scenario").handlers],
        "execution_env": os.environ.get("AWS_EXECUTION_ENV"),
        "swapped": len(swapped),
        **{k: status[k] for k in ("ok", "reloads", "failed", "files", "error", "restartNeeded")},
    }


step("start")
step("edit", "chalicelib/greeting.py", 'TEXT = "v2"\\n')
step("syntax", "chalicelib/greeting.py", 'TEXT = "v3\\n')
step("fixed", "chalicelib/greeting.py", 'TEXT = "v3"\\n')
step("lazy", "chalicelib/lazy.py", "import no_such_module_anywhere\\n")
step("lazy removed", "chalicelib/lazy.py")
step("half app", "app.py", APP + "\\nraise RuntimeError('half-way')\\n")
ADDED = "\\n@app.on_sqs_message(queue='new-q')\\ndef added(event):\\n    pass\\n"
step("wiring", "app.py", APP + ADDED)
out["wait now"] = reloader.wait(0, timeout=1) is not None
out["wait later"] = reloader.wait(100, timeout=0.05)
print(json.dumps(out))
"""

SCENARIO_APP = """\
from chalice.app import Chalice

from chalicelib import greeting

app = Chalice(app_name="scenario")


@app.route("/hello")
def hello():
    return {"greeting": greeting.TEXT}


@app.on_sqs_message(queue="work-q")
def work(event):
    return greeting.TEXT
"""


def _scenario(tmp_path: Path) -> dict[str, Any]:
    _write(tmp_path / ".chalice" / "config.json", '{"version": "2.0", "app_name": "scenario"}')
    _write(tmp_path / "chalicelib" / "__init__.py", "")
    _write(tmp_path / "chalicelib" / "greeting.py", 'TEXT = "v1"\n')
    _write(tmp_path / "app.py", SCENARIO_APP)
    done = subprocess.run(
        [sys.executable, "-c", SCENARIO, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "AWS_EXECUTION_ENV": "AWS_Lambda", "AWS_DEFAULT_REGION": "us-east-1"},
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    result["log"] = done.stderr
    return result


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _scenario(tmp_path_factory.mktemp("project"))


def test_nothing_changed_is_no_reload(scenario: dict[str, Any]) -> None:
    start = scenario["start"]
    assert (start["polled"], start["reloads"], start["failed"]) == (False, 0, 0)
    assert start["hello"] == {"greeting": "v1"}
    assert start["app_log_handlers"] == ["LogCapture"]


def test_an_edit_serves_the_new_code_to_the_api_and_the_sources(scenario: dict[str, Any]) -> None:
    edit = scenario["edit"]
    assert (edit["polled"], edit["ok"], edit["reloads"], edit["files"]) == (
        True,
        True,
        1,
        ["chalicelib/greeting.py"],
    )
    assert edit["hello"] == {"greeting": "v2"}  # through the API server's stand-in
    assert edit["source_is_current"]
    assert edit["greeting_module"] != scenario["start"]["greeting_module"]
    assert edit["swapped"] == 1
    # Chalice's own stdout handler of the new app is muted, the capture moved on.
    assert edit["app_log_handlers"] == ["LogCapture"]
    assert edit["execution_env"] == "AWS_Lambda aws-chalice/1.34.0"  # as after the first import


def test_a_syntax_error_is_reported_and_the_previous_code_serves(scenario: dict[str, Any]) -> None:
    syntax = scenario["syntax"]
    assert (syntax["ok"], syntax["reloads"], syntax["failed"]) == (False, 1, 1)
    assert "greeting.py" in syntax["error"]
    assert "SyntaxError" in syntax["error"]
    assert syntax["hello"] == {"greeting": "v2"}
    assert syntax["greeting_module"] == scenario["edit"]["greeting_module"]  # untouched
    assert syntax["swapped"] == 1
    assert (
        "reload failed (chalicelib/greeting.py); the previous code keeps serving"
        in (scenario["log"])
    )
    fixed = scenario["fixed"]
    assert (fixed["ok"], fixed["error"], fixed["hello"]) == (True, None, {"greeting": "v3"})


def test_a_changed_module_the_app_does_not_import_is_imported_too(
    scenario: dict[str, Any],
) -> None:
    lazy = scenario["lazy"]
    assert (lazy["ok"], lazy["files"]) == (False, ["chalicelib/lazy.py"])
    assert lazy["error"] == "ModuleNotFoundError: No module named 'no_such_module_anywhere'"
    removed = scenario["lazy removed"]
    assert (removed["ok"], removed["files"]) == (True, ["chalicelib/lazy.py"])


def test_an_app_that_fails_half_way_leaves_no_handler_or_env_behind(
    scenario: dict[str, Any],
) -> None:
    half = scenario["half app"]
    assert (half["ok"], half["error"]) == (False, "RuntimeError: half-way")
    assert half["app_log_handlers"] == ["LogCapture"]  # not the new Chalice()'s stdout one
    assert half["execution_env"] == "AWS_Lambda aws-chalice/1.34.0"
    assert half["hello"] == {"greeting": "v3"}


def test_a_new_handler_is_named_for_a_restart(scenario: dict[str, Any]) -> None:
    wiring = scenario["wiring"]
    assert (wiring["ok"], wiring["restartNeeded"]) == (True, ["added: added"])
    assert wiring["source_is_current"]
    assert scenario["wait now"] is True
    assert scenario["wait later"] is None
