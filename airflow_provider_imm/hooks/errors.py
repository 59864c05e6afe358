"""Errors raised by the IMM and MNS hooks: one class per service, never carrying a secret.

The SDKs raise a zoo of exception types (``ClientException``, ``ServerException``,
``ThrottlingException``, ``UnretryableException`` around a ``requests`` or ``aiohttp`` error,
``MNSServerException``, ...), some of which hold the signed request. Callers get one class per service
with the fields that matter, and text that has been scrubbed of the credentials in use.

What a DAG author may catch from the hooks, all defined here:

- :class:`ImmConnectionConfigError` (a ``ValueError``): the connection's fields or extras are
  invalid; raised before any call. Fix the connection.
- :class:`ImmApiError`: an IMM call failed. ``kind`` says whether asking again may help
  (:data:`TRANSIENT_KINDS`); ``code`` is IMM's error code, or one of this module's codes when IMM
  never answered (``EndpointUnreachable``, ``NetworkError``, ``TlsHandshakeFailed``, ...).
- :class:`MnsApiError`: an MNS call failed; ``network`` says whether asking again may help.

Arguments the caller got wrong (an unknown request field, no project, a bad queue name) raise
``ValueError`` or ``TypeError`` before any call.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import ssl
from collections.abc import Iterable, Iterator
from typing import Any, Literal
from urllib.parse import quote, quote_plus

#: How an IMM call failed, which decides whether it may be retried.
#: ``throttled``: IMM refused it for flow control (nothing was done).
#: ``connect``: no connection could be made (the request never left).
#: ``network``: the connection broke or timed out after the request may have been sent.
#: ``server``: HTTP 5xx.  ``client``: any other error answer (4xx), final.
ErrorKind = Literal["throttled", "connect", "network", "server", "client"]

#: Kinds worth asking again later: throttling, no connection, a broken one, a 5xx (or an answer that
#: could not be read). Only ``client`` is final. Retries, the trigger and the operator all use this set.
TRANSIENT_KINDS: frozenset[ErrorKind] = frozenset({"throttled", "connect", "network", "server"})

#: Code of an answer that was not the service's JSON (a gateway's HTML error page, a truncated body).
INVALID_RESPONSE = "InvalidResponse"
#: Code of a request refused before it was sent, such as text UTF-8 cannot encode (IMM's own code for
#: a bad parameter).
INVALID_ARGUMENT = "InvalidArgument"
#: Code of a TLS handshake that failed: nothing was sent, and asking again will fail the same way.
TLS_HANDSHAKE_FAILED = "TlsHandshakeFailed"
#: Code of an endpoint whose URL cannot even be built (a port out of range, a malformed host).
INVALID_ENDPOINT = "InvalidEndpoint"

#: What a secret is replaced with.
REDACTED = "***"

# Exception types (by name, so nothing is imported to classify) meaning no connection was ever made.
_NO_CONNECTION = frozenset(
    {
        "NewConnectionError",
        "ConnectTimeoutError",
        "ConnectTimeout",
        "NameResolutionError",
        "ClientConnectorError",
        "ClientConnectorDNSError",
        "ConnectionTimeoutError",
        "ConnectionRefusedError",
        "gaierror",
    }
)
# Exception types (by name) of a URL that the HTTP libraries refuse before any connection is tried.
_INVALID_URL = frozenset(
    {"InvalidURL", "InvalidUrlClientError", "LocationParseError", "InvalidSchema", "MissingSchema"}
)
#: How darabonba words a body it could not parse as JSON (``RuntimeError`` raised from the JSONDecodeError).
_NOT_JSON = "Failed to parse the value as json"


#: A library may base64-encode a secret inside a longer text (``Basic base64("user:" + secret)``),
#: where its encoding depends on its offset modulo 3: one form per offset.
_BASE64_OFFSETS = (0, 1, 2)
#: Base64 runs shorter than this, cut from a very short secret, would mangle unrelated text.
_MIN_BASE64_FORM = 4
_ESCAPE = re.compile("%[0-9A-F]{2}")


def _lower_escapes(text: str) -> str:
    return _ESCAPE.sub(lambda m: m.group().lower(), text)


def _base64_forms(raw: bytes) -> Iterator[str]:
    """The characters set wholly by ``raw`` when it is base64-encoded at each offset in a text: the
    first ``ceil(4k/3)`` characters also hold the bytes before it, and the trailing partial group
    those after it, so both are dropped."""
    for k in _BASE64_OFFSETS:
        padded = b"\0" * k + raw
        head, full = -(-4 * k // 3), 4 * (len(padded) // 3)
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            form = encode(padded).decode()[head:full]
            if len(form) >= _MIN_BASE64_FORM:
                yield form


@functools.lru_cache(maxsize=256)
def secret_forms(secret: str) -> tuple[str, ...]:
    """``secret`` as the libraries may write it, longest first: raw; percent-encoded (a signed URL's
    query, path or form style; upper- or lower-case escapes; once or twice); base64 (standard and
    URL-safe, at any offset in a longer text); JSON-escaped (ASCII or not)."""
    percent = {quote(secret, safe=""), quote(secret), quote_plus(secret)}
    percent |= {_lower_escapes(form) for form in percent}
    percent |= {quote(form, safe="") for form in percent}
    forms = {
        secret,
        *percent,
        *_base64_forms(secret.encode()),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    }
    return tuple(sorted(forms, key=len, reverse=True))


@functools.lru_cache(maxsize=64)
def secrets_pattern(secrets: frozenset[str]) -> re.Pattern[str] | None:
    """One regular expression matching every form of every secret (longest first), so a text is
    scrubbed in one pass however many secrets there are; None without secrets."""
    forms = {form for secret in secrets if secret for form in secret_forms(secret)}
    if not forms:
        return None
    return re.compile("|".join(re.escape(form) for form in sorted(forms, key=len, reverse=True)))


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every occurrence of each secret, in any of its :func:`secret_forms`, replaced."""
    pattern = secrets_pattern(frozenset(s for s in secrets if s))
    return text if pattern is None else pattern.sub(REDACTED, text)


