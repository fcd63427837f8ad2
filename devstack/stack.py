"""``python -m devstack run``: the whole app on one machine.

1. the emulator (moto, serialized) in a child process;
2. the resource template deployed to it (CloudFormation + what moto skips);
3. in this process: the REST API (``chalice local``'s server, with API
   Gateway's authorizer contract) and the event-source emulator with its
   control endpoint, both calling the app's own handlers as Lambda would.

Children run in their own sessions, so Ctrl-C reaches only this process, which
stops them in order; if this process dies anyway, the kernel sends them
SIGTERM (PR_SET_PDEATHSIG), so nothing outlives the stack.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devstack.state import StateFolder

log = logging.getLogger("devstack")

ROOT = Path(__file__).resolve().parent.parent
LOCAL_ENV = {
    # Fixed fake credentials: the emulator accepts any, and real ones must
    # never be picked up from a developer's profile by accident.
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "PYTHONUNBUFFERED": "1",
}


@dataclass
class Options:
    project_dir: Path = ROOT
    template: Path | None = None
    stage: str = "local"
    host: str = "127.0.0.1"
    api_port: int = 8000
    emulator_port: int = 4566
    control_port: int = 4567
    visibility_timeout: int = 2
    stream_max_retries: int = 3
    # Event source mapping settings by function name (Lambda's
    # UpdateEventSourceMapping parameters); default: the project's
    # .chalice/event-source-mappings.json when it exists.
    mappings: Path | None = None
    aws_error_rate: float = 0.0
    aws_error_services: tuple[str, ...] = ()
    aws_error_operations: tuple[str, ...] = ()
    # How a stack output's key becomes the app's environment variable
    # (``devstack.provision.ENV_NAMING``).
    env_naming: str = "snake-upper"
    # The console under each invocation's line: "text" or "json" (raw lines).
    log_format: str = "text"
    # A Stripe-compatible server (devstack.stripe_server) beside the emulator:
    # the app gets STRIPE_API_BASE, STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET,
    # and the server sends its signed webhooks to the API at this path.
    stripe: bool = False
    stripe_port: int = 4568
    stripe_webhook_path: str = "/webhooks/stripe"
    # Pollers woken by the emulator when a write made them work
    # (devstack.changes); DEVSTACK_WAKEUPS=0 turns it off (the polling design,
    # for comparison: bench/devstack.py).
    wakeups: bool = field(default_factory=lambda: os.environ.get("DEVSTACK_WAKEUPS", "1") != "0")
    # Import the app again when its files change (devstack.reload).
    reload: bool = False
    # "module:function" called after the ready line (devstack.seed).
    seed: str | None = None
    # Keep the state in this folder across restarts (devstack.state,
    # devstack.persist); None: memory only, as every test's stack.
    state_dir: Path | None = None
    fresh: bool = False  # with state_dir: empty it first
    fsync: bool = False  # with state_dir: every logged write waits for the disk

    @property
    def template_path(self) -> Path:
        return self.template or self.project_dir / "infra" / "resources.yaml"


def die_with_parent() -> None:
    # Linux: SIGTERM this child when the process that started it dies.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class Child:
    """A child process whose output is echoed with a prefix."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            argv,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509
        )
        self._lines: list[str] = []
        self._cond = threading.Condition()
        threading.Thread(
            target=self._pump, args=(self.proc.stdout,), daemon=True, name=f"out-{name}"
        ).start()

    def _pump(self, stream: IO[str] | None) -> None:
        assert stream is not None
        for line in stream:
            sys.stdout.write(f"[{self.name}] {line}")
            sys.stdout.flush()
            with self._cond:
                self._lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        regex = re.compile(pattern)
        found: list[re.Match[str]] = []

        def check() -> bool:
            for line in self._lines:
                m = regex.search(line)
                if m:
                    found.append(m)
                    return True
            return self.proc.poll() is not None

        with self._cond:
            self._cond.wait_for(check, timeout=timeout)
        if not found:
            raise RuntimeError(
                f"{self.name} did not print {pattern!r} (exit code {self.proc.poll()})"
            )
        return found[0]

    def stop(self, timeout: float = 10) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _wanted_parameters(opts: Options) -> dict[str, str]:
    """The parameters the stack gives a template that declares them."""
    return {"Stage": opts.stage, "QueueVisibilityTimeout": str(opts.visibility_timeout)}


