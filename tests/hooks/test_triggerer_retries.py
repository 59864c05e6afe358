"""The triggerer's GetTask follows the connection's retry extras, within a shorter time budget."""

from __future__ import annotations

import asyncio
import time

import pytest

from airflow_provider_imm.emulator import ImmEmulator
from airflow_provider_imm.hooks.connection import RetrySettings
from airflow_provider_imm.hooks.retry import RetryPolicy
from airflow_provider_imm.triggers.imm import GET_TASK_RETRY_SECONDS, ImmTaskCompletedTrigger
from tests.emulated_imm import MakeConn, run_trigger

FAST_EXTRAS = {"retry_base_delay": 0.01, "retry_max_delay": 0.02}


def _polling_trigger(task_id: str, conn_id: str) -> ImmTaskCompletedTrigger:
    """Without a queue, and with checks a minute apart: only the first check can end a short test."""
    return ImmTaskCompletedTrigger(
        task_id=task_id, task_type="OfficeConversion", imm_conn_id=conn_id, poll_interval=60.0
    )


async def test_the_first_check_retries_as_often_as_the_connection_allows(
    emulator: ImmEmulator, emulator_conn: MakeConn, finished_task: str
) -> None:
    task_id = finished_task
    conn_id = emulator_conn(retry_max_attempts=6, **FAST_EXTRAS)
    emulator.counters.reset()
    emulator.faults.fail_imm(4)  # more failures in a row than three attempts would survive

    event = await run_trigger(_polling_trigger(task_id, conn_id), timeout=5.0)

    assert (event["status"], event["source"]) == ("succeeded", "get_task")
    assert emulator.counters.get("imm", "GetTask") == 5


async def test_a_connection_with_one_attempt_is_not_retried(
    emulator: ImmEmulator, emulator_conn: MakeConn, finished_task: str, capfd: pytest.CaptureFixture[str]
) -> None:
    task_id = finished_task
    conn_id = emulator_conn(retry_max_attempts=1, **FAST_EXTRAS)
    emulator.counters.reset()
    emulator.faults.fail_imm(1)

    running = asyncio.ensure_future(run_trigger(_polling_trigger(task_id, conn_id), timeout=5.0))
    try:
        await _logged(capfd, "GetTask failed (ServiceUnavailable)")
        assert emulator.counters.get("imm", "GetTask") == 1  # and the next check is a minute away
        assert not running.done()
    finally:
        running.cancel()


async def test_a_wait_longer_than_the_triggerer_budget_is_not_made(
    emulator: ImmEmulator, emulator_conn: MakeConn, finished_task: str, capfd: pytest.CaptureFixture[str]
) -> None:
    task_id = finished_task
    conn_id = emulator_conn(retry_max_seconds=600)  # a budget the triggerer does not grant
    emulator.faults.throttle_imm(1, retry_after=GET_TASK_RETRY_SECONDS + 5)

    running = asyncio.ensure_future(run_trigger(_polling_trigger(task_id, conn_id), timeout=5.0))
    try:
        # The hook gives the throttled call up at once instead of waiting 20 s to retry it.
        await _logged(capfd, "GetTask failed (Throttling.User)")
    finally:
        running.cancel()


def test_the_connection_budget_is_capped_never_raised() -> None:
    extras = RetrySettings(max_attempts=7, max_seconds=600, base_delay=0.25, max_delay=3)
    assert RetryPolicy.from_settings(extras, max_seconds=15) == RetryPolicy(7, 15, 0.25, 3)
    assert RetryPolicy.from_settings(RetrySettings(max_seconds=5), max_seconds=15).max_seconds == 5
    assert RetryPolicy.from_settings(extras) == RetryPolicy(7, 600, 0.25, 3)


async def _logged(capfd: pytest.CaptureFixture[str], text: str, timeout: float = 3.0) -> None:
    """Wait for ``text`` in the output (trigger logs go through Airflow's structlog to stdout)."""
    seen = ""
    deadline = time.monotonic() + timeout
    while text not in seen:
        assert time.monotonic() < deadline, f"{text!r} was not logged within {timeout} s"
        await asyncio.sleep(0.05)
        out, err = capfd.readouterr()
        seen += out + err
