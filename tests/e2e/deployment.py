"""A real Airflow 3 deployment on loopback: api-server, scheduler, dag-processor and triggerers.

Each component is a separate ``airflow`` process, as in production, sharing an ``AIRFLOW_HOME`` in a
temporary folder. A :class:`Backend` says where the metadata lives and how tasks run: SQLite with
LocalExecutor (as ``airflow standalone`` does), or PostgreSQL with CeleryExecutor, a Redis broker and
Celery workers as separate processes (as production runs). Every port is a free one on 127.0.0.1:
the api-server's is chosen here, and the log servers, which would bind every interface, are not
started (task and trigger logs are read from the log folder). Intervals are shortened through
``AIRFLOW__...`` variables so that a run takes seconds, not minutes.

The ``imm_default`` connection comes from ``AIRFLOW_CONN_IMM_DEFAULT``; the emulator's key pair is
therefore in the processes' environment, never in the database or a DAG file.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import sqlalchemy
from sqlalchemy.pool import NullPool

from tests.e2e.processes import (
    HOSTNAME_VARIABLE,
    MARKER_VARIABLE,
    Service,
    deployment_processes,
    kill_all,
)
from tests.e2e.rest import AirflowRest
from tests.e2e.servers import PostgresServer, RedisServer, free_port

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_DAGS = REPO / "example_dags"
#: The DAGs ``example_dags/`` defines.
EXAMPLE_DAG_IDS = frozenset(
    {
        "imm_nightly_document_conversion",
        "imm_media_transcoding",
        "imm_compress_run_outputs",
        "imm_wait_for_external_task",
        "imm_convert_on_upload",
        "imm_react_to_external_tasks",
        "imm_nightly_backlog_batch",
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
#: CeleryExecutor: as many worker processes in all as LocalExecutor's parallelism, and room for a
#: loaded machine when the scheduler hands a task to the broker (1 s by default).
CELERY_WORKER_CONCURRENCY = 4
CELERY_TUNING: Mapping[str, str] = {
    "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(CELERY_WORKER_CONCURRENCY),
    "AIRFLOW__CELERY__OPERATION_TIMEOUT": "30",
}


@dataclass(frozen=True)
class Backend:
    """Where a deployment keeps its metadata and how it runs tasks."""

    name: str
    database: Literal["sqlite", "postgres"]
    executor: str
    celery_workers: int = 0


SQLITE_LOCAL = Backend("sqlite-local", "sqlite", "LocalExecutor")
POSTGRES_CELERY = Backend("postgres-celery", "postgres", "CeleryExecutor", celery_workers=2)
#: For the benchmarks' busy deployments: SQLite's single writer refuses the api-server under 32 busy tasks.
POSTGRES_LOCAL = Backend("postgres-local", "postgres", "LocalExecutor")
BACKENDS = (SQLITE_LOCAL, POSTGRES_CELERY)


class AirflowDeployment:
    """Airflow's long-running components on loopback, sharing ``home``, and the servers its
    ``backend`` needs (PostgreSQL, Redis), which start first and stop last.

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
        backend: Backend = SQLITE_LOCAL,
        repository_on_path: bool = True,
    ) -> None:
        """``repository_on_path=False``: Airflow's processes import nothing from this repository (an
        installed wheel must do on its own), and components keep their real host names."""
        self.home = home
        self.backend = backend
        self.repository_on_path = repository_on_path
        logs = home / "logs"
        self.postgres = PostgresServer(logs / "postgres.log") if backend.database == "postgres" else None
        self.redis = RedisServer(home / "redis", logs / "redis.log") if backend.celery_workers else None
        #: The servers started for the backend, stopped after every Airflow component.
        self.servers: list[Service] = []
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
        self._engine: sqlalchemy.engine.Engine | None = None

    @property
    def database_url(self) -> str:
        return self.postgres.url if self.postgres else f"sqlite:///{self.home / 'airflow.db'}"

    def _environment(self, connections: Mapping[str, str], extra_env: Mapping[str, str]) -> dict[str, str]:
        from cryptography.fernet import Fernet

        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTEST"))}
        env.update(TUNING)
        env["AIRFLOW__CORE__EXECUTOR"] = self.backend.executor
        if self.redis is not None:
            env.update(CELERY_TUNING)
            env["AIRFLOW__CELERY__BROKER_URL"] = self.redis.url
        passwords = self.home / "passwords.json"
        self.home.mkdir(parents=True, exist_ok=True)
        passwords.write_text(json.dumps({USERNAME: self.password}))
        env.update(
            {
                MARKER_VARIABLE: self.marker,
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.database_url,
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
        if not self.repository_on_path:
            env.pop("PYTHONPATH", None)
        for conn_id, conn in connections.items():
            env[f"AIRFLOW_CONN_{conn_id.upper()}"] = conn
        env.update(extra_env)
        return env

    # Lifecycle
    def start_servers(self) -> None:
        """Start PostgreSQL and Redis if the backend uses them; return once they accept clients."""
        for server in (self.postgres, self.redis):
            if server is not None:
                self.servers.append(server.launch(self.env))
                server.wait_ready()

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

    def start(self, name: str, *args: str, env: Mapping[str, str] | None = None) -> Service:
        """Start ``airflow <args>`` as component ``name`` (its output in ``logs/<name>.log``), with
        ``env`` on top of the deployment's environment."""
        if name in self.services and self.services[name].alive():
            raise RuntimeError(f"{name} is already running")
        log = self.home / "logs" / f"{name}.log"
        service = Service(name, [AIRFLOW, *args], {**self.env, **(env or {})}, log)
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
        """A triggerer whose host name (its job's ``hostname``) is ``name``, as if on a host of its
        own, and whose own log is JSON: Airflow writes a trigger's last lines there instead of the
        trigger's log file when the trigger's end reaches the supervisor first (see
        :func:`tests.e2e.observe.fired_events`)."""
        extra = () if capacity is None else ("--capacity", str(capacity))
        env = {"AIRFLOW__LOGGING__JSON_LOGS": "True"}
        if self.repository_on_path:
            env |= {
                HOSTNAME_VARIABLE: name,
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.e2e.processes.component_hostname",
            }
        return self.start(name, "triggerer", "--skip-serve-logs", *extra, env=env)

    def start_celery_worker(self, name: str) -> Service:
        """A Celery worker named ``<name>@<host>``, so that several can run on one machine."""
        return self.start(name, "celery", "worker", "--celery-hostname", f"{name}@%h", "--skip-serve-logs")

    @property
    def celery_workers(self) -> list[str]:
        return [f"celery-worker-{index}" for index in range(1, self.backend.celery_workers + 1)]

    def start_all(self, *, triggerer_capacity: int | None = None) -> None:
        self.start_servers()
        self.migrate()
        self.start_api_server()
        self.start_dag_processor()
        self.start_scheduler()
        self.start_triggerer(capacity=triggerer_capacity)
        for name in self.celery_workers:
            self.start_celery_worker(name)
        self.wait_for_api()
        self.wait_for_celery_workers()

    def wait_for_celery_workers(self, timeout: float = 180.0) -> None:
        """Until every Celery worker has logged that it is ready to take tasks."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            waiting = [name for name in self.celery_workers if " ready." not in self.log_tail(name, 100_000)]
            if not waiting:
                return
            if time.monotonic() > deadline:
                tails = "\n".join(self.log_tail(name) for name in waiting)
                raise TimeoutError(f"Celery workers {waiting} not ready after {timeout:.0f} s:\n{tails}")
            time.sleep(0.5)

    def idle_celery_workers(self) -> list[str]:
        """The Celery workers that never received a task (their logs say so when they do)."""
        return [name for name in self.celery_workers if "execute_workload[" not in self.log_tail(name, 10**8)]

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

    def query(self, sql: str, **params: object) -> list[tuple[Any, ...]]:
        """Read the metadata database: ``sql`` with ``:name`` parameters. A connection per query, none
        kept open (SQLite is opened read-only; in WAL mode readers and writers coexist)."""
        if self._engine is None:
            if self.postgres is None:
                url = f"sqlite:///file:{self.home / 'airflow.db'}?mode=ro&uri=true"
                self._engine = sqlalchemy.create_engine(url, poolclass=NullPool, connect_args={"timeout": 30})
            else:
                self._engine = sqlalchemy.create_engine(self.postgres.url, poolclass=NullPool)
        with self._engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sqlalchemy.text(sql), params)]

    def triggerer_jobs(self, *, alive: bool | None = None) -> list[dict[str, Any]]:
        """TriggererJob records, oldest first (``alive``: heartbeating within the health threshold)."""
        query: dict[str, Any] = {"job_type": "TriggererJob", "order_by": "id"}
        if alive is not None:
            query["is_alive"] = alive
        return list(self.rest.paged("/api/v2/jobs", "jobs", **query))

    def triggerer_services(self) -> dict[int, Service]:
        """TriggererJob id -> the triggerer that runs or ran it (by the job's host name)."""
        return {
            int(job["id"]): self.services[job["hostname"]]
            for job in self.triggerer_jobs()
            if job["hostname"] in self.services
        }

    def check_alive(self) -> None:
        """Raise if a component that was not stopped on purpose has exited."""
        for service in [*self.servers, *self.services.values()]:
            if not service.alive() and not service.stopped:
                tail = service.log_text()[-4000:]
                raise RuntimeError(f"{service.name} exited with {service.process.returncode}:\n{tail}")

    def kill(self, name: str) -> None:
        """SIGKILL a component and everything in its process group."""
        self.services[name].kill()

    def log_tail(self, name: str, chars: int = 4000) -> str:
        return self.services[name].log_text()[-chars:] if name in self.services else ""

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM every component at once, SIGKILL what is left after ``timeout`` seconds, then the
        same for the servers; then kill whatever still carries the marker (task processes live in
        process groups of their own), and remove PostgreSQL's data.
        """
        for group in (self._started, self.servers):
            for service in group:
                service.terminate()
            deadline = time.monotonic() + timeout
            for service in group:
                service.wait_or_kill(deadline - time.monotonic())
        self.survivors = [f"{p.pid} {p.name()}" for p in kill_all(self.sessions, self.marker)]
        if self.postgres is not None:
            self.postgres.remove_data()

    @property
    def sessions(self) -> set[int]:
        """Session ids of every component and server started (each leads a session of its own)."""
        return {service.pid for service in [*self._started, *self.servers]}

    def processes(self) -> list[Any]:
        """Every live process of the deployment, components and their descendants."""
        return deployment_processes(self.sessions, self.marker)

    def __enter__(self) -> AirflowDeployment:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
