"""The pure parts of a batch: items from sources, what to submit on this try, the verdict, the manifest.

No I/O here: :mod:`airflow_provider_imm.operators.batch` lists, submits and writes; this module
decides, in time linear in the batch.

How an item is recognised in IMM (so that a retry reattaches instead of resubmitting): every item's
task carries the single operator's tags (:mod:`.task_identity`: ``airflow-ti`` and the request hash
``airflow-request``, per item) plus ``airflow-batch``, a hash of the task instance's identity and
the first try of its cycle of tries, and ``airflow-item``, a hash of the item's source. One ListTasks
``TagSelector`` on ``airflow-batch`` finds every task of this cycle's batch; a clear starts a new
cycle, hence a new batch tag, hence a new batch. The source itself goes into ``UserData``
(``airflow-source``), which ListTasks returns, so the manifest is rebuilt from IMM after the wait
without keeping the 10,000 sources in Airflow.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from airflow_provider_imm.catalog import TaskOperation
from airflow_provider_imm.operators.task_identity import (
    REQUEST_TAG,
    TaskInstanceIdentity,
    _hash,
    mark_request,
    request_fingerprint,
    reserved_keys_used,
)
from airflow_provider_imm.outcome import MAX_TEXT
from airflow_provider_imm.utils.excerpt import excerpt
from airflow_provider_imm.utils.lineage import task_io
from airflow_provider_imm.utils.request_validation import (
    MAX_USER_DATA_BYTES,
    InvalidRequestError,
    RequestProblem,
    validate_request,
)
from airflow_provider_imm.utils.timestamps import parse_timestamp

__all__ = [
    "BATCH_TAG",
    "ITEM_TAG",
    "SOURCE_KEY",
    "BatchItem",
    "FailurePolicy",
    "ItemResult",
    "batch_key",
    "fails_batch",
    "item_request",
    "item_results",
    "latest_per_item",
    "manifest_lines",
    "plan_items",
    "still_to_submit",
    "summarize",
]

BATCH_TAG = "airflow-batch"
ITEM_TAG = "airflow-item"
#: The UserData key naming the item's source.
SOURCE_KEY = "airflow-source"
#: Items whose problems one error lists; the count of the others follows.
MAX_ITEMS_LISTED = 10
#: Failures the summary XCom names (the manifest names them all).
MAX_FAILURES_LISTED = 20

FailurePolicy = Literal["any", "ratio", "never"]
ItemStatus = Literal["Succeeded", "Failed", "Running", "Missing"]


def batch_key(identity: TaskInstanceIdentity, cycle_first_try: int) -> str:
    """The ``airflow-batch`` tag: the same for every try of one cycle, new after a clear."""
    return _hash(identity.key, "batch", cycle_first_try)


@dataclass(frozen=True)
class BatchItem:
    """One source and the request submitted for it (identity and source recorded in it)."""

    index: int
    source: str
    key: str
    fingerprint: str
    request: dict[str, Any]


def source_field(operation: TaskOperation) -> str:
    """Where an item's source goes: ``SourceURI`` when the action has one, else ``Sources``."""
    return "SourceURI" if "SourceURI" in operation.source_paths else "Sources"


def item_request(operation: TaskOperation, template: Mapping[str, Any], source: str) -> dict[str, Any]:
    """The template with ``source`` in the action's source field."""
    field = source_field(operation)
    return {**template, field: source if field == "SourceURI" else [{"URI": source}]}


def batchable(operation: TaskOperation) -> str | None:
    """Why ``operation`` cannot run as a batch, or None: a batch needs Tags (to find its tasks with
    one ListTasks) and one source field per task."""
    if not operation.has_tags:
        return f"{operation.action} has no Tags, which a batch needs to find its tasks again"
    if not {"SourceURI", "Sources[].URI"} & set(operation.source_paths):
        return f"{operation.action} takes no SourceURI or Sources to put each item in"
    return None


