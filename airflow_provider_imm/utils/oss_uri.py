"""Parse and validate OSS URIs (``oss://bucket/key``) as IMM accepts them.

IMM takes only the ``oss://<bucket>/<object key>`` form. Users often paste what the OSS console
or an SDK shows instead (an HTTP URL, or the endpoint host in place of the bucket), so those forms
get a message that spells out the corrected URI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from airflow_provider_imm.utils.excerpt import excerpt

#: OSS bucket naming rule: 3-63 characters, lower-case letters, digits and hyphens, starting and
#: ending with a letter or digit.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
#: ``bucket.oss-cn-hangzhou.aliyuncs.com`` (virtual-hosted style) or ``oss-cn-hangzhou.aliyuncs.com``
#: (path style, bucket in the first path segment); also ``-internal`` and ``oss-accelerate``.
_ENDPOINT_HOST = re.compile(r"(?:(?P<bucket>[^.]+)\.)?oss-[a-z0-9-]+\.aliyuncs\.com(?::\d+)?")
_URI = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<host>[^/]*)(?:/(?P<key>.*))?", re.DOTALL)
#: OSS object keys are at most 1023 bytes of UTF-8.
MAX_KEY_BYTES = 1023
_TEMPLATE_FIELD = re.compile(r"\{[^{}]*\}")


class InvalidOssUriError(ValueError):
    """An OSS URI is malformed; the message names the field, the value and how to fix it."""


@dataclass(frozen=True)
class OssUri:
    bucket: str
    key: str

    def __str__(self) -> str:
        return f"oss://{self.bucket}/{self.key}"


def parse_oss_uri(
    uri: object, *, field: str = "URI", allow_empty_key: bool = False, template: bool = False
) -> OssUri:
    """Split ``oss://bucket/key``; raise :class:`InvalidOssUriError` naming ``field`` otherwise.

    ``template=True`` accepts a TargetURI template: a bucket made of ``{...}`` placeholders (such
    as ``{bucket}``) is left for IMM to fill in instead of being checked against the naming rule.
    ``allow_empty_key=True`` accepts ``oss://bucket/`` (a prefix naming the whole bucket).
    """
    if not isinstance(uri, str):
        raise InvalidOssUriError(
            f"{field} must be a string like 'oss://bucket/key', got {type(uri).__name__}"
        )
    if uri != uri.strip():
        raise InvalidOssUriError(
            f"{field} {excerpt(uri)} has leading or trailing whitespace: write {excerpt(uri.strip())}"
        )
    match = _URI.fullmatch(uri)
    if match is None:
        raise InvalidOssUriError(
            f"{field} {excerpt(uri)} is not an OSS URI: write it as 'oss://<bucket>/<object key>'"
        )
    scheme, host, key = match["scheme"], match["host"], match["key"] or ""
    endpoint = _ENDPOINT_HOST.fullmatch(host.lower())
    if scheme.lower() in ("http", "https"):
        raise InvalidOssUriError(
            f"{field} {excerpt(uri)} is an HTTP URL, not an OSS URI: IMM takes the bucket and key, "
            f"write {excerpt(_corrected(endpoint, key))}"
        )
    if endpoint:
        raise InvalidOssUriError(
            f"{field} {excerpt(uri)} names an OSS endpoint host instead of a bucket: "
            f"write {excerpt(_corrected(endpoint, key))}"
        )
    if scheme != "oss":
        raise InvalidOssUriError(
            f"{field} {excerpt(uri)} must start with 'oss://': write {excerpt('oss://' + host + '/' + key)}"
        )
    if not (template and _TEMPLATE_FIELD.search(host)) and not _BUCKET.fullmatch(host):
        raise InvalidOssUriError(
            f"{field} {excerpt(uri)} has an invalid bucket name {excerpt(host)}: {_bucket_fix(host)}"
        )
    if not key:
        if allow_empty_key and match["key"] is not None:
            return OssUri(host, key)
        if allow_empty_key:
            # ``oss://bucket`` would come back as ``oss://bucket/``: the documented form is asked for.
            raise InvalidOssUriError(
                f"{field} {excerpt(uri)} has no '/' after the bucket: "
                f"write {excerpt(f'oss://{host}/')} for the bucket's root"
            )
        raise InvalidOssUriError(
            f"{field} {excerpt(uri)} has no object key: write {excerpt(f'oss://{host}/<object key>')}"
        )
    if key.startswith("/"):
        raise InvalidOssUriError(
            f"{field} {excerpt(uri)}: an object key cannot start with '/': "
            f"write {excerpt('oss://' + host + '/' + key.lstrip('/'))}"
        )
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidOssUriError(f"{field} {excerpt(uri)}: the object key is not valid UTF-8 text") from None
    if size > MAX_KEY_BYTES:
        raise InvalidOssUriError(
            f"{field}: the object key is {size} bytes of UTF-8, "
            f"OSS allows at most {MAX_KEY_BYTES}: shorten it"
        )
    return OssUri(host, key)


def _corrected(endpoint: re.Match[str] | None, key: str) -> str:
    """The ``oss://`` form of an HTTP URL or endpoint-host URI, as far as it can be derived."""
    if endpoint is None:
        return "oss://<bucket>/<object key>"
    if endpoint["bucket"]:
        return f"oss://{endpoint['bucket']}/{key}"
    # Path style: the bucket is the first path segment.
    bucket, _, rest = key.partition("/")
    return f"oss://{bucket}/{rest}" if bucket else "oss://<bucket>/<object key>"


def _bucket_fix(host: str) -> str:
    rule = "3-63 lower-case letters, digits and hyphens, starting and ending with a letter or digit"
    if host != host.lower() and _BUCKET.fullmatch(host.lower()):
        return f"bucket names are lower-case, write {excerpt(host.lower())} ({rule})"
    if not host:
        return f"the bucket is missing, write 'oss://<bucket>/<object key>' ({rule})"
    return rule
