"""What the IMM SDK's generated code says about serialising each request the provider sends.

:mod:`airflow_provider_imm.hooks.rpc_shapes` is this module's output, committed so the task process
never imports the SDK to learn it; ``tests/hooks/test_rpc_shapes.py`` fails when the installed SDK
says otherwise. Regenerate with
``python -m tests.sdk_request_shapes > airflow_provider_imm/hooks/rpc_shapes.py`` (then ``ruff format``).

Read from the SDK's source: for each action, its ``*_with_options`` method (which fields go to the
query and which to the form body, which are JSON-encoded "shrink" fields), and for each model, its
``to_map`` (keys in the order they are written; a list of models is written as ``[]`` even when unset)
and ``from_map`` (the model of each nested value).
"""

from __future__ import annotations

import inspect
import re
import sys
from typing import Any

from airflow_provider_imm.catalog import OPERATIONS

#: The actions the provider calls besides Create*Task.
OTHER_ACTIONS = {"GetTask": "get_task", "ListTasks": "list_tasks"}

_RESULT_KEY = re.compile(r"result\['(\w+)'\] = (.*)")
_SHRINK = re.compile(r"array_to_string_with_specified_style\(tmp_req\.\w+, '(\w+)', '(\w+)'\)")
_PLACED = re.compile(r"(query|body)\['(\w+)'\] = ")
_NESTED_MODEL = re.compile(r"main_models\.(\w+)\(\)")


def sdk_methods() -> dict[str, str]:
    return {**{a: op.sdk_method for a, op in OPERATIONS.items()}, **OTHER_ACTIONS}


def _method_source(cls: type, name: str) -> str:
    return inspect.getsource(getattr(cls, name))


def model_fields(model: type) -> list[tuple[str, str, str | None]]:
    """(key, kind, nested model) in ``to_map`` order; kind is ``value``, ``model`` or ``models``."""
    to_map = _method_source(model, "to_map")
    from_map = _method_source(model, "from_map")
    blocks = from_map.split("\n\n")
    fields: list[tuple[str, str, str | None]] = []
    seen: set[str] = set()
    for key, expr in _RESULT_KEY.findall(to_map):
        if key in seen:
            continue
        seen.add(key)
        if expr.strip() == "[]":
            kind = "models"
        elif expr.strip().endswith(".to_map()"):
            kind = "model"
        elif re.fullmatch(r"self\.\w+", expr.strip()):
            kind = "value"
        else:
            raise ValueError(f"{model.__name__}.{key}: unknown to_map form {expr!r}")
        nested = None
        if kind != "value":
            block = next(b for b in blocks if f"m.get('{key}')" in b)
            if ".items()" in block or block.count("for ") > 1:
                raise ValueError(f"{model.__name__}.{key}: nested collections are not supported")
            found = _NESTED_MODEL.findall(block)
            if len(found) != 1:
                raise ValueError(f"{model.__name__}.{key}: no single nested model in {block!r}")
            nested = found[0]
        fields.append((key, kind, nested))
    return fields


def derive_shapes() -> tuple[dict[str, Any], dict[str, Any]]:
    """``(actions, models)``: per action, ``(key, kind, model, json_encoded, in_body)`` in the order the
    SDK places them; per nested model, ``(key, kind, model)`` in its ``to_map`` order."""
    from alibabacloud_imm20200930 import models
    from alibabacloud_imm20200930.client import Client

    actions: dict[str, Any] = {}
    nested: dict[str, Any] = {}
    pending: list[str] = []
    for action, method in sorted(sdk_methods().items()):
        source = _method_source(Client, f"{method}_with_options")
        shrink = dict(_SHRINK.findall(source))
        if set(shrink.values()) - {"json"}:
            raise ValueError(f"{action}: a style other than json: {shrink}")
        placed = {key: where for where, key in _PLACED.findall(source)}
        request_fields = {
            key: (kind, model) for key, kind, model in model_fields(getattr(models, f"{action}Request"))
        }
        if set(placed) != set(request_fields):
            raise ValueError(f"{action}: request fields {sorted(request_fields)} but placed {sorted(placed)}")
        rows = []
        for key, where in placed.items():
            kind, model = request_fields[key]
            rows.append((key, kind, model, key in shrink, where == "body"))
            if model:
                pending.append(model)
        actions[action] = tuple(rows)
    while pending:
        name = pending.pop()
        if name in nested:
            continue
        nested[name] = tuple(model_fields(getattr(models, name)))
        pending.extend(model for _, _, model in nested[name] if model)
    return actions, dict(sorted(nested.items()))


def render() -> str:
    actions, models = derive_shapes()
    lines = [
        '"""How the IMM SDK serialises each request the provider sends: generated from the SDK\'s source',
        "by ``python -m tests.sdk_request_shapes``; ``tests/hooks/test_rpc_shapes.py`` checks it against the",
        'installed SDK. Do not edit by hand."""',
        "",
        "from __future__ import annotations",
        "",
        "#: Per action, its request fields in the order the SDK places them:",
        "#: ``(key, kind, model, json_encoded, in_body)``;",
        "#: kind is ``value``, ``model`` or ``models`` (a list).",
        "ACTIONS: dict[str, tuple[tuple[str, str, str | None, bool, bool], ...]] = {",
    ]
    for action, rows in actions.items():
        lines.append(f"    {action!r}: (")
        lines.extend(f"        {row!r}," for row in rows)
        lines.append("    ),")
    lines += [
        "}",
        "",
        "#: Per nested model, its fields in ``to_map`` order: ``(key, kind, model)``.",
        "MODELS: dict[str, tuple[tuple[str, str, str | None], ...]] = {",
    ]
    for name, rows in models.items():
        lines.append(f"    {name!r}: (")
        lines.extend(f"        {row!r}," for row in rows)
        lines.append("    ),")
    lines.append("}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
