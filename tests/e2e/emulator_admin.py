"""The emulator's admin HTTP API (``/_emulator/...``), as a test or a demo in another process drives it."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from typing import Any


class EmulatorAdmin:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("content-type", "application/json")
        with urllib.request.urlopen(request, timeout=30) as response:
            payload = response.read()
        return json.loads(payload) if payload else None

    def hold(self, *actions: str) -> None:
        """Tasks of these actions stay Running until :meth:`finish` ends them."""
        for action in actions:
            self._call("POST", "/_emulator/imm/behaviour", {"action": action, "duration": None})

    def finish(self, task_id: str) -> bool:
        """End a held task now (Succeeded: outputs written, notification published)."""
        return bool(self._call("POST", f"/_emulator/imm/tasks/{task_id}/finish", {})["finished"])

    def tasks(self) -> list[dict[str, Any]]:
        """Every IMM task the emulator has, with ProjectName, Tags, UserData, Status and Outputs."""
        return list(self._call("GET", "/_emulator/imm/tasks")["tasks"])

    def counters(self) -> dict[str, int]:
        return dict(self._call("GET", "/_emulator/counters"))

    def objects(self, bucket: str, prefix: str = "") -> list[str]:
        query = f"?prefix={urllib.parse.quote(prefix)}" if prefix else ""
        return list(self._call("GET", f"/_emulator/oss/{bucket}{query}")["keys"])
