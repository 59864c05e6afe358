"""Errors raised by the IMM and MNS hooks: one class per service, never carrying a secret.

The SDKs raise a zoo of exception types (``ClientException``, ``ServerException``,
``ThrottlingException``, ``UnretryableException`` around a ``requests`` or ``aiohttp`` error,
``MNSServerException``, ...), some of which hold the signed request. Callers get one class per service
with the fields that matter, and text that has been scrubbed of the credentials in use.

The classes a DAG author catches (:class:`ImmApiError`, :class:`MnsApiError`,
:class:`ImmConnectionConfigError`) and the codes IMM errors carry when IMM never answered are
defined in :mod:`airflow_provider_imm.hooks.exceptions` (caught from
:mod:`airflow_provider_imm.exceptions`); this module decides which of them a failure is,
and re-exports them so ``from airflow_provider_imm.hooks.errors import ImmApiError`` keeps working.

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
from typing import Any
from urllib.parse import quote, quote_plus

# Old import paths: the classes and codes defined there were defined here.
from airflow_provider_imm.hooks.exceptions import *  # noqa: F403
from airflow_provider_imm.hooks.exceptions import ErrorKind, _rebuild_imm_error, _rebuild_mns_error
from airflow_provider_imm.utils.excerpt import one_line

__all__ = [
    "TRANSIENT_KINDS",
    "exception_chain",
    "invalid_url",
    "never_connected",
    "one_line",
    "redact",
    "root_reason",
    "secret_forms",
    "tls_failure",
    "unencodable",
    "unencodable_message",
    "unparsable_answer",
]
#: Pickles of these errors made when they were defined here name these functions.
_OLD_PICKLE_NAMES = (_rebuild_imm_error, _rebuild_mns_error)

#: Kinds worth asking again later: throttling, no connection, a broken one, a 5xx (or an answer that
#: could not be read). Only ``client`` is final. Retries, the trigger and the operator all use this set.
TRANSIENT_KINDS: frozenset[ErrorKind] = frozenset({"throttled", "connect", "network", "server"})


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
