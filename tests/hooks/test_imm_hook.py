"""ImmHook against the emulator through the official SDKs: every credential kind, tasks, async twins."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from airflow_provider_imm.emulator import ImmEmulator
from airflow_provider_imm.hooks.imm import ImmApiError, ImmHook
from airflow_provider_imm.hooks.mns import MnsHook
from tests.emulated_imm import MakeConn

PROJECT = "test-project"


def _submit(hook: ImmHook, emulator: ImmEmulator, name: str = "a.docx", **tags: str) -> dict[str, str]:
    emulator.oss.put("bucket", f"in/{name}", b"document")
    request = {
        "SourceURI": f"oss://bucket/in/{name}",
        "TargetType": "pdf",
        "TargetURI": "oss://bucket/out/{barename}.pdf",
        "Tags": tags or {"run": "r1"},
    }
    return hook.create_task("CreateOfficeConversionTask", request)


def test_access_key_create_get_list_find(emulator: ImmEmulator, emulator_conn: MakeConn) -> None:
    hook = ImmHook(emulator_conn())
    created = _submit(hook, emulator, run="r1", dag="d")
    other = _submit(hook, emulator, "b.docx", run="r2", dag="d")
    assert set(created) == {"TaskId", "EventId", "RequestId"}

    task = hook.get_task(None, "OfficeConversion", created["TaskId"])
    assert (task["TaskId"], task["TaskType"], task["ProjectName"]) == (
        created["TaskId"],
        "OfficeConversion",
        PROJECT,
    )
    assert task["Tags"] == {"run": "r1", "dag": "d"}

    listed = list(hook.list_tasks(task_types=["OfficeConversion"], page_size=1))
    assert sorted(t["TaskId"] for t in listed) == sorted([created["TaskId"], other["TaskId"]])
    assert emulator.counters.get("imm", "ListTasks") >= 2  # one page per task: NextToken was followed

    assert [t["TaskId"] for t in hook.find_tasks({"run": "r2", "dag": "d"})] == [other["TaskId"]]
    assert hook.find_tasks({"run": "r2", "dag": "other"}) == []
    assert hook.get_conn() is hook.get_conn()  # cached per hook


def test_request_fields_are_checked_before_any_call(emulator: ImmEmulator, emulator_conn: MakeConn) -> None:
    hook = ImmHook(emulator_conn())
    with pytest.raises(ValueError, match=r"has no field 'TargetUri'\. Did you mean 'TargetURI'"):
        hook.create_task("CreateOfficeConversionTask", {"SourceURI": "oss://b/k", "TargetUri": "oss://b/o"})
    with pytest.raises(ValueError, match="No IMM project"):
        ImmHook(emulator_conn(project=None)).get_task(None, "OfficeConversion", "x")
    assert emulator.counters.total("imm") == 0


async def test_async_twins_use_the_async_connection_api(
    emulator: ImmEmulator, emulator_conn: MakeConn
) -> None:
    conn_id = emulator_conn()
    created = _submit(ImmHook(conn_id), emulator, run="async")
    hook = ImmHook(conn_id)
    task = await hook.aget_task(PROJECT, "OfficeConversion", created["TaskId"])
    assert task["TaskId"] == created["TaskId"]
    second = await hook.acreate_task(
        "CreateOfficeConversionTask",
        {
            "SourceURI": "oss://bucket/in/a.docx",
            "TargetType": "png",
            "TargetURI": "oss://bucket/png/{index}.png",
        },
    )
    listed = [t["TaskId"] async for t in hook.alist_tasks(page_size=1)]
    assert sorted(listed) == sorted([created["TaskId"], second["TaskId"]])
    assert [t["TaskId"] for t in await hook.afind_tasks({"run": "async"})] == [created["TaskId"]]
    # One page at a time, for callers that count their calls.
    first = await hook.alist_tasks_page(None, None, page_size=1, sort="StartTime")
    rest = await hook.alist_tasks_page(None, first["NextToken"], page_size=1, sort="StartTime")
    assert [t["TaskId"] for t in first["Tasks"] + rest["Tasks"]] == [created["TaskId"], second["TaskId"]]
    assert not rest["NextToken"]


def test_sts_token_credentials(emulator: ImmEmulator, emulator_conn: MakeConn) -> None:
    emulator.accounts.add_sts("STS.temporaryKey", "temporary-secret-value", "token-value-abc")
    ok = ImmHook(
        emulator_conn(
            login="STS.temporaryKey", password="temporary-secret-value", security_token="token-value-abc"
        )
    )
    assert ok.settings.auth_type == "sts"
    MnsHook(ok.imm_conn_id).ensure_notification_channel()
    assert ok.test_connection()[0] is True  # IMM and MNS both accept the token

    wrong = ImmHook(
        emulator_conn(
            login="STS.temporaryKey", password="temporary-secret-value", security_token="other-token"
        )
    )
    with pytest.raises(ImmApiError) as info:
        wrong.get_task(None, "OfficeConversion", "x")
    assert info.value.code == "InvalidSecurityToken.MismatchWithAccessKey"


async def test_ram_role_arn_through_the_emulator_sts(emulator: ImmEmulator, emulator_conn: MakeConn) -> None:
    conn_id = emulator_conn(
        role_arn=f"acs:ram::{emulator.account_id}:role/imm-runner",
        role_session_name="airflow",
        sts_endpoint=emulator.url,
    )
    hook = ImmHook(conn_id)
    assert hook.settings.auth_type == "ram_role_arn"
    created = _submit(hook, emulator)
    assert hook.get_task(None, "OfficeConversion", created["TaskId"])["TaskId"] == created["TaskId"]
    assert emulator.counters.get("sts", "AssumeRole") == 1  # credentials cached, not fetched per call

    async_hook = ImmHook(conn_id)
    task = await async_hook.aget_task(None, "OfficeConversion", created["TaskId"])
    assert task["TaskId"] == created["TaskId"]
    assert emulator.counters.get("sts", "AssumeRole") == 2


def test_ram_role_arn_refused_by_sts(emulator: ImmEmulator, emulator_conn: MakeConn) -> None:
    hook = ImmHook(
        emulator_conn(
            password="not-the-secret",
            role_arn=f"acs:ram::{emulator.account_id}:role/imm-runner",
            sts_endpoint=emulator.url,
        )
    )
    with pytest.raises(ImmApiError) as info:
        hook.get_task(None, "OfficeConversion", "x")
    assert info.value.code == "SignatureDoesNotMatch"
    assert "STS" in info.value.message
    assert emulator.counters.get("imm", "GetTask") == 0


def test_oidc_role_arn_through_the_emulator_sts(
    emulator: ImmEmulator, emulator_conn: MakeConn, tmp_path: Path
) -> None:
    token_file = tmp_path / "oidc-token"
    token_file.write_text("eyJhbGciOiJSUzI1NiJ9.e30.signature")
    hook = ImmHook(
        emulator_conn(
            login=None,
            password=None,
            role_arn=f"acs:ram::{emulator.account_id}:role/imm-runner",
            oidc_provider_arn=f"acs:ram::{emulator.account_id}:oidc-provider/ack-rrsa",
            oidc_token_file=str(token_file),
            sts_endpoint=emulator.url,
            mns_queue=None,
        )
    )
    assert hook.settings.auth_type == "oidc_role_arn"
    assert hook.test_connection()[0] is True
    assert emulator.counters.get("sts", "AssumeRoleWithOIDC") == 1


def test_alibaba_cloud_style_connection(emulator: ImmEmulator, make_conn: MakeConn) -> None:
    conn_id = make_conn(
        access_key_id=emulator.access_key_id,
        access_key_secret=emulator.access_key_secret,
        region=emulator.region,
        endpoint=f"http://{emulator.endpoint}",
    )
    ok, message = ImmHook(conn_id, project=PROJECT).test_connection()
    assert ok, message


def test_connection_json_round_trip(emulator_conn: MakeConn) -> None:
    conn_id = emulator_conn()
    raw = json.loads(os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"])
    assert raw["conn_type"] == "imm"
    assert ImmHook(conn_id).settings.conn_id == conn_id


async def test_text_that_cannot_be_encoded_is_a_bad_request_naming_the_field(
    emulator: ImmEmulator, emulator_conn: MakeConn
) -> None:
    hook = ImmHook(emulator_conn())
    request = {"SourceURI": "oss://bucket/\ud800.docx", "TargetType": "pdf", "TargetURI": "oss://bucket/out"}
    with pytest.raises(ImmApiError) as created:
        hook.create_task("CreateOfficeConversionTask", request)
    with pytest.raises(ImmApiError) as looked_up:
        hook.get_task(None, "OfficeConversion", "task-\udfff")
    with pytest.raises(ImmApiError) as alooked_up:
        await hook.aget_task(None, "OfficeConversion", "task-\udfff")
    for info, action, field in (
        (created, "CreateOfficeConversionTask", "SourceURI"),
        (looked_up, "GetTask", "TaskId"),
        (alooked_up, "GetTask", "TaskId"),
    ):
        err = info.value
        assert (err.action, err.code, err.kind) == (action, "InvalidArgument", "client")
        assert f"field {field!r}" in err.message and "UTF-8" in err.message
    assert emulator.counters.total("imm") == 0  # refused before anything was sent
