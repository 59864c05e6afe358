"""An emulator with a watcher queue subscribed to the topic OSS events go to, and ways to run watchers
as a triggerer does (its own ``run()`` loop, or Airflow 3.3's shared stream in ack mode)."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import json
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from airflow_provider_imm.emulator import ImmEmulator
from airflow_provider_imm.triggers import mns_event
from airflow_provider_imm.triggers.mns_event import MnsEventTrigger
from tests.emulated_imm import connect
from tests.oss_objects import put_object
from tests.sdk_clients import mns_account_for

#: OSS events and IMM notifications go to this topic; the watcher's queue is subscribed to it.
TOPIC = "imm-events"
WATCH_QUEUE = "imm-watch"
BUCKET = "docs"
#: Airflow 3.3's shared streams (absent from 3.2: there the watchers run their own loops).
HAS_SHARED_STREAMS = importlib.util.find_spec("airflow.triggers.shared_stream") is not None
#: Short waits so each test takes seconds; the rules are the production ones.
FAST_WATCH = dataclasses.replace(
    mns_event.WATCHER_SETTINGS,
    wait_seconds=1,
    receive_pause=0.05,
    orphan_max_hidden=1,
    backoff_initial=0.1,
    backoff_cap=0.5,
)


@dataclass
class Watch:
    emulator: ImmEmulator
    conn_id: str
    queue: str = WATCH_QUEUE

    def trigger(self, **kwargs: Any) -> MnsEventTrigger:
        kwargs.setdefault("source", "oss")
        return MnsEventTrigger(mns_queue=self.queue, imm_conn_id=self.conn_id, **kwargs)

    def upload(self, key: str, data: bytes = b"a document") -> None:
        put_object(self.emulator, f"oss://{BUCKET}/{key}", data)

    def send(self, body: str) -> None:
        from mns.queue import Message

        queue = mns_account_for(self.emulator).get_queue(self.queue)
        queue.set_encoding(False)
        queue.send_message(Message(body))

    def messages(self) -> int:
        """Messages still in the queue, visible or hidden."""
        attributes = mns_account_for(self.emulator).get_queue(self.queue).get_attributes()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return int(attributes.active_messages) + int(attributes.inactive_messages)

    def receives(self) -> int:
        return self.emulator.counters.get("mns", "BatchReceiveMessage") + self.emulator.counters.get(
            "mns", "ReceiveMessage"
        )


@pytest.fixture
def watch(emulator: ImmEmulator, monkeypatch: pytest.MonkeyPatch) -> Watch:
    """OSS events of ``docs`` -> topic -> the watcher queue (visibility 2 s), fast watcher settings."""
    from mns.queue import QueueMeta

    from airflow_provider_imm.hooks.mns import MnsHook

    monkeypatch.setattr(mns_event, "WATCHER_SETTINGS", FAST_WATCH)
    monkeypatch.setattr(mns_event, "HOLD_SECONDS", 0.5)
    conn_id = connect(emulator, monkeypatch, mns_topic=TOPIC, mns_queue="airflow-imm")
    MnsHook(conn_id).ensure_notification_channel(TOPIC, WATCH_QUEUE, "imm-watch-sub")
    meta = QueueMeta()
    meta.set_visibilitytimeout(2)
    mns_account_for(emulator).get_queue(WATCH_QUEUE).set_attributes(meta)
    emulator.add_oss_event_rule("uploads", topic=TOPIC, bucket=BUCKET)
    emulator.counters.reset()
    return Watch(emulator, conn_id)


@dataclass
class Running:
    """Watchers running; ``events`` fill in as they fire (payloads, per watcher)."""

    events: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    #: Persist confirmations not given yet (ack mode): (trigger index, seq).
    unconfirmed: list[int] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    confirm: Callable[[], None] = lambda: None

    def payloads(self, index: int = 0) -> list[dict[str, Any]]:
        return self.events.get(index, [])

    def keys(self, index: int = 0) -> list[str]:
        return [p["key"] for p in self.payloads(index)]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@dataclass
class Runner:
    """Runs watchers one way: ``standalone`` (each its own ``run()``) or ``shared`` (3.3 ack mode)."""

    mode: str
    manager: Any = None
    auto_confirm: bool = True

    async def start(self, *triggers: MnsEventTrigger) -> Running:
        running = Running()
        for index, trigger in enumerate(triggers):
            running.events[index] = []
            stream = trigger.run() if self.mode == "standalone" else self._shared(index, trigger, running)
            running.tasks.append(asyncio.ensure_future(_collect(stream, running.events[index])))
        if self.mode == "shared":
            running.confirm = lambda: self._confirm(running)
        return running

    def _shared(self, index: int, trigger: MnsEventTrigger, running: Running) -> AsyncIterator[Any]:
        from airflow.triggers.shared_stream import SharedStreamManager

        if self.manager is None:
            self.manager = SharedStreamManager(ack_timeout=30.0)
        manager = self.manager
        key = trigger.shared_stream_key()
        raw = manager.subscribe(trigger_id=index, trigger=trigger, key=key)

        async def events() -> AsyncIterator[Any]:
            async for event in trigger.filter_shared_stream(raw):
                # As the triggerer does: bind the event to its raw message, store it, confirm.
                seq = manager.bind_pending_event(trigger_id=index, key=key)
                if seq is not None:
                    running.unconfirmed.append(seq)
                    if self.auto_confirm:
                        self._confirm(running)
                yield event

        return events()

    def _confirm(self, running: Running) -> None:
        seqs, running.unconfirmed[:] = list(running.unconfirmed), []
        self.manager.confirm_persisted(seqs)

    async def close(self) -> None:
        if self.manager is not None:
            await self.manager.stop_all()


async def _collect(stream: AsyncIterator[Any], into: list[dict[str, Any]]) -> None:
    async for event in stream:
        into.append(event.payload)


#: The ways a triggerer runs watchers on this Airflow: always standalone; shared where 3.3's exist.
MODES = ["standalone", "shared"] if HAS_SHARED_STREAMS else ["standalone"]


@pytest.fixture(params=MODES)
async def runner(request: pytest.FixtureRequest) -> AsyncIterator[Runner]:
    runner = Runner(request.param)
    yield runner
    await runner.close()


async def eventually(check: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.05)


def oss_body(key: str, *, bucket: str = BUCKET, event: str = "ObjectCreated:PutObject") -> str:
    """OSS's event message for one object, as a test sends it straight into the queue."""
    return json.dumps(
        {
            "events": [
                {
                    "eventName": event,
                    "eventSource": "acs:oss",
                    "eventTime": "2026-11-29T12:00:00.000Z",
                    "oss": {"bucket": {"name": bucket}, "object": {"key": key, "size": 1, "eTag": "E"}},
                }
            ]
        }
    )


