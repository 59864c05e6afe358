"""Role credentials on the event loop, against the emulator's STS: fetching them never freezes the loop,
and the triggerer keeps them across its hook renewals instead of asking STS again."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from airflow_provider_imm.emulator import ImmEmulator
from airflow_provider_imm.hooks.imm import ImmHook
from airflow_provider_imm.triggers import imm as trigger_module
from airflow_provider_imm.triggers.imm import ImmTaskCompletedTrigger
from tests.emulated_imm import MakeConn, run_trigger

T = TypeVar("T")
CONCURRENT_CALLS = 6


def _role_conn(emulator: ImmEmulator, emulator_conn: MakeConn) -> str:
    return emulator_conn(
        role_arn=f"acs:ram::{emulator.account_id}:role/imm-runner",
        role_session_name="airflow",
        sts_endpoint=emulator.url,
    )


async def _worst_loop_lag(start: Callable[[], Awaitable[T]], tick: float = 0.01) -> tuple[T, float]:
    """What ``start()`` gives and the longest the loop was late waking a ticker while it ran.

    The ticker is already asleep when the work starts: a stall in the work's very first step counts.
    """
    worst = 0.0
    running = True
    ticked = asyncio.Event()

    async def ticker() -> None:
        nonlocal worst
        while running:
            before = time.monotonic()
            ticked.set()
            await asyncio.sleep(tick)
            worst = max(worst, time.monotonic() - before - tick)

    ticking = asyncio.ensure_future(ticker())
    await ticked.wait()
    try:
        result = await start()
    finally:
        running = False
        await ticking
    return result, worst


def _trigger(task_id: str, conn_id: str) -> ImmTaskCompletedTrigger:
    """A trigger polling GetTask (no queue): the task has ended, so its first check ends the wait."""
    return ImmTaskCompletedTrigger(task_id=task_id, task_type="OfficeConversion", imm_conn_id=conn_id)


async def test_concurrent_calls_on_a_cold_role_hook_keep_the_loop_running(
    emulator: ImmEmulator, emulator_conn: MakeConn, finished_task: str
) -> None:
    task_id = finished_task
    hook = ImmHook(_role_conn(emulator, emulator_conn))
    await hook.aget_settings()  # as the triggerer does: the connection first, credentials on the first call

    def calls() -> Awaitable[list[Any]]:
        concurrent = (hook.aget_task(None, "OfficeConversion", task_id) for _ in range(CONCURRENT_CALLS))
        return asyncio.gather(*concurrent, return_exceptions=True)

    results, lag = await _worst_loop_lag(calls)

    assert [r["TaskId"] if isinstance(r, dict) else repr(r) for r in results] == [task_id] * CONCURRENT_CALLS
    assert lag < 0.5, f"the event loop stalled {lag:.2f} s while role credentials were fetched"
    assert emulator.counters.get("sts", "AssumeRole") == 1  # one fetch, shared by every call


async def test_the_triggerer_keeps_role_credentials_across_hook_renewals(
    emulator: ImmEmulator, emulator_conn: MakeConn, finished_task: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trigger_module, "HOOK_TTL", 0.0)  # every trigger renews the shared hook
    task_id = finished_task
    conn_id = _role_conn(emulator, emulator_conn)

    emulator.counters.reset()

    events = [await run_trigger(_trigger(task_id, conn_id)) for _ in range(3)]

    assert [(e["status"], e["source"]) for e in events] == [("succeeded", "get_task")] * 3
    assert emulator.counters.get("imm", "GetTask") == 3
    assert emulator.counters.get("sts", "AssumeRole") == 1


async def test_a_changed_role_connection_gets_new_credentials(
    emulator: ImmEmulator, emulator_conn: MakeConn, finished_task: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    task_id = finished_task
    conn_id = _role_conn(emulator, emulator_conn)
    assert (await run_trigger(_trigger(task_id, conn_id)))["status"] == "succeeded"

    monkeypatch.setattr(trigger_module, "HOOK_TTL", 0.0)
    variable = f"AIRFLOW_CONN_{conn_id.upper()}"
    stored = json.loads(os.environ[variable])
    stored["extra"]["role_session_name"] = "airflow-renamed"
    monkeypatch.setenv(variable, json.dumps(stored))
    assert (await run_trigger(_trigger(task_id, conn_id)))["status"] == "succeeded"

    assert emulator.counters.get("sts", "AssumeRole") == 2
