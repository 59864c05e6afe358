"""What the emulator sustains on this machine, so it is never the bottleneck of other benchmarks.

Runs the emulator as its own process (``python -m airflow_provider_imm.emulator``) and measures,
through the official SDKs over loopback:

* Create*Task calls per second: the async IMM client, ``--concurrency`` calls in flight, cycling
  through operations of the catalog;
* notifications delivered per second: IMM tasks end and publish to a topic whose subscription
  feeds a queue that ``--receivers`` threads long-poll (one MNS ``Account`` each, as the SDK is not
  thread-safe), each receiving one message at a time and deleting it.

Prints the figures and writes them to ``benchmarks/results/emulator_throughput.json``. Targets:
300 creates/s and 300 notifications/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
from _common import EmulatorProcess, write_results
from alibabacloud_imm20200930 import models as imm_models
from alibabacloud_imm20200930.client import Client as ImmClient
from alibabacloud_tea_openapi.models import Config
from mns.account import Account
from mns.mns_common import TopicHelper
from mns.mns_exception import MNSServerException
from mns.queue import QueueMeta
from mns.subscription import SubscriptionMeta
from mns.topic import TopicMeta

PROJECT = "bench-project"
TARGET_PER_SECOND = 300.0


def _requests(bucket: str) -> list[tuple[str, Any]]:
    """(SDK method, request) pairs for a mix of operations whose sources exist."""
    m = imm_models
    return [
        (
            "create_office_conversion_task_async",
            m.CreateOfficeConversionTaskRequest(
                project_name=PROJECT,
                source_uri=f"oss://{bucket}/in/doc.docx",
                target_type="pdf",
                target_uri=f"oss://{bucket}/out/{{barename}}.{{autoext}}",
            ),
        ),
        (
            "create_image_moderation_task_async",
            m.CreateImageModerationTaskRequest(project_name=PROJECT, source_uri=f"oss://{bucket}/in/a.jpg"),
        ),
        (
            "create_media_convert_task_async",
            m.CreateMediaConvertTaskRequest(
                project_name=PROJECT,
                sources=[m.CreateMediaConvertTaskRequestSources(uri=f"oss://{bucket}/in/v.mp4")],
                targets=[
                    m.CreateMediaConvertTaskRequestTargets(
                        uri=f"oss://{bucket}/out/{{barename}}.{{autoext}}", container="mp4"
                    )
                ],
            ),
        ),
        (
            "create_image_to_pdftask_async",
            m.CreateImageToPDFTaskRequest(
                project_name=PROJECT,
                sources=[m.CreateImageToPDFTaskRequestSources(uri=f"oss://{bucket}/in/a.jpg")],
                target_uri=f"oss://{bucket}/out/a.pdf",
            ),
        ),
    ]


def _imm_client(emu: EmulatorProcess) -> ImmClient:
    return ImmClient(
        Config(
            access_key_id=emu.access_key_id,
            access_key_secret=emu.access_key_secret,
            endpoint=emu.endpoint,
            protocol="http",
            region_id=emu.region,
        )
    )


async def measure_creates(
    emu: EmulatorProcess,
    *,
    calls: int,
    concurrency: int,
    notify_topic: str | None,
    task_ids: list[str] | None = None,
    plan: list[tuple[str, Any]] | None = None,
) -> dict[str, Any]:
    client = _imm_client(emu)
    plan = plan or _requests("bench")
    if notify_topic:
        for _, request in plan:
            request.notification = imm_models.Notification(mns=imm_models.MNS(topic_name=notify_topic))
    counter = iter(range(calls))
    failures = 0

    async def worker() -> None:
        nonlocal failures
        for i in counter:
            method, request = plan[i % len(plan)]
            try:
                response = await getattr(client, method)(request)
                if task_ids is not None:
                    task_ids.append(response.body.task_id)
            except Exception:
                failures += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {
        "calls": calls,
        "failures": failures,
        "seconds": round(elapsed, 3),
        "per_second": round(calls / elapsed, 1),
    }


async def _finish_all(emu: EmulatorProcess, task_ids: list[str], concurrency: int = 16) -> None:
    """End every task at once (through the admin API), so their notifications come in a burst."""
    pending = iter(task_ids)
    async with aiohttp.ClientSession() as session:

        async def worker() -> None:
            for task_id in pending:
                async with session.post(
                    f"{emu.url}/_emulator/imm/tasks/{task_id}/finish", json={}
                ) as response:
                    response.raise_for_status()

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def measure_notifications(emu: EmulatorProcess, *, tasks: int, receivers: int) -> dict[str, Any]:
    account = Account(emu.url, emu.access_key_id, emu.access_key_secret)
    account.get_queue("bench-events").create(QueueMeta())
    topic = account.get_topic("bench-topic")
    topic.create(TopicMeta())
    endpoint = TopicHelper.generate_queue_endpoint(emu.region, emu.account_id, "bench-events")
    topic.get_subscription("bench").subscribe(SubscriptionMeta(endpoint, notify_content_format="SIMPLIFIED"))

    received = 0
    lock = threading.Lock()
    done = threading.Event()
    first_receive: list[float] = []

    def receiver() -> None:
        nonlocal received
        queue = Account(emu.url, emu.access_key_id, emu.access_key_secret).get_queue("bench-events")
        queue.set_encoding(False)
        while not done.is_set():
            try:
                message = queue.receive_message(wait_seconds=2)
            except MNSServerException as err:
                if err.type == "MessageNotExist":
                    continue
                raise
            queue.delete_message(message.receipt_handle)
            with lock:
                if not first_receive:
                    first_receive.append(time.perf_counter())
                received += 1
                if received >= tasks:
                    done.set()

    threads = [threading.Thread(target=receiver, daemon=True) for _ in range(receivers)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)  # every receiver is now parked in a long poll

    # Tasks that wait to be finished, so all notifications are published in one burst.
    emu.admin("POST", "/_emulator/imm/behaviour", {"action": "ImageModeration", "duration": None})
    task_ids: list[str] = []
    plan = _requests("bench")[1:2]  # image moderation only: the behaviour above holds them running
    create = asyncio.run(
        measure_creates(
            emu, calls=tasks, concurrency=32, notify_topic="bench-topic", task_ids=task_ids, plan=plan
        )
    )
    started = time.perf_counter()
    asyncio.run(_finish_all(emu, task_ids))
    finish_seconds = time.perf_counter() - started
    done.wait(timeout=120)
    elapsed = time.perf_counter() - started
    for thread in threads:
        thread.join(timeout=5)
    return {
        "receivers": receivers,
        "notifications": len(task_ids),
        "received": received,
        "seconds": round(elapsed, 3),
        "finish_calls_seconds": round(finish_seconds, 3),
        "per_second": round(received / elapsed, 1),
        "tasks_created": create,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--creates", type=int, default=4000, help="Create*Task calls to time")
    parser.add_argument("--concurrency", type=int, default=64, help="create calls in flight")
    parser.add_argument("--notifications", type=int, default=3000, help="notifications to deliver")
    parser.add_argument("--receivers", type=int, default=200, help="long-polling receiver threads")
    parser.add_argument(
        "--output", type=Path, default=Path(__file__).parent / "results" / "emulator_throughput.json"
    )
    args = parser.parse_args()

    with EmulatorProcess(projects=[PROJECT], task_duration=3600) as emu:
        for key in ("in/doc.docx", "in/a.jpg", "in/v.mp4"):
            emu.put_object("bench", key, b"benchmark source")
        creates = asyncio.run(
            measure_creates(emu, calls=args.creates, concurrency=args.concurrency, notify_topic=None)
        )
        counters_after_creates = emu.admin("GET", "/_emulator/counters")
        notifications = measure_notifications(emu, tasks=args.notifications, receivers=args.receivers)
        emulator_rss = emu.peak_rss_bytes()

    results = {
        "machine": {"cpus": os.cpu_count()},
        "creates": creates,
        "creates_counted_by_emulator": sum(
            v for k, v in counters_after_creates.items() if k.startswith("imm:Create")
        ),
        "notifications": notifications,
        "emulator_peak_rss_mb": round(emulator_rss / 2**20, 1) if emulator_rss else None,
        "targets": {
            "creates_per_second": {
                "target": TARGET_PER_SECOND,
                "met": creates["per_second"] >= TARGET_PER_SECOND,
            },
            "notifications_per_second": {
                "target": TARGET_PER_SECOND,
                "met": notifications["per_second"] >= TARGET_PER_SECOND
                and notifications["received"] == notifications["notifications"],
            },
        },
    }
    write_results(args.output, results)
    print(
        f"Create*Task: {creates['per_second']} calls/s ({creates['calls']} calls, "
        f"{creates['failures']} failures, concurrency {args.concurrency})"
    )
    print(
        f"notifications: {notifications['per_second']} delivered/s to {args.receivers} long-polling "
        f"receivers ({notifications['received']}/{notifications['notifications']} received)"
    )
    for name, target in results["targets"].items():
        print(f"target {name} >= {target['target']}: {'met' if target['met'] else 'NOT MET'}")
    print(f"written to {args.output}")
    return 0 if all(t["met"] for t in results["targets"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
