"""Wait, deferred, for every IMM task of a batch to end: one trigger, thousands of TaskIds.

Where the TaskIds live while the trigger waits: nowhere in Airflow. The trigger's kwargs hold the
batch's tag (``airflow-batch``, see :mod:`airflow_provider_imm.operators.batch_plan`), its TaskType,
the number of items and the deadline: a few hundred bytes whatever the batch's size. On start (and
so after a triggerer restart, which re-creates the trigger from those kwargs) it lists the batch's
tasks with ListTasks ``TagSelector`` (pages of 100: 100 calls for 10,000 items), keeps each item's
newest task, and waits for those still running on the shared MNS listener (one registration per
TaskId) and the shared reconciler (one ticket per TaskId), which together settle them whether the
notification comes, is lost, or came while no triggerer ran. IMM is the store, and it is the one
that cannot disagree with itself.

Where the reconciler cannot serve (it answers "alone": ListTasks refused, a shared path turned off)
or there is no MNS queue, the trigger falls back on its own: it lists the batch by its tag again
every interval, which costs a page per 100 items, not a GetTask per item.

The event is as small as the kwargs: how the wait ended and counts. The operator lists the batch
again on resuming to build the per-item manifest.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_imm.hooks.connection import DEFAULT_CONN_ID
from airflow_provider_imm.operators.batch_plan import BATCH_TAG, latest_per_item
from airflow_provider_imm.outcome import FINAL_STATUSES, MAX_TEXT
from airflow_provider_imm.triggers.imm import _ImmWaitTrigger, _shared_for, _start_slots, describe_error
from airflow_provider_imm.triggers.intervals import DEFAULT_POLL_INTERVAL, DEFAULT_RECONCILE_INTERVAL

if TYPE_CHECKING:
    from airflow_provider_imm.hooks.imm import ImmHook
    from airflow_provider_imm.triggers.imm import _Shared
    from airflow_provider_imm.triggers.mns_listener import Registration
    from airflow_provider_imm.triggers.reconciler import Outcome, Ticket

__all__ = ["ImmBatchCompletedTrigger"]

#: Pauses before listing the batch again when it shows fewer tasks than items (a listing may lag
#: behind a creation; IMM does not document how long): about 30 s in all, then the wait goes on
#: with what was found and the operator reports the rest as missing.
DISCOVERY_PAUSES = (1.0, 2.0, 4.0, 8.0, 15.0)

BatchWaitResult = Literal["ended", "timeout", "error"]


class ImmBatchCompletedTrigger(_ImmWaitTrigger):
    """Fires once when every task of batch ``batch`` has ended, the deadline passes, or listing fails.

    :param batch: the batch's ``airflow-batch`` tag.
    :param task_type: the tasks' TaskType.
    :param expected: the number of items (tasks the batch should show).
    :param project: the IMM project; :param imm_conn_id: the ``imm`` connection (its id only).
    :param mns_queue: the MNS queue IMM's notifications reach; None to list the batch every
        ``poll_interval``.
    :param deadline: epoch seconds (or ISO-8601) to stop waiting at; None waits as long as IMM runs.
    :param reconcile_interval: passed to the shared reconciler, and the fallback's listing interval.

    Event: ``status`` (``ended``, ``timeout``, ``error``), ``batch``, ``expected``, ``found`` (items
    with a task), ``running`` (items not ended), ``code`` and ``message`` (for an error).
    """

    def __init__(
        self,
        *,
        batch: str,
        task_type: str,
        expected: int,
        project: str | None = None,
        imm_conn_id: str = DEFAULT_CONN_ID,
        mns_queue: str | None = None,
        deadline: float | str | None = None,
        reconcile_interval: float = DEFAULT_RECONCILE_INTERVAL,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> None:
        if not batch or not task_type:
            raise ValueError("batch and task_type are required")
        super().__init__(
            project=project,
            imm_conn_id=imm_conn_id,
            mns_queue=mns_queue,
            deadline=deadline,
            reconcile_interval=reconcile_interval,
            poll_interval=poll_interval,
        )
        self.batch = batch
        self.task_type = task_type
        self.expected = int(expected)
        self._waits: dict[str, _TaskWait] = {}
        #: The connection's secrets once known, scrubbed from an error's message.
        self._secrets: tuple[str, ...] = ()

    def _own_kwargs(self) -> dict[str, Any]:
        return {"batch": self.batch, "task_type": self.task_type, "expected": self.expected}

    def _release(self, *, finished: bool = False) -> None:
        waits, self._waits = self._waits, {}
        for wait in waits.values():
            wait.close(finished=finished)

    def _event(
        self, status: BatchWaitResult, *, found: int = 0, running: int = 0, code: str = "", message: str = ""
    ) -> dict[str, Any]:
        return {
            "status": status,
            "batch": self.batch,
            "expected": self.expected,
            "found": found,
            "running": running,
            "code": code[:MAX_TEXT],
            "message": message[:MAX_TEXT],
        }

    # The wait
    async def _wait(self) -> dict[str, Any]:
        async with _start_slots():
            try:
                shared = await _shared_for(self.imm_conn_id, self.project)
                self._secrets = shared.settings.secrets
                self.project = self.project or shared.settings.project
                latest = await self._discover(shared.hook)
            except Exception as err:
                return self._error(err)
        running = {tid for tid, status in latest.items() if status not in FINAL_STATUSES}
        found = len(latest)
        self.log.info(
            "IMM batch %s: %d of %d items have a task, %d still running",
            self.batch,
            found,
            self.expected,
            len(running),
        )
        ended: asyncio.Queue[str] = asyncio.Queue()
        shared_path = bool(self.mns_queue and shared.settings.mns_endpoint)
        alone = not shared_path
        for tid in running:
            wait = self._waits[tid] = _TaskWait(tid, ended)
            if shared_path:
                wait.start(shared, self, self.mns_queue or "")
                alone = alone or wait.alone
        interval = self.reconcile_interval if shared_path else self.poll_interval
        loop = asyncio.get_running_loop()
        next_listing = loop.time() + interval
        while running:
            wake_at = next_listing if alone else float("inf")
            if self.deadline is not None:
                wake_at = min(wake_at, loop.time() + (self.deadline - time.time()))
            timeout = None if wake_at == float("inf") else max(0.0, wake_at - loop.time())
            task_id: str | None
            try:
                task_id = await asyncio.wait_for(ended.get(), timeout)
            except asyncio.TimeoutError:
                task_id = None
            if task_id == "":
                alone = True  # a wait the reconciler cannot serve: listing takes over
                continue
            if task_id:
                running.discard(task_id)
                done = self._waits.pop(task_id, None)
                if done is not None:
                    done.close(finished=True)
                continue
            if alone and loop.time() >= next_listing:
                running -= await self._ended_by_listing(shared.hook, running)
                next_listing = loop.time() + interval
            if self.deadline is not None and time.time() >= self.deadline and running:
                running -= await self._ended_by_listing(shared.hook, running)
                if running:
                    return self._event(
                        "timeout",
                        found=found,
                        running=len(running),
                        code="DeadlineExceeded",
                        message=f"{len(running)} of the batch's tasks had not ended at the deadline",
                    )
        return self._event("ended", found=found)

    async def _list(self, hook: ImmHook) -> dict[str, str]:
        """Each item's newest task of the batch: TaskId -> Status."""
        tasks = await hook.afind_tasks({BATCH_TAG: self.batch}, self.project, task_types=[self.task_type])
        return {str(t["TaskId"]): str(t.get("Status")) for t in latest_per_item(tasks).values()}

    async def _discover(self, hook: ImmHook) -> dict[str, str]:
        latest = await self._list(hook)
        for pause in DISCOVERY_PAUSES:
            if len(latest) >= self.expected:
                break
            await asyncio.sleep(pause)
            latest = await self._list(hook)
        return latest

    async def _ended_by_listing(self, hook: ImmHook, running: set[str]) -> set[str]:
        """The running tasks a listing of the batch shows ended; none when listing fails (next time)."""
        try:
            latest = await self._list(hook)
        except Exception as err:
            self.log.warning(
                "IMM batch %s: listing its tasks failed (%s); trying again later", self.batch, err
            )
            return set()
        done = {tid for tid in running if latest.get(tid) in FINAL_STATUSES}
        for task_id in done:
            wait = self._waits.pop(task_id, None)
            if wait is not None:
                wait.close(finished=True)
        return done

    def _error(self, err: BaseException) -> dict[str, Any]:
        code, message = describe_error(err, self._secrets)
        return self._event("error", code=code, message=message)