def plan_items(
    operation: TaskOperation,
    template: Mapping[str, Any],
    sources: Sequence[Any],
    *,
    project: str,
    identity: TaskInstanceIdentity,
    batch: str,
    notification: Mapping[str, Any] | None = None,
) -> list[BatchItem]:
    """Every item's request, validated; :class:`InvalidRequestError` names each bad item and field.

    ``template`` is the request without its source (``SourceURI`` or ``Sources``); ``notification``
    is added where the template has none. Validation runs on each item as the user would have written
    it for the single operator, so messages speak of their own fields.
    """
    problems: list[RequestProblem] = []
    for name in ("SourceURI", "Sources"):
        if name in template:
            problems.append(RequestProblem(name, "is set per item from the batch's sources: remove it"))
    reserved = reserved_keys_used(operation, template)
    tags = template.get("Tags")
    if isinstance(tags, Mapping):
        reserved += sorted(k for k in (BATCH_TAG, ITEM_TAG) if k in tags)
    problems += [
        RequestProblem(f"Tags.{key}", "is written by the operator to recognise retries: remove it")
        for key in reserved
    ]
    user_data = _user_data_object(template.get("UserData"))
    if user_data is None:
        problems.append(
            RequestProblem("UserData", "must be a JSON object in a batch (each item adds its source)")
        )
    elif SOURCE_KEY in user_data:
        problems.append(RequestProblem(f"UserData.{SOURCE_KEY}", "is written by the operator: remove it"))
    if problems:
        raise InvalidRequestError(operation.action, problems)
    assert user_data is not None
    if not sources:
        raise InvalidRequestError(
            operation.action, [RequestProblem("sources", "is empty: nothing to convert")]
        )

    items: list[BatchItem] = []
    bad: list[tuple[int, str, InvalidRequestError]] = []
    first_index: dict[str, int] = {}
    for index, source in enumerate(sources):
        label = excerpt(source) if isinstance(source, str) else type(source).__name__
        if not isinstance(source, str) or not source:
            bad.append((index, label, _error(operation, "source", "must be an OSS URI string")))
            continue
        if source in first_index:
            message = f"repeats item {first_index[source]}: each source is converted once"
            bad.append((index, label, _error(operation, "source", message)))
            continue
        first_index[source] = index
        request = item_request(operation, template, source)
        try:
            validate_request(operation, request, project=project)
        except InvalidRequestError as err:
            bad.append((index, label, err))
            continue
        fingerprint = request_fingerprint(operation.action, project, request)
        marked, _how = mark_request(operation, request, identity, fingerprint)
        key = _hash(source)
        marked["Tags"] = {**marked["Tags"], BATCH_TAG: batch, ITEM_TAG: key}
        text = json.dumps({**user_data, SOURCE_KEY: source}, separators=(",", ":"), ensure_ascii=False)
        if len(text.encode("utf-8")) > MAX_USER_DATA_BYTES:
            message = f"with the source added passes IMM's {MAX_USER_DATA_BYTES} bytes: shorten UserData"
            bad.append((index, label, _error(operation, "UserData", message)))
            continue
        marked["UserData"] = text
        if notification is not None and marked.get("Notification") is None:
            marked["Notification"] = dict(notification)
        items.append(BatchItem(index, source, key, fingerprint, marked))
    if bad:
        raise InvalidRequestError(operation.action, _item_problems(bad))
    return items


def _error(operation: TaskOperation, field: str, message: str) -> InvalidRequestError:
    return InvalidRequestError(operation.action, [RequestProblem(field, message)])


def _item_problems(bad: Sequence[tuple[int, str, InvalidRequestError]]) -> list[RequestProblem]:
    problems = [
        RequestProblem(f"item {index} ({label}) {p.field}", p.message)
        for index, label, err in bad[:MAX_ITEMS_LISTED]
        for p in err.problems[:3]
    ]
    if len(bad) > MAX_ITEMS_LISTED:
        problems.append(RequestProblem("items", f"{len(bad) - MAX_ITEMS_LISTED} more items are invalid"))
    return problems


def _user_data_object(value: Any) -> dict[str, Any] | None:
    if value is None or value == "":
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str):
        try:
            document = json.loads(value)
        except ValueError:
            return None
        return document if isinstance(document, dict) else None
    return None


# What to submit
def _started(task: Mapping[str, Any]) -> datetime:
    return parse_timestamp(task.get("StartTime")) or datetime.min.replace(tzinfo=timezone.utc)


