"""Admin HTTP endpoints (``/_emulator/...``) for out-of-process use: faults, counters, clock, OSS
objects and event rules, IMM tasks and behaviours, flow control, and the emulator's own address and
credentials.

Every answer is JSON; a refusal is ``{"error": "..."}`` with a 4xx status, never a 500.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from airflow_provider_imm.emulator.bodies import read_body, stream_body
from airflow_provider_imm.emulator.oss_events import OssEventRule

if TYPE_CHECKING:
    from airflow_provider_imm.emulator.server import ImmEmulator

AdminHandler = Callable[[web.Request], Awaitable[web.Response]]


class AdminError(Exception):
    """A refusal: ``status`` and a message that names the problem."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _refusing(handler: AdminHandler) -> AdminHandler:
    """Turn bad input (``ValueError``, ``TypeError``, ``OssKeyError``) into a 400 JSON error."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except AdminError as err:
            return web.json_response({"error": str(err)}, status=err.status)
        except (TypeError, ValueError) as err:  # OssKeyError too: it is a ValueError
            return web.json_response({"error": str(err)[:300]}, status=400)

    return wrapper


async def _json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object (no body: ``{}``)."""
    body = await read_body(request)
    if not body.strip():
        return {}
    try:
        document = json.loads(body)
    except ValueError:  # UnicodeDecodeError included
        raise AdminError(400, "the body is not JSON: send a JSON object") from None
    if not isinstance(document, dict):
        raise AdminError(400, "the body must be a JSON object")
    return document


