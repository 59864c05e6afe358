"""OSS requests for the emulator's tests: the SDK's errors unwrapped, and requests signed by the SDK's
own signers but sent byte for byte as written (what its HTTP library would not send as written)."""

from __future__ import annotations

import datetime
import xml.etree.ElementTree as ET
from urllib.parse import quote, urlencode

import pytest
from alibabacloud_oss_v2.exceptions import OperationError, ServiceError
from alibabacloud_oss_v2.signer.v4 import SignerV4
from alibabacloud_oss_v2.types import Credentials, HttpRequest, Signer, SigningContext

from airflow_provider_imm.emulator import ImmEmulator
from tests.emulator.raw_http import send

SECRET = "s3cr3t-key"


def service_error(err: BaseException) -> ServiceError:
    """The ``ServiceError`` an ``OperationError`` wraps (the SDK wraps every failure of a call)."""
    cause = err.unwrap() if isinstance(err, OperationError) else err
    assert isinstance(cause, ServiceError), repr(err)
    return cause


def refused(call: object, *args: object) -> ServiceError:
    with pytest.raises(OperationError) as caught:
        call(*args)  # type: ignore[operator]
    return service_error(caught.value)


def signed(
    method: str,
    bucket: str | None,
    key: str | None,
    params: dict[str, str],
    headers: dict[str, str],
    signer: Signer,
    *,
    secret: str = SECRET,
    key_id: str = "AK",
    token: str | None = None,
    when: datetime.datetime | None = None,
    region: str = "cn-hangzhou",
    endpoint: str = "http://127.0.0.1:1",
) -> HttpRequest:
    """A request as the SDK signs it: the path-style URL the client builds, then its signer."""
    path = "/" + "/".join(
        [*([bucket] if bucket else []), *([quote(key)] if key else [] if not bucket else [""])]
    )
    url = endpoint + path + ("?" + urlencode(params, quote_via=quote) if params else "")
    request = HttpRequest(method, url, headers=dict(headers))
    context = SigningContext(
        product="oss",
        region=region,
        bucket=bucket,
        key=key,
        request=request,
        credentials=Credentials(key_id, secret, token),
        signing_time=when,
    )
    signer.sign(context)
    return request


def raw_query(request: HttpRequest) -> str:
    return request.url.partition("?")[2]


def send_signed(
    emulator: ImmEmulator,
    method: str,
    bucket: str | None,
    key: str | None,
    params: dict[str, str],
    body: bytes = b"",
    unsigned: dict[str, str] | None = None,
) -> tuple[int, str]:
    """A request signed by the SDK's V4 signer, sent as built (plus ``unsigned`` headers); its status
    and OSS error code."""
    request = signed(
        method, bucket, key, params, {}, SignerV4(), key_id=emulator.access_key_id,
        secret=emulator.access_key_secret, region=emulator.region, endpoint=emulator.oss_url,
    )  # fmt: skip
    target = request.url.removeprefix(emulator.oss_url)
    status, headers, answer = send(
        emulator,
        method,
        target,
        body,
        headers={**request.headers, **(unsigned or {})},
        endpoint=emulator.oss_url[7:],
    )
    assert headers["x-oss-request-id"]
    return status, (ET.fromstring(answer).findtext("Code") or "") if answer else ""
