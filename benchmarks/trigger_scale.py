"""N deferred IMM tasks waiting in one triggerer: notification path vs. GetTask polling.

One run measures both ways of waiting, each in a worker process of its own that runs N
``ImmTaskCompletedTrigger`` coroutines in one event loop, as the triggerer does
(``async for event in trigger.run()``):

* ``notification``: triggers with an MNS queue (the shared listener, production settings);
* ``rocketmq``: triggers waiting on a RocketMQ topic (the shared consumer; needs the ``rocketmq`` extra);
* ``polling``: the same trigger without a queue, polling GetTask every ``--poll-interval`` seconds.

The emulator runs as a third process (``python -m airflow_provider_imm.emulator``), controlled
through its admin API. For each path, this script creates N tasks that run until told to end, starts
the worker, waits for every trigger's first GetTask, then ends the tasks at random times spread over
``--spread`` seconds (admin route ``/_emulator/imm/tasks/{id}/finish``). Measured per path: latency
from a task's EndTime to its trigger's event (p50, p99, max), IMM and MNS calls per task (emulator
counters), OS threads, peak RSS and event-loop lag (a ticker coroutine) of the worker.

Prints the figures and whether each target is met, and writes them to
``benchmarks/results/trigger_scale.json``. Targets, notification path at N = 1000: p99 latency
< 0.5 s, <= 1.1 GetTask and <= 0.5 MNS requests per task, <= 4 threads more than polling, event-loop
lag p99 < 50 ms. RocketMQ path: the same latency and GetTask targets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

from _common import EmulatorProcess, write_results

PROJECT = "bench-project"
TOPIC = "bench-imm-events"
QUEUE = "bench-imm-queue"
ROCKETMQ_TOPIC, ROCKETMQ_GROUP = "bench-imm-rmq", "bench-imm-group"
MODES = ("notification", "rocketmq", "polling")
BUCKET = "bench"
CONN_ID = "imm_bench"
TASK_TYPE = "OfficeConversion"
RESULTS = Path(__file__).parent / "results"

TARGETS = {
    "latency_p99_s": 0.5,
    "get_task_per_task": 1.1,
    "mns_requests_per_task": 0.5,
    "extra_threads": 4,
    "loop_lag_p99_ms": 50.0,
}


# Orchestrator
def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1000, help="waiting triggers (default: %(default)s)")
    parser.add_argument("--spread", type=float, default=60.0, help="seconds over which the tasks end")
    parser.add_argument("--poll-interval", type=float, default=30.0, help="GetTask interval of the baseline")
    parser.add_argument("--output", type=Path, default=RESULTS / "trigger_scale.json")
    parser.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--tasks", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--ready", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return run_worker(args)

    started = time.monotonic()
    with EmulatorProcess(projects=[PROJECT], task_duration=3600) as emu:
        setup(emu)
        paths = {mode: measure(emu, mode, args) for mode in MODES}
        emulator_rss = emu.peak_rss_bytes()

    note = paths["notification"]
    checks = {
        "latency_p99_s": note["latency_s"]["p99"] < TARGETS["latency_p99_s"],
        "get_task_per_task": note["imm_calls_per_task"].get("GetTask", 0.0) <= TARGETS["get_task_per_task"],
        "mns_requests_per_task": note["mns_requests_per_task"] <= TARGETS["mns_requests_per_task"],
        "extra_threads": note["threads_max"] - paths["polling"]["threads_max"] <= TARGETS["extra_threads"],
        "loop_lag_p99_ms": note["loop_lag_ms"]["p99"] < TARGETS["loop_lag_p99_ms"],
        "rocketmq_latency_p99_s": paths["rocketmq"]["latency_s"]["p99"] < TARGETS["latency_p99_s"],
        "rocketmq_get_task_per_task": paths["rocketmq"]["imm_calls_per_task"].get("GetTask", 0.0)
        <= TARGETS["get_task_per_task"],
    }
    results = {
        "n": args.n,
        "spread_s": args.spread,
        "poll_interval_s": args.poll_interval,
        "machine": {"cpus": os.cpu_count()},
        "run_seconds": round(time.monotonic() - started, 1),
        "emulator_peak_rss_mb": round(emulator_rss / 2**20, 1),
        "paths": paths,
        "targets": {
            name: {"target": TARGETS[name.removeprefix("rocketmq_")], "met": met, "applies_at_n": 1000}
            for name, met in checks.items()
        },
    }
    write_results(args.output, results)
    report(results)
    print(f"written to {args.output}")
    return 0 if all(checks.values()) else 1


def setup(emu: EmulatorProcess) -> None:
    """The notification channel, a source object, and the connection the workers inherit."""
    from mns.account import Account
    from mns.mns_common import TopicHelper
    from mns.queue import QueueMeta
    from mns.subscription import SubscriptionMeta
    from mns.topic import TopicMeta

    account = Account(emu.url, emu.access_key_id, emu.access_key_secret)
    account.get_queue(QUEUE).create(QueueMeta())
    topic = account.get_topic(TOPIC)
    topic.create(TopicMeta())
    endpoint = TopicHelper.generate_queue_endpoint(emu.region, emu.account_id, QUEUE)
    topic.get_subscription("airflow").subscribe(SubscriptionMeta(endpoint, notify_content_format="JSON"))
    emu.put_object(BUCKET, "in/doc.docx", b"benchmark document")
    emu.admin("PUT", f"/_emulator/rocketmq/topics/{ROCKETMQ_TOPIC}")
    emu.admin("PUT", f"/_emulator/rocketmq/groups/{ROCKETMQ_GROUP}")
    from airflow_provider_imm.emulator.server import emulator_connection

    os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = emulator_connection(
        emu.url,
        region=emu.region,
        account_id=emu.account_id,
        access_key_id=emu.access_key_id,
        access_key_secret=emu.access_key_secret,
        project=PROJECT,
        mns_topic=None,
        mns_queue=None,
        mns_subscription=None,
        rocketmq_endpoint=emu.info["rocketmq_endpoint"],
        rocketmq_instance_id=emu.info["rocketmq_instance_id"],
        rocketmq_topic=ROCKETMQ_TOPIC,
        rocketmq_group=ROCKETMQ_GROUP,
        rocketmq_username=emu.info["rocketmq_username"],
        rocketmq_password=emu.info["rocketmq_password"],
    )


def measure(emu: EmulatorProcess, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    n = args.n
    log(f"{mode}: creating {n} tasks")
    task_ids = asyncio.run(create_tasks(emu, n, mode=mode))
    emu.admin("DELETE", "/_emulator/counters")
    with tempfile.TemporaryDirectory(prefix="trigger-scale-") as tmp:
        tasks_file, result_file = Path(tmp) / "tasks.json", Path(tmp) / "result.json"
        ready_file = Path(tmp) / "ready"
        tasks_file.write_text(json.dumps(task_ids))
        RESULTS.mkdir(parents=True, exist_ok=True)
        worker_log = RESULTS / f"trigger_scale_{mode}.log"
        command = [sys.executable, __file__, "--worker", mode, "--tasks", str(tasks_file)]
        command += ["--result", str(result_file), "--ready", str(ready_file)]
        command += ["--poll-interval", str(args.poll_interval)]
        with worker_log.open("w") as out:
            worker = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
            try:
                log(f"{mode}: {n} triggers starting")
                # A trigger's first check is its own GetTask, or a ListTasks round of the shared
                # reconciler, which the worker reports (it alone sees the rounds).
                wait_for(lambda: ready_file.exists() or get_task_calls(emu) >= n, worker, timeout=300)
                log(f"{mode}: every trigger waits; ending the tasks over {args.spread:.0f} s")
                asyncio.run(finish_tasks(emu, task_ids, args.spread))
                worker.wait(timeout=args.spread + 4 * args.poll_interval + 300)
            finally:
                if worker.poll() is None:
                    worker.kill()
                    worker.wait()
        if worker.returncode != 0 or not result_file.exists():
            raise RuntimeError(f"{mode} worker failed (exit {worker.returncode}); see {worker_log}")
        result = json.loads(result_file.read_text())
    counters = emu.admin("GET", "/_emulator/counters")
    imm_calls = {k.split(":", 1)[1]: v for k, v in counters.items() if k.startswith("imm:")}
    mns_calls = {k.split(":", 1)[1]: v for k, v in counters.items() if k.startswith("mns:")}
    result["imm_calls_per_task"] = {
        action: round(count / n, 3) for action, count in sorted(imm_calls.items())
    }
    result["mns_calls"] = mns_calls
    result["mns_requests_per_task"] = round(sum(mns_calls.values()) / n, 3)
    rocketmq_calls = {k.split(":", 1)[1]: v for k, v in counters.items() if k.startswith("rocketmq:")}
    result["rocketmq_calls"] = rocketmq_calls
    result["rocketmq_requests_per_task"] = round(sum(rocketmq_calls.values()) / n, 3)
    result["queue_left"] = (
        emu.admin("GET", f"/_emulator/rocketmq/groups/{ROCKETMQ_GROUP}")["backlog"]
        if mode == "rocketmq"
        else queue_left(emu)
    )
    log(f"{mode}: done")
    return result


async def create_tasks(emu: EmulatorProcess, n: int, *, mode: str) -> list[str]:
    """Tasks that run until ended through the admin API, created 64 at a time."""
    from alibabacloud_imm20200930 import models
    from alibabacloud_imm20200930.client import Client
    from alibabacloud_tea_openapi.models import Config

    client = Client(
        Config(
            access_key_id=emu.access_key_id,
            access_key_secret=emu.access_key_secret,
            endpoint=emu.endpoint,
            protocol="http",
            region_id=emu.region,
        )
    )
    remaining = iter(range(n))
    task_ids: list[str] = []
    notification = {
        "notification": models.Notification(mns=models.MNS(topic_name=TOPIC)),
        "rocketmq": models.Notification(
            rocket_mq=models.RocketMQ(instance_id=emu.info["rocketmq_instance_id"], topic_name=ROCKETMQ_TOPIC)
        ),
    }.get(mode)

    async def creator() -> None:
        for _ in remaining:
            request = models.CreateOfficeConversionTaskRequest(
                project_name=PROJECT,
                source_uri=f"oss://{BUCKET}/in/doc.docx",
                target_type="pdf",
                target_uri=f"oss://{BUCKET}/out/{{barename}}.{{autoext}}",
                user_data=json.dumps({"imm-emulator": {"duration": None}}),
                notification=notification,
            )
            response = await client.create_office_conversion_task_async(request)
            task_ids.append(str(response.body.task_id))

    await asyncio.gather(*(creator() for _ in range(64)))
    return task_ids


async def finish_tasks(emu: EmulatorProcess, task_ids: list[str], spread: float) -> None:
    """End each task at a random moment of the next ``spread`` seconds."""
    import aiohttp

    loop = asyncio.get_running_loop()
    start = loop.time()
    schedule = sorted((random.uniform(0, spread), task_id) for task_id in task_ids)
    pending: set[asyncio.Task[None]] = set()
    async with aiohttp.ClientSession() as session:

        async def finish(task_id: str) -> None:
            async with session.post(f"{emu.url}/_emulator/imm/tasks/{task_id}/finish", json={}) as response:
                response.raise_for_status()

        for offset, task_id in schedule:
            await asyncio.sleep(max(0.0, start + offset - loop.time()))
            task = asyncio.ensure_future(finish(task_id))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.gather(*pending)


def queue_left(emu: EmulatorProcess) -> int:
    from mns.account import Account

    attributes = Account(emu.url, emu.access_key_id, emu.access_key_secret).get_queue(QUEUE).get_attributes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return int(attributes.active_messages) + int(attributes.inactive_messages)


def get_task_calls(emu: EmulatorProcess) -> int:
    return int(emu.admin("GET", "/_emulator/counters").get("imm:GetTask", 0))


def wait_for(check: Any, worker: subprocess.Popen[bytes], *, timeout: float) -> None:
    end = time.monotonic() + timeout
    while not check():
        if worker.poll() is not None:
            raise RuntimeError(f"worker exited early with {worker.returncode}")
        if time.monotonic() > end:
            raise TimeoutError("the triggers did not all start in time")
        time.sleep(0.2)


def report(results: dict[str, Any]) -> None:
    print(f"\ntrigger scale, N = {results['n']}, tasks ending over {results['spread_s']:.0f} s")
    header = f"{'':28}" + "".join(f"{mode:>16}" for mode in MODES)
    print(header)
    rows = [
        ("latency p50 (s)", lambda p: p["latency_s"]["p50"]),
        ("latency p99 (s)", lambda p: p["latency_s"]["p99"]),
        ("latency max (s)", lambda p: p["latency_s"]["max"]),
        ("GetTask per task", lambda p: p["imm_calls_per_task"].get("GetTask", 0.0)),
        ("MNS requests per task", lambda p: p["mns_requests_per_task"]),
        ("RocketMQ requests per task", lambda p: p["rocketmq_requests_per_task"]),
        ("threads (max)", lambda p: p["threads_max"]),
        ("peak RSS (MB)", lambda p: p["peak_rss_mb"]),
        ("event-loop lag p99 (ms)", lambda p: p["loop_lag_ms"]["p99"]),
        ("event-loop lag max (ms)", lambda p: p["loop_lag_ms"]["max"]),
        ("events by source", lambda p: ",".join(f"{k}:{v}" for k, v in sorted(p["sources"].items()))),
        ("statuses", lambda p: ",".join(f"{k}:{v}" for k, v in sorted(p["statuses"].items()))),
        ("messages left in queue", lambda p: p["queue_left"]),
        ("wall time (s)", lambda p: p["wall_s"]),
    ]
    for label, value in rows:
        print(f"{label:28}" + "".join(f"{value(results['paths'][mode])!s:>16}" for mode in MODES))
    print(f"MNS calls (notification path): {results['paths']['notification']['mns_calls']}")
    print(f"RocketMQ calls (rocketmq path): {results['paths']['rocketmq']['rocketmq_calls']}")
    for name, target in results["targets"].items():
        print(f"target {name} ({target['target']}): {'met' if target['met'] else 'NOT MET'}")
    print(f"whole run: {results['run_seconds']} s")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# Worker: the measured process
def run_worker(args: argparse.Namespace) -> int:
    task_ids = json.loads(args.tasks.read_text())
    result = asyncio.run(
        wait_all(task_ids, mode=args.worker, poll_interval=args.poll_interval, ready=args.ready)
    )
    args.result.write_text(json.dumps(result))
    return 0


async def wait_all(task_ids: list[str], *, mode: str, poll_interval: float, ready: Path) -> dict[str, Any]:
    import psutil

    from airflow_provider_imm.triggers.imm import ImmTaskCompletedTrigger
    from airflow_provider_imm.triggers.reconciler import ReconcilerRegistry

    process = psutil.Process()
    loop = asyncio.get_running_loop()
    lags: list[float] = []
    threads: list[int] = []
    running = True

    async def ticker(interval: float = 0.01) -> None:
        while running:
            before = loop.time()
            await asyncio.sleep(interval)
            lags.append(loop.time() - before - interval)

    async def report_ready() -> None:
        """Writes ``ready`` once the shared reconciler has made every wait's first check."""
        while running:
            reconcilers = ReconcilerRegistry.current().reconcilers
            waiting = sum(r.waiting for r in reconcilers)
            if waiting >= len(task_ids) and not any(r.untried or r.busy for r in reconcilers):
                await asyncio.to_thread(ready.write_text, "ready")
                return
            await asyncio.sleep(0.1)

    async def thread_sampler() -> None:
        while running:
            threads.append(process.num_threads())
            await asyncio.sleep(0.25)

    async def wait_one(trigger: ImmTaskCompletedTrigger) -> tuple[float, dict[str, Any]]:
        async for event in trigger.run():
            return time.time(), dict(event.payload)
        raise RuntimeError("the trigger ended without an event")

    probes = [asyncio.ensure_future(ticker()), asyncio.ensure_future(thread_sampler())]
    started = time.monotonic()
    running_triggers = []
    for task_id in task_ids:
        # As the triggerer adds new triggers: build one, start its task, let the loop run.
        trigger = ImmTaskCompletedTrigger(
            task_id=task_id,
            task_type=TASK_TYPE,
            project=PROJECT,
            imm_conn_id=CONN_ID,
            mns_queue=QUEUE if mode == "notification" else None,
            rocketmq_topic=ROCKETMQ_TOPIC if mode == "rocketmq" else None,
            poll_interval=poll_interval,
        )
        running_triggers.append(asyncio.ensure_future(wait_one(trigger)))
        await asyncio.sleep(0)
    probes.append(asyncio.ensure_future(report_ready()))
    outcomes = await asyncio.gather(*running_triggers)
    wall = time.monotonic() - started
    running = False
    await asyncio.gather(*probes)

    latencies = sorted(
        at - datetime.fromisoformat(e["end_time"]).timestamp() for at, e in outcomes if e["end_time"]
    )
    sources: dict[str, int] = {}
    statuses: dict[str, int] = {}
    for _, event in outcomes:
        sources[event["source"]] = sources.get(event["source"], 0) + 1
        statuses[event["status"]] = statuses.get(event["status"], 0) + 1
    lag_ms = sorted(max(0.0, lag) * 1000 for lag in lags)
    return {
        "triggers": len(outcomes),
        "wall_s": round(wall, 1),
        "latency_s": {
            "p50": round(statistics.median(latencies), 3),
            "p99": round(percentile(latencies, 0.99), 3),
            "max": round(latencies[-1], 3),
        },
        "sources": sources,
        "statuses": statuses,
        "threads_max": max(threads),
        "threads_median": int(statistics.median(threads)),
        "peak_rss_mb": round(peak_rss(process) / 2**20, 1),
        "loop_lag_ms": {
            "p50": round(statistics.median(lag_ms), 2),
            "p99": round(percentile(lag_ms, 0.99), 2),
            "max": round(lag_ms[-1], 2),
            "samples": len(lag_ms),
        },
    }


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def peak_rss(process: Any) -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(process.memory_info().rss)


if __name__ == "__main__":
    raise SystemExit(main())
