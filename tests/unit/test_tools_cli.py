"""``python -m tools``: eventshop's own commands, moved out of devstack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chalicelib.identity import auth
from tools.__main__ import main

ROOT = Path(__file__).resolve().parents[2]


def _stage_secret(stage: str) -> str:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    return str(config["stages"][stage]["environment_variables"]["JWT_SECRET"])


def test_token_is_signed_with_the_stage_secret(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["token", "--role", "admin", "--sub", "ops-1", "--project-dir", str(ROOT)])

    assert code == 0
    principal = auth.verify(capsys.readouterr().out.strip(), _stage_secret("local"))
    assert (principal.sub, principal.role) == ("ops-1", "admin")


def test_token_for_a_stage_without_a_local_secret_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["token", "--stage", "dev", "--project-dir", str(ROOT)])

    assert code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "no JWT_SECRET" in captured.err


def test_devstack_no_longer_has_the_app_commands() -> None:
    from devstack.__main__ import main as devstack_main

    for command in ("token", "deploy", "replay-orders"):
        with pytest.raises(SystemExit) as exc:
            devstack_main([command])
        assert exc.value.code == 2  # argparse: invalid choice
