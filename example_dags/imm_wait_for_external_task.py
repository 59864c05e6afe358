"""Wait for an IMM task that was created outside Airflow, then carry on with its result.

An application submits IMM tasks itself (with ``Notification.MNS.TopicName`` set to the topic of
the ``imm_default`` connection) and triggers this DAG with the TaskId in the run's conf:

    POST /api/v2/dags/imm_wait_for_external_task/dagRuns
    {"logical_date": null, "conf": {"imm_task_id": "MediaConvert-...", "imm_task_type": "MediaConvert"}}

The sensor waits deferred, on the same notification path as the operators; GetTask reconciles,
so a task that already ended, or a notification that got lost, still completes the wait.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_provider_imm.sensors.imm import ImmTaskSensor

with DAG(
    dag_id="imm_wait_for_external_task",
    description="Wait, deferred, for an IMM task submitted by another system",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=20)},
    params={
        "imm_task_id": Param(type="string", minLength=1, description="TaskId IMM returned"),
        "imm_task_type": Param("MediaConvert", type="string", description="its TaskType or action"),
    },
    tags=["imm", "example"],
) as dag:
    wait = ImmTaskSensor(
        task_id="wait_for_imm_task",
        imm_task_id="{{ params.imm_task_id }}",
        imm_task_type="{{ params.imm_task_type }}",
        timeout=timedelta(hours=6).total_seconds(),
        poke_interval=60,
    )

    @task
    def record(outcome: Any) -> dict[str, Any]:
        """What the sensor learned: when IMM started and ended, and how Airflow heard of it."""
        return {key: outcome[key] for key in ("task_id", "status", "start_time", "end_time", "learned_from")}

    record(wait.output)
