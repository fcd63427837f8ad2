"""A small IAM matcher over the stage policies (.chalice/policy-<stage>.json):
enough of IAM's wildcards to ask whether a policy allows an action on a resource."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


@cache
def _pattern(glob: str, ignore_case: bool) -> re.Pattern[str]:
    # IAM wildcards: * any run of characters (":" and "/" included), ? one.
    body = re.escape(glob).replace(r"\*", ".*").replace(r"\?", ".")
    return re.compile(body, re.IGNORECASE if ignore_case else 0)


def _matches(glob: str, value: str, ignore_case: bool = False) -> bool:
    return _pattern(glob, ignore_case).fullmatch(value) is not None


def policy(stage: str) -> dict[str, Any]:
    return dict(json.loads((ROOT / ".chalice" / f"policy-{stage}.json").read_text()))


def allows(doc: dict[str, Any], action: str, resource: str) -> bool:
    return any(
        any(_matches(a, action, ignore_case=True) for a in as_list(s["Action"]))
        and any(_matches(r, resource) for r in as_list(s["Resource"]))
        for s in doc["Statement"]
    )


def granted_actions(doc: dict[str, Any]) -> set[str]:
    return {a for s in doc["Statement"] for a in as_list(s["Action"])}
