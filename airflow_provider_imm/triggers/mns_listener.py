"""One MNS long-poll loop per queue in a triggerer process, however many triggers wait on it.

A thousand deferred tasks must not mean a thousand receive loops: every
:class:`~airflow_provider_imm.triggers.imm.ImmTaskCompletedTrigger` of one event loop registers its
TaskId with the :class:`QueueListener` of its queue (key: endpoint, a digest of the credentials'
identity, queue name), which receives in batches on one worker thread and hands each notification to
the registration waiting for it.

What happens to each received message (bodies as in ``reference/notifications.md``):

* An IMM notification for a TaskId registered here is handed to every registration of that TaskId,
  then deleted. Deletes are coalesced into batch calls (at most ``delete_delay`` late).
* A notification for a TaskId whose trigger here has already ended (a duplicate) is deleted at once.
* A notification for any other TaskId (an orphan) goes back to the queue: visible again at once the
  first time it is received, so another triggerer, or a trigger about to register here, gets it;
  hidden for longer on each further receive (about 1, 3, 7, ... seconds, jittered, capped at
  ``orphan_max_hidden``) so that a message nobody wants does not spin. It is deleted only once older
  than ``orphan_grace`` (by enqueue time; GetTask reconciliation makes that safe), never for how
  often it was received: that count depends on the queue's visibility timeout and on other
  consumers, and a rule on it deleted messages minutes before their grace on a queue hiding for 2 s.

  Giving a message back costs one request (MNS has no batch form of ChangeMessageVisibility), and a
  message made visible at once is the oldest in the queue: returned while the queue still holds a
  backlog, it would be received again before the newer messages behind it, so a flood of foreign
  messages would be gone over several times before the awaited notification. So returns wait until
  a receive finds the backlog drained (or ``return_delay`` has passed, or the loop stops); the
  receive itself keeps them hidden meanwhile. After the first receive, where the queue's own
  visibility timeout is no shorter than the backoff and within the cap (MNS's default of 30 s, with
  the default cap), a message is left hidden as the receive left it: no request at all; on a queue
  with a shorter timeout it is hidden for the backoff, so it is not received every few seconds.
  A foreign message thus costs one ChangeMessageVisibility and a share of a batch receive per
  visibility timeout. The jitter keeps two triggerers holding each other's notifications from
  re-polling in lock-step (the emulator, like a fair queue, hands a message to the receiver that
  has waited longest).

  Returns never hold up a receive: they run on ``return_workers`` threads of their own, each with its
  own client (the SDK is one connection and not thread-safe), while the receive thread goes on. Sent
  one after another on the receive thread, 2,000 returns at a region's 20 ms per request held
  receiving for 40 s, and the awaited notification was never received before reconciliation ended
  its wait. Giving back only a few per receive would bound that wait but add receives (a cost per
  message) and still delay the notification behind a flood. Not giving back at all would cost
  another triggerer up to the visibility timeout on every notification it is handed, the common
  case with two triggerers, not only in a flood. Measured by ``benchmarks/listener_flood.py`` at
  20 ms per request, 2,000 foreign messages ahead: the awaited notification 3-4 s after its task
  ended (2.5 s of it the 125 receives themselves), every foreign message back within about 15 s
  with 4 return threads (inside MNS's default 30 s visibility timeout and far inside the 300 s
  reconcile interval), about 1.07 requests per foreign message.
* A body that is not an IMM notification, or is malformed, follows the orphan rule (another consumer
  of a shared queue may understand it) and is logged once per message, without its content.

MNS errors back off exponentially (jittered, capped) and are logged once per streak, however often
the loop stops and starts meanwhile; a queue that does not exist is named with the fix and the delay
to expect. Meanwhile the triggers still finish through GetTask reconciliation. The loop ends when
nobody waits and starts again with the next registration. The synchronous MNS SDK only ever runs
on the listener's own worker threads (one receiving, up to ``return_workers`` giving back, each
with its own client, per active listener), so the event loop never blocks and the thread count
does not grow with the number of triggers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from airflow_provider_imm.triggers.notification_channel import (
    LEAVE,
    Backoff,
    LoopRegistry,
    ReaderSettings,
    ReaderStats,
    Registration,
    SharedReader,
    orphan_hiding,
)
from airflow_provider_imm.utils.mns_message import MnsMessage

if TYPE_CHECKING:
    from airflow_provider_imm.utils.notification_parsing import ImmNotification

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Error code MNS answers a receive with when nothing arrived during the wait.
EMPTY_QUEUE_CODE = "MessageNotExist"
#: ... and when the queue does not exist (a wrong ``mns_queue``, or a channel never set up).
NO_QUEUE_CODE = "QueueNotExist"
#: What MNS answers a visibility change with once the handle has lapsed (the message is back).
_LAPSED_HANDLE_CODES = frozenset({"MessageNotExist", "ReceiptHandleError"})
#: What :meth:`QueueListener._classify` decides besides seconds to hide a message for (or LEAVE).
_DELETE = -1


#: A received message as :class:`~airflow_provider_imm.hooks.mns.MnsHook` returns it.
ReceivedMessage = MnsMessage


class QueueClient(Protocol):
    """Blocking access to MNS queues (what ``MnsHook`` offers); used from the worker thread only."""

    def receive(self, queue: str | None = None, *, wait_seconds: int, max_messages: int) -> Sequence[Any]:
        """Long-poll for up to ``max_messages`` :class:`ReceivedMessage`; empty when none arrived."""
        ...

    def delete(self, receipt_handles: Iterable[str], queue: str | None = None) -> Sequence[Any]:
        """Batch delete; returns the handles refused (expired ones)."""
        ...

    def change_visibility(
        self, receipt_handle: str, visibility_timeout: int, queue: str | None = None
    ) -> Any:
        """Make a received message visible again after ``visibility_timeout`` seconds."""
        ...


#: Builds a :class:`QueueClient`; called on the worker thread (the MNS SDK is not thread-safe).
QueueClientFactory = Callable[[], QueueClient]

#: Turns a message body into a notification, or None when it is not an IMM notification.
NotificationParser = Callable[[Any], "ImmNotification | None"]


@dataclass(frozen=True)
class ListenerSettings(ReaderSettings):
    """Tuning of the MNS receive loop; defaults suit production, tests shorten them."""

    #: Long-poll wait of one receive, seconds (MNS allows 0..30).
    wait_seconds: int = 20
    #: Longest a handed-over message waits for its (batched) delete, seconds.
    delete_delay: float = 1.0
    #: Longest orphans wait to be given back while receives still find a backlog, seconds; 0 gives
    #: them back right after each receive (the behaviour before this setting, kept for comparison).
    return_delay: float = 2.0
    #: Threads (each with its own MNS client) giving orphans back while the receive thread receives;
    #: 0 gives them back on the receive thread before the next receive (as before, for comparison).
    return_workers: int = 4


@dataclass(frozen=True)
class ListenerKey:
    """Identifies one listener: same endpoint, same credentials, same queue. Holds no secret."""

    endpoint: str
    queue: str
    identity: str

    @classmethod
    def build(cls, endpoint: str, queue: str, identity: str) -> ListenerKey:
        """``identity`` is the connection's secret-free ``credential_identity`` digest."""
        return cls(endpoint.rstrip("/"), queue, identity)

    def __str__(self) -> str:
        return f"{self.endpoint}/queues/{self.queue}"


