"""OSS's error answers: the exception the emulated OSS API raises and the XML document the SDK parses.

``alibabacloud-oss-v2`` reads ``<Error>`` with ``Code``, ``Message``, ``RequestId`` (and ``EC``) from
the body, or, for a HEAD (no body), from the base64 ``x-oss-err`` header; ``x-oss-request-id`` is on
every answer. Messages go to the client: they never carry a secret.
"""

from __future__ import annotations

import base64
import secrets
from xml.sax.saxutils import escape

from aiohttp import web

from airflow_provider_imm.emulator.service_error import ServiceError

#: The ``HostId`` OSS puts in its errors names the endpoint; the emulator's own name stands in.
HOST_ID = "oss-emulator.127.0.0.1"


class OssError(ServiceError):
    """OSS's error answer; the message names the problem and the fix."""

    def __init__(self, status: int, code: str, message: str, **details: str) -> None:
        super().__init__(status, code, message)
        #: More elements of ``<Error>`` (``BucketName``, ``Key``, ``StringToSign``...), as OSS adds them.
        self.details = details


def new_request_id() -> str:
    """A request id shaped like OSS's (24 upper-case hex digits)."""
    return secrets.token_hex(12).upper()


def error_document(err: OssError, request_id: str) -> bytes:
    fields = {"Code": err.code, "Message": err.message, "RequestId": request_id, "HostId": HOST_ID}
    fields.update(err.details)
    inner = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in fields.items())
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>{inner}</Error>'.encode()


def error_response(err: OssError, request_id: str, *, head: bool = False) -> web.Response:
    """The answer to a refused request; a HEAD carries the document in ``x-oss-err`` instead of a body."""
    document = error_document(err, request_id)
    headers = {"x-oss-request-id": request_id, "x-oss-ec": err.details.get("EC", "")}
    if not headers["x-oss-ec"]:
        del headers["x-oss-ec"]
    if head:
        headers["x-oss-err"] = base64.b64encode(document).decode()
        return web.Response(status=err.status, headers=headers, content_type="application/xml")
    return web.Response(status=err.status, body=document, headers=headers, content_type="application/xml")