def _template_parameters(template: dict[str, Any], opts: Options) -> dict[str, str]:
    declared = template.get("Parameters", {})
    return {k: v for k, v in _wanted_parameters(opts).items() if k in declared}


def _wait_http(url: str, stop: threading.Event, timeout: float = 60) -> None:
    deadline = threading.Event()
    timer = threading.Timer(timeout, deadline.set)
    timer.start()
    try:
        while not (stop.is_set() or deadline.is_set()):
            try:
                urllib.request.urlopen(url, timeout=2).close()  # noqa: S310
                return
            except urllib.error.HTTPError:
                return  # it answered
            except OSError:
                stop.wait(0.1)
        raise RuntimeError(f"{url} did not answer within {timeout}s")
    finally:
        timer.cancel()


def _mappings(opts: Options) -> dict[str, dict[str, Any]]:
    path = opts.mappings or opts.project_dir / ".chalice" / "event-source-mappings.json"
    if not path.exists():
        return {}
    declared = json.loads(path.read_text())
    log.info("event source mappings from %s: %s", path, ", ".join(sorted(declared)))
    return {k: v for k, v in declared.items() if isinstance(v, dict)}


def _start_emulator(
    opts: Options, stack: contextlib.ExitStack, state: StateFolder | None = None
) -> tuple[Child, str]:
    argv = [
        sys.executable,
        "-m",
        "devstack",
        "emulator",
        "--host",
        opts.host,
        "--port",
        str(opts.emulator_port),
    ]
    if state is not None:
        argv += ["--state", str(state.emulator), *(["--fsync"] if opts.fsync else [])]
    emu = Child("emulator", argv, dict(os.environ))
    stack.callback(emu.stop)
    emulator_port = int(emu.wait_for(r"emulator listening on [\d.]+:(\d+)").group(1))
    return emu, f"http://{opts.host}:{emulator_port}"


def _template_digest(opts: Options) -> str:
    """The template's text and every parameter the stack would pass it (not
    parsed: YAML parsing the template costs a restart half a second)."""
    from devstack.state import StateFolder

    return StateFolder.digest(opts.template_path.read_text(), _wanted_parameters(opts))


def _provision(opts: Options, state: StateFolder | None = None) -> tuple[Any, frozenset[str]]:
    """The template's resources on the emulator, and their outputs in the
    environment the app reads. Returns devstack's own (hook-free) session and
    the buckets whose events go to EventBridge. A state folder that holds the
    stack already deployed from this template gives its outputs instead."""
    import boto3

    from devstack import hooks, provision
    from devstack import template as tpl

    # devstack's own clients (provisioning, pollers) carry no hooks.
    session = hooks.exempt(boto3.session.Session())
    digest = _template_digest(opts) if state is not None else ""
    saved = state.stack(digest) if state is not None else None
    if state is not None and saved is not None:
        stack = provision.Stack(
            saved["name"], saved["outputs"], frozenset(saved["eventbridgeBuckets"])
        )
        log.info("resources from the state in %s: %d outputs", state.folder, len(stack.outputs))
    else:
        template = tpl.load(opts.template_path)
        stack = provision.deploy(
            session,
            opts.template_path,
            f"devstack-{opts.stage}",
            _template_parameters(template, opts),
        )
        log.info("resources from %s: %d outputs", opts.template_path, len(stack.outputs))
        if state is not None:
            # Fold the slow CloudFormation call into a snapshot: a restart
            # then never replays it.
            from devstack.persist import SNAPSHOT_ROUTE

            request = urllib.request.Request(  # noqa: S310 - the local emulator
                os.environ["AWS_ENDPOINT_URL"] + SNAPSHOT_ROUTE, method="POST"
            )
            urllib.request.urlopen(request, timeout=60).close()  # noqa: S310
            state.save_stack(
                digest,
                {
                    "name": stack.name,
                    "outputs": stack.outputs,
                    "eventbridgeBuckets": sorted(stack.eventbridge_buckets),
                },
            )
    os.environ.update(stack.environment(opts.env_naming))
    return session, stack.eventbridge_buckets


