"""Submit IMM's asynchronous Create*Task operations and wait, deferred, for them to end.

:class:`ImmCreateTaskOperator` runs any of the 18 actions of :mod:`airflow_provider_imm.catalog`
from a request written with IMM's own field names; the typed operators below it take the fields of
the most used actions as keyword arguments. What a run does, in order:

1. Render the request (Jinja: ``oss://out/{{ ds }}/{barename}.{autoext}`` keeps IMM's variables)
   and validate it, add the connection's MNS topic as ``Notification`` and validate again, then
   record the task instance's identity in it (:mod:`.task_identity`): a bad request fails here,
   before any IMM call and without retries (it cannot get better by itself).
2. On a retry, look for the task an earlier try submitted: reuse it if it runs or succeeded. The
   first try after a clear is not a retry: it submits anew (see :mod:`.task_identity`).
3. Otherwise submit, then GetTask once: a task that already ended completes without deferring. When
   that GetTask fails for a passing reason (throttling, network, 5xx), the wait starts all the same:
   the trigger asks GetTask first, and failing the try would make a retry submit again.
4. Wait: deferred on the MNS notification (GetTask as the safety net), or on the worker with
   backoff polling (``deferrable=False``), or not at all (``wait_for_completion=False``), until
   ``timeout`` after the IMM task's StartTime (:mod:`.deadline`).

Importing this module imports neither the IMM nor the MNS SDK, nor the trigger (imported when a task
defers), so DAG files parse fast.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_provider_imm.catalog import TaskOperation, get_operation
from airflow_provider_imm.exceptions import (
    ImmInvalidRequestError,
    ImmTaskError,
    ImmTaskFailedError,
    ImmTaskTimeoutError,
)
from airflow_provider_imm.hooks.connection import DEFAULT_CONN_ID, ImmConnectionSettings
from airflow_provider_imm.hooks.errors import TRANSIENT_KINDS, ImmApiError
from airflow_provider_imm.links.imm import ImmConsoleLink
from airflow_provider_imm.operators.deadline import deferral_timeout, task_deadline
from airflow_provider_imm.operators.project import resolve_project
from airflow_provider_imm.operators.task_identity import (
    EarlierTask,
    HowMarked,
    TaskInstanceIdentity,
    TaskLedger,
    find_earlier_task,
    first_try_of_cycle,
    mark_request,
    request_fingerprint,
    reserved_keys_used,
)
from airflow_provider_imm.outcome import FINAL_STATUSES, ImmTaskOutcome
from airflow_provider_imm.triggers.intervals import DEFAULT_POLL_INTERVAL, DEFAULT_RECONCILE_INTERVAL
from airflow_provider_imm.utils.lineage import operator_lineage, task_io
from airflow_provider_imm.utils.request_validation import (
    InvalidRequestError,
    RequestProblem,
    validate_request,
)

if TYPE_CHECKING:
    import jinja2
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context

    from airflow_provider_imm.hooks.imm import ImmHook

__all__ = [
    "ImmCreateTaskOperator",
    "ImmFileCompressionOperator",
    "ImmFileUncompressionOperator",
    "ImmImageToPdfOperator",
    "ImmInvalidRequestError",
    "ImmMediaConvertOperator",
    "ImmOfficeConversionOperator",
    "ImmTaskError",
    "ImmTaskFailedError",
    "ImmTaskTimeoutError",
]

#: First pause of worker-side polling; it doubles up to ``poll_interval``.
_FIRST_POLL = 1.0


@dataclass(frozen=True)
class _Submission:
    """What identifies this task instance's submission, for finding it again."""

    identity: TaskInstanceIdentity
    fingerprint: str
    ledger: TaskLedger
    marked: HowMarked


def _seconds(value: timedelta | float | None, name: str) -> float | None:
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return seconds


