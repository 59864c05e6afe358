"""What the tests' own harness needs from an Airflow older than the newest tested one.

Only test plumbing lives here; the provider's behaviour on each version is what the tests check.
"""

from __future__ import annotations

from typing import Any

from packaging.version import Version


def airflow_release() -> tuple[int, ...]:
    from airflow import __version__

    return Version(__version__).release


def pass_the_exception_to_dag_test_callbacks() -> None:
    """``dag.test()`` before Airflow 3.3 ran failure callbacks without ``context["exception"]``.

    Its in-process supervisor calls the task runner's ``finalize`` straight after ``run``, where a
    deployment's task runner sets ``context["exception"] = error`` first (3.3 does both). The tests
    record what operators raised through that callback, so on 3.2 ``finalize`` gets the same line.
    """
    if airflow_release() >= (3, 3):
        return
    from airflow.sdk.execution_time import task_runner

    original = task_runner.finalize
    if getattr(original, "passes_exception", False):
        return

    def finalize(ti: Any, state: Any, context: Any, log: Any, error: BaseException | None = None) -> Any:
        context["exception"] = error
        return original(ti, state, context, log, error)

    finalize.passes_exception = True  # type: ignore[attr-defined]
    task_runner.finalize = finalize
