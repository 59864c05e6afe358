"""ImmTaskCompletedTrigger against the emulator, run as the triggerer runs it (``async for``)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import datetime, timedelta, timezone

import pytest
from airflow._shared.module_loading import import_string
from airflow.models.trigger import Trigger
from airflow.sdk import Connection
from airflow.serialization.decoders import smart_decode_trigger_kwargs

from airflow_provider_imm.emulator import DEFAULT_PROJECT
from airflow_provider_imm.hooks.connection import DEFAULT_MAX_ATTEMPTS, parse_connection
from airflow_provider_imm.hooks.imm import ImmHook
from airflow_provider_imm.triggers.imm import (
    GET_TASK_RETRY_SECONDS,
    ImmTaskCompletedTrigger,
    _Shared,
    parse_deadline,
)
from airflow_provider_imm.triggers.mns_listener import ListenerRegistry
from tests.emulated_imm import Imm, run_trigger
from tests.triggers.conftest import eventually, start_triggers


async def test_the_notification_ends_the_wait(imm: Imm, registry: ListenerRegistry) -> None:
    task_id = await imm.create_task(duration=None)
    created = time.monotonic()
    (running,) = await start_triggers(imm, registry, imm.trigger(task_id))
    await asyncio.sleep(max(0.0, created + 0.3 - time.monotonic()))  # the task runs 0.3 s
    imm.finish(task_id)
    finished = time.monotonic()

    event = await running

    assert time.monotonic() - finished < 2.0
    assert event["status"] == "succeeded"
    assert event["imm_status"] == "Succeeded"
    assert event["source"] == "notification"
    assert (event["task_id"], event["task_type"], event["project"]) == (
        task_id,
        "OfficeConversion",
        DEFAULT_PROJECT,
    )
    start, end = datetime.fromisoformat(event["start_time"]), datetime.fromisoformat(event["end_time"])
    assert timedelta(seconds=0.25) <= end - start < timedelta(seconds=2)
    assert imm.get_task_calls() == 1  # the first check only
    await eventually(lambda: imm.queue_messages() == 0)  # handed over, then deleted


async def test_a_failed_task_reports_imm_code_and_message(imm: Imm, registry: ListenerRegistry) -> None:
    task_id = await imm.create_task(duration=None)
    (running,) = await start_triggers(imm, registry, imm.trigger(task_id))
    imm.finish(task_id, status="Failed")

    event = await running

    assert (event["status"], event["imm_status"], event["source"]) == ("failed", "Failed", "notification")
    assert event["code"] == "InvalidDocument"
    assert event["message"] == "The document is damaged."


async def test_a_task_that_ended_before_the_trigger_started(imm: Imm, registry: ListenerRegistry) -> None:
    imm.emulator.faults.drop_notifications(1)
    task_id = await imm.create_task(duration=0.0)
    await eventually(lambda: _status(imm, task_id) == "Succeeded")
    imm.emulator.counters.reset()
    started = time.monotonic()

    event = await run_trigger(imm.trigger(task_id))

    assert (event["status"], event["source"]) == ("succeeded", "get_task")
    # The check at the start settled it: one GetTask, long before the first reconciliation (60 s).
    assert imm.get_task_calls() == 1
    assert time.monotonic() - started < 10.0


async def test_a_notification_queued_before_the_trigger_started_is_consumed(
    imm: Imm, registry: ListenerRegistry
) -> None:
    task_id = await imm.create_task(duration=0.0)
    await eventually(lambda: imm.queue_messages() == 1)

    event = await run_trigger(imm.trigger(task_id))

    assert event["status"] == "succeeded"
    # Whichever came first, GetTask or the notification, the message does not linger until the grace.
    await eventually(lambda: imm.queue_messages() == 0, timeout=1.5)
    assert registry.listeners[0].stats.dropped == 0


async def test_a_lost_notification_is_made_up_for_by_reconciliation(
    imm: Imm, registry: ListenerRegistry
) -> None:
    imm.emulator.faults.drop_notifications(1)
    task_id = await imm.create_task(duration=None)
    (running,) = await start_triggers(imm, registry, imm.trigger(task_id, reconcile_interval=1.0))
    imm.finish(task_id)
    finished = time.monotonic()

    event = await running

    assert (event["status"], event["source"]) == ("succeeded", "list_tasks")
    assert time.monotonic() - finished < 3.0
    # The first check, then the shared reconciler's round: a listing, not one GetTask per wait.
    assert imm.get_task_calls() == 1
    assert imm.emulator.counters.get("imm", "ListTasks") >= 1


async def test_a_notification_arriving_during_the_first_get_task_is_not_lost(
    imm: Imm, registry: ListenerRegistry
) -> None:
    task_id = await imm.create_task(duration=None)
    imm.emulator.faults.imm_latency = 2.0  # the first GetTask answers long after the task ended
    (running,) = await start_triggers(imm, registry, imm.trigger(task_id))
    imm.finish(task_id)  # while IMM holds the first GetTask
    finished = time.monotonic()

    event = await running

    assert (event["status"], event["source"]) == ("succeeded", "notification")
    assert time.monotonic() - finished < 1.5


async def test_throttled_get_task_backs_off_and_the_notification_still_ends_the_wait(
    imm: Imm, registry: ListenerRegistry
) -> None:
    task_id = await imm.create_task(duration=None)
    imm.emulator.faults.throttle_imm(100)
    trigger = imm.trigger(task_id, reconcile_interval=0.5)
    (running,) = await start_triggers(imm, registry, trigger, get_task_calls=2)
    imm.finish(task_id)  # while the hook retries the first GetTask

    event = await running

    assert (event["status"], event["source"]) == ("succeeded", "notification")
    # The hook tried a few times, then the trigger waited instead of hammering a throttled service.
    assert imm.get_task_calls() <= 4


async def test_without_a_queue_it_polls_get_task(imm: Imm, registry: ListenerRegistry) -> None:
    task_id = await imm.create_task(duration=0.4)

    event = await run_trigger(imm.trigger(task_id, mns_queue=None, poll_interval=0.3))

    assert (event["status"], event["source"]) == ("succeeded", "get_task")
    assert imm.emulator.counters.total("mns") == 0
    assert registry.listeners == []


async def test_the_deadline_ends_the_wait(imm: Imm, registry: ListenerRegistry) -> None:
    task_id = await imm.create_task(duration=None)
    started = time.monotonic()

    event = await run_trigger(imm.trigger(task_id, deadline=time.time() + 0.5))

    assert (event["status"], event["source"], event["code"]) == ("timeout", "deadline", "DeadlineExceeded")
    assert event["imm_status"] is None and event["end_time"] is None
    assert 0.5 <= time.monotonic() - started < 2.0
    assert registry.listeners[0].waiting == 0
    imm.finish(task_id)


async def test_a_deadline_already_passed_still_reports_a_task_that_ended(
    imm: Imm, registry: ListenerRegistry
) -> None:
    imm.emulator.faults.drop_notifications(1)
    task_id = await imm.create_task(duration=0.0)
    await eventually(lambda: _status(imm, task_id) == "Succeeded")
    past = (datetime.now(timezone.utc) - timedelta(minutes=1)).isoformat()

    event = await run_trigger(imm.trigger(task_id, deadline=past))

    assert (event["status"], event["source"]) == ("succeeded", "get_task")


async def test_a_trigger_recreated_after_a_restart_completes(imm: Imm, registry: ListenerRegistry) -> None:
    task_id = await imm.create_task(duration=None)
    first = imm.trigger(task_id)
    running = asyncio.ensure_future(run_trigger(first))
    await eventually(lambda: bool(registry.listeners) and registry.listeners[0].waiting == 1)

    # The triggerer stops: its triggers are cancelled and cleaned up, the IMM task runs on.
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    await first.cleanup()
    assert registry.listeners[0].waiting == 0
    imm.finish(task_id)  # ends while no triggerer runs; its notification waits in the queue

    # Another triggerer re-creates the trigger from what the database holds.
    second = _recreate(first)
    event = await run_trigger(second)

    assert event["status"] == "succeeded"
    assert event["task_id"] == task_id
    await eventually(lambda: imm.queue_messages() == 0, timeout=1.5)


async def test_a_notification_is_trusted_only_for_its_own_project_and_type(
    imm: Imm, registry: ListenerRegistry, capfd: pytest.CaptureFixture[str]
) -> None:
    task_id = await imm.create_task(duration=None)
    (running,) = await start_triggers(imm, registry, imm.trigger(task_id, reconcile_interval=1.0))
    forged = {"TaskId": task_id, "TaskType": "OfficeConversion", "ProjectName": "another-project"}
    imm.publish(json.dumps({**forged, "Status": "Failed", "Code": "Forged", "Message": "not ours"}))
    await eventually(lambda: registry.listeners[0].stats.delivered == 1)
    imm.emulator.faults.drop_notifications(1)
    imm.finish(task_id)

    event = await running

    assert (event["status"], event["source"]) == ("succeeded", "list_tasks")
    # Triggers log through Airflow's structlog setup, to the task's log; here, to the terminal.
    assert "ignored a notification naming project 'another-project'" in "".join(capfd.readouterr())


async def test_a_legacy_notification_is_matched_by_task_id(imm: Imm, registry: ListenerRegistry) -> None:
    task_id = await imm.create_task(duration=None)
    (running,) = await start_triggers(imm, registry, imm.trigger(task_id))
    legacy = {
        "eventName": "FormatConvertJob:JobFinished",
        "eventSource": "acs:imm",
        "imm": {"code": "NoError", "taskId": task_id},
    }
    imm.publish(json.dumps({"events": [legacy]}))

    result = await running

    assert (result["status"], result["source"]) == ("succeeded", "notification")
    imm.finish(task_id)


async def test_two_triggers_waiting_for_one_task_both_hear_of_it(
    imm: Imm, registry: ListenerRegistry
) -> None:
    task_id = await imm.create_task(duration=None)
    running = await start_triggers(imm, registry, imm.trigger(task_id), imm.trigger(task_id))
    imm.finish(task_id)

    events = await asyncio.gather(*running)

    assert [(e["status"], e["source"]) for e in events] == [("succeeded", "notification")] * 2
    assert registry.listeners[0].stats.delivered == 1


def test_kwargs_round_trip_through_airflow_serialisation_and_hold_no_secret() -> None:
    trigger = ImmTaskCompletedTrigger(
        task_id="MediaConvert-1234",
        task_type="MediaConvert",
        project="p",
        imm_conn_id="imm_prod",
        mns_queue="imm-q",
        deadline="2030-01-02T03:04:05Z",
        reconcile_interval=120,
        poll_interval=15,
    )
    classpath, kwargs = trigger.serialize()

    assert classpath == "airflow_provider_imm.triggers.imm.ImmTaskCompletedTrigger"
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert kwargs["deadline"] == datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc).timestamp()
    assert set(kwargs) == {
        "task_id",
        "task_type",
        "project",
        "imm_conn_id",
        "mns_queue",
        "deadline",
        "reconcile_interval",
        "poll_interval",
    }
    assert _recreate(trigger).serialize() == (classpath, kwargs)


async def test_an_unknown_task_is_an_error_event(imm: Imm, registry: ListenerRegistry) -> None:
    event = await run_trigger(imm.trigger("OfficeConversion-00000000-0000-0000-0000-000000000000"))

    assert (event["status"], event["source"], event["code"]) == ("error", "get_task", "ResourceNotFound")
    assert registry.listeners[0].waiting == 0


async def test_a_missing_connection_is_an_error_event(imm: Imm, registry: ListenerRegistry) -> None:
    task_id = await imm.create_task(duration=0.1)

    event = await run_trigger(imm.trigger(task_id, imm_conn_id="imm_does_not_exist"))

    assert (event["status"], event["source"]) == ("error", "connection")
    assert "imm_does_not_exist" in event["message"]


async def test_secrets_appear_neither_in_logs_nor_in_events(
    imm: Imm, registry: ListenerRegistry, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    task_id = await imm.create_task(duration=None)
    imm.emulator.faults.fail_mns(3)
    # Every attempt the connection's retry settings allow: the trigger logs its failure.
    imm.emulator.faults.throttle_imm(DEFAULT_MAX_ATTEMPTS)
    captured: list[str] = []

    def logged(text: str) -> bool:
        captured.extend(capfd.readouterr())
        return text in "".join(captured) + caplog.text

    (running,) = await start_triggers(imm, registry, imm.trigger(task_id))
    await eventually(lambda: logged("GetTask failed (Throttling.User)"), timeout=GET_TASK_RETRY_SECONDS)
    imm.finish(task_id)  # ends after the first GetTask gave up
    event = await running
    failed = await run_trigger(imm.trigger("OfficeConversion-nope"))

    secret = imm.emulator.access_key_secret
    assert event["status"] == "succeeded" and failed["status"] == "error"
    assert registry.listeners[0].stats.errors >= 1
    output = "".join(captured) + "".join(capfd.readouterr())
    assert "GetTask failed (Throttling.User)" in output + caplog.text  # the reconciler's log
    assert secret not in caplog.text and secret not in output
    assert secret not in json.dumps([event, failed])
    assert secret not in repr(registry.listeners[0].key)


def test_deadlines_in_every_accepted_form() -> None:
    when = datetime(2031, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
    assert parse_deadline(None) is None
    assert parse_deadline(when.timestamp()) == when.timestamp()
    assert parse_deadline(str(when.timestamp())) == when.timestamp()
    assert parse_deadline("2031-05-06T07:08:09Z") == when.timestamp()
    assert parse_deadline("2031-05-06T15:08:09+08:00") == when.timestamp()
    assert parse_deadline(when) == when.timestamp()
    with pytest.raises(ValueError, match="neither epoch seconds nor an ISO-8601 time"):
        parse_deadline("next tuesday")


def _recreate(trigger: ImmTaskCompletedTrigger) -> ImmTaskCompletedTrigger:
    """What the triggerer does with a trigger row: decrypt, decode, import, instantiate."""
    classpath, kwargs = trigger.serialize()
    stored = Trigger.encrypt_kwargs(kwargs)
    decoded = {k: smart_decode_trigger_kwargs(v) for k, v in Trigger._decrypt_kwargs(stored).items()}
    cls = import_string(classpath)
    return cls(**decoded)  # type: ignore[no-any-return]


def _status(imm: Imm, task_id: str) -> str:
    from alibabacloud_imm20200930 import models

    request = models.GetTaskRequest(
        project_name=DEFAULT_PROJECT, task_type="OfficeConversion", task_id=task_id
    )
    return str(imm.client.get_task(request).body.status)


def _listener_key(secret: str = "s3cr3t-AccessKey-Secret", **extras: str) -> object:
    extra = {"region": "cn-hangzhou", "mns_endpoint": "http://127.0.0.1:1", **extras}
    conn = Connection(
        conn_id="imm_x", conn_type="imm", login="LTAIkey", password=secret, extra=json.dumps(extra)
    )
    settings = parse_connection(conn)
    return _Shared(ImmHook("imm_x"), settings).listener_key("q")[0]


def test_triggers_share_a_listener_exactly_when_their_connections_sign_alike() -> None:
    """The listener key is the connection's one credential identity: every credential setting counts
    (a role's session name, its STS endpoint...), the region or project do not, no secret shows."""
    base = _listener_key(role_arn="acs:ram::1:role/r")
    assert _listener_key(role_arn="acs:ram::1:role/r", project="elsewhere") == base
    assert _listener_key(role_arn="acs:ram::1:role/r", role_session_name="other") != base
    assert _listener_key(role_arn="acs:ram::1:role/r", sts_endpoint="sts.example.com") != base
    assert _listener_key("another-secret", role_arn="acs:ram::1:role/r") != base
    assert "s3cr3t" not in repr(base)
