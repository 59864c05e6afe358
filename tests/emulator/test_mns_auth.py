"""MNS signature checks: the SDK's signing is accepted, anything else is refused with MNS's codes.

Requests the SDK cannot be made to send (stale date, tampered body, no Authorization) are built
with the SDK's own header and signature code and sent over ``http.client``.
"""

from __future__ import annotations

import http.client
import time
from types import SimpleNamespace
from urllib.parse import urlsplit
from xml.etree import ElementTree

import pytest
from mns.account import Account
from mns.auth import Credentials
from mns.mns_client import MNSClient
from mns.mns_exception import MNSServerException
from mns.mns_http import RequestInternal
from mns.queue import Message, QueueMeta

from airflow_provider_imm.emulator import ImmEmulator
from tests.sdk_clients import mns_account_for

NS = "{http://mns.aliyuncs.com/doc/v1/}"
STS_KEY = {"access_key_id": "STS.key", "access_key_secret": "sts-secret"}


@pytest.fixture
def queue_name(mns_account: Account) -> str:
    mns_account.get_queue("jobs").create(QueueMeta())
    return "jobs"


def signed(
    emulator: ImmEmulator, method: str, uri: str, body: str = "", *, secret: str | None = None
) -> RequestInternal:
    """A request with exactly the headers and signature the SDK would send."""
    client = MNSClient(emulator.url, emulator.access_key_id, secret or emulator.access_key_secret)
    request = RequestInternal(method, uri, data=body.encode() if body else "")
    client.build_header(SimpleNamespace(request_id=None), request)
    return request


def resign(emulator: ImmEmulator, request: RequestInternal) -> None:
    client = MNSClient(emulator.url, emulator.access_key_id, emulator.access_key_secret)
    credentials = Credentials(emulator.access_key_id, emulator.access_key_secret, "")
    request.header["Authorization"] = client.get_signature(
        request.method, request.header, request.uri, credentials
    )


def send(emulator: ImmEmulator, request: RequestInternal) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(urlsplit(emulator.url).netloc, timeout=10)
    try:
        connection.request(request.method, request.uri, request.data or None, request.header)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def error_of(body: bytes) -> dict[str, str]:
    root = ElementTree.fromstring(body)
    assert root.tag == f"{NS}Error"
    return {child.tag.removeprefix(NS): child.text or "" for child in root}


def test_wrong_secret_is_signature_does_not_match_without_revealing_secrets(
    emulator: ImmEmulator, queue_name: str
) -> None:
    account = mns_account_for(emulator, access_key_secret="not-the-secret")
    with pytest.raises(MNSServerException) as err:
        account.get_queue(queue_name).get_attributes()

    assert err.value.type == "SignatureDoesNotMatch"
    assert err.value.request_id and err.value.host_id
    assert emulator.access_key_secret not in err.value.message
    assert "not-the-secret" not in err.value.message

    status, headers, body = send(emulator, signed(emulator, "GET", f"/queues/{queue_name}", secret="nope"))
    assert status == 403
    assert error_of(body)["Code"] == "SignatureDoesNotMatch"
    assert headers["x-mns-request-id"] == error_of(body)["RequestId"]


def test_unknown_access_key_is_invalid_access_key_id(emulator: ImmEmulator, queue_name: str) -> None:
    unknown = mns_account_for(emulator, access_key_id="LTAI-unknown", access_key_secret="whatever")
    with pytest.raises(MNSServerException) as err:
        unknown.get_queue(queue_name).get_attributes()
    assert err.value.type == "InvalidAccessKeyId"


def test_additional_key_pairs_are_accepted(emulator: ImmEmulator, queue_name: str) -> None:
    emulator.accounts.add_key("LTAI-second", "second-secret")
    second = mns_account_for(emulator, access_key_id="LTAI-second", access_key_secret="second-secret")
    assert second.get_queue(queue_name).get_attributes()


