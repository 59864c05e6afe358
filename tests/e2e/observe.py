"""What the deployment did, read from where Airflow keeps it: the metadata DB, the log folder, XCom.

Deferral is observed, not assumed: a task instance counts as deferred once the metadata DB shows it
``deferred`` with its trigger assigned to a triggerer job, and the triggerer has logged that it
started the trigger (in ``<task log>.trigger.<triggerer job id>.log``, where it also logs the event
the trigger fires). Only then is its IMM task, held Running by the emulator, allowed to end, so the
trigger must wake it.
"""

from __future__ import annotations

import ast
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.e2e.deployment import AirflowDeployment
from tests.e2e.emulator_admin import EmulatorAdmin
from tests.e2e.rest import FINAL_RUN_STATES

#: (dag_id, task_id, map_index)
TiKey = tuple[str, str, int]

_ASSIGNMENTS = """
SELECT ti.task_id, ti.map_index, ti.state, tr.triggerer_id
FROM task_instance ti LEFT JOIN trigger tr ON ti.trigger_id = tr.id
WHERE ti.dag_id = :dag_id AND ti.run_id = :run_id
"""


@dataclass(frozen=True)
class Deferral:
    """A task instance seen deferred, the triggerer job its trigger was on, and its IMM task."""

    key: TiKey
    run_id: str
    triggerer_job: int
    imm_task_id: str


def deferred_instances(airflow: AirflowDeployment, dag_id: str, run_id: str) -> dict[TiKey, int]:
    """Task instances of a run that are deferred with their trigger assigned: key -> triggerer job."""
    return {
        (dag_id, task_id, map_index): int(triggerer)
        for task_id, map_index, state, triggerer in airflow.query(_ASSIGNMENTS, dag_id=dag_id, run_id=run_id)
        if state == "deferred" and triggerer is not None
    }


def run_states(airflow: AirflowDeployment, runs: Mapping[str, str]) -> dict[str, str]:
    return {dag_id: airflow.rest.run_state(dag_id, run_id) for dag_id, run_id in runs.items()}


def imm_task_of(airflow: AirflowDeployment, run_id: str, key: TiKey) -> str:
    """The IMM TaskId a task instance submitted or waits for (its ``imm_task`` XCom)."""
    dag_id, task_id, map_index = key
    return str(airflow.rest.xcom(dag_id, run_id, task_id, key="imm_task", map_index=map_index)["task_id"])


def release_when_deferred(
    airflow: AirflowDeployment,
    admin: EmulatorAdmin,
    runs: Mapping[str, str],
    imm_tasks: Mapping[str, Iterable[str]],
    *,
    settle: float,
    timeout: float,
) -> dict[TiKey, Deferral]:
    """Until every run is final: end each held IMM task ``settle`` s after the triggerer started the
    trigger of its deferred task instance (by then the trigger has asked GetTask once and waits on
    the queue, and the scheduler has heard of the worker's exit after the deferral).

    ``imm_tasks``: per DAG, the tasks that run IMM tasks. Returns what was seen and released.
    """
    wanted = {dag_id: set(tasks) for dag_id, tasks in imm_tasks.items()}
    first_seen: dict[TiKey, float] = {}
    released: dict[TiKey, Deferral] = {}
    deadline = time.monotonic() + timeout
    while True:
        airflow.check_alive()
        for dag_id, run_id in runs.items():
            for key, job in deferred_instances(airflow, dag_id, run_id).items():
                if (
                    key[1] not in wanted[dag_id]
                    or key in released
                    or not trigger_started(airflow, run_id, key, job)
                ):
                    continue
                seen = first_seen.setdefault(key, time.monotonic())
                if time.monotonic() - seen >= settle:
                    imm_task_id = imm_task_of(airflow, run_id, key)
                    admin.finish(imm_task_id)
                    released[key] = Deferral(key, run_id, job, imm_task_id)
        if set(run_states(airflow, runs).values()) <= FINAL_RUN_STATES:
            return released
        if time.monotonic() > deadline:
            raise TimeoutError(f"runs not final after {timeout:.0f} s: {run_states(airflow, runs)}")
        time.sleep(0.5)


def wait_for_new_triggerer(airflow: AirflowDeployment, known: set[int], timeout: float = 120) -> int:
    """Until a triggerer job not in ``known`` heartbeats; its id."""
    deadline = time.monotonic() + timeout
    while True:
        airflow.check_alive()
        new = {job["id"] for job in airflow.triggerer_jobs(alive=True)} - known
        if new:
            (job,) = new
            return int(job)
        if time.monotonic() > deadline:
            raise TimeoutError(f"no new triggerer after {timeout:.0f} s")
        time.sleep(0.5)


