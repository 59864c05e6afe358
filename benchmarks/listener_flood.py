"""A flood of foreign messages ahead of the awaited notification, in one triggerer's MNS listener.

One ``ImmTaskCompletedTrigger`` waits (production listener settings) on a queue into which
``--flood`` messages that are not for it arrive (IMM notifications of other tasks, sent through the
MNS SDK in batches of 16); then its own task ends, so its notification is queued behind the whole
flood. Measured: the delay from ending the task to the trigger's event, and the MNS requests the
listener made (receives, visibility changes, deletes; emulator counters) per foreign message, from
the first foreign message until the listener has stopped (every foreign message given back or back
by itself), and when that was (``all_back_s``, from ending the task: how long another triggerer may
wait for a notification of its own in the flood).

Two ways are measured in the same run, on a fresh queue each, at each MNS latency of ``--latency``
(default 0 and 20 ms per request, the emulator's ``mns_latency`` fault, armed once the flood is in;
20 ms stands for a round trip to a region):

* ``current``: the default settings (orphans given back on return threads of their own once a
  receive finds the backlog drained);
* ``inline_returns``: as the first fix of the flood had it: the same, but ``return_workers=0`` gives
  them back on the receive thread, one request after another, before the next receive;
* ``previous``: as before that, also inline: ``return_delay=0`` gives each receive's orphans back
  at once, and a cap on hiding (``orphan_max_hidden``) below the queue's visibility timeout (30 s)
  makes every further return a request of its own.

A way whose awaited notification has not come within ``--limit`` seconds is reported as such (its
trigger is cancelled; the delay is the limit).

The emulator runs in a process of its own (``python -m airflow_provider_imm.emulator``); the
listener runs in this one. Prints the figures and whether each target is met, and writes them to
``benchmarks/results/listener_flood.json``. Targets, current way at every latency: awaited
notification delay < 2 s (at 20 ms per request the 125 receives a flood of 2,000 needs take 2.5 s
alone, so there: < 5 s, well below the reconcile interval), <= 1.5 MNS requests per foreign message,
and no foreign message deleted.
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
#: The delay target where every request takes 20 ms or more (see the module docstring).
SLOW_DELAY_TARGET = 5.0
LISTENER_ACTIONS = ("BatchReceiveMessage", "ReceiveMessage", "ChangeMessageVisibility", "BatchDeleteMessage")
MODES = ("current", "inline_returns", "previous")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--flood", type=int, default=2000, help="foreign messages (default: %(default)s)")
    parser.add_argument(
        "--latency", type=float, nargs="+", default=[0.0, 0.02], help="MNS seconds per request"
    )
    parser.add_argument("--limit", type=float, default=60.0, help="longest wait for the notification")
    parser.add_argument("--output", type=Path, default=RESULTS / "listener_flood.json")
    args = parser.parse_args()

    started = time.monotonic()
    runs: dict[str, dict[str, Any]] = {}
    with EmulatorProcess(projects=[PROJECT], task_duration=3600) as emu:
        setup_channel(emu)
        for latency in args.latency:
            runs[label(latency)] = {
                mode: asyncio.run(measure(emu, mode, args.flood, latency, args.limit)) for mode in MODES
            }

    checks: dict[str, bool] = {}
    targets: dict[str, Any] = {}
    for latency in args.latency:
        current = runs[label(latency)]["current"]
        delay_target = TARGETS["awaited_delay_s"] if latency < 0.02 else SLOW_DELAY_TARGET
        for name, target, met in (
            ("awaited_delay_s", delay_target, current["awaited_delay_s"] < delay_target),
            (
                "mns_requests_per_foreign",
                TARGETS["mns_requests_per_foreign"],
                current["mns_requests_per_foreign"] <= TARGETS["mns_requests_per_foreign"],
            ),
            ("foreign_kept", "all kept", current["queue_left"] == args.flood),
        ):
            checks[f"{name} at {label(latency)}"] = met
            targets[f"{name} at {label(latency)}"] = {"target": target, "met": met}
    results = {
        "flood": args.flood,
        "machine": {"cpus": os.cpu_count()},
        "run_seconds": round(time.monotonic() - started, 1),
        "latencies": runs,
        "targets": targets,
    }
    write_results(args.output, results)
    report(results)
    print(f"written to {args.output}")
    return 0 if all(checks.values()) else 1


def label(latency: float) -> str:
    return f"{latency * 1000:g} ms per request"


async def measure(
    emu: EmulatorProcess, mode: str, flood: int, latency: float, limit: float
) -> dict[str, Any]:
    from airflow_provider_imm.triggers.imm import ImmTaskCompletedTrigger
    from airflow_provider_imm.triggers.mns_listener import ListenerRegistry, ListenerSettings

    await asyncio.to_thread(fresh_queue, emu)
    settings = ListenerSettings()
    if mode == "inline_returns":
        settings = dataclasses.replace(settings, return_workers=0)
    if mode == "previous":
        settings = dataclasses.replace(settings, return_delay=0.0, orphan_max_hidden=29, return_workers=0)
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
        await asyncio.to_thread(set_latency, emu, latency)
        ended = time.monotonic()
        await finish_tasks(emu, [task_id], 0.0)
        done, _ = await asyncio.wait([running], timeout=limit)
        delay = time.monotonic() - ended
        source = done.pop().result()["source"] if done else f"none within {limit:g} s"
        running.cancel()
        (listener,) = registry.listeners
        await until(lambda: not listener.running)
        stopped = time.monotonic() - ended
        stats = listener.stats
    finally:
        running.cancel()
        await registry.aclose()
        await asyncio.to_thread(set_latency, emu, 0.0)
    requests = listener_requests(emu) - before
    return {
        "awaited_delay_s": round(delay, 3),
        "event_source": source,
        "all_back_s": round(stopped, 1),
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


def set_latency(emu: EmulatorProcess, seconds: float) -> None:
    emu.admin("POST", "/_emulator/faults", {"kind": "mns_latency", "seconds": seconds})


def counter(emu: EmulatorProcess, name: str) -> int:
    return int(emu.admin("GET", "/_emulator/counters").get(name, 0))


def listener_requests(emu: EmulatorProcess) -> int:
    counters = emu.admin("GET", "/_emulator/counters")
    return sum(int(counters.get(f"mns:{action}", 0)) for action in LISTENER_ACTIONS)


def report(results: dict[str, Any]) -> None:
    print(f"\nlistener flood: {results['flood']} foreign messages ahead of the awaited notification")
    for latency, ways in results["latencies"].items():
        print(f"\nMNS latency {latency}")
        report_ways(ways)
    print()
    for name, target in results["targets"].items():
        print(f"target {name} ({target['target']}): {'met' if target['met'] else 'NOT MET'}")
    print(f"whole run: {results['run_seconds']} s")


def report_ways(ways: dict[str, dict[str, Any]]) -> None:
    print(f"{'':32}" + "".join(f"{mode:>22}" for mode in MODES))
    for name in (
        "awaited_delay_s",
        "mns_requests_per_foreign",
        "mns_requests",
        "receives",
        "given_back",
        "deleted_or_dropped",
        "queue_left",
        "event_source",
        "all_back_s",
    ):
        print(f"{name:32}" + "".join(f"{ways[mode][name]!s:>22}" for mode in MODES))


if __name__ == "__main__":
    raise SystemExit(main())
