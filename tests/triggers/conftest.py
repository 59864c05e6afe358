"""Fast listener settings, a listener registry per test, and running triggers as a triggerer does.

The emulator, its channel and the connection are the suite's ``imm`` fixture (``tests/conftest.py``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from airflow_provider_imm.triggers.imm import ImmTaskCompletedTrigger
from airflow_provider_imm.triggers.mns_listener import ListenerRegistry, ListenerSettings
from airflow_provider_imm.triggers.reconciler import ReconcilerRegistry, ReconcileSettings
from tests.emulated_imm import Imm, run_trigger

#: Short waits so each test takes seconds; the rules are the production ones.
FAST = ListenerSettings(
    wait_seconds=1,
    receive_pause=0.05,
    delete_delay=0.2,
    orphan_grace=2.0,
    orphan_max_hidden=1,
    backoff_initial=0.1,
    backoff_cap=0.5,
)

#: The shared reconciler's first checks batch for a moment only.
FAST_RECONCILE = ReconcileSettings(first_check_delay=0.05)


@pytest.fixture
async def registry() -> AsyncIterator[ListenerRegistry]:
    """This test's event loop stands for one triggerer process, with fast listener settings."""
    registry = ListenerRegistry.install(FAST)
    reconcilers = ReconcilerRegistry.install(FAST_RECONCILE)
    yield registry
    await reconcilers.aclose()
    await registry.aclose()
    leftovers = [t.name for t in threading.enumerate() if t.name.startswith("imm-mns-listener")]
    assert not leftovers, f"listener threads still running: {leftovers}"


async def start_triggers(
    imm: Imm,
    registry: ListenerRegistry,
    *triggers: ImmTaskCompletedTrigger,
    get_task_calls: int | None = None,
    timeout: float = 15.0,
) -> list[asyncio.Task[dict[str, Any]]]:
    """Run ``triggers`` as :func:`run_trigger` does; return once each one that has a queue is registered
    with the listener and its first check is tried (by the shared reconciler), and GetTask has reached
    IMM ``get_task_calls`` times (default: once more per trigger without a queue, which polls).

    A task the test ends afterwards ends while they wait, however loaded the machine: its end is then
    learnt the way the test arranges (notification, reconciliation), never from a first GetTask that
    happened to come after it. Await the returned tasks for the events.
    """
    polling = sum(1 for t in triggers if not t.mns_queue)
    calls = imm.get_task_calls() + polling if get_task_calls is None else get_task_calls
    registered = _waiting(registry) + sum(1 for t in triggers if t.mns_queue)
    running = [asyncio.ensure_future(run_trigger(t, timeout)) for t in triggers]

    def started() -> bool:
        # A trigger that ended already has nothing to wait for: awaiting it shows the test why.
        return any(r.done() for r in running) or (
            imm.get_task_calls() >= calls
            and _waiting(registry) >= registered
            and _unchecked() == 0
            # Answered too, unless the test waits for calls the hook keeps retrying.
            and (get_task_calls is not None or not _checking())
        )

    try:
        await eventually(started, timeout)
    except BaseException:
        for task in running:
            task.cancel()
        raise
    return running


def _unchecked() -> int:
    """Waits of this loop whose first check the shared reconciler has not tried yet."""
    return sum(r.untried for r in ReconcilerRegistry.current().reconcilers)


def _checking() -> bool:
    return any(r.busy for r in ReconcilerRegistry.current().reconcilers)


def _waiting(registry: ListenerRegistry) -> int:
    return sum(listener.waiting for listener in registry.listeners)


async def eventually(check: Callable[[], bool | Awaitable[bool]], timeout: float = 10.0) -> None:
    """Wait until ``check()`` holds, polling; fail after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if time.monotonic() > end:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.05)
