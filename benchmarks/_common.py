"""Shared by the benchmark scripts: the emulator in a process of its own, and result files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil

from airflow_provider_imm.emulator import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET

os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"


class EmulatorProcess:
    """``python -m airflow_provider_imm.emulator`` on a free loopback port, stopped on exit.

    A separate process, so the emulator's work does not share the measured process's GIL or
    event loop. Controlled through its admin HTTP API.
    """

    def __init__(
        self, *, projects: list[str], task_duration: float = 0.05, region: str = "cn-hangzhou"
    ) -> None:
        self.projects = projects
        self.task_duration = task_duration
        self.region = region
        self.access_key_id = DEFAULT_ACCESS_KEY_ID
        self.access_key_secret = DEFAULT_ACCESS_KEY_SECRET
        self.url = ""
        self.endpoint = ""
        self.oss_url = ""
        self.account_id = ""
        self._process: subprocess.Popen[str] | None = None
        self._peak_rss = 0

    def __enter__(self) -> EmulatorProcess:
        command = [
            sys.executable,
            "-m",
            "airflow_provider_imm.emulator",
            "--port",
            "0",
            "--region",
            self.region,
            "--task-duration",
            str(self.task_duration),
        ]
        for project in self.projects:
            command += ["--project", project]
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError("the emulator process exited before announcing its address")
        address = json.loads(line)
        self.url, self.endpoint, self.oss_url = address["url"], address["endpoint"], address["oss_url"]
        #: The start line: also RocketMQ's endpoint, instance and credentials (None without the extra).
        self.info: dict[str, Any] = address
        self.account_id = self.admin("GET", "/_emulator/info")["account_id"]
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._process is not None:
            self.peak_rss_bytes()
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("content-type", "application/json")
        with urllib.request.urlopen(request, timeout=60) as response:
            payload = response.read()
        return json.loads(payload) if payload else None

    def put_object(self, bucket: str, key: str, data: bytes) -> None:
        request = urllib.request.Request(f"{self.url}/_emulator/oss/{bucket}/{key}", data=data, method="PUT")
        urllib.request.urlopen(request, timeout=60).close()

    def cpu_seconds(self) -> float:
        """User + system CPU time the emulator process has spent so far."""
        assert self._process is not None
        times = psutil.Process(self._process.pid).cpu_times()
        return float(times.user + times.system)

    def peak_rss_bytes(self) -> int:
        """Largest resident set size of the emulator process seen so far (Linux: VmHWM)."""
        if self._process is not None and self._process.poll() is None:
            try:
                status = Path(f"/proc/{self._process.pid}/status").read_text()
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        self._peak_rss = max(self._peak_rss, int(line.split()[1]) * 1024)
            except OSError:
                self._peak_rss = max(self._peak_rss, psutil.Process(self._process.pid).memory_info().rss)
        return self._peak_rss


def write_results(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
