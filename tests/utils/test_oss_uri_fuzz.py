"""Fuzzing ``parse_oss_uri``: any input gives an OssUri that prints back as the input, or an
``InvalidOssUriError`` naming the field with a short message; the same input, the same answer."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from airflow_provider_imm.utils.oss_uri import InvalidOssUriError, OssUri, parse_oss_uri
from tests.utils.fuzz import SCALARS, TEXT, outcome

#: URI-shaped text: schemes, hosts and keys built from the pieces users get wrong.
_PIECES = st.sampled_from(
    ["oss://", "http://", "https://", "s3://", "OSS://", "/", "//", ".", "-", "{bucket}", "{", "}", " ",
     "\x00", "\ud800", "bucket", "Bucket", "b", ".oss-cn-hangzhou.aliyuncs.com",
     "oss-cn-hangzhou.aliyuncs.com", ":8080", "a" * 70, "é", "\n"]
)  # fmt: skip
URIS = st.lists(_PIECES | TEXT, max_size=6).map("".join)
BOUND = 400


@settings(max_examples=400, deadline=None)
@given(URIS | SCALARS, st.booleans(), st.booleans())
@example("oss://bucket/\ud800", False, False)
@example(" oss://" + "B" * 100_000 + "/k", False, False)
@example("oss://bucket", False, True)  # was the bucket's root, printed back as 'oss://bucket/'
def test_any_input_parses_or_gets_a_short_error(uri: object, template: bool, allow_empty_key: bool) -> None:
    def parse() -> OssUri:
        return parse_oss_uri(uri, field="Sources[0].URI", template=template, allow_empty_key=allow_empty_key)

    first = outcome(parse, InvalidOssUriError, BOUND)
    assert outcome(parse, InvalidOssUriError, BOUND) == first
    kind, value = first
    if kind == "ok":
        assert isinstance(uri, str)
        assert str(value) == uri
        assert allow_empty_key or value.key
    else:
        assert value.startswith("Sources[0].URI")
