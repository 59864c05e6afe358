"""MNS request authentication: the ``Authorization: MNS <AK>:<signature>`` scheme, checked as MNS does.

The string to sign is ``METHOD\\nContent-MD5\\nContent-Type\\nDate\\n`` + the ``x-mns-*`` headers
(lower-cased, sorted, ``name:value\\n``) + the request target exactly as sent (path and query, not
decoded), HMAC-SHA1 with the AccessKey secret, base64. The header values are used as received:
the SDK's ``Content-MD5`` is base64 of the *hex* MD5 digest, and since it is signed as sent, both
that form and the standard one (base64 of the raw digest) are accepted when checking the body.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

from airflow_provider_imm.emulator.accounts import AccessKey, Accounts
from airflow_provider_imm.emulator.clock import DateFault, date_fault
from airflow_provider_imm.emulator.mns_store import MnsError

#: MNS's answer to each fault of the ``Date`` header.
_DATE_FAULTS: dict[DateFault, tuple[int, str, str]] = {
    "missing": (400, "MissingDateHeader", "Date header is required."),
    "invalid": (400, "InvalidDateHeader", "The Date header format is invalid."),
    "skewed": (408, "TimeExpired", "The http request you sent is expired."),
}


class AuthFailure(MnsError):
    """A request MNS would refuse before looking at it; the message never contains a secret."""


def content_md5(body: bytes) -> str:
    """The ``Content-MD5`` value the MNS SDK sends: base64 of the hexadecimal MD5 digest."""
    return base64.b64encode(hashlib.md5(body).hexdigest().encode()).decode()


def string_to_sign(method: str, headers: Mapping[str, str], resource: str) -> str:
    """``headers`` may have any case; ``resource`` is the raw request target (``/queues/q?x=1``)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    mns_headers = "".join(
        f"{name}:{lowered[name]}\n" for name in sorted(lowered) if name.startswith("x-mns-")
    )
    return "\n".join(
        (
            method,
            lowered.get("content-md5", ""),
            lowered.get("content-type", ""),
            lowered.get("date", ""),
            mns_headers + resource,
        )
    )


def signature(secret: str, text: str) -> str:
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def authorization(key_id: str, secret: str, method: str, headers: Mapping[str, str], resource: str) -> str:
    """The header value a client sends; lets tests and tools sign requests without the SDK."""
    return f"MNS {key_id}:{signature(secret, string_to_sign(method, headers, resource))}"


def authenticate(
    accounts: Accounts,
    method: str,
    headers: Mapping[str, str],
    resource: str,
    body: bytes,
    *,
    now: float,
    credential_time: float,
) -> AccessKey:
    """The key that signed the request, or :class:`AuthFailure` with MNS's error code.

    ``now`` is real time (the client's ``Date`` is compared with it); ``credential_time`` is the
    emulated time at which STS credentials expire.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    header = lowered.get("authorization")
    if not header:
        raise AuthFailure(400, "MissingAuthorizationHeader", "Authorization header is required.")
    scheme, _, credential = header.partition(" ")
    key_id, sep, provided = credential.strip().rpartition(":")
    if scheme != "MNS" or not sep or not key_id or not provided:
        raise AuthFailure(400, "InvalidAuthorizationHeader", "The Authorization header format is invalid.")
    fault = date_fault(lowered.get("date"), now)
    if fault is not None:
        raise AuthFailure(*_DATE_FAULTS[fault])
    _check_body_digest(lowered.get("content-md5"), body)
    key = accounts.lookup(key_id)
    if key is None:
        raise AuthFailure(403, "InvalidAccessKeyId", "The AccessKey Id you provided is not exist.")
    if key.security_token is not None:
        token = lowered.get("security-token")
        if token is None or not hmac.compare_digest(token.encode(), key.security_token.encode()):
            raise AuthFailure(403, "AccessDenied", "The security token you provided is invalid or missing.")
        if key.expires_at is not None and credential_time >= key.expires_at:
            raise AuthFailure(403, "AccessDenied", "The security token you provided has expired.")
    text = string_to_sign(method, headers, resource)
    if not hmac.compare_digest(signature(key.secret, text).encode(), provided.encode()):
        shown = text.replace("\n", "\\n")
        raise AuthFailure(
            403,
            "SignatureDoesNotMatch",
            f"The request signature we calculated does not match the signature you provided. "
            f"Check your key and signing method. StringToSign: {shown}",
        )
    return key


def _check_body_digest(value: str | None, body: bytes) -> None:
    if value is None:
        return
    digest = hashlib.md5(body)
    accepted = (content_md5(body), base64.b64encode(digest.digest()).decode())
    if value not in accepted:
        # MNS documents this code with this spelling.
        raise AuthFailure(400, "InvalidDegist", "The Content-MD5 you specified is invalid.")
