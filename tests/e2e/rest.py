"""Airflow's public REST API (``/api/v2``) as a user reaches it: a token from ``/auth/token``, then JSON."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any

#: DAG run states after which nothing more happens.
FINAL_RUN_STATES = frozenset({"success", "failed"})


class RestError(RuntimeError):
    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        super().__init__(f"{method} {path}: HTTP {status}: {body[:500]}")
        self.status = status


class AirflowRest:
    """A logged-in client of one api-server (SimpleAuthManager user and password)."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._credentials = {"username": username, "password": password}
        self._token: str | None = None

    def login(self) -> None:
        answer = self._request("POST", "/auth/token", self._credentials, auth=False)
        self._token = str(answer["access_token"])

    def get(self, path: str, **query: Any) -> Any:
        if query:
            path += "?" + urllib.parse.urlencode(query, doseq=True)
        return self._request("GET", path)

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        return self._request("POST", path, body)

    def patch(self, path: str, body: Mapping[str, Any]) -> Any:
        return self._request("PATCH", path, body)

    def _request(self, method: str, path: str, body: Any = None, *, auth: bool = True) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("accept", "application/json")
        if data is not None:
            request.add_header("content-type", "application/json")
        if auth:
            if self._token is None:
                self.login()
            request.add_header("authorization", f"Bearer {self._token}")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                payload = response.read()
        except urllib.error.HTTPError as err:
            raise RestError(method, path, err.code, err.read().decode(errors="replace")) from None
        return json.loads(payload) if payload else None

    # What the tests need
    def paged(self, path: str, key: str, **query: Any) -> Iterator[dict[str, Any]]:
        """Every item of a list endpoint, page by page (the server caps ``limit`` at 100)."""
        offset = 0
        while True:
            page = self.get(path, limit=100, offset=offset, **query)
            items = page[key]
            yield from items
            offset += len(items)
            if not items or offset >= page["total_entries"]:
                return

    def unpause(self, dag_id: str) -> None:
        self.patch(f"/api/v2/dags/{dag_id}", {"is_paused": False})

    def trigger(self, dag_id: str, *, logical_date: str | None, conf: Mapping[str, Any] | None = None) -> str:
        body = {"logical_date": logical_date, "conf": dict(conf or {})}
        return str(self.post(f"/api/v2/dags/{dag_id}/dagRuns", body)["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.get(f"/api/v2/dags/{dag_id}/dagRuns/{_quote(run_id)}")["state"])

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float) -> str:
        """Poll until the run is final; returns its state or raises ``TimeoutError``."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.run_state(dag_id, run_id)
            if state in FINAL_RUN_STATES:
                return state
            if time.monotonic() > deadline:
                raise TimeoutError(f"DAG run {dag_id}/{run_id} still {state!r} after {timeout:.0f} s")
            time.sleep(1.0)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return list(
            self.paged(f"/api/v2/dags/{dag_id}/dagRuns/{_quote(run_id)}/taskInstances", "task_instances")
        )

    def xcom(
        self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1
    ) -> Any:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{_quote(run_id)}/taskInstances/{task_id}/xcomEntries/{key}"
        return self.get(path, map_index=map_index, deserialize=True)["value"]

    def dag_import_errors(self) -> list[dict[str, Any]]:
        return list(self.paged("/api/v2/importErrors", "import_errors"))

    def dag_ids(self) -> list[str]:
        return [dag["dag_id"] for dag in self.paged("/api/v2/dags", "dags")]


def _quote(run_id: str) -> str:
    return urllib.parse.quote(run_id, safe="")
