"""Parse and validate OSS URIs (``oss://bucket/key``) as IMM accepts them."""

from __future__ import annotations

import re
from dataclasses import dataclass

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_ENDPOINT_HOST = re.compile(r"^(?P<bucket>[^.]+)\.oss-[a-z0-9-]+(?:-internal)?\.aliyuncs\.com$")


class InvalidOssUriError(ValueError):
    """An OSS URI is malformed; the message names the value and how to fix it."""


@dataclass(frozen=True)
class OssUri:
    bucket: str
    key: str

    def __str__(self) -> str:
        return f"oss://{self.bucket}/{self.key}"


def parse_oss_uri(uri: str, *, field: str = "URI", allow_empty_key: bool = False) -> OssUri:
    """Split ``oss://bucket/key``; raise :class:`InvalidOssUriError` naming ``field`` otherwise.

    The two wrong forms users write most (an HTTP URL, an endpoint host in place of the bucket)
    get messages that spell out the corrected URI.
    """
    if not isinstance(uri, str):
        raise InvalidOssUriError(f"{field} must be a string like 'oss://bucket/key', got {type(uri).__name__}")
    match = re.match(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<host>[^/]*)(?:/(?P<key>.*))?$", uri)
    if match is None:
        raise InvalidOssUriError(f"{field} {uri!r} is not an OSS URI: write it as 'oss://<bucket>/<object key>'")
    scheme, host, key = match["scheme"], match["host"], match["key"] or ""
    endpoint = _ENDPOINT_HOST.match(host.lower())
    if scheme.lower() in ("http", "https"):
        fix = f"oss://{endpoint['bucket']}/{key}" if endpoint else "oss://<bucket>/<object key>"
        raise InvalidOssUriError(
            f"{field} {uri!r} is an HTTP URL, not an OSS URI: IMM takes the bucket and key, write {fix!r}"
        )
    if scheme != "oss":
        raise InvalidOssUriError(f"{field} {uri!r} must start with 'oss://', write 'oss://<bucket>/<object key>'")
    if endpoint:
        raise InvalidOssUriError(
            f"{field} {uri!r} names an OSS endpoint host instead of a bucket: "
            f"write {'oss://' + endpoint['bucket'] + '/' + key!r}"
        )
    if not _BUCKET.match(host):
        raise InvalidOssUriError(
            f"{field} {uri!r} has an invalid bucket name {host!r}: 3-63 lower-case letters, digits and "
            "hyphens, starting and ending with a letter or digit"
        )
    if not key and not allow_empty_key:
        raise InvalidOssUriError(f"{field} {uri!r} has no object key: write 'oss://{host}/<object key>'")
    return OssUri(host, key)
