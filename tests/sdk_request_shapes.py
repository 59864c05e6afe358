"""What the IMM SDK's request models say about each request the provider sends: field types and how
each request is serialised.

:mod:`airflow_provider_imm.request_models` loads this module's output, ``request_models.json``,
committed so that neither the task process (request validation, the lean RPC client) nor the
triggerer imports the SDK to learn it; ``tests/hooks/test_rpc_shapes.py`` fails when the installed
SDK says otherwise. Regenerate with
``python -m tests.sdk_request_shapes > airflow_provider_imm/request_models.json``.

Read from the SDK: for each action, its ``*_with_options`` method (which fields go to the query and
which to the form body, which are JSON-encoded "shrink" fields); for each model, the wire key and
type annotation of each attribute (``to_map`` probed with stand-ins, as the SDK writes them) and the
order ``to_map`` writes them in. A list of models is written as ``[]`` even when unset.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
import typing
from collections.abc import Iterator
from typing import Any

from airflow_provider_imm.catalog import OPERATIONS

#: The actions the provider calls besides Create*Task.
OTHER_ACTIONS = {"GetTask": "get_task", "ListTasks": "list_tasks"}

_RESULT_KEY = re.compile(r"result\['(\w+)'\] = (.*)")
_SHRINK = re.compile(r"array_to_string_with_specified_style\(tmp_req\.\w+, '(\w+)', '(\w+)'\)")
_PLACED = re.compile(r"(query|body)\['(\w+)'\] = ")


def sdk_methods() -> dict[str, str]:
    return {**{a: op.sdk_method for a, op in OPERATIONS.items()}, **OTHER_ACTIONS}


class _Probe:
    """Stands in for every attribute of a model so its ``to_map`` reveals each attribute's wire key."""

    def to_map(self) -> _Probe:
        return self

    def __iter__(self) -> Iterator[_Probe]:
        yield self

    def items(self) -> list[tuple[str, _Probe]]:
        return [("", self)]


def _without_none(annotation: Any) -> Any:
    """``T`` for ``Optional[T]`` (Python 3.10's ``get_type_hints`` adds it for every default of None)."""
    if typing.get_origin(annotation) is typing.Union:
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and callable(getattr(annotation, "to_map", None))


def wire_annotations(model: type) -> dict[str, Any]:
    """Wire key -> annotation of each attribute of ``model``."""
    init = model.__init__  # type: ignore[misc]
    hints = {name: _without_none(hint) for name, hint in typing.get_type_hints(init).items()}
    names = [name for name in inspect.signature(init).parameters if name != "self"]
    instance = model()
    probes: dict[int, str] = {}
    for name in names:
        probe = _Probe()
        probes[id(probe)] = name
        setattr(instance, name, probe)
    fields: dict[str, Any] = {}
    for key, value in instance.to_map().items():
        if isinstance(value, list) and value:
            value = value[0]
        elif isinstance(value, dict) and value:
            value = next(iter(value.values()))
        attribute = probes.get(id(value))
        if attribute is not None:
            fields[key] = hints.get(attribute, Any)
    return fields


def spec(annotation: Any, found: list[type]) -> tuple[Any, ...]:
    """The annotation as data: ``("model", name)``, ``("list", item)``, ``("dict",)``, ``("any",)`` or
    ``("value",)`` (a single value); models met are appended to ``found``."""
    if _is_model(annotation):
        found.append(annotation)
        return ("model", annotation.__name__)
    origin = typing.get_origin(annotation)
    if origin is list:
        (item,) = typing.get_args(annotation) or (Any,)
        return ("list", spec(item, found))
    if origin is dict:
        return ("dict",)
    if annotation is Any:
        return ("any",)
    return ("value",)


def model_fields(model: type, found: list[type]) -> list[tuple[str, tuple[Any, ...]]]:
    """(key, spec) in ``to_map`` order, checked against how ``to_map`` writes each key."""
    annotations = wire_annotations(model)
    written = dict(_RESULT_KEY.findall(inspect.getsource(model.to_map)))
    fields = []
    for key, expr in written.items():
        field_spec = spec(annotations.get(key, Any), found)
        expr = expr.strip()
        if field_spec[0] == "model":
            expected = expr.endswith(".to_map()")
        elif field_spec[0] == "list" and field_spec[1][0] == "model":
            expected = expr == "[]"
        else:
            expected = re.fullmatch(r"self\.\w+", expr) is not None
        if not expected:
            raise ValueError(f"{model.__name__}.{key}: to_map writes {expr!r} for {field_spec}")
        fields.append((key, field_spec))
    if set(written) != set(annotations):
        raise ValueError(f"{model.__name__}: to_map keys {sorted(written)} != {sorted(annotations)}")
    return fields


def derive() -> tuple[dict[str, Any], dict[str, Any]]:
    """``(requests, models)``: per action, ``(key, spec, json_encoded, in_body)`` in the order the SDK
    places them; per nested model, ``(key, spec)`` in its ``to_map`` order."""
    from alibabacloud_imm20200930 import models
    from alibabacloud_imm20200930.client import Client

    requests: dict[str, Any] = {}
    nested: dict[str, Any] = {}
    pending: list[type] = []
    for action, method in sorted(sdk_methods().items()):
        source = inspect.getsource(getattr(Client, f"{method}_with_options"))
        shrink = dict(_SHRINK.findall(source))
        if set(shrink.values()) - {"json"}:
            raise ValueError(f"{action}: a style other than json: {shrink}")
        placed = {key: where for where, key in _PLACED.findall(source)}
        fields = dict(model_fields(getattr(models, f"{action}Request"), pending))
        if set(placed) != set(fields):
            raise ValueError(f"{action}: request fields {sorted(fields)} but placed {sorted(placed)}")
        requests[action] = tuple(
            (key, fields[key], key in shrink, where == "body") for key, where in placed.items()
        )
    while pending:
        model = pending.pop()
        if model.__name__ not in nested:
            nested[model.__name__] = tuple(model_fields(model, pending))
    return requests, dict(sorted(nested.items()))


def _table(table: dict[str, Any]) -> Iterator[str]:
    """``table`` as a JSON object, one row a line, so a change to the SDK reads as a short diff."""
    for index, (name, rows) in enumerate(table.items()):
        yield f"    {json.dumps(name)}: ["
        yield ",\n".join(f"      {json.dumps(row)}" for row in rows)
        yield "    ]" + ("," if index < len(table) - 1 else "")


def render() -> str:
    """``request_models.json``: ``{"requests": ..., "models": ...}`` (tuples written as lists)."""
    requests, models = derive()
    lines = ["{", '  "requests": {', *_table(requests), "  },", '  "models": {', *_table(models), "  }", "}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