class StateStoreSupervisor:
    """The triggerer's side of Airflow 3.3's asset state store, in memory: what Airflow's real
    ``AssetStateStoreAccessors`` (the ``asset_state_store`` a triggerer gives each asset watcher)
    sends through ``SUPERVISOR_COMMS``, answered from a dict, as the metadata database would.
    ``rows`` outlives triggerers: a restarted one reads what a killed one wrote."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], Any] = {}
        #: Requests by kind (``SetAssetStateStoreByName``, ...): each is a round trip in a triggerer.
        self.requests: Counter[str] = Counter()

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from airflow.sdk.execution_time import task_runner

        monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", self, raising=False)

    def store_for(self, trigger: MnsEventTrigger, *assets: str) -> None:
        """As the triggerer does for a watcher of ``assets`` (one trigger may watch several)."""
        from airflow.sdk import Asset
        from airflow.sdk.execution_time.context import AssetStateStoreAccessors

        trigger.asset_state_store = AssetStateStoreAccessors(
            inlets=[Asset(name=asset, uri=f"s3://x/{asset}") for asset in assets]
        )  # type: ignore[attr-defined]

    async def asend(self, msg: Any) -> Any:
        from airflow.sdk.exceptions import ErrorType
        from airflow.sdk.execution_time import comms

        kind = type(msg).__name__
        self.requests[kind] += 1
        if kind == "GetAssetStateStoreByName":
            if (msg.name, msg.key) not in self.rows:
                return comms.ErrorResponse(error=ErrorType.ASSET_STORE_NOT_FOUND)
            return comms.AssetStateStoreResult(value=self.rows[msg.name, msg.key])
        if kind == "SetAssetStateStoreByName":
            self.rows[msg.name, msg.key] = msg.value
        elif kind == "DeleteAssetStateStoreByName":
            self.rows.pop((msg.name, msg.key), None)
        else:
            raise AssertionError(f"unexpected request {kind}")
        return comms.OKResponse(ok=True)
