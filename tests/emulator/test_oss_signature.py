"""OSS signatures V4 and V1 as ``alibabacloud-oss-v2`` computes them, and refusals as OSS answers them."""

from __future__ import annotations

import datetime
import xml.etree.ElementTree as ET
from urllib.parse import unquote

import alibabacloud_oss_v2 as oss
import pytest
from alibabacloud_oss_v2.exceptions import OperationError
from alibabacloud_oss_v2.signer.v1 import SignerV1
from alibabacloud_oss_v2.signer.v4 import SignerV4
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_imm.emulator import ImmEmulator
from airflow_provider_imm.emulator.oss_signature import (
    v1_signature,
    v1_string_to_sign,
    v4_canonical_request,
    v4_signature,
    v4_string_to_sign,
)
from tests.emulator.oss_requests import SECRET, raw_query, refused, service_error, signed
from tests.emulator.raw_http import send
from tests.sdk_clients import oss_client_for

SOON = settings(max_examples=60, deadline=None)


names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=20)
header_values = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=20)


@SOON
@given(
    method=st.sampled_from(["GET", "PUT", "POST", "DELETE", "HEAD"]),
    key=st.none() | names,
    params=st.dictionaries(
        st.sampled_from(["uploadId", "partNumber", "prefix", "x y", "acl"]), names | st.just("")
    ),
    meta=st.dictionaries(
        st.from_regex(r"x-oss-meta-[a-z0-9]{1,8}", fullmatch=True), header_values, max_size=3
    ),
    content_type=st.none() | st.sampled_from(["text/plain", "video/mp4"]),
)
def test_v4_signatures_are_the_sdks(
    method: str, key: str | None, params: dict[str, str], meta: dict[str, str], content_type: str | None
) -> None:
    headers = {**meta, **({"Content-Type": content_type} if content_type else {}), "User-Agent": "x"}
    request = signed(method, "bkt", key, params, headers, SignerV4())
    authorization = request.headers["Authorization"]
    timestamp = request.headers["x-oss-date"]
    canonical = v4_canonical_request(method, "bkt", key, raw_query(request), request.headers)
    scope = f"{timestamp[:8]}/cn-hangzhou/oss/aliyun_v4_request"
    expected = v4_signature(
        SECRET, timestamp[:8], "cn-hangzhou", "oss", v4_string_to_sign(timestamp, scope, canonical)
    )
    assert authorization.endswith(f"Signature={expected}")


@SOON
@given(
    method=st.sampled_from(["GET", "PUT", "POST", "DELETE"]),
    key=st.none() | names,
    params=st.dictionaries(
        st.sampled_from(["uploadId", "partNumber", "prefix", "objectMeta"]), names | st.just("")
    ),
    meta=st.dictionaries(
        st.from_regex(r"x-oss-meta-[a-z0-9]{1,8}", fullmatch=True), header_values, max_size=3
    ),
)
def test_v1_signatures_are_the_sdks(
    method: str, key: str | None, params: dict[str, str], meta: dict[str, str]
) -> None:
    request = signed(method, "bkt", key, params, meta, SignerV1())
    text = v1_string_to_sign(method, "bkt", key, raw_query(request), request.headers)
    assert request.headers["Authorization"] == f"OSS AK:{v1_signature(SECRET, text)}"


# Refusals through the SDK
def test_a_wrong_secret_is_refused_with_signature_does_not_match(emulator: ImmEmulator) -> None:
    for version in (None, "v1"):
        client = oss_client_for(emulator, access_key_secret="not-the-secret", signature_version=version)
        err = refused(client.list_buckets, oss.ListBucketsRequest())
        assert (err.status_code, err.code) == (403, "SignatureDoesNotMatch"), version
        assert "not-the-secret" not in str(err) and emulator.access_key_secret not in str(err)
        assert ET.fromstring(err.snapshot).findtext("StringToSign")  # as OSS gives it, to debug a signer


def test_an_unknown_key_is_refused_with_invalid_access_key_id(emulator: ImmEmulator) -> None:
    for version in (None, "v1"):
        client = oss_client_for(emulator, access_key_id="LTAIunknown", signature_version=version)
        err = refused(client.list_buckets, oss.ListBucketsRequest())
        assert (err.status_code, err.code) == (403, "InvalidAccessKeyId"), version


