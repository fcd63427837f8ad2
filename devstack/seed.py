"""A first screen that shows something (``python -m devstack run --seed
MODULE:FUNCTION``).

devstack knows nothing of the app's data, so the app brings its seed: a
function that takes a ``Target`` (the running stack's URLs, the project and
the stage) and returns the text to print, or None. The stack imports it
before it starts anything (a wrong name fails at once), and calls it once,
on a thread of its own, after the ready line, so the API and the event
sources are live and the console shows every request and delivery the seed
makes. What "empty" means is the app's to decide: with state kept across
restarts, a seed looks first and leaves a stack that has data alone. It
should go through the stack as a client would (the HTTP API, presigned
uploads), so seeding runs the app's own code paths. An exception is logged;
the stack keeps running.
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("devstack.seed")


@dataclass(frozen=True)
class Target:
    """What a seed function is given: where the running stack answers."""

    api_url: str
    control_url: str
    emulator_url: str
    project_dir: Path
    stage: str


SeedFunction = Callable[[Target], "str | None"]


def load(spec: str, project_dir: Path) -> SeedFunction:
    """The function ``spec`` (``package.module:function``) names, imported
    with the project on the path; ValueError when it names none."""
    module_name, sep, attribute = spec.partition(":")
    if not (sep and module_name and attribute):
        raise ValueError(f"--seed {spec!r}: expected MODULE:FUNCTION, e.g. tools.demo:seed")
    if str(project_dir) not in sys.path:
        sys.path.insert(0, str(project_dir))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"--seed {spec!r}: cannot import {module_name}: {exc}") from exc
    fn = getattr(module, attribute, None)
    if not callable(fn):
        raise ValueError(f"--seed {spec!r}: {module_name} has no function {attribute!r}")
    return fn  # type: ignore[no-any-return]


class Seeder:
    """The seed ``spec`` names, loaded now and run by ``start``."""

    def __init__(self, spec: str, project_dir: Path) -> None:
        self.spec = spec
        self.fn = load(spec, project_dir)

    def run(self, target: Target, stop: threading.Event | None = None) -> str | None:
        """Call the seed and log what it says (or its failure, unless the
        stack is stopping under it). Returns its text."""
        started = time.perf_counter()
        try:
            text = self.fn(target)
        except Exception:
            if stop is None or not stop.is_set():
                log.exception("%s failed", self.spec)
            return None
        if text and (stop is None or not stop.is_set()):
            log.info("%s (%.1fs):\n%s", self.spec, time.perf_counter() - started, text)
        return text

    def start(self, target: Target, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(target, stop), name="seed", daemon=True)
        thread.start()
        return thread
