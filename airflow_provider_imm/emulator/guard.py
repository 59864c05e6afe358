"""What every request passes before a service sees it: a loopback ``Host`` and a bounded body.

The emulator has no authentication on its admin API, so it serves loopback only: it binds only
loopback addresses (:func:`check_loopback`, used by :class:`ImmEmulator` and the command alike),
and answers only requests whose ``Host`` names a loopback host, so a browser page that reached
127.0.0.1 by DNS rebinding (its requests carry the attacker's host name) can neither read state nor
arm faults. Only a port may follow the host name, and an absolute-form request target must name a
loopback host too. The official SDKs send ``Host: <endpoint host>:<port>`` (the STS credentials library
``Host: http://<host>:<port>``), which is loopback here.

Bodies are bounded per service (:mod:`.bodies`): a larger ``Content-Length`` is refused here before
a byte is read; a chunked body is refused as soon as it passes the limit.

Refusals, and the router's own 404/405 answers, take the shape of the service the path belongs to
(:func:`refusal`), so each SDK parses them as it would the service's own errors.
"""

from __future__ import annotations

import ipaddress
import re

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from airflow_provider_imm.emulator.bodies import ADMIN_PREFIX, MNS_PREFIXES, BodyTooLarge, body_limit
from airflow_provider_imm.emulator.imm_errors import ImmError, new_request_id
from airflow_provider_imm.emulator.imm_errors import error_response as imm_error_response
from airflow_provider_imm.emulator.mns_api import error_response as mns_error_response
from airflow_provider_imm.emulator.mns_store import MnsError

_PORT = re.compile(r":[0-9]{1,5}")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (``127.0.0.0/8``, ``::1``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_loopback(host: str) -> None:
    """Refuse to serve on ``host`` unless it is loopback: the admin API writes files unauthenticated."""
    if not is_loopback(host):
        raise ValueError(
            f"{host[:64]!r} is not a loopback address: the emulator serves 127.0.0.1, ::1 or localhost only"
        )


def host_name(header: str) -> str:
    """The host of a ``Host`` header value: ``[::1]:80`` -> ``::1``, ``a:80`` -> ``a``; ``""`` when
    anything but a port follows the host (``127.0.0.1:80@evil.example``, ``127.0.0.1:80/x``).

    ``alibabacloud-credentials`` sends the whole STS endpoint as ``Host`` when it has a scheme
    (``Host: http://127.0.0.1:8765``), so a leading ``http://`` or ``https://`` is skipped.
    """
    for scheme in ("http://", "https://"):
        if header.lower().startswith(scheme):
            header = header[len(scheme) :]
            break
    if header.startswith("["):
        name, bracket, rest = header[1:].partition("]")
        if not bracket:
            return ""
    else:
        name, colon, port = header.partition(":")
        rest = colon + port
    return name if not rest or _PORT.fullmatch(rest) else ""


def foreign_target(request: web.Request) -> str | None:
    """The host named by an absolute-form request target (``GET http://host/path``), as a proxy-style
    client sends it, when that host is not loopback; else None."""
    host = request.host  # aiohttp: the absolute-form target's host if there is one, else ``Host``
    return None if host == request.headers.get("Host") or is_loopback(host) else host


def refusal(request: web.Request, status: int, code: str, message: str, *, region: str) -> web.Response:
    """An error in the shape of the service ``request`` is for: admin JSON, MNS XML or IMM JSON."""
    path = request.path
    if path.startswith(ADMIN_PREFIX):
        return web.json_response({"error": message}, status=status)
    if path.startswith(MNS_PREFIXES):
        return mns_error_response(MnsError(status, code, message), request)
    return imm_error_response(ImmError(status, code, message), new_request_id(), f"imm.{region}.aliyuncs.com")


def _too_large(request: web.Request, limit: int, region: str) -> web.Response:
    status = 413 if request.path.startswith(ADMIN_PREFIX) else 400
    message = f"The request body is larger than {limit} bytes, the most this API takes."
    return refusal(request, status, "InvalidArgument", message, region=region)


def guard(region: str) -> Middleware:
    """Middleware: refuse a ``Host`` that is missing or not loopback (403) and an oversized body;
    shape router errors."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        header = request.headers.get("Host", "")
        if not is_loopback(host_name(header)):
            message = f"Host {header[:64]!r} is not a loopback host: the emulator serves loopback only."
            return refusal(request, 403, "AccessDenied", message, region=region)
        authority = foreign_target(request)
        if authority is not None:
            message = (
                f"the request target names {authority[:64]!r}, not a loopback host: "
                "the emulator serves loopback only."
            )
            return refusal(request, 403, "AccessDenied", message, region=region)
        limit = body_limit(request.method, request.path)
        if request.content_length is not None and request.content_length > limit:
            return _too_large(request, limit, region)
        try:
            return await handler(request)
        except BodyTooLarge as err:
            return _too_large(request, err.limit, region)
        except web.HTTPException as err:
            if err.status < 400:
                raise
            code = "InvalidRequestURL" if request.path.startswith(MNS_PREFIXES) else "InvalidAction.NotFound"
            message = (
                f"{request.method} {request.path[:100]} is not an operation of the emulator: {err.reason}."
            )
            return refusal(request, err.status, code, message, region=region)

    return middleware
