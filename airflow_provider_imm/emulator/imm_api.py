"""IMM's RPC API (2020-09-30). PLACEHOLDER: being written."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from airflow_provider_imm.emulator.server import ImmEmulator


class ImmService:
    def __init__(self, emulator: ImmEmulator, *, task_duration: float = 0.05) -> None:
        self.emulator = emulator
        self.projects: set[str] = set()

    def add_project(self, name: str) -> None:
        self.projects.add(name)

    async def handle(self, request: web.Request) -> web.Response:
        return web.json_response({"Code": "NotImplemented"}, status=501)

    async def shutdown(self) -> None:
        pass
