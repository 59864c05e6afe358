"""Which IMM task an Airflow task instance submitted, so that a retry reattaches instead of resubmitting.

IMM has no idempotency token and no cancel, so a retried Airflow task that simply submitted again
would pay twice and race two writers to the same outputs. The task instance's identity (dag, task,
run, map index) is therefore recorded with the IMM task itself, and, where Airflow has one (3.3+),
in the task state store:

* Actions with ``Tags``: tag ``airflow-ti`` is a short stable hash of the identity, ``airflow-request``
  a hash of the request, plus readable ``airflow-dag`` / ``airflow-task`` / ``airflow-run`` /
  ``airflow-map-index``. A retry finds the task with ListTasks ``TagSelector``.
* Actions without ``Tags`` (FileCompression, FileUncompression, ArchiveFileInspection,
  FacesSearching, DecodeBlindWatermark): the same two hashes go into ``UserData`` as a JSON object
  (merged into the user's own UserData when that is a JSON object). A retry lists the action's tasks
  started since the DAG run started and reads their UserData.
* When neither is possible (CreateDecodeBlindWatermarkTask, whose SDK model has neither Tags nor
  UserData; a user's UserData that is not a JSON object; or adding the keys would pass IMM's
  2048-byte limit), only the task state store links the IMM task to the task instance. Without one
  (Airflow before 3.3) a retry submits a new IMM task, and a warning says so at submission.

A found task is reused only by a retry, and only if it was submitted for the same request (the
request hash matches; secret fields such as ``Password`` are left out of the hash, so that a tag IMM
shows to anyone who may list tasks says nothing about them). Running: the retry waits for it.
Succeeded: the retry succeeds with it. Failed, or expired from IMM (7 days): a new task.

A clear starts a new cycle of tries: Airflow raises ``max_tries`` to the last try number plus
``retries``, so the cycle's first try is ``max_tries - retries + 1`` (as the Task SDK computes it for
sensors' first reschedule). That first try never reuses a task: the user asked for the work to be
done again, and the succeeded task of the previous cycle is exactly what must not be taken. Only a
lost create answer makes it look, and then only for a Running task. A success reported to Airflow
is also remembered in the state store, which covers a retry count changed between the clear and the
run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal, Protocol

from airflow_provider_imm.catalog import SECRET_FIELDS, TaskOperation
from airflow_provider_imm.hooks.errors import ImmApiError
from airflow_provider_imm.utils.request_validation import MAX_USER_DATA_BYTES
from airflow_provider_imm.utils.timestamps import parse_timestamp

if TYPE_CHECKING:
    from airflow_provider_imm.hooks.imm import ImmHook

__all__ = [
    "IDENTITY_TAG",
    "REQUEST_TAG",
    "RESERVED_KEYS",
    "EarlierTask",
    "TaskInstanceIdentity",
    "TaskLedger",
    "find_earlier_task",
    "first_try_of_cycle",
    "mark_request",
    "newest_reusable",
    "request_fingerprint",
]

IDENTITY_TAG = "airflow-ti"
REQUEST_TAG = "airflow-request"
_READABLE_TAGS = ("airflow-dag", "airflow-task", "airflow-run", "airflow-map-index")
#: Keys the operator writes into Tags or UserData; a request may not set them itself.
RESERVED_KEYS: frozenset[str] = frozenset({IDENTITY_TAG, REQUEST_TAG, *_READABLE_TAGS})
#: Longest readable tag value written. IMM does not document its tag limits; 128 characters is
#: the common limit of Alibaba Cloud resource tags, so longer names are shortened, keeping a hash.
MAX_TAG_VALUE = 128
#: How far back a UserData search looks at most (IMM keeps tasks 7 days).
_SEARCH_HORIZON = timedelta(days=7)
#: State store keys.
_LEDGER_KEY = "imm_task"
_DONE_KEY = "imm_tasks_reported"
_DONE_MEMORY = 20

HowMarked = Literal["tags", "user_data", "none"]


class _Log(Protocol):
    def info(self, msg: Any, /, *args: Any) -> Any: ...
    def warning(self, msg: Any, /, *args: Any) -> Any: ...


def _hash(*parts: object) -> str:
    text = "\x1f".join(str(p) for p in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class TaskInstanceIdentity:
    dag_id: str
    task_id: str
    run_id: str
    map_index: int = -1

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> TaskInstanceIdentity:
        ti = context["ti"]
        map_index = getattr(ti, "map_index", None)
        return cls(
            dag_id=str(ti.dag_id),
            task_id=str(ti.task_id),
            run_id=str(ti.run_id),
            map_index=-1 if map_index is None else int(map_index),
        )

    @property
    def key(self) -> str:
        """A short stable hash: the same for every try of this task instance, differs between instances."""
        return _hash(self.dag_id, self.task_id, self.run_id, self.map_index)

    def tags(self, fingerprint: str) -> dict[str, str]:
        tags = {IDENTITY_TAG: self.key, REQUEST_TAG: fingerprint}
        tags["airflow-dag"] = _shorten(self.dag_id)
        tags["airflow-task"] = _shorten(self.task_id)
        tags["airflow-run"] = _shorten(self.run_id)
        if self.map_index >= 0:
            tags["airflow-map-index"] = str(self.map_index)
        return tags

    def __str__(self) -> str:
        index = f"[{self.map_index}]" if self.map_index >= 0 else ""
        return f"{self.dag_id}.{self.task_id}{index} of run {self.run_id}"


def _shorten(value: str) -> str:
    if len(value) <= MAX_TAG_VALUE:
        return value
    return f"{value[: MAX_TAG_VALUE - 18]}~{_hash(value)}"


def request_fingerprint(action: str, project: str, request: Mapping[str, Any]) -> str:
    """Hash of what is submitted, so a retry reuses a task only if it would submit the same thing.

    Secret fields are left out: the hash is written where GetTask, ListTasks and notifications show
    it, and an unsalted 64-bit hash of a password would let anyone who reads it test guesses.
    """
    canonical = json.dumps(_without_secrets(request), sort_keys=True, separators=(",", ":"), default=str)
    return _hash(action, project, canonical)


def _without_secrets(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _without_secrets(v) for k, v in value.items() if k not in SECRET_FIELDS}
    if isinstance(value, list | tuple):
        return [_without_secrets(v) for v in value]
    return value


def first_try_of_cycle(try_number: int, max_tries: int | None, retries: int) -> int:
    """The try number a task instance's current cycle of tries began with (1 until it is cleared).

    A clear sets ``max_tries`` to the last try number plus ``retries``; the cycle's first try is
    ``max_tries - retries + 1``, the Task SDK's own formula. Kept within ``[1, try_number]`` so that
    a retry count changed since the clear never makes the current try look like a later one.
    """
    if max_tries is None or max_tries < 0:
        return 1
    return max(1, min(try_number, max_tries - max(retries, 0) + 1))


def mark_request(
    operation: TaskOperation, request: Mapping[str, Any], identity: TaskInstanceIdentity, fingerprint: str
) -> tuple[dict[str, Any], HowMarked]:
    """``request`` with the identity recorded in Tags or UserData, and where it went.

    Malformed Tags or UserData are left as they are for validation to report.
    """
    marked = dict(request)
    if operation.has_tags:
        tags = marked.get("Tags")
        if tags is None or isinstance(tags, Mapping):
            marked["Tags"] = {**(tags or {}), **identity.tags(fingerprint)}
            return marked, "tags"
        return marked, "none"
    if not operation.has_user_data:
        return marked, "none"
    user_data = marked.get("UserData")
    keys = {IDENTITY_TAG: identity.key, REQUEST_TAG: fingerprint}
    if user_data is None or user_data == "":
        document: Any = {}
    elif isinstance(user_data, str):
        try:
            document = json.loads(user_data)
        except ValueError:
            return marked, "none"
        if not isinstance(document, dict):
            return marked, "none"
    else:
        return marked, "none"
    text = json.dumps({**document, **keys}, separators=(",", ":"), ensure_ascii=False)
    if len(text.encode("utf-8")) > MAX_USER_DATA_BYTES:
        return marked, "none"
    marked["UserData"] = text
    return marked, "user_data"


def reserved_keys_used(operation: TaskOperation, request: Mapping[str, Any]) -> list[str]:
    """Reserved keys a request sets itself in Tags (or in a JSON UserData of an action without Tags)."""
    found: Iterable[Any] = ()
    tags = request.get("Tags")
    if isinstance(tags, Mapping):
        found = tags
    elif not operation.has_tags and isinstance(request.get("UserData"), str):
        try:
            document = json.loads(request["UserData"])
        except ValueError:
            document = None
        if isinstance(document, dict):
            found = document
    return sorted(str(k) for k in found if k in RESERVED_KEYS)


class TaskLedger:
    """This task instance's submissions in Airflow's task state store (3.3+); inert without one.

    The store is keyed by dag, run, task and map index, so every try of the instance sees it. A
    failing store never fails the task: the IMM-side identity is the fallback.
    """

    def __init__(self, context: Mapping[str, Any], log: _Log) -> None:
        self._store = context.get("task_state_store")
        self._log = log

    @property
    def available(self) -> bool:
        return self._store is not None

    def last(self) -> dict[str, Any] | None:
        value = self._get(_LEDGER_KEY)
        return value if isinstance(value, dict) and value.get("task_id") else None

    def reported(self) -> list[str]:
        value = self._get(_DONE_KEY)
        return [str(v) for v in value] if isinstance(value, list) else []

    def remember(self, task_id: str, task_type: str, project: str, fingerprint: str) -> None:
        record = {"task_id": task_id, "task_type": task_type, "project": project, "request": fingerprint}
        self._set(_LEDGER_KEY, record)

    def mark_reported(self, task_id: str) -> None:
        """The Airflow task succeeded with ``task_id``: a later clear must not reuse it."""
        done = [t for t in self.reported() if t != task_id][-(_DONE_MEMORY - 1) :]
        self._set(_DONE_KEY, [*done, task_id])

    def _get(self, key: str) -> Any:
        if self._store is None:
            return None
        try:
            return self._store.get(key)
        except Exception as err:
            self._log.warning("Task state store: could not read %r (%s)", key, type(err).__name__)
            return None

    def _set(self, key: str, value: Any) -> None:
        if self._store is None:
            return
        try:
            self._store.set(key, value)
        except Exception as err:
            self._log.warning("Task state store: could not write %r (%s)", key, type(err).__name__)


@dataclass(frozen=True)
class EarlierTask:
    """An IMM task an earlier try submitted that this try can use: its task information, and how it
    was found (``state store``, ``tags`` or ``user data``)."""

    info: dict[str, Any]
    found_by: str

    @property
    def task_id(self) -> str:
        return str(self.info["TaskId"])

    @property
    def status(self) -> str:
        return str(self.info.get("Status"))


def find_earlier_task(
    hook: ImmHook,
    operation: TaskOperation,
    project: str,
    identity: TaskInstanceIdentity,
    fingerprint: str,
    ledger: TaskLedger,
    *,
    marked: HowMarked,
    since: datetime | None,
    log: _Log,
    reuse_succeeded: bool = True,
) -> EarlierTask | None:
    """A Running or Succeeded (and not yet reported) task of an earlier try with this request, or None.

    The state store is asked first (one GetTask); the IMM-side record covers a try that died between
    submitting and writing the store. ``reuse_succeeded=False`` takes a Running task only.
    """
    usable_statuses = ("Running", "Succeeded") if reuse_succeeded else ("Running",)
    reported = set(ledger.reported())
    record = ledger.last()
    if (
        record is not None
        and record.get("request") == fingerprint
        and record.get("project") == project
        and record["task_id"] not in reported
    ):
        info = _get_task(hook, project, operation.task_type, str(record["task_id"]))
        if info is not None and info.get("Status") in usable_statuses:
            return EarlierTask(info, "state store")
    if marked == "tags":
        candidates = hook.find_tasks({IDENTITY_TAG: identity.key}, project, task_types=[operation.task_type])
        found_by = "tags"
    elif marked == "user_data":
        candidates = _by_user_data(hook, operation, project, identity, since)
        found_by = "user data"
    else:
        return None
    usable = []
    for task in candidates:
        if task.get("TaskId") in reported or task.get("Status") not in usable_statuses:
            continue
        if _request_of(task) != fingerprint:
            log.info(
                "IMM task %s was submitted by an earlier try with a different request: not reused",
                task.get("TaskId"),
            )
            continue
        usable.append(task)
    chosen = newest_reusable(usable)
    return EarlierTask(chosen, found_by) if chosen is not None else None


def _request_of(task: Mapping[str, Any]) -> str | None:
    tags = task.get("Tags")
    if isinstance(tags, Mapping) and REQUEST_TAG in tags:
        return str(tags[REQUEST_TAG])
    document = _user_data(task)
    return str(document[REQUEST_TAG]) if REQUEST_TAG in document else None


def _user_data(task: Mapping[str, Any]) -> dict[str, Any]:
    text = task.get("UserData")
    if not isinstance(text, str) or not text.startswith("{"):
        return {}
    try:
        document = json.loads(text)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _by_user_data(
    hook: ImmHook,
    operation: TaskOperation,
    project: str,
    identity: TaskInstanceIdentity,
    since: datetime | None,
) -> list[dict[str, Any]]:
    # IMM keeps tasks 7 days: nothing older can be found, and a DAG run's start bounds it further.
    start = datetime.now(timezone.utc) - _SEARCH_HORIZON
    if since is not None:
        start = max(start, since - timedelta(minutes=5))
    stamp = start.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    tasks = hook.list_tasks(project, task_types=[operation.task_type], start_time_range={"Start": stamp})
    return [t for t in tasks if _user_data(t).get(IDENTITY_TAG) == identity.key]


def newest_reusable(tasks: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The newest Running task, else the newest Succeeded one; failed ones are never reused.

    Newest by the parsed StartTime: IMM writes RFC3339Nano, whose fraction drops trailing zeros, so
    the strings do not sort as the times do (``...:05Z`` sorts after ``...:05.3Z``).
    """
    oldest = datetime.min.replace(tzinfo=timezone.utc)

    def started(task: Mapping[str, Any]) -> datetime:
        return parse_timestamp(task.get("StartTime")) or oldest

    for status in ("Running", "Succeeded"):
        matching: list[Mapping[str, Any]] = [t for t in tasks if t.get("Status") == status]
        if matching:
            newest: Mapping[str, Any] = max(matching, key=started)
            return dict(newest)
    return None


def _get_task(hook: ImmHook, project: str, task_type: str, task_id: str) -> dict[str, Any] | None:
    """GetTask, or None when IMM no longer knows the task (kept 7 days)."""
    try:
        return hook.get_task(project, task_type, task_id)
    except ImmApiError as err:
        if err.code == "ResourceNotFound" or err.code.startswith("InvalidTask"):
            return None
        raise