@dataclass
class ListenerStats(ReaderStats):
    """Counters for logs, tests and benchmarks: the shared ones and MNS's own."""

    deleted: int = 0
    #: Orphans left hidden for the queue's own visibility timeout (no request).
    left: int = 0
    requests: int = 0
    loops_started: int = 0


class _ThreadState:
    """The client of one run, created and used on that run's worker thread only."""

    def __init__(self, factory: QueueClientFactory) -> None:
        self.factory = factory
        self.client: QueueClient | None = None

    def call(self, fn: Callable[[QueueClient], T]) -> T:
        if self.client is None:
            self.client = self.factory()
        return fn(self.client)


def _receive(queue: str, params: tuple[int, int], client: QueueClient) -> list[ReceivedMessage]:
    batch, wait = params
    return list(client.receive(queue, wait_seconds=wait, max_messages=batch))


def _delete(queue: str, handles: Sequence[str], client: QueueClient) -> set[str]:
    """Batch delete; the receipt handles MNS refused (expired: those messages come back)."""
    return {getattr(failure, "receipt_handle", "") for failure in client.delete(handles, queue)}


def _change_visibility(queue: str, params: tuple[str, int], client: QueueClient) -> None:
    client.change_visibility(params[0], params[1], queue)


@dataclass(frozen=True)
class _Lane:
    """A worker thread and the client that only it uses."""

    worker: _WorkerThread
    state: _ThreadState

    async def run(self, fn: Callable[[QueueClient], T]) -> T:
        """``fn`` on this lane's thread, with its client."""
        return await self.worker.submit(partial(self.state.call, fn))


