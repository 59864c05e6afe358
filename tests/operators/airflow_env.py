"""A real Airflow for the tests: a metadata DB (sqlite) for the session, and DAG files run by ``dag.test()``.

``dag.test()`` runs each task instance through the Task SDK's task runner and the in-process
Execution API, with the metadata DB behind it (task states, tries, XCom, the task state store), and
runs a deferred task's trigger in-process before resuming it: what a scheduler, worker and triggerer
do, in one process, in about a second per task.

Airflow may already have been imported (and configured) by other tests of the session, so the DB
and DAGs folder are switched by setting the environment and reconfiguring Airflow's settings and
ORM; the previous environment comes back at the end of the session.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import os
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

#: The run's logical date in every test (not today): ``{{ ds }}`` renders to ``2024-03-09``.
LOGICAL_DATE = datetime(2024, 3, 9, 3, 0, tzinfo=timezone.utc)
DS = "2024-03-09"

_users = 0
_saved_env: dict[str, str | None] = {}
_home: Path | None = None
_ids = itertools.count()
#: A dag_id runs once per session: ``dag.test()`` of a second file with the same dag_id finds two
#: serialized DAGs and stalls.
_dag_ids: set[str] = set()


def acquire(root: Path) -> Path:
    """Point Airflow at a fresh metadata DB and DAGs folder under ``root`` (once per session)."""
    global _users, _home
    _users += 1
    if _home is not None:
        return _home
    home = root
    (home / "dags").mkdir(parents=True, exist_ok=True)
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),
        # Lineage is checked by calling the operator's method; no OpenLineage events are sent.
        "AIRFLOW__OPENLINEAGE__DISABLED": "True",
    }
    for name, value in env.items():
        _saved_env.setdefault(name, os.environ.get(name))
        os.environ[name] = value
    _reconfigure()
    from airflow.utils import db

    db.initdb()
    _home = home
    return home


def release() -> None:
    """Give back the environment once the last user is done."""
    global _users, _home
    _users -= 1
    if _users > 0 or _home is None:
        return
    for name, value in _saved_env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    _saved_env.clear()
    _home = None
    _reconfigure()


def _reconfigure() -> None:
    from airflow import settings

    settings.configure_vars()
    settings.reconfigure_orm()


@dataclass
class TaskRun:
    """One task instance after the DAG run: its state, tries, return value and the errors it raised."""

    state: str | None
    try_number: int
    xcom: Any
    errors: list[BaseException] = field(default_factory=list)
    #: Every XCom of the instance by key (``return_value``, ``imm_task``, ``_link_ImmConsoleLink``).
    xcoms: dict[str, Any] = field(default_factory=dict)
    #: The rendered template fields Airflow stored (and shows in the UI).
    rendered: dict[str, Any] = field(default_factory=dict)


@dataclass
class DagRunResult:
    state: str
    tasks: dict[str, TaskRun]

    def __getitem__(self, task: str) -> TaskRun:
        return self.tasks[task]


def run_dag_file(home: Path, source: str, logical_date: datetime = LOGICAL_DATE) -> DagRunResult:
    """Write ``source`` (a DAG file defining ``dag``) into the DAGs folder, run it with ``dag.test()``
    (at ``logical_date``: after the DAG's ``start_date``, or no task runs).

    Task keys are ``task_id``, or ``task_id[i]`` for mapped instances. The file is removed afterwards
    so later runs parse only their own file.
    """
    with _dag_file(home, source) as dag:
        run = dag.test(logical_date=logical_date)
        return _collect(dag.dag_id, run.run_id, str(run.state))


@contextlib.contextmanager
def _dag_file(home: Path, source: str) -> Iterator[Any]:
    """Write ``source`` into the DAGs folder, import it, and yield its ``dag`` (a new dag_id per
    session); the file is removed afterwards so later runs parse only their own file."""
    from tests.operators import dag_support

    name = f"imm_test_dag_{next(_ids)}"
    path = home / "dags" / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    dag_support.ERRORS.clear()
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        dag = module.dag
        if dag.dag_id in _dag_ids:
            raise ValueError(f"dag_id {dag.dag_id!r} already ran in this session: give each DAG file its own")
        _dag_ids.add(dag.dag_id)
        yield dag
    finally:
        path.unlink(missing_ok=True)
        sys.modules.pop(name, None)
        sys.modules.pop(name, None)


def _collect(dag_id: str, run_id: str, run_state: str) -> DagRunResult:
    from airflow.models.renderedtifields import RenderedTaskInstanceFields as Rendered
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from tests.operators import dag_support

    tasks: dict[str, TaskRun] = {}
    with create_session() as session:
        tis = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
        ).all()
        for ti in tis:
            key = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
            rows = session.scalars(
                select(XComModel).where(
                    XComModel.dag_id == dag_id,
                    XComModel.run_id == run_id,
                    XComModel.task_id == ti.task_id,
                    XComModel.map_index == ti.map_index,
                )
            ).all()
            xcoms = {row.key: XComModel.deserialize_value(row) for row in rows}
            rendered = session.scalars(
                select(Rendered.rendered_fields).where(
                    Rendered.dag_id == dag_id,
                    Rendered.run_id == run_id,
                    Rendered.task_id == ti.task_id,
                    Rendered.map_index == ti.map_index,
                )
            ).first()
            errors = list(dag_support.ERRORS.get(key, []))
            state = str(ti.state) if ti.state is not None else None
            tasks[key] = TaskRun(
                state, ti.try_number, xcoms.get("return_value"), errors, xcoms, dict(rendered or {})
            )
    return DagRunResult(run_state, tasks)


def dag_source(body: str, **values: object) -> str:
    """A DAG file: ``body`` with ``__NAME__`` placeholders replaced by ``repr(value)``."""
    text = textwrap.dedent(body)
    for name, value in values.items():
        text = text.replace(f"__{name.upper()}__", repr(value))
    return text


def iter_errors(result: DagRunResult) -> Iterator[tuple[str, BaseException]]:
    for key, task in result.tasks.items():
        for error in task.errors:
            yield key, error


def run_dag_file_then_clear(
    home: Path, source: str, *, clear: str, between: Callable[[], None] | None = None
) -> tuple[DagRunResult, DagRunResult]:
    """Run a DAG file with ``dag.test()``, then clear task ``clear`` as the UI's Clear does and run the
    same DAG run again until it ends: its state before and after the clear.

    Airflow's ``clear_task_instances`` raises the instance's ``max_tries`` to its last try number
    plus ``retries``, so the next try starts a new cycle, as in a deployment. ``dag.test()`` itself
    cannot resume a run (it replaces the run of the logical date), so the second run goes through the
    loop ``dag.test()`` uses: the scheduler's dependency check, then each ready task instance through
    the Task SDK's task runner with its trigger in-process. ``between`` runs before the clear.
    """
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance, clear_task_instances
    from airflow.sdk.definitions.dag import _run_task
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState
    from sqlalchemy import select

    with _dag_file(home, source) as dag:
        first_run = dag.test(logical_date=LOGICAL_DATE)
        run_id = first_run.run_id
        before = _collect(dag.dag_id, run_id, str(first_run.state))
        if between is not None:
            between()
        scheduler_dag = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
        with create_session() as session:
            tis = session.scalars(
                select(TaskInstance).where(
                    TaskInstance.dag_id == dag.dag_id,
                    TaskInstance.run_id == run_id,
                    TaskInstance.task_id == clear,
                )
            ).all()
            clear_task_instances(list(tis), session, dag_run_state=DagRunState.QUEUED)
        with create_session() as session:
            run = session.scalars(
                select(DagRun).where(DagRun.dag_id == dag.dag_id, DagRun.run_id == run_id)
            ).one()
            run.state = DagRunState.RUNNING
            run.dag = scheduler_dag
            session.commit()
            while run.state == DagRunState.RUNNING:
                session.expire_all()
                schedulable, _ = run.update_state(session=session)
                for ti in schedulable:
                    if ti.state != TaskInstanceState.UP_FOR_RESCHEDULE:
                        ti.try_number += 1
                    ti.state = TaskInstanceState.SCHEDULED
                session.commit()
                ready = [
                    ti
                    for ti in run.get_task_instances(session=session)
                    if ti.state == TaskInstanceState.SCHEDULED
                ]
                if not ready:
                    time.sleep(0.1)
                for ti in ready:
                    _run_task(ti=ti, task=dag.task_dict[ti.task_id], run_triggerer=True)
            state = str(run.state)
        return before, _collect(dag.dag_id, run_id, state)
