"""Request signature verification for the emulated IMM RPC API, as Alibaba Cloud's gateway does it.

Two forms are accepted: ACS3-HMAC-SHA256 (the SDK's default, ``Authorization`` header) and the
legacy RPC HMAC-SHA1 form (``Config(signature_algorithm='v2')``, ``Signature`` in the query).
Refusals use the gateway's codes: 404 ``InvalidAccessKeyId.NotFound``; 400
``SignatureDoesNotMatch``, ``IncompleteSignature``, ``InvalidTimeStamp.Format``,
``InvalidTimeStamp.Expired``, ``SignatureNonceUsed``, ``InvalidSecurityToken.MismatchWithAccessKey``
(an STS key sent without its token, or with another one) and ``InvalidSecurityToken.Expired``.
Messages never repeat a secret or a token.

The date must lie within 15 minutes of the emulated time or of the wall clock: SDK clients stamp
requests with the wall clock, which ``EmulatedClock.advance`` cannot move, and tests that advance
the emulated clock (task retention, STS expiry) must still be able to call the API.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import quote, quote_plus

from multidict import CIMultiDictProxy

from airflow_provider_imm.emulator.accounts import AccessKey, Accounts
from airflow_provider_imm.emulator.clock import EmulatedClock
from airflow_provider_imm.emulator.imm_errors import ImmError

#: How far a request's date may be from the server's time, both ways (seconds).
DATE_WINDOW = 15 * 60

ACS3_ALGORITHM = "ACS3-HMAC-SHA256"
_AUTHORIZATION = re.compile(
    r"^(?P<algorithm>\S+)\s+Credential=(?P<key_id>[^,]*),\s*SignedHeaders=(?P<signed>[^,]*),"
    r"\s*Signature=(?P<signature>\S*)$"
)
#: Query parameters of the legacy RPC form that belong to the protocol, not to the action.
RPC_PROTOCOL_PARAMS = frozenset(
    {
        "Action", "Version", "Format", "Timestamp", "SignatureNonce", "SignatureMethod",
        "SignatureVersion", "AccessKeyId", "Signature", "SecurityToken", "SignatureType",
    }
)  # fmt: skip


@dataclass(frozen=True)
class SignedRequest:
    """What verification needs from an HTTP request; ``query`` and ``form`` are already decoded."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: CIMultiDictProxy[str]
    body: bytes
    form: Mapping[str, str]


@dataclass(frozen=True)
class RecordedRequest:
    """An IMM request as it arrived, for tests that compare two clients' requests: its signed parts,
    and whether its signature held (``refused`` is the error code when it did not)."""

    method: str
    path: str
    raw_query: str
    canonical_query: str
    body: bytes
    #: Every header the Authorization header says is signed, with its value (names lower-case).
    signed_headers: Mapping[str, str]
    refused: str | None

    @classmethod
    def of(cls, request: SignedRequest, raw_query: str, refused: str | None) -> RecordedRequest:
        match = _AUTHORIZATION.match(request.headers.get("Authorization", ""))
        names = match["signed"].split(";") if match and match["signed"] else []
        return cls(
            method=request.method,
            path=request.path,
            raw_query=raw_query,
            canonical_query=acs3_canonical_query(request.query),
            body=request.body,
            signed_headers={name: request.headers.get(name, "") for name in names},
            refused=refused,
        )


def acs3_canonical_query(query: Mapping[str, str]) -> str:
    return "&".join(f"{key}={quote(query[key], safe='~')}" for key in sorted(query))


def acs3_string_to_sign(request: SignedRequest, signed_headers: list[str], payload_hash: str) -> str:
    canonical_headers = "".join(
        f"{name}:{','.join(sorted(v.strip() for v in request.headers.getall(name, [])))}\n"
        for name in signed_headers
    )
    canonical_request = "\n".join(
        (
            request.method,
            request.path or "/",
            acs3_canonical_query(request.query),
            canonical_headers,
            ";".join(signed_headers),
            payload_hash,
        )
    )
    return f"{ACS3_ALGORITHM}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"


def acs3_signature(secret: str, string_to_sign: str) -> str:
    return hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()


def _rfc3986(text: str) -> str:
    return quote(text, safe="~")


#: How a signer percent-encodes a key or value of the legacy RPC canonical query. The OpenAPI SDK
#: (``signature_algorithm='v2'``) uses RFC 3986 (space ``%20``, ``~`` kept); the credentials library,
#: signing STS calls, uses ``quote_plus`` (space ``+``, ``~`` ``%7E``). They differ only for a space,
#: ``~`` or ``*``; no Alibaba Cloud document says which one its gateway computes, so both are accepted.
RPC_ENCODINGS: tuple[Callable[[str], str], ...] = (_rfc3986, quote_plus)


