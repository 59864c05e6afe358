"""The emulator's OSS: a local folder that no bucket or key can escape."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_imm.emulator.oss import MAX_KEY_BYTES, MAX_SEGMENTS, LocalOss, ObjectMeta, OssKeyError


@pytest.fixture
def oss(tmp_path: Path) -> LocalOss:
    return LocalOss(tmp_path / "root")


def test_put_get_list_round_trip(oss: LocalOss) -> None:
    oss.put("docs", "inbox/b.docx", b"B")
    oss.put("docs", "inbox/a.docx", "A")
    oss.put("docs", "outbox/a.pdf", b"P")

    assert oss.get("docs", "inbox/a.docx") == b"A"
    assert oss.list("docs", "inbox/") == ["inbox/a.docx", "inbox/b.docx"]
    assert oss.list("docs") == ["inbox/a.docx", "inbox/b.docx", "outbox/a.pdf"]
    assert oss.list("nobucket") == []
    assert oss.exists("docs", "outbox/a.pdf") and not oss.exists("docs", "outbox/b.pdf")
    assert (oss.root / "docs" / "inbox" / "a.docx").read_bytes() == b"A"


def test_missing_object_is_file_not_found(oss: LocalOss) -> None:
    with pytest.raises(FileNotFoundError, match="oss://docs/nothing"):
        oss.get("docs", "nothing")


@pytest.mark.parametrize(
    ("bucket", "key"),
    [
        ("docs", "../other/secret"),
        ("docs", "a/../../escape"),
        ("docs", "/etc/passwd"),
        ("docs", ""),
        ("docs", "a\\..\\b"),
        ("docs", "nul\x00byte"),
        ("..", "key"),
        ("a/b", "key"),
        ("", "key"),
    ],
)
def test_keys_and_buckets_that_would_escape_are_refused(oss: LocalOss, bucket: str, key: str) -> None:
    with pytest.raises(OssKeyError):
        oss.put(bucket, key, b"x")
    assert not oss.exists(bucket, key)
    assert not any(p.is_file() for p in oss.root.parent.rglob("*"))


def test_symlink_out_of_the_bucket_is_refused(oss: LocalOss, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (oss.root / "docs").mkdir()
    (oss.root / "docs" / "link").symlink_to(outside)

    with pytest.raises(OssKeyError, match="escapes"):
        oss.put("docs", "link/file", b"x")
    assert list(outside.iterdir()) == []


#: Keys the filesystem cannot hold: a segment over 255 bytes (ENAMETOOLONG), thousands of segments,
#: or over OSS's 1023 bytes.
TOO_LONG = ["a" * 300, "a/" * 3000 + "b", "é" * 128 + "/x", "/".join(["a" * 200] * 6), "a/" * 300 + "b"]


@pytest.mark.parametrize("key", TOO_LONG)
def test_keys_too_long_are_refused_not_an_os_error(oss: LocalOss, key: str) -> None:
    assert not oss.exists("bkt", key)
    with pytest.raises(OssKeyError, match=r"bytes|levels"):
        oss.put("bkt", key, b"x")
    with pytest.raises(OssKeyError):
        oss.get("bkt", key)


def test_the_longest_keys_are_served(oss: LocalOss) -> None:
    keys = ["a" * 255, "/".join(["b" * 255] * 4)[:MAX_KEY_BYTES], "c/" * (MAX_SEGMENTS - 1) + "c"]
    for key in keys:
        oss.put("bkt", key, b"x")
        assert oss.exists("bkt", key) and oss.get("bkt", key) == b"x"
    assert oss.list("bkt") == sorted(keys)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(segment=st.text(min_size=1, max_size=300), count=st.integers(1, 3000))
def test_any_key_is_stored_or_refused_with_an_oss_key_error(oss: LocalOss, segment: str, count: int) -> None:
    key = "/".join([segment] * count)
    try:
        oss.put("bkt", key, b"x")
    except OssKeyError:
        assert not oss.exists("bkt", key)
    else:
        assert oss.exists("bkt", key)


@pytest.mark.parametrize("xattrs", [True, False], ids=["extended-attribute", "sidecar"])
def test_metadata_follows_its_object_through_writes_copies_and_deletes(oss: LocalOss, xattrs: bool) -> None:
    """Kept in an extended attribute where the filesystem has them, else in a file under ``.meta``;
    either way invisible to listings and gone with the object."""
    oss._xattrs = xattrs
    big = {"x-oss-meta-big": "v" * 6000}  # more than one extended attribute of ext4 holds
    for key, headers in (("a/small.txt", {"x-oss-meta-k": "1"}), ("a/big.txt", big)):
        source = oss.upload_file()
        source.write_bytes(b"data")
        meta = ObjectMeta("ETAG", "text/plain", None, "Normal", headers)
        oss.put_file("bkt", key, source, etag="ETAG", meta=meta)
        assert oss.stat("bkt", key).meta == meta
    assert (oss.root / ".meta" / "bkt" / "a" / "small.txt").exists() is not xattrs
    oss.copy(("bkt", "a/big.txt"), "bkt", "b/copy.txt")
    assert oss.stat("bkt", "b/copy.txt").meta.headers == big
    assert oss.list("bkt") == ["a/big.txt", "a/small.txt", "b/copy.txt"]
    oss.put("bkt", "a/small.txt", b"new")  # a new version has the new version's metadata
    assert oss.stat("bkt", "a/small.txt").meta.headers == {}
    for key in oss.list("bkt"):
        oss.delete("bkt", key)
    assert [p for p in oss.root.rglob("*") if p.is_file()] == []


def test_a_file_put_by_hand_gets_its_metadata_on_first_look(oss: LocalOss) -> None:
    (oss.root / "bkt" / "in").mkdir(parents=True)
    (oss.root / "bkt" / "in" / "clip.mp4").write_bytes(b"frames")
    info = oss.stat("bkt", "in/clip.mp4")
    assert (info.size, info.meta.etag, info.meta.content_type) == (
        6,
        "DCDC1AC079A91D513A5A759B0FB9C1DC",
        "video/mp4",
    )
