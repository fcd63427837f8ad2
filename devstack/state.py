"""The stack's side of a state folder (``python -m devstack run --state-dir``).

The emulator keeps AWS's state there (``emulator/``: ``devstack.persist``).
Beside it the stack keeps what lives in its own process and must survive a
restart with it:

- ``stack.json``: the provisioned template's outputs, with a digest of the
  template and its parameters; a restart with the same template reuses them
  instead of deploying again (the resources are in the emulator's state);
- ``positions.json``: each DynamoDB stream shard's last sequence number a
  handler finished with, so the pollers go on after it, neither skipping
  records written before the stop nor delivering finished ones again
  (a batch in flight at a crash is delivered again: at least once, as Lambda);
- ``clock.json``: how far ``POST /clock/advance`` has moved the stack's clock.

Every file is replaced whole (write, then rename), so a crash leaves the old
or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any

EMULATOR = "emulator"


def _write(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class StateFolder:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._positions: dict[str, dict[str, str]] = {}
        # The emulator came back with state: a stream shard with no position
        # kept has had none of its records finished, so it starts at its oldest.
        self.restored = False

    @property
    def emulator(self) -> Path:
        return self.folder / EMULATOR

    def open(self, fresh: bool = False) -> bool:
        """Create the folder (emptied first when ``fresh``); True when it
        already held a stack to go on with."""
        if fresh and self.folder.exists():
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._positions = _read(self.folder / "positions.json") or {}
        self.restored = (self.folder / "stack.json").exists()
        return self.restored

    def wipe(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._positions = {}
        self.restored = False

    # The provisioned stack -------------------------------------------------

    @staticmethod
    def digest(template_text: str, parameters: dict[str, str]) -> str:
        body = template_text + json.dumps(parameters, sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()

    def stack(self, digest: str) -> dict[str, Any] | None:
        """The saved outputs of the stack deployed from this template, or
        None (none saved yet)."""
        saved = _read(self.folder / "stack.json")
        if saved is None:
            return None
        if saved.get("digest") != digest:
            raise TemplateChanged(
                f"the resource template or its parameters changed since the state in "
                f"{self.folder} was saved: its resources would not match. Start empty "
                "(`make run FRESH=1`, or --fresh), or restore the template."
            )
        return dict(saved)

    def save_stack(self, digest: str, record: dict[str, Any]) -> None:
        _write(self.folder / "stack.json", {**record, "digest": digest})

    # Stream positions --------------------------------------------------------

    def position(self, stream_arn: str, shard_id: str) -> str | None:
        with self._lock:
            return self._positions.get(stream_arn, {}).get(shard_id)

    def advance(self, stream_arn: str, shard_id: str, sequence_number: str) -> None:
        with self._lock:
            self._positions.setdefault(stream_arn, {})[shard_id] = sequence_number
            _write(self.folder / "positions.json", self._positions)

    # The clock ---------------------------------------------------------------

    def clock_offset(self) -> float:
        saved = _read(self.folder / "clock.json") or {}
        return float(saved.get("offset", 0.0))

    def save_clock(self, offset: float) -> None:
        _write(self.folder / "clock.json", {"offset": offset})


class TemplateChanged(RuntimeError):
    """The state folder's stack came from another template."""
