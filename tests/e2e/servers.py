"""PostgreSQL and Redis from their Debian packages, as a deployment's metadata database and Celery
broker: each on a free port of 127.0.0.1, its data in a temporary folder, no Unix socket, no
system service involved (``scripts/install-services`` installs the packages only).

PostgreSQL will not run as root, so under root it runs as the ``postgres`` account the package
creates, with its data in a folder of its own under the system's temporary directory (pytest's
folders are private to root); the folder is removed when the server stops.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import psycopg2
import redis

from tests.e2e.processes import Service, run_as

#: The account PostgreSQL runs as when the tests run as root (created by the Debian package).
POSTGRES_ACCOUNT = "postgres"
DATABASE = "airflow"
#: A scratch database: no durability, room for every Airflow process's connection pool.
POSTGRES_SETTINGS: Mapping[str, str] = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "max_connections": "300",
    "shared_buffers": "64MB",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def postgres_bindir() -> Path:
    """Where ``initdb`` and ``postgres`` are: on ``PATH``, else Debian's newest
    ``/usr/lib/postgresql/<major>/bin`` (Debian keeps them off ``PATH``)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").exists()]
    if not candidates:
        raise FileNotFoundError("PostgreSQL is not installed: run scripts/install-services (as root)")
    return max(candidates, key=lambda p: [int(n) for n in re.findall(r"\d+", p.parent.name)])


def _wait_until(ready: Callable[[], bool], service: Service, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if not service.alive():
            raise RuntimeError(
                f"{service.name} exited with {service.process.returncode}:\n{service.log_text()}"
            )
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{service.name} not ready after {timeout:.0f} s:\n{service.log_text()[-3000:]}"
            )
        time.sleep(0.2)


class PostgresServer:
    """One PostgreSQL cluster with a database ``airflow`` owned by the superuser ``airflow``
    (trust authentication: only loopback clients, and only for the test's lifetime)."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.port = free_port()
        self.url = f"postgresql+psycopg2://{DATABASE}@127.0.0.1:{self.port}/{DATABASE}"
        self.account = POSTGRES_ACCOUNT if os.geteuid() == 0 else None
        self.folder: Path | None = None
        self.service: Service | None = None

    def launch(self, env: Mapping[str, str]) -> Service:
        """Create the cluster and start the server (:meth:`wait_ready` waits until it serves)."""
        bindir = postgres_bindir()
        self.folder = Path(tempfile.mkdtemp(prefix="imm-e2e-postgres-"))
        if self.account is not None:
            account = pwd.getpwnam(self.account)
            os.chown(self.folder, account.pw_uid, account.pw_gid)
        data = self.folder / "data"
        initdb = [str(bindir / "initdb"), "-D", str(data), "-U", DATABASE, "--auth=trust", "-E", "UTF8"]
        done = subprocess.run(
            [*initdb, "--no-sync", "--no-instructions"],
            env=dict(env),
            **run_as(self.account),
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{done.stdout}\n{done.stderr}")
        settings = [arg for key, value in POSTGRES_SETTINGS.items() for arg in ("-c", f"{key}={value}")]
        self.service = Service(
            "postgres",
            [str(bindir / "postgres"), "-D", str(data), "-p", str(self.port), *settings],
            env,
            self.log_path,
            user=self.account,
            stop_signal=signal.SIGINT,
        )
        return self.service

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Until the server accepts clients; then create the database."""
        assert self.service is not None, "launch() first"
        _wait_until(self._accepts, self.service, timeout)
        self._execute("postgres", f"CREATE DATABASE {DATABASE}")

    def _connect(self, database: str) -> Any:
        return psycopg2.connect(host="127.0.0.1", port=self.port, user=DATABASE, dbname=database)

    def _accepts(self) -> bool:
        try:
            self._connect("postgres").close()
        except psycopg2.OperationalError:
            return False
        return True

    def _execute(self, database: str, sql: str) -> None:
        conn = self._connect(database)
        try:
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute(sql)
        finally:
            conn.close()

    def remove_data(self) -> None:
        """Delete the data folder (call once the server has stopped)."""
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


class RedisServer:
    """One Redis server, nothing persisted (its working folder is ``folder``)."""

    def __init__(self, folder: Path, log_path: Path) -> None:
        self.folder = folder
        self.log_path = log_path
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.service: Service | None = None

    def launch(self, env: Mapping[str, str]) -> Service:
        server = shutil.which("redis-server")
        if server is None:
            raise FileNotFoundError("redis-server is not installed: run scripts/install-services (as root)")
        self.folder.mkdir(parents=True, exist_ok=True)
        command = [server, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.folder)]
        command += ["--save", "", "--appendonly", "no", "--protected-mode", "yes", "--daemonize", "no"]
        self.service = Service("redis", command, env, self.log_path)
        return self.service

    def wait_ready(self, timeout: float = 60.0) -> None:
        assert self.service is not None, "launch() first"
        _wait_until(self._pings, self.service, timeout)

    def _pings(self) -> bool:
        try:
            return bool(redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2).ping())
        except redis.RedisError:
            return False