def one_line(text: str, limit: int = 500) -> str:
    """Collapse whitespace so a message fits one log or UI line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class ImmConnectionConfigError(ValueError):
    """The connection's fields or extras are invalid; raised before any network call."""


class ImmApiError(Exception):
    """An IMM call failed: the service said no, or could not be reached.

    ``code`` is IMM's error code (``ResourceNotFound``, ``Throttling.User``, ...) or, when there was
    no answer, ``EndpointUnreachable`` / ``NetworkError``. ``status_code`` is None without an answer.
    Tell errors apart by ``code`` (or ``kind``), never by ``status_code``: IMM documents
    ``ResourceNotFound`` and ``ResourceAlreadyExists`` as HTTP 400, where other gateways say 404/409.
    ``retry_after`` is the wait in seconds the service asked for, if any.
    """

    def __init__(
        self,
        *,
        action: str,
        code: str,
        message: str,
        kind: ErrorKind,
        request_id: str | None = None,
        status_code: int | None = None,
        retry_after: float | None = None,
        attempts: int = 1,
    ) -> None:
        self.action = action
        self.code = code
        self.message = message
        self.kind: ErrorKind = kind
        self.request_id = request_id
        self.status_code = status_code
        self.retry_after = retry_after
        self.attempts = attempts
        super().__init__(self._text())

    def _text(self) -> str:
        if self.status_code is not None:
            details = [f"HTTP {self.status_code}"]
        else:
            details = ["unreadable response" if self.code == INVALID_RESPONSE else "no response"]
        if self.request_id:
            details.append(f"request id {self.request_id}")
        if self.attempts > 1:
            details.append(f"{self.attempts} attempts")
        return f"IMM {self.action} failed: {self.code}: {self.message} ({', '.join(details)})"

    def __str__(self) -> str:
        return self._text()

    @property
    def summary(self) -> str:
        """``<Code>: <message>`` on one line, as shown by ``test_connection``."""
        return one_line(f"{self.code}: {self.message}")

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (_rebuild_imm_error, (self.__dict__.copy(),))


