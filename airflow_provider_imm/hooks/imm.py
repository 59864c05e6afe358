"""ImmHook: IMM's asynchronous task API for workers (sync) and triggers (async).

Requests use IMM's own PascalCase field names (``SourceURI``, ``TargetURI``, ``Notification``, ...)
and answers come back as plain dicts with the names IMM answers with (``TaskId``, ``Status``, ...),
so IMM's documentation applies unchanged. Every action fact comes from
:mod:`airflow_provider_imm.catalog`.

Importing this module does not import the IMM or MNS SDK (DAG files parse fast); building a client
does. Async methods fetch the connection with the Task SDK's async API, so a trigger never does a
synchronous connection lookup on the triggerer's event loop.
"""

from __future__ import annotations

import asyncio
import difflib
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypedDict

from airflow_provider_imm import sdk
from airflow_provider_imm.catalog import TaskOperation, get_operation
from airflow_provider_imm.hooks.base import HookOptions, ImmBaseHook
from airflow_provider_imm.hooks.connection import DEFAULT_CONN_ID, ImmConnectionSettings
from airflow_provider_imm.hooks.credentials import (
    SigningCredentials,
    credential_hint,
    describe_credential_failure,
    is_credential_failure,
)
from airflow_provider_imm.hooks.errors import (
    exception_chain,
    invalid_url,
    never_connected,
    one_line,
    redact,
    root_reason,
    tls_failure,
    unencodable,
    unencodable_message,
    unparsable_answer,
)
from airflow_provider_imm.hooks.exceptions import (
    INVALID_ARGUMENT,
    INVALID_ENDPOINT,
    INVALID_RESPONSE,
    TLS_HANDSHAKE_FAILED,
    ErrorKind,
    ImmApiError,
    ImmConnectionConfigError,
)
from airflow_provider_imm.hooks.retry import Retrier, RetryPolicy

if TYPE_CHECKING:
    from typing import Unpack  # Python 3.11+; annotations only, so 3.10 never evaluates it

    from alibabacloud_imm20200930.client import Client as ImmClient

__all__ = ["ImmApiError", "ImmConnectionConfigError", "ImmHook", "RetryPolicy"]

_MS = 1000
_LIST_PAGE_MAX = 100


class ListTasksFilters(TypedDict, total=False):
    """ListTasks filters, in snake case: ``task_types`` (TaskType names), ``status``, ``tag_selector``
    (``key=value``), ``start_time_range`` / ``end_time_range`` (``{"Start": ..., "End": ...}``),
    ``sort``, ``order``, ``request_definition``, and ``page_size`` (1-100, default 100)."""

    task_types: Sequence[str] | None
    status: str | None
    tag_selector: str | None
    start_time_range: Mapping[str, str] | None
    end_time_range: Mapping[str, str] | None
    sort: str | None
    order: str | None
    request_definition: bool | None
    page_size: int


