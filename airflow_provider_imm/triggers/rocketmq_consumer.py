"""One RocketMQ ``SimpleConsumer`` per endpoint, topic and consumer group in a triggerer process.

The RocketMQ counterpart of :mod:`~airflow_provider_imm.triggers.mns_listener`: every
:class:`~airflow_provider_imm.triggers.imm.ImmTaskCompletedTrigger` of one event loop whose
connection names RocketMQ registers its TaskId with the :class:`RocketMqConsumer` of its key, which
long-polls in batches on one worker thread (the official client is synchronous) and hands each
notification to the registration waiting for it (:mod:`notification_channel`). Per message:

* awaited here: handed over, then acked. Only what was handed to a waiting trigger is acked (and
  late copies of a notification this consumer already handed over: duplicates);
* anything else (another triggerer's task, an unreadable body): given back with
  ChangeInvisibleDuration, visible again at once the first time so another consumer of the group
  gets it, then hidden for 1, 3, 7... seconds (capped, jittered) so that a message nobody wants does
  not spin (:func:`~airflow_provider_imm.triggers.notification_channel.orphan_hiding`); acked once older
  than ``orphan_grace`` (GetTask reconciliation makes that safe). Where the service refuses a
  duration of 0 (the proxy's minimum is undocumented for this call) the message is left as the
  receive hid it: back after ``invisible_seconds``.

Errors back off exponentially and are logged once per streak; meanwhile triggers finish through
GetTask reconciliation. The loop, and the consumer with it, ends when nobody waits.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from airflow_provider_imm.triggers.notification_channel import (
    LEAVE,
    LoopRegistry,
    ReaderSettings,
    ReaderStats,
    SharedReader,
    orphan_hiding,
)

if TYPE_CHECKING:
    from airflow_provider_imm.utils.notification_parsing import ImmNotification

log = logging.getLogger(__name__)

#: Makes a started ``SimpleConsumer`` (:func:`airflow_provider_imm.hooks.rocketmq.simple_consumer_factory`).
ConsumerFactory = Callable[[], Any]


@dataclass(frozen=True)
class ConsumerSettings(ReaderSettings):
    """Tuning of the RocketMQ receive loop; defaults suit production, tests shorten them."""

    #: Long-poll wait of one receive, seconds (the consumer's ``await_duration``).
    await_seconds: int = 20
    #: How long a received message stays hidden from the group, seconds (the service's minimum is 10).
    invisible_seconds: int = 30


@dataclass(frozen=True)
class ConsumerKey:
    """Identifies one consumer: endpoint, topic, group and a secret-free digest of the credentials."""

    endpoint: str
    topic: str
    group: str
    identity: str

    def __str__(self) -> str:
        return f"rocketmq://{self.endpoint}/{self.topic}?group={self.group}"


@dataclass
class ConsumerStats(ReaderStats):
    """Counters for logs, tests and benchmarks: the shared ones and RocketMQ's own."""

    acked: int = 0


