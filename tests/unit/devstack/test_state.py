"""The stack's side of a state folder: the provisioned stack by template
digest, stream positions and the clock, each file replaced whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.eventsources import Clock
from devstack.state import StateFolder, TemplateChanged


def test_a_new_folder_has_nothing_to_go_on_with(tmp_path: Path) -> None:
    state = StateFolder(tmp_path / "state")
    assert state.open() is False
    assert state.restored is False
    assert state.stack(StateFolder.digest("Resources: {}", {})) is None
    assert state.position("arn:stream", "shard-1") is None
    assert state.clock_offset() == 0.0


def test_what_is_saved_is_what_the_next_start_reads(tmp_path: Path) -> None:
    digest = StateFolder.digest("Resources: {}", {"Stage": "local"})
    first = StateFolder(tmp_path / "state")
    first.open()
    first.save_stack(digest, {"name": "devstack-local", "outputs": {"A": "b"}})
    first.advance("arn:stream", "shard-1", "1100000000017454423020")
    first.advance("arn:stream", "shard-1", "1100000000017454423031")
    first.save_clock(90.0)
    second = StateFolder(tmp_path / "state")
    assert second.open() is True
    assert second.restored is True
    assert second.stack(digest) == {
        "name": "devstack-local",
        "outputs": {"A": "b"},
        "digest": digest,
    }
    assert second.position("arn:stream", "shard-1") == "1100000000017454423031"
    assert second.clock_offset() == 90.0
    assert not list((tmp_path / "state").glob("*.tmp"))  # written whole, then renamed


def test_another_template_or_parameters_is_refused(tmp_path: Path) -> None:
    state = StateFolder(tmp_path / "state")
    state.open()
    state.save_stack(StateFolder.digest("Resources: {}", {"Stage": "local"}), {"outputs": {}})
    for other in (
        StateFolder.digest("Resources: {Q: {}}", {"Stage": "local"}),
        StateFolder.digest("Resources: {}", {"Stage": "dev"}),
    ):
        with pytest.raises(TemplateChanged, match="FRESH=1"):
            state.stack(other)


def test_fresh_and_wipe_empty_the_folder(tmp_path: Path) -> None:
    state = StateFolder(tmp_path / "state")
    state.open()
    state.save_stack("d", {"outputs": {}})
    state.advance("arn:stream", "shard-1", "1")
    (state.emulator).mkdir()
    (state.emulator / "wal-00000000.log").write_bytes(b"x")
    assert StateFolder(tmp_path / "state").open(fresh=True) is False
    assert list((tmp_path / "state").iterdir()) == []
    state.save_stack("d", {"outputs": {}})
    state.wipe()
    assert state.restored is False
    assert state.position("arn:stream", "shard-1") is None
    assert list((tmp_path / "state").iterdir()) == []


def test_the_clock_tells_each_new_offset(tmp_path: Path) -> None:
    state = StateFolder(tmp_path / "state")
    state.open()
    clock = Clock(state.clock_offset(), state.save_clock)
    clock.advance(60)
    clock.advance(30)
    assert StateFolder(tmp_path / "state").clock_offset() == 90.0
    assert Clock(state.clock_offset()).offset == 90.0