def _start_app(
    opts: Options,
    session: Any,
    stack: contextlib.ExitStack,
    eventbridge_buckets: frozenset[str] = frozenset(),
    stripe: Any = None,
    state: StateFolder | None = None,
) -> tuple[str, str, str, int]:
    """Hooks, the app, its event sources, the API and the control endpoint.
    Returns the app's name, the API's and the control endpoint's URLs, and
    how many event sources run."""
    from devstack import api, control, hooks
    from devstack.eventsources import Clock, Emulator, Runtime, TtlReaper, sources_for
    from devstack.faults import AwsCalls
    from devstack.lambdas import Functions
    from devstack.same_origin import SameOrigin
    from devstack.traces import Console, Recorder

    # Hooks first: every client the app creates from now on carries them,
    # including clients it makes at import time.
    calls = AwsCalls(
        opts.aws_error_rate,
        error_services=opts.aws_error_services,
        error_operations=opts.aws_error_operations,
    )
    stack.callback(hooks.install(calls.attach))
    # The app's own Lambda functions answer its Invoke calls (devstack.lambdas).
    functions = Functions()
    stack.callback(hooks.install(functions.attach))
    api.patch_authorizer()
    api.thread_local_requests()
    # Traces before the app is imported: its logging set-up then puts its
    # filters (context, redaction) on the capture handler too.
    recorder = Recorder(console=Console(opts.log_format, out=sys.stdout))
    stack.callback(recorder.install())
    config = api.load_app(opts.project_dir, opts.stage)
    # Chalice's app.log does not propagate; the console shows its records.
    recorder.attach_logger(config.chalice_app.log, mute_streams=True)
    app_name = str(config.app_name)  # .chalice/config.json, as `chalice deploy` names things
    rt = Runtime(session, app_name, opts.stage, recorder)
    rt.eventbridge_buckets = eventbridge_buckets
    functions.bind(config.chalice_app, rt)
    if state is not None:  # stream positions and the clock survive a restart
        rt.positions = state
        rt.clock = Clock(state.clock_offset(), state.save_clock)
    sources = sources_for(config.chalice_app, rt, opts.stream_max_retries, _mappings(opts))
    # DynamoDB's own TTL deletions, whatever the app registered.
    emulator = Emulator(rt, [*sources, TtlReaper(rt)], wakeups=opts.wakeups)
    emulator.outside["lambda invocations"] = functions.idle
    emulator.start()
    stack.callback(emulator.stop)
    if opts.wakeups:
        from devstack.changes import Watcher

        Watcher(os.environ["AWS_ENDPOINT_URL"], emulator.wake, rt.stopping).start()
    api_server = api.start_server(config, opts.host, opts.api_port, recorder)
    stack.callback(api_server.shutdown)
    extras: dict[str, Any] = {}
    if opts.reload:
        from devstack.reload import Reloader

        reloader = Reloader(
            opts.project_dir, opts.stage, config, api_server, emulator.sources, recorder
        )
        reloader.on_swap.append(lambda app: functions.bind(app, rt))
        stack.callback(reloader.start())
        extras = reloader.control()
    control_server = control.serve(emulator, calls, opts.host, opts.control_port, **extras)
    stack.callback(control_server.shutdown)
    # The control endpoint's status and the traces, on the API's origin too.
    parts = extras.get("status", {})
    api.serve_same_origin(
        api_server, SameOrigin(lambda: control.full_status(emulator, parts), recorder.select)
    )
    control_url = f"http://{opts.host}:{control_server.server_address[1]}"
    api_url = f"http://{opts.host}:{api_server.server_address[1]}"
    if stripe is not None:
        stripe.webhook_url = api_url + opts.stripe_webhook_path
        emulator.outside["stripe webhooks"] = stripe.idle
    return app_name, api_url, control_url, len(emulator.sources)


