"""A flood of foreign messages ahead of the awaited notification, in one triggerer's MNS listener.

One ``ImmTaskCompletedTrigger`` waits (production listener settings) on a queue into which
``--flood`` messages that are not for it arrive (IMM notifications of other tasks, sent through the
MNS SDK in batches of 16); then its own task ends, so its notification is queued behind the whole
flood. Measured: the delay from ending the task to the trigger's event, and the MNS requests the
listener made (receives, visibility changes, deletes; emulator counters) per foreign message, from
the first foreign message until the listener has stopped (every foreign message given back).

Two ways are measured in the same run, on a fresh queue each:

* ``current``: the default settings (orphans given back once a receive finds the backlog drained);
* ``previous``: as before: ``return_delay=0`` gives each receive's orphans back at once, and a cap
  on hiding (``orphan_max_hidden``) below the queue's visibility timeout (30 s) makes every
  further return a request of its own.

The emulator runs in a process of its own (``python -m airflow_provider_imm.emulator``); the
listener runs in this one. Prints the figures and whether each target is met, and writes them to
``benchmarks/results/listener_flood.json``. Targets, current way: awaited notification delay < 2 s,
<= 1.5 MNS requests per foreign message, and no foreign message deleted.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import EmulatorProcess, write_results
from trigger_scale import CONN_ID, PROJECT, QUEUE, RESULTS, TASK_TYPE, create_tasks, finish_tasks, queue_left
from trigger_scale import setup as setup_channel

TARGETS = {"awaited_delay_s": 2.0, "mns_requests_per_foreign": 1.5}
LISTENER_ACTIONS = ("BatchReceiveMessage", "ReceiveMessage", "ChangeMessageVisibility", "BatchDeleteMessage")
MODES = ("current", "previous")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--flood", type=int, default=2000, help="foreign messages (default: %(default)s)")
    parser.add_argument("--output", type=Path, default=RESULTS / "listener_flood.json")
    args = parser.parse_args()

    started = time.monotonic()
    with EmulatorProcess(projects=[PROJECT], task_duration=3600) as emu:
        setup_channel(emu)
        ways = {mode: asyncio.run(measure(emu, mode, args.flood)) for mode in MODES}

    current = ways["current"]
    checks = {
        "awaited_delay_s": current["awaited_delay_s"] < TARGETS["awaited_delay_s"],
        "mns_requests_per_foreign": current["mns_requests_per_foreign"]
        <= TARGETS["mns_requests_per_foreign"],
        "foreign_kept": current["queue_left"] == args.flood,
    }
    results = {
        "flood": args.flood,
        "machine": {"cpus": os.cpu_count()},
        "run_seconds": round(time.monotonic() - started, 1),
        "ways": ways,
        "targets": {
            name: {"target": TARGETS.get(name, "all kept"), "met": met} for name, met in checks.items()
        },
    }
    write_results(args.output, results)
    report(results)
    print(f"written to {args.output}")
    return 0 if all(checks.values()) else 1


async def measure(emu: EmulatorProcess, mode: str, flood: int) -> dict[str, Any]:
    from airflow_provider_imm.triggers.imm import ImmTaskCompletedTrigger
    from airflow_provider_imm.triggers.mns_listener import ListenerRegistry, ListenerSettings

    await asyncio.to_thread(fresh_queue, emu)
    settings = ListenerSettings()
    if mode == "previous":
        settings = dataclasses.replace(settings, return_delay=0.0, orphan_max_hidden=29)
    registry = ListenerRegistry.install(settings)
    (task_id,) = await create_tasks(emu, 1, notify=True)
    trigger = ImmTaskCompletedTrigger(
        task_id=task_id, task_type=TASK_TYPE, project=PROJECT, imm_conn_id=CONN_ID, mns_queue=QUEUE
    )
    running = asyncio.ensure_future(first_event(trigger))
    try:
        await until(
            lambda: registry.listeners and registry.listeners[0].waiting and counter(emu, "imm:GetTask")
        )
        before = listener_requests(emu)
        await asyncio.to_thread(send_flood, emu, flood)
        ended = time.monotonic()
        await finish_tasks(emu, [task_id], 0.0)
        event = await running
        delay = time.monotonic() - ended
        (listener,) = registry.listeners
        await until(lambda: not listener.running)
        stats = listener.stats
    finally:
        running.cancel()
        await registry.aclose()
    requests = listener_requests(emu) - before
    return {
        "awaited_delay_s": round(delay, 3),
        "event_source": event["source"],
        "mns_requests": requests,
        "mns_requests_per_foreign": round(requests / flood, 3),
        "receives": stats.receives,
        "given_back": stats.returned,
        "deleted_or_dropped": stats.deleted + stats.dropped,
        "queue_left": await asyncio.to_thread(queue_left, emu),
    }


async def first_event(trigger: Any) -> dict[str, Any]:
    async for event in trigger.run():
        return dict(event.payload)
    raise RuntimeError("the trigger ended without an event")


async def until(check: Callable[[], object]) -> None:
    while True:
        if check():
            return
        await asyncio.sleep(0.05)


def fresh_queue(emu: EmulatorProcess) -> None:
    """The queue emptied by deleting and creating it again; the topic's subscription names it."""
    from mns.account import Account
    from mns.queue import QueueMeta

    queue = Account(emu.url, emu.access_key_id, emu.access_key_secret).get_queue(QUEUE)
    queue.delete()
    queue.create(QueueMeta())


def send_flood(emu: EmulatorProcess, flood: int) -> None:
    from mns.account import Account
    from mns.queue import Message

    queue = Account(emu.url, emu.access_key_id, emu.access_key_secret).get_queue(QUEUE)
    for start in range(0, flood, 16):
        queue.batch_send_message(
            [
                Message(json.dumps({"TaskId": f"{TASK_TYPE}-other-{n}", "Status": "Succeeded"}))
                for n in range(start, min(flood, start + 16))
            ]
        )


def counter(emu: EmulatorProcess, name: str) -> int:
    return int(emu.admin("GET", "/_emulator/counters").get(name, 0))


def listener_requests(emu: EmulatorProcess) -> int:
    counters = emu.admin("GET", "/_emulator/counters")
    return sum(int(counters.get(f"mns:{action}", 0)) for action in LISTENER_ACTIONS)


def report(results: dict[str, Any]) -> None:
    print(f"\nlistener flood: {results['flood']} foreign messages ahead of the awaited notification")
    print(f"{'':32}" + "".join(f"{mode:>14}" for mode in MODES))
    for label in (
        "awaited_delay_s",
        "mns_requests_per_foreign",
        "mns_requests",
        "receives",
        "given_back",
        "deleted_or_dropped",
        "queue_left",
        "event_source",
    ):
        print(f"{label:32}" + "".join(f"{results['ways'][mode][label]!s:>14}" for mode in MODES))
    for name, target in results["targets"].items():
        print(f"target {name} ({target['target']}): {'met' if target['met'] else 'NOT MET'}")
    print(f"whole run: {results['run_seconds']} s")


if __name__ == "__main__":
    raise SystemExit(main())
