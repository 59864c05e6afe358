"""The hook's lean RPC client sends IMM what the official SDK sends, byte for byte.

Each request goes to the emulator once through the official IMM SDK client and once through
:class:`~airflow_provider_imm.hooks.imm.ImmHook` (which uses :mod:`airflow_provider_imm.hooks.rpc`);
the emulator records both as they arrived. Method, path, the query as sent and in canonical form,
body and every signed header must be equal, apart from the two headers that differ between any two
requests (date and nonce), and both signatures must hold. Every Create*Task action is sent from its
minimal request and from one using every field (each nested model with every key, listed out of
order and with a key the SDK drops), then GetTask and ListTasks; sync and async, AccessKey and STS.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from alibabacloud_imm20200930 import models

from airflow_provider_imm.catalog import OPERATIONS, get_operation
from airflow_provider_imm.emulator import ImmEmulator
from airflow_provider_imm.emulator.imm_signature import RecordedRequest
from airflow_provider_imm.hooks.imm import ImmHook
from airflow_provider_imm.request_models import MODELS, REQUESTS, Spec
from tests.emulated_imm import MakeConn
from tests.minimal_requests import MINIMAL
from tests.sdk_clients import imm_client_for

PROJECT = "test-project"
STS = ("STS.temporaryKey", "temporary-secret-value", "token+value/abc=")
#: Headers that differ between any two requests, whoever sends them.
PER_REQUEST = {"x-acs-date", "x-acs-signature-nonce"}
_SEQ = itertools.count()


def _value(key: str, spec: Spec, depth: int = 0) -> Any:
    """A value of ``spec``: short (a full MediaConvert request must fit the emulator's 8 KB request
    line), with characters that need escaping at the top level."""
    kind = spec[0]
    if kind == "model":
        return _model_value(spec[1], depth + 1)
    if kind == "list":
        if spec[1][0] == "model":
            return [_model_value(spec[1][1], depth + 1), {}]
        return ["x 1", "y&2"]
    if kind == "dict":
        return {"b": "2", "a": f"v{next(_SEQ)}", "ünï": "çødé"}
    return f"v{next(_SEQ)}" if depth else f"{key[:4]}-{next(_SEQ)} &=+/%é~"


def _model_value(model: str, depth: int) -> dict[str, Any]:
    """Every key of ``model`` (nested models to depth 3), in reverse order, plus one the SDK drops."""
    value: dict[str, Any] = {"Unknown": 0}
    for key, spec in reversed(MODELS[model]):
        if depth <= 3 or spec[0] == "value":
            value[key] = _value(key, spec, depth)
    return value


def full_request(action: str) -> dict[str, Any]:
    """Every field of ``action``'s request, complex ones with every nested key."""
    request = {key: _value(key, spec) for key, spec, _, _ in reversed(REQUESTS[action])}
    request["ProjectName"] = PROJECT
    return request


def _requests() -> Iterator[Any]:
    for action in sorted(OPERATIONS):
        yield pytest.param(
            action, {"ProjectName": PROJECT, **MINIMAL[action].request}, id=f"{action}-minimal"
        )
        yield pytest.param(action, full_request(action), id=f"{action}-full")


def _sdk_method(action: str) -> str:
    return {"GetTask": "get_task", "ListTasks": "list_tasks"}.get(action) or get_operation(action).sdk_method


def _sdk_send(client: Any, action: str, params: dict[str, Any]) -> Any:
    model = getattr(models, f"{action}Request")().from_map(params)
    try:
        return getattr(client, _sdk_method(action))(model).body.to_map()
    except Exception as err:  # the emulator may refuse a request: its recording is what counts
        return type(err).__name__


async def _asdk_send(client: Any, action: str, params: dict[str, Any]) -> Any:
    model = getattr(models, f"{action}Request")().from_map(params)
    try:
        return (await getattr(client, f"{_sdk_method(action)}_async")(model)).body.to_map()
    except Exception as err:
        return type(err).__name__


