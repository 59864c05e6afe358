"""IMM's RPC API (2020-09-30) as the unchanged ``alibabacloud_imm20200930`` client calls it.

Every call is ``POST /``; the action and version come from ``x-acs-action`` / ``x-acs-version``
(or the legacy form's ``Action`` / ``Version`` query parameters), the fields from the query and an
``application/x-www-form-urlencoded`` body. Served: the Create*Task actions of
:data:`airflow_provider_imm.catalog.OPERATIONS`, GetTask, ListTasks, CreateProject, GetProject,
ListProjects and DeleteProject.

Each call is counted (``counters.incr("imm", action)``, refused and faulted ones too), delayed by
``faults.imm_latency`` seconds, then answered by the next armed IMM fault if any. A fault's
``retry_after`` is in seconds; it is sent as ``x-acs-retry-after`` in milliseconds, the unit the
SDK's ``ThrottlingException.retry_after`` and its retry back-off use. A call past the limit of
:attr:`ImmService.flow_control` (none unless set) answers ``Throttling.User`` and is counted again as
``imm-throttled:<Action>``.

Tasks end as configured with :meth:`ImmService.set_behaviour` or, per request, by a ``UserData``
that is a JSON object with the key ``"imm-emulator"``:
``{"imm-emulator": {"duration": 0.2, "status": "Failed", "code": "InvalidDocument", "message": "..."}}``;
``"duration": null`` keeps the task Running until :meth:`ImmService.finish_task` (or the admin
route ``POST /_emulator/imm/tasks/{task_id}/finish``) ends it.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
import re
import string
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any, Final
from urllib.parse import parse_qsl

from aiohttp import web

from airflow_provider_imm.catalog import OPERATIONS, TaskOperation, get_operation, values_at
from airflow_provider_imm.emulator.bodies import read_body
from airflow_provider_imm.emulator.context import ServiceContext
from airflow_provider_imm.emulator.flow_control import FlowControl, retry_after_ms
from airflow_provider_imm.emulator.imm_errors import (
    ImmError,
    error_response,
    invalid_argument,
    missing_parameter,
    new_request_id,
    project_name_missing,
    resource_already_exists,
    resource_not_found,
    throttling,
)
from airflow_provider_imm.emulator.imm_notification import NotificationPublisher, build_notification_body
from airflow_provider_imm.emulator.imm_signature import (
    RPC_PROTOCOL_PARAMS,
    RecordedRequest,
    SignatureVerifier,
    SignedRequest,
)
from airflow_provider_imm.emulator.imm_store import ImmStore, Project
from airflow_provider_imm.emulator.imm_tasks import (
    FINAL_STATUSES,
    SORT_FIELDS,
    Behaviour,
    InvalidPageToken,
    TaskExecutor,
    TaskFilter,
    TaskRecord,
)
from airflow_provider_imm.utils.oss_uri import InvalidOssUriError, parse_oss_uri
from airflow_provider_imm.utils.target_uri import (
    TargetUriTemplateError,
    check_target_uri,
    expand_target_uri,
    source_variables,
)

logger = logging.getLogger(__name__)

API_VERSION = "2020-09-30"
#: Fields the SDK sends as JSON strings (its ``*_shrink`` fields).
JSON_FIELDS = frozenset(
    {
        "CredentialConfig", "DateOptions", "Edit", "EndTimeRange", "Froms", "Highlight", "KdtreeOption",
        "LocationOptions", "Notification", "OctreeOption", "Output", "PointCloudFields", "Scenes",
        "SelectedFiles", "Sources", "StartTimeRange", "Tag", "Tags", "TargetGroups", "Targets",
        "TaskTypes", "TrimPolicy",
    }
)  # fmt: skip
#: The task types whose GetTask answers ``TaskRequestDefinition`` when asked (IMM's GetTask
#: documentation; OfficeConversion is not among them). ListTasks documents no such list.
DEFINITION_TASK_TYPES = frozenset(
    {
        "MediaConvert", "VideoLabelClassification", "FaceClustering", "FileCompression",
        "ArchiveFileInspection", "FileUncompression", "PointCloudCompress", "ImageToPDF", "StoryCreation",
        "LocationDateClustering", "ImageSplicing", "FacesSearching",
    }
)  # fmt: skip
#: The ``UserData`` key whose object overrides how the task ends.
OVERRIDE_KEY = "imm-emulator"
MAX_USER_DATA_BYTES = 2048
_PROJECT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
_ISO_TIME = re.compile(
    r"^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?$", re.IGNORECASE
)
_EVENT_ID_CHARS = string.ascii_letters + string.digits
_RANDOM = random.Random()


class _Unset:
    pass


UNSET: Final = _Unset()


Handler = Callable[[dict[str, Any]], dict[str, Any]]


class ImmService:
    """IMM's projects and tasks, served over HTTP on the emulator's loop."""

    def __init__(
        self,
        context: ServiceContext,
        publish: Callable[[str, str], bool],
        *,
        task_duration: float = 0.05,
        publish_rocketmq: Callable[[str, str], bool] | None = None,
    ) -> None:
        """``publish(topic, body)`` sends a notification to MNS; False when the topic is missing.
        ``publish_rocketmq("<InstanceId>/<TopicName>", body)`` likewise to RocketMQ (None: no
        RocketMQ, such notifications are not published)."""
        self.context = context
        #: Seconds a task runs unless :meth:`set_behaviour` or the request says otherwise.
        self.task_duration = task_duration
        self.store = ImmStore(context.clock)
        self._verifier = SignatureVerifier(context.accounts, context.clock)
        self._notifications = NotificationPublisher(publish, context.faults)
        self._rocketmq_notifications = NotificationPublisher(
            publish_rocketmq or (lambda target, body: False), context.faults
        )
        self._executor = TaskExecutor(self.store.tasks, context.oss, context.clock, self._notify)
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Requests as they arrived, once :meth:`record_requests` is called (None: not recording).
        self.recorded: list[RecordedRequest] | None = None
        self._handlers: dict[str, Handler] = {
            op.action: functools.partial(self._create_task, op) for op in OPERATIONS.values()
        }
        self._handlers.update(
            GetTask=self._get_task,
            ListTasks=self._list_tasks,
            CreateProject=self._create_project,
            GetProject=self._get_project,
            ListProjects=self._list_projects,
            DeleteProject=self._delete_project,
        )
        #: Per-second limits by action (off until set), answered as IMM's flow control answers.
        self.flow_control = FlowControl(known=self._handlers)

    # Python API
    @property
    def projects(self) -> dict[str, Project]:
        return self.store.projects

    def add_project(self, name: str) -> None:
        self.store.add_project(name)

    def project_names(self) -> list[str]:
        return sorted(self.projects)

    def set_behaviour(
        self,
        action_or_task_type: str,
        *,
        duration: float | _Unset | None = UNSET,
        status: str = "Succeeded",
        code: str = "",
        message: str = "",
    ) -> None:
        """How tasks of one operation end from now on; ``duration=None`` waits for :meth:`finish_task`."""
        op = get_operation(action_or_task_type)
        chosen = self.task_duration if isinstance(duration, _Unset) else duration
        self.store.behaviours[op.task_type] = Behaviour(chosen, status, code, message)

    def record_requests(self) -> list[RecordedRequest]:
        """Start keeping every request that reaches signature checking; the list fills as they come."""
        if self.recorded is None:
            self.recorded = []
        return self.recorded

    def clear_behaviours(self) -> None:
        self.store.behaviours.clear()

    def finish_task(
        self, task_id: str, *, status: str = "Succeeded", code: str = "", message: str = ""
    ) -> bool:
        """End a running task now (thread-safe); False if it had ended. Raises KeyError if unknown.

        A Succeeded ending still checks the sources and writes the outputs, so it can turn Failed.
        """
        behaviour = Behaviour(None, status, code, message)
        return self._on_loop(self._executor.finish, task_id, behaviour)

    def tasks(self, project: str | None = None) -> list[dict[str, Any]]:
        """Every task kept, oldest first, as GetTask shows it plus ProjectName, EventId and Outputs.

        ``TaskRequestDefinition`` is always there, for every task type (IMM's GetTask gives it only
        for some), so a test can see what any request carried.
        """
        return self._on_loop(self._task_snapshot, project)

    def _task_snapshot(self, project: str | None) -> list[dict[str, Any]]:
        now = self._loop.time() if self._loop is not None else 0.0
        return [
            {
                "ProjectName": t.project,
                "EventId": t.event_id,
                **t.info(now, with_definition=True),
                "Outputs": list(t.outputs),
            }
            for t in self.store.tasks.all()
            if project is None or t.project == project
        ]

    def _on_loop(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._loop is None:
            return fn(*args)
        return self.context.call(fn, *args)

    async def shutdown(self) -> None:
        self._executor.shutdown()
        self._notifications.shutdown()
        self._rocketmq_notifications.shutdown()

    # HTTP
    async def handle(self, request: web.Request) -> web.Response:
        self._loop = asyncio.get_running_loop()
        request_id = new_request_id()
        query = dict(parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True))
        headers = request.headers
        action = headers.get("x-acs-action") or query.get("Action", "")
        self.context.counters.incr("imm", action)
        host_id = f"imm.{self.context.region}.aliyuncs.com"
        faults = self.context.faults
        # Received in full before any delay: a call the client gives up on is still served, as IMM does.
        body = await read_body(request)
        if faults.imm_latency > 0:
            await asyncio.sleep(faults.imm_latency)
        fault = faults.take_imm()
        if fault is not None:
            if fault.delay > 0:
                await asyncio.sleep(fault.delay)
            if fault.status:
                retry_ms = None if fault.retry_after is None else max(1, round(fault.retry_after * 1000))
                err = ImmError(fault.status, fault.code, fault.message, retry_after_ms=retry_ms)
                return error_response(err, request_id, host_id)
        wait = self.flow_control.admit(self.context.account_id, action)
        if wait is not None:
            self.context.counters.incr("imm-throttled", action)
            retry_ms = retry_after_ms(wait) if self.flow_control.retry_after else None
            return error_response(throttling(retry_ms), request_id, host_id)
        try:
            form: dict[str, str] = {}
            if request.content_type == "application/x-www-form-urlencoded" and body:
                try:
                    text = body.decode("utf-8")
                except UnicodeDecodeError:
                    raise invalid_argument("The request body is not UTF-8 form data.") from None
                form = dict(parse_qsl(text, keep_blank_values=True))
            signed = SignedRequest(request.method, request.rel_url.raw_path, query, headers, body, form)
            try:
                self._verifier.verify(signed)
            except ImmError as err:
                self._record(signed, request.rel_url.raw_query_string, err.code)
                raise
            self._record(signed, request.rel_url.raw_query_string, None)
            handler = self._handlers.get(action)
            if handler is None:
                raise ImmError(
                    404,
                    "InvalidAction.NotFound",
                    "Specified api is not found, please check your url and method.",
                )
            version = headers.get("x-acs-version") or query.get("Version", "")
            if version != API_VERSION:
                raise ImmError(
                    400, "InvalidVersion", f"Specified parameter Version {version!r} is not valid."
                )
            params = {**query, **form}
            if "Signature" in query:
                params = {k: v for k, v in params.items() if k not in RPC_PROTOCOL_PARAMS}
            result = handler(_decode(params))
        except ImmError as err:
            return error_response(err, request_id, host_id)
        except Exception:
            logger.exception("IMM %s failed", action)
            return error_response(
                ImmError(
                    500, "InternalError", "The request processing has failed due to some unknown error."
                ),
                request_id,
                host_id,
            )
        result["RequestId"] = request_id
        return web.json_response(result, headers={"x-acs-request-id": request_id})

    def _record(self, signed: SignedRequest, raw_query: str, refused: str | None) -> None:
        if self.recorded is not None:
            self.recorded.append(RecordedRequest.of(signed, raw_query, refused))

    # Tasks
    def _create_task(self, op: TaskOperation, params: dict[str, Any]) -> dict[str, Any]:
        project = self._project(params)
        for group in op.required:
            if not any(_present(params.get(name)) for name in group):
                raise missing_parameter(group[0], group[1:])
        tags = params.get("Tags") or {}
        if not isinstance(tags, dict):
            raise invalid_argument("Tags must be a JSON object of string keys.")
        user_data = str(params.get("UserData", ""))
        if len(user_data.encode()) > MAX_USER_DATA_BYTES:
            raise invalid_argument(f"UserData is longer than {MAX_USER_DATA_BYTES} bytes.")
        notification = params.get("Notification") or {}
        if not isinstance(notification, dict):
            raise invalid_argument("Notification must be a JSON object.")
        mns = notification.get("MNS")
        topic = mns.get("TopicName") if isinstance(mns, dict) else None
        rocketmq = _rocketmq_target(notification.get("RocketMQ"))
        _check_uris(op, params, tags)
        compressed = params.get("CompressedFormat")
        if compressed and str(compressed).lower() != "zip":
            raise invalid_argument(f"CompressedFormat {compressed!r} is not supported: use zip.")
        selected = params.get("SelectedFiles")
        if selected is not None and not (
            isinstance(selected, list) and all(isinstance(s, str) for s in selected)
        ):
            raise invalid_argument("SelectedFiles must be a JSON list of file names.")
        loop = asyncio.get_running_loop()
        task = TaskRecord(
            task_id=f"{op.task_type}-{uuid.uuid4()}",
            op=op,
            project=project,
            event_id=_event_id(),
            request_id=new_request_id(),
            request=params,
            tags=tags,
            user_data=user_data,
            topic=str(topic) if topic else None,
            rocketmq=rocketmq,
            behaviour=self._behaviour(op, user_data),
            start_time=self.context.clock.time(),
            started_at=loop.time(),
        )
        self._executor.start(task, loop)
        return {"TaskId": task.task_id, "EventId": task.event_id}

    def _behaviour(self, op: TaskOperation, user_data: str) -> Behaviour:
        base = self.store.behaviours.get(op.task_type) or Behaviour(self.task_duration)
        spec = _override(user_data)
        if spec is None:
            return base
        try:
            duration = spec.get("duration", base.duration)
            if "status" in spec:
                return Behaviour(
                    duration, spec["status"], str(spec.get("code", "")), str(spec.get("message", ""))
                )
            return Behaviour(
                duration,
                base.status,
                str(spec.get("code", base.code)),
                str(spec.get("message", base.message)),
            )
        except ValueError as err:
            raise invalid_argument(f"UserData {OVERRIDE_KEY!r}: {err}") from None

    def _notify(self, task: TaskRecord) -> None:
        body = build_notification_body(task, region=self.context.region, account_id=self.context.account_id)
        if task.topic is not None:
            self._notifications.send(task.topic, body)
        if task.rocketmq is not None:
            self._rocketmq_notifications.send("/".join(task.rocketmq), body)

    def _get_task(self, params: dict[str, Any]) -> dict[str, Any]:
        project = self._project(params)
        task_type = _required(params, "TaskType")
        task_id = _required(params, "TaskId")
        task = self.store.tasks.get(project, task_id)
        if task is None or task.task_type != task_type:
            raise resource_not_found(f"The specified resource TaskId {task_id!r} is not found.")
        with_definition = _true(params.get("RequestDefinition")) and task_type in DEFINITION_TASK_TYPES
        info = task.info(asyncio.get_running_loop().time(), with_definition=with_definition)
        return {"ProjectName": project, "EventId": task.event_id, **info}

    def _list_tasks(self, params: dict[str, Any]) -> dict[str, Any]:
        project = self._project(params)
        task_types = params.get("TaskTypes")
        if task_types is not None and not (
            isinstance(task_types, list) and all(isinstance(t, str) for t in task_types)
        ):
            raise invalid_argument("TaskTypes must be a JSON list of task types.")
        status = params.get("Status") or None
        if status is not None and status not in FINAL_STATUSES | {"Running"}:
            raise invalid_argument(f"Status {status!r} is not one of Running, Succeeded, Failed.")
        flt = TaskFilter(
            task_types=frozenset(task_types) if task_types else None,
            status=status,
            tags=_tag_selector(params.get("TagSelector")),
            start_range=_time_range(params, "StartTimeRange"),
            end_range=_time_range(params, "EndTimeRange"),
        )
        sort = {s.lower(): s for s in SORT_FIELDS}.get(str(params.get("Sort") or "TaskId").lower())
        if sort is None:
            raise invalid_argument(f"Sort must be one of {', '.join(sorted(SORT_FIELDS))}.")
        order = str(params.get("Order") or "asc").lower()
        if order not in ("asc", "desc"):
            raise invalid_argument("Order must be asc or desc.")
        max_results = _int_param(params, "MaxResults", 100, 1, 100)
        try:
            page, token = self.store.tasks.query(
                project,
                flt,
                sort=sort,
                descending=order == "desc",
                max_results=max_results,
                next_token=str(params.get("NextToken") or ""),
            )
        except InvalidPageToken as err:
            raise invalid_argument(str(err)) from None
        now = asyncio.get_running_loop().time()
        with_definition = _true(params.get("RequestDefinition"))
        return {
            "ProjectName": project,
            "NextToken": token,
            "MaxResults": max_results,
            "Tasks": [t.info(now, with_definition=with_definition) for t in page],
        }

    # Projects
    def _project(self, params: Mapping[str, Any]) -> str:
        name = _project_name(params)
        if name not in self.projects:
            raise resource_not_found(f"The specified resource project {name!r} is not found.")
        return name

    def _create_project(self, params: dict[str, Any]) -> dict[str, Any]:
        name = _project_name(params)
        if not _PROJECT_NAME.match(name):
            raise invalid_argument(
                f"ProjectName {name!r} is invalid: 1-128 letters, digits, '-' or '_', starting with a "
                "letter or digit."
            )
        if name in self.projects:
            raise resource_already_exists(f"The specified resource project {name!r} already exists.")
        tags = params.get("Tag") or []
        if not isinstance(tags, list) or not all(isinstance(t, dict) and "Key" in t for t in tags):
            raise invalid_argument("Tag must be a JSON list of {Key, Value} objects.")
        limits: dict[str, int] = {
            key: _int_param(params, key, 0, 0, 2**62)
            for key in (
                "ProjectMaxDatasetCount",
                "DatasetMaxBindCount",
                "DatasetMaxFileCount",
                "DatasetMaxEntityCount",
                "DatasetMaxRelationCount",
                "DatasetMaxTotalFileSize",
            )
            if key in params
        }
        project = Project(
            name,
            self.context.clock.time(),
            service_role=str(params.get("ServiceRole") or "AliyunIMMDefaultRole"),
            description=str(params.get("Description", "")),
            template_id=str(params.get("TemplateId", "")),
            tags=[{"Key": str(t["Key"]), "Value": str(t.get("Value", ""))} for t in tags],
            limits=limits,
        )
        self.projects[name] = project
        return {"Project": project.to_api()}

    def _get_project(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"Project": self.projects[self._project(params)].to_api()}

    def _list_projects(self, params: dict[str, Any]) -> dict[str, Any]:
        prefix = str(params.get("Prefix") or "")
        max_results = _int_param(params, "MaxResults", 100, 1, 200)
        after = str(params.get("NextToken") or "")
        wanted = params.get("Tag") or []
        if not isinstance(wanted, list):
            raise invalid_argument("Tag must be a JSON list of {Key, Value} objects.")
        names = sorted(
            name
            for name, project in self.projects.items()
            if name.startswith(prefix)
            and name > after
            and all(
                {"Key": str(w.get("Key")), "Value": str(w.get("Value", ""))} in project.tags
                for w in wanted
                if isinstance(w, dict)
            )
        )
        page = names[:max_results]
        return {
            "NextToken": page[-1] if len(names) > max_results else "",
            "Projects": [self.projects[n].to_api() for n in page],
        }

    def _delete_project(self, params: dict[str, Any]) -> dict[str, Any]:
        self.store.delete_project(self._project(params))
        return {}


def _decode(params: dict[str, str]) -> dict[str, Any]:
    decoded: dict[str, Any] = dict(params)
    for name in JSON_FIELDS.intersection(params):
        try:
            decoded[name] = json.loads(params[name])
        except ValueError:
            raise invalid_argument(f"{name} is not valid JSON.") from None
    return decoded


def _present(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != {}


def _required(params: Mapping[str, Any], name: str) -> str:
    value = params.get(name)
    if not _present(value):
        raise missing_parameter(name)
    return str(value)


def _project_name(params: Mapping[str, Any]) -> str:
    value = params.get("ProjectName")
    if not _present(value):
        raise project_name_missing()
    return str(value)


def _true(value: Any) -> bool:
    return str(value).lower() == "true"


def _int_param(params: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid_argument(f"{name} must be an integer, got {raw!r}.") from None
    if not low <= value <= high:
        raise invalid_argument(f"{name} must be between {low} and {high}, got {value}.")
    return value


def _event_id() -> str:
    """Shaped like IMM's EventIds: ``0ED-1Bz8z71k5TtsUejT4UJ16Es7Mgq``."""
    head = f"{_RANDOM.getrandbits(12):03X}"
    return f"{head}-{''.join(_RANDOM.choices(_EVENT_ID_CHARS, k=27))}"


