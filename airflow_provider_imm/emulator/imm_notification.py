"""The notification an IMM task publishes to its MNS topic when it ends, with injected faults.

The body is the 2020-09-30 envelope of reference/notifications.md section 1: ``id`` is the task's
EventId, ``time`` the end time in epoch milliseconds as a string, ``content`` the task's result
serialised into a string.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable

from airflow_provider_imm.emulator.faults import Faults
from airflow_provider_imm.emulator.imm_outputs import source_uris
from airflow_provider_imm.emulator.imm_tasks import TaskRecord, format_time

_COMPACT = (",", ":")


def build_notification_body(task: TaskRecord, *, region: str, account_id: str) -> str:
    """The JSON text IMM publishes for an ended ``task``."""
    if task.end_time is None:
        raise ValueError(f"task {task.task_id} has not ended")
    content = {
        "ProjectName": task.project,
        "DatasetName": str(task.request.get("DatasetName", "")),
        "RequestId": task.request_id,
        "StartTime": format_time(task.start_time),
        "EndTime": format_time(task.end_time),
        "UserData": task.user_data,
        "TaskType": task.task_type,
        "TaskId": task.task_id,
        "Status": task.status,
        "Code": task.code,
        "Message": task.message,
        "EventSourceId": "",
        "Sources": [{"URI": uri} for uri in source_uris(task.op, task.request)],
        "Targets": [{"URI": uri} for uri in task.outputs],
    }
    event_type = f"imm:Task:{task.task_type}"
    envelope = {
        "id": task.event_id,
        "source": "acs.imm",
        "type": event_type,
        "subject": f"acs:imm:{region}:{account_id}:{task.project}/{event_type}",
        "time": str(int(task.end_time * 1000)),
        "content": json.dumps(content, separators=_COMPACT),
    }
    return json.dumps(envelope, separators=_COMPACT)


class NotificationPublisher:
    """Publishes bodies through ``publish(topic, body)``, applying the next armed notification fault.

    drop: nothing is published; duplicate: published twice; delay: published ``seconds`` later;
    corrupt: the JSON is cut in half; base64: the base64 of the body is published.
    """

    def __init__(self, publish: Callable[[str, str], bool], faults: Faults) -> None:
        self._publish = publish
        self._faults = faults
        self._delayed: set[asyncio.TimerHandle] = set()

    def send(self, topic: str, body: str) -> None:
        """Must run on the server loop."""
        fault = self._faults.take_notification()
        if fault is None:
            self._publish(topic, body)
        elif fault.kind == "duplicate":
            self._publish(topic, body)
            self._publish(topic, body)
        elif fault.kind == "delay":
            handle: asyncio.TimerHandle

            def later() -> None:
                self._delayed.discard(handle)
                self._publish(topic, body)

            handle = asyncio.get_running_loop().call_later(fault.seconds, later)
            self._delayed.add(handle)
        elif fault.kind == "corrupt":
            self._publish(topic, body[: len(body) // 2])
        elif fault.kind == "base64":
            self._publish(topic, base64.b64encode(body.encode()).decode())
        # "drop": nothing reaches the topic

    def shutdown(self) -> None:
        for handle in self._delayed:
            handle.cancel()
        self._delayed.clear()
