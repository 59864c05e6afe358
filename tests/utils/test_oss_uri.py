"""OSS URI parsing: the accepted form, the rejected forms, and the fix each error message names."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from airflow_provider_imm.utils.oss_uri import MAX_KEY_BYTES, InvalidOssUriError, OssUri, parse_oss_uri

BUCKETS = st.from_regex(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", fullmatch=True)
_KEY_CHARS = st.characters(codec="utf-8", exclude_characters="\x00")
KEYS = (
    st.text(_KEY_CHARS, min_size=1, max_size=80)
    .filter(lambda k: not k.startswith("/") and k == k.strip())
    .filter(lambda k: len(k.encode("utf-8")) <= MAX_KEY_BYTES)
)


def _error(uri: object, **kwargs: object) -> str:
    with pytest.raises(InvalidOssUriError) as info:
        parse_oss_uri(uri, **kwargs)  # type: ignore[arg-type]
    return str(info.value)


def test_reference_example() -> None:
    uri = parse_oss_uri("oss://test-bucket/test-object/test.docx")
    assert uri == OssUri("test-bucket", "test-object/test.docx")
    assert str(uri) == "oss://test-bucket/test-object/test.docx"


@settings(max_examples=200)
@given(BUCKETS, KEYS)
def test_round_trip(bucket: str, key: str) -> None:
    uri = OssUri(bucket, key)
    assert parse_oss_uri(str(uri)) == uri
    assert str(parse_oss_uri(str(uri))) == str(uri)


@settings(max_examples=300)
@given(st.text(max_size=60))
@example("oss://bucket/key\n")
@example("oss://Bucket/key")
@example("http://b.oss-cn-beijing.aliyuncs.com")
def test_any_text_parses_exactly_or_fails_naming_the_field(text: str) -> None:
    try:
        uri = parse_oss_uri(text, field="MyField")
    except InvalidOssUriError as err:
        assert str(err).startswith("MyField")
    else:
        assert str(uri) == text
        assert 3 <= len(uri.bucket) <= 63 and uri.bucket == uri.bucket.lower()
        assert uri.key and not uri.key.startswith("/")


@pytest.mark.parametrize(
    ("wrong", "fixed"),
    [
        (
            "http://bucket.oss-cn-hangzhou.aliyuncs.com/test-object/test.docx",
            "oss://bucket/test-object/test.docx",
        ),
        (
            "https://bucket.oss-cn-hangzhou.aliyuncs.com/test-object/test.docx",
            "oss://bucket/test-object/test.docx",
        ),
        ("HTTPS://Bucket.OSS-CN-HANGZHOU.aliyuncs.com/a/b.png", "oss://bucket/a/b.png"),
        ("http://my-bkt.oss-cn-shanghai-internal.aliyuncs.com/x/y.mp4", "oss://my-bkt/x/y.mp4"),
        ("http://my-bkt.oss-accelerate.aliyuncs.com/x.mp4", "oss://my-bkt/x.mp4"),
        ("http://oss-cn-hangzhou.aliyuncs.com/bucket/test.docx", "oss://bucket/test.docx"),
    ],
)
def test_http_url_message_spells_the_corrected_uri(wrong: str, fixed: str) -> None:
    message = _error(wrong, field="SourceURI")
    assert message.startswith("SourceURI")
    assert "HTTP URL" in message
    assert repr(fixed) in message


def test_http_url_without_an_oss_host_still_names_the_form() -> None:
    message = _error("https://example.com/a.docx")
    assert "HTTP URL" in message and "'oss://<bucket>/<object key>'" in message


@pytest.mark.parametrize(
    ("wrong", "fixed"),
    [
        (
            "oss://bucket.oss-cn-hangzhou.aliyuncs.com/test-object/test.docx",
            "oss://bucket/test-object/test.docx",
        ),
        ("oss://bucket.oss-cn-hangzhou-internal.aliyuncs.com/a.png", "oss://bucket/a.png"),
        ("oss://bucket.oss-cn-hangzhou.aliyuncs.com:443/a.png", "oss://bucket/a.png"),
    ],
)
def test_endpoint_host_message_spells_the_corrected_uri(wrong: str, fixed: str) -> None:
    message = _error(wrong, field="TargetURI")
    assert message.startswith("TargetURI")
    assert "endpoint host instead of a bucket" in message
    assert repr(fixed) in message


@pytest.mark.parametrize(
    ("wrong", "fixed"),
    [("OSS://bucket/key.png", "oss://bucket/key.png"), ("s3://bucket/key.png", "oss://bucket/key.png")],
)
def test_other_schemes_are_rejected_with_the_oss_form(wrong: str, fixed: str) -> None:
    message = _error(wrong)
    assert "must start with 'oss://'" in message and repr(fixed) in message


@pytest.mark.parametrize(
    "text", ["bucket/key.png", "oss:/bucket/key.png", "/bucket/key.png", "", "oss//bucket/key"]
)
def test_not_a_uri(text: str) -> None:
    assert "write it as 'oss://<bucket>/<object key>'" in _error(text)


@pytest.mark.parametrize("bucket", ["ab", "a" * 64, "my_bucket", "-bucket", "bucket-", "buc.ket", "bück"])
def test_invalid_bucket_names(bucket: str) -> None:
    message = _error(f"oss://{bucket}/key.png", field="Sources[0].URI")
    assert message.startswith("Sources[0].URI") and f"invalid bucket name {bucket!r}" in message
    assert "3-63 lower-case letters" in message


def test_boundary_bucket_lengths_are_valid() -> None:
    assert parse_oss_uri("oss://abc/k").bucket == "abc"
    assert parse_oss_uri(f"oss://{'a' * 63}/k").bucket == "a" * 63


def test_upper_case_bucket_gets_the_lower_case_fix() -> None:
    assert "write 'my-bucket'" in _error("oss://My-Bucket/key.png")


def test_missing_bucket() -> None:
    assert "the bucket is missing" in _error("oss:///key.png")


def test_missing_key() -> None:
    for text in ("oss://bucket", "oss://bucket/"):
        assert "has no object key: write 'oss://bucket/<object key>'" in _error(text)


def test_empty_key_allowed_for_prefixes() -> None:
    assert parse_oss_uri("oss://bucket/", allow_empty_key=True) == OssUri("bucket", "")
    assert "has no '/' after the bucket: write 'oss://bucket/'" in _error(
        "oss://bucket", allow_empty_key=True
    )


def test_key_starting_with_slash_gets_the_fix() -> None:
    assert "write 'oss://bucket/dir/a.png'" in _error("oss://bucket//dir/a.png")


@pytest.mark.parametrize(
    "text", [" oss://bucket/k", "oss://bucket/k ", "oss://bucket/k\n", "\toss://bucket/k"]
)
def test_surrounding_whitespace_is_rejected_not_dropped(text: str) -> None:
    assert "write 'oss://bucket/k'" in _error(text)


def test_key_length_is_counted_in_utf8_bytes() -> None:
    assert parse_oss_uri("oss://bucket/" + "a" * MAX_KEY_BYTES).key == "a" * MAX_KEY_BYTES
    euro = "€" * 342  # 1026 bytes in 342 characters
    assert "1026 bytes" in _error("oss://bucket/" + euro)


def test_lone_surrogate_in_key() -> None:
    assert "not valid UTF-8" in _error("oss://bucket/a\ud800b")


@pytest.mark.parametrize("value", [None, 3, ["oss://bucket/k"], b"oss://bucket/k"])
def test_non_string(value: object) -> None:
    assert _error(value, field="SourceURI").startswith("SourceURI must be a string")


def test_template_bucket_only_in_template_mode() -> None:
    assert parse_oss_uri("oss://{bucket}/out/{barename}.pdf", template=True).bucket == "{bucket}"
    assert parse_oss_uri("oss://{tags.bucket}/x", template=True).bucket == "{tags.bucket}"
    assert "invalid bucket name" in _error("oss://{bucket}/out.pdf")
    # A placeholder is no excuse for the other rules.
    assert "invalid bucket name" in _error("oss://Out_Bucket/{barename}.pdf", template=True)
    assert "HTTP URL" in _error("http://b.oss-cn-hangzhou.aliyuncs.com/{barename}", template=True)


def test_error_is_a_value_error() -> None:
    assert issubclass(InvalidOssUriError, ValueError)


@pytest.mark.parametrize(
    "uri",
    [
        " oss://bucket/" + "k" * 10_000_000,
        "oss://" + "B" * 10_000_000 + "/key",
        "oss://bucket/" + "/" * 10_000_000,
        "http://bucket.oss-cn-hangzhou.aliyuncs.com/" + "k" * 10_000_000,
        "oss://bucket.oss-cn-hangzhou.aliyuncs.com/" + "k" * 10_000_000,
        "s3://bucket/" + "k" * 10_000_000,
        "oss://bucket/" + "k" * 10_000_000,
        "oss://bucket/\ud800" + "k" * 10_000_000,
        "x" * 10_000_000,
    ],
)
def test_messages_quote_a_short_excerpt_of_a_long_uri(uri: str) -> None:
    message = _error(uri, field="Sources[0].URI")
    assert message.startswith("Sources[0].URI")
    assert len(message) < 400
