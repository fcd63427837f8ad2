"""A process tree, as /proc shows it: for tests that stop or kill one."""

from __future__ import annotations

import os
import signal
from pathlib import Path


def descendants(pid: int) -> set[int]:
    found: set[int] = set()
    todo = [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for c in map(int, children):
                if c not in found:
                    found.add(c)
                    todo.append(c)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def kill_tree(pid: int) -> set[int]:
    """SIGKILL ``pid`` and everything it started, the children first (none
    gets the chance to stop cleanly: no snapshot, no flush); returns them all."""
    tree = descendants(pid)
    for p in (*tree, pid):
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return {*tree, pid}
