"""An emulator with the IMM -> topic -> queue channel, a connection to it, and fast listener settings."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from airflow.models import Connection
from alibabacloud_imm20200930 import models as imm_models
from alibabacloud_imm20200930.client import Client as ImmClient
from mns.account import Account
from mns.mns_common import TopicHelper
from mns.queue import QueueMeta
from mns.subscription import SubscriptionMeta
from mns.topic import TopicMessage, TopicMeta

from airflow_provider_imm.emulator import DEFAULT_PROJECT, ImmEmulator
from airflow_provider_imm.triggers.imm import ImmTaskCompletedTrigger
from airflow_provider_imm.triggers.mns_listener import ListenerRegistry, ListenerSettings

TOPIC = "imm-events"
QUEUE = "airflow-imm"
BUCKET = "docs"
_ids = itertools.count()
#: How a task created or finished with a status other than Succeeded fails.
FAILURE = {"code": "InvalidDocument", "message": "The document is damaged."}

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


@dataclass
class Imm:
    """The emulator seen from a test: create tasks, publish to the topic, read the queue."""

    emulator: ImmEmulator
    conn_id: str
    client: ImmClient
    account: Account

    async def create_task(
        self, duration: float | None = 0.2, status: str = "Succeeded", topic: str = TOPIC
    ) -> str:
        """An OfficeConversion task that ends after ``duration`` s (None: when finished by hand)."""
        behaviour: dict[str, Any] = {"duration": duration}
        if status != "Succeeded":
            behaviour.update(status=status, **FAILURE)
        request = imm_models.CreateOfficeConversionTaskRequest(
            project_name=DEFAULT_PROJECT,
            source_uri=f"oss://{BUCKET}/in/report.docx",
            target_type="pdf",
            target_uri=f"oss://{BUCKET}/out/{{barename}}.{{autoext}}",
            notification=imm_models.Notification(mns=imm_models.MNS(topic_name=topic)),
            user_data=json.dumps({"imm-emulator": behaviour}),
        )
        response = await self.client.create_office_conversion_task_async(request)
        return str(response.body.task_id)

    def finish(self, task_id: str, status: str = "Succeeded") -> None:
        """End a task created with ``duration=None`` now, as ``create_task`` would have with ``status``."""
        failure = FAILURE if status != "Succeeded" else {}
        if not self.emulator.imm.finish_task(task_id, status=status, **failure):
            raise AssertionError(f"task {task_id} had already ended")

    def trigger(self, task_id: str, **kwargs: Any) -> ImmTaskCompletedTrigger:
        params: dict[str, Any] = {
            "task_type": "OfficeConversion",
            "project": DEFAULT_PROJECT,
            "imm_conn_id": self.conn_id,
            "mns_queue": QUEUE,
            "reconcile_interval": 60.0,
        }
        params.update(kwargs)
        return ImmTaskCompletedTrigger(task_id=task_id, **params)

    def publish(self, body: str) -> None:
        self.account.get_topic(TOPIC).publish_message(TopicMessage(body))

    def queue_messages(self) -> int:
        """Messages still in the queue, visible or in flight (nothing here is sent delayed)."""
        attributes = self.account.get_queue(QUEUE).get_attributes()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the SDK deprecates its own getters
            return int(attributes.active_messages) + int(attributes.inactive_messages)

    def get_task_calls(self) -> int:
        return self.emulator.counters.get("imm", "GetTask")


@pytest.fixture
def imm(
    emulator: ImmEmulator, imm_client: ImmClient, mns_account: Account, monkeypatch: pytest.MonkeyPatch
) -> Imm:
    mns_account.get_queue(QUEUE).create(QueueMeta())
    topic = mns_account.get_topic(TOPIC)
    topic.create(TopicMeta())
    endpoint = TopicHelper.generate_queue_endpoint(emulator.region, emulator.account_id, QUEUE)
    topic.get_subscription("airflow").subscribe(SubscriptionMeta(endpoint, notify_content_format="JSON"))
    emulator.oss.put(BUCKET, "in/report.docx", b"a document")

    conn_id = f"imm_trigger_{next(_ids)}"
    extras = {
        "endpoint": emulator.endpoint,
        "protocol": "http",
        "region": emulator.region,
        "project": DEFAULT_PROJECT,
        "mns_endpoint": emulator.url,
        "account_id": emulator.account_id,
    }
    conn = Connection(
        conn_id=conn_id,
        conn_type="imm",
        login=emulator.access_key_id,
        password=emulator.access_key_secret,
        extra=json.dumps(extras),
    )
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", conn.as_json())
    emulator.counters.reset()
    return Imm(emulator, conn_id, imm_client, mns_account)


@pytest.fixture
async def registry() -> AsyncIterator[ListenerRegistry]:
    """This test's event loop stands for one triggerer process, with fast listener settings."""
    registry = ListenerRegistry.install(FAST)
    yield registry
    await registry.aclose()
    leftovers = [t.name for t in threading.enumerate() if t.name.startswith("imm-mns-listener")]
    assert not leftovers, f"listener threads still running: {leftovers}"


async def run_trigger(trigger: ImmTaskCompletedTrigger, timeout: float = 15.0) -> dict[str, Any]:
    """Run ``trigger`` as the triggerer does and return its one event's payload."""

    async def collect() -> list[Any]:
        return [event async for event in trigger.run()]

    events = await asyncio.wait_for(collect(), timeout)
    assert len(events) == 1
    return dict(events[0].payload)


async def start_triggers(
    imm: Imm,
    registry: ListenerRegistry,
    *triggers: ImmTaskCompletedTrigger,
    get_task_calls: int | None = None,
    timeout: float = 15.0,
) -> list[asyncio.Task[dict[str, Any]]]:
    """Run ``triggers`` as :func:`run_trigger` does; return once each one that has a queue is registered
    with the listener and GetTask has reached IMM ``get_task_calls`` times (default: once more per trigger).

    A task the test ends afterwards ends while they wait, however loaded the machine: its end is then
    learnt the way the test arranges (notification, reconciliation), never from a first GetTask that
    happened to come after it. Await the returned tasks for the events.
    """
    calls = imm.get_task_calls() + len(triggers) if get_task_calls is None else get_task_calls
    registered = _waiting(registry) + sum(1 for t in triggers if t.mns_queue)
    running = [asyncio.ensure_future(run_trigger(t, timeout)) for t in triggers]

    def started() -> bool:
        # A trigger that ended already has nothing to wait for: awaiting it shows the test why.
        return any(r.done() for r in running) or (
            imm.get_task_calls() >= calls and _waiting(registry) >= registered
        )

    try:
        await eventually(started, timeout)
    except BaseException:
        for task in running:
            task.cancel()
        raise
    return running


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
