"""Which :class:`ImmApiError` a failed IMM call is, whichever transport made it (the SDK or
:mod:`airflow_provider_imm.hooks.rpc`): an answer IMM gave, or a call that got no usable answer.

Both transports hand over the same facts (the answer's fields, or the HTTP library's exception), so
a failure is classified, worded and scrubbed the same way on either path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_imm.hooks.connection import ImmConnectionSettings
from airflow_provider_imm.hooks.credentials import (
    credential_hint,
    describe_credential_failure,
    is_credential_failure,
)
from airflow_provider_imm.hooks.errors import (
    exception_chain,
    invalid_url,
    never_connected,
    one_line,
    redact,
    root_reason,
    tls_failure,
    unparsable_answer,
)
from airflow_provider_imm.hooks.exceptions import (
    INVALID_ARGUMENT,
    INVALID_ENDPOINT,
    INVALID_RESPONSE,
    TLS_HANDSHAKE_FAILED,
    ErrorKind,
    ImmApiError,
)

_MS = 1000


def answer_fields(status: int, data: Mapping[str, Any]) -> tuple[str, str, str]:
    """``(code, message, request_id)`` as the SDK words an error answer (``ClientException`` and kin):
    ``"None"`` for what the answer lacks, and a message that quotes the status."""
    request_id = f"{data.get('RequestId') or data.get('requestId')}"
    code = f"{data.get('Code') or data.get('code')}"
    message = f"code: {status}, {data.get('Message') or data.get('message')} request id: {request_id}"
    return code, message, request_id


def answered_error(
    action: str,
    data: Mapping[str, Any],
    *,
    code: str | None,
    message: str | None,
    request_id: str | None,
    status: int | None,
    retry_after_ms: float | None,
    throttled: bool,
    settings: ImmConnectionSettings,
    secrets: tuple[str, ...],
) -> ImmApiError:
    """IMM answered with an error: its code decides the kind, whatever the HTTP status."""
    code = str(data.get("Code") or code or "Unknown")
    text = str(data.get("Message") or message or "")
    found_id = data.get("RequestId") or (None if request_id in (None, "None") else request_id)
    kind: ErrorKind
    if throttled or code.startswith("Throttling") or status == 429:
        kind = "throttled"
    elif status is not None and status >= 500:
        kind = "server"
    else:
        kind = "client"
    return ImmApiError(
        action=action,
        code=code,
        message=one_line(redact(text, secrets)) + credential_hint(code, settings),
        kind=kind,
        request_id=str(found_id) if found_id else None,
        status_code=status,
        retry_after=retry_after_ms / _MS if retry_after_ms else None,
    )


def unanswered_error(
    inner: BaseException | None,
    action: str,
    settings: ImmConnectionSettings,
    extra_secrets: tuple[str, ...] = (),
) -> ImmApiError:
    """The call got no usable answer: ``inner`` is what failed (obtaining credentials, the HTTP
    library, or reading the body)."""
    secrets = settings.secrets + extra_secrets
    if is_credential_failure(inner):
        assert inner is not None
        failure = describe_credential_failure(inner, settings, extra_secrets)
        return ImmApiError(
            action=action,
            code=failure.code,
            message=failure.message,
            kind=failure.kind,
            request_id=failure.request_id,
        )
    where = f"{settings.protocol}://{settings.imm_endpoint}"
    unreadable = unparsable_answer(inner)
    if unreadable is not None:
        # The service, or a gateway in front of it, answered: retried as a 5xx would be.
        text = f"{where} answered something other than JSON: {unreadable}"
        return ImmApiError(
            action=action, code=INVALID_RESPONSE, message=one_line(redact(text, secrets)), kind="server"
        )
    if invalid_url(inner):
        return ImmApiError(
            action=action,
            code=INVALID_ENDPOINT,
            message=f"cannot call {where}: the HTTP client refuses it as a URL; check the connection's "
            "endpoint (host[:port], port 1-65535)",
            kind="client",
        )
    if any(isinstance(e, UnicodeEncodeError) for e in exception_chain(inner)):
        return ImmApiError(
            action=action,
            code=INVALID_ARGUMENT,
            message="the request holds text that cannot be encoded as UTF-8; fix the request's values",
            kind="client",
        )
    reason = root_reason(inner)
    if tls_failure(inner):
        hint = (
            "; if it speaks plain HTTP (such as the local emulator), set extra 'protocol' to 'http'"
            if settings.protocol == "https"
            else ""
        )
        return ImmApiError(
            action=action,
            code=TLS_HANDSHAKE_FAILED,
            message=f"TLS handshake with {where} failed" + (f" ({reason})" if reason else "") + hint,
            kind="client",
        )
    if never_connected(inner):
        return ImmApiError(
            action=action,
            code="EndpointUnreachable",
            message=f"cannot connect to {where}" + (f" ({reason})" if reason else ""),
            kind="connect",
        )
    return ImmApiError(
        action=action,
        code="NetworkError",
        message=f"connection to {where} failed" + (f" ({reason})" if reason else ""),
        kind="network",
    )
