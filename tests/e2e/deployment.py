"""A real Airflow 3 deployment on loopback: api-server, scheduler, dag-processor and triggerers.

Each component is a separate ``airflow`` process, as in production; they share a SQLite metadata
database (Airflow 3 runs LocalExecutor on SQLite, as ``airflow standalone`` does) and an
``AIRFLOW_HOME`` in a temporary folder. Every port is a free one on 127.0.0.1: the api-server's is
chosen here, and the log servers, which would bind every interface, are not started (task and
trigger logs are read from the log folder). Intervals are shortened through ``AIRFLOW__...``
variables so that a run takes seconds, not minutes.

The ``imm_default`` connection comes from ``AIRFLOW_CONN_IMM_DEFAULT``; the emulator's key pair is
therefore in the processes' environment, never in the database or a DAG file.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Collection, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.e2e.processes import MARKER_VARIABLE, Service, deployment_processes, kill_all
from tests.e2e.rest import AirflowRest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_DAGS = REPO / "example_dags"
#: The DAGs ``example_dags/`` defines.
EXAMPLE_DAG_IDS = frozenset(
    {
        "imm_nightly_document_conversion",
        "imm_media_transcoding",
        "imm_compress_run_outputs",
        "imm_wait_for_external_task",
    }
)
AIRFLOW = str(Path(sys.executable).with_name("airflow"))

USERNAME = "admin"
#: The MNS topic the deployment's connection names (``ImmEmulator.airflow_connections(mns_topic=...)``);
#: the channel is created through the hook.
MNS_TOPIC = "imm-events"

#: Short intervals: the scheduler and triggerers react within about a second, a dead triggerer's
#: triggers are taken over after a few seconds, files are not re-parsed during a test.
TUNING: Mapping[str, str] = {
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
    "AIRFLOW__CORE__PARALLELISM": "8",
    "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "64",
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
    "AIRFLOW__CORE__DEFAULT_TASK_RETRIES": "0",
    "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
    "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "1",
    "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
    "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
    "AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL": "5",
    "AIRFLOW__SCHEDULER__MAX_TIS_PER_QUERY": "64",
    "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
    "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "6",
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
    "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "2",
    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
    "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
    "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "600",
    "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
    "AIRFLOW__API__WORKERS": "1",
    "AIRFLOW__API__EXPOSE_CONFIG": "False",
}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class AirflowDeployment:
    """Airflow's four long-running components on loopback, sharing ``home``.

    Use as a context manager: on exit every process it started, and every process those started
    (task processes included), is killed; :attr:`survivors` lists any that could not be.
    """

    def __init__(
        self,
        home: Path,
        *,
        connections: Mapping[str, str],
        dags_folder: Path = EXAMPLE_DAGS,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.home = home
        self.dags_folder = dags_folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.marker = uuid.uuid4().hex
        self.password = secrets.token_urlsafe(16)
        self.services: dict[str, Service] = {}
        #: Every service ever started, restarted ones included.
        self._started: list[Service] = []
        self.survivors: list[str] = []
        self.env = self._environment(connections, extra_env or {})
        self.rest = AirflowRest(self.url, USERNAME, self.password)

    def _environment(self, connections: Mapping[str, str], extra_env: Mapping[str, str]) -> dict[str, str]:
        from cryptography.fernet import Fernet

        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTEST"))}
        env.update(TUNING)
        passwords = self.home / "passwords.json"
        self.home.mkdir(parents=True, exist_ok=True)
        passwords.write_text(json.dumps({USERNAME: self.password}))
        env.update(
            {
                MARKER_VARIABLE: self.marker,
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
                "AIRFLOW__API__BASE_URL": self.url,
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
                "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USERNAME}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
                # The repository on the path: task processes import the example DAGs' helpers.
                "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p),
                "NO_PROXY": "127.0.0.1,localhost",
                "no_proxy": "127.0.0.1,localhost",
                "PYTHONUNBUFFERED": "1",
            }
        )
        for conn_id, conn in connections.items():
            env[f"AIRFLOW_CONN_{conn_id.upper()}"] = conn
        env.update(extra_env)
        return env

    # Lifecycle
    def migrate(self) -> None:
        """Create the metadata database (``airflow db migrate``)."""
        log = self.home / "logs" / "db-migrate.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "wb") as out:
            done = subprocess.run(
                [AIRFLOW, "db", "migrate"], env=self.env, stdout=out, stderr=subprocess.STDOUT, timeout=300
            )
        if done.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed:\n{log.read_text()[-3000:]}")

    def start(self, name: str, *args: str) -> Service:
        """Start ``airflow <args>`` as component ``name`` (its output in ``logs/<name>.log``)."""
        if name in self.services and self.services[name].alive():
            raise RuntimeError(f"{name} is already running")
        service = Service(name, [AIRFLOW, *args], self.env, self.home / "logs" / f"{name}.log")
        self.services[name] = service
        self._started.append(service)
        return service

    def start_api_server(self) -> Service:
        return self.start("api-server", "api-server", "--host", "127.0.0.1", "--port", str(self.port))

    def start_scheduler(self) -> Service:
        return self.start("scheduler", "scheduler", "--skip-serve-logs")

    def start_dag_processor(self) -> Service:
        return self.start("dag-processor", "dag-processor")

    def start_triggerer(self, name: str = "triggerer", capacity: int | None = None) -> Service:
        extra = () if capacity is None else ("--capacity", str(capacity))
        return self.start(name, "triggerer", "--skip-serve-logs", *extra)

    def start_all(self, *, triggerer_capacity: int | None = None) -> None:
        self.migrate()
        self.start_api_server()
        self.start_dag_processor()
        self.start_scheduler()
        self.start_triggerer(capacity=triggerer_capacity)
        self.wait_for_api()

    def wait_for_api(self, timeout: float = 180.0) -> None:
        """Until the api-server answers its health endpoint and a login succeeds."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/monitor/health", timeout=5) as response:
                    if response.status == 200:
                        self.rest.login()
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"api-server not up after {timeout:.0f} s:\n{self.log_tail('api-server')}")
            time.sleep(0.5)

    def wait_for_dags(self, dag_ids: Collection[str], timeout: float = 180.0) -> None:
        """Until the dag-processor has stored every DAG of ``dag_ids``; import errors fail at once."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            errors = self.rest.dag_import_errors()
            if errors:
                raise AssertionError(f"DAG import errors: {json.dumps(errors, indent=2)}")
            missing = set(dag_ids) - set(self.rest.dag_ids())
            if not missing:
                return
            if time.monotonic() > deadline:
                tail = self.log_tail("dag-processor")
                raise TimeoutError(f"DAGs {sorted(missing)} not parsed after {timeout:.0f} s:\n{tail}")
            time.sleep(1.0)

    def query(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        """Read the metadata database (read-only; SQLite in WAL mode lets readers and writers coexist)."""
        db = self.home / "airflow.db"
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
            return list(conn.execute(sql, params).fetchall())

    def triggerer_jobs(self, *, alive: bool | None = None) -> list[dict[str, Any]]:
        """TriggererJob records, oldest first (``alive``: heartbeating within the health threshold)."""
        query: dict[str, Any] = {"job_type": "TriggererJob", "order_by": "id"}
        if alive is not None:
            query["is_alive"] = alive
        return list(self.rest.paged("/api/v2/jobs", "jobs", **query))

    def check_alive(self) -> None:
        """Raise if a component that was not stopped on purpose has exited."""
        for name, service in self.services.items():
            if not service.alive() and not service.stopped:
                raise RuntimeError(f"{name} exited with {service.process.returncode}:\n{self.log_tail(name)}")

    def kill(self, name: str) -> None:
        """SIGKILL a component and everything in its process group."""
        self.services[name].kill()

    def log_tail(self, name: str, chars: int = 4000) -> str:
        return self.services[name].log_text()[-chars:] if name in self.services else ""

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM every component at once, SIGKILL what is left after ``timeout`` seconds, then
        kill whatever still carries the marker (task processes live in process groups of their own).
        """
        for service in self._started:
            service.terminate()
        deadline = time.monotonic() + timeout
        for service in self._started:
            service.wait_or_kill(deadline - time.monotonic())
        self.survivors = [f"{p.pid} {p.name()}" for p in kill_all(self.sessions, self.marker)]

    @property
    def sessions(self) -> set[int]:
        """Session ids of every component started (each is the leader of its own session)."""
        return {service.pid for service in self._started}

    def processes(self) -> list[Any]:
        """Every live process of the deployment, components and their descendants."""
        return deployment_processes(self.sessions, self.marker)

    def __enter__(self) -> AirflowDeployment:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