def add_admin_routes(router: web.UrlDispatcher, emulator: ImmEmulator) -> None:
    @_refusing
    async def faults(request: web.Request) -> web.Response:
        params = await _json_object(request)
        kind = params.pop("kind", None)
        emulator.faults.arm(str(kind), **params)
        return web.json_response({"armed": kind})

    async def counters(request: web.Request) -> web.Response:
        if request.method == "DELETE":
            emulator.counters.reset()
        return web.json_response(emulator.counters.snapshot())

    @_refusing
    async def put_object(request: web.Request) -> web.Response:
        bucket, key = request.match_info["bucket"], request.match_info["key"]
        emulator.oss.path(bucket, key)  # refuse a bad name before receiving the body
        upload = emulator.oss.upload_file()
        md5 = hashlib.md5(usedforsecurity=False)
        try:
            with upload.open("wb") as file:
                async for chunk in stream_body(request):
                    file.write(chunk)
                    md5.update(chunk)
            emulator.oss.put_file(bucket, key, upload, etag=md5.hexdigest().upper())
        finally:
            upload.unlink(missing_ok=True)
        return web.json_response({}, status=201)

    @_refusing
    async def get_object(request: web.Request) -> web.Response:
        try:
            data = emulator.oss.get(request.match_info["bucket"], request.match_info["key"])
        except FileNotFoundError as err:
            raise AdminError(404, f"no such object {err}") from None
        return web.Response(body=data)

    @_refusing
    async def delete_object(request: web.Request) -> web.Response:
        emulator.oss.delete(request.match_info["bucket"], request.match_info["key"])
        return web.json_response({})

    @_refusing
    async def oss_event_rules(request: web.Request) -> web.Response:
        if request.method == "POST":
            rule = emulator.oss_events.add_rule(OssEventRule.from_json(await _json_object(request)))
            return web.json_response({"rule": rule.to_json()}, status=201)
        return web.json_response({"rules": [rule.to_json() for rule in emulator.oss_events.rules()]})

    @_refusing
    async def oss_event_rule(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if not emulator.oss_events.remove_rule(name):
            raise AdminError(404, f"no OSS event rule named {name[:64]!r}")
        return web.json_response({"removed": name})

    @_refusing
    async def list_objects(request: web.Request) -> web.Response:
        keys = emulator.oss.list(request.match_info["bucket"], request.query.get("prefix", ""))
        return web.json_response({"keys": keys})

    @_refusing
    async def clock(request: web.Request) -> web.Response:
        advance = (await _json_object(request)).get("advance", 0)
        if isinstance(advance, bool) or not isinstance(advance, int | float) or not 0 <= advance < 1e10:
            raise AdminError(400, f"advance must be a number of seconds >= 0, got {advance!r:.40}")
        emulator.clock.advance(float(advance))
        return web.json_response({"time": emulator.clock.time()})

    async def info(request: web.Request) -> web.Response:
        return web.json_response(emulator.info())

    async def list_tasks(request: web.Request) -> web.Response:
        return web.json_response({"tasks": emulator.imm.tasks(request.query.get("project"))})

    @_refusing
    async def finish(request: web.Request) -> web.Response:
        params = await _json_object(request)
        try:
            finished = emulator.imm.finish_task(
                request.match_info["task_id"],
                status=params.get("status", "Succeeded"),
                code=str(params.get("code", "")),
                message=str(params.get("message", "")),
            )
        except KeyError:
            raise AdminError(404, "no such task") from None
        return web.json_response({"finished": finished})

    @_refusing
    async def behaviour(request: web.Request) -> web.Response:
        if request.method == "DELETE":
            emulator.imm.clear_behaviours()
            return web.json_response({})
        params = await _json_object(request)
        if "action" not in params:
            raise AdminError(400, "action is required: an IMM action or task type")
        action = str(params.pop("action"))
        try:
            emulator.imm.set_behaviour(action, **params)
        except KeyError as err:
            raise AdminError(400, str(err)) from None
        return web.json_response({"action": action})

    @_refusing
    async def flow_control(request: web.Request) -> web.Response:
        """POST ``{"service": "imm", "rates": {"CreateOfficeConversionTask": 20}, "retry_after": false}``
        sets limits (a rate of null removes one); DELETE removes every limit; each answers the limits."""
        if request.method == "POST":
            params = await _json_object(request)
            unknown = sorted(set(params) - {"service", "rates", "retry_after"})
            if unknown:
                fields = "service, rates, retry_after"
                raise AdminError(400, f"unknown field {unknown[0]!r:.40}; the fields are {fields}")
            service, rates = str(params.get("service", "imm")), params.get("rates", {})
            emulator.set_rates(service, rates, retry_after=params.get("retry_after"))
        elif request.method == "DELETE":
            for service in ("imm", "mns"):
                emulator.flow_control(service).clear()
        return web.json_response(
            {
                service: {"rates": control.rates(), "retry_after": control.retry_after}
                for service in ("imm", "mns")
                for control in (emulator.flow_control(service),)
            }
        )

    @_refusing
    async def rocketmq_resource(request: web.Request) -> web.Response:
        """PUT ``/_emulator/rocketmq/topics/<name>`` or ``.../groups/<name>``: create it (``created``
        is false when it existed), as the ApsaraMQ console would. GET a group: its ``backlog``
        (messages not acked yet)."""
        from airflow_provider_imm.emulator.rocketmq_store import RocketMqError

        kind, name = request.match_info["kind"], request.match_info["name"]
        create = {"topics": emulator.rocketmq.create_topic, "groups": emulator.rocketmq.create_group}
        if kind not in create:
            raise AdminError(
                404, "use /_emulator/rocketmq/topics/<name> or /_emulator/rocketmq/groups/<name>"
            )
        try:
            if request.method == "GET":
                if kind != "groups":
                    raise AdminError(404, "GET /_emulator/rocketmq/groups/<name> answers a group's backlog")
                return web.json_response({"backlog": emulator.rocketmq.backlog(name)})
            return web.json_response({"created": create[kind](name)})
        except RocketMqError as err:
            raise AdminError(400, err.message) from None

    router.add_put("/_emulator/rocketmq/{kind}/{name}", rocketmq_resource)
    router.add_get("/_emulator/rocketmq/{kind}/{name}", rocketmq_resource)
    router.add_post("/_emulator/faults", faults)
    router.add_route("GET", "/_emulator/flow-control", flow_control)
    router.add_route("POST", "/_emulator/flow-control", flow_control)
    router.add_route("DELETE", "/_emulator/flow-control", flow_control)
    router.add_route("GET", "/_emulator/counters", counters)
    router.add_route("DELETE", "/_emulator/counters", counters)
    router.add_put("/_emulator/oss/{bucket}/{key:.+}", put_object)
    router.add_get("/_emulator/oss/{bucket}/{key:.+}", get_object)
    router.add_delete("/_emulator/oss/{bucket}/{key:.+}", delete_object)
    router.add_get("/_emulator/oss/{bucket}", list_objects)
    router.add_get("/_emulator/oss/{bucket}/", list_objects)
    router.add_get("/_emulator/oss-event-rules", oss_event_rules)
    router.add_post("/_emulator/oss-event-rules", oss_event_rules)
    router.add_delete("/_emulator/oss-event-rules/{name}", oss_event_rule)
    router.add_post("/_emulator/clock", clock)
    router.add_get("/_emulator/info", info)
    router.add_get("/_emulator/imm/tasks", list_tasks)
    router.add_post("/_emulator/imm/tasks/{task_id}/finish", finish)
    router.add_post("/_emulator/imm/behaviour", behaviour)
    router.add_delete("/_emulator/imm/behaviour", behaviour)