def wait_until_waiting(
    airflow: AirflowDeployment, dag_id: str, run_id: str, task_id: str, count: int, timeout: float
) -> dict[TiKey, int]:
    """Until ``count`` instances of ``task_id`` are deferred with their trigger started; key ->
    triggerer job."""
    deadline = time.monotonic() + timeout
    while True:
        airflow.check_alive()
        deferred = {
            key: job
            for key, job in deferred_instances(airflow, dag_id, run_id).items()
            if key[1] == task_id and trigger_started(airflow, run_id, key, job)
        }
        if len(deferred) == count:
            return deferred
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(deferred)} of {count} tasks waiting after {timeout:.0f} s")
        time.sleep(1.0)


def wait_for_runs(airflow: AirflowDeployment, runs: Mapping[str, str], timeout: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        airflow.check_alive()
        states = run_states(airflow, runs)
        if set(states.values()) <= FINAL_RUN_STATES:
            return states
        if time.monotonic() > deadline:
            raise TimeoutError(f"runs not final after {timeout:.0f} s: {states}")
        time.sleep(1.0)


def task_log_dir(airflow: AirflowDeployment, run_id: str, key: TiKey) -> Path:
    dag_id, task_id, map_index = key
    path = airflow.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
    return path / f"map_index={map_index}" if map_index >= 0 else path


@dataclass(frozen=True)
class FiredEvent:
    """One ``Trigger fired event`` line of a trigger log: when, and the event's payload."""

    at: datetime
    payload: dict[str, Any]


def fired_events(
    airflow: AirflowDeployment, run_id: str, key: TiKey, attempt: int = 1
) -> dict[int, list[FiredEvent]]:
    """Per triggerer job: the events the trigger of this task instance fired there.

    Read from the trigger's log files and from each triggerer's own log: a triggerer writes a line
    of a trigger there instead when the trigger's end reached its supervisor before the line did
    (Airflow reads the two on separate sockets and closes the trigger's file at its end).
    """
    found: dict[int, list[FiredEvent]] = {}
    for path in task_log_dir(airflow, run_id, key).glob(f"attempt={attempt}.log.trigger.*.log"):
        job = int(path.name.rsplit(".", 2)[-2])
        found.setdefault(job, []).extend(_fired_in(path.read_text(errors="replace")))
    dag_id, task_id, map_index = key
    this = {"dag_id": dag_id, "run_id": run_id, "task_id": task_id, "map_index": map_index}
    for job, triggerer in airflow.triggerer_services().items():
        events = _fired_in(triggerer.log_text(), {**this, "try_number": attempt})
        if events:
            found.setdefault(job, []).extend(events)
    return found


def _fired_in(log: str, fields: Mapping[str, object] | None = None) -> list[FiredEvent]:
    """The ``Trigger fired event`` records of a JSON log, those carrying ``fields`` if given."""
    events = []
    for line in log.splitlines():
        if "Trigger fired event" not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("event") != "Trigger fired event":
            continue
        if fields and any(str(record.get(name)) != str(value) for name, value in fields.items()):
            continue
        events.append(FiredEvent(_timestamp(record["timestamp"]), _event_payload(record["result"])))
    return events


def _event_payload(text: str) -> dict[str, Any]:
    """The triggerer logs the event as ``TriggerEvent<{...}>``, the payload's Python repr."""
    inner = text.removeprefix("TriggerEvent<").removesuffix(">")
    payload = ast.literal_eval(inner)
    if not isinstance(payload, dict):
        raise ValueError(f"not an event payload: {text[:200]}")
    return payload


def _timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def trigger_started(airflow: AirflowDeployment, run_id: str, key: TiKey, job: int, attempt: int = 1) -> bool:
    """Whether triggerer ``job`` has started this task instance's trigger (it logs ``... starting``)."""
    path = task_log_dir(airflow, run_id, key) / f"attempt={attempt}.log.trigger.{job}.log"
    return path.exists() and ') starting"' in path.read_text(errors="replace")


def resumed_at(airflow: AirflowDeployment, run_id: str, key: TiKey, attempt: int = 1) -> datetime | None:
    """When the task instance started again after its deferral (from its log), or None."""
    deferred = False
    for line in task_log(airflow, run_id, key, attempt).splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        event = str(record.get("event", ""))
        if event.startswith("Pausing task as DEFERRED"):
            deferred = True
        elif deferred and event == "::group::Pre Execute":
            return _timestamp(record["timestamp"])
    return None


def task_log(airflow: AirflowDeployment, run_id: str, key: TiKey, attempt: int = 1) -> str:
    path = task_log_dir(airflow, run_id, key) / f"attempt={attempt}.log"
    return path.read_text(errors="replace") if path.exists() else ""
