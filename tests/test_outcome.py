"""One record of how an IMM task's wait ended, from the trigger's event to the XCom.

Whichever path learned the end (the notification, GetTask in the trigger, GetTask on the worker),
the XCom reads the same, times in UTC; and an event stored by the previous version (a task deferred
across an upgrade) resumes into the same XCom.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_imm.exceptions import ImmTaskError, ImmTaskFailedError, ImmTaskTimeoutError
from airflow_provider_imm.outcome import MAX_TEXT, ImmTaskOutcome
from airflow_provider_imm.triggers.imm import ImmTaskCompletedTrigger
from airflow_provider_imm.utils.notification_parsing import ImmNotification, NotificationStatus

TASK = {"task_id": "OfficeConversion-1", "task_type": "OfficeConversion", "project": "p"}
#: GetTask's answer, the start given in Beijing time (IMM sends UTC; either is ISO-8601).
INFO = {
    "TaskId": "OfficeConversion-1",
    "TaskType": "OfficeConversion",
    "ProjectName": "p",
    "Status": "Succeeded",
    "StartTime": "2026-11-29T18:00:00.5+08:00",
    "EndTime": "2026-11-29T10:00:03Z",
}
XCOM = {
    **TASK,
    "status": "Succeeded",
    "code": "",
    "message": "",
    "start_time": "2026-11-29T10:00:00.500000+00:00",
    "end_time": "2026-11-29T10:00:03+00:00",
    "learned_from": "get_task",
}


def trigger() -> ImmTaskCompletedTrigger:
    return ImmTaskCompletedTrigger(**TASK)


def timed_out(task_id: str, task_type: str, project: str | None) -> ImmTaskTimeoutError:
    return ImmTaskTimeoutError("late", task_id=task_id, task_type=task_type, project=project)


def test_the_same_end_reads_the_same_whichever_path_learned_it() -> None:
    on_worker = ImmTaskOutcome.from_task_info(INFO, **TASK)
    event = trigger()._finished_event(INFO, "get_task")
    # The trigger's event carries the times it will be read with: one normaliser for every path.
    assert (event["start_time"], event["end_time"]) == (XCOM["start_time"], XCOM["end_time"])
    in_trigger = ImmTaskOutcome.from_event(event)
    assert on_worker == in_trigger
    assert on_worker.to_xcom() == in_trigger.to_xcom() == XCOM
    beijing = timezone(timedelta(hours=8))
    notification = ImmNotification(
        task_id=TASK["task_id"],
        task_type=TASK["task_type"],
        project="p",
        status=NotificationStatus("Succeeded"),
        start_time=datetime(2026, 11, 29, 18, 0, 0, 500000, tzinfo=beijing),
        end_time=datetime(2026, 11, 29, 10, 0, 3, tzinfo=timezone.utc),
    )
    notified = ImmTaskOutcome.from_event(trigger()._notification_event(notification)).to_xcom()
    assert notified == {**XCOM, "learned_from": "notification"}


#: Events exactly as the previous version's trigger emitted and Airflow stored them.
STORED_BEFORE_THE_UPGRADE: dict[str, dict[str, Any]] = {
    "succeeded": {
        "status": "succeeded", "imm_status": "Succeeded", "code": "", "message": "", **TASK,
        "start_time": "2026-11-29T18:00:00.500000+08:00", "end_time": "2026-11-29T10:00:03+00:00",
        "source": "get_task",
    },
    "failed": {
        "status": "failed", "imm_status": "Failed", "code": "ResourceNotFound", "message": "no such object",
        **TASK, "start_time": "2026-11-29T10:00:00.5+00:00", "end_time": None, "source": "notification",
    },
    "timeout": {
        "status": "timeout", "imm_status": None, "code": "DeadlineExceeded", "message": "late", **TASK,
        "start_time": None, "end_time": None, "source": "deadline",
    },
    "error": {
        "status": "error", "imm_status": None, "code": "ResourceNotFound", "message": "gone", **TASK,
        "start_time": None, "end_time": None, "source": "get_task",
    },
}  # fmt: skip


def test_an_event_stored_by_the_previous_version_resumes() -> None:
    succeeded = ImmTaskOutcome.from_event(STORED_BEFORE_THE_UPGRADE["succeeded"])
    assert succeeded.raise_unless_succeeded(timed_out=timed_out).to_xcom() == XCOM
    with pytest.raises(ImmTaskFailedError) as failed:
        ImmTaskOutcome.from_event(STORED_BEFORE_THE_UPGRADE["failed"]).raise_unless_succeeded(
            timed_out=timed_out
        )
    assert (failed.value.code, failed.value.imm_message) == ("ResourceNotFound", "no such object")
    with pytest.raises(ImmTaskTimeoutError, match="late"):
        ImmTaskOutcome.from_event(STORED_BEFORE_THE_UPGRADE["timeout"]).raise_unless_succeeded(
            timed_out=timed_out
        )
    with pytest.raises(ImmTaskError, match="ResourceNotFound: gone") as error:
        ImmTaskOutcome.from_event(STORED_BEFORE_THE_UPGRADE["error"]).raise_unless_succeeded(
            timed_out=timed_out
        )
    assert type(error.value) is ImmTaskError


def test_events_of_this_version_are_read_back_unchanged() -> None:
    for event in STORED_BEFORE_THE_UPGRADE.values():
        outcome = ImmTaskOutcome.from_event(event)
        assert ImmTaskOutcome.from_event(outcome.to_event()) == outcome
        assert set(outcome.to_event()) == set(event)


@settings(max_examples=200, deadline=None)
@given(
    moment=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc)
    ),
    offset_minutes=st.integers(min_value=-23 * 60, max_value=23 * 60),
)
def test_one_instant_is_one_time_whatever_its_offset(moment: datetime, offset_minutes: int) -> None:
    local = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
    from_text = ImmTaskOutcome.from_task_info({**INFO, "StartTime": local.isoformat()}, **TASK)
    from_datetime = ImmTaskOutcome.from_task_info({**INFO, "StartTime": local}, **TASK)
    assert from_text.start_time == from_datetime.start_time == moment.isoformat()


def test_code_and_message_are_bounded_however_the_end_was_learnt() -> None:
    long = "m" * 60_000
    info = {"Status": "Failed", "Code": "c" * 5_000, "Message": long}
    from_get_task = ImmTaskOutcome.from_task_info(
        info, task_id="t", task_type="OfficeConversion", project="p"
    )
    from_event = ImmTaskOutcome.from_event({"status": "failed", "imm_status": "Failed", "message": long})
    for outcome in (from_get_task, from_event):
        assert outcome.message == long[:MAX_TEXT]
    assert from_get_task.code == "c" * MAX_TEXT
