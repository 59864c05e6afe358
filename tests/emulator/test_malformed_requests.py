"""Malformed requests get the service's own 4xx error, never a 500.

IMM answers JSON with Code/Message/RequestId/HostId, MNS its ``<Error>`` XML, STS IMM's JSON shape,
the admin API ``{"error": ...}``. The fuzz tests throw random queries, bodies and headers at each
over real HTTP, signed where a signature is needed to reach the parsing behind it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import quote, urlencode

import pytest
from alibabacloud_imm20200930 import models
from alibabacloud_imm20200930.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_imm.emulator import DEFAULT_PROJECT, ImmEmulator
from tests.emulator.raw_http import admin_error, imm_error, imm_target, mns_error, mns_headers, send

FORM = "application/x-www-form-urlencoded"


def imm_call(
    emulator: ImmEmulator,
    action: str,
    params: dict[str, str],
    body: bytes = b"",
    form: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    headers = {"Content-Type": FORM} if body else {}
    status, _, reply = send(emulator, "POST", imm_target(emulator, action, params, form or {}), body, headers)
    return status, reply


# Known cases
@pytest.mark.parametrize("start", ["2024-13-45T00:00:00Z", "2024-02-30T10:00:00Z", "2024-01-01T25:61:61Z"])
def test_impossible_dates_in_list_tasks_are_invalid_argument(imm_client: Client, start: str) -> None:
    request = models.ListTasksRequest(
        project_name=DEFAULT_PROJECT, start_time_range=models.TimeRange(start=start, end=start)
    )
    with pytest.raises(ClientException) as err:
        imm_client.list_tasks(request)
    assert (err.value.status_code, err.value.code) == (400, "InvalidArgument")
    assert "StartTimeRange" in err.value.message


def test_a_form_body_that_is_not_utf8_is_invalid_argument(emulator: ImmEmulator) -> None:
    status, reply = imm_call(emulator, "GetProject", {"ProjectName": DEFAULT_PROJECT}, b"Tag=\xff\xfe")
    assert status == 400
    assert imm_error(reply)["Code"] == "InvalidArgument"


@pytest.mark.parametrize(
    ("target", "body"),
    [
        ("/_emulator/faults", b"not json"),
        ("/_emulator/faults", b"[1, 2]"),
        ("/_emulator/faults", b'{"kind": "throttle_imm", "n": "many"}'),
        ("/_emulator/faults", b'{"kind": "no_such_fault"}'),
        ("/_emulator/faults", b"\xff\xfe"),
        ("/_emulator/clock", b"not json"),
        ("/_emulator/clock", b'{"advance": "soon"}'),
        ("/_emulator/clock", b'{"advance": [1]}'),
        ("/_emulator/clock", b'"advance"'),
        ("/_emulator/imm/behaviour", b"{"),
        ("/_emulator/imm/behaviour", b'{"action": "NoSuchAction"}'),
        ("/_emulator/imm/behaviour", b"[]"),
        ("/_emulator/imm/tasks/t-1/finish", b"{oops"),
        ("/_emulator/imm/tasks/t-1/finish", b"[]"),
    ],
)
def test_malformed_admin_bodies_are_400_json_errors(emulator: ImmEmulator, target: str, body: bytes) -> None:
    status, _, reply = send(emulator, "POST", target, body, {"Content-Type": "application/json"})
    assert 400 <= status < 500, (status, reply[:200])
    admin_error(reply)


@pytest.mark.parametrize(
    ("method", "target", "shape"),
    [
        ("GET", "/nothing/here", imm_error),
        ("DELETE", "/", imm_error),
        ("GET", "/_emulator/nothing", admin_error),
        ("DELETE", "/_emulator/info", admin_error),
        ("GET", "/queues/a/b/c/d", mns_error),
        ("GET", "/topics/a/subscriptions/b/c", mns_error),
    ],
)
def test_unknown_paths_and_methods_answer_in_the_service_shape(
    emulator: ImmEmulator, method: str, target: str, shape: object
) -> None:
    status, _, reply = send(emulator, method, target)
    assert 400 <= status < 500
    shape(reply)  # type: ignore[operator]


# Fuzzing
@pytest.fixture(scope="module")
def shared() -> Iterator[ImmEmulator]:
    with ImmEmulator() as emulator:
        emulator.mns.create_queue("jobs")
        emulator.mns.create_topic("events")
        yield emulator


text = st.text(max_size=40)
raw = st.binary(max_size=200)
IMM_ACTIONS = [
    "GetTask",
    "ListTasks",
    "CreateProject",
    "GetProject",
    "ListProjects",
    "DeleteProject",
    "CreateOfficeConversionTask",
    "CreateFileCompressionTask",
    "CreateMediaConvertTask",
    "Nope",
]
IMM_FIELDS = [
    "ProjectName",
    "TaskType",
    "TaskId",
    "TaskTypes",
    "Status",
    "StartTimeRange",
    "EndTimeRange",
    "MaxResults",
    "NextToken",
    "Sort",
    "Order",
    "TagSelector",
    "Tags",
    "UserData",
    "Notification",
    "SourceURI",
    "TargetURI",
    "Sources",
    "Targets",
    "Tag",
    "Prefix",
    "RequestDefinition",
    "CompressedFormat",
    "SelectedFiles",
    "CredentialConfig",
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=6,
).map(json.dumps)
imm_params = st.dictionaries(st.sampled_from(IMM_FIELDS), text | json_values, max_size=6)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def assert_4xx_or_ok(status: int, reply: bytes) -> None:
    assert status < 500, (status, reply[:300])


@FUZZ
@given(action=st.sampled_from(IMM_ACTIONS), params=imm_params, form=imm_params, body=st.none() | raw)
def test_fuzzed_imm_calls_never_fail_with_5xx(
    shared: ImmEmulator, action: str, params: dict[str, str], form: dict[str, str], body: bytes | None
) -> None:
    payload = urlencode(form).encode() if body is None else body
    status, reply = imm_call(shared, action, params, payload, form if body is None else None)
    assert_4xx_or_ok(status, reply)
    if status >= 400:
        imm_error(reply)


@FUZZ
@given(
    query=st.dictionaries(text, text, max_size=5),
    headers=st.dictionaries(
        st.sampled_from(
            [
                "Authorization",
                "x-acs-date",
                "x-acs-signature-nonce",
                "x-acs-content-sha256",
                "x-acs-action",
                "x-acs-version",
                "Content-Type",
                "x-acs-security-token",
            ]
        ),
        st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60),
        max_size=5,
    ),
    body=raw,
)
def test_fuzzed_unsigned_imm_and_sts_requests_never_fail_with_5xx(
    shared: ImmEmulator, query: dict[str, str], headers: dict[str, str], body: bytes
) -> None:
    for method, extra in (("POST", {}), ("GET", {"Action": "AssumeRole", "Version": "2015-04-01"})):
        target = "/?" + urlencode({**query, **extra}, quote_via=quote)
        status, _, reply = send(shared, method, target, body if method == "POST" else b"", headers)
        assert_4xx_or_ok(status, reply)
        assert status == 200 or imm_error(reply)


MNS_TARGETS = [
    "/queues",
    "/queues/jobs",
    "/queues/jobs/messages",
    "/topics",
    "/topics/events",
    "/topics/events/messages",
    "/topics/events/subscriptions",
    "/topics/events/subscriptions/s1",
]
mns_query = st.dictionaries(
    st.sampled_from(
        ["metaoverride", "numOfMessages", "peekonly", "waitseconds", "ReceiptHandle", "VisibilityTimeout"]
    ),
    text,
    max_size=3,
)
xml_bodies = st.one_of(
    raw,
    st.builds(
        lambda root, fields: (
            f'<?xml version="1.0"?><{root} xmlns="http://mns.aliyuncs.com/doc/v1/">'
            + "".join(f"<{k}>{v}</{k}>" for k, v in fields.items())
            + f"</{root}>"
        ).encode("utf-8", "surrogatepass"),
        st.sampled_from(["Queue", "Topic", "Message", "Messages", "Subscription", "ReceiptHandles", "x"]),
        st.dictionaries(
            st.sampled_from(
                [
                    "MessageBody",
                    "DelaySeconds",
                    "Priority",
                    "VisibilityTimeout",
                    "MaximumMessageSize",
                    "Endpoint",
                    "NotifyStrategy",
                    "NotifyContentFormat",
                    "FilterTag",
                    "LoggingEnabled",
                    "Message",
                    "ReceiptHandle",
                    "PollingWaitSeconds",
                ]
            ),
            text,
            max_size=4,
        ),
    ),
)


@FUZZ
@given(
    method=st.sampled_from(["GET", "PUT", "POST", "DELETE", "PATCH"]),
    path=st.sampled_from(MNS_TARGETS),
    query=mns_query,
    body=xml_bodies,
    list_headers=st.dictionaries(
        st.sampled_from(["x-mns-prefix", "x-mns-marker", "x-mns-ret-number"]),
        st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=10),
    ),
)
def test_fuzzed_signed_mns_requests_never_fail_with_5xx(
    shared: ImmEmulator,
    method: str,
    path: str,
    query: dict[str, str],
    body: bytes,
    list_headers: dict[str, str],
) -> None:
    target = path + ("?" + urlencode(query, quote_via=quote) if query else "")
    headers = {**list_headers, **mns_headers(shared, method, target, body)}
    if list_headers:
        from airflow_provider_imm.emulator.mns_signature import authorization

        headers["Authorization"] = authorization(
            shared.access_key_id, shared.access_key_secret, method, headers, target
        )
    status, _, reply = send(shared, method, target, body, headers)
    assert_4xx_or_ok(status, reply)
    if status >= 400:
        mns_error(reply)


ADMIN_TARGETS = [
    ("POST", "/_emulator/faults"),
    ("POST", "/_emulator/clock"),
    ("POST", "/_emulator/imm/behaviour"),
    ("POST", "/_emulator/imm/tasks/t1/finish"),
    ("GET", "/_emulator/imm/tasks"),
    ("GET", "/_emulator/oss/bkt"),
    ("PUT", "/_emulator/oss/bkt/k"),
    ("GET", "/_emulator/counters"),
]
admin_json = st.dictionaries(
    st.sampled_from(
        [
            "kind",
            "n",
            "status",
            "code",
            "message",
            "retry_after",
            "delay",
            "action",
            "advance",
            "duration",
            "seconds",
            "times",
        ]
    ),
    st.none() | st.booleans() | st.integers() | st.floats() | text | st.lists(st.integers(), max_size=2),
    max_size=5,
).map(lambda d: json.dumps(d).encode())


@FUZZ
@given(
    route=st.sampled_from(ADMIN_TARGETS), body=admin_json | raw, query=st.dictionaries(text, text, max_size=3)
)
def test_fuzzed_admin_requests_never_fail_with_5xx(
    shared: ImmEmulator, route: tuple[str, str], body: bytes, query: dict[str, str]
) -> None:
    method, path = route
    target = path + ("?" + urlencode(query, quote_via=quote) if query else "")
    try:
        status, _, reply = send(shared, method, target, body, {"Content-Type": "application/json"})
    finally:
        shared.faults.clear()
        shared.imm.clear_behaviours()
    assert_4xx_or_ok(status, reply)
    if status >= 400:
        admin_error(reply)


@pytest.mark.parametrize("key", ["a" * 300, "a/" * 3000 + "b", "/".join(["a" * 200] * 6)])
def test_admin_object_keys_too_long_are_400_json_errors(emulator: ImmEmulator, key: str) -> None:
    for method in ("PUT", "GET"):
        status, _, body = send(
            emulator, method, f"/_emulator/oss/bkt/{key}", b"x" if method == "PUT" else b""
        )
        assert status == 400, (method, status, body[:200])
        assert "bytes" in admin_error(body) or "levels" in admin_error(body)


@FUZZ
@given(
    method=st.sampled_from(["PUT", "GET"]),
    segment=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=300),
    count=st.integers(1, 3000),
)
def test_fuzzed_long_and_deep_object_keys_never_fail_with_5xx(
    shared: ImmEmulator, method: str, segment: str, count: int
) -> None:
    quoted = quote(segment, safe="")
    count = max(1, min(count, 7000 // (len(quoted) + 1)))  # within the request line aiohttp reads
    target = "/_emulator/oss/bkt/" + "/".join([quoted] * count)
    status, _, reply = send(shared, method, target, b"x" if method == "PUT" else b"")
    assert_4xx_or_ok(status, reply)
    if status >= 400:
        admin_error(reply)