def latest_per_item(tasks: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each item's newest task by StartTime (a resubmission is newer than the task it replaces)."""
    latest: dict[str, dict[str, Any]] = {}
    for task in tasks:
        tags = task.get("Tags")
        key = tags.get(ITEM_TAG) if isinstance(tags, Mapping) else None
        if not key:
            continue
        known = latest.get(str(key))
        if known is None or _started(task) >= _started(known):
            latest[str(key)] = dict(task)
    return latest


def still_to_submit(items: Sequence[BatchItem], latest: Mapping[str, Mapping[str, Any]]) -> list[BatchItem]:
    """Items with no task yet, whose task failed, or whose task was submitted for another request."""
    todo = []
    for item in items:
        task = latest.get(item.key)
        tags = task.get("Tags") if task is not None else None
        same_request = isinstance(tags, Mapping) and tags.get(REQUEST_TAG) == item.fingerprint
        if task is None or task.get("Status") == "Failed" or not same_request:
            todo.append(item)
    return todo


# The outcome
@dataclass(frozen=True)
class ItemResult:
    """One line of the manifest."""

    source: str
    task_id: str | None
    status: ItemStatus
    code: str = ""
    message: str = ""
    outputs: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "outputs": list(self.outputs)}


def item_results(
    operation: TaskOperation,
    template: Mapping[str, Any],
    tasks: Iterable[Mapping[str, Any]],
    expected: int,
) -> list[ItemResult]:
    """Per-item results from the batch's tasks as ListTasks shows them (newest per item), plus one
    ``Missing`` line per expected item IMM shows no task for (its source is not known then)."""
    results = []
    for key, task in sorted(latest_per_item(tasks).items()):
        source = str((_user_data_object(task.get("UserData")) or {}).get(SOURCE_KEY) or f"item {key}")
        status = str(task.get("Status"))
        state: ItemStatus = status if status in ("Succeeded", "Failed") else "Running"  # type: ignore[assignment]
        outputs: tuple[str, ...] = ()
        if state == "Succeeded":
            outputs = task_io(operation, item_request(operation, template, source)).output_locations
        results.append(
            ItemResult(
                source=source,
                task_id=str(task.get("TaskId")),
                status=state,
                code=str(task.get("Code") or "")[:MAX_TEXT],
                message=str(task.get("Message") or "")[:MAX_TEXT],
                outputs=outputs,
            )
        )
    results += [ItemResult(source="", task_id=None, status="Missing", code="NoTask")] * max(
        0, expected - len(results)
    )
    return results


def fails_batch(policy: FailurePolicy, max_failure_ratio: float, total: int, failed: int) -> bool:
    """Whether ``failed`` items of ``total`` (not ended ones count as failed) fail the Airflow task."""
    if policy == "never" or failed <= 0:
        return False
    if policy == "any":
        return True
    return total > 0 and failed / total > max_failure_ratio


def summarize(results: Sequence[ItemResult], *, manifest: str | None) -> dict[str, Any]:
    """The compact XCom: counts, the first failures with IMM's codes, codes counted, the manifest."""
    counts = {"Succeeded": 0, "Failed": 0, "Running": 0, "Missing": 0}
    codes: dict[str, int] = {}
    failures: list[dict[str, Any]] = []
    for result in results:
        counts[result.status] += 1
        if result.status != "Succeeded":
            codes[result.code or result.status] = codes.get(result.code or result.status, 0) + 1
            if len(failures) < MAX_FAILURES_LISTED:
                failures.append(
                    {
                        "source": result.source,
                        "task_id": result.task_id,
                        "status": result.status,
                        "code": result.code,
                    }
                )
    return {
        "total": len(results),
        "succeeded": counts["Succeeded"],
        "failed": counts["Failed"],
        "not_ended": counts["Running"] + counts["Missing"],
        "failure_codes": codes,
        "failures": failures,
        "manifest": manifest,
    }


def manifest_lines(results: Iterable[ItemResult]) -> Iterable[str]:
    """JSON lines, one per item, keys sorted: a reader needs no schema but the line."""
    for result in results:
        yield json.dumps(result.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
