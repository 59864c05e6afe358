"""OSS request authentication: signatures V4 (``OSS4-HMAC-SHA256``, the SDK's default) and V1
(``OSS <AK>:<signature>``), checked as OSS checks them, against the emulator's keys and STS tokens.

Both sign the bucket and the *decoded* key (V4 re-encodes it, RFC 3986 with ``/`` kept), so the
canonical form does not depend on how a client chose to percent-encode its path. V4 signs the raw
query pairs as sent, every ``x-oss-*`` header, ``Content-Type`` and ``Content-MD5`` (plus the
``AdditionalHeaders`` it names); its key is derived from the secret, the date, the region and the
product in the credential's scope; a payload hash other than ``UNSIGNED-PAYLOAD`` (the SDK's) is signed
but not compared with the body. V1 signs the sub-resources of the query (``uploadId``,
``partNumber``...) and the ``x-oss-*`` headers. Presigned URLs (signature in the query) are not served.

Refusals use OSS's codes, all HTTP 403: ``AccessDenied`` (no signature), ``InvalidAccessKeyId``,
``SignatureDoesNotMatch`` (with the ``StringToSign`` the emulator computed, as OSS adds it),
``RequestTimeTooSkewed``, ``InvalidSecurityToken`` and ``SecurityTokenExpired``. Messages never carry a
secret or a token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import quote, unquote

from multidict import CIMultiDictProxy

from airflow_provider_imm.emulator.accounts import AccessKey, Accounts
from airflow_provider_imm.emulator.clock import date_fault, too_skewed
from airflow_provider_imm.emulator.oss_errors import OssError

V4_ALGORITHM = "OSS4-HMAC-SHA256"
_V4_AUTHORIZATION = re.compile(
    r"^OSS4-HMAC-SHA256\s+Credential=(?P<key_id>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/,]*)/"
    r"(?P<product>[^/,]*)/aliyun_v4_request\s*(?:,\s*AdditionalHeaders=(?P<additional>[^,]*))?"
    r"\s*,\s*Signature=(?P<signature>[0-9a-f]{64})\s*$"
)
#: The query parameters V1 signs (``alibabacloud_oss_v2.signer.v1``'s list, OSS's sub-resources).
V1_SUBRESOURCES = frozenset(
    {
        "acl", "bucketInfo", "location", "stat", "delete", "append", "tagging", "objectMeta", "uploads",
        "uploadId", "partNumber", "security-token", "position", "response-content-type",
        "response-content-language", "response-expires", "response-cache-control",
        "response-content-disposition", "response-content-encoding", "restore", "callback",
        "callback-var", "versions", "versioning", "versionId", "sequential", "continuation-token",
        "regionList", "cloudboxes", "symlink", "resourceGroup",
    }
)  # fmt: skip


def resource(bucket: str | None, key: str | None) -> str:
    """``/``, ``/bucket/`` or ``/bucket/key``: what both versions sign, decoded."""
    if bucket is None:
        return "/"
    return f"/{bucket}/{key or ''}"


def query_pairs(raw_query: str) -> list[tuple[str, str]]:
    """The query's pairs as sent (still percent-encoded); a name without ``=`` has an empty value."""
    return [
        (name, value) for name, _, value in (pair.partition("=") for pair in raw_query.split("&") if pair)
    ]


def _signed_headers(headers: Mapping[str, str], extra: frozenset[str] = frozenset()) -> str:
    lowered = {name.lower(): value for name, value in headers.items()}
    names = sorted(n for n in lowered if n.startswith("x-oss-") or n in extra)
    return "".join(f"{name}:{lowered[name]}\n" for name in names)


def _joined(headers: CIMultiDictProxy[str] | Mapping[str, str]) -> dict[str, str]:
    """One value per header name (repeated headers joined by ``,``)."""
    if isinstance(headers, CIMultiDictProxy):
        return {name.lower(): ",".join(headers.getall(name)) for name in headers}
    return {name.lower(): value for name, value in headers.items()}


def v4_canonical_request(
    method: str,
    bucket: str | None,
    key: str | None,
    raw_query: str,
    headers: Mapping[str, str],
    additional: tuple[str, ...] = (),
) -> str:
    pairs = sorted(query_pairs(raw_query))
    query = "&".join(f"{name}={value}" if value else name for name, value in pairs)
    canonical_headers = _signed_headers(headers, frozenset({"content-type", "content-md5", *additional}))
    payload = {n.lower(): v for n, v in headers.items()}.get("x-oss-content-sha256", "UNSIGNED-PAYLOAD")
    return "\n".join(
        (
            method,
            quote(resource(bucket, key), safe="/"),
            query,
            canonical_headers,
            ";".join(additional),
            payload,
        )
    )


def v4_string_to_sign(timestamp: str, scope: str, canonical_request: str) -> str:
    digest = hashlib.sha256(canonical_request.encode()).hexdigest()
    return f"{V4_ALGORITHM}\n{timestamp}\n{scope}\n{digest}"


def v4_signature(secret: str, date: str, region: str, product: str, string_to_sign: str) -> str:
    key = f"aliyun_v4{secret}".encode()
    for part in (date, region, product, "aliyun_v4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def v1_string_to_sign(
    method: str, bucket: str | None, key: str | None, raw_query: str, headers: Mapping[str, str]
) -> str:
    lowered = {name.lower(): value for name, value in headers.items()}
    decoded = [(unquote(name), unquote(value)) for name, value in query_pairs(raw_query)]
    subresources = sorted((n, v) for n, v in decoded if n in V1_SUBRESOURCES)
    query = "&".join(f"{name}={value}" if value else name for name, value in subresources)
    date = lowered.get("x-oss-date") or lowered.get("date", "")
    return "\n".join(
        (
            method,
            lowered.get("content-md5", ""),
            lowered.get("content-type", ""),
            date,
            _signed_headers(lowered) + resource(bucket, key) + (f"?{query}" if query else ""),
        )
    )