def test_sts_credentials_need_their_token_and_expire(emulator: ImmEmulator, queue_name: str) -> None:
    emulator.accounts.add_sts("STS.key", "sts-secret", "token-1", expires_at=emulator.clock.time() + 3600)

    good = mns_account_for(emulator, **STS_KEY, security_token="token-1").get_queue(queue_name)
    good.set_encoding(False)
    good.send_message(Message("with sts"))
    assert good.receive_message(0).message_body == "with sts"

    for token in ("token-2", ""):
        with pytest.raises(MNSServerException) as err:
            mns_account_for(emulator, **STS_KEY, security_token=token).get_queue(queue_name).peek_message()
        assert err.value.type == "AccessDenied"
        assert "token-1" not in err.value.message

    emulator.clock.advance(3601)
    with pytest.raises(MNSServerException) as err:
        good.get_attributes()
    assert (err.value.type, err.value.message) == (
        "AccessDenied",
        "The security token you provided has expired.",
    )


def test_sdk_signature_with_query_and_body_is_accepted(emulator: ImmEmulator, queue_name: str) -> None:
    body = '<?xml version="1.0" encoding="UTF-8"?><Message xmlns="http://mns.aliyuncs.com/doc/v1/"><MessageBody>raw</MessageBody></Message>'
    status, headers, _ = send(emulator, signed(emulator, "POST", f"/queues/{queue_name}/messages", body))
    assert status == 201
    assert "x-mns-request-id" in headers  # exactly this spelling

    status, _, reply = send(emulator, signed(emulator, "GET", f"/queues/{queue_name}/messages?waitseconds=0"))
    assert status == 200
    assert b"<MessageBody>raw</MessageBody>" in reply


def test_stale_date_is_time_expired(emulator: ImmEmulator, queue_name: str) -> None:
    request = signed(emulator, "GET", f"/queues/{queue_name}")
    request.header["date"] = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() - 20 * 60))
    resign(emulator, request)

    status, _, body = send(emulator, request)

    assert (status, error_of(body)["Code"]) == (408, "TimeExpired")


@pytest.mark.parametrize(
    ("header", "value", "status", "code"),
    [
        ("Authorization", None, 400, "MissingAuthorizationHeader"),
        ("Authorization", "Bearer abc", 400, "InvalidAuthorizationHeader"),
        ("date", None, 400, "MissingDateHeader"),
        ("date", "yesterday", 400, "InvalidDateHeader"),
    ],
)
def test_malformed_authentication_headers(
    emulator: ImmEmulator, queue_name: str, header: str, value: str | None, status: int, code: str
) -> None:
    request = signed(emulator, "GET", f"/queues/{queue_name}")
    if value is None:
        del request.header[header]
    else:
        request.header[header] = value

    got_status, _, body = send(emulator, request)

    error = error_of(body)
    assert (got_status, error["Code"]) == (status, code)
    assert set(error) == {"Code", "Message", "RequestId", "HostId"}


def test_body_not_matching_its_content_md5_is_refused(emulator: ImmEmulator, queue_name: str) -> None:
    body = '<?xml version="1.0" encoding="UTF-8"?><Message xmlns="http://mns.aliyuncs.com/doc/v1/"><MessageBody>a</MessageBody></Message>'
    request = signed(emulator, "POST", f"/queues/{queue_name}/messages", body)
    request.data = body.replace(">a<", ">b<").encode()

    status, _, reply = send(emulator, request)

    assert (status, error_of(reply)["Code"]) == (400, "InvalidDegist")
    assert emulator.mns.queue_messages(queue_name) == []


def test_tampered_query_breaks_the_signature(emulator: ImmEmulator, queue_name: str) -> None:
    request = signed(emulator, "GET", f"/queues/{queue_name}/messages?waitseconds=0")
    request.uri = f"/queues/{queue_name}/messages?waitseconds=1"

    status, _, body = send(emulator, request)

    assert (status, error_of(body)["Code"]) == (403, "SignatureDoesNotMatch")


def test_unknown_operation_is_an_xml_error(emulator: ImmEmulator) -> None:
    status, headers, body = send(emulator, signed(emulator, "POST", "/queues"))

    assert (status, error_of(body)["Code"]) == (400, "InvalidRequestURL")
    assert "x-mns-request-id" in headers
