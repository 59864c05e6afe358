"""MNS's XML API. PLACEHOLDER: being written."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from airflow_provider_imm.emulator.server import ImmEmulator


class MnsService:
    def __init__(self, emulator: ImmEmulator) -> None:
        self.emulator = emulator

    def add_routes(self, router: web.UrlDispatcher) -> None:
        pass

    def publish(self, topic: str, body: str, tag: str = "") -> bool:
        """Publish ``body`` to ``topic`` (on the server loop); False when the topic does not exist."""
        return False

    async def shutdown(self) -> None:
        pass
