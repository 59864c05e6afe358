"""The ``shared``, ``per_trigger`` and ``restart`` sections of ``reconciliation.py``: waiting at scale.

``shared`` / ``per_trigger``: ``--n`` deferred waits (default 10,000) in one triggerer event loop,
``ImmTaskCompletedTrigger`` run as the triggerer runs it, on the MNS queue through the shared
listener, with the emulator in a process of its own. Rounds every ``--interval`` seconds (shortened
from production's 300 s; the reconciler's margin is twice the interval, production's ratio). The
tasks end at random moments over ``--rounds`` intervals; one notification in 20 (5%) is dropped by
the emulator. Measured: IMM calls (GetTask + ListTasks, emulator counters) per task from the first
check to the last event, and for the tasks whose end came without a notification, the latency from
IMM's EndTime to the trigger's event (p50, p99, max). ``per_trigger`` is today's path (each trigger
its own GetTask every interval, ``ReconcileSettings(shared=False)``) with ``--baseline-n`` waits
(default 1,000): its calls per task do not depend on how many wait, and 10,000 of them would make
200,000 GetTask calls.

``restart``: ``--n`` waits re-created at once, as after a triggerer restart; 10% of their tasks
ended while it was down (notifications lost). Measured for both paths: IMM calls until every wait
has had its first check, and seconds until every wait is settled (an event for an ended task, a
first check for a running one).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from _common import EmulatorProcess
from trigger_scale import CONN_ID, PROJECT, QUEUE, TASK_TYPE, create_tasks, percentile, setup

#: One notification in this many is dropped.
DROP_EVERY = 20
#: Share of the restart's tasks that ended while the triggerer was down.
ENDED_WHILE_DOWN = 0.1
RESULTS = Path(__file__).parent / "results"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def imm_calls(emu: EmulatorProcess) -> dict[str, int]:
    """GetTask and ListTasks calls so far (Create*Task is the submission's, not the wait's)."""
    counters = emu.admin("GET", "/_emulator/counters")
    return {action: int(counters.get(f"imm:{action}", 0)) for action in ("GetTask", "ListTasks")}


def _install(interval: float, *, shared: bool) -> Any:
    from airflow_provider_imm.triggers.mns_listener import ListenerRegistry, ListenerSettings
    from airflow_provider_imm.triggers.reconciler import ReconcilerRegistry, ReconcileSettings

    ListenerRegistry.install(ListenerSettings())
    return ReconcilerRegistry.install(ReconcileSettings(margin=2 * interval, shared=shared))


def _trigger(task_id: str, interval: float) -> Any:
    from airflow_provider_imm.triggers.imm import ImmTaskCompletedTrigger

    return ImmTaskCompletedTrigger(
        task_id=task_id,
        task_type=TASK_TYPE,
        project=PROJECT,
        imm_conn_id=CONN_ID,
        mns_queue=QUEUE,
        reconcile_interval=interval,
    )


async def _wait_one(trigger: Any) -> tuple[float, dict[str, Any]]:
    async for event in trigger.run():
        return time.time(), dict(event.payload)
    raise RuntimeError("the trigger ended without an event")


async def _until(check: Callable[[], bool | Awaitable[bool]], timeout: float) -> None:
    end = time.monotonic() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > end:
            raise TimeoutError(f"not reached within {timeout:.0f} s")
        await asyncio.sleep(0.2)


def _checked(emu: EmulatorProcess, registry: Any, n: int, *, shared: bool) -> Callable[[], Awaitable[bool]]:
    """Every wait has had its first check: by the reconciler, or (alone) a GetTask each."""

    async def check() -> bool:
        if shared:
            reconcilers = registry.reconcilers
            return bool(reconcilers) and all(r.untried == 0 and not r.busy for r in reconcilers)
        return (await asyncio.to_thread(imm_calls, emu))["GetTask"] >= n

    return check


async def _finish(emu: EmulatorProcess, schedule: list[tuple[float, str, bool]]) -> None:
    """End each task at its moment, one after another, arming a dropped notification before those
    marked: the emulator publishes on finishing, so the drop hits exactly that task's."""
    import aiohttp

    loop = asyncio.get_running_loop()
    start = loop.time()
    async with aiohttp.ClientSession() as session:
        for offset, task_id, drop in schedule:
            await asyncio.sleep(max(0.0, start + offset - loop.time()))
            if drop:
                body = {"kind": "drop_notifications", "n": 1}
                async with session.post(f"{emu.url}/_emulator/faults", json=body) as response:
                    response.raise_for_status()
            async with session.post(f"{emu.url}/_emulator/imm/tasks/{task_id}/finish", json={}) as response:
                response.raise_for_status()


def _summary(values: list[float]) -> dict[str, float | None]:
    ordered = sorted(values)
    if not ordered:
        return {"p50": None, "p99": None, "max": None}
    return {
        "p50": round(statistics.median(ordered), 3),
        "p99": round(percentile(ordered, 0.99), 3),
        "max": round(ordered[-1], 3),
    }


