"""The official ``OSSHook`` (apache-airflow-providers-alibaba) against the emulator's OSS API, unchanged:
its connection's ``endpoint`` extra is the emulator's ``oss_url`` (an IP address, so the SDK goes
path-style)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from airflow.providers.alibaba.cloud.hooks.oss import OSSHook

from airflow_provider_imm.emulator import ImmEmulator

MiB = 1024 * 1024


@pytest.fixture
def hook(emulator: ImmEmulator, monkeypatch: pytest.MonkeyPatch) -> OSSHook:
    """A hook on the emulator's ``oss`` connection, whose default bucket (schema) is ``media``."""
    connections = emulator.airflow_connections(oss_conn_id="oss_emulator", oss_bucket="media")
    monkeypatch.setenv("AIRFLOW_CONN_OSS_EMULATOR", connections["oss_emulator"])
    return OSSHook(oss_conn_id="oss_emulator")


def test_the_hook_creates_writes_reads_checks_and_deletes(emulator: ImmEmulator, hook: OSSHook) -> None:
    hook.create_bucket()
    hook.load_string("inbox/a.txt", "alpha")
    hook.load_string("inbox/b.txt", "beta", bucket_name="media")

    assert hook.object_exists("inbox/a.txt") and hook.key_exist("media", "inbox/b.txt")
    assert not hook.object_exists("inbox/c.txt")
    assert hook.read_key("media", "inbox/a.txt") == "alpha"
    assert hook.head_key("media", "inbox/b.txt").content_length == 4
    assert emulator.oss.get("media", "inbox/a.txt") == b"alpha"  # the storage IMM tasks read

    keys = [c.key for c in hook.get_bucket().list_objects_v2(_list("media", "inbox/")).contents]
    assert keys == ["inbox/a.txt", "inbox/b.txt"]

    hook.delete_object("inbox/a.txt")
    assert not hook.object_exists("inbox/a.txt")
    hook.delete_objects(["inbox/b.txt"])
    assert emulator.oss.list("media") == []
    hook.delete_bucket()
    assert not emulator.oss.bucket_exists("media")


def test_the_hook_uploads_64_mib_in_parts_and_downloads_it_unchanged(hook: OSSHook, tmp_path: Path) -> None:
    hook.create_bucket()
    source = tmp_path / "clip.bin"
    source.write_bytes(os.urandom(64 * MiB))
    hook.upload_local_file("big/clip.bin", str(source))
    # Above the uploader's 6 MiB part size: a multipart upload, whose ETag counts its parts.
    assert hook.head_key("media", "big/clip.bin").etag.rstrip('"').rpartition("-")[2].isdigit()

    target = tmp_path / "back.bin"
    assert hook.download_file("big/clip.bin", str(target)) == str(target)
    assert hashlib.sha256(target.read_bytes()).hexdigest() == hashlib.sha256(source.read_bytes()).hexdigest()


def test_a_missing_object_reads_as_absent_and_a_missing_bucket_fails(hook: OSSHook, tmp_path: Path) -> None:
    hook.create_bucket()
    assert not hook.key_exist("media", "nothing")
    assert hook.download_file("nothing", str(tmp_path / "x")) is None  # the hook logs NoSuchKey
    with pytest.raises(Exception, match="Errors when read bucket object") as caught:
        hook.read_key("elsewhere", "k")
    assert "Error Code: NoSuchBucket" in str(caught.value.__context__)  # the SDK's error the hook wraps


def _list(bucket: str, prefix: str):  # type: ignore[no-untyped-def]
    import alibabacloud_oss_v2 as oss

    return oss.ListObjectsV2Request(bucket=bucket, prefix=prefix)
