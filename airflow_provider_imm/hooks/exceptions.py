"""The errors the hooks raise, defined without Airflow: one class per service, never a secret.

Catch them from :mod:`airflow_provider_imm.exceptions`, which holds every error a DAG author may
catch. They are defined here, importing nothing but the text helpers, because Airflow's own start-up
imports the connection's settings (through ``get_provider_info``), which raise
:class:`ImmConnectionConfigError`: anything on that path importing Airflow would import it in a
loop. Which error a failure is (diagnosis, redaction, the SDKs' errors) is decided in
:mod:`airflow_provider_imm.hooks.errors`.
"""

from __future__ import annotations

from typing import Any, Literal

from airflow_provider_imm.utils.excerpt import one_line

__all__ = [
    "INVALID_ARGUMENT",
    "INVALID_ENDPOINT",
    "INVALID_RESPONSE",
    "TLS_HANDSHAKE_FAILED",
    "ErrorKind",
    "ImmApiError",
    "ImmConnectionConfigError",
    "MnsApiError",
]

#: How an IMM call failed, which decides whether it may be retried.
#: ``throttled``: IMM refused it for flow control (nothing was done).
#: ``connect``: no connection could be made (the request never left).
#: ``network``: the connection broke or timed out after the request may have been sent.
#: ``server``: HTTP 5xx.  ``client``: any other error answer (4xx), final.
ErrorKind = Literal["throttled", "connect", "network", "server", "client"]

#: Code of an answer that was not the service's JSON (a gateway's HTML error page, a truncated body).
INVALID_RESPONSE = "InvalidResponse"
#: Code of a request refused before it was sent, such as text UTF-8 cannot encode (IMM's own code for
#: a bad parameter).
INVALID_ARGUMENT = "InvalidArgument"
#: Code of a TLS handshake that failed: nothing was sent, and asking again will fail the same way.
TLS_HANDSHAKE_FAILED = "TlsHandshakeFailed"
#: Code of an endpoint whose URL cannot even be built (a port out of range, a malformed host).
INVALID_ENDPOINT = "InvalidEndpoint"


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