async def _rounds(
    emu: EmulatorProcess, n: int, rounds: int, interval: float, *, shared: bool
) -> dict[str, Any]:
    name = "shared" if shared else "per_trigger"
    log(f"{name}: creating {n} tasks")
    task_ids = await create_tasks(emu, n, notify=True)
    await asyncio.to_thread(emu.admin, "DELETE", "/_emulator/counters")
    registry = _install(interval, shared=shared)
    started = time.monotonic()
    running = [asyncio.ensure_future(_wait_one(_trigger(t, interval))) for t in task_ids]
    await _until(_checked(emu, registry, n, shared=shared), timeout=600)
    waited = time.monotonic() - started
    log(f"{name}: {n} triggers wait ({waited:.1f} s); ending the tasks over {rounds} rounds")
    spread = rounds * interval
    schedule = sorted((random.uniform(0, spread), t, i % DROP_EVERY == 0) for i, t in enumerate(task_ids))
    finishing = asyncio.ensure_future(_finish(emu, schedule))
    outcomes = await asyncio.gather(*running)
    await finishing
    calls = await asyncio.to_thread(imm_calls, emu)
    dropped = {t for _, t, drop in schedule if drop}
    late = [
        at - datetime.fromisoformat(event["end_time"]).timestamp()
        for at, event in outcomes
        if event["task_id"] in dropped and event["end_time"]
    ]
    sources = Counter(event["source"] for _, event in outcomes)
    statuses = Counter(event["status"] for _, event in outcomes)
    stats = [vars(r.stats) for r in registry.reconcilers] if shared else []
    await registry.aclose()
    log(f"{name}: done")
    return {
        "n": n,
        "rounds": rounds,
        "interval_s": interval,
        "imm_calls": calls,
        "imm_calls_per_task": round(sum(calls.values()) / n, 3),
        "get_task_per_task": round(calls["GetTask"] / n, 3),
        "list_tasks_per_task": round(calls["ListTasks"] / n, 3),
        "dropped": len(dropped),
        "dropped_latency_s": _summary(late),
        # In rounds: 1.0 is an end learnt by the first round starting after it, as that round starts.
        "dropped_latency_rounds": {k: v and round(v / interval, 2) for k, v in _summary(late).items()},
        "round_s_mean": round(
            sum(s["round_seconds"] for s in stats) / max(1, sum(s["rounds"] for s in stats)), 3
        )
        if stats
        else None,
        "sources": dict(sources),
        "statuses": dict(statuses),
        "wall_s": round(time.monotonic() - started, 1),
        "reconciler": stats,
    }


async def _restart(emu: EmulatorProcess, n: int, interval: float, *, shared: bool) -> dict[str, Any]:
    name = "restart, shared" if shared else "restart, per trigger"
    log(f"{name}: creating {n} tasks")
    task_ids = await create_tasks(emu, n, notify=True)
    ended = task_ids[: int(n * ENDED_WHILE_DOWN)]
    await _finish(emu, [(0.0, t, True) for t in ended])  # while the triggerer was down
    await asyncio.to_thread(emu.admin, "DELETE", "/_emulator/counters")
    registry = _install(interval, shared=shared)
    started = time.monotonic()
    running = [asyncio.ensure_future(_wait_one(_trigger(t, interval))) for t in task_ids]
    await _until(_checked(emu, registry, n, shared=shared), timeout=600)
    await asyncio.gather(*running[: len(ended)])
    seconds = time.monotonic() - started
    calls = await asyncio.to_thread(imm_calls, emu)
    for task in running[len(ended) :]:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)
    await registry.aclose()
    log(f"{name}: {sum(calls.values())} IMM calls, {seconds:.1f} s")
    return {"imm_calls": sum(calls.values()), "calls": calls, "settled_s": round(seconds, 2)}


def measure_rounds(n: int, rounds: int, *, interval: float, baseline_n: int) -> dict[str, Any]:
    """The ``shared`` and ``per_trigger`` sections: waiting through ``rounds`` reconciliation rounds."""
    with EmulatorProcess(projects=[PROJECT], task_duration=3600) as emu:
        setup(emu)
        shared = asyncio.run(_rounds(emu, n, rounds, interval, shared=True))
    with EmulatorProcess(projects=[PROJECT], task_duration=3600) as emu:
        setup(emu)
        per_trigger = asyncio.run(_rounds(emu, baseline_n, rounds, interval, shared=False))
    return {"shared": shared, "per_trigger": per_trigger}


def measure_restart(n: int, *, interval: float) -> dict[str, Any]:
    """The ``restart`` section: ``n`` waits re-created at once, shared path against per trigger."""
    figures: dict[str, Any] = {"n": n, "ended_while_down": int(n * ENDED_WHILE_DOWN)}
    for shared in (True, False):
        with EmulatorProcess(projects=[PROJECT], task_duration=3600) as emu:
            setup(emu)
            result = asyncio.run(_restart(emu, n, interval, shared=shared))
        prefix = "shared" if shared else "per_trigger"
        figures[f"{prefix}_imm_calls"] = result["imm_calls"]
        figures[f"{prefix}_calls"] = result["calls"]
        figures[f"{prefix}_settled_s"] = result["settled_s"]
    return {"restart": figures}


def print_rounds(results: Mapping[str, Any]) -> None:
    for name in ("shared", "per_trigger"):
        f = results[name]
        late = f["dropped_latency_s"]
        print(
            f"{name}: {f['n']} waits, {f['rounds']} rounds of {f['interval_s']:g} s: "
            f"{f['imm_calls_per_task']:.3f} IMM calls per task ({f['imm_calls']}), "
            f"{f['dropped']} notifications dropped, their latency p50 {late['p50']} s, p99 {late['p99']} s, "
            f"max {late['max']} s (p99 {f['dropped_latency_rounds']['p99']} rounds; a round took "
            f"{f['round_s_mean']} s on average); sources {f['sources']}, statuses {f['statuses']}"
        )


def print_restart(section: Mapping[str, Any]) -> None:
    print(
        f"restart with {section['n']} waits ({section['ended_while_down']} ended meanwhile): "
        f"shared {section['shared_imm_calls']} IMM calls, settled in {section['shared_settled_s']} s; "
        f"per trigger {section['per_trigger_imm_calls']} IMM calls, settled in "
        f"{section['per_trigger_settled_s']} s"
    )
