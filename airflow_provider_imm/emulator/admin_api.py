"""Admin HTTP endpoints (``/_emulator/...``): faults, counters, OSS objects, for out-of-process use."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from airflow_provider_imm.emulator.oss import OssKeyError

if TYPE_CHECKING:
    from airflow_provider_imm.emulator.server import ImmEmulator


def add_admin_routes(router: web.UrlDispatcher, emulator: ImmEmulator) -> None:
    async def faults(request: web.Request) -> web.Response:
        params = await request.json()
        kind = params.pop("kind", None)
        try:
            emulator.faults.arm(str(kind), **params)
        except (TypeError, ValueError) as err:
            return web.json_response({"error": str(err)}, status=400)
        return web.json_response({"armed": kind})

    async def counters(request: web.Request) -> web.Response:
        if request.method == "DELETE":
            emulator.counters.reset()
        return web.json_response(emulator.counters.snapshot())

    async def put_object(request: web.Request) -> web.Response:
        try:
            emulator.oss.put(request.match_info["bucket"], request.match_info["key"], await request.read())
        except OssKeyError as err:
            return web.json_response({"error": str(err)}, status=400)
        return web.json_response({}, status=201)

    async def get_object(request: web.Request) -> web.Response:
        try:
            data = emulator.oss.get(request.match_info["bucket"], request.match_info["key"])
        except OssKeyError as err:
            return web.json_response({"error": str(err)}, status=400)
        except FileNotFoundError as err:
            return web.json_response({"error": f"no such object {err}"}, status=404)
        return web.Response(body=data)

    async def list_objects(request: web.Request) -> web.Response:
        try:
            keys = emulator.oss.list(request.match_info["bucket"], request.query.get("prefix", ""))
        except OssKeyError as err:
            return web.json_response({"error": str(err)}, status=400)
        return web.json_response({"keys": keys})

    async def clock(request: web.Request) -> web.Response:
        params = await request.json()
        emulator.clock.advance(float(params.get("advance", 0)))
        return web.json_response({"time": emulator.clock.time()})

    async def info(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "endpoint": emulator.endpoint,
                "url": emulator.url,
                "region": emulator.region,
                "account_id": emulator.account_id,
                "access_key_id": emulator.access_key_id,
                "oss_root": str(emulator.oss.root),
            }
        )

    router.add_post("/_emulator/faults", faults)
    router.add_route("GET", "/_emulator/counters", counters)
    router.add_route("DELETE", "/_emulator/counters", counters)
    router.add_put("/_emulator/oss/{bucket}/{key:.+}", put_object)
    router.add_get("/_emulator/oss/{bucket}/{key:.+}", get_object)
    router.add_get("/_emulator/oss/{bucket}", list_objects)
    router.add_get("/_emulator/oss/{bucket}/", list_objects)
    router.add_post("/_emulator/clock", clock)
    router.add_get("/_emulator/info", info)
