"""`make run` starts the stack and Ctrl-C (or SIGTERM) stops every process it
started; the stack serves the app and hands out tokens the app accepts."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
from pathlib import Path

import pytest
import requests

from devstack.testing import READY, RunningStack
from tests.support.processes import alive, descendants

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_make_run_stops_every_process_it_started(how: str, tmp_path: Path) -> None:
    # Its state in a folder of the test's: never the checkout's .devstack.
    env = {
        **os.environ,
        "API_PORT": "0",
        "EMULATOR_PORT": "0",
        "CONTROL_PORT": "0",
        "STATE_DIR": str(tmp_path / "state"),
    }
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if READY.search(line):
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    try:
        assert ready.wait(180), "".join(lines)
        m = READY.search("".join(lines))
        assert m, "".join(lines[-40:])
        assert requests.get(m["api"] + "/health", timeout=10).json() == {"status": "ok"}
        started = descendants(proc.pid)
        assert len(started) >= 2  # devstack (API and event sources), emulator
        if how == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)  # the terminal signals the whole group
        else:
            proc.send_signal(signal.SIGTERM)  # make alone
        proc.wait(30)
        leftovers = [p for p in started if alive(p)]
        assert leftovers == [], f"still running: {leftovers}"
        assert "devstack stopped" in "".join(lines)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_ready_line_names_every_endpoint(app_stack: RunningStack) -> None:
    text = app_stack.log_text()
    assert len(re.findall(r"^eventshop ready ", text, flags=re.M)) == 1
    assert requests.get(app_stack.api_url + "/health", timeout=5).status_code == 200
    assert app_stack.drain()["idle"] is True
