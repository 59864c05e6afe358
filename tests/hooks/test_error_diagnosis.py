"""Failures told apart correctly: an unreadable answer is not a network failure, an invalid endpoint
or an unreadable token file is not blamed on the wrong party, and each is retried only if that helps."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest
from airflow.sdk import Connection

from airflow_provider_imm.emulator import ImmEmulator
from airflow_provider_imm.hooks.connection import parse_connection
from airflow_provider_imm.hooks.errors import INVALID_ENDPOINT, INVALID_RESPONSE, ImmApiError
from airflow_provider_imm.hooks.imm import ImmHook, translate_sdk_error
from airflow_provider_imm.hooks.retry import RetryPolicy
from tests.emulated_imm import MakeConn
from tests.hooks.stub_servers import Answer, bad_gateway, stub_server

FAST = RetryPolicy(max_attempts=3, max_seconds=30, base_delay=0.01, max_delay=0.02)
REQUEST = {
    "SourceURI": "oss://bucket/in/a.docx",
    "TargetType": "pdf",
    "TargetURI": "oss://bucket/o/{barename}",
}


def _error(call: object) -> ImmApiError:
    with pytest.raises(ImmApiError) as info:
        call()  # type: ignore[operator]
    return info.value


async def _aerror(call: object) -> ImmApiError:
    with pytest.raises(ImmApiError) as info:
        await call()  # type: ignore[operator]
    return info.value


def _check_unreadable(err: ImmApiError, where: str) -> None:
    assert (err.code, err.kind, err.status_code) == (INVALID_RESPONSE, "server", None)
    assert err.message.startswith(f"http://{where} answered something other than JSON: ")
    assert 'Failed to parse the value as json format, Value: "<html>' in err.message
    assert "unreadable response" in str(err)
    assert "StopIteration" not in str(err) and "no response" not in str(err)


async def test_an_html_error_page_is_an_unreadable_answer_retried_like_a_5xx(
    emulator_conn: MakeConn,
) -> None:
    with stub_server(bad_gateway) as gateway:
        hook = ImmHook(emulator_conn(endpoint=gateway.endpoint), retry_policy=FAST, async_sleep=_no_wait)

        read = _error(lambda: hook.get_task(None, "OfficeConversion", "OfficeConversion-x"))
        _check_unreadable(read, gateway.endpoint)
        assert read.attempts == len(gateway.requests) == FAST.max_attempts

        aread = await _aerror(lambda: hook.aget_task(None, "OfficeConversion", "OfficeConversion-x"))
        _check_unreadable(aread, gateway.endpoint)
        assert len(gateway.requests) == 2 * FAST.max_attempts

        # The request got through to something: a Create*Task may have been passed on, so it is not repeated.
        submit = _error(lambda: hook.create_task("CreateOfficeConversionTask", REQUEST))
        _check_unreadable(submit, gateway.endpoint)
        assert submit.attempts == 1 and len(gateway.requests) == 2 * FAST.max_attempts + 1


async def test_an_endpoint_with_an_invalid_port_is_a_final_endpoint_error(emulator_conn: MakeConn) -> None:
    hook = ImmHook(emulator_conn(endpoint="127.0.0.1:99999"), retry_policy=FAST, async_sleep=_no_wait)

    for err in (
        _error(lambda: hook.get_task(None, "OfficeConversion", "OfficeConversion-x")),
        await _aerror(lambda: hook.aget_task(None, "OfficeConversion", "OfficeConversion-x")),
    ):
        assert (err.code, err.kind, err.attempts) == (INVALID_ENDPOINT, "client", 1)
        assert "http://127.0.0.1:99999" in err.message and "endpoint" in err.message
        assert "credentials" not in str(err)
    ok, message = hook.test_connection()
    assert not ok and message.startswith(f"{INVALID_ENDPOINT}: cannot call http://127.0.0.1:99999")


def test_an_unreadable_oidc_token_file_is_a_credential_error(
    emulator: ImmEmulator, emulator_conn: MakeConn, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-token"
    hook = ImmHook(
        emulator_conn(
            login=None,
            password=None,
            role_arn=f"acs:ram::{emulator.account_id}:role/imm-runner",
            oidc_provider_arn=f"acs:ram::{emulator.account_id}:oidc-provider/ack-rrsa",
            oidc_token_file=str(missing),
            sts_endpoint=emulator.url,
        ),
        retry_policy=FAST,
    )

    err = _error(lambda: hook.get_task(None, "OfficeConversion", "OfficeConversion-x"))

    assert (err.code, err.kind, err.attempts) == ("CredentialError", "client", 1)
    assert "cannot obtain oidc_role_arn credentials" in err.message and str(missing) in err.message
    assert emulator.counters.total("imm") == 0 and emulator.counters.total("sts") == 0


async def _no_wait(seconds: float) -> None:
    return None


def test_an_encoding_failure_inside_the_sdk_is_a_bad_request_not_a_network_error() -> None:
    from darabonba.exceptions import UnretryableException
    from darabonba.policy.retry import RetryPolicyContext

    settings = parse_connection(
        Connection(
            conn_id="c", conn_type="imm", login="k", password="secret-x", extra='{"region": "cn-hangzhou"}'
        )
    )
    try:
        "\ud800".encode("utf-8")
    except UnicodeEncodeError as cause:
        sdk_error = UnretryableException(RetryPolicyContext(exception=cause))
    err = translate_sdk_error(sdk_error, "GetTask", settings)
    assert (err.code, err.kind) == ("InvalidArgument", "client")
    assert "cannot be encoded as UTF-8" in err.message


async def test_https_to_a_plain_http_endpoint_is_reported_on_the_call_with_the_protocol_hint(
    emulator: ImmEmulator, emulator_conn: MakeConn
) -> None:
    hook = ImmHook(emulator_conn(protocol="https"), retry_policy=FAST)
    errors = [
        _error(lambda: hook.create_task("CreateOfficeConversionTask", REQUEST)),
        await _aerror(lambda: hook.acreate_task("CreateOfficeConversionTask", REQUEST)),
        _error(lambda: hook.get_task(None, "OfficeConversion", "t")),
    ]
    for err, action in zip(
        errors, ["CreateOfficeConversionTask", "CreateOfficeConversionTask", "GetTask"], strict=True
    ):
        assert (err.action, err.code, err.kind, err.attempts) == (action, "TlsHandshakeFailed", "client", 1)
        assert f"https://{emulator.endpoint}" in err.message
        assert "set extra 'protocol' to 'http'" in err.message
    assert emulator.counters.total("imm") == 0


def _imm_error(status: int, code: str) -> Answer:
    def answer(headers: Mapping[str, str]) -> tuple[int, str, str]:
        body = {"RequestId": "5E0A-CODE", "HostId": "imm", "Code": code, "Message": f"{code} happened."}
        return status, "application/json", json.dumps(body)

    return answer


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "ResourceNotFound"),  # as IMM documents it
        (404, "ResourceNotFound"),  # as the emulator once answered
        (400, "ResourceAlreadyExists"),
        (409, "ResourceAlreadyExists"),
        (400, "InvalidArgument"),
    ],
)
async def test_errors_are_classified_by_imms_code_whatever_the_http_status(
    emulator_conn: MakeConn, status: int, code: str
) -> None:
    with stub_server(_imm_error(status, code)) as imm:
        hook = ImmHook(emulator_conn(endpoint=imm.endpoint, mns_queue=None), retry_policy=FAST)
        errors = [
            _error(lambda: hook.get_task(None, "OfficeConversion", "t")),
            await _aerror(lambda: hook.aget_task(None, "OfficeConversion", "t")),
            _error(lambda: hook.create_task("CreateOfficeConversionTask", REQUEST)),
        ]
        ok, message = hook.test_connection()
    for err in errors:
        assert (err.code, err.kind, err.status_code, err.attempts) == (code, "client", status, 1)
    assert len(imm.requests) == 4  # none retried
    assert (ok, message) == (False, f"{code}: {code} happened.")
