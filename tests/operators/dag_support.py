"""Imported by the tests' DAG files: records what each task instance raised, for the tests to assert on.

``dag.test()`` runs tasks in the test's process, so the failure and retry callbacks below run here
too and the exceptions they see are the ones the operators raised.
"""

from __future__ import annotations

from typing import Any

#: ``task_id`` (or ``task_id[map_index]``) -> exceptions of its failed tries, oldest first.
ERRORS: dict[str, list[BaseException]] = {}


def record_error(context: Any) -> None:
    ti = context["ti"]
    map_index = getattr(ti, "map_index", -1)
    key = ti.task_id if map_index is None or map_index < 0 else f"{ti.task_id}[{map_index}]"
    error = context.get("exception")
    if isinstance(error, BaseException):
        ERRORS.setdefault(key, []).append(error)


#: ``default_args`` for the tests' DAGs.
DEFAULT_ARGS: dict[str, Any] = {"on_failure_callback": record_error, "on_retry_callback": record_error}
