"""OSS signatures V4 and V1 as ``alibabacloud-oss-v2`` computes them, refusals as OSS answers them, and
the pure parts of the OSS API (listing pages, ranges)."""

from __future__ import annotations

import datetime
import itertools
import xml.etree.ElementTree as ET
from urllib.parse import quote, unquote, urlencode

import alibabacloud_oss_v2 as oss
import pytest
from alibabacloud_oss_v2.exceptions import OperationError
from alibabacloud_oss_v2.signer.v1 import SignerV1
from alibabacloud_oss_v2.signer.v4 import SignerV4
from alibabacloud_oss_v2.types import Credentials, HttpRequest, Signer, SigningContext
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_imm.emulator import ImmEmulator
from airflow_provider_imm.emulator.oss import ObjectMeta
from airflow_provider_imm.emulator.oss_api import parse_range
from airflow_provider_imm.emulator.oss_listing import list_page
from airflow_provider_imm.emulator.oss_signature import (
    v1_signature,
    v1_string_to_sign,
    v4_canonical_request,
    v4_signature,
    v4_string_to_sign,
)
from tests.emulator.raw_http import send
from tests.emulator.test_oss_api import refused, service_error
from tests.sdk_clients import oss_client_for

SECRET = "s3cr3t-key"
SOON = settings(max_examples=60, deadline=None)


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
def brute_force_page(
    keys: list[str], prefix: str, delimiter: str, after: str, max_keys: int
) -> tuple[list[str], list[str], bool]:
    entries: list[tuple[str, bool]] = []
    for key in sorted(keys):
        if not key.startswith(prefix) or key <= after:
            continue
        cut = key.find(delimiter, len(prefix)) if delimiter else -1
        entry = key[: cut + len(delimiter)] if cut >= 0 else key
        if cut >= 0 and (entry <= after or (entries and entries[-1][0] == entry)):
            continue
        entries.append((entry, cut >= 0))
    page = entries[:max_keys]
    return (
        [e for e, common in page if not common],
        [e for e, common in page if common],
        len(entries) > max_keys,
    )


segments = st.sampled_from(["a", "b", "in", "x.mp4", "sub"])
keys_strategy = st.lists(st.lists(segments, min_size=1, max_size=3).map("/".join), unique=True, max_size=25)


@SOON
@given(
    keys=keys_strategy,
    prefix=st.sampled_from(["", "a", "a/", "in/", "b/s"]),
    delimiter=st.sampled_from(["", "/"]),
    max_keys=st.integers(1, 6),
)
def test_pages_follow_each_other_and_cover_every_key_once(
    keys: list[str], prefix: str, delimiter: str, max_keys: int
) -> None:
    after, seen = "", []
    for _ in itertools.count():
        page = list_page(sorted(keys), prefix=prefix, delimiter=delimiter, after=after, max_keys=max_keys)
        assert (page.keys, page.prefixes, page.truncated) == brute_force_page(
            keys, prefix, delimiter, after, max_keys
        )
        assert len(page.keys) + len(page.prefixes) <= max_keys
        seen += page.keys + page.prefixes
        if not page.truncated:
            break
        after = page.next_marker
    under = [k for k in keys if k.startswith(prefix)]
    rolled = {
        k[: k.find(delimiter, len(prefix)) + 1] if delimiter and delimiter in k[len(prefix) :] else k
        for k in under
    }
    assert sorted(seen) == sorted(rolled) and len(seen) == len(set(seen))


def test_ranges() -> None:
    assert parse_range("bytes=0-9", 100) == (0, 10)
    assert parse_range("bytes=90-", 100) == (90, 10)
    assert parse_range("bytes=90-1000", 100) == (90, 10)
    assert parse_range("bytes=-10", 100) == (90, 10)
    assert parse_range("bytes=-1000", 100) == (0, 100)
    assert parse_range("bytes=100-", 100) == "unsatisfiable"
    for ignored in ("", "bytes=5-2", "bytes=0-1,4-5", "items=0-1", "bytes=a-b", "bytes=-", "bytes=-0"):
        assert parse_range(ignored, 100) is None, ignored


