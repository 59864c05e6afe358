"""Request signatures (ACS3-HMAC-SHA256 and the legacy RPC form) checked as Alibaba Cloud's gateway does."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest
from alibabacloud_imm20200930 import models
from alibabacloud_imm20200930.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException
from darabonba.runtime import ExtendsParameters, RuntimeOptions

from airflow_provider_imm.emulator import DEFAULT_PROJECT, ImmEmulator
from tests.sdk_clients import imm_client_for

ALGORITHMS = [pytest.param(None, id="acs3"), pytest.param("v2", id="rpc-v2")]
GET_PROJECT = models.GetProjectRequest(project_name=DEFAULT_PROJECT)
STS_KEY = {"access_key_id": "STS.key", "access_key_secret": "sts-secret"}


def refused(client: Client, runtime: RuntimeOptions | None = None) -> ClientException:
    with pytest.raises(ClientException) as err:
        client.get_project_with_options(GET_PROJECT, runtime or RuntimeOptions())
    return err.value


def overriding(algorithm: str | None, *, date: str | None = None, nonce: str | None = None) -> RuntimeOptions:
    """Runtime options that replace the date or nonce the SDK would send (and then sign)."""
    if algorithm == "v2":
        queries = {k: v for k, v in (("Timestamp", date), ("SignatureNonce", nonce)) if v}
        return RuntimeOptions(extends_parameters=ExtendsParameters(queries=queries))
    headers = {k: v for k, v in (("x-acs-date", date), ("x-acs-signature-nonce", nonce)) if v}
    return RuntimeOptions(extends_parameters=ExtendsParameters(headers=headers))


def stamp(delta: timedelta) -> str:
    return (datetime.now(timezone.utc) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_correctly_signed_call_is_served(emulator: ImmEmulator, algorithm: str | None) -> None:
    body = imm_client_for(emulator, signature_algorithm=algorithm).get_project(GET_PROJECT).body

    assert body.project.project_name == DEFAULT_PROJECT and body.request_id


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_wrong_secret_is_signature_does_not_match(emulator: ImmEmulator, algorithm: str | None) -> None:
    err = refused(imm_client_for(emulator, signature_algorithm=algorithm, access_key_secret="not-the-secret"))

    assert (err.status_code, err.code) == (400, "SignatureDoesNotMatch")
    assert "not-the-secret" not in str(err) and emulator.access_key_secret not in str(err)
    assert set(err.data) >= {"RequestId", "HostId", "Code", "Message", "Recommend"}


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_an_unknown_access_key_is_not_found(emulator: ImmEmulator, algorithm: str | None) -> None:
    err = refused(imm_client_for(emulator, signature_algorithm=algorithm, access_key_id="LTAI5tUnknown"))

    assert (err.status_code, err.code) == (404, "InvalidAccessKeyId.NotFound")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("delta", [timedelta(minutes=-16), timedelta(minutes=16)], ids=["stale", "future"])
def test_a_date_far_from_now_is_expired(
    emulator: ImmEmulator, algorithm: str | None, delta: timedelta
) -> None:
    client = imm_client_for(emulator, signature_algorithm=algorithm)

    err = refused(client, overriding(algorithm, date=stamp(delta)))

    assert (err.status_code, err.code) == (400, "InvalidTimeStamp.Expired")
    within = overriding(algorithm, date=stamp(delta * 0.8))
    assert client.get_project_with_options(GET_PROJECT, within).body.project


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_date_near_the_advanced_emulated_clock_is_accepted(
    emulator: ImmEmulator, algorithm: str | None
) -> None:
    emulator.clock.advance(3 * 3600)
    client = imm_client_for(emulator, signature_algorithm=algorithm)

    assert client.get_project(GET_PROJECT).body.project
    advanced = overriding(algorithm, date=stamp(timedelta(hours=3)))
    assert client.get_project_with_options(GET_PROJECT, advanced).body.project
    assert (
        refused(client, overriding(algorithm, date=stamp(timedelta(hours=1)))).code
        == "InvalidTimeStamp.Expired"
    )


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_reused_nonce_is_refused(emulator: ImmEmulator, algorithm: str | None) -> None:
    client = imm_client_for(emulator, signature_algorithm=algorithm)
    runtime = overriding(algorithm, nonce="0f3b2c1d-fixed-nonce")

    assert client.get_project_with_options(GET_PROJECT, runtime).body.project
    err = refused(client, runtime)

    assert (err.status_code, err.code) == (400, "SignatureNonceUsed")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_badly_signed_call_does_not_use_up_its_nonce(emulator: ImmEmulator, algorithm: str | None) -> None:
    runtime = overriding(algorithm, nonce="nonce-of-a-forged-call")
    forged = imm_client_for(emulator, signature_algorithm=algorithm, access_key_secret="forged")
    assert refused(forged, runtime).code == "SignatureDoesNotMatch"

    client = imm_client_for(emulator, signature_algorithm=algorithm)
    assert client.get_project_with_options(GET_PROJECT, runtime).body.project


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_sts_credentials_with_their_token_are_accepted(emulator: ImmEmulator, algorithm: str | None) -> None:
    emulator.accounts.add_sts("STS.key", "sts-secret", "token-123", expires_at=emulator.clock.time() + 3600)

    client = imm_client_for(emulator, signature_algorithm=algorithm, **STS_KEY, security_token="token-123")

    assert client.get_project(GET_PROJECT).body.project.project_name == DEFAULT_PROJECT


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("token", ["token-999", None], ids=["wrong-token", "no-token"])
def test_sts_credentials_with_a_wrong_or_no_token_are_refused(
    emulator: ImmEmulator, algorithm: str | None, token: str | None
) -> None:
    emulator.accounts.add_sts("STS.key", "sts-secret", "token-123")

    err = refused(imm_client_for(emulator, signature_algorithm=algorithm, **STS_KEY, security_token=token))

    assert (err.status_code, err.code) == (400, "InvalidSecurityToken.MismatchWithAccessKey")
    assert "token-123" not in str(err) and "token-999" not in str(err)


@pytest.mark.parametrize(
    ("token", "policy"),
    [
        ("CAIS token with a space&an=ampersand", None),
        ("CAIS~tilde*star+plus/slash", None),
        ("CAISplainToken", '{"Version": "1", "Statement": [{"Effect": "Allow", "Action": "imm:*"}]}'),
    ],
    ids=["space-and-ampersand", "tilde-star", "policy-with-spaces"],
)
def test_sts_accepts_the_credentials_library_s_signature_whatever_the_values_hold(
    emulator: ImmEmulator, token: str, policy: str | None
) -> None:
    """The credentials library percent-encodes with quote_plus (space as ``+``, ``~`` as ``%7E``)
    where the OpenAPI SDK uses RFC 3986; AssumeRole signed either way is served."""
    from alibabacloud_credentials.client import Client as CredentialClient
    from alibabacloud_credentials.models import Config

    emulator.accounts.add_sts("STS.base", "base-secret", token, expires_at=emulator.clock.time() + 3600)
    client = CredentialClient(
        Config(
            type="ram_role_arn",
            access_key_id="STS.base",
            access_key_secret="base-secret",
            security_token=token,
            role_arn=f"acs:ram::{emulator.account_id}:role/imm-runner",
            role_session_name="airflow",
            policy=policy,
            sts_endpoint=emulator.url,
        )
    )

    issued = client.get_credential()

    assert issued.access_key_id.startswith("STS.") and issued.access_key_id != "STS.base"
    sts_keys = {key.key_id: key for key in emulator.accounts.sts_credentials()}
    assert set(sts_keys) == {"STS.base", issued.access_key_id}  # not the permanent key
    assert sts_keys[issued.access_key_id].security_token == issued.security_token
    assert emulator.counters.get("sts", "AssumeRole") == 1


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_expired_sts_credentials_are_refused(emulator: ImmEmulator, algorithm: str | None) -> None:
    emulator.accounts.add_sts("STS.key", "sts-secret", "token-123", expires_at=emulator.clock.time() + 600)
    client = imm_client_for(emulator, signature_algorithm=algorithm, **STS_KEY, security_token="token-123")
    assert client.get_project(GET_PROJECT).body.project

    emulator.clock.advance(601)
    err = refused(client)

    assert (err.status_code, err.code) == (400, "InvalidSecurityToken.Expired")


def test_an_unsigned_request_gets_the_gateway_error_body_and_request_id_header(emulator: ImmEmulator) -> None:
    request = urllib.request.Request(
        f"{emulator.url}/?ProjectName={DEFAULT_PROJECT}",
        method="POST",
        headers={"x-acs-action": "GetProject", "x-acs-version": "2020-09-30"},
    )

    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request)

    body = json.load(err.value)
    assert err.value.code == 400 and body["Code"] == "IncompleteSignature"
    assert set(body) == {"RequestId", "HostId", "Code", "Message", "Recommend"}
    assert err.value.headers["x-acs-request-id"] == body["RequestId"]
    assert body["HostId"] == f"imm.{emulator.region}.aliyuncs.com"
