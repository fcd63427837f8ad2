"""Reload on change (``python -m devstack run --reload``): like ``chalice
local --autoreload``, but in the running stack, so the emulator's state, the
event-source wiring and the ports stay as they are.

What Chalice deploys is what is watched: ``app.py``, every ``*.py`` under
``chalicelib/`` and ``.chalice/config.json`` (the stage's environment). A
thread stats them every second (no dependency); when one changed, was added
or went, the app is imported again in a fresh module set:

1. every changed ``.py`` file is compiled first (a syntax error stops here,
   with nothing touched) and its stale bytecode removed (a ``.pyc`` records
   its source's mtime in whole seconds and its size: an edit of the same size
   within a second would load the old code);
2. ``app`` and ``chalicelib*`` are taken out of ``sys.modules`` and the app
   is loaded as at start (``devstack.api.load_app``), then each changed
   module is imported too: handlers import most of their code lazily, and an
   error there must show now, not at the next call;
3. on success, the new app serves: the API's request handler asks the
   reloader for the app at each request (keep-alive connections included),
   and each event source whose handler is still declared the same way gets
   the new handler (a source calls ``source.handler`` at each delivery). A
   handler added, removed or re-declared (another queue, pattern...) needs
   a restart to be wired: it is named in the status (``restartNeeded``) and
   the log. The previous code's logging filters and handlers are taken off
   the loggers (the new import put its own on), and the traces' capture goes
   on the new ``app.log``;
4. on failure, the previous module set is put back, logging is restored as
   it was, the traceback goes to the log, and ``GET /status`` says
   ``"reload": {"ok": false, "error": ..., "at": ...}``: the previous code
   keeps serving. (Code the previous app never imported is read from disk
   when first used, as without reloading.)

The control endpoint's ``POST /reload`` reloads at once (tests, or an edit
the watcher cannot see). Invocations that run while the modules are swapped
finish on the code they started with.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from devstack.traces import LogCapture, Recorder

log = logging.getLogger("devstack.reload")

# What ``chalice deploy`` packages: the app module and the chalicelib package.
APP_MODULES = ("app", "chalicelib")
CONFIG = ".chalice/config.json"
INTERVAL = 1.0  # seconds between two looks at the files
MAX_ERROR = 8_000  # characters of a traceback kept in the status

Stamp = tuple[int, int, int]  # mtime_ns, size, inode
T = TypeVar("T")


def watched_files(project_dir: Path) -> list[Path]:
    """The files whose change reloads the app."""
    files = [project_dir / "app.py", project_dir / CONFIG]
    chalicelib = project_dir / "chalicelib"
    if chalicelib.is_dir():
        files += sorted(p for p in chalicelib.rglob("*.py") if "__pycache__" not in p.parts)
    return [f for f in files if f.is_file()]


def scan(project_dir: Path) -> dict[str, Stamp]:
    """Each watched file (relative path) with what says it changed."""
    stamps: dict[str, Stamp] = {}
    for path in watched_files(project_dir):
        try:
            st = path.stat()
        except OSError:  # went away meanwhile: as if never seen
            continue
        stamps[path.relative_to(project_dir).as_posix()] = (st.st_mtime_ns, st.st_size, st.st_ino)
    return stamps


def changes(before: dict[str, Stamp], after: dict[str, Stamp]) -> list[str]:
    """The files changed, added or removed between two scans, sorted."""
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def module_name(relative: str) -> str | None:
    """``chalicelib/orders/api.py`` -> ``chalicelib.orders.api``; None for
    what is not one of the app's modules."""
    if not relative.endswith(".py"):
        return None
    parts = relative[: -len(".py")].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    name = ".".join(parts)
    return name if is_app_module(name) else None


def is_app_module(name: str, roots: Iterable[str] = APP_MODULES) -> bool:
    return any(name == r or name.startswith(r + ".") for r in roots)