@dataclass(frozen=True)
class _Return:
    """An orphan to give back: its handle, seconds to hide it for, and when its handle lapses."""

    receipt_handle: str
    hidden: int
    expires: float


def log_recovered(key: object, backoff: Backoff) -> None:
    """A receive succeeded: end the streak of failures, saying how long it lasted."""
    streak = backoff.recovered()
    if streak is not None:
        log.warning("MNS queue %s: receiving again after %d failures over %.1f s", key, *streak)


def first_sighting(seen: OrderedDict[str, None], message_id: str, memory: int = 10_000) -> bool:
    """True the first time ``message_id`` is seen (of the last ``memory``): log a message once."""
    if message_id in seen:
        return False
    seen[message_id] = None
    if len(seen) > memory:
        seen.popitem(last=False)
    return True


def queue_visibility(message: ReceivedMessage) -> float | None:
    """The queue's visibility timeout, seconds, from a first receive (both times are the server's:
    their difference is the timeout); None when the message does not tell."""
    seconds = (message.next_visible_time - message.first_dequeue_time) / 1000
    return seconds if 0 < seconds <= 43200 else None


class SightedMessage(Protocol):
    """What the log says of a message: a received one, or the asset watchers' view of one."""

    @property
    def message_id(self) -> str: ...
    @property
    def body(self) -> str: ...
    @property
    def dequeue_count(self) -> int: ...


@dataclass
class QueueUpkeep:
    """Deleting and giving back the messages a reader of one MNS queue received, and saying once
    what it leaves to others or cannot do: a message nobody here wants is logged once however often
    it comes back, and a failing upkeep call once per streak (a RAM policy without the action makes
    every message come back forever; a line per message would bury the cause)."""

    key: ListenerKey
    settings: ListenerSettings
    stats: ListenerStats
    #: The reader's own: its lines carry its name.
    logger: logging.Logger
    #: What a redelivered message costs the reader, for the warning (empty: nothing to add).
    redelivered: str = ""
    _seen: OrderedDict[str, None] = field(default_factory=OrderedDict, init=False)
    _failing: set[str] = field(default_factory=set, init=False)

    async def delete(self, lane: _Lane, handles: Sequence[str]) -> set[str] | None:
        """Delete in one batch call; the handles MNS refused (expired), or None when the call failed.
        Either way those messages come back, and are handled (and deleted) again."""
        self.stats.requests += 1
        try:
            refused = await lane.run(partial(_delete, self.key.queue, handles))
        except Exception as err:
            self.failed("BatchDeleteMessage", err)
            return None
        self.stats.deleted += len(handles) - len(refused)
        self.works("BatchDeleteMessage")
        return refused

    async def give_back(self, lane: _Lane, receipt_handle: str, hidden: int) -> None:
        """Hide a received message for ``hidden`` seconds more (0: visible at once)."""
        self.stats.requests += 1
        try:
            await lane.run(partial(_change_visibility, self.key.queue, (receipt_handle, hidden)))
        except Exception as err:
            if _error_code(err) in _LAPSED_HANDLE_CODES:
                return  # its visibility timeout ended first: it is back anyway
            # The message comes back by itself when its visibility timeout ends.
            lane.state.client = None  # reconnect: the connection may be broken
            self.failed("ChangeMessageVisibility", err)
            return
        self.stats.returned += 1
        self.works("ChangeMessageVisibility")

    def left(self, message: SightedMessage, why: str, level: int = logging.WARNING) -> None:
        """Say once per message that it is left to other consumers of the queue, and for how long."""
        if not first_sighting(self._seen, message.message_id):
            return
        self.logger.log(
            level,
            "MNS queue %s: message %s (%d characters, received %d times) %s; left for other consumers, "
            "deleted after %.0f s",
            self.key,
            message.message_id,
            len(message.body),
            message.dequeue_count,
            why,
            self.settings.orphan_grace,
        )

    def failed(self, action: str, err: BaseException) -> None:
        if action in self._failing:
            self.logger.debug("MNS queue %s: %s failed again: %s", self.key, action, _describe(err))
            return
        self._failing.add(action)
        self.logger.warning(
            "MNS queue %s: %s failed (%s); the messages come back and are handled again%s; check the "
            "credentials' MNS permissions",
            self.key,
            action,
            _describe(err),
            self.redelivered,
        )

    def works(self, action: str) -> None:
        if action in self._failing:
            self._failing.discard(action)
            self.logger.info("MNS queue %s: %s works again", self.key, action)


