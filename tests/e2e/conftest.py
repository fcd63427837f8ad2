from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.testing import RunningStack, running_stack

FIXTURE_APP = Path(__file__).parent / "fixture_app"


@pytest.fixture(scope="session")
def fixture_stack() -> Iterator[RunningStack]:
    """The event-source emulator around a small app with one handler per kind."""
    with running_stack(
        project_dir=FIXTURE_APP,
        template=FIXTURE_APP / "resources.yaml",
        extra_args=("--visibility-timeout", "2"),
    ) as stack:
        yield stack


@pytest.fixture(scope="session")
def app_stack() -> Iterator[RunningStack]:
    """The eventshop app itself on the local stack, as `make run` starts it,
    its functions' records shown as the raw JSON lines they print (what
    CloudWatch would hold: test_traces.py checks every one of them)."""
    with running_stack(extra_args=("--log-format", "json")) as stack:
        yield stack