# The local Stripe server's credentials: test-mode-shaped, local only.
STRIPE_SECRET_KEY = "sk_test_devstack"  # noqa: S105 - a local test key
STRIPE_WEBHOOK_SECRET = "whsec_devstack"  # noqa: S105 - a local test secret


def _start_stripe(opts: Options, stack: contextlib.ExitStack) -> Any:
    """The Stripe-compatible server, and its address and keys in the app's
    environment (read when the app builds its provider)."""
    from devstack.stripe_server import StripeServer

    server = StripeServer(
        STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET, host=opts.host, port=opts.stripe_port
    ).start()
    stack.callback(server.stop)
    os.environ.update(
        {
            "STRIPE_API_BASE": server.url,
            "STRIPE_SECRET_KEY": STRIPE_SECRET_KEY,
            "STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
        }
    )
    log.info("Stripe-compatible server on %s", server.url)
    return server


def _logging_and_signals() -> threading.Event:
    """devstack's own lines go to stdout through a handler of its own (the
    app's logging set-up formats the root's handlers, not this one); the
    app's records reach the root, where the traces' capture shows them
    under their invocation."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s", "%H:%M:%S"))
    own = logging.getLogger("devstack")
    own.addHandler(handler)
    own.setLevel(logging.INFO)
    own.propagate = False
    logging.getLogger().setLevel(logging.INFO)
    logging.getLogger("botocore").setLevel(logging.WARNING)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _open_state(opts: Options) -> StateFolder | None:
    """The state folder, checked before anything starts: the template it was
    deployed from must be this one (else ``TemplateChanged``)."""
    from devstack.state import StateFolder

    if opts.state_dir is None:
        return None
    state = StateFolder(opts.state_dir)
    if state.open(fresh=opts.fresh):
        state.stack(_template_digest(opts))  # raises when the template changed
        log.info("state: going on from %s", opts.state_dir)
    else:
        # No stack was recorded: nothing, or a start that died while
        # provisioning, whose half-made resources must not be kept.
        state.wipe()
        log.info("state: starting empty in %s", opts.state_dir)
    return state


def run(opts: Options) -> int:
    """Start everything, print the ready line, and wait for a signal or a dead
    child; whatever started is stopped in reverse order."""
    stop = _logging_and_signals()
    try:
        with contextlib.ExitStack() as stack:
            stack.callback(log.info, "devstack stopped")
            os.environ.update(LOCAL_ENV)
            os.environ.pop("AWS_PROFILE", None)
            from devstack.seed import Seeder, Target

            seeder = Seeder(opts.seed, opts.project_dir) if opts.seed else None  # fails now
            state = _open_state(opts)
            emu, emulator_url = _start_emulator(opts, stack, state)
            os.environ["AWS_ENDPOINT_URL"] = emulator_url
            session, eventbridge_buckets = _provision(opts, state)
            stripe = _start_stripe(opts, stack) if opts.stripe else None
            app_name, api_url, control_url, sources = _start_app(
                opts, session, stack, eventbridge_buckets, stripe, state
            )
            _wait_http(api_url + "/", stop)
            if not stop.is_set():
                print(
                    f"{app_name} ready api={api_url} emulator={emulator_url} "
                    f"control={control_url} sources={sources}"
                    + (f" stripe={stripe.url}" if stripe is not None else ""),
                    flush=True,
                )
                if seeder is not None:
                    at = Target(api_url, control_url, emulator_url, opts.project_dir, opts.stage)
                    seeder.start(at, stop)
            while not stop.wait(0.5):
                if emu.proc.poll() is not None:
                    log.error("%s exited with %s; stopping", emu.name, emu.proc.returncode)
                    return 1
    except Exception as exc:
        from devstack.state import TemplateChanged

        if isinstance(exc, TemplateChanged):
            log.error("%s", exc)
        else:
            log.exception("devstack failed")
        return 1
    return 0