def _override(user_data: str) -> Mapping[str, Any] | None:
    if not user_data.startswith("{") or OVERRIDE_KEY not in user_data:
        return None
    try:
        document = json.loads(user_data)
    except ValueError:
        return None
    if not isinstance(document, dict) or OVERRIDE_KEY not in document:
        return None
    spec = document[OVERRIDE_KEY]
    if not isinstance(spec, dict):
        raise invalid_argument(f"UserData {OVERRIDE_KEY!r} must be an object.")
    return spec


def _check_uris(op: TaskOperation, params: Mapping[str, Any], tags: Mapping[str, Any]) -> None:
    """Sources must be OSS URIs; targets must be valid templates that expand to OSS URIs."""
    first_source = None
    try:
        for path in op.source_paths:
            for value, _item in values_at(params, path):
                uri = parse_oss_uri(_text(value, path), field=path)
                first_source = first_source or uri
        now = datetime.now(timezone.utc)
        if first_source is not None:
            variables = source_variables(first_source.bucket, first_source.key, uploaded=now, created=now)
        else:
            variables = source_variables("bucket", "key", uploaded=now, created=now)
        trial = {**variables, "autoext": "ext", "index": "1", "streamindex": "0", "sheetname": "Sheet1"}
        trial["resolution"] = "1920x1080"
        for path in op.target_paths:
            for value, _item in values_at(params, path):
                text = _text(value, path)
                if path in op.folder_targets:
                    parse_oss_uri(text, field=path, allow_empty_key=True)
                    continue
                check_target_uri(
                    text, op.template_variables, tags=tags or None, has_tags=op.has_tags, field=path
                )
                parse_oss_uri(expand_target_uri(text, trial, tags), field=path)
    except (InvalidOssUriError, TargetUriTemplateError) as err:
        raise invalid_argument(str(err)) from None


