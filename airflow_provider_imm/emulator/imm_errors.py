"""IMM's error answers: the exception the emulated API raises and the JSON body the SDK parses.

The SDK reads ``Code``, ``Message`` and ``RequestId`` from the body and raises ``ClientException``
for 4xx, ``ServerException`` for 5xx, and ``ThrottlingException`` when ``x-acs-retry-after`` is
present; the other fields are there because Alibaba Cloud's gateway sends them.
"""

from __future__ import annotations

import json
import uuid

from aiohttp import web

from airflow_provider_imm.emulator.service_error import ServiceError


class ImmError(ServiceError):
    """IMM's error answer; ``retry_after_ms`` becomes ``x-acs-retry-after`` (throttling)."""

    def __init__(self, status: int, code: str, message: str, *, retry_after_ms: int | None = None) -> None:
        super().__init__(status, code, message)
        self.retry_after_ms = retry_after_ms


def new_request_id() -> str:
    """A request id shaped like Alibaba Cloud's (upper-case UUID)."""
    return str(uuid.uuid4()).upper()


def error_response(err: ImmError, request_id: str, host_id: str) -> web.Response:
    body = {
        "RequestId": request_id,
        "HostId": host_id,
        "Code": err.code,
        "Message": err.message,
        "Recommend": f"https://api.aliyun.com/troubleshoot?q={err.code}&product=imm&requestId={request_id}",
    }
    headers = {"x-acs-request-id": request_id}
    if err.retry_after_ms is not None:
        headers["x-acs-retry-after"] = str(err.retry_after_ms)
    return web.Response(
        status=err.status, text=json.dumps(body), headers=headers, content_type="application/json"
    )


#: Alibaba Cloud's answer to a call over the account's flow control (reference/imm-api.md).
THROTTLING_CODE = "Throttling.User"
THROTTLING_MESSAGE = "Request was denied due to user flow control."


def throttling(retry_after_ms: int | None = None) -> ImmError:
    """HTTP 400 ``Throttling.User``; ``x-acs-retry-after`` only when ``retry_after_ms`` is given."""
    return ImmError(400, THROTTLING_CODE, THROTTLING_MESSAGE, retry_after_ms=retry_after_ms)


def missing_parameter(name: str, alternatives: tuple[str, ...] = ()) -> ImmError:
    """``Missing<Param>``: IMM names the absent field in the code itself."""
    names = " or ".join((name, *alternatives))
    return ImmError(400, f"Missing{name}", f"The parameter {names} is required but missing.")


def invalid_argument(message: str) -> ImmError:
    return ImmError(400, "InvalidArgument", message)


def resource_not_found(message: str) -> ImmError:
    """HTTP 400, not 404: IMM's error-handling page lists ResourceNotFound under 400."""
    return ImmError(400, "ResourceNotFound", message)


def resource_already_exists(message: str) -> ImmError:
    """HTTP 400, not 409: IMM's error-handling page lists ResourceAlreadyExists under 400."""
    return ImmError(400, "ResourceAlreadyExists", message)


def project_name_missing() -> ImmError:
    """IMM's own example (error-handling page): not ``MissingProjectName`` but this."""
    return ImmError(400, "InvalidArgument", "The parameter ProjectName is required but not provided.")