def v1_signature(secret: str, string_to_sign: str) -> str:
    return base64.b64encode(
        hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha1).digest()
    ).decode()


@dataclass(frozen=True)
class _Signed:
    """What both versions sign; ``headers`` by lower-case name."""

    method: str
    bucket: str | None
    key: str | None
    raw_query: str
    headers: dict[str, str]


def authenticate(
    accounts: Accounts,
    method: str,
    bucket: str | None,
    key: str | None,
    raw_query: str,
    headers: CIMultiDictProxy[str] | Mapping[str, str],
    *,
    now: float,
    credential_time: float,
) -> AccessKey:
    """The key that signed the request, or :class:`OssError` with OSS's code.

    ``now`` is real time (the client's date is compared with it); ``credential_time`` is the emulated
    time at which STS credentials expire.
    """
    request = _Signed(method, bucket, key, raw_query, _joined(headers))
    authorization = request.headers.get("authorization", "").strip()
    if authorization.startswith(V4_ALGORITHM):
        access_key = _verify_v4(accounts, request, authorization, now)
    elif authorization.startswith("OSS "):
        access_key = _verify_v1(accounts, request, authorization, now)
    elif authorization:
        raise OssError(
            400,
            "InvalidArgument",
            "Authorization header is invalid: sign with OSS4-HMAC-SHA256 (V4) or OSS (V1).",
        )
    else:
        raise OssError(
            403,
            "AccessDenied",
            "You have no right to access this resource: anonymous access is refused, sign the request.",
        )
    # V4 sends the token as x-oss-security-token, V1 as security-token.
    token = request.headers.get("x-oss-security-token") or request.headers.get("security-token")
    _check_token(access_key, token, credential_time)
    return access_key


def _verify_v4(accounts: Accounts, request: _Signed, authorization: str, now: float) -> AccessKey:
    match = _V4_AUTHORIZATION.match(authorization)
    if match is None:
        raise OssError(
            400,
            "InvalidArgument",
            "Authorization header is invalid: expected "
            "'OSS4-HMAC-SHA256 Credential=<AK>/<date>/<region>/oss/aliyun_v4_request,Signature=<hex>'.",
        )
    timestamp = request.headers.get("x-oss-date", "")
    try:
        sent = datetime.strptime(timestamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        raise OssError(
            400, "InvalidArgument", "x-oss-date is required by V4 signatures, as yyyymmddThhmmssZ (UTC)."
        ) from None
    if match["date"] != timestamp[:8]:
        raise OssError(
            403, "SignatureDoesNotMatch", "The date of the credential's scope is not the date of x-oss-date."
        )
    if too_skewed(sent, now):
        raise _skewed()
    access_key = _lookup(accounts, match["key_id"])
    additional = tuple(a.strip().lower() for a in (match["additional"] or "").split(";") if a.strip())
    canonical = v4_canonical_request(
        request.method, request.bucket, request.key, request.raw_query, request.headers, additional
    )
    scope = f"{match['date']}/{match['region']}/{match['product']}/aliyun_v4_request"
    text = v4_string_to_sign(timestamp, scope, canonical)
    expected = v4_signature(access_key.secret, match["date"], match["region"], match["product"], text)
    if not hmac.compare_digest(expected, match["signature"]):
        raise _mismatch(text, CanonicalRequest=canonical)
    return access_key


def _verify_v1(accounts: Accounts, request: _Signed, authorization: str, now: float) -> AccessKey:
    key_id, sep, provided = authorization[len("OSS ") :].strip().rpartition(":")
    if not sep or not key_id or not provided:
        raise OssError(
            400,
            "InvalidArgument",
            "Authorization header is invalid: expected 'OSS <AccessKeyId>:<signature>'.",
        )
    date = request.headers.get("x-oss-date") or request.headers.get("date")
    fault = date_fault(date, now)
    if fault == "missing":
        raise OssError(403, "AccessDenied", "V1 signatures need a Date (or x-oss-date) header.")
    if fault == "invalid":
        raise OssError(403, "AccessDenied", "The Date header is not an HTTP date.")
    if fault == "skewed":
        raise _skewed()
    access_key = _lookup(accounts, key_id)
    text = v1_string_to_sign(request.method, request.bucket, request.key, request.raw_query, request.headers)
    if not hmac.compare_digest(v1_signature(access_key.secret, text), provided):
        raise _mismatch(text)
    return access_key


def _skewed() -> OssError:
    return OssError(
        403,
        "RequestTimeTooSkewed",
        "The difference between the request time and the current time is too large: "
        "check the client's clock.",
    )


def _lookup(accounts: Accounts, key_id: str) -> AccessKey:
    access_key = accounts.lookup(key_id)
    if access_key is None:
        raise OssError(
            403, "InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist in our records."
        )
    return access_key


def _check_token(access_key: AccessKey, token: str | None, credential_time: float) -> None:
    """Only STS keys are checked; a token sent with a permanent key is ignored."""
    if access_key.security_token is None:
        return
    if not token or not hmac.compare_digest(token.encode(), access_key.security_token.encode()):
        raise OssError(403, "InvalidSecurityToken", "The security token you provided is invalid or missing.")
    if access_key.expires_at is not None and credential_time >= access_key.expires_at:
        raise OssError(403, "SecurityTokenExpired", "The security token you provided has expired.")


def _mismatch(string_to_sign: str, **details: str) -> OssError:
    return OssError(
        403,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
        StringToSign=string_to_sign,
        **details,
    )
