"""OSS's REST API, path-style (``/bucket/key``), on the emulator's OSS port."""

from __future__ import annotations

from aiohttp import web

from airflow_provider_imm.emulator.context import ServiceContext
from airflow_provider_imm.emulator.guard import host_name, is_loopback
from airflow_provider_imm.emulator.oss_errors import OssError, error_response, new_request_id


class OssService:
    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        request_id = new_request_id()
        header = request.headers.get("Host", "")
        if not is_loopback(host_name(header)):
            message = f"Host {header[:64]!r} is not a loopback host: the emulator serves loopback only."
            return error_response(OssError(403, "AccessDenied", message), request_id)
        err = OssError(501, "NotImplemented", f"{request.method} {request.path[:100]} is not served yet.")
        return error_response(err, request_id, head=request.method == "HEAD")
