"""React to IMM tasks another system submitted: a run for the notifications of its succeeded tasks.

Some other service submits IMM tasks (say, video transcoding from a web app) with Notification to
the same MNS topic. An asset watcher in the triggerer reads the watcher queue subscribed to that
topic and turns each notification of a *Succeeded* task of the chosen TaskType into an asset event
whose payload is the notification record (task id, type, project, status, code, message, times,
UserData, Tags, MNS message id). Each run handles exactly the tasks of its asset events, one mapped
task instance per IMM task; tasks this Airflow submitted itself (tagged ``airflow-ti`` by the
operators) are left out, so the DAG reacts to the other system only.

Set up once: ``imm-setup-notifications --watcher-queue imm-watch``. Which TaskType and queue are
read at parse time from ``IMM_WATCH_TASK_TYPE`` and ``IMM_WATCH_QUEUE``. Needs the ``messaging`` extra.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger
from airflow.sdk import DAG, Asset, AssetWatcher, task

TASK_TYPE = os.environ.get("IMM_WATCH_TASK_TYPE", "VideoTranscoding")
WATCH_QUEUE = os.environ.get("IMM_WATCH_QUEUE", "imm-watch")

succeeded = Asset(
    name="imm_external_tasks_succeeded",
    uri=f"imm://tasks/{TASK_TYPE}/succeeded",
    watchers=[
        AssetWatcher(
            name="imm_external_tasks_watcher",
            trigger=MessageQueueTrigger(
                scheme="alibaba+mns",
                mns_queue=WATCH_QUEUE,
                imm_conn_id="imm_default",
                source="imm",
                task_types=[TASK_TYPE],
                statuses=["Succeeded"],
            ),
        )
    ],
)

with DAG(
    dag_id="imm_react_to_external_tasks",
    description="Handle each succeeded IMM task another system submitted, as IMM reports it",
    schedule=[succeeded],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["imm", "example", "event-driven"],
) as dag:

    @task
    def succeeded_tasks(**context: Any) -> list[dict[str, Any]]:
        """The notification records of this run's asset events, one per IMM task, ours left out."""
        records: dict[str, dict[str, Any]] = {}
        for event in context["triggering_asset_events"][succeeded]:
            payload = (event.extra or {}).get("payload") or {}
            if payload.get("source") == "imm" and "airflow-ti" not in (payload.get("tags") or {}):
                records.setdefault(payload["task_id"], payload)
        return list(records.values())

    @task
    def handle(record: dict[str, Any]) -> dict[str, Any]:
        """Whatever the other system's finished task calls for; here: report what IMM said."""
        print(
            f"IMM task {record['task_id']} ({record['task_type']}, project {record['project']}) "
            f"succeeded at {record['end_time']}; UserData: {record['user_data']!r}"
        )
        return {"task_id": record["task_id"], "end_time": record["end_time"]}

    handle.expand(record=succeeded_tasks())