class _TaskWait:
    """One TaskId's registration with the listener and the reconciler; puts the TaskId on ``ended``
    once either says the task ended, or an empty string when the reconciler cannot serve it."""

    def __init__(self, task_id: str, ended: asyncio.Queue[str]) -> None:
        self.task_id = task_id
        self.ended = ended
        self.alone = False
        self.registration: Registration | None = None
        self.ticket: Ticket | None = None
        self.notified: asyncio.Future[Any] | None = None
        self.reported = False

    def start(self, shared: _Shared, trigger: ImmBatchCompletedTrigger, queue: str) -> None:
        channel = shared.channel(queue, None)
        if channel is None:  # the connection lost its MNS endpoint: the batch's listing serves
            self.alone = True
            return
        self.registration = channel.register(self.task_id, trigger.reconcile_interval)
        self.notified = asyncio.ensure_future(self.registration.notifications.get())
        self.notified.add_done_callback(self._on_notification)
        self.ticket = shared.reconcile(
            trigger.project, self.task_id, trigger.task_type, trigger.reconcile_interval
        )
        if self.ticket is None:
            self.alone = True
        else:
            self.ticket.outcome.add_done_callback(self._on_outcome)

    def _report(self) -> None:
        if not self.reported:
            self.reported = True
            self.ended.put_nowait(self.task_id)

    def _on_notification(self, future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and future.exception() is None:
            self._report()

    def _on_outcome(self, future: asyncio.Future[Outcome]) -> None:
        if future.cancelled():
            return
        outcome = future.result()
        if outcome.info is not None and outcome.info.get("Status") in FINAL_STATUSES:
            self._report()
        else:
            # "Wait alone", or an error GetTask gave for this task: the trigger's listing settles it.
            self.alone = True
            self.ended.put_nowait("")

    def close(self, *, finished: bool) -> None:
        if self.notified is not None and not self.notified.done():
            self.notified.cancel()
        if self.ticket is not None:
            self.ticket.close()
            self.ticket = None
        if self.registration is not None:
            self.registration.close(finished=finished)
            self.registration = None
