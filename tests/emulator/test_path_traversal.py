"""No bucket, key or resource name in a URL reaches outside the emulator's OSS root, however encoded.

Each payload is put on the request line exactly as written, in every route that takes a name; the
answer must be a 4xx in the service's own error shape, and nothing outside the root may be listed,
read or written.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from alibabacloud_imm20200930 import models
from alibabacloud_imm20200930.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException

from airflow_provider_imm.emulator import DEFAULT_PROJECT, ImmEmulator
from tests.emulator.raw_http import admin_error, mns_error, mns_headers, send

#: Path segments as sent on the wire: dot-dot, encoded and double-encoded separators and dots,
#: backslashes, NUL, absolute paths, overlong UTF-8 and Unicode look-alike dots.
PAYLOADS = [
    "..",
    ".",
    "%2e%2e",
    "%2E%2E",
    ".%2e",
    "%2F",
    "%2Fetc",
    "..%2F..%2F..%2Fetc",
    "%252e%252e",
    "%252F",
    "%252e%252e%252fetc",
    "..%5C..",
    "%5C",
    "a%00b",
    "%00",
    "%2Fetc%2Fpasswd",
    "%EF%BC%8E%EF%BC%8E",  # fullwidth full stops
    "%E2%80%A5",  # two dot leader
    "%C0%AE%C0%AE",  # overlong UTF-8 dots
    "%FF",
]
SECRET = b"outside the root"


@pytest.fixture
def planted(emulator: ImmEmulator) -> Path:
    """A file beside the OSS root (where ``..`` leads) and an object inside it."""
    emulator.oss.put("bkt", "a/b.txt", b"inside")
    outside = emulator.oss.root.parent / "planted.txt"
    outside.write_bytes(SECRET)
    return outside


#: Payloads that decode to literal names (``%2e%2e`` after one decoding, undecodable bytes): an
#: object key may hold them, so they may be written, but only inside the bucket.
LITERAL = {"%252e%252e", "%252F", "%252e%252e%252fetc", "%C0%AE%C0%AE", "%FF"}


def assert_refused(status: int, body: bytes) -> None:
    assert 400 <= status < 500, (status, body[:200])
    assert SECRET not in body


def files_outside_bucket(emulator: ImmEmulator) -> list[Path]:
    """Files outside the bucket and outside its objects' metadata (kept under ``<root>/.meta/bkt``)."""
    inside = (emulator.oss.root / "bkt", emulator.oss.root / ".meta" / "bkt")
    return sorted(
        p for p in emulator.oss.root.parent.rglob("*") if not any(p.is_relative_to(b) for b in inside)
    )


@pytest.mark.parametrize("payload", PAYLOADS)
def test_admin_bucket_listing_refuses_names_that_leave_the_root(
    emulator: ImmEmulator, planted: Path, payload: str
) -> None:
    for target in (
        f"/_emulator/oss/{payload}",
        f"/_emulator/oss/{payload}/",
        f"/_emulator/oss/{payload}?prefix=..",
    ):
        status, _, body = send(emulator, "GET", target)
        assert_refused(status, body)
        assert b"planted" not in body
        admin_error(body)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_admin_object_routes_refuse_buckets_and_keys_that_leave_the_root(
    emulator: ImmEmulator, planted: Path, payload: str
) -> None:
    before = files_outside_bucket(emulator)
    status, _, body = send(emulator, "PUT", f"/_emulator/oss/{payload}/planted.txt", b"written")
    assert_refused(status, body)
    admin_error(body)
    targets = [
        f"/_emulator/oss/{payload}/planted.txt",
        f"/_emulator/oss/bkt/{payload}",
        f"/_emulator/oss/bkt/{payload}/planted.txt",
        f"/_emulator/oss/bkt/a/{payload}/{payload}/planted.txt",
    ]
    for target in targets:
        for method in ("GET", "PUT"):
            status, _, body = send(emulator, method, target, b"written" if method == "PUT" else b"")
            assert SECRET not in body
            if payload in LITERAL and status < 300:
                continue
            assert_refused(status, body)
            admin_error(body)
    assert planted.read_bytes() == SECRET
    assert files_outside_bucket(emulator) == before


@pytest.mark.parametrize("payload", PAYLOADS)
def test_absolute_paths_are_refused(emulator: ImmEmulator, planted: Path, payload: str) -> None:
    status, _, body = send(emulator, "GET", f"/_emulator/oss//{payload}")
    assert_refused(status, body)
    status, _, body = send(emulator, "GET", f"/_emulator/oss/bkt//{payload}")
    assert_refused(status, body)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_task_finish_route_refuses_odd_task_ids(emulator: ImmEmulator, payload: str) -> None:
    status, _, body = send(emulator, "POST", f"/_emulator/imm/tasks/{payload}/finish")
    assert_refused(status, body)
    admin_error(body)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_mns_routes_refuse_odd_names_with_mns_errors(emulator: ImmEmulator, payload: str) -> None:
    emulator.mns.create_queue("jobs")
    emulator.mns.create_topic("events")
    targets = [
        ("PUT", f"/queues/{payload}"),
        ("GET", f"/queues/{payload}"),
        ("DELETE", f"/queues/{payload}"),
        ("GET", f"/queues/{payload}/messages?waitseconds=0"),
        ("PUT", f"/topics/{payload}"),
        ("GET", f"/topics/{payload}"),
        ("POST", f"/topics/{payload}/messages"),
        ("GET", f"/topics/{payload}/subscriptions"),
        ("PUT", f"/topics/events/subscriptions/{payload}"),
        ("GET", f"/topics/events/subscriptions/{payload}"),
    ]
    for method, target in targets:
        status, _, body = send(emulator, method, target, headers=mns_headers(emulator, method, target))
        assert_refused(status, body)
        mns_error(body)
    assert sorted(emulator.mns.store.queues) == ["jobs"]
    assert sorted(emulator.mns.store.topics) == ["events"]


def test_valid_names_still_work(emulator: ImmEmulator) -> None:
    status, _, _ = send(emulator, "PUT", "/_emulator/oss/bkt/dir/a%20b.txt", b"data")
    assert status == 201
    assert emulator.oss.get("bkt", "dir/a b.txt") == b"data"
    status, _, body = send(emulator, "GET", "/_emulator/oss/bkt/dir/a%20b.txt")
    assert (status, body) == (200, b"data")
    status, _, body = send(emulator, "GET", "/_emulator/oss/bkt")
    assert (status, body) == (200, b'{"keys": ["dir/a b.txt"]}')


@pytest.mark.parametrize("name", ["..", "../..", "/etc", "a/../../b", "..\\..", "a\x00b", "\uff0e\uff0e"])
def test_imm_project_and_task_names_are_looked_up_not_walked(imm_client: Client, name: str) -> None:
    with pytest.raises(ClientException) as err:
        imm_client.get_project(models.GetProjectRequest(project_name=name))
    assert 400 <= err.value.status_code < 500
    with pytest.raises(ClientException) as err:
        imm_client.get_task(
            models.GetTaskRequest(project_name=DEFAULT_PROJECT, task_type="OfficeConversion", task_id=name)
        )
    assert 400 <= err.value.status_code < 500
