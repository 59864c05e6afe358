"""Wait, deferred, for an IMM task to end: on its MNS notification, with IMM's task API as the safety net.

IMM publishes a task's end to an MNS topic; a queue subscribed to it is read by ONE shared
listener per triggerer (:mod:`airflow_provider_imm.triggers.mns_listener`), so a thousand waiting
tasks cost one long-poll loop, not a thousand. IMM's task information stays the source of truth:
beside the listener, ONE reconciler per connection and project
(:mod:`airflow_provider_imm.triggers.reconciler`) checks each wait on start (the task may have
ended before it ran, or while the triggerer was down), batched with the others, then settles every
wait whose task ended with ListTasks rounds, so a lost or foreign notification delays a task by at
most the reconciliation interval and never loses it. Where the reconciler cannot serve, the trigger
checks alone with GetTask, rarely and with jitter. Without a queue it polls GetTask instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import random
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_imm import sdk
from airflow_provider_imm.hooks.connection import DEFAULT_CONN_ID
from airflow_provider_imm.hooks.errors import TRANSIENT_KINDS
from airflow_provider_imm.outcome import FINAL_STATUSES, ImmTaskOutcome, LearnedFrom, WaitResult, iso_utc
from airflow_provider_imm.triggers.intervals import DEFAULT_POLL_INTERVAL, DEFAULT_RECONCILE_INTERVAL
from airflow_provider_imm.triggers.mns_listener import (
    ListenerKey,
    ListenerRegistry,
    QueueClientFactory,
    Registration,
)
from airflow_provider_imm.triggers.notification_channel import NotificationChannel
from airflow_provider_imm.triggers.reconciler import ReconcilerKey, ReconcilerRegistry, Ticket

if TYPE_CHECKING:
    from airflow_provider_imm.hooks.connection import ImmConnectionSettings
    from airflow_provider_imm.hooks.credentials import CredentialPool
    from airflow_provider_imm.hooks.imm import ImmHook
    from airflow_provider_imm.utils.notification_parsing import ImmNotification


#: ``status`` of the event: how the wait ended.
EventStatus = WaitResult
#: ``source`` of the event: what told the trigger.
EventSource = LearnedFrom

#: Longest a failing or throttled GetTask pushes the next one back, as a multiple of the interval.
MAX_BACKOFF_FACTOR = 8
#: Time allowed for the last GetTask when the deadline is reached.
FINAL_CHECK_TIMEOUT = 10.0
#: How long a connection fetched for one trigger is reused by the others of the same process.
HOOK_TTL = 300.0
#: Most seconds one GetTask retries in the triggerer, whatever the connection's ``retry_max_seconds``:
#: a failed check is simply made again later, and a retrying one holds one of the GetTask slots.
GET_TASK_RETRY_SECONDS = 15.0
#: GetTask calls in flight per triggerer: a thousand triggers starting together neither stall the
#: event loop (each call costs some CPU) nor burst into IMM's flow control.
MAX_CONCURRENT_GET_TASK = 16
#: Triggers setting up at once per triggerer: when thousands wait for the same connection, they
#: resume a batch per loop iteration rather than all in one long iteration.
MAX_CONCURRENT_STARTS = 64


class _ImmWaitTrigger(BaseTrigger):
    """What every IMM wait holds and serialises besides what it waits for (:meth:`_own_kwargs`):
    the connection's id, the project, the queue, the deadline and the intervals."""

    def __init__(
        self,
        *,
        project: str | None,
        imm_conn_id: str,
        mns_queue: str | None,
        deadline: float | str | None,
        reconcile_interval: float,
        poll_interval: float,
    ) -> None:
        super().__init__()
        if reconcile_interval <= 0 or poll_interval <= 0:
            raise ValueError("reconcile_interval and poll_interval must be positive")
        self.project = project
        self.imm_conn_id = imm_conn_id
        self.mns_queue = mns_queue or None
        self.deadline = parse_deadline(deadline)
        self.reconcile_interval = float(reconcile_interval)
        self.poll_interval = float(poll_interval)

    def _own_kwargs(self) -> dict[str, Any]:
        raise NotImplementedError

    async def _wait(self) -> dict[str, Any]:
        raise NotImplementedError

    def _release(self, *, finished: bool) -> None:
        raise NotImplementedError

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                **self._own_kwargs(),
                "project": self.project,
                "imm_conn_id": self.imm_conn_id,
                "mns_queue": self.mns_queue,
                "deadline": self.deadline,
                "reconcile_interval": self.reconcile_interval,
                "poll_interval": self.poll_interval,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            event = await self._wait()
        finally:
            self._release(finished=False)
        yield TriggerEvent(event)

    async def cleanup(self) -> None:
        """Deregister from the listener; the IMM tasks themselves keep running (IMM cannot cancel them)."""
        self._release(finished=False)