def _rebuild_imm_error(state: dict[str, Any]) -> ImmApiError:
    return ImmApiError(**state)


class MnsApiError(Exception):
    """An MNS call failed (other than the normal "no message arrived" answer of a receive)."""

    def __init__(
        self, *, operation: str, code: str, message: str, request_id: str | None = None, network: bool = False
    ) -> None:
        self.operation = operation
        self.code = code
        self.message = message
        self.request_id = request_id
        #: True when MNS could not be reached or the connection broke: worth retrying later.
        self.network = network
        suffix = f" (request id {request_id})" if request_id else ""
        super().__init__(f"MNS {operation} failed: {code}: {message}{suffix}")

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (
            _rebuild_mns_error,
            (self.operation, self.code, self.message, self.request_id, self.network),
        )


def _rebuild_mns_error(
    operation: str, code: str, message: str, request_id: str | None, network: bool
) -> MnsApiError:
    return MnsApiError(
        operation=operation, code=code, message=message, request_id=request_id, network=network
    )


def unencodable(value: Any, field: str = "") -> tuple[str, int] | None:
    """The first field of ``value`` (nested mappings and lists) holding text that UTF-8 cannot encode
    (a lone surrogate), with the character's position; None if all of it encodes."""
    stack: list[tuple[str, Any]] = [(field, value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as err:
                return path, err.start
        elif isinstance(item, dict):
            stack.extend((f"{path}.{k}" if path else str(k), v) for k, v in reversed(list(item.items())))
        elif isinstance(item, list | tuple):
            stack.extend((f"{path}[{i}]", v) for i, v in reversed(list(enumerate(item))))
    return None


def unencodable_message(field: str, position: int) -> str:
    return (
        f"field {field!r} holds text that cannot be encoded as UTF-8 (a lone surrogate at position "
        f"{position}); fix the value, e.g. decode file names with errors='replace'"
    )


def exception_chain(exc: BaseException | None) -> Iterator[BaseException]:
    """``exc`` and every exception it wraps (cause, context, args, urllib3's ``reason``)."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend([current.__cause__, current.__context__])
        stack.extend(a for a in getattr(current, "args", ()) if isinstance(a, BaseException))
        for attr in ("reason", "os_error", "inner_exception"):
            nested = getattr(current, attr, None)
            if isinstance(nested, BaseException):
                stack.append(nested)


def tls_failure(exc: BaseException | None) -> bool:
    """True when the TLS handshake failed (requests/urllib3 and aiohttp wrap ``ssl.SSLError``)."""
    return any(isinstance(e, ssl.SSLError) for e in exception_chain(exc))


def never_connected(exc: BaseException | None) -> bool:
    return any(type(e).__name__ in _NO_CONNECTION for e in exception_chain(exc))


def invalid_url(exc: BaseException | None) -> bool:
    """True when the HTTP library refused the URL itself: nothing was sent, and retrying cannot help."""
    return any(type(e).__name__ in _INVALID_URL for e in exception_chain(exc))


def unparsable_answer(exc: BaseException | None) -> str | None:
    """The first line of the SDK's "not JSON" error when the service answered something unreadable.

    The SDK raises it after reading a whole body, so the service (or a gateway in front of it) did
    answer; the chain below it (JSONDecodeError, StopIteration) says nothing useful.
    """
    for e in exception_chain(exc):
        if isinstance(e, RuntimeError) and str(e).startswith(_NOT_JSON):
            return str(e).splitlines()[0]
    return None


def root_reason(exc: BaseException | None) -> str:
    """A short, secret-free reason: the OS error text, else the innermost exception type."""
    names = []
    for e in exception_chain(exc):
        if isinstance(e, OSError) and e.strerror:
            return str(e.strerror)
        if isinstance(e, TimeoutError):
            return "timed out"
        names.append(type(e).__name__)
    return names[-1] if names else ""