class ImmHook(ImmBaseHook):
    """Submit, look up and list IMM tasks through the ``imm`` connection.

    :param imm_conn_id: the ``imm`` connection.
    :param project: IMM project, overriding the connection's ``project`` extra.
    :param retry_policy: overrides the retry settings of the connection's extras.
    :param max_retry_seconds: caps the connection's ``retry_max_seconds`` (where a failed call is simply
        made again later, as in the triggerer, one call should not retry for a minute).
    :param options: ``credential_pool``, ``logger_name``, ... (see
        :class:`~airflow_provider_imm.hooks.base.HookOptions`).
    :param sleep: how to wait between attempts in sync calls (for tests; default ``time.sleep``).
    :param async_sleep: the same for async calls (default ``asyncio.sleep``).
    """

    hook_name = "Alibaba Cloud IMM"

    def __init__(
        self,
        imm_conn_id: str = DEFAULT_CONN_ID,
        *,
        project: str | None = None,
        retry_policy: RetryPolicy | None = None,
        max_retry_seconds: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        **options: Unpack[HookOptions],
    ) -> None:
        super().__init__(imm_conn_id, **options)
        self.project = project
        self._retry_policy = retry_policy
        self._max_retry_seconds = max_retry_seconds
        self._sleep = sleep
        self._async_sleep = async_sleep
        self._client: ImmClient | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(imm_conn_id={self.imm_conn_id!r}, project={self.project!r})"

    # Clients
    def get_conn(self) -> ImmClient:
        """The IMM SDK client for synchronous calls, built once per hook."""
        if self._client is None:
            self._client = self._build_client(self.settings)
        return self._client

    async def aget_conn(self) -> ImmClient:
        """The IMM SDK client for async calls (its ``*_async`` methods), from an async-fetched connection."""
        if self._client is None:
            settings = await self.aget_settings()
            if self._client is None:  # concurrent first calls share one client (and one credential cache)
                self._client = self._build_client(settings)
        return self._client

    def _build_client(self, settings: ImmConnectionSettings) -> ImmClient:
        return build_imm_client(settings, self.signing_credentials())

    @property
    def retry_policy(self) -> RetryPolicy:
        if self._retry_policy is None:
            self._retry_policy = self.settings.retry.within(self._max_retry_seconds)
        return self._retry_policy

    def _retrier(self, policy: RetryPolicy | None = None) -> Retrier:
        return Retrier(
            policy or self.retry_policy, sleep=self._sleep, async_sleep=self._async_sleep, log=self.log
        )

    def _translate(self, exc: BaseException, action: str) -> ImmApiError:
        return translate_sdk_error(exc, action, self.settings, extra_secrets=self.secrets())

    def _project(self, project: str | None) -> str:
        name = project or self.project or self.settings.project
        if not name:
            raise ValueError(
                f"No IMM project: pass project=... or set extra 'project' on connection {self.imm_conn_id!r}."
            )
        return name

    # Create*Task
    def create_task(
        self, action: str, request: Mapping[str, Any], project: str | None = None
    ) -> dict[str, Any]:
        """Submit a Create*Task ``action`` with ``request`` in IMM's field names.

        Returns IMM's answer, ``{"TaskId", "EventId", "RequestId"}``. Throttling is retried; a 5xx or a
        broken connection is not (the task may exist: look it up with :meth:`find_tasks`).
        """
        op = get_operation(action)
        model = _request_model(op, self._payload(op, request, project))
        method = getattr(self.get_conn(), op.sdk_method)
        response = self._retrier().call(op.action, lambda: method(model), self._translate, idempotent=False)
        return _body(response)

    async def acreate_task(
        self, action: str, request: Mapping[str, Any], project: str | None = None
    ) -> dict[str, Any]:
        """Async :meth:`create_task`."""
        await self.aget_settings()
        op = get_operation(action)
        model = _request_model(op, self._payload(op, request, project))
        method = getattr(await self.aget_conn(), f"{op.sdk_method}_async")
        response = await self._retrier().acall(
            op.action, lambda: method(model), self._translate, idempotent=False
        )
        return _body(response)

    def _payload(self, op: TaskOperation, request: Mapping[str, Any], project: str | None) -> dict[str, Any]:
        if not isinstance(request, Mapping):
            raise TypeError(
                f"{op.action} request must be a mapping of IMM field names, got {type(request).__name__}"
            )
        unknown = sorted(set(request) - op.all_fields)
        if unknown:
            close = difflib.get_close_matches(unknown[0], sorted(op.all_fields), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"{op.action} has no field {unknown[0]!r}.{hint} "
                f"Its fields: {', '.join(sorted(op.all_fields))}."
            )
        payload = dict(request)
        in_request = payload.get("ProjectName")
        if in_request and project and in_request != project:
            raise ValueError(f"ProjectName {in_request!r} in the request disagrees with project={project!r}.")
        payload["ProjectName"] = in_request or self._project(project)
        check_encodable(op.action, payload)
        return payload

    # GetTask
    def get_task(
        self, project: str | None, task_type: str, task_id: str, *, request_definition: bool = False
    ) -> dict[str, Any]:
        """GetTask: the task's ``Status``, ``Code``, ``Message``, times, ``Tags``, ``UserData``, ..."""
        model = (
            sdk.imm_models()
            .GetTaskRequest()
            .from_map(self._get_task_query(project, task_type, task_id, request_definition))
        )
        client = self.get_conn()
        response = self._retrier().call(
            "GetTask", lambda: client.get_task(model), self._translate, idempotent=True
        )
        return _body(response)

    async def aget_task(
        self, project: str | None, task_type: str, task_id: str, *, request_definition: bool = False
    ) -> dict[str, Any]:
        """Async :meth:`get_task`."""
        client = await self.aget_conn()
        model = (
            sdk.imm_models()
            .GetTaskRequest()
            .from_map(self._get_task_query(project, task_type, task_id, request_definition))
        )
        response = await self._retrier().acall(
            "GetTask", lambda: client.get_task_async(model), self._translate, idempotent=True
        )
        return _body(response)

    def _get_task_query(
        self, project: str | None, task_type: str, task_id: str, request_definition: bool
    ) -> dict[str, Any]:
        query = {"ProjectName": self._project(project), "TaskType": task_type, "TaskId": task_id}
        check_encodable("GetTask", query)
        return {**query, "RequestDefinition": request_definition or None}

    # ListTasks
    def list_tasks(
        self, project: str | None = None, **filters: Unpack[ListTasksFilters]
    ) -> Iterator[dict[str, Any]]:
        """Every task matching the filters (ListTasks ``TaskInfo`` dicts), following ``NextToken``.

        :param filters: see :class:`ListTasksFilters`.
        """
        query = self._list_query(project, filters)
        client = self.get_conn()
        retrier = self._retrier()
        while True:
            model = _list_request(query)
            call = functools.partial(client.list_tasks, model)
            page = _body(retrier.call("ListTasks", call, self._translate, idempotent=True))
            yield from page.get("Tasks") or []
            if not page.get("NextToken"):
                return
            query["NextToken"] = page["NextToken"]

    async def alist_tasks(
        self, project: str | None = None, **filters: Unpack[ListTasksFilters]
    ) -> AsyncIterator[dict[str, Any]]:
        """Async :meth:`list_tasks`."""
        client = await self.aget_conn()
        query = self._list_query(project, filters)
        retrier = self._retrier()
        while True:
            acall = functools.partial(client.list_tasks_async, _list_request(query))
            page = _body(await retrier.acall("ListTasks", acall, self._translate, idempotent=True))
            for task in page.get("Tasks") or []:
                yield task
            if not page.get("NextToken"):
                return
            query["NextToken"] = page["NextToken"]

    async def alist_tasks_page(
        self, project: str | None = None, next_token: str | None = None, **filters: Unpack[ListTasksFilters]
    ) -> dict[str, Any]:
        """One ListTasks page (``{"Tasks": [...], "NextToken": ...}``), for callers that count or bound
        the calls they make (shared reconciliation)."""
        client = await self.aget_conn()
        query = self._list_query(project, filters)
        if next_token:
            query["NextToken"] = next_token
        acall = functools.partial(client.list_tasks_async, _list_request(query))
        return _body(await self._retrier().acall("ListTasks", acall, self._translate, idempotent=True))

    def _list_query(self, project: str | None, filters: ListTasksFilters) -> dict[str, Any]:
        unknown = sorted(set(filters) - set(ListTasksFilters.__annotations__))
        if unknown:
            raise TypeError(f"list_tasks() got an unexpected keyword argument {unknown[0]!r}")
        page_size = filters.get("page_size", _LIST_PAGE_MAX)
        if not 1 <= page_size <= _LIST_PAGE_MAX:
            raise ValueError(f"page_size must be between 1 and {_LIST_PAGE_MAX}, got {page_size}")
        task_types = filters.get("task_types")
        if isinstance(task_types, str):
            raise TypeError("task_types must be a list of TaskType names, not a string")
        start, end = filters.get("start_time_range"), filters.get("end_time_range")
        query: dict[str, Any] = {
            "ProjectName": self._project(project),
            "TaskTypes": list(task_types) if task_types else None,
            "Status": filters.get("status"),
            "TagSelector": filters.get("tag_selector"),
            "StartTimeRange": dict(start) if start else None,
            "EndTimeRange": dict(end) if end else None,
            "Sort": filters.get("sort"),
            "Order": filters.get("order"),
            "RequestDefinition": filters.get("request_definition"),
            "MaxResults": page_size,
        }
        check_encodable("ListTasks", query)
        return {k: v for k, v in query.items() if v is not None}

    # Tag search
    def find_tasks(
        self, tags: Mapping[str, str], project: str | None = None, **filters: Unpack[ListTasksFilters]
    ) -> list[dict[str, Any]]:
        """Tasks carrying every one of ``tags`` (e.g. to find a task an earlier try created), among
        those the other filters (``task_types``, ``status``, ...) select.

        The service narrows the list with ListTasks ``TagSelector`` on one tag (``key=value``); all
        tags are then checked here on each task's ``Tags``, so the result does not depend on how the
        service combines several tags in one selector.
        """
        tasks = self.list_tasks(project, **_with_tag_selector(filters, tags))
        return [task for task in tasks if has_tags(task, tags)]

    async def afind_tasks(
        self, tags: Mapping[str, str], project: str | None = None, **filters: Unpack[ListTasksFilters]
    ) -> list[dict[str, Any]]:
        """Async :meth:`find_tasks`."""
        tasks = self.alist_tasks(project, **_with_tag_selector(filters, tags))
        return [task async for task in tasks if has_tags(task, tags)]

    # Test connection
    def test_connection(self) -> tuple[bool, str]:
        """One cheap authenticated read, no retries: GetProject of the connection's project, else
        ListProjects with MaxResults=1. The message is one line; on failure ``<Code>: <message>``.
        """
        try:
            settings = self.settings
            client = self.get_conn()
            models = sdk.imm_models()
            retrier = self._retrier(RetryPolicy(max_attempts=1))
            where = f"{settings.protocol}://{settings.imm_endpoint}"
            project = self.project or settings.project
            if project:
                get = functools.partial(client.get_project, models.GetProjectRequest(project_name=project))
                retrier.call("GetProject", get, self._translate, idempotent=True)
                imm = f"Connected to IMM at {where}: project {project!r} is reachable"
            else:
                listing = functools.partial(client.list_projects, models.ListProjectsRequest(max_results=1))
                retrier.call("ListProjects", listing, self._translate, idempotent=True)
                imm = f"Connected to IMM at {where}: credentials accepted (no default project set)"
            if not settings.mns_queue:
                return True, imm + "."
            return self._test_notifications(settings, imm)
        except ImmApiError as err:
            return False, err.summary
        except ImmConnectionConfigError as err:
            return False, one_line(f"InvalidConnection: {err}")
        except Exception as err:
            return False, one_line(redact(f"{type(err).__name__}: {err}", self.secrets()))

    def _test_notifications(self, settings: ImmConnectionSettings, imm: str) -> tuple[bool, str]:
        """The MNS side of :meth:`test_connection`, for a connection that names a queue."""
        from airflow_provider_imm.hooks.mns import MnsHook

        mns = MnsHook(self.imm_conn_id, settings=settings, credentials=self.signing_credentials())
        problem = mns.diagnose_notification_channel()
        if problem:
            return False, one_line(f"IMM is reachable, but {problem}")
        channel = f"queue {settings.mns_queue!r}"
        if settings.mns_topic:
            via = (
                f"subscription {settings.mns_subscription!r}"
                if settings.mns_subscription
                else "a subscription"
            )
            channel = f"topic {settings.mns_topic!r} -> {via} -> {channel}"
        return True, f"{imm}; MNS {channel} is ready."


