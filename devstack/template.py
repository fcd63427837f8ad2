"""Read ``infra/resources.yaml`` with its intrinsic-function tags.

The emulator's CloudFormation skips a few resource types; the stack creates
those itself from the template's own definitions, so this module resolves the
intrinsics they use (Ref, Fn::GetAtt, Fn::Sub) against the deployed stack.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml


class _Loader(yaml.SafeLoader):  # type: ignore[misc]
    pass


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_Loader.add_multi_constructor("!", _tag)


def load(path: Path) -> dict[str, Any]:
    with path.open() as f:
        data = yaml.load(f, Loader=_Loader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(data, dict) or "Resources" not in data:
        raise ValueError(f"{path}: not a CloudFormation template")
    return data


class Resolver:
    """Evaluates intrinsics given how to look up Ref and GetAtt values."""

    def __init__(
        self,
        ref: Callable[[str], str],
        get_att: Callable[[str, str], str],
    ) -> None:
        self._ref = ref
        self._get_att = get_att

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Fn::GetAtt":
                logical, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                return self._get_att(logical, attr)
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Join":
                sep, parts = arg
                return sep.join(str(self(p)) for p in parts)
        return {k: self(v) for k, v in value.items()}

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def repl(m: re.Match[str]) -> str:
            name = m.group(1)
            if name in variables:
                return str(self(variables[name]))
            if "." in name:
                logical, attr = name.split(".", 1)
                return self._get_att(logical, attr)
            return self._ref(name)

        resolved = re.sub(r"\$\{([^}!]+)\}", repl, text)
        return resolved.replace("${!", "${")  # '${!Literal}' stands for '${Literal}'
