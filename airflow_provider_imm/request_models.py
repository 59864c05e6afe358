"""The IMM SDK's request models as data: each field's type, and how each request is serialised.

The table is ``request_models.json`` beside this module, generated from the SDK by
``python -m tests.sdk_request_shapes``; ``tests/hooks/test_rpc_shapes.py`` checks it against the
installed SDK. Do not edit it by hand. Request validation and the lean RPC client read it instead of
importing the SDK's models (hundreds of modules); it is data, so it is kept as data and read once.

A spec is ``("model", name)``, ``("list", item spec)``, ``("dict",)``, ``("any",)``
or ``("value",)`` (a single value).
"""

from __future__ import annotations

import json
import os
from typing import Any

Spec = tuple[Any, ...]


def _frozen(value: Any) -> Any:
    """JSON's lists as the tuples the table is typed with (rows and specs are compared and hashed)."""
    return tuple(_frozen(item) for item in value) if isinstance(value, list) else value


def _load() -> dict[str, Any]:
    with open(os.path.join(os.path.dirname(__file__), "request_models.json"), encoding="utf-8") as file:
        table = json.load(file)
    return {
        part: {name: _frozen(rows) for name, rows in table[part].items()} for part in ("requests", "models")
    }


_TABLE = _load()

#: Per action, its request fields in the order the SDK places them:
#: ``(key, spec, json_encoded, in_body)``.
REQUESTS: dict[str, tuple[tuple[str, Spec, bool, bool], ...]] = _TABLE["requests"]

#: Per nested model, its fields in ``to_map`` order: ``(key, spec)``.
MODELS: dict[str, tuple[tuple[str, Spec], ...]] = _TABLE["models"]