def compile_changed(project_dir: Path, relatives: Iterable[str]) -> None:
    """Compile each changed module that exists (SyntaxError if one is not
    Python) and remove its cached bytecode, which may not look stale."""
    for relative in relatives:
        path = project_dir / relative
        if module_name(relative) is None or not path.is_file():
            continue
        compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
        with contextlib.suppress(OSError):
            Path(importlib.util.cache_from_source(str(path))).unlink()


@contextlib.contextmanager
def _logging_kept() -> Iterator[None]:
    """Every logger's filters and handlers (and its handlers' filters) as they
    were, put back if the block raises: a failed import leaves none of its
    set-up behind (a Chalice() made before the error adds a handler)."""
    loggers = [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    saved = [(lg, list(lg.filters), list(lg.handlers), lg.propagate, lg.level) for lg in loggers]
    handler_filters = {id(h): (h, list(h.filters)) for lg in loggers for h in lg.handlers}
    try:
        yield
    except BaseException:
        for lg, filters, handlers, propagate, level in saved:
            lg.filters[:] = filters
            lg.handlers[:] = handlers
            lg.propagate, lg.level = propagate, level
        for h, filters in handler_filters.values():
            h.filters[:] = filters
        raise


def forget_logging_of(modules: Iterable[ModuleType]) -> int:
    """Take the filters and handlers whose class one of ``modules`` defines
    off every logger and handler; returns how many went."""
    classes = {
        v
        for m in modules
        for v in vars(m).values()
        if isinstance(v, type) and v.__module__ == m.__name__
    }
    if not classes:
        return 0
    removed = 0
    loggers = [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    for lg in loggers:
        for f in [f for f in lg.filters if type(f) in classes]:
            lg.removeFilter(f)
            removed += 1
        for h in list(lg.handlers):
            if type(h) in classes:
                lg.removeHandler(h)
                removed += 1
                continue
            for f in [f for f in h.filters if type(f) in classes]:
                h.removeFilter(f)
                removed += 1
    return removed


def fresh_import(
    load: Callable[[], T], also: Iterable[str] = (), roots: tuple[str, ...] = APP_MODULES
) -> tuple[T, dict[str, ModuleType]]:
    """``load()`` (then ``also``'s modules) with the modules under ``roots``
    out of ``sys.modules``, so each is executed again from its file. Returns
    what ``load`` returned and the previous modules. If anything raises, the
    previous modules are put back (the new ones dropped), and logging, and
    ``AWS_EXECUTION_ENV`` (every ``Chalice()`` appends to it) are as before."""
    previous = {n: m for n, m in sys.modules.items() if is_app_module(n, roots)}
    execution_env = os.environ.get("AWS_EXECUTION_ENV")
    for name in previous:
        del sys.modules[name]
    importlib.invalidate_caches()
    try:
        with _logging_kept():
            result = load()
            for name in also:
                importlib.import_module(name)
    except BaseException:
        for name in [n for n in sys.modules if is_app_module(n, roots)]:
            del sys.modules[name]
        sys.modules.update(previous)
        raise
    finally:
        if execution_env is None:
            os.environ.pop("AWS_EXECUTION_ENV", None)
        else:
            os.environ["AWS_EXECUTION_ENV"] = execution_env
    return result, previous


def _declared(config: Any) -> dict[str, Any]:
    """What wires an event source (queue, topic, stream, pattern, schedule...)."""
    return {
        k: v.to_string() if hasattr(v, "to_string") else v
        for k, v in sorted(vars(config).items())
        if k != "handler_string"
    }


def wiring(app: Any) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each event handler of ``app`` with its kind and declaration."""
    return {c.name: (type(c).__name__, _declared(c)) for c in app.event_sources}


def rewire(old: Any, new: Any, sources: Iterable[Any]) -> tuple[int, list[str]]:
    """Give each source of ``old``'s handlers, declared the same way in
    ``new``, ``new``'s handler. Returns how many changed hands and what
    needs a restart (handlers added, removed or declared differently)."""
    before, after = wiring(old), wiring(new)
    restart = [f"{n}: added" for n in sorted(after.keys() - before.keys())]
    restart += [f"{n}: removed" for n in sorted(before.keys() - after.keys())]
    restart += [
        f"{n}: declared differently"
        for n in sorted(before.keys() & after.keys())
        if before[n] != after[n]
    ]
    swapped = 0
    for source in sources:
        name = getattr(source, "name", None)
        if name in before and before[name] == after.get(name):
            source.handler = new.handler_map[name]
            swapped += 1
    return swapped, restart


def _local_app(app: Any) -> Any:
    """As ``devstack.api.start_server`` prepares the app it serves (chalice
    local's mixin on the app's class)."""
    from chalice import local

    local.CustomLocalChalice.__bases__ = (local.LocalChalice, app.__class__)
    app.__class__ = local.CustomLocalChalice
    return app


class Follows:
    """Stands for what ``current()`` returns at each use: attribute reads,
    writes and calls go to it."""

    def __init__(self, current: Callable[[], Any]) -> None:
        object.__setattr__(self, "_current", current)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._current(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._current(), name, value)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._current()(*args, **kwargs)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Reloader:
    """Keeps the app the API and the event sources call, and replaces it when
    the project's files change (``start``) or when asked (``reload``)."""

    def __init__(
        self,
        project_dir: Path,
        stage: str,
        config: Any,
        api_server: Any,
        sources: list[Any],
        recorder: Recorder | None = None,
        load: Callable[[Path, str], Any] | None = None,
    ) -> None:
        self.project_dir = project_dir
        self.stage = stage
        self.config = config
        self.app = config.chalice_app
        self.sources = sources
        self.recorder = recorder
        self._load = load or _load_app
        # Called with each new app once it serves (what else holds handlers).
        self.on_swap: list[Callable[[Any], None]] = []
        self._busy = threading.Lock()  # one reload at a time
        self._changed = threading.Condition()  # guards the status; notified when it changes
        self._stamps = scan(project_dir)
        self._status: dict[str, Any] = {
            "on": True,
            "ok": True,
            "reloads": 0,
            "failed": 0,
            "at": None,
            "files": [],
            "error": None,
            "traceback": None,
            "ms": None,
            "restartNeeded": [],
        }
        if api_server is not None:
            self._serve_current_app(api_server)

    def _serve_current_app(self, server: Any) -> None:
        """The API server's request handlers get stand-ins for the app and
        its config that follow the reloader's, so every request, on a new
        connection or a kept-alive one, runs the current code. (A gateway
        matches paths with the routes there were when its connection opened:
        a route path added since is found from the next connection on.)"""
        made = server.RequestHandlerClass  # functools.partial(handler, app_object=, config=)
        server.RequestHandlerClass = functools.partial(
            made.func,
            **{
                **made.keywords,
                "app_object": Follows(lambda: self.app),
                "config": Follows(lambda: self.config),
            },
        )

    def status(self) -> dict[str, Any]:
        with self._changed:
            return dict(self._status)

    def _record(self, **changes: Any) -> dict[str, Any]:
        with self._changed:
            self._status.update(changes)
            self._changed.notify_all()
            return dict(self._status)

    def wait(self, after: int, timeout: float) -> dict[str, Any] | None:
        """The status once more than ``after`` reloads were tried (``reloads``
        plus ``failed``), or None after ``timeout`` seconds."""
        with self._changed:
            tried = self._changed.wait_for(
                lambda: self._status["reloads"] + self._status["failed"] > after, timeout
            )
            return dict(self._status) if tried else None

    def poll(self) -> bool:
        """Look at the files once; reload if one changed. True if it did."""
        stamps = scan(self.project_dir)
        changed = changes(self._stamps, stamps)
        if not changed:
            return False
        self._stamps = stamps
        self.reload(changed)
        return True

    def reload(self, changed: list[str] | None = None) -> dict[str, Any]:
        """Import the app again (``changed``: the files that changed, whose
        modules are compiled and imported too; None: a reload asked for).
        Returns the status."""
        files = list(changed or [])
        with self._busy:
            started = time.perf_counter()
            also = [n for n in map(module_name, files) if n and _exists(self.project_dir, n)]
            try:
                compile_changed(self.project_dir, files)
                config, previous = fresh_import(
                    lambda: self._prepared(self._load(self.project_dir, self.stage)), also
                )
            except Exception as exc:  # noqa: BLE001 - the app's error is data here
                text = "".join(traceback.format_exception(exc))
                log.error(
                    "reload failed (%s); the previous code keeps serving:\n%s",
                    ", ".join(files) or "asked",
                    text.rstrip(),
                )
                return self._record(
                    ok=False,
                    failed=self._status["failed"] + 1,
                    at=_now(),
                    files=files,
                    error="".join(traceback.format_exception_only(exc)).strip()[:MAX_ERROR],
                    traceback=text[-MAX_ERROR:],
                    ms=round((time.perf_counter() - started) * 1000, 1),
                )
            swapped, restart = self._swap(config, previous.values())
            ms = round((time.perf_counter() - started) * 1000, 1)
            log.info(
                "reloaded %s in %.0fms: %d event handlers on the new code",
                ", ".join(files) or "(asked)",
                ms,
                swapped,
            )
            if restart:
                log.warning(
                    "restart the stack to wire: %s (they run as at start meanwhile)",
                    "; ".join(restart),
                )
            return self._record(
                ok=True,
                reloads=self._status["reloads"] + 1,
                at=_now(),
                files=files,
                error=None,
                traceback=None,
                ms=ms,
                restartNeeded=restart,
            )

    def _swap(self, config: Any, previous: Iterable[ModuleType]) -> tuple[int, list[str]]:
        """Serve ``config``'s app: the API and the event sources call it from
        now on; the previous code's logging goes. Returns ``rewire``'s answer."""
        new = config.chalice_app
        swapped, restart = rewire(self.app, new, self.sources)
        self.app, self.config = new, config
        for swap in self.on_swap:
            swap(new)
        forget_logging_of(previous)
        if self.recorder is not None:
            for h in [h for h in new.log.handlers if isinstance(h, LogCapture)]:
                new.log.removeHandler(h)
            self.recorder.attach_logger(new.log, mute_streams=True)
        return swapped, restart

    @staticmethod
    def _prepared(config: Any) -> Any:
        """The new app, checked and made servable as at start."""
        from chalice.deploy.validate import validate_routes

        app = config.chalice_app  # imports it
        validate_routes(app.routes)
        _local_app(app)
        return config

    def start(self, interval: float = INTERVAL) -> Callable[[], None]:
        """Watch the files on a thread; returns what stops it."""
        stop = threading.Event()

        def watch() -> None:
            while not stop.wait(interval):
                try:
                    self.poll()
                except Exception:
                    log.exception("watching %s failed", self.project_dir)

        thread = threading.Thread(target=watch, name="reload", daemon=True)
        thread.start()
        log.info(
            "reloading on change of app.py, chalicelib/ and %s in %s", CONFIG, self.project_dir
        )

        def halt() -> None:
            stop.set()
            thread.join(timeout=5)

        return halt

    def _wait_reply(self, body: dict[str, Any]) -> tuple[int, Any]:
        try:
            after, timeout = int(body.get("after", 0)), float(body.get("timeout", 30))
        except (TypeError, ValueError):
            return 400, {"message": "after must be an integer and timeout a number"}
        status = self.wait(after, timeout)
        return (200, status) if status is not None else (504, {"tried": False, **self.status()})

    def control(self) -> dict[str, Any]:
        """What it adds to the control endpoint: ``reload`` in ``GET /status``;
        ``POST /reload`` (reload now) and ``POST /reload/wait`` (``{"after":
        n, "timeout": s}``: until more than n reloads were tried, else 504)."""
        return {
            "status": {"reload": self.status},
            "posts": {
                "/reload": lambda body: (200, self.reload()),
                "/reload/wait": self._wait_reply,
            },
        }


def _path(module: str) -> Path:
    return Path(*module.split("."))


def _exists(project_dir: Path, module: str) -> bool:
    base = project_dir / _path(module)
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _load_app(project_dir: Path, stage: str) -> Any:
    from devstack.api import load_app

    return load_app(project_dir, stage)
