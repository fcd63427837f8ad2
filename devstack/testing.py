"""Start a whole local stack for tests and benchmarks, on free ports.

Each stack is its own process tree (emulator, API, event sources), so tests
pass while ``make run`` is up, and the tree is stopped on exit: SIGTERM, then
SIGKILL to the whole session if it does not go.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.client import StackControl
from devstack.stack import LOCAL_ENV, ROOT, die_with_parent

# Any app: "<app_name> ready api=... emulator=... control=... sources=N".
READY = re.compile(
    r"(?m)^(?P<app>\S+) ready api=(?P<api>\S+) emulator=(?P<emulator>\S+) control=(?P<control>\S+)"
    r"(?: sources=\d+)?(?: stripe=(?P<stripe>\S+))?"
)


@dataclass
class RunningStack:
    api_url: str
    emulator_url: str
    control: StackControl
    proc: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)
    app_name: str = ""
    stripe_url: str = ""  # the Stripe-compatible server's, when started with stripe=True
    # Notified whenever ``output`` grows (and when the stack's output ends).
    output_changed: threading.Condition = field(default_factory=threading.Condition)

    def session(self) -> Any:
        import boto3

        return boto3.session.Session(
            aws_access_key_id=LOCAL_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=LOCAL_ENV["AWS_SECRET_ACCESS_KEY"],
            region_name=LOCAL_ENV["AWS_DEFAULT_REGION"],
        )

    def client(self, service: str) -> Any:
        return self.session().client(service, endpoint_url=self.emulator_url)

    def drain(self, timeout: float = 30) -> dict[str, Any]:
        return self.control.drain(timeout)

    def log_text(self) -> str:
        return "".join(self.output)

    def wait_for_line(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        """The first line of the stack's output that matches ``pattern``, once
        it printed one (AssertionError after ``timeout`` or if it exited)."""
        regex = re.compile(pattern)
        found: list[re.Match[str]] = []

        def seen() -> bool:
            found[:] = [m for m in map(regex.search, self.output) if m][:1]
            return bool(found) or self.proc.poll() is not None

        with self.output_changed:
            self.output_changed.wait_for(seen, timeout=timeout)
        if not found:
            raise AssertionError(
                f"the stack printed no {pattern!r}:\n" + "".join(self.output[-60:])
            )
        return found[0]


def _stop(proc: subprocess.Popen[str], timeout: float = 20) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _start(argv: list[str], env: dict[str, str] | None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        argv,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
        # If the test process dies, the stack goes with it.
        preexec_fn=die_with_parent,  # noqa: PLW1509
    )


def _wait_ready(
    proc: subprocess.Popen[str], output: list[str], timeout: float, cond: threading.Condition
) -> re.Match[str]:
    """Collect the stack's output in ``output`` (for ever, on a thread,
    notifying ``cond``) and return its ready line's match once it prints one."""
    ready: list[re.Match[str]] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with cond:
                output.append(line)
                m = READY.search(line)
                if m:
                    ready.append(m)
                cond.notify_all()
        with cond:
            cond.notify_all()

    threading.Thread(target=pump, daemon=True).start()
    with cond:
        cond.wait_for(lambda: bool(ready) or proc.poll() is not None, timeout=timeout)
    if not ready:
        raise RuntimeError("the stack did not start:\n" + "".join(output[-60:]))
    return ready[0]


@contextmanager
def running_stack(
    project_dir: Path = ROOT,
    template: Path | None = None,
    extra_args: tuple[str, ...] = (),
    stripe: bool = False,
    env: dict[str, str] | None = None,
    startup_timeout: float = 120,
) -> Iterator[RunningStack]:
    argv = [
        *(sys.executable, "-m", "devstack", "run", "--project-dir", str(project_dir)),
        *("--api-port", "0", "--emulator-port", "0", "--control-port", "0"),
        *extra_args,
    ]
    if template is not None:
        argv += ["--template", str(template)]
    if stripe:
        argv += ["--stripe", "--stripe-port", "0"]
    # Lambda's batching windows off unless the caller keeps them (a bench):
    # a test's drain then never waits out a window.
    proc = _start(argv, {"DEVSTACK_MAX_BATCHING_WINDOW": "0", **(env or {})})
    output: list[str] = []
    output_changed = threading.Condition()
    try:
        m = _wait_ready(proc, output, startup_timeout, output_changed)
        yield RunningStack(
            m["api"],
            m["emulator"],
            StackControl(m["control"]),
            proc,
            output,
            app_name=m["app"],
            stripe_url=m["stripe"] or "",
            output_changed=output_changed,
        )
    finally:
        _stop(proc)
