"""``python -m tools token``: a JWT the local and test stages accept, signed
with the stage's ``JWT_SECRET`` from ``.chalice/config.json``.

(Not ``token.py``: run as a script from this directory, it would shadow the
standard library's ``token``.)"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from chalicelib.identity import auth


def stage_secret(project_dir: Path, stage: str) -> str | None:
    """The stage's ``JWT_SECRET`` (only local and test stages have one)."""
    config = json.loads((project_dir / ".chalice" / "config.json").read_text())
    stage_env = config["stages"][stage].get("environment_variables", {})
    secret = stage_env.get("JWT_SECRET")
    return str(secret) if secret else None


def issue(role: str, sub: str, stage: str, ttl: int, project_dir: Path) -> str | None:
    """A token for ``sub`` in ``role``, or None when the stage has no secret."""
    secret = stage_secret(project_dir, stage)
    return auth.issue(sub, role, secret, ttl_seconds=ttl) if secret else None


def main(role: str, sub: str, stage: str, ttl: int, project_dir: Path) -> int:
    token = issue(role, sub, stage, ttl, project_dir)
    if token is None:
        print(f"stage {stage!r} has no JWT_SECRET: only local and test stages do", file=sys.stderr)
        return 2
    print(token)
    return 0