def rpc_signature(
    secret: str, method: str, params: Mapping[str, str], encode: Callable[[str], str] = _rfc3986
) -> str:
    """The legacy RPC signature over every parameter but ``Signature`` (query and form body)."""
    canonical = "&".join(
        f"{encode(key)}={encode(params[key])}" for key in sorted(params) if key != "Signature"
    )
    string_to_sign = f"{method}&%2F&{quote_plus(canonical, safe='~')}"
    digest = hmac.new(f"{secret}&".encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def parse_date(value: str) -> float:
    """``%Y-%m-%dT%H:%M:%SZ`` (UTC) to seconds since the epoch."""
    try:
        parsed = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        raise ImmError(
            400, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted."
        ) from None
    return parsed.replace(tzinfo=timezone.utc).timestamp()


class NonceCache:
    """Nonces seen within the date window; older ones need no memory (their date is refused)."""

    def __init__(self, ttl: float = 2 * DATE_WINDOW) -> None:
        self._ttl = ttl
        self._seen: set[str] = set()
        self._order: deque[tuple[float, str]] = deque()

    def add(self, nonce: str) -> bool:
        """Remember ``nonce``; False if it was already used."""
        now = time.monotonic()
        while self._order and self._order[0][0] <= now:
            self._seen.discard(self._order.popleft()[1])
        if nonce in self._seen:
            return False
        self._seen.add(nonce)
        self._order.append((now + self._ttl, nonce))
        return True


class SignatureVerifier:
    """Checks one request against the known key pairs; raises :class:`ImmError` to refuse it."""

    def __init__(self, accounts: Accounts, clock: EmulatedClock) -> None:
        self._accounts = accounts
        self._clock = clock
        self._nonces = NonceCache()

    def verify(self, request: SignedRequest) -> AccessKey:
        authorization = request.headers.get("authorization")
        if authorization is not None:
            return self._verify_acs3(request, authorization)
        if "Signature" in request.query:
            return self._verify_rpc(request)
        raise ImmError(400, "IncompleteSignature", "The request has no signature.")

    def _verify_acs3(self, request: SignedRequest, authorization: str) -> AccessKey:
        match = _AUTHORIZATION.match(authorization.strip())
        if match is None:
            raise ImmError(400, "IncompleteSignature", "The Authorization header is malformed.")
        if match["algorithm"] != ACS3_ALGORITHM:
            raise ImmError(
                400,
                "IncompleteSignature",
                f"Signature algorithm {match['algorithm']!r} is not supported: use {ACS3_ALGORITHM}.",
            )
        date = request.headers.get("x-acs-date")
        nonce = request.headers.get("x-acs-signature-nonce")
        if not date or not nonce:
            raise ImmError(400, "IncompleteSignature", "x-acs-date and x-acs-signature-nonce are required.")
        self._check_date(date)
        key = self._lookup(match["key_id"])
        signed_headers = match["signed"].split(";") if match["signed"] else []
        unsigned = [
            name.lower()
            for name in request.headers
            if (name.lower().startswith("x-acs-") or name.lower() == "host")
            and name.lower() not in signed_headers
        ]
        payload_hash = request.headers.get("x-acs-content-sha256", "")
        if unsigned or payload_hash != hashlib.sha256(request.body).hexdigest():
            raise _signature_mismatch()
        expected = acs3_signature(key.secret, acs3_string_to_sign(request, signed_headers, payload_hash))
        if not hmac.compare_digest(expected, match["signature"]):
            raise _signature_mismatch()
        self._check_token(key, request.headers.get("x-acs-security-token"))
        self._check_nonce(nonce)
        return key

    def _verify_rpc(self, request: SignedRequest) -> AccessKey:
        params = {**request.query, **request.form}
        for name in ("AccessKeyId", "Timestamp", "SignatureNonce"):
            if not params.get(name):
                raise ImmError(400, "IncompleteSignature", f"The parameter {name} is required.")
        if params.get("SignatureMethod", "HMAC-SHA1") != "HMAC-SHA1":
            raise ImmError(400, "IncompleteSignature", "SignatureMethod must be HMAC-SHA1.")
        self._check_date(params["Timestamp"])
        key = self._lookup(params["AccessKeyId"])
        signature = params["Signature"]
        if not any(
            hmac.compare_digest(rpc_signature(key.secret, request.method, params, encode), signature)
            for encode in RPC_ENCODINGS
        ):
            raise _signature_mismatch()
        self._check_token(key, params.get("SecurityToken"))
        self._check_nonce(params["SignatureNonce"])
        return key

    def _check_date(self, value: str) -> None:
        stamp = parse_date(value)
        if min(abs(stamp - self._clock.time()), abs(stamp - time.time())) > DATE_WINDOW:
            raise ImmError(400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")

    def _lookup(self, key_id: str) -> AccessKey:
        key = self._accounts.lookup(key_id)
        if key is None:
            raise ImmError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        return key

    def _check_token(self, key: AccessKey, token: str | None) -> None:
        """Only STS keys are checked; a token sent with a permanent key is ignored."""
        if key.security_token is None:
            return
        if not token or not hmac.compare_digest(token.encode(), key.security_token.encode()):
            raise ImmError(
                400,
                "InvalidSecurityToken.MismatchWithAccessKey",
                "Specified SecurityToken mismatch with the AccessKey.",
            )
        if key.expires_at is not None and self._clock.time() >= key.expires_at:
            raise ImmError(400, "InvalidSecurityToken.Expired", "Specified SecurityToken is expired.")

    def _check_nonce(self, nonce: str) -> None:
        if not self._nonces.add(nonce):
            raise ImmError(400, "SignatureNonceUsed", "Specified signature nonce was used already.")


def _signature_mismatch() -> ImmError:
    return ImmError(400, "SignatureDoesNotMatch", "Specified signature does not match our calculation.")
