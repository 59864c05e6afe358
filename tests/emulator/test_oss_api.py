"""OSS's REST API through the unchanged ``alibabacloud-oss-v2`` client: buckets, objects, listings,
multipart uploads, and one storage with IMM."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import threading
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import alibabacloud_oss_v2 as oss
import pytest
from alibabacloud_imm20200930 import models as imm_models
from alibabacloud_imm20200930.client import Client as ImmClient
from alibabacloud_oss_v2.exceptions import OperationError, ServiceError

from airflow_provider_imm.emulator import DEFAULT_PROJECT, ImmEmulator
from airflow_provider_imm.emulator.oss import CRC_MAX_BYTES, ObjectChange, ObjectMeta
from airflow_provider_imm.emulator.oss_api import parse_range
from airflow_provider_imm.emulator.oss_events import PROCESS_STATUS
from tests.emulator.oss_requests import refused, send_signed, service_error
from tests.sdk_clients import oss_client_for

BUCKET = "media"
MiB = 1024 * 1024


@pytest.fixture
def client(emulator: ImmEmulator) -> oss.Client:
    return oss_client_for(emulator)


@pytest.fixture
def bucket(client: oss.Client) -> str:
    client.put_bucket(oss.PutBucketRequest(bucket=BUCKET))
    return BUCKET


@pytest.fixture
def changes(emulator: ImmEmulator) -> Iterator[list[ObjectChange]]:
    """Every change the storage reports; the subscriber says each matched a rule."""
    seen: list[ObjectChange] = []

    def listener(change: ObjectChange) -> bool:
        seen.append(change)
        return True

    emulator.oss.subscribe(listener)
    yield seen


def md5_etag(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest().upper()}"'


# Buckets
def test_buckets_are_created_listed_described_and_deleted(emulator: ImmEmulator, client: oss.Client) -> None:
    assert client.put_bucket(oss.PutBucketRequest(bucket="one")).status_code == 200
    client.put_bucket(oss.PutBucketRequest(bucket="two"))
    assert [b.name for b in client.list_buckets(oss.ListBucketsRequest()).buckets] == ["one", "two"]
    assert [b.name for b in client.list_buckets(oss.ListBucketsRequest(prefix="t")).buckets] == ["two"]

    info = client.get_bucket_info(oss.GetBucketInfoRequest(bucket="one")).bucket_info
    assert (info.name, info.location, info.storage_class) == ("one", f"oss-{emulator.region}", "Standard")
    assert info.creation_date is not None
    assert client.is_bucket_exist("one") and not client.is_bucket_exist("three")

    existing = refused(client.put_bucket, oss.PutBucketRequest(bucket="one"))
    assert (existing.status_code, existing.code) == (409, "BucketAlreadyExists")

    client.put_object(oss.PutObjectRequest(bucket="one", key="k", body=b"x"))
    full = refused(client.delete_bucket, oss.DeleteBucketRequest(bucket="one"))
    assert (full.status_code, full.code) == (409, "BucketNotEmpty")
    client.delete_object(oss.DeleteObjectRequest(bucket="one", key="k"))
    assert client.delete_bucket(oss.DeleteBucketRequest(bucket="one")).status_code == 204
    assert [b.name for b in client.list_buckets(oss.ListBucketsRequest()).buckets] == ["two"]


def test_a_missing_bucket_is_refused_with_no_such_bucket(client: oss.Client) -> None:
    calls = [
        (client.put_object, oss.PutObjectRequest(bucket="nowhere", key="k", body=b"x")),
        (client.get_object, oss.GetObjectRequest(bucket="nowhere", key="k")),
        (client.list_objects_v2, oss.ListObjectsV2Request(bucket="nowhere")),
        (client.get_bucket_info, oss.GetBucketInfoRequest(bucket="nowhere")),
        (client.delete_bucket, oss.DeleteBucketRequest(bucket="nowhere")),
    ]
    for call, request in calls:
        err = refused(call, request)
        assert (err.status_code, err.code) == (404, "NoSuchBucket"), call
        assert err.request_id and err.headers["x-oss-request-id"] == err.request_id


# Objects
def test_put_get_head_and_meta_agree_on_etag_type_and_user_metadata(client: oss.Client, bucket: str) -> None:
    data = b"frame data " * 1000
    put = client.put_object(
        oss.PutObjectRequest(
            bucket=bucket,
            key="in/clip one.mp4",
            body=data,
            content_type="video/mp4",
            metadata={"origin": "camera-7"},
            content_disposition="attachment",
        )
    )
    assert put.etag == md5_etag(data) and put.hash_crc64

    got = client.get_object(oss.GetObjectRequest(bucket=bucket, key="in/clip one.mp4"))
    assert got.body.read() == data
    assert (got.etag, got.content_type, got.content_length) == (put.etag, "video/mp4", len(data))
    assert got.metadata == {"origin": "camera-7"} and got.content_disposition == "attachment"
    assert got.last_modified is not None and got.object_type == "Normal"

    head = client.head_object(oss.HeadObjectRequest(bucket=bucket, key="in/clip one.mp4"))
    assert (head.etag, head.content_length, head.metadata) == (put.etag, len(data), {"origin": "camera-7"})
    meta = client.get_object_meta(oss.GetObjectMetaRequest(bucket=bucket, key="in/clip one.mp4"))
    assert (meta.etag, meta.content_length, meta.last_modified) == (put.etag, len(data), head.last_modified)
    assert client.is_object_exist(bucket, "in/clip one.mp4")
    assert not client.is_object_exist(bucket, "in/other.mp4")


def test_content_type_is_guessed_from_the_name_when_not_sent(
    emulator: ImmEmulator, client: oss.Client, bucket: str
) -> None:
    emulator.oss.put(bucket, "imm/out.json", b"{}")  # as an IMM task writes its outputs
    head = client.head_object(oss.HeadObjectRequest(bucket=bucket, key="imm/out.json"))
    assert head.content_type == "application/json" and head.etag == md5_etag(b"{}")


def test_a_wrong_content_md5_is_refused_and_nothing_is_stored(client: oss.Client, bucket: str) -> None:
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    err = refused(
        client.put_object, oss.PutObjectRequest(bucket=bucket, key="k", body=b"data", content_md5=wrong)
    )
    assert (err.status_code, err.code) == (400, "InvalidDigest")
    assert not client.is_object_exist(bucket, "k")
    right = base64.b64encode(hashlib.md5(b"data").digest()).decode()
    assert client.put_object(
        oss.PutObjectRequest(bucket=bucket, key="k", body=b"data", content_md5=right)
    ).etag


def test_a_missing_object_is_refused_with_no_such_key(client: oss.Client, bucket: str) -> None:
    err = refused(client.get_object, oss.GetObjectRequest(bucket=bucket, key="absent"))
    assert (err.status_code, err.code) == (404, "NoSuchKey")
    # A HEAD has no body: the error document comes in x-oss-err, which the SDK reads.
    err = refused(client.head_object, oss.HeadObjectRequest(bucket=bucket, key="absent"))
    assert (err.status_code, err.code) == (404, "NoSuchKey")
    err = refused(client.copy_object, oss.CopyObjectRequest(bucket=bucket, key="c", source_key="absent"))
    assert (err.status_code, err.code) == (404, "NoSuchKey")


def test_ranged_gets_answer_the_bytes_asked_for(client: oss.Client, bucket: str) -> None:
    data = os.urandom(100_000)
    client.put_object(oss.PutObjectRequest(bucket=bucket, key="r", body=data))
    for header, expected in [
        ("bytes=0-9", data[:10]),
        ("bytes=99990-", data[99990:]),
        ("bytes=-5", data[-5:]),
        ("bytes=50000-200000", data[50000:]),
    ]:
        got = client.get_object(oss.GetObjectRequest(bucket=bucket, key="r", range_header=header))
        assert got.status_code == 206 and got.body.read() == expected, header
        assert got.content_range.endswith(f"/{len(data)}")
    whole = client.get_object(oss.GetObjectRequest(bucket=bucket, key="r", range_header="bytes=200000-"))
    assert whole.status_code == 200 and whole.body.read() == data  # OSS's default for a range past the end
    err = refused(
        client.get_object,
        oss.GetObjectRequest(bucket=bucket, key="r", range_header="bytes=200000-", range_behavior="standard"),
    )
    assert (err.status_code, err.code) == (416, "InvalidRange")


def test_copy_keeps_or_replaces_metadata(
    client: oss.Client, bucket: str, changes: list[ObjectChange]
) -> None:
    client.put_object(oss.PutObjectRequest(bucket=bucket, key="a.txt", body=b"abc", metadata={"k": "v"}))
    copied = client.copy_object(oss.CopyObjectRequest(bucket=bucket, key="b.txt", source_key="a.txt"))
    assert copied.etag == md5_etag(b"abc")
    assert copied.headers.get("x-oss-process-status")
    head = client.head_object(oss.HeadObjectRequest(bucket=bucket, key="b.txt"))
    assert head.metadata == {"k": "v"}
    client.copy_object(
        oss.CopyObjectRequest(
            bucket=bucket, key="c.txt", source_key="a.txt", metadata_directive="REPLACE", metadata={"n": "1"}
        )
    )
    assert client.head_object(oss.HeadObjectRequest(bucket=bucket, key="c.txt")).metadata == {"n": "1"}
    assert client.get_object(oss.GetObjectRequest(bucket=bucket, key="c.txt")).body.read() == b"abc"
    assert [c.event for c in changes] == ["ObjectCreated:PutObject"] + ["ObjectCreated:CopyObject"] * 2


def test_deletes_report_their_event_and_answer_the_process_status(
    client: oss.Client, bucket: str, changes: list[ObjectChange]
) -> None:
    for key in ("d/1", "d/2", "d/3"):
        put = client.put_object(oss.PutObjectRequest(bucket=bucket, key=key, body=b"x"))
        assert put.headers["x-oss-process-status"] == PROCESS_STATUS
    deleted = client.delete_object(oss.DeleteObjectRequest(bucket=bucket, key="d/1"))
    assert deleted.status_code == 204 and deleted.headers["x-oss-process-status"] == PROCESS_STATUS
    many = client.delete_multiple_objects(
        oss.DeleteMultipleObjectsRequest(
            bucket=bucket, objects=[oss.DeleteObject(key="d/2"), oss.DeleteObject(key="d/3")]
        )
    )
    assert sorted(d.key for d in many.deleted_objects) == ["d/2", "d/3"]
    assert many.headers["x-oss-process-status"] == PROCESS_STATUS
    # Deleting what is not there answers 204, changes nothing and reports nothing.
    again = client.delete_object(oss.DeleteObjectRequest(bucket=bucket, key="d/1"))
    assert again.status_code == 204 and "x-oss-process-status" not in again.headers
    assert [(c.event, c.key) for c in changes[3:]] == [
        ("ObjectRemoved:DeleteObject", "d/1"),
        ("ObjectRemoved:DeleteObjects", "d/2"),
        ("ObjectRemoved:DeleteObjects", "d/3"),
    ]
    assert client.list_objects_v2(oss.ListObjectsV2Request(bucket=bucket)).key_count == 0


def test_no_process_status_when_no_rule_matched(client: oss.Client, bucket: str) -> None:
    put = client.put_object(oss.PutObjectRequest(bucket=bucket, key="k", body=b"x"))
    assert "x-oss-process-status" not in put.headers


def test_a_deleted_key_frees_its_folder_for_an_object_of_that_name(client: oss.Client, bucket: str) -> None:
    client.put_object(oss.PutObjectRequest(bucket=bucket, key="a/b", body=b"1"))
    client.delete_object(oss.DeleteObjectRequest(bucket=bucket, key="a/b"))
    client.put_object(oss.PutObjectRequest(bucket=bucket, key="a", body=b"2"))
    assert client.get_object(oss.GetObjectRequest(bucket=bucket, key="a")).body.read() == b"2"


# Listings
KEYS = ["a.txt", "in/1.mp4", "in/2.mp4", "in/sub/3.mp4", "in/sub/4.mp4", "out/x.mp4", "z~ key%.txt"]


@pytest.fixture
def listed(emulator: ImmEmulator, bucket: str) -> str:
    for key in KEYS:
        emulator.oss.put(bucket, key, key)
    return bucket


def test_list_objects_v2_pages_through_keys_and_common_prefixes(client: oss.Client, listed: str) -> None:
    pages = client.list_objects_v2_paginator(limit=2).iter_page(
        oss.ListObjectsV2Request(bucket=listed, max_keys=2)
    )
    seen = [(c.key, c.size, c.etag) for page in pages for c in page.contents or []]
    assert [key for key, _, _ in seen] == KEYS
    assert all(size == len(key) and etag == md5_etag(key.encode()) for key, size, etag in seen)

    first = client.list_objects_v2(
        oss.ListObjectsV2Request(bucket=listed, prefix="in/", delimiter="/", max_keys=2)
    )
    assert [c.key for c in first.contents] == ["in/1.mp4", "in/2.mp4"] and first.is_truncated
    rest = client.list_objects_v2(
        oss.ListObjectsV2Request(
            bucket=listed, prefix="in/", delimiter="/", continuation_token=first.next_continuation_token
        )
    )
    assert [p.prefix for p in rest.common_prefixes] == ["in/sub/"] and not rest.contents
    assert not rest.is_truncated and rest.key_count == 1

    top = client.list_objects_v2(oss.ListObjectsV2Request(bucket=listed, delimiter="/"))
    assert [c.key for c in top.contents] == ["a.txt", "z~ key%.txt"]
    assert [p.prefix for p in top.common_prefixes] == ["in/", "out/"]
    after = client.list_objects_v2(oss.ListObjectsV2Request(bucket=listed, start_after="in/sub/3.mp4"))
    assert [c.key for c in after.contents] == ["in/sub/4.mp4", "out/x.mp4", "z~ key%.txt"]


def test_list_objects_v1_pages_by_marker(client: oss.Client, listed: str) -> None:
    pages = client.list_objects_paginator(limit=3).iter_page(oss.ListObjectsRequest(bucket=listed))
    assert [c.key for page in pages for c in page.contents or []] == KEYS
    page = client.list_objects(
        oss.ListObjectsRequest(bucket=listed, marker="a.txt", delimiter="/", max_keys=2)
    )
    assert [p.prefix for p in page.common_prefixes] == ["in/", "out/"] and page.is_truncated
    assert page.next_marker == "out/"
    last = client.list_objects(oss.ListObjectsRequest(bucket=listed, marker=page.next_marker, delimiter="/"))
    assert [c.key for c in last.contents] == ["z~ key%.txt"] and not last.is_truncated


# Multipart uploads
def test_multipart_upload_by_hand_initiate_parts_list_complete(
    client: oss.Client, bucket: str, changes: list[ObjectChange]
) -> None:
    parts = [os.urandom(200 * 1024), os.urandom(200 * 1024), b"tail"]
    init = client.initiate_multipart_upload(
        oss.InitiateMultipartUploadRequest(bucket=bucket, key="big.bin", metadata={"job": "7"})
    )
    etags = []
    for number, data in enumerate(parts, start=1):
        result = client.upload_part(
            oss.UploadPartRequest(
                bucket=bucket, key="big.bin", upload_id=init.upload_id, part_number=number, body=data
            )
        )
        assert result.etag == md5_etag(data)
        etags.append(result.etag)
    listed = client.list_parts(oss.ListPartsRequest(bucket=bucket, key="big.bin", upload_id=init.upload_id))
    assert [(p.part_number, p.etag, p.size) for p in listed.parts] == [
        (n, e, len(d)) for n, (e, d) in enumerate(zip(etags, parts, strict=True), start=1)
    ]
    assert not client.is_object_exist(bucket, "big.bin") and changes == []
    done = client.complete_multipart_upload(
        oss.CompleteMultipartUploadRequest(
            bucket=bucket,
            key="big.bin",
            upload_id=init.upload_id,
            complete_multipart_upload=oss.CompleteMultipartUpload(
                parts=[oss.UploadPart(part_number=n, etag=e) for n, e in enumerate(etags, start=1)]
            ),
        )
    )
    joined = hashlib.md5(b"".join(bytes.fromhex(e.strip('"')) for e in etags)).hexdigest().upper()
    assert done.etag == f'"{joined}-3"' and done.headers["x-oss-process-status"] == PROCESS_STATUS
    got = client.get_object(oss.GetObjectRequest(bucket=bucket, key="big.bin"))
    assert (
        got.body.read() == b"".join(parts) and got.metadata == {"job": "7"} and got.object_type == "Multipart"
    )
    assert [c.event for c in changes] == ["ObjectCreated:CompleteMultipartUpload"]
    # The upload is gone once completed.
    err = refused(
        client.list_parts, oss.ListPartsRequest(bucket=bucket, key="big.bin", upload_id=init.upload_id)
    )
    assert (err.status_code, err.code) == (404, "NoSuchUpload")


def test_an_aborted_upload_leaves_nothing(emulator: ImmEmulator, client: oss.Client, bucket: str) -> None:
    init = client.initiate_multipart_upload(oss.InitiateMultipartUploadRequest(bucket=bucket, key="gone"))
    client.upload_part(
        oss.UploadPartRequest(bucket=bucket, key="gone", upload_id=init.upload_id, part_number=1, body=b"x")
    )
    abort = oss.AbortMultipartUploadRequest(bucket=bucket, key="gone", upload_id=init.upload_id)
    assert client.abort_multipart_upload(abort).status_code == 204
    assert not client.is_object_exist(bucket, "gone")
    assert not any(p.is_file() for p in emulator.oss.root.rglob("*") if ".meta" not in p.parts)
    assert refused(client.abort_multipart_upload, abort).code == "NoSuchUpload"


def test_a_part_with_a_wrong_etag_or_out_of_order_is_refused(client: oss.Client, bucket: str) -> None:
    init = client.initiate_multipart_upload(oss.InitiateMultipartUploadRequest(bucket=bucket, key="p"))
    for number in (1, 2):
        client.upload_part(
            oss.UploadPartRequest(
                bucket=bucket, key="p", upload_id=init.upload_id, part_number=number, body=b"y" * 102400
            )
        )

    def complete(*parts: tuple[int, str]) -> ServiceError:
        return refused(
            client.complete_multipart_upload,
            oss.CompleteMultipartUploadRequest(
                bucket=bucket,
                key="p",
                upload_id=init.upload_id,
                complete_multipart_upload=oss.CompleteMultipartUpload(
                    parts=[oss.UploadPart(part_number=n, etag=e) for n, e in parts]
                ),
            ),
        )

    etag = md5_etag(b"y" * 102400)
    assert complete((1, etag), (2, '"0000"')).code == "InvalidPart"
    assert complete((2, etag), (1, etag)).code == "InvalidPartOrder"


def test_a_64_mib_file_goes_up_in_parts_and_down_in_ranges_unchanged(
    client: oss.Client, bucket: str, tmp_path: Path
) -> None:
    source = tmp_path / "video.bin"
    block = os.urandom(MiB)
    with source.open("wb") as file:
        for index in range(64):
            file.write(bytes([index]) + block[1:])
    digest = hashlib.sha256(source.read_bytes()).hexdigest()

    uploaded = client.uploader(part_size=8 * MiB).upload_file(
        oss.PutObjectRequest(bucket=bucket, key="v.bin"), str(source)
    )
    assert uploaded.etag.endswith('-8"')  # eight 8 MiB parts: the uploader went multipart
    target = tmp_path / "back.bin"
    downloaded = client.downloader(part_size=5 * MiB).download_file(
        oss.GetObjectRequest(bucket=bucket, key="v.bin"), str(target)
    )
    assert downloaded.written == 64 * MiB
    assert hashlib.sha256(target.read_bytes()).hexdigest() == digest


# One storage with IMM
def test_imm_reads_objects_put_through_oss_and_its_outputs_come_back_through_oss(
    emulator: ImmEmulator, imm_client: ImmClient, client: oss.Client, bucket: str
) -> None:
    client.put_object(oss.PutObjectRequest(bucket=bucket, key="set/a.txt", body=b"alpha"))
    client.put_object(oss.PutObjectRequest(bucket=bucket, key="set/b.txt", body=b"beta"))
    task = imm_client.create_file_compression_task(
        imm_models.CreateFileCompressionTaskRequest(
            project_name=DEFAULT_PROJECT,
            sources=[imm_models.CreateFileCompressionTaskRequestSources(uri=f"oss://{bucket}/set/")],
            target_uri=f"oss://{bucket}/out/set.zip",
        )
    ).body
    get = imm_models.GetTaskRequest(
        project_name=DEFAULT_PROJECT, task_type="FileCompression", task_id=task.task_id
    )
    deadline = time.monotonic() + 10
    while (status := imm_client.get_task(get).body.status) == "Running" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert status == "Succeeded"

    listing = client.list_objects_v2(oss.ListObjectsV2Request(bucket=bucket, prefix="out/"))
    assert [c.key for c in listing.contents] == ["out/set.zip"]
    archive = client.get_object(oss.GetObjectRequest(bucket=bucket, key="out/set.zip")).body.read()
    with zipfile.ZipFile(io.BytesIO(archive)) as members:
        assert {name: members.read(name) for name in members.namelist()} == {
            "a.txt": b"alpha",
            "b.txt": b"beta",
        }


def test_the_crc64_is_served_up_to_its_limit_and_left_out_above(client: oss.Client, bucket: str) -> None:
    """The SDK compares ``x-oss-hash-crc64ecma`` with its own CRC (a mismatch raises), and skips the check
    when the header is absent, as it is above ``CRC_MAX_BYTES``."""
    from alibabacloud_oss_v2.crc import Crc64

    small = os.urandom(1000)
    expected = Crc64(0)
    expected.update(small)
    assert client.put_object(oss.PutObjectRequest(bucket=bucket, key="s", body=small)).hash_crc64 == str(
        expected.sum64()
    )
    assert client.head_object(oss.HeadObjectRequest(bucket=bucket, key="s")).hash_crc64 == str(
        expected.sum64()
    )
    large = client.put_object(
        oss.PutObjectRequest(bucket=bucket, key="l", body=os.urandom(CRC_MAX_BYTES + 1))
    )
    assert large.hash_crc64 is None and large.etag


def test_a_bucket_keeps_its_creation_date_while_objects_come_and_go(client: oss.Client, bucket: str) -> None:
    def created() -> object:
        return client.get_bucket_info(oss.GetBucketInfoRequest(bucket=bucket)).bucket_info.creation_date

    before = created()
    time.sleep(1.1)  # dates are given to the second
    client.put_object(oss.PutObjectRequest(bucket=bucket, key="new/object", body=b"x"))
    assert created() == before


def test_a_failing_folder_answers_internal_error_as_oss_does(
    emulator: ImmEmulator, client: oss.Client, bucket: str
) -> None:
    (emulator.oss.root / ".multipart").write_bytes(b"")  # where uploads are staged: now not a folder
    err = refused(
        client.initiate_multipart_upload, oss.InitiateMultipartUploadRequest(bucket=bucket, key="k")
    )
    assert (err.status_code, err.code) == (500, "InternalError") and err.request_id


def test_conditional_requests_and_forbid_overwrite(client: oss.Client, bucket: str) -> None:
    etag = client.put_object(oss.PutObjectRequest(bucket=bucket, key="c", body=b"v1")).etag
    got = client.get_object(oss.GetObjectRequest(bucket=bucket, key="c", if_match=etag))
    assert got.body.read() == b"v1"
    failed = refused(client.get_object, oss.GetObjectRequest(bucket=bucket, key="c", if_match='"0000"'))
    assert (failed.status_code, failed.code) == (412, "PreconditionFailed")
    same = refused(client.get_object, oss.GetObjectRequest(bucket=bucket, key="c", if_none_match=etag))
    assert same.status_code == 304
    kept = refused(
        client.put_object, oss.PutObjectRequest(bucket=bucket, key="c", body=b"v2", forbid_overwrite=True)
    )
    assert (kept.status_code, kept.code) == (409, "FileAlreadyExists")
    assert client.get_object(oss.GetObjectRequest(bucket=bucket, key="c")).body.read() == b"v1"


def test_of_puts_racing_to_a_key_with_forbid_overwrite_exactly_one_stores(
    emulator: ImmEmulator, bucket: str
) -> None:
    """A create-if-absent lock, as a claim under it needs: the bodies stream in while the others'
    requests arrive, so a check made only before reading a body would let several through."""
    racers = 8
    start = threading.Barrier(racers)

    def put(i: int) -> int | None:
        client = oss_client_for(emulator)
        body = bytes([i]) * (2 * MiB)
        start.wait()
        try:
            client.put_object(
                oss.PutObjectRequest(bucket=bucket, key="lock", body=body, forbid_overwrite=True)
            )
        except OperationError as err:
            assert (service_error(err).status_code, service_error(err).code) == (409, "FileAlreadyExists")
            return None
        return i

    for _ in range(3):
        with ThreadPoolExecutor(racers) as pool:
            stored = [i for i in pool.map(put, range(racers)) if i is not None]
        assert len(stored) == 1
        got = oss_client_for(emulator).get_object(oss.GetObjectRequest(bucket=bucket, key="lock"))
        assert got.body.read() == bytes(stored) * (2 * MiB)
        emulator.oss.delete(bucket, "lock")


def test_a_small_multipart_upload_passes_the_uploaders_crc_check(
    client: oss.Client, bucket: str, tmp_path: Path
) -> None:
    """The uploader combines its parts' CRCs and compares CompleteMultipartUpload's (a mismatch raises)."""
    source = tmp_path / "small.bin"
    source.write_bytes(os.urandom(MiB + 123))
    result = client.uploader(part_size=200 * 1024).upload_file(
        oss.PutObjectRequest(bucket=bucket, key="small.bin"), str(source)
    )
    assert result.etag.endswith('-6"') and result.hash_crc64
    head = client.head_object(oss.HeadObjectRequest(bucket=bucket, key="small.bin"))
    assert head.hash_crc64 == result.hash_crc64 and head.object_type == "Multipart"


def test_ranges() -> None:
    assert parse_range("bytes=0-9", 100) == (0, 10)
    assert parse_range("bytes=90-", 100) == (90, 10)
    assert parse_range("bytes=90-1000", 100) == (90, 10)
    assert parse_range("bytes=-10", 100) == (90, 10)
    assert parse_range("bytes=-1000", 100) == (0, 100)
    assert parse_range("bytes=100-", 100) == "unsatisfiable"
    for ignored in ("", "bytes=5-2", "bytes=0-1,4-5", "items=0-1", "bytes=a-b", "bytes=-", "bytes=-0"):
        assert parse_range(ignored, 100) is None, ignored


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


def test_a_body_over_5_gib_is_refused_before_it_is_read(emulator: ImmEmulator) -> None:
    emulator.oss.create_bucket("bkt")
    too_large = {"Content-Length": str(5 * 1024**3 + 1)}
    assert send_signed(emulator, "PUT", "bkt", "k", {}, unsigned=too_large) == (400, "EntityTooLarge")
    assert [p.name for p in emulator.oss.root.rglob("*") if p.is_file()] == ["bkt.bucket"]  # its creation
