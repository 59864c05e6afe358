"""Thousands of IMM tasks in one Airflow task: submitted under a rate limit, awaited in one deferral.

A mapped operator costs Airflow a task instance, a worker start, a trigger and several XComs per
document; :class:`ImmBatchOperator` costs one of each per batch. What a run does, in order:

1. Gather the sources (a list, an upstream XCom, or every object under an OSS prefix listed with the
   Alibaba provider's ``OSSHook``), build one request per source from the template, and validate all
   of them: a bad item fails the task before any IMM call, naming the item and the field.
2. List the tasks this cycle of tries already submitted (one ListTasks ``TagSelector`` on the batch's
   tag, see :mod:`.batch_plan`) and submit only the items with no task, a Failed one, or one
   submitted for another request. Each Create*Task waits for a slot of the connection's rate limit
   (``submit_rate``) and retries as the hook does. A try killed in the middle of submitting leaves
   tagged tasks that the retry finds, so no item is submitted twice.
3. Defer once on :class:`~airflow_provider_imm.triggers.batch.ImmBatchCompletedTrigger`, whose
   kwargs name the batch's tag, not its TaskIds.
   No sources (an empty prefix, an empty list) skips the task: no IMM call.
4. Resume once: list the batch again, write the manifest (JSON lines, one per item: source, TaskId,
   status, code, outputs) to OSS or, for a small batch, to XCom ``manifest``, decide with the
   failure policy, and return a compact summary.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_imm.catalog import TaskOperation, get_operation
from airflow_provider_imm.exceptions import ImmInvalidRequestError
from airflow_provider_imm.hooks.connection import DEFAULT_CONN_ID
from airflow_provider_imm.hooks.rate_limit import DEFAULT_SUBMIT_RATE, limiter_for
from airflow_provider_imm.operators.batch_plan import (
    BATCH_TAG,
    BatchItem,
    FailurePolicy,
    ItemResult,
    batch_key,
    batchable,
    fails_batch,
    item_request,
    item_results,
    latest_per_item,
    manifest_lines,
    plan_items,
    still_to_submit,
    summarize,
)
from airflow_provider_imm.operators.deadline import deferral_timeout
from airflow_provider_imm.operators.imm import _is_retry, _request_dict, _seconds
from airflow_provider_imm.operators.project import resolve_project
from airflow_provider_imm.operators.task_identity import TaskInstanceIdentity, first_try_of_cycle
from airflow_provider_imm.outcome import FINAL_STATUSES
from airflow_provider_imm.triggers.intervals import DEFAULT_POLL_INTERVAL, DEFAULT_RECONCILE_INTERVAL
from airflow_provider_imm.utils.excerpt import excerpt
from airflow_provider_imm.utils.lineage import TaskIo, operator_lineage, task_io
from airflow_provider_imm.utils.oss_uri import InvalidOssUriError, parse_oss_uri
from airflow_provider_imm.utils.request_validation import InvalidRequestError, RequestProblem

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context

    from airflow_provider_imm.hooks.imm import ImmHook

__all__ = ["ImmBatchFailedError", "ImmBatchOperator"]

#: Items whose manifest may be kept in XCom when no ``manifest_uri`` is given.
DEFAULT_MAX_XCOM_MANIFEST = 100
#: Create*Task calls in flight at once (each waits for its slot of the rate limit first).
DEFAULT_SUBMIT_CONCURRENCY = 4
_POLICIES = ("any", "ratio", "never")


class ImmBatchFailedError(AirflowException):
    """The batch's failures exceed its policy; the summary (counts, first failures) is attached."""

    def __init__(self, message: str, summary: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.summary = dict(summary)


class ImmBatchOperator(BaseOperator):
    """Run one IMM action over many sources: one IMM task per source, one Airflow task in all.

    :param action: a Create*Task action with Tags and a source field (``CreateOfficeConversionTask``,
        ``CreateMediaConvertTask``, ``CreateImageModerationTask``...), or its TaskType.
    :param request: the request every item shares, in IMM's names, WITHOUT the source
        (``SourceURI``/``Sources``): each item puts its own there. Name outputs with IMM's per-source
        variables, e.g. ``"TargetURI": "oss://out/{{ ds }}/{barename}.{autoext}"``. Templated.
    :param sources: the sources, ``oss://bucket/key`` each: a list, or an upstream XCom
        (``upstream.output``). Templated.
    :param source_prefix: alternative to ``sources``: every object under ``oss://bucket/prefix/``
        (keys ending in ``/`` skipped), listed with ``OSSHook`` (the ``oss`` extra). Templated.
    :param source_suffixes: keep only keys ending in one of these (``(".docx", ".pptx")``).
    :param oss_conn_id: the ``OSSHook`` connection, for the listing and the manifest.
    :param manifest_uri: ``oss://bucket/key.jsonl`` to write the manifest to (templated). Without it
        the manifest goes to XCom ``manifest``, allowed up to ``max_xcom_manifest`` items.
    :param failure_policy: ``any`` (default: one failed item fails the task), ``ratio`` (fail when
        more than ``max_failure_ratio`` of the items failed) or ``never``. Items that had not ended
        at the deadline count as failed.
    :param submit_rate: Create*Task calls per second at most, shared by the batches of one worker
        process on the same connection (default :data:`~.rate_limit.DEFAULT_SUBMIT_RATE`).
    :param submit_concurrency: Create*Task calls in flight at once.
    :param timeout: how long the batch may take after its submission ends; None: as long as IMM runs.

    Returns (XCom) the summary: ``total``, ``succeeded``, ``failed``, ``not_ended``,
    ``failure_codes`` (IMM code -> items), ``failures`` (the first 20: source, task_id, status,
    code), ``manifest`` (its OSS URI, or ``"xcom:manifest"``), ``batch`` (the tag on every task),
    ``submitted`` and ``reused`` (items submitted by this try, and tasks of earlier tries kept).
    """

    template_fields: Sequence[str] = ("request", "project", "sources", "source_prefix", "manifest_uri")
    template_fields_renderers: ClassVar[dict[str, str]] = {"request": "json"}
    ui_color = "#ffc99a"

    def __init__(
        self,
        *,
        action: str,
        request: Mapping[str, Any] | None = None,
        sources: Any = None,
        source_prefix: str | None = None,
        source_suffixes: Sequence[str] | None = None,
        oss_conn_id: str = "oss_default",
        manifest_uri: str | None = None,
        max_xcom_manifest: int = DEFAULT_MAX_XCOM_MANIFEST,
        failure_policy: FailurePolicy = "any",
        max_failure_ratio: float = 0.0,
        project: str | None = None,
        imm_conn_id: str = DEFAULT_CONN_ID,
        submit_rate: float = DEFAULT_SUBMIT_RATE,
        submit_concurrency: int = DEFAULT_SUBMIT_CONCURRENCY,
        timeout: timedelta | float | None = None,
        reconcile_interval: float = DEFAULT_RECONCILE_INTERVAL,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.operation: TaskOperation = get_operation(action)
        self.action = self.operation.action
        reason = batchable(self.operation)
        if reason:
            raise ValueError(f"ImmBatchOperator: {reason}; use ImmCreateTaskOperator for it")
        if (sources is None) == (source_prefix is None):
            raise ValueError(
                "ImmBatchOperator: pass sources= (a list or an upstream XCom) or source_prefix=, one of them"
            )
        if failure_policy not in _POLICIES:
            raise ValueError(
                f"failure_policy must be one of {', '.join(_POLICIES)}, got {excerpt(failure_policy)}"
            )
        if not 0.0 <= max_failure_ratio < 1.0:
            raise ValueError(f"max_failure_ratio must be in [0, 1), got {max_failure_ratio!r}")
        if submit_concurrency < 1:
            raise ValueError(f"submit_concurrency must be at least 1, got {submit_concurrency!r}")
        self.request: Any = {} if request is None else request
        self.sources = sources
        self.source_prefix = source_prefix
        self.source_suffixes = tuple(source_suffixes or ())
        self.oss_conn_id = oss_conn_id
        self.manifest_uri = manifest_uri
        self.max_xcom_manifest = max_xcom_manifest
        self.failure_policy: FailurePolicy = failure_policy
        self.max_failure_ratio = float(max_failure_ratio)
        self.project = project
        self.imm_conn_id = imm_conn_id
        self.submit_rate = _seconds(submit_rate, "submit_rate") or DEFAULT_SUBMIT_RATE
        self.submit_concurrency = int(submit_concurrency)
        self.timeout = _seconds(timeout, "timeout")
        self.reconcile_interval = _seconds(reconcile_interval, "reconcile_interval") or 0.0
        self.poll_interval = _seconds(poll_interval, "poll_interval") or 0.0
        #: The items' sources once the batch ended, for lineage (set by the run, not by the DAG file).
        self._lineage_sources: list[str] = []

    # The run
    def execute(self, context: Context) -> Any:
        hook = self._hook()
        settings = hook.settings
        project = resolve_project(self.project, settings, conn_id=self.imm_conn_id, who=self.action)
        template = self._template()
        sources = self._gather_sources()
        if not sources:
            from airflow.sdk.exceptions import AirflowSkipException

            raise AirflowSkipException(f"{self.action}: no sources, nothing to submit")
        identity = TaskInstanceIdentity.from_context(context)
        batch = batch_key(identity, _cycle_first_try(context, self.retries or 0))
        notified = bool(settings.mns_topic and settings.mns_queue)
        notification = {"MNS": {"TopicName": settings.mns_topic}} if notified else None
        try:
            items = plan_items(
                self.operation,
                template,
                sources,
                project=project,
                identity=identity,
                batch=batch,
                notification=notification,
            )
        except InvalidRequestError as err:
            raise ImmInvalidRequestError(err) from None
        if self.manifest_uri is None and len(items) > self.max_xcom_manifest:
            raise AirflowFailException(
                f"{self.action}: {len(items)} items are more than max_xcom_manifest={self.max_xcom_manifest} "
                "that XCom keeps: set manifest_uri='oss://bucket/key.jsonl' to write the manifest to OSS"
            )
        latest = latest_per_item(self._list(hook, project, batch))
        todo = still_to_submit(items, latest)
        reused = len(items) - len(todo)
        if reused or _is_retry(context, self.retries or 0):
            self.log.info(
                "Batch %s: %d items have a task from an earlier try; %d to submit", batch, reused, len(todo)
            )
        self._submit(todo, project, batch, len(items))
        # Read back on resuming (a deferral's own kwargs are not kept by every Airflow 3 path).
        context["ti"].xcom_push(key="batch", value={"batch": batch, "submitted": len(todo), "reused": reused})
        running = len(todo) + sum(1 for t in latest.values() if t.get("Status") not in FINAL_STATUSES)
        if running == 0:
            return self._complete(
                hook, project, batch, len(items), submitted=len(todo), reused=reused, context=context
            )
        deadline = None if self.timeout is None else time.time() + self.timeout
        from airflow_provider_imm.triggers.batch import ImmBatchCompletedTrigger  # parse stays light

        self.defer(
            trigger=ImmBatchCompletedTrigger(
                batch=batch,
                task_type=self.operation.task_type,
                expected=len(items),
                project=project,
                imm_conn_id=self.imm_conn_id,
                mns_queue=settings.mns_queue if notified else None,
                deadline=deadline,
                reconcile_interval=self.reconcile_interval,
                poll_interval=self.poll_interval,
            ),
            method_name="execute_complete",
            timeout=deferral_timeout(deadline),
        )

    def execute_complete(self, context: Context, event: dict[str, Any], **_: Any) -> Any:
        """Resumed once, when every task ended, the deadline passed, or the wait failed."""
        if event.get("status") == "error":
            raise AirflowException(
                f"Waiting for IMM batch {event.get('batch')} failed: {event.get('code')}: "
                f"{event.get('message')}. A retry reattaches to the batch's tasks."
            )
        hook = self._hook()
        project = str(event.get("project") or "") or resolve_project(
            self.project, hook.settings, conn_id=self.imm_conn_id, who=self.action
        )
        ti = context["ti"]
        map_index = getattr(ti, "map_index", -1)
        counts = ti.xcom_pull(
            task_ids=self.task_id,
            key="batch",
            map_indexes=map_index if map_index is not None and map_index >= 0 else None,
        )
        counts = counts if isinstance(counts, Mapping) else {}
        return self._complete(
            hook,
            project,
            str(event["batch"]),
            int(event["expected"]),
            submitted=int(counts.get("submitted") or 0),
            reused=int(counts.get("reused") or 0),
            timed_out=event.get("status") == "timeout",
            context=context,
        )

    # Steps
    def _hook(self) -> ImmHook:
        from airflow_provider_imm.hooks.imm import ImmHook

        return ImmHook(self.imm_conn_id, project=self.project, logger_name=self.log.name)

    def _template(self) -> dict[str, Any]:
        return _request_dict(self.action, self.request)

    def _list(self, hook: ImmHook, project: str, batch: str) -> list[dict[str, Any]]:
        return hook.find_tasks({BATCH_TAG: batch}, project, task_types=[self.operation.task_type])

    def _gather_sources(self) -> list[Any]:
        if self.source_prefix is not None:
            return self._list_prefix(self.source_prefix)
        sources = self.sources
        if isinstance(sources, str | bytes | Mapping) or not hasattr(sources, "__iter__"):
            raise ImmInvalidRequestError(
                InvalidRequestError(
                    self.action,
                    [
                        RequestProblem(
                            "sources",
                            f"must be a list of OSS URIs, got {type(sources).__name__} {excerpt(sources)}; "
                            "for an upstream's list pass upstream.output",
                        )
                    ],
                )
            )
        return list(sources)

    def _list_prefix(self, prefix: str) -> list[str]:
        try:
            uri = parse_oss_uri(prefix, field="source_prefix", allow_empty_key=True)
        except InvalidOssUriError as err:
            raise ImmInvalidRequestError(
                InvalidRequestError(self.action, [RequestProblem("source_prefix", str(err))])
            ) from None
        try:
            import alibabacloud_oss_v2 as oss
            from airflow.providers.alibaba.cloud.hooks.oss import OSSHook
        except ImportError:
            raise AirflowFailException(
                "source_prefix is listed with the Alibaba provider's OSSHook, which is not installed: "
                "pip install 'airflow-provider-imm[oss]', or pass sources= as a list"
            ) from None
        client = OSSHook(oss_conn_id=self.oss_conn_id).get_bucket(uri.bucket)
        pages = client.list_objects_v2_paginator().iter_page(
            oss.ListObjectsV2Request(bucket=uri.bucket, prefix=uri.key)
        )
        keys = [
            obj.key
            for page in pages
            for obj in page.contents or []
            if obj.key
            and not obj.key.endswith("/")
            and (not self.source_suffixes or obj.key.endswith(self.source_suffixes))
        ]
        self.log.info("%d objects under %s", len(keys), uri)
        return [f"oss://{uri.bucket}/{key}" for key in keys]

    def _submit(self, items: Sequence[BatchItem], project: str, batch: str, total: int) -> None:
        """Create a task per item, ``submit_rate`` per second at most; the first error stops the
        submission (the items already submitted keep their tasks, which a retry finds by tag)."""
        if not items:
            return
        limiter = limiter_for(self.imm_conn_id, self.submit_rate)
        local = threading.local()
        stop = threading.Event()
        errors: list[tuple[BatchItem, BaseException]] = []
        done = [0]
        lock = threading.Lock()

        def submit(item: BatchItem) -> None:
            if stop.is_set():
                return
            if not hasattr(local, "hook"):
                local.hook = self._hook()  # one SDK client per thread
            limiter.acquire()
            if stop.is_set():
                return
            try:
                local.hook.create_task(self.action, item.request, project)
            except Exception as err:
                stop.set()
                with lock:
                    errors.append((item, err))
                return
            with lock:
                done[0] += 1
                if done[0] % 500 == 0:
                    self.log.info("Batch %s: %d of %d submitted", batch, done[0], len(items))

        self.log.info(
            "Batch %s: submitting %d of %d items at %g per second at most",
            batch,
            len(items),
            total,
            self.submit_rate,
        )
        with ThreadPoolExecutor(self.submit_concurrency, thread_name_prefix="imm-batch") as pool:
            list(pool.map(submit, items))
        if errors:
            item, err = errors[0]
            raise AirflowException(
                f"Batch {batch}: submitting item {item.index} ({excerpt(item.source)}) failed after "
                f"{done[0]} of {len(items)} were submitted: {type(err).__name__}: {err}. A retry submits "
                "only the items that have no task yet."
            ) from err
        self.log.info("Batch %s: %d items submitted", batch, done[0])

    def _complete(
        self,
        hook: ImmHook,
        project: str,
        batch: str,
        expected: int,
        *,
        submitted: int,
        reused: int,
        timed_out: bool = False,
        context: Context | None = None,
    ) -> dict[str, Any]:
        template = self._template()
        results = item_results(self.operation, template, self._list(hook, project, batch), expected)
        self._lineage_sources = [r.source for r in results if r.task_id is not None]
        manifest = self._write_manifest(context, results)
        summary = {
            **summarize(results, manifest=manifest),
            "batch": batch,
            "submitted": submitted,
            "reused": reused,
        }
        bad = summary["failed"] + summary["not_ended"]
        self.log.info(
            "Batch %s: %d items, %d succeeded, %d failed, %d not ended%s; manifest: %s",
            batch,
            summary["total"],
            summary["succeeded"],
            summary["failed"],
            summary["not_ended"],
            " (deadline)" if timed_out else "",
            manifest,
        )
        if fails_batch(self.failure_policy, self.max_failure_ratio, summary["total"], bad):
            codes = ", ".join(f"{code} x{n}" for code, n in sorted(summary["failure_codes"].items())[:10])
            policy = f"failure_policy={self.failure_policy!r}"
            if self.failure_policy == "ratio":
                policy += f", max_failure_ratio={self.max_failure_ratio}"
            raise ImmBatchFailedError(
                f"Batch {batch}: {bad} of {summary['total']} items did not succeed ({codes}); {policy}. "
                f"Manifest: {manifest}. A retry resubmits only the failed items.",
                summary,
            )
        return summary

    def _write_manifest(self, context: Context | None, results: Sequence[ItemResult]) -> str:
        if self.manifest_uri is None:
            assert context is not None
            context["ti"].xcom_push(key="manifest", value=[r.to_json() for r in results])
            return "xcom:manifest"
        uri = parse_oss_uri(self.manifest_uri, field="manifest_uri")
        try:
            from airflow.providers.alibaba.cloud.hooks.oss import OSSHook
        except ImportError:
            raise AirflowFailException(
                "manifest_uri is written with the Alibaba provider's OSSHook, which is not installed: "
                "pip install 'airflow-provider-imm[oss]'"
            ) from None
        OSSHook(oss_conn_id=self.oss_conn_id).load_string(
            uri.key, "".join(manifest_lines(results)), bucket_name=uri.bucket
        )
        return str(uri)

    # Lineage
    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage | None:
        """Every item's source and output, as the run that just ended listed them."""
        if not isinstance(self.request, Mapping):
            return None
        ios = [
            task_io(self.operation, item_request(self.operation, self.request, s))
            for s in self._lineage_sources
        ]
        merged = TaskIo(
            tuple(s for io in ios for s in io.sources),
            tuple(t for io in ios for t in io.targets),
            tuple(o for io in ios for o in io.outputs),
            tuple(o for io in ios for o in io.output_locations),
        )
        return operator_lineage(merged)


def _cycle_first_try(context: Context, retries: int) -> int:
    ti = context["ti"]
    max_tries = getattr(ti, "max_tries", None)
    return first_try_of_cycle(
        int(getattr(ti, "try_number", 1)), None if max_tries is None else int(max_tries), retries
    )