def _hook_send(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except Exception as err:
        return type(err).__name__


async def _ahook_send(call: Callable[[], Awaitable[Any]]) -> Any:
    try:
        return await call()
    except Exception as err:
        return type(err).__name__


def assert_same(sdk: RecordedRequest, ours: RecordedRequest) -> None:
    assert (ours.method, ours.path) == (sdk.method, sdk.path) == ("POST", "/")
    assert ours.canonical_query == sdk.canonical_query
    assert ours.raw_query == sdk.raw_query
    assert ours.body == sdk.body
    assert set(ours.signed_headers) == set(sdk.signed_headers)
    assert {k: v for k, v in ours.signed_headers.items() if k not in PER_REQUEST} == {
        k: v for k, v in sdk.signed_headers.items() if k not in PER_REQUEST
    }
    assert set(ours.signed_headers) >= PER_REQUEST
    assert (sdk.refused, ours.refused) == (None, None)  # both signatures hold


@pytest.fixture
def recording(emulator: ImmEmulator) -> list[RecordedRequest]:
    return emulator.imm.record_requests()


def _pair(recorded: list[RecordedRequest]) -> tuple[RecordedRequest, RecordedRequest]:
    assert len(recorded) == 2, [r.signed_headers.get("x-acs-action") for r in recorded]
    sdk, ours = recorded
    recorded.clear()
    return sdk, ours


@pytest.mark.parametrize(("action", "params"), list(_requests()))
def test_create_task_requests_are_the_sdks(
    emulator: ImmEmulator,
    emulator_conn: MakeConn,
    recording: list[RecordedRequest],
    action: str,
    params: dict[str, Any],
) -> None:
    client = imm_client_for(emulator)
    hook = ImmHook(emulator_conn(mns_queue=None))

    sdk_answer = _sdk_send(client, action, params)
    ours_answer = _hook_send(lambda: hook.create_task(action, params))
    sdk, ours = _pair(recording)
    assert_same(sdk, ours)
    assert type(sdk_answer) is type(ours_answer)  # both accepted, or both refused


@pytest.mark.parametrize(("action", "params"), list(_requests()))
async def test_async_create_task_requests_are_the_sdks(
    emulator: ImmEmulator,
    emulator_conn: MakeConn,
    recording: list[RecordedRequest],
    action: str,
    params: dict[str, Any],
) -> None:
    client = imm_client_for(emulator)
    hook = ImmHook(emulator_conn(mns_queue=None))

    sdk_answer = await _asdk_send(client, action, params)
    ours_answer = await _ahook_send(lambda: hook.acreate_task(action, params))
    sdk, ours = _pair(recording)
    assert_same(sdk, ours)
    assert type(sdk_answer) is type(ours_answer)


LIST_FILTERS: dict[str, Any] = {
    "task_types": ["OfficeConversion", "MediaConvert"],
    "status": None,
    "tag_selector": None,
    "start_time_range": {"Start": "2020-01-01T00:00:00Z", "End": "2099-12-31T00:00:00Z"},
    "end_time_range": {"End": "2099-12-31T00:00:00Z", "Start": "2020-01-01T00:00:00Z"},
    "sort": "StartTime",
    "order": "DESC",
    "request_definition": True,
    "page_size": 1,
}
LIST_QUERY: dict[str, Any] = {
    "ProjectName": PROJECT,
    "TaskTypes": ["OfficeConversion", "MediaConvert"],
    "Status": None,
    "TagSelector": None,
    "StartTimeRange": {"Start": "2020-01-01T00:00:00Z", "End": "2099-12-31T00:00:00Z"},
    "EndTimeRange": {"End": "2099-12-31T00:00:00Z", "Start": "2020-01-01T00:00:00Z"},
    "Sort": "StartTime",
    "Order": "DESC",
    "RequestDefinition": True,
    "MaxResults": 1,
}


def _submitted(emulator: ImmEmulator) -> str:
    """A task that keeps running, so both clients read the same state."""
    emulator.imm.set_behaviour("CreateOfficeConversionTask", duration=None)
    client = imm_client_for(emulator)
    request = {"ProjectName": PROJECT, **MINIMAL["CreateOfficeConversionTask"].request}
    return client.create_office_conversion_task(
        models.CreateOfficeConversionTaskRequest().from_map(request)
    ).body.task_id


@pytest.mark.parametrize("security_token", [False, True], ids=["access_key", "sts"])
def test_get_task_and_list_tasks_requests_are_the_sdks(
    emulator: ImmEmulator, emulator_conn: MakeConn, security_token: bool
) -> None:
    task_id = _submitted(emulator)
    recording = emulator.imm.record_requests()
    if security_token:
        emulator.accounts.add_sts(*STS)
        client = imm_client_for(
            emulator, access_key_id=STS[0], access_key_secret=STS[1], security_token=STS[2]
        )
        hook = ImmHook(emulator_conn(mns_queue=None, login=STS[0], password=STS[1], security_token=STS[2]))
    else:
        client = imm_client_for(emulator)
        hook = ImmHook(emulator_conn(mns_queue=None))

    for definition in (False, True):
        get = {"ProjectName": PROJECT, "TaskType": "OfficeConversion", "TaskId": task_id}
        if definition:
            get["RequestDefinition"] = True
        sdk_answer = _sdk_send(client, "GetTask", get)
        ours_answer = hook.get_task(None, "OfficeConversion", task_id, request_definition=definition)
        assert_same(*_pair(recording))
        assert set(ours_answer) == set(sdk_answer)  # the fields the SDK's model keeps, and no others
        assert ours_answer["TaskId"] == sdk_answer["TaskId"] == task_id

    sdk_answer = _sdk_send(client, "ListTasks", LIST_QUERY)
    ours_listed = list(hook.list_tasks(**LIST_FILTERS))
    assert_same(*_pair(recording))
    assert [t["TaskId"] for t in ours_listed] == [t["TaskId"] for t in sdk_answer.get("Tasks") or []]

    sdk_answer = _sdk_send(client, "ListTasks", {"ProjectName": PROJECT, "MaxResults": 100})
    ours_listed = list(hook.list_tasks())
    assert_same(*_pair(recording))
    assert [set(t) for t in ours_listed] == [set(t) for t in sdk_answer["Tasks"]] != []


async def test_async_get_task_and_list_tasks_requests_are_the_sdks(
    emulator: ImmEmulator, emulator_conn: MakeConn
) -> None:
    task_id = _submitted(emulator)
    recording = emulator.imm.record_requests()
    emulator.accounts.add_sts(*STS)
    client = imm_client_for(emulator, access_key_id=STS[0], access_key_secret=STS[1], security_token=STS[2])
    hook = ImmHook(emulator_conn(mns_queue=None, login=STS[0], password=STS[1], security_token=STS[2]))

    get = {
        "ProjectName": PROJECT,
        "TaskType": "OfficeConversion",
        "TaskId": task_id,
        "RequestDefinition": True,
    }
    sdk_answer = await _asdk_send(client, "GetTask", get)
    ours_answer = await hook.aget_task(None, "OfficeConversion", task_id, request_definition=True)
    assert_same(*_pair(recording))
    assert set(ours_answer) == set(sdk_answer) and ours_answer["TaskId"] == task_id

    sdk_answer = await _asdk_send(client, "ListTasks", LIST_QUERY)
    ours_listed = [t async for t in hook.alist_tasks(**LIST_FILTERS)]
    assert_same(*_pair(recording))
    assert [t["TaskId"] for t in ours_listed] == [t["TaskId"] for t in sdk_answer.get("Tasks") or []]