class ImmTaskCompletedTrigger(_ImmWaitTrigger):
    """Fires once when IMM task ``task_id`` ends, fails to be looked up, or ``deadline`` passes.

    :param task_id: the IMM TaskId (``<TaskType>-<uuid>``).
    :param task_type: its TaskType, as GetTask wants it (``OfficeConversion``, ``FaceClustering``...).
    :param project: the IMM project (default: the connection's ``project`` extra).
    :param imm_conn_id: the ``imm`` connection; the trigger holds its id, never its secrets.
    :param mns_queue: the MNS queue IMM's notifications reach; None to poll GetTask.
    :param rocketmq_topic: instead, the RocketMQ topic they reach (read with the connection's consumer
        group; see :mod:`~airflow_provider_imm.triggers.rocketmq_consumer`).
    :param deadline: when to stop waiting: epoch seconds or an ISO-8601 time; None waits forever.
    :param reconcile_interval: seconds between reconciliation rounds while notifications are awaited
        (the shared reconciler runs at the shortest interval of its waits; alone, GetTask checks).
    :param poll_interval: seconds between GetTask checks without a queue.

    The event's payload: ``status`` (``succeeded``, ``failed``, ``timeout``, ``error``), ``imm_status``
    (IMM's ``Status`` when known), ``code`` and ``message`` (IMM's, or the error's), ``task_id``,
    ``task_type``, ``project``, ``start_time`` and ``end_time`` (ISO-8601 in UTC, or None), and ``source``:
    ``notification``, ``get_task`` or ``list_tasks`` (shared reconciliation) for an end,
    ``deadline`` for a timeout, ``get_task`` or ``connection`` for an error.
    """

    def __init__(
        self,
        *,
        task_id: str,
        task_type: str,
        project: str | None = None,
        imm_conn_id: str = DEFAULT_CONN_ID,
        mns_queue: str | None = None,
        deadline: float | str | None = None,
        rocketmq_topic: str | None = None,
        reconcile_interval: float = DEFAULT_RECONCILE_INTERVAL,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> None:
        if not task_id or not task_type:
            raise ValueError("task_id and task_type are required")
        super().__init__(
            project=project,
            imm_conn_id=imm_conn_id,
            mns_queue=mns_queue,
            deadline=deadline,
            reconcile_interval=reconcile_interval,
            poll_interval=poll_interval,
        )
        # Not ``self.task_id``: BaseTrigger uses that name for the Airflow task.
        self.imm_task_id = task_id
        self.task_type = task_type
        self.rocketmq_topic = rocketmq_topic or None
        self._registration: Registration | None = None
        self._ticket: Ticket | None = None

    def _own_kwargs(self) -> dict[str, Any]:
        return {
            "task_id": self.imm_task_id,
            "task_type": self.task_type,
            # Only when set: triggers serialised before RocketMQ existed keep their shape.
            **({"rocketmq_topic": self.rocketmq_topic} if self.rocketmq_topic else {}),
        }

    async def on_kill(self) -> None:
        """IMM has no cancel operation: only local resources are released."""
        self._release(finished=False)

    # The wait
    async def _wait(self) -> dict[str, Any]:
        async with _start_slots():
            try:
                shared = await _shared_for(self.imm_conn_id, self.project)
            except Exception as err:
                return self._error_event(err, "connection", ())
            settings = shared.settings
            self.project = self.project or settings.project
            channel = shared.channel(self.mns_queue, self.rocketmq_topic)
            if channel is not None:
                # Registered BEFORE the first GetTask: a notification arriving in between is kept.
                self._registration = channel.register(self.imm_task_id, self.reconcile_interval)
                # Checked and reconciled with the other waits of this project (it may answer "alone").
                self._ticket = shared.reconcile(
                    self.project, self.imm_task_id, self.task_type, self.reconcile_interval
                )
            else:
                self.log.warning(
                    "IMM task %s: %s, polling GetTask every %.0f s",
                    self.imm_task_id,
                    f"connection {self.imm_conn_id!r} names no MNS endpoint"
                    if self.mns_queue
                    else f"connection {self.imm_conn_id!r} names no RocketMQ topic {self.rocketmq_topic!r}"
                    if self.rocketmq_topic
                    else "no MNS queue configured",
                    self.poll_interval,
                )
            waiter = _Waiter(self, shared.hook, self._registration, settings.secrets, self._ticket)
        return await waiter.wait()

    def _release_ticket(self) -> None:
        ticket, self._ticket = self._ticket, None
        if ticket is not None:
            ticket.close()

    def _release(self, *, finished: bool) -> None:
        self._release_ticket()
        registration, self._registration = self._registration, None
        if registration is not None:
            registration.close(finished=finished)

    # Events
    def _event(
        self,
        status: EventStatus,
        source: EventSource,
        *,
        code: str = "",
        message: str = "",
    ) -> dict[str, Any]:
        """A wait that ended without IMM's end: the deadline, or an error."""
        return ImmTaskOutcome(
            task_id=self.imm_task_id,
            task_type=self.task_type,
            project=self.project,
            result=status,
            learned_from=source,
            code=code,
            message=message,
        ).to_event()

    def _error_event(
        self, err: BaseException, source: EventSource, secrets: tuple[str, ...]
    ) -> dict[str, Any]:
        code, message = describe_error(err, secrets)
        return self._event("error", source, code=code, message=message)

    def _finished_event(self, info: dict[str, Any], source: EventSource) -> dict[str, Any]:
        return ImmTaskOutcome.from_task_info(
            info,
            task_id=self.imm_task_id,
            task_type=self.task_type,
            project=self.project,
            learned_from=source,
        ).to_event()

    def _notification_event(self, notification: ImmNotification) -> dict[str, Any]:
        return ImmTaskOutcome(
            task_id=self.imm_task_id,
            task_type=self.task_type,
            project=self.project,
            status=notification.status.value,
            code=notification.code,
            message=notification.message,
            start_time=iso_utc(notification.start_time),
            end_time=iso_utc(notification.end_time),
            learned_from="notification",
        ).to_event()

    def _trusts(self, notification: ImmNotification) -> bool:
        """A notification counts only for the task it names, in this project. Never rejected on its
        TaskType alone: the TaskId names one task already, and not every action's TaskType is
        confirmed (CreateFigureClustersMergingTask's is not; see reference/imm-api.md)."""
        if notification.task_id != self.imm_task_id or notification.project not in (None, self.project):
            return False
        if notification.task_type not in (None, self.task_type):
            self.log.debug(
                "IMM task %s: its notification names TaskType %.100r, not %r; matched by TaskId",
                self.imm_task_id,
                notification.task_type,
                self.task_type,
            )
        return True


@dataclass
class _Check:
    """What one GetTask said: the task's information, or the error it raised."""

    info: dict[str, Any] | None = None
    error: BaseException | None = None

    @property
    def final(self) -> bool:
        return self.info is not None and self.info.get("Status") in FINAL_STATUSES

    @property
    def transient(self) -> bool:
        """Throttling, a 5xx or the network: worth asking again later, not worth failing the task."""
        return self.error is not None and getattr(self.error, "kind", None) in TRANSIENT_KINDS


@dataclass(eq=False)
class _Waiter:
    """One trigger's wait: notification | reconciliation GetTask | deadline, whichever comes first."""

    trigger: ImmTaskCompletedTrigger
    hook: ImmHook
    registration: Registration | None
    secrets: tuple[str, ...]
    #: The shared reconciler's answer for this wait; None once the trigger checks on its own.
    ticket: Ticket | None = None
    failures: int = field(default=0, init=False)
    checked: bool = field(default=False, init=False)

    @property
    def interval(self) -> float:
        """Between GetTask checks: the reconciliation interval while notifications may come."""
        trigger = self.trigger
        return trigger.reconcile_interval if self.registration is not None else trigger.poll_interval

    async def wait(self) -> dict[str, Any]:
        trigger = self.trigger
        loop = asyncio.get_running_loop()
        notified: asyncio.Task[ImmNotification] | None = None
        check: asyncio.Task[_Check] | None = None if self.ticket else asyncio.ensure_future(self._get_task())
        reconciled = self.ticket.outcome if self.ticket else None
        next_check = float("inf")
        try:
            while True:
                if notified is None and self.registration is not None:
                    notified = asyncio.ensure_future(self.registration.notifications.get())
                pending: set[asyncio.Future[Any]] = {
                    t for t in (notified, check, reconciled) if t is not None
                }
                wake_at = _loop_time_of(trigger.deadline, loop)
                if check is None and reconciled is None:
                    wake_at = min(wake_at, next_check)
                timeout = None if wake_at == float("inf") else max(0.0, wake_at - loop.time())
                done: set[asyncio.Future[Any]] = set()
                if pending:
                    done, _ = await asyncio.wait(
                        pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                    )
                else:
                    await asyncio.sleep(timeout or 0.0)
                if notified is not None and notified in done:
                    notification = notified.result()
                    notified = None
                    if trigger._trusts(notification):
                        self._finish(known=True)
                        return trigger._notification_event(notification)
                    trigger.log.warning(
                        "IMM task %s: ignored a notification naming project %.100r",
                        trigger.imm_task_id,
                        notification.project,
                    )
                if reconciled is not None and reconciled in done:
                    outcome = reconciled.result()
                    reconciled = None
                    if outcome.info is not None:
                        self._finish(known=True)
                        return trigger._finished_event(dict(outcome.info), outcome.source)
                    if outcome.error is not None:
                        return trigger._error_event(outcome.error, outcome.source, self.secrets)
                    # The shared path cannot serve this wait: check on its own, as without it.
                    self.ticket = None
                    trigger._release_ticket()
                    check = asyncio.ensure_future(self._get_task())
                if check is not None and check in done:
                    result = check.result()
                    check = None
                    if result.final:
                        assert result.info is not None
                        self._finish(known=True)
                        return trigger._finished_event(result.info, "get_task")
                    if result.error is not None and not result.transient:
                        return trigger._error_event(result.error, "get_task", self.secrets)
                    next_check = loop.time() + self._next_delay(result)
                now = loop.time()
                if trigger.deadline is not None and now >= _loop_time_of(trigger.deadline, loop):
                    if check is not None:
                        check.cancel()
                        check = None
                    return await self._at_deadline()
                if check is None and reconciled is None and now >= next_check:
                    check = asyncio.ensure_future(self._get_task())
        finally:
            for task in (notified, check):
                if task is not None and not task.done():
                    task.cancel()

    async def _at_deadline(self) -> dict[str, Any]:
        """One last GetTask, so a task that ended unnoticed is not reported as timed out."""
        trigger = self.trigger
        with contextlib.suppress(asyncio.TimeoutError):
            result = await asyncio.wait_for(self._get_task(), FINAL_CHECK_TIMEOUT)
            if result.final:
                assert result.info is not None
                self._finish(known=True)
                return trigger._finished_event(result.info, "get_task")
        deadline = datetime.fromtimestamp(trigger.deadline or time.time(), tz=timezone.utc)
        return trigger._event(
            "timeout",
            "deadline",
            code="DeadlineExceeded",
            message=f"IMM task {trigger.imm_task_id} had not ended at the deadline {deadline.isoformat()}",
        )

    async def _get_task(self) -> _Check:
        trigger = self.trigger
        try:
            async with _get_task_slots():
                info = await self.hook.aget_task(trigger.project, trigger.task_type, trigger.imm_task_id)
        except asyncio.CancelledError:
            raise
        except Exception as err:
            return _Check(error=err)
        return _Check(info=info)

    def _next_delay(self, result: _Check) -> float:
        """The interval, jittered so that triggers started together do not ask together; longer
        while GetTask fails or is throttled, and never shorter than a retry-after IMM asked for."""
        first, self.checked = not self.checked, True
        if result.error is None:
            self.failures = 0
            # Triggers often start together (a DAG run fans out): spread their first checks widely.
            return self.interval * (random.uniform(0.5, 1.0) if first else random.uniform(0.8, 1.2))
        self.failures += 1
        self.trigger.log.warning(
            "IMM task %s: GetTask failed (%s); asking again later",
            self.trigger.imm_task_id,
            getattr(result.error, "code", type(result.error).__name__),
        )
        delay = self.interval * min(MAX_BACKOFF_FACTOR, 2 ** (self.failures - 1)) * random.uniform(0.8, 1.2)
        retry_after = getattr(result.error, "retry_after", None)
        return max(delay, float(retry_after)) if retry_after else delay

    def _finish(self, *, known: bool) -> None:
        self.trigger._release(finished=known)


def parse_deadline(value: float | int | str | datetime | None) -> float | None:
    """Epoch seconds from epoch seconds (number or numeric string), an ISO-8601 time or a datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return float(value)
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValueError(f"deadline {value!r} is neither epoch seconds nor an ISO-8601 time") from None
        return parse_deadline(parsed)
    raise TypeError(f"deadline must be epoch seconds or an ISO-8601 string, got {type(value).__name__}")


def _loop_time_of(epoch: float | None, loop: asyncio.AbstractEventLoop) -> float:
    return float("inf") if epoch is None else loop.time() + (epoch - time.time())


def describe_error(err: BaseException, secrets: tuple[str, ...] = ()) -> tuple[str, str]:
    """An error's code and message for an event: hook errors are already free of secrets; anything
    else is scrubbed of the known ones."""
    from airflow_provider_imm.hooks.errors import redact

    code = str(getattr(err, "code", "") or type(err).__name__)
    message = str(err) if _is_hook_error(err) else redact(f"{type(err).__name__}: {err}", secrets)
    return code, message


def _is_hook_error(err: BaseException) -> bool:
    from airflow_provider_imm.hooks.connection import ImmConnectionConfigError
    from airflow_provider_imm.hooks.errors import ImmApiError, MnsApiError

    return isinstance(err, ImmApiError | MnsApiError | ImmConnectionConfigError)


# Sharing across the triggers of one process (one event loop)
class _Shared:
    """What every trigger of one connection shares: the hook (one connection fetch, one IMM client)
    and, per queue, the listener key (digesting credentials once, not once per trigger)."""

    def __init__(self, hook: ImmHook, settings: ImmConnectionSettings) -> None:
        self.hook = hook
        self.settings = settings
        self._keys: dict[str, tuple[ListenerKey, QueueClientFactory]] = {}

    def listener_key(self, queue: str) -> tuple[ListenerKey, QueueClientFactory]:
        """Which listener reads ``queue`` for this connection, and how it gets its MNS client."""
        if queue not in self._keys:
            from airflow_provider_imm.hooks.mns import MnsHook

            mns = MnsHook(self.hook.imm_conn_id, settings=self.settings)
            key = ListenerKey.build(mns.endpoint, queue, self.settings.credential_identity)
            self._keys[queue] = (key, lambda: mns)
        return self._keys[queue]

    def reconcile(self, project: str | None, task_id: str, task_type: str, interval: float) -> Ticket | None:
        """Register with the project's shared reconciler; None without a project (GetTask then says
        what is missing)."""
        if not project:
            return None
        key = ReconcilerKey(self.settings.imm_endpoint, self.settings.credential_identity, project)
        return ReconcilerRegistry.current().reconciler(key, self.hook).register(task_id, task_type, interval)

    def channel(self, mns_queue: str | None, rocketmq_topic: str | None) -> NotificationChannel | None:
        """The shared reader a trigger registers with: the RocketMQ consumer of the connection's topic
        and group, or the listener of the MNS queue; None when notifications cannot come."""
        rocketmq = self.settings.rocketmq
        if rocketmq_topic and rocketmq is not None and rocketmq.topic == rocketmq_topic:
            from airflow_provider_imm.hooks.rocketmq import simple_consumer_factory
            from airflow_provider_imm.triggers.rocketmq_consumer import ConsumerKey, ConsumerRegistry

            registry = ConsumerRegistry.current()
            consumer_key = ConsumerKey(rocketmq.endpoint, rocketmq.topic, rocketmq.group, rocketmq.identity)
            factory = simple_consumer_factory(rocketmq, registry.settings.await_seconds)
            return registry.consumer(consumer_key, factory)
        if mns_queue and self.settings.mns_endpoint:
            key, mns_factory = self.listener_key(mns_queue)
            return ListenerRegistry.current().listener(key, mns_factory)
        return None


_SharedEntry = tuple[float, "asyncio.Future[_Shared]"]
_shared: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str | None], _SharedEntry]] = (
    weakref.WeakKeyDictionary()
)


async def _shared_for(conn_id: str, project: str | None) -> _Shared:
    """Created once per connection and reused a while, so a thousand triggers starting together
    fetch the connection once."""
    cache = _shared.setdefault(asyncio.get_running_loop(), {})
    key = (conn_id, project)
    entry = cache.get(key)
    if entry is None or time.monotonic() - entry[0] > HOOK_TTL:
        entry = cache[key] = (time.monotonic(), asyncio.ensure_future(_new_shared(conn_id, project)))
    try:
        return await asyncio.shield(entry[1])
    except Exception:
        if cache.get(key) is entry:
            del cache[key]  # the next trigger tries again
        raise


async def _new_shared(conn_id: str, project: str | None) -> _Shared:
    # Imports on the loop would stall every trigger of the process; done on a thread, the loop keeps
    # running. A no-op once imported. The SDK modules are those the connection's calls need (the IMM
    # SDK only if the environment selects it: see hooks/rpc.py), known once its settings are.
    await asyncio.to_thread(_preload)
    from airflow_provider_imm.hooks.imm import ImmHook
    from airflow_provider_imm.hooks.rpc import first_call_modules

    # The connection's retry settings, with a shorter budget; its credentials outlive the renewal.
    hook = ImmHook(
        conn_id,
        project=project,
        max_retry_seconds=GET_TASK_RETRY_SECONDS,
        credential_pool=_credential_pool(),
    )
    settings = await hook.aget_settings()
    await asyncio.to_thread(sdk.preload, first_call_modules(settings))
    return _Shared(hook, settings)


_credential_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, CredentialPool] = (
    weakref.WeakKeyDictionary()
)


def _credential_pool() -> CredentialPool:
    """The running loop's credentials, one client per connection, kept across hook renewals."""
    from airflow_provider_imm.hooks.credentials import CredentialPool

    return _credential_pools.setdefault(asyncio.get_running_loop(), CredentialPool())


def _preload() -> None:
    for module in _HOOK_MODULES:
        importlib.import_module(module)


#: The provider's modules a first trigger needs besides the SDKs.
_HOOK_MODULES = (
    "airflow_provider_imm.hooks.imm",
    "airflow_provider_imm.hooks.mns",
    "airflow_provider_imm.utils.notification_parsing",
)

_semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary()
)


def _limit(name: str, size: int) -> asyncio.Semaphore:
    """A semaphore shared by the triggers of the running loop."""
    limits = _semaphores.setdefault(asyncio.get_running_loop(), {})
    if name not in limits:
        limits[name] = asyncio.Semaphore(size)
    return limits[name]


def _get_task_slots() -> asyncio.Semaphore:
    return _limit("get_task", MAX_CONCURRENT_GET_TASK)


def _start_slots() -> asyncio.Semaphore:
    return _limit("start", MAX_CONCURRENT_STARTS)