class ImmCreateTaskOperator(BaseOperator):
    """Submit one IMM asynchronous task (any Create*Task action) and wait for it to end.

    :param action: the action (``CreateOfficeConversionTask``) or its TaskType (``OfficeConversion``).
    :param request: the request in IMM's field names, exactly as IMM's documentation shows them
        (``SourceURI``, ``TargetURI``, ``Sources: [{"URI": ...}]``, ...). Templated, nested.
        ``Notification`` is added from the connection when absent; ``ProjectName`` is optional.
    :param project: the IMM project (templated); default: the connection's ``project`` extra.
    :param imm_conn_id: the ``imm`` connection.
    :param deferrable: wait in the triggerer (default True: an IMM task can run for hours, and a
        worker slot should not). Without an MNS queue on the connection the trigger polls GetTask.
    :param wait_for_completion: False returns the TaskId as soon as IMM accepted the task.
    :param timeout: how long IMM may take (timedelta or seconds), counted from the IMM task's
        StartTime, so a retry that reattaches does not start it again; None waits as long as IMM
        runs. On expiry the Airflow task fails; the IMM task keeps running (IMM cannot cancel tasks).
    :param reconcile_interval: seconds between GetTask checks while a notification is awaited.
    :param poll_interval: longest pause between GetTask checks when polling.
    :param reattach: on a retry, reuse the task an earlier try submitted for the same request instead
        of submitting anew: a running one is waited for, a succeeded one is the result, a failed one is
        submitted again. A clear starts anew. How the earlier task is found, and when it cannot be, is
        described in :mod:`airflow_provider_imm.operators.task_identity`.

    Returns (XCom) ``{"task_id", "task_type", "project", "action", "status", "code", "message",
    "start_time", "end_time", "target_uris", "output_uris", "learned_from"}``: ``target_uris`` are
    the rendered targets with IMM's variables intact, ``output_uris`` the output objects the request
    fixes (see :mod:`airflow_provider_imm.utils.lineage`). With ``wait_for_completion=False``: the
    TaskId.

    The "IMM console" button opens the console's project list in the connection's region (IMM
    documents no page per task); the IMM task's id is in XCom ``imm_task``.
    """

    template_fields: Sequence[str] = ("request", "project")
    template_fields_renderers: ClassVar[dict[str, str]] = {"request": "json"}
    operator_extra_links = (ImmConsoleLink(),)
    ui_color = "#ffd8b8"

    def __init__(
        self,
        *,
        action: str,
        request: Mapping[str, Any] | None = None,
        project: str | None = None,
        imm_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool = True,
        wait_for_completion: bool = True,
        timeout: timedelta | float | None = None,
        reconcile_interval: float = DEFAULT_RECONCILE_INTERVAL,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        reattach: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.operation: TaskOperation = get_operation(action)
        self.action = self.operation.action
        self.request: Any = {} if request is None else request
        self.project = project
        self.imm_conn_id = imm_conn_id
        self.deferrable = deferrable
        self.wait_for_completion = wait_for_completion
        self.timeout = _seconds(timeout, "timeout")
        self.reconcile_interval = _seconds(reconcile_interval, "reconcile_interval") or 0.0
        self.poll_interval = _seconds(poll_interval, "poll_interval") or 0.0
        self.reattach = reattach

    # The run
    def execute(self, context: Context) -> Any:
        hook = self._hook()
        project = self._project(hook.settings)
        request = self._rendered_request()
        # Validated as the user wrote it (plus Notification), so messages speak of their fields only;
        # the identity recorded in Tags or UserData is valid by construction. Validated first: hashing
        # a request with mixed key types, a cycle or deep nesting would raise an error that is retried.
        self._validate(self._with_notification(request, hook.settings), project)
        identity = TaskInstanceIdentity.from_context(context)
        fingerprint = request_fingerprint(self.action, project, request)
        marked_request, marked = mark_request(self.operation, request, identity, fingerprint)
        final = self._with_notification(marked_request, hook.settings)

        ledger = TaskLedger(context, self.log)
        if marked == "none" and not ledger.available and self.reattach:
            self.log.warning(
                "%s: nothing records this task instance with the IMM task (%s), so a retry submits a new one",
                self.action,
                "the request's Tags is not an object"
                if self.operation.has_tags
                else "the action has no Tags, and its UserData is absent from the SDK, not a JSON object, "
                "or too long to take two more keys",
            )
        submitted_at = time.time()
        task_id, info = self._reuse_or_submit(
            hook, final, project, _Submission(identity, fingerprint, ledger, marked), context
        )
        ledger.remember(task_id, self.operation.task_type, project, fingerprint)
        ImmConsoleLink.persist(
            context,
            self,
            region=hook.settings.region,
            project=project,
            task_type=self.operation.task_type,
            task_id=task_id,
        )
        if not self.wait_for_completion:
            return task_id

        if info is None or info.get("Status") not in FINAL_STATUSES:
            info = self._current_info(hook, project, task_id) or info
        if info is not None and info.get("Status") in FINAL_STATUSES:
            return self._finish(context, self._ended(info, project, task_id), ledger)
        deadline = task_deadline(self.timeout, info, otherwise=submitted_at)
        if deadline is not None and time.time() >= deadline:
            raise self._timeout_error(task_id, self.operation.task_type, project)
        if self.deferrable:
            self._defer(hook.settings, final, project, task_id, deadline)
        outcome = self._poll(hook, project, task_id, deadline)
        return self._finish(context, outcome, ledger)

    def _do_render_template_fields(
        self,
        parent: Any,
        template_fields: Iterable[str],
        context: Context,
        jinja_env: jinja2.Environment,
        seen_oids: set[int],
    ) -> None:
        """Render, then validate the rendered request.

        The Task SDK JSON-encodes the rendered fields before ``execute`` runs; a NaN, a lone surrogate, a
        cycle or very deep nesting makes that encoding fail with an error of Airflow's that names no
        field and is retried. Raised here, the validation error fails the task once instead (the task
        runner handles an ``AirflowFailException`` from rendering as from ``execute``). This method, not
        ``render_template_fields``, because a mapped operator renders its unmapped task through it.
        """
        super()._do_render_template_fields(parent, template_fields, context, jinja_env, seen_oids)
        if parent is self:
            project = self.project if isinstance(self.project, str) else None
            self._validate(self._rendered_request(), project)

    def execute_complete(self, context: Context, event: dict[str, Any], **_: Any) -> Any:
        """Resumed by the trigger: the task ended, the deadline passed, or waiting failed."""
        ImmConsoleLink.recall(context, self)
        return self._finish(context, ImmTaskOutcome.from_event(event), TaskLedger(context, self.log))

    # Steps
    def _reuse_or_submit(
        self,
        hook: ImmHook,
        request: Mapping[str, Any],
        project: str,
        submission: _Submission,
        context: Context,
    ) -> tuple[str, dict[str, Any] | None]:
        """The TaskId to wait for, and its task information if already known."""
        retry = _is_retry(context, self.retries or 0)
        if self.reattach and retry:
            earlier = self._find_earlier(hook, project, submission, context)
            if earlier is not None:
                self.log.info(
                    "Reattaching to IMM task %s (%s) submitted by an earlier try, found by %s",
                    earlier.task_id,
                    earlier.status,
                    earlier.found_by,
                )
                return earlier.task_id, earlier.info
        try:
            task_id = str(hook.create_task(self.action, request, project)["TaskId"])
        except ImmApiError as err:
            # A 5xx or a broken connection: IMM may have accepted the task all the same. The first try
            # of a clear takes only a Running task: a Succeeded one may be the previous cycle's result.
            found = None
            if err.kind in ("network", "server") and self.reattach:
                found = self._find_earlier(hook, project, submission, context, reuse_succeeded=retry)
            if found is None:
                raise
            self.log.info("IMM accepted the task despite %s: it is %s", err.code, found.task_id)
            return found.task_id, found.info
        self.log.info("Submitted IMM %s task %s in project %s", self.operation.task_type, task_id, project)
        return task_id, None

    def _hook(self) -> ImmHook:
        from airflow_provider_imm.hooks.imm import ImmHook  # the hook's credentials code: at run time only

        return ImmHook(self.imm_conn_id, project=self.project, logger_name=self.log.name)

    def _project(self, settings: ImmConnectionSettings) -> str:
        return resolve_project(self.project, settings, conn_id=self.imm_conn_id, who=self.action)

    def _current_info(self, hook: ImmHook, project: str, task_id: str) -> dict[str, Any] | None:
        """GetTask right after submitting or reattaching; None when it failed for a passing reason."""
        try:
            return hook.get_task(project, self.operation.task_type, task_id)
        except ImmApiError as err:
            if err.kind not in TRANSIENT_KINDS:
                raise
            self.log.warning(
                "IMM task %s: GetTask failed (%s); waiting for it all the same, as asking again will tell",
                task_id,
                err.code,
            )
            return None

    def _rendered_request(self) -> dict[str, Any]:
        return _request_dict(self.action, self.request)

    def _validate(self, request: Mapping[str, Any], project: str | None) -> None:
        reserved = reserved_keys_used(self.operation, request)
        if reserved:
            where = "Tags" if self.operation.has_tags else "UserData"
            problems = [
                RequestProblem(f"{where}.{key}", "is written by the operator to recognise retries: remove it")
                for key in reserved
            ]
            raise ImmInvalidRequestError(InvalidRequestError(self.action, problems))
        try:
            validate_request(self.operation, request, project=project)
        except InvalidRequestError as err:
            raise ImmInvalidRequestError(err) from None

    def _notification_topic(self, settings: ImmConnectionSettings) -> str | None:
        """The connection's topic when someone will read its queue: a trigger, or a later sensor."""
        if not (settings.mns_topic and settings.mns_queue):
            return None
        return settings.mns_topic if self.deferrable or not self.wait_for_completion else None

    def _with_notification(self, request: dict[str, Any], settings: ImmConnectionSettings) -> dict[str, Any]:
        if request.get("Notification") is not None:
            return request
        rocketmq = settings.rocketmq
        if rocketmq is not None and (self.deferrable or not self.wait_for_completion):
            # The connection names RocketMQ: IMM's other channel takes MNS's place.
            return {**request, "Notification": {"RocketMQ": rocketmq.notification()}}
        topic = self._notification_topic(settings)
        if topic:
            return {**request, "Notification": {"MNS": {"TopicName": topic}}}
        return request

    def _find_earlier(
        self,
        hook: ImmHook,
        project: str,
        submission: _Submission,
        context: Context,
        *,
        reuse_succeeded: bool = True,
    ) -> EarlierTask | None:
        since = getattr(context.get("dag_run"), "start_date", None)
        return find_earlier_task(
            hook,
            self.operation,
            project,
            submission.identity,
            submission.fingerprint,
            submission.ledger,
            marked=submission.marked,
            since=since if isinstance(since, datetime) else None,
            log=self.log,
            reuse_succeeded=reuse_succeeded,
        )

    def _defer(
        self,
        settings: ImmConnectionSettings,
        request: Mapping[str, Any],
        project: str,
        task_id: str,
        deadline: float | None,
    ) -> None:
        queue = rocketmq_topic = None
        topic = _notified_topic(request)
        if settings.rocketmq is not None and _notified_rocketmq(request) == settings.rocketmq.notification():
            rocketmq_topic = settings.rocketmq.topic
        elif settings.mns_queue and topic and topic == settings.mns_topic:
            queue = settings.mns_queue
        else:
            # The trigger warns that it polls; this says why, and what would make it wait instead.
            self.log.info(
                "IMM task %s: %s, so the trigger polls GetTask every %g s; set mns_topic and mns_queue "
                "on the connection (imm-setup-notifications creates them) to wait for the notification",
                task_id,
                f"the request notifies MNS topic {topic!r}, not the connection's mns_topic"
                if topic
                else f"connection {self.imm_conn_id!r} has no mns_topic and mns_queue",
                self.poll_interval,
            )
        from airflow_provider_imm.triggers.imm import ImmTaskCompletedTrigger  # DAG files parse without it

        self.defer(
            trigger=ImmTaskCompletedTrigger(
                task_id=task_id,
                task_type=self.operation.task_type,
                project=project,
                imm_conn_id=self.imm_conn_id,
                mns_queue=queue,
                rocketmq_topic=rocketmq_topic,
                deadline=deadline,
                reconcile_interval=self.reconcile_interval,
                poll_interval=self.poll_interval,
            ),
            method_name="execute_complete",
            timeout=deferral_timeout(deadline),
        )

    def _poll(self, hook: ImmHook, project: str, task_id: str, deadline: float | None) -> ImmTaskOutcome:
        """Wait on the worker: GetTask with a pause that doubles up to ``poll_interval``."""
        delay = min(self.poll_interval, _FIRST_POLL)
        while True:
            if deadline is not None and time.time() >= deadline:
                raise self._timeout_error(task_id, self.operation.task_type, project)
            time.sleep(delay if deadline is None else max(0.0, min(delay, deadline - time.time())))
            delay = min(delay * 2, self.poll_interval)
            try:
                info = hook.get_task(project, self.operation.task_type, task_id)
            except ImmApiError as err:
                if err.kind not in TRANSIENT_KINDS:
                    raise
                self.log.warning("IMM task %s: GetTask failed (%s); asking again later", task_id, err.code)
                continue
            if info.get("Status") in FINAL_STATUSES:
                return self._ended(info, project, task_id)

    def _ended(self, info: Mapping[str, Any], project: str, task_id: str) -> ImmTaskOutcome:
        return ImmTaskOutcome.from_task_info(
            info, task_id=task_id, task_type=self.operation.task_type, project=project
        )

    def _finish(self, context: Context, outcome: ImmTaskOutcome, ledger: TaskLedger) -> dict[str, Any]:
        outcome.raise_unless_succeeded(timed_out=self._timeout_error)
        io = task_io(self.operation, self._rendered_request())
        ledger.mark_reported(outcome.task_id)
        self.log.info(
            "IMM task %s succeeded%s",
            outcome.task_id,
            f"; outputs: {', '.join(io.outputs)}" if io.outputs else "",
        )
        return {
            **outcome.to_xcom(),
            "action": self.action,
            "target_uris": list(io.targets),
            "output_uris": list(io.outputs),
        }

    def _timeout_error(self, task_id: str, task_type: str, project: str | None) -> ImmTaskTimeoutError:
        retry = (
            " A retry of this Airflow task reattaches to it instead of submitting it again, and succeeds "
            "if it has succeeded by then."
            if self.reattach
            else ""
        )
        return ImmTaskTimeoutError(
            f"IMM task {task_id} ({task_type}, project {project}) had not finished "
            f"{timedelta(seconds=self.timeout or 0)} after it started (timeout). IMM cannot cancel a task: "
            f"it keeps running and may still write its outputs.{retry}",
            task_id=task_id,
            task_type=task_type,
            project=project,
        )

    # Lineage
    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage | None:
        """Input and output OSS datasets (OpenLineage provider installed); None when it is not."""
        if not isinstance(self.request, Mapping):
            return None
        return operator_lineage(task_io(self.operation, self.request))


def _request_dict(action: str, request: Any) -> dict[str, Any]:
    """An operator's rendered ``request`` as a dict; anything else is the DAG's mistake, named."""
    if not isinstance(request, Mapping):
        problem = RequestProblem("request", f"must be a dict of IMM fields, got {type(request).__name__}")
        raise ImmInvalidRequestError(InvalidRequestError(action, [problem]))
    return dict(request)


def _is_retry(context: Context, retries: int) -> bool:
    """Whether this try follows a failed one of the same cycle (a clear starts a new cycle)."""
    ti = context.get("ti")
    try:
        try_number = int(getattr(ti, "try_number", 1))
        max_tries = getattr(ti, "max_tries", None)
        return try_number > first_try_of_cycle(
            try_number, None if max_tries is None else int(max_tries), retries
        )
    except (TypeError, ValueError):
        return False


def _notified_topic(request: Mapping[str, Any]) -> str | None:
    notification = request.get("Notification")
    mns = notification.get("MNS") if isinstance(notification, Mapping) else None
    topic = mns.get("TopicName") if isinstance(mns, Mapping) else None
    return str(topic) if topic else None


def _notified_rocketmq(request: Mapping[str, Any]) -> dict[str, str] | None:
    """The request's ``Notification.RocketMQ`` as InstanceId and TopicName, if it has one."""
    notification = request.get("Notification")
    rocketmq = notification.get("RocketMQ") if isinstance(notification, Mapping) else None
    if not isinstance(rocketmq, Mapping):
        return None
    return {"InstanceId": str(rocketmq.get("InstanceId")), "TopicName": str(rocketmq.get("TopicName"))}


# Typed operators


def _build_request(action: str, named: Mapping[str, Any], extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """Keyword arguments (already in IMM's names) plus ``request=`` extras; a field set twice is an error."""
    if extra is not None and not isinstance(extra, Mapping):
        raise TypeError(f"{action}: request= must be a dict of extra IMM fields, got {type(extra).__name__}")
    request = {field: value for field, value in named.items() if value is not None}
    for field, value in (extra or {}).items():
        if field in request:
            raise ValueError(
                f"{action}: {field} is given both as a keyword argument and in request=: set it once"
            )
        request[field] = value
    return request


def _uri_items(value: Any) -> Any:
    """``["oss://b/a.jpg", {"URI": ...}]`` -> ``[{"URI": "oss://b/a.jpg"}, {"URI": ...}]``; anything
    else is passed on for validation to judge."""
    if isinstance(value, str):
        return [{"URI": value}]
    if isinstance(value, list | tuple):
        return [{"URI": item} if isinstance(item, str) else item for item in value]
    return value


class _ImmTypedOperator(ImmCreateTaskOperator):
    """The typed operators' common part: the action is the class's, the keyword arguments of each
    subclass are IMM's fields under Python names, and the fields most actions share are taken here.

    :param tags: task tags, usable as ``{tags.<key>}`` in target templates (actions with Tags only).
    :param user_data: up to 2048 bytes echoed in the notification.
    :param credential_config: roles IMM assumes to read and write OSS.
    :param request: further fields, IMM's names, e.g. ``{"PaperSize": "A4"}``.
    """

    #: The Create*Task action this operator submits.
    imm_action: ClassVar[str]

    def __init__(
        self,
        *,
        fields: Mapping[str, Any],
        tags: Mapping[str, str] | None = None,
        user_data: str | None = None,
        credential_config: Mapping[str, Any] | None = None,
        request: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        action = self.imm_action
        if tags is not None and not get_operation(action).has_tags:
            raise TypeError(f"{type(self).__name__}: {action} has no Tags: remove tags=")
        named = {**fields, "Tags": tags, "UserData": user_data, "CredentialConfig": credential_config}
        super().__init__(action=action, request=_build_request(action, named, request), **kwargs)


class ImmOfficeConversionOperator(_ImmTypedOperator):
    """Convert a document (Word, Excel, PowerPoint, PDF, ...) to PDF, images or text
    (CreateOfficeConversionTask). Other fields go in ``request=`` with IMM's names.

    :param source_uri: the document, ``oss://bucket/key``.
    :param sources: several documents or images to combine, URIs or ``{"URI": ...}`` objects.
    :param source_type: the document's type when its name does not tell (``docx``, ``pdf``, ...).
    :param target_type: ``pdf``, ``png``, ``jpg``, ``txt``, ...
    :param target_uri: output template, e.g. ``oss://out/{{ ds }}/{barename}.{autoext}``; IMM adds
        ``{index}``, ``{sheetname}`` and ``{autoext}`` to the usual variables.
    :param target_uri_prefix: alternative to ``target_uri``: a folder outputs are named in.
    :param password: password of a protected document (never logged).
    :param pages: pages to convert, e.g. ``"1,3-5"``.
    :param start_page: first page (1-based); :param end_page: last page (-1: the last).
    :param image_dpi: resolution of image outputs; :param quality: image quality (0-100).
    :param long_picture: join the pages into one long image.

    ``tags``, ``user_data``, ``credential_config`` and ``request`` (``SheetIndex``, ``PaperSize``,
    ``TrimPolicy``, ...) as in :class:`_ImmTypedOperator`.
    """

    imm_action = "CreateOfficeConversionTask"

    def __init__(
        self,
        *,
        source_uri: str | None = None,
        sources: Sequence[Any] | None = None,
        source_type: str | None = None,
        target_type: str | None = None,
        target_uri: str | None = None,
        target_uri_prefix: str | None = None,
        password: str | None = None,
        pages: str | None = None,
        start_page: int | None = None,
        end_page: int | None = None,
        image_dpi: int | None = None,
        quality: int | None = None,
        long_picture: bool | None = None,
        **kwargs: Any,
    ) -> None:
        fields = {
            "SourceURI": source_uri,
            "Sources": _uri_items(sources),
            "SourceType": source_type,
            "TargetType": target_type,
            "TargetURI": target_uri,
            "TargetURIPrefix": target_uri_prefix,
            "Password": password,
            "Pages": pages,
            "StartPage": start_page,
            "EndPage": end_page,
            "ImageDPI": image_dpi,
            "Quality": quality,
            "LongPicture": long_picture,
        }
        super().__init__(fields=fields, **kwargs)


class ImmMediaConvertOperator(_ImmTypedOperator):
    """Transcode audio and video, cut segments, take frames (CreateMediaConvertTask).

    :param source_uri: one input, ``oss://bucket/key`` (shorthand for ``sources=[source_uri]``).
    :param sources: inputs, URIs or objects with ``URI`` and ``StartTime``, ``Duration``, ...
    :param targets: outputs, objects with ``URI`` (a template: ``{barename}``, ``{autoext}``,
        ``{streamindex}``, ``{index}``, ``{resolution}``), ``Container``, ``Video``, ``Audio``, ...
    :param target_groups: adaptive-bitrate groups (HLS), with ``URI`` the master playlist.
    :param alignment_index: index of the output the others are aligned to.

    ``tags``, ``user_data``, ``credential_config`` and ``request`` as in :class:`_ImmTypedOperator`.
    """

    imm_action = "CreateMediaConvertTask"

    def __init__(
        self,
        *,
        source_uri: str | None = None,
        sources: Sequence[Any] | None = None,
        targets: Sequence[Mapping[str, Any]] | None = None,
        target_groups: Sequence[Mapping[str, Any]] | None = None,
        alignment_index: int | None = None,
        **kwargs: Any,
    ) -> None:
        if source_uri is not None and sources is not None:
            raise ValueError(f"{self.imm_action}: pass source_uri or sources, not both")
        fields = {
            "Sources": _uri_items(source_uri if source_uri is not None else sources),
            "Targets": targets,
            "TargetGroups": target_groups,
            "AlignmentIndex": alignment_index,
        }
        super().__init__(fields=fields, **kwargs)


class ImmFileCompressionOperator(_ImmTypedOperator):
    """Zip OSS objects into one archive (CreateFileCompressionTask).

    :param sources: what to pack: URIs (a URI ending in ``/`` packs the folder) or objects with
        ``URI`` and ``Alias`` (the name inside the archive).
    :param source_manifest_uri: alternative to ``sources``: an OSS object listing them, one per line.
    :param target_uri: the archive, ``oss://bucket/key.zip``.
    :param compressed_format: ``zip``.

    ``user_data``, ``credential_config`` and ``request`` as in :class:`_ImmTypedOperator`. This
    action has no Tags: retries are recognised through UserData (see ``task_identity``).
    """

    imm_action = "CreateFileCompressionTask"

    def __init__(
        self,
        *,
        sources: Sequence[Any] | None = None,
        source_manifest_uri: str | None = None,
        target_uri: str | None = None,
        compressed_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        fields = {
            "Sources": _uri_items(sources),
            "SourceManifestURI": source_manifest_uri,
            "TargetURI": target_uri,
            "CompressedFormat": compressed_format,
        }
        super().__init__(fields=fields, **kwargs)


class ImmFileUncompressionOperator(_ImmTypedOperator):
    """Unpack an archive into an OSS folder (CreateFileUncompressionTask).

    :param source_uri: the archive, ``oss://bucket/key.zip``.
    :param target_uri: the folder, ``oss://bucket/prefix/``.
    :param password: password of an encrypted archive (never logged).
    :param selected_files: entries to extract (a name ending in ``/`` selects a folder).

    ``user_data``, ``credential_config`` and ``request`` as in :class:`_ImmTypedOperator`.
    """

    imm_action = "CreateFileUncompressionTask"

    def __init__(
        self,
        *,
        source_uri: str | None = None,
        target_uri: str | None = None,
        password: str | None = None,
        selected_files: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        fields = {
            "SourceURI": source_uri,
            "TargetURI": target_uri,
            "Password": password,
            "SelectedFiles": list(selected_files)
            if isinstance(selected_files, list | tuple)
            else selected_files,
        }
        super().__init__(fields=fields, **kwargs)


class ImmImageToPdfOperator(_ImmTypedOperator):
    """Combine images into one PDF, one page each (CreateImageToPDFTask).

    :param sources: the images in page order: URIs or objects with ``URI`` and ``Rotate``.
    :param target_uri: the PDF, e.g. ``oss://out/{{ ds }}/album.pdf``.

    ``tags``, ``user_data``, ``credential_config`` and ``request`` as in :class:`_ImmTypedOperator`.
    """

    imm_action = "CreateImageToPDFTask"

    def __init__(
        self, *, sources: Sequence[Any] | None = None, target_uri: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(fields={"Sources": _uri_items(sources), "TargetURI": target_uri}, **kwargs)
