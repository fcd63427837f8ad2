"""``python -m tools token``: a JWT the local and test stages accept, signed
with the stage's ``JWT_SECRET`` from ``.chalice/config.json``.

(Not ``token.py``: run as a script from this directory, it would shadow the
standard library's ``token``.)"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from chalicelib.identity import auth


def main(role: str, sub: str, stage: str, ttl: int, project_dir: Path) -> int:
    config = json.loads((project_dir / ".chalice" / "config.json").read_text())
    stage_env = config["stages"][stage].get("environment_variables", {})
    secret = stage_env.get("JWT_SECRET")
    if not secret:
        print(f"stage {stage!r} has no JWT_SECRET: only local and test stages do", file=sys.stderr)
        return 2
    print(auth.issue(sub, role, secret, ttl_seconds=ttl))
    return 0