class QueueListener(SharedReader[ListenerKey, ListenerSettings, ListenerStats]):
    """The receive loop of one queue on one event loop. Use :meth:`ListenerRegistry.listener`."""

    describe = "MNS listener"
    task_name = "imm-mns-listener"
    stats_type = ListenerStats

    def __init__(
        self,
        key: ListenerKey,
        client_factory: QueueClientFactory,
        settings: ListenerSettings,
        parser: NotificationParser | None = None,
    ) -> None:
        super().__init__(key, settings, parser)
        self._client_factory = client_factory
        self._waiting = self._waiters.waiting
        self._upkeep = QueueUpkeep(key, settings, self.stats, log)
        self._pending_deletes: list[str] = []
        self._oldest_pending: float = 0.0
        self._pending_returns: list[_Return] = []
        self._oldest_return: float = 0.0
        #: Orphans due to be given back, and the tasks giving them back, one per return lane.
        self._due_returns: deque[_Return] = deque()
        self._returners: dict[int, asyncio.Task[None]] = {}
        self._return_lanes: dict[int, _Lane] = {}
        #: The last receive drained the queue's backlog (fewer messages than a full batch).
        self._caught_up = True
        #: The queue's visibility timeout, seconds, as learnt from first receives; None until known.
        self._visibility: float | None = None
        self._lane: _Lane | None = None
        #: Threads told to stop, possibly still finishing a long poll; joined by :meth:`aclose`.
        self._stopped: list[_WorkerThread] = []
        self._wakeup = asyncio.Event()
        #: Kept across runs: a streak of failures (a queue that does not exist, say) is logged once
        #: however often the loop stops and starts again with new triggers meanwhile.
        self._backoff = settings.backoff()

    def _unregister(self, registration: Registration, *, finished: bool) -> None:
        super()._unregister(registration, finished=finished)
        if not self._waiting:
            self._wakeup.set()

    def _start(self) -> None:
        self.stats.loops_started += 1
        self._wakeup = asyncio.Event()
        super()._start()

    def _wake(self) -> None:
        self._wakeup.set()

    async def _release(self) -> None:
        await self._release_thread(wait=True)

    # The loop
    async def _run(self) -> None:
        settings = self.settings
        backoff = self._backoff
        self._lane = self._new_lane("")
        log.debug("MNS listener for %s started", self.key)
        try:
            while True:
                while self._waiting and not self._closing:
                    await self._flush_deletes(force=False)
                    await self._release_returns(force=False)
                    try:
                        messages = await self._call(partial(_receive, self.key.queue, self._receive_wait()))
                    except Exception as err:
                        if _error_code(err) == EMPTY_QUEUE_CODE:
                            messages = []
                        else:
                            await self._failed(err, backoff)
                            continue
                    self._recovered(backoff)
                    self.stats.receives += 1
                    self.stats.received += len(messages)
                    self._caught_up = len(messages) < settings.batch_size
                    self._handle(messages)
                    # Before the pause: it gives another consumer's poll the time to take them.
                    returned = await self._release_returns(force=False)
                    if self._caught_up and (returned or messages) and self._waiting:
                        await self._pause(settings.receive_pause)
                await self._flush_deletes(force=True)
                await self._release_returns(force=True)
                await asyncio.gather(*self._returners.values())
                # A trigger may have registered during the flush; from here on nothing awaits, so
                # a later registration finds this task done and starts a new one.
                if not self._waiting or self._closing:
                    break
        finally:
            for returner in self._returners.values():
                returner.cancel()  # only when the run itself was cancelled: else all are done
            self._returners = {}
            await self._release_thread(wait=False)
            log.debug("MNS listener for %s stopped", self.key)

    def _receive_wait(self) -> tuple[int, int]:
        """Batch size and long-poll wait; none while orphans wait to be given back (an empty
        receive is what lets them go), shorter when deletes are due soon."""
        wait = self.settings.wait_seconds
        if self._pending_returns:
            wait = 0
        elif self._pending_deletes:
            due = self._oldest_pending + self.settings.delete_delay - time.monotonic()
            wait = max(0, min(wait, int(due + 0.999)))
        return self.settings.batch_size, wait

    def _handle(self, messages: list[ReceivedMessage]) -> None:
        now = time.monotonic()
        for message in messages:
            if message.dequeue_count == 1:
                self._learn_visibility(message)
            action = self._classify(message)
            if action == _DELETE:
                self._queue_delete(message.receipt_handle)
            elif action == LEAVE:
                self.stats.left += 1
            else:
                if not self._pending_returns:
                    self._oldest_return = now
                # The handle lapses when the receive's hiding ends: from then on the message is back.
                expires = now + (self._visibility if self._visibility is not None else float("inf"))
                self._pending_returns.append(_Return(message.receipt_handle, action, expires))

    def _learn_visibility(self, message: ReceivedMessage) -> None:
        self._visibility = queue_visibility(message) or self._visibility

    def _classify(self, message: ReceivedMessage) -> int:
        """Hand over what is awaited; say whether to delete the message, leave it hidden as the
        receive left it, or give it back hidden for some seconds."""
        unreadable = partial(self._upkeep.left, message, "is not an IMM task notification")
        if self._claim(message.body, message.enqueue_time, unreadable):
            return _DELETE
        return orphan_hiding(message.dequeue_count, self._visibility, self.settings.orphan_max_hidden)

    def _queue_delete(self, receipt_handle: str) -> None:
        if not self._pending_deletes:
            self._oldest_pending = time.monotonic()
        self._pending_deletes.append(receipt_handle)

    async def _flush_deletes(self, *, force: bool) -> None:
        settings = self.settings
        while self._pending_deletes:
            due = time.monotonic() - self._oldest_pending >= settings.delete_delay
            if not (force or due or len(self._pending_deletes) >= settings.batch_size):
                return
            batch = self._pending_deletes[: settings.batch_size]
            del self._pending_deletes[: settings.batch_size]
            self._oldest_pending = time.monotonic()
            # Messages not deleted come back as duplicates and are deleted then.
            await self._upkeep.delete(self._receive_lane(), batch)

    async def _release_returns(self, *, force: bool) -> bool:
        """Hand orphans to the return lanes once the backlog is drained, ``return_delay`` has passed,
        or on stop; True if any was handed over. Waits for them only without return lanes."""
        if not self._pending_returns:
            return False
        due = time.monotonic() - self._oldest_return >= self.settings.return_delay
        if not (force or due or self._caught_up):
            return False
        self._due_returns.extend(self._pending_returns)
        self._pending_returns = []
        if self.settings.return_workers <= 0:
            await self._give_back(None)
            return True
        loop = asyncio.get_running_loop()
        for index in range(self.settings.return_workers):
            running = self._returners.get(index)
            if self._due_returns and (running is None or running.done()):
                self._returners[index] = loop.create_task(self._give_back(index))
        return True

    async def _give_back(self, index: int | None) -> None:
        """Give due orphans back, one request each, on return lane ``index`` (None: the receive
        lane) until none is left."""
        lane = self._receive_lane() if index is None else self._return_lane(index)
        while self._due_returns:
            item = self._due_returns.popleft()
            if time.monotonic() >= item.expires:
                continue  # back in the queue by itself already
            await self._upkeep.give_back(lane, item.receipt_handle, item.hidden)

    async def _pause(self, seconds: float) -> None:
        """Sleep, cut short when the last registration leaves (or the listener closes)."""
        self._wakeup.clear()
        if not self._waiting or self._closing:
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), seconds)

    async def _failed(self, err: BaseException, backoff: Backoff) -> None:
        self.stats.errors += 1
        first = backoff.failed()
        if self._lane is not None:
            self._lane.state.client = None  # reconnect: the connection may be broken
        if first:
            if _error_code(err) == NO_QUEUE_CODE:
                log.warning(
                    "MNS queue %s does not exist: no IMM notification can arrive, so each waiting "
                    "task's end is learnt through GetTask reconciliation, up to %s late (the "
                    "reconcile_interval). Set the connection's extra 'mns_queue' (or the operator's "
                    "mns_queue) to the queue IMM's topic delivers to, or create topic, queue and "
                    "subscription with `imm-setup-notifications`.",
                    self.key,
                    self._reconcile_delay(),
                )
            else:
                log.warning(
                    "MNS queue %s: receive failed (%s); retrying with backoff, waiting triggers fall "
                    "back to GetTask reconciliation",
                    self.key,
                    _describe(err),
                )
        else:
            log.debug("MNS queue %s: receive failed again (%s)", self.key, _describe(err))
        await self._pause(backoff.next_delay())

    def _reconcile_delay(self) -> str:
        """The longest reconciliation interval of the waiting triggers, as words for a log line."""
        intervals = [
            reg.reconcile_interval
            for regs in self._waiting.values()
            for reg in regs
            if reg.reconcile_interval is not None
        ]
        return f"{max(intervals):.0f} s" if intervals else "reconcile_interval seconds"

    def _recovered(self, backoff: Backoff) -> None:
        log_recovered(self.key, backoff)

    def _new_lane(self, suffix: str) -> _Lane:
        """A fresh thread and client: a call abandoned by a cancelled run may still use the old ones."""
        worker = _WorkerThread(f"imm-mns-listener {self.key.queue}{suffix}")
        return _Lane(worker, _ThreadState(self._client_factory))

    def _return_lane(self, index: int) -> _Lane:
        lane = self._return_lanes.get(index)
        if lane is None:
            lane = self._return_lanes[index] = self._new_lane(f" return {index}")
        return lane

    def _receive_lane(self) -> _Lane:
        if self._lane is None:
            raise RuntimeError("listener is not running")
        return self._lane

    async def _call(self, fn: Callable[[QueueClient], T]) -> T:
        """Run ``fn`` on the receive lane."""
        self.stats.requests += 1
        return await self._receive_lane().run(fn)

    async def _release_thread(self, *, wait: bool) -> None:
        lanes = [self._lane, *self._return_lanes.values()]
        self._lane, self._return_lanes = None, {}
        workers = [lane.worker for lane in lanes if lane is not None]
        for worker in workers:
            worker.stop()
        if workers:
            self._stopped = [w for w in self._stopped if w.alive] + workers
        if wait:
            for stopped in self._stopped:
                await asyncio.to_thread(stopped.join)
            self._stopped = []