def test_sts_credentials_need_their_token_until_they_expire(emulator: ImmEmulator) -> None:
    emulator.accounts.add_sts("STS.key", "sts-secret", "the-token", expires_at=emulator.clock.time() + 3600)
    for version in (None, "v1"):
        good = oss_client_for(
            emulator, access_key_id="STS.key", access_key_secret="sts-secret", security_token="the-token",
            signature_version=version,
        )  # fmt: skip
        assert good.list_buckets(oss.ListBucketsRequest()).status_code == 200
        bad = oss_client_for(
            emulator, access_key_id="STS.key", access_key_secret="sts-secret", security_token="other",
            signature_version=version,
        )  # fmt: skip
        assert refused(bad.list_buckets, oss.ListBucketsRequest()).code == "InvalidSecurityToken"
    emulator.clock.advance(3601)
    err = refused(good.list_buckets, oss.ListBucketsRequest())
    assert (err.status_code, err.code) == (403, "SecurityTokenExpired")


def test_a_stale_date_is_refused_with_request_time_too_skewed(emulator: ImmEmulator) -> None:
    stale = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20)
    for signer in (SignerV4(), SignerV1()):
        request = signed(
            "GET", None, None, {}, {}, signer, key_id=emulator.access_key_id,
            secret=emulator.access_key_secret, when=stale, region=emulator.region,
        )  # fmt: skip
        status, headers, body = send(
            emulator, "GET", "/", headers=request.headers, endpoint=emulator.oss_url[7:]
        )
        assert (status, ET.fromstring(body).findtext("Code")) == (403, "RequestTimeTooSkewed")
        assert headers["x-oss-request-id"] == ET.fromstring(body).findtext("RequestId")


@pytest.mark.parametrize(("date", "named"), [(None, "need a Date"), ("yesterday", "not an HTTP date")])
def test_a_v1_request_without_a_readable_date_is_refused_with_access_denied(
    emulator: ImmEmulator, date: str | None, named: str
) -> None:
    request = signed(
        "GET", None, None, {}, {}, SignerV1(), key_id=emulator.access_key_id,
        secret=emulator.access_key_secret, region=emulator.region,
    )  # fmt: skip
    headers = {name: value for name, value in request.headers.items() if name.lower() != "date"}
    if date is not None:
        headers["Date"] = date
    status, _, body = send(emulator, "GET", "/", headers=headers, endpoint=emulator.oss_url[7:])
    error = ET.fromstring(body)
    assert (status, error.findtext("Code")) == (403, "AccessDenied")
    assert named in (error.findtext("Message") or "")


def test_an_unsigned_request_is_refused_with_access_denied(emulator: ImmEmulator) -> None:
    status, _, body = send(emulator, "GET", "/", endpoint=emulator.oss_url[7:])
    error = ET.fromstring(body)
    assert (status, error.findtext("Code")) == (403, "AccessDenied")
    assert error.findtext("RequestId") and error.findtext("HostId") and error.findtext("Message")


@pytest.mark.parametrize(
    "target", ["../outside", "a/../../outside", "./a", "a/.", "..%2Foutside", "%2E%2E/outside"]
)
def test_keys_with_dot_segments_are_refused_with_invalid_object_name(
    emulator: ImmEmulator, target: str
) -> None:
    """The SDK's HTTP library folds ``.``/``..`` segments before sending, so these are sent as written,
    signed by the SDK's signer."""
    emulator.oss.create_bucket("bkt")
    for signer in (SignerV4(), SignerV1()):
        request = signed(
            "PUT", "bkt", unquote(target), {}, {}, signer, key_id=emulator.access_key_id,
            secret=emulator.access_key_secret, region=emulator.region,
        )  # fmt: skip
        status, _, body = send(
            emulator, "PUT", "/bkt/" + target, b"x", headers=request.headers, endpoint=emulator.oss_url[7:]
        )
        assert (status, ET.fromstring(body).findtext("Code")) == (400, "InvalidObjectName"), body
    assert (
        not (emulator.oss.root / "outside").exists() and not (emulator.oss.root.parent / "outside").exists()
    )


@pytest.mark.parametrize("key", ["a//b", "a\\..\\b", "\uff0e\uff0e/x", "x/\u2025/y"])
def test_keys_the_storage_cannot_hold_safely_are_refused_through_the_sdk(
    emulator: ImmEmulator, key: str
) -> None:
    client = oss_client_for(emulator)
    client.put_bucket(oss.PutBucketRequest(bucket="bkt"))
    with pytest.raises(OperationError) as caught:
        client.put_object(oss.PutObjectRequest(bucket="bkt", key=key, body=b"x"))
    err = service_error(caught.value)
    assert (err.status_code, err.code) == (400, "InvalidObjectName")


# Pure parts