def send_signed(
    emulator: ImmEmulator,
    method: str,
    bucket: str | None,
    key: str | None,
    params: dict[str, str],
    body: bytes = b"",
) -> tuple[int, str]:
    """A request signed by the SDK's V4 signer, sent as built; its status and OSS error code."""
    request = signed(
        method, bucket, key, params, {}, SignerV4(), key_id=emulator.access_key_id,
        secret=emulator.access_key_secret, region=emulator.region, endpoint=emulator.oss_url,
    )  # fmt: skip
    target = request.url.removeprefix(emulator.oss_url)
    status, headers, answer = send(
        emulator, method, target, body, headers=request.headers, endpoint=emulator.oss_url[7:]
    )
    assert headers["x-oss-request-id"]
    return status, (ET.fromstring(answer).findtext("Code") or "") if answer else ""


@pytest.mark.parametrize(
    ("method", "key", "params", "body", "expected"),
    [
        ("POST", None, {"delete": ""}, b"<not xml", (400, "MalformedXML")),
        ("POST", None, {"delete": ""}, b"<Other/>", (400, "MalformedXML")),
        ("POST", None, {"delete": ""}, b"<Delete><Quiet>true</Quiet></Delete>", (400, "MalformedXML")),
        ("GET", None, {"max-keys": "many"}, b"", (400, "InvalidArgument")),
        ("GET", None, {"max-keys": "5000"}, b"", (400, "InvalidArgument")),
        ("GET", None, {"list-type": "3"}, b"", (400, "InvalidArgument")),
        ("GET", None, {"list-type": "2", "continuation-token": "%%%"}, b"", (400, "InvalidArgument")),
        ("GET", None, {"website": ""}, b"", (400, "InvalidArgument")),
        ("PUT", "k", {"acl": ""}, b"", (400, "InvalidArgument")),
        ("PUT", "k", {"partNumber": "1", "uploadId": "NOPE"}, b"x", (404, "NoSuchUpload")),
        ("POST", "k", {"uploadId": "../../etc"}, b"", (404, "NoSuchUpload")),
        ("POST", "k", {"uploadId": "NOPE"}, b"<CompleteMultipartUpload/>", (404, "NoSuchUpload")),
        ("PUT", None, {}, b"", (409, "BucketAlreadyExists")),
    ],
)
def test_malformed_requests_are_refused_as_oss_does_never_with_a_500(
    emulator: ImmEmulator,
    method: str,
    key: str | None,
    params: dict[str, str],
    body: bytes,
    expected: tuple[int, str],
) -> None:
    emulator.oss.create_bucket("bkt")
    assert send_signed(emulator, method, "bkt", key, params, body) == expected


def test_a_bad_part_list_or_part_number_is_refused(emulator: ImmEmulator) -> None:
    emulator.oss.create_bucket("bkt")
    upload_id = emulator.oss.initiate_upload("bkt", "k", ObjectMeta(""))
    for params in ({"partNumber": "0"}, {"partNumber": "10001"}, {"partNumber": "x"}, {}):
        status, code = send_signed(emulator, "PUT", "bkt", "k", {**params, "uploadId": upload_id}, b"x")
        assert (status, code) == (400, "InvalidArgument"), params
    complete = {"uploadId": upload_id}
    assert send_signed(emulator, "POST", "bkt", "k", complete, b"<CompleteMultipartUpload/>") == (
        400,
        "MalformedXML",
    )
    garbage = b"<CompleteMultipartUpload><Part><PartNumber>one</PartNumber></Part></CompleteMultipartUpload>"
    assert send_signed(emulator, "POST", "bkt", "k", complete, garbage) == (400, "MalformedXML")
    # The upload belongs to bkt/k: another key cannot use its id.
    assert send_signed(emulator, "POST", "bkt", "other", complete, b"") == (404, "NoSuchUpload")
