"""devstack.seed: the app's seed function, named MODULE:FUNCTION, found
before the stack starts and called once after its ready line."""

from __future__ import annotations

import logging
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.seed import Seeder, Target, load

SEEDS = """
calls = []


def seed(target):
    calls.append(target)
    return f"seeded {target.api_url} ({target.stage})"


def quiet(target):
    return None


def broken(target):
    raise RuntimeError("the catalog refused the demo")


NOT_A_FUNCTION = 3
"""


@pytest.fixture
def project(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A project folder holding a seed module of a unique name."""
    name = f"seed_test_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(SEEDS)
    yield tmp_path, name
    sys.modules.pop(name, None)
    if str(tmp_path) in sys.path:
        sys.path.remove(str(tmp_path))


def _target(project_dir: Path) -> Target:
    return Target("http://api", "http://control", "http://emulator", project_dir, "local")


def test_the_function_is_found_in_the_project(project: tuple[Path, str]) -> None:
    folder, name = project
    fn = load(f"{name}:seed", folder)
    assert fn(_target(folder)) == "seeded http://api (local)"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("{name}", "expected MODULE:FUNCTION"),
        (":seed", "expected MODULE:FUNCTION"),
        ("{name}:", "expected MODULE:FUNCTION"),
        ("{name}_missing:seed", "cannot import {name}_missing"),
        ("{name}:nothing", "has no function 'nothing'"),
        ("{name}:NOT_A_FUNCTION", "has no function 'NOT_A_FUNCTION'"),
    ],
)
def test_a_name_that_names_no_function_fails_at_once(
    project: tuple[Path, str], spec: str, message: str
) -> None:
    folder, name = project
    with pytest.raises(ValueError, match="--seed") as caught:
        Seeder(spec.format(name=name), folder)
    assert message.format(name=name) in str(caught.value)


def test_what_the_seed_says_is_logged(
    project: tuple[Path, str], caplog: pytest.LogCaptureFixture
) -> None:
    folder, name = project
    seeder = Seeder(f"{name}:seed", folder)
    with caplog.at_level(logging.INFO, logger="devstack.seed"):
        assert seeder.run(_target(folder)) == "seeded http://api (local)"
    (record,) = caplog.records
    assert record.getMessage().startswith(f"{name}:seed (")
    assert record.getMessage().endswith("s):\nseeded http://api (local)")


def test_a_seed_with_nothing_to_say_logs_nothing(
    project: tuple[Path, str], caplog: pytest.LogCaptureFixture
) -> None:
    folder, name = project
    with caplog.at_level(logging.INFO, logger="devstack.seed"):
        assert Seeder(f"{name}:quiet", folder).run(_target(folder)) is None
    assert caplog.records == []


def test_a_failing_seed_is_logged_with_its_traceback_and_the_stack_goes_on(
    project: tuple[Path, str], caplog: pytest.LogCaptureFixture
) -> None:
    folder, name = project
    seeder = Seeder(f"{name}:broken", folder)
    with caplog.at_level(logging.INFO, logger="devstack.seed"):
        assert seeder.run(_target(folder)) is None
        stopping = threading.Event()
        stopping.set()
        assert seeder.run(_target(folder), stopping) is None  # the stack going: no noise
    (record,) = caplog.records
    assert record.levelno == logging.ERROR
    assert record.getMessage() == f"{name}:broken failed"
    assert record.exc_info is not None
    assert "the catalog refused the demo" in str(record.exc_info[1])


def test_the_seed_runs_once_on_a_thread_of_its_own(project: tuple[Path, str]) -> None:
    folder, name = project
    seeder = Seeder(f"{name}:seed", folder)
    thread = seeder.start(_target(folder), threading.Event())
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert thread is not threading.current_thread()
    assert sys.modules[name].calls == [_target(folder)]