def build_imm_client(
    settings: ImmConnectionSettings, credentials: SigningCredentials | None = None
) -> ImmClient:
    """The IMM SDK client for ``settings``: region -> ``imm.<region>.aliyuncs.com`` unless overridden.

    ``credentials`` signs its calls; by default a new credentials client for the connection.
    """
    client_class = sdk.load("alibabacloud_imm20200930.client").Client
    config_class = sdk.load("alibabacloud_tea_openapi.utils_models").Config
    if credentials is None:
        from airflow_provider_imm.hooks.credentials import build_credential_client

        credentials = SigningCredentials(build_credential_client(settings))
    config = config_class(
        credential=credentials,
        endpoint=settings.imm_endpoint,
        region_id=settings.region,
        protocol=settings.protocol,
    )
    if settings.connect_timeout is not None:
        config.connect_timeout = int(settings.connect_timeout * _MS)
    if settings.read_timeout is not None:
        config.read_timeout = int(settings.read_timeout * _MS)
    return client_class(config)


def check_encodable(action: str, fields: Mapping[str, Any]) -> None:
    """Refuse, as a bad request naming the field, text the HTTP client could not encode.

    Sent anyway, it fails inside the HTTP library, where it looks like a broken connection.
    """
    found = unencodable(dict(fields))
    if found is not None:
        raise ImmApiError(
            action=action, code=INVALID_ARGUMENT, message=unencodable_message(*found), kind="client"
        )