def _text(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise invalid_argument(f"{path} must be a string, got {type(value).__name__}.")
    return value


def _tag_selector(raw: Any) -> dict[str, str | None] | None:
    """``key=value`` pairs joined by commas (``key`` alone: the tag is present), or a JSON object."""
    if not raw:
        return None
    text = str(raw).strip()
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError:
            raise invalid_argument("TagSelector is not valid JSON.") from None
        if not isinstance(document, dict):
            raise invalid_argument("TagSelector must be a JSON object.")
        return {str(k): None if v is None else str(v) for k, v in document.items()}
    selector: dict[str, str | None] = {}
    for pair in text.split(","):
        key, sep, value = pair.partition("=")
        if not key.strip():
            raise invalid_argument(f"TagSelector {text!r} is not 'key=value[,key=value...]'.")
        selector[key.strip()] = value.strip() if sep else None
    return selector


def _time_range(params: Mapping[str, Any], name: str) -> tuple[float | None, float | None] | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid_argument(f"{name} must be a JSON object {{Start, End}}.")
    return (_parse_time(value.get("Start"), name), _parse_time(value.get("End"), name))


def _parse_time(value: Any, name: str) -> float | None:
    if value is None or value == "":
        return None
    match = _ISO_TIME.match(str(value))
    if match is None:
        raise invalid_argument(f"{name} time {value!r} is not ISO-8601 like 2024-08-20T07:03:07Z.")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        when = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=timezone.utc
        )
    except ValueError:
        raise invalid_argument(f"{name} time {str(value)[:40]!r} is not a real date and time.") from None
    offset = 0
    if zone and zone.upper() != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return when.timestamp() - offset + (float(f"0.{fraction}") if fraction else 0.0)


def _rocketmq_target(value: Any) -> tuple[str, str] | None:
    """``Notification.RocketMQ`` as ``(InstanceId, TopicName)``; ``Endpoint``, which older documents
    show and SDK 5.0.3's model lacks, is accepted and ignored (the instance decides where it goes)."""
    if value is None:
        return None
    if not isinstance(value, dict) or not value.get("InstanceId") or not value.get("TopicName"):
        raise invalid_argument("Notification.RocketMQ must be a JSON object with InstanceId and TopicName.")
    return str(value["InstanceId"]), str(value["TopicName"])