class _WorkerThread:
    """One daemon thread running blocking calls in order.

    Daemon, so a triggerer that exits during a long poll is not held up by it: the poll is
    abandoned, and whatever it received becomes visible again when its visibility timeout ends.
    """

    def __init__(self, name: str) -> None:
        self._calls: queue.SimpleQueue[tuple[Callable[[], Any], concurrent.futures.Future[Any]] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[], T]) -> asyncio.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._calls.put((fn, future))
        return asyncio.wrap_future(future)

    def stop(self) -> None:
        """The thread ends once the call in progress, if any, returns."""
        self._calls.put(None)

    def join(self) -> None:
        self._thread.join()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _serve(self) -> None:
        while (item := self._calls.get()) is not None:
            fn, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as err:
                future.set_exception(err)


class ListenerRegistry(LoopRegistry[ListenerSettings]):
    """The listeners of one event loop (a triggerer process runs all its triggers on one loop)."""

    settings_type = ListenerSettings

    @classmethod
    def install(cls, settings: ListenerSettings) -> ListenerRegistry:
        """Give the running loop a registry with ``settings``; refused while its listeners run."""
        previous = cls._by_loop.get(asyncio.get_running_loop())
        if previous is not None and any(lst.running for lst in previous._members.values()):
            raise RuntimeError("cannot replace a registry whose listeners are running")
        return super().install(settings)

    def listener(
        self, key: ListenerKey, client_factory: QueueClientFactory, parser: NotificationParser | None = None
    ) -> QueueListener:
        """The listener for ``key``; ``client_factory`` is used only when a new one is created."""
        return self._open_member(key, partial(QueueListener, key, client_factory, self.settings, parser))

    @property
    def listeners(self) -> list[QueueListener]:
        return list(self._members.values())


def _error_code(err: BaseException) -> str:
    return str(getattr(err, "type", "") or getattr(err, "code", "") or type(err).__name__)


def _describe(err: BaseException) -> str:
    """Error code and a short message; never the request (it carries a signature) nor a body."""
    message = str(getattr(err, "message", "") or "")
    if _error_code(err) == "RespDataDamaged":
        message = ""  # its message is the raw response, message bodies included
    return f"{_error_code(err)}: {message[:200]}" if message else _error_code(err)