class RocketMqConsumer(SharedReader[ConsumerKey, ConsumerSettings, ConsumerStats]):
    """The receive loop of one topic and group on one event loop. Use :meth:`ConsumerRegistry.consumer`."""

    describe = "RocketMQ consumer"
    task_name = "imm-rocketmq"
    stats_type = ConsumerStats

    def __init__(
        self,
        key: ConsumerKey,
        factory: ConsumerFactory,
        settings: ConsumerSettings,
        parser: Callable[[Any], ImmNotification | None] | None = None,
    ) -> None:
        super().__init__(key, settings, parser)
        self._factory = factory
        #: Unjittered: each failure waits the full exponential step.
        self._backoff = settings.backoff(jitter=_no_jitter)
        # The client blocks: one thread receives (long polls), one acks and gives back meanwhile.
        self._receiver: concurrent.futures.ThreadPoolExecutor | None = None
        self._upkeeper: concurrent.futures.ThreadPoolExecutor | None = None
        self._client: Any = None
        #: Pools told to stop, the receive one possibly finishing a long poll; joined by :meth:`aclose`.
        self._stopped: list[concurrent.futures.ThreadPoolExecutor] = []

    def _loop_ended(self, task: asyncio.Task[None]) -> None:
        """As every reader's; besides, a loop that ended as a trigger registered during its shutdown
        starts again for it."""
        super()._loop_ended(task)
        if not task.cancelled() and task.exception() is None and self._waiters.waiting and not self._closing:
            self._start()

    async def _release(self) -> None:
        """Join the pools (the receive one possibly finishing a long poll); the loop shut the client down."""
        stopped, self._stopped = self._stopped, []
        for pool in stopped:
            await asyncio.to_thread(pool.shutdown, wait=True)

    # The loop
    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        self._receiver = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="imm-rocketmq-receive")
        self._upkeeper = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="imm-rocketmq-upkeep")
        upkeep: list[asyncio.Future[None]] = []
        try:
            while self._waiters.waiting and not self._closing:
                try:
                    messages = await loop.run_in_executor(self._receiver, self._receive)
                except Exception as err:
                    await self._failed(err)
                    continue
                self._recovered()
                self.stats.receives += 1
                self.stats.received += len(messages)
                upkeep = [f for f in upkeep if not f.done()]
                for message in messages:
                    upkeep.append(
                        loop.run_in_executor(self._upkeeper, self._settle, message, self._decide(message))
                    )
                if messages and len(messages) < self.settings.batch_size and self._waiters.waiting:
                    await asyncio.sleep(self.settings.receive_pause)
            await asyncio.gather(*upkeep, return_exceptions=True)
        finally:
            client, self._client = self._client, None
            receiver, upkeeper = self._receiver, self._upkeeper
            if client is not None:
                await loop.run_in_executor(upkeeper, _shutdown, client)
            for pool in (receiver, upkeeper):
                if pool is not None:
                    pool.shutdown(wait=False)
                    self._stopped.append(pool)
            log.debug("RocketMQ consumer for %s stopped", self.key)

    def _receive(self) -> list[Any]:
        """On the receive thread: the client is made (and started) here on first use."""
        if self._client is None:
            self._client = self._factory()
        return list(self._client.receive(self.settings.batch_size, self.settings.invisible_seconds))

    def _decide(self, message: Any) -> int | None:
        """On the loop: hand over what is awaited. None: ack; else seconds to hide it for (or LEAVE)."""
        born = getattr(message, "born_timestamp", None) or 0
        if self._claim(message.body, born or None):
            return None
        attempt = int(getattr(message, "delivery_attempt", None) or 1)
        return orphan_hiding(attempt, None, self.settings.orphan_max_hidden)

    def _settle(self, message: Any, hidden: int | None) -> None:
        """On the upkeep thread: ack, or give back; a failure only means the message comes back later."""
        client = self._client
        if client is None or hidden == LEAVE:
            return
        try:
            if hidden is None:
                client.ack(message)
                self.stats.acked += 1
            else:
                client.change_invisible_duration(message, hidden)
                self.stats.returned += 1
        except Exception as err:
            self.stats.errors += 1
            log.debug(
                "RocketMQ %s: settling a message failed (%s); it comes back later", self.key, _describe(err)
            )

    async def _failed(self, err: BaseException) -> None:
        self.stats.errors += 1
        first = self._backoff.failed()
        delay = self._backoff.next_delay()
        if first:
            log.warning(
                "RocketMQ %s: receive failed (%s); retrying in %.1f s with backoff, triggers meanwhile "
                "learn of their tasks' ends through GetTask",
                self.key,
                _describe(err),
                delay,
            )
        if self._client is None or "route" in str(err):
            client, self._client = self._client, None  # a fresh client on the next attempt
            if client is not None:
                await asyncio.get_running_loop().run_in_executor(self._upkeeper, _shutdown, client)
        await asyncio.sleep(delay)

    def _recovered(self) -> None:
        streak = self._backoff.recovered()
        if streak is not None:
            log.info("RocketMQ %s: receiving again after %d failures", self.key, streak[0])


class ConsumerRegistry(LoopRegistry[ConsumerSettings]):
    """The RocketMQ consumers of one event loop (a triggerer process runs all its triggers on one loop)."""

    settings_type = ConsumerSettings

    def consumer(self, key: ConsumerKey, factory: ConsumerFactory) -> RocketMqConsumer:
        return self._open_member(key, partial(RocketMqConsumer, key, factory, self.settings))

    @property
    def consumers(self) -> list[RocketMqConsumer]:
        return list(self._members.values())


def _no_jitter() -> float:
    return 1.0


def _shutdown(client: Any) -> None:
    with contextlib.suppress(Exception):
        client.shutdown()


def _describe(err: BaseException) -> str:
    """Type and a short message; the client's messages carry no credentials, but stay short."""
    return f"{type(err).__name__}: {str(err)[:200]}"