def tag_selector_for(tags: Mapping[str, str]) -> str:
    """ListTasks ``TagSelector`` for the first tag in key order, ``key=value``."""
    if not tags:
        raise ValueError("find_tasks needs at least one tag")
    key = min(tags)
    return f"{key}={tags[key]}"


def _with_tag_selector(filters: ListTasksFilters, tags: Mapping[str, str]) -> ListTasksFilters:
    """``filters`` narrowed by ``tags``; a ``tag_selector`` of the caller's would be replaced silently."""
    if "tag_selector" in filters:
        raise TypeError("find_tasks takes tags, not a tag_selector")
    return {**filters, "tag_selector": tag_selector_for(tags)}


def has_tags(task: Mapping[str, Any], tags: Mapping[str, str]) -> bool:
    found = task.get("Tags") or {}
    return isinstance(found, Mapping) and all(found.get(k) == v for k, v in tags.items())


def translate_sdk_error(
    exc: BaseException, action: str, settings: ImmConnectionSettings, *, extra_secrets: tuple[str, ...] = ()
) -> ImmApiError:
    """One :class:`ImmApiError` for whatever the SDK raised; re-raises anything that is not the SDK's.

    ``extra_secrets`` (the temporary credentials a role kind signed with) are scrubbed from the text as
    well as the connection's own secrets.
    """
    openapi_errors = sdk.load("alibabacloud_tea_openapi.exceptions")
    darabonba_errors = sdk.load("darabonba.exceptions")

    if isinstance(exc, ImmApiError):
        return exc
    secrets = settings.secrets + extra_secrets
    if isinstance(exc, openapi_errors.AlibabaCloudException):
        data = exc.data if isinstance(exc.data, dict) else {}
        code = str(data.get("Code") or exc.code or "Unknown")
        message = str(data.get("Message") or exc.message or "")
        request_id = data.get("RequestId") or (None if exc.request_id in (None, "None") else exc.request_id)
        status = exc.status_code
        kind: ErrorKind
        if (
            isinstance(exc, openapi_errors.ThrottlingException)
            or code.startswith("Throttling")
            or status == 429
        ):
            kind = "throttled"
        elif status is not None and status >= 500:
            kind = "server"
        else:
            kind = "client"
        retry_after_ms = getattr(exc, "retry_after", None)
        return ImmApiError(
            action=action,
            code=code,
            message=one_line(redact(message, secrets)) + credential_hint(code, settings),
            kind=kind,
            request_id=str(request_id) if request_id else None,
            status_code=status,
            retry_after=retry_after_ms / 1000 if retry_after_ms else None,
        )
    if isinstance(exc, darabonba_errors.UnretryableException):
        inner = exc.inner_exception
        if is_credential_failure(inner):
            failure = describe_credential_failure(inner, settings, extra_secrets)
            return ImmApiError(
                action=action,
                code=failure.code,
                message=failure.message,
                kind=failure.kind,
                request_id=failure.request_id,
            )
        where = f"{settings.protocol}://{settings.imm_endpoint}"
        unreadable = unparsable_answer(inner)
        if unreadable is not None:
            # The service, or a gateway in front of it, answered: retried as a 5xx would be.
            text = f"{where} answered something other than JSON: {unreadable}"
            return ImmApiError(
                action=action,
                code=INVALID_RESPONSE,
                message=one_line(redact(text, secrets)),
                kind="server",
            )
        if invalid_url(inner):
            return ImmApiError(
                action=action,
                code=INVALID_ENDPOINT,
                message=f"cannot call {where}: the HTTP client refuses it as a URL; check the connection's "
                "endpoint (host[:port], port 1-65535)",
                kind="client",
            )
        if any(isinstance(e, UnicodeEncodeError) for e in exception_chain(inner)):
            return ImmApiError(
                action=action,
                code=INVALID_ARGUMENT,
                message="the request holds text that cannot be encoded as UTF-8; fix the request's values",
                kind="client",
            )
        reason = root_reason(inner)
        if tls_failure(inner):
            hint = (
                "; if it speaks plain HTTP (such as the local emulator), set extra 'protocol' to 'http'"
                if settings.protocol == "https"
                else ""
            )
            return ImmApiError(
                action=action,
                code=TLS_HANDSHAKE_FAILED,
                message=f"TLS handshake with {where} failed" + (f" ({reason})" if reason else "") + hint,
                kind="client",
            )
        if never_connected(inner):
            return ImmApiError(
                action=action,
                code="EndpointUnreachable",
                message=f"cannot connect to {where}" + (f" ({reason})" if reason else ""),
                kind="connect",
            )
        return ImmApiError(
            action=action,
            code="NetworkError",
            message=f"connection to {where} failed" + (f" ({reason})" if reason else ""),
            kind="network",
        )
    raise exc


def _request_model(op: TaskOperation, payload: Mapping[str, Any]) -> Any:
    return getattr(sdk.imm_models(), op.request_model)().from_map(dict(payload))


def _list_request(query: Mapping[str, Any]) -> Any:
    return sdk.imm_models().ListTasksRequest().from_map(dict(query))


def _body(response: Any) -> dict[str, Any]:
    body = response.body
    return dict(body.to_map()) if body is not None else {}
