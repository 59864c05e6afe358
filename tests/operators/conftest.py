"""The emulator with its MNS channel, connections to it, and a real Airflow to run DAG files in."""

from __future__ import annotations

import itertools
import json
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from airflow.models import Connection

from airflow_provider_imm.emulator import DEFAULT_PROJECT, ImmEmulator
from tests.operators import airflow_env
from tests.operators.airflow_env import DagRunResult, dag_source, run_dag_file
from tests.oss_objects import object_exists, put_object

TOPIC = "imm-events"
QUEUE = "airflow-imm"
_ids = itertools.count()


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = airflow_env.acquire(tmp_path_factory.mktemp("airflow"))
    yield home
    airflow_env.release()


@dataclass
class Imm:
    """The emulator seen from a test, with an Airflow to run DAG files in."""

    emulator: ImmEmulator
    home: Path
    monkeypatch: pytest.MonkeyPatch
    conn_id: str = ""

    def connection(
        self, *, mns: bool = True, login: str | None = None, password: str | None = None, **overrides: Any
    ) -> str:
        """Register an ``imm`` connection to the emulator and return its id (fresh each time); the
        emulator's own AccessKey unless ``login`` and ``password`` say otherwise."""
        emulator = self.emulator
        extras: dict[str, Any] = {
            "endpoint": emulator.endpoint,
            "protocol": "http",
            "region": emulator.region,
            "project": DEFAULT_PROJECT,
            "account_id": emulator.account_id,
            "mns_endpoint": emulator.url,
            "retry_base_delay": 0.05,
            "retry_max_delay": 0.2,
        }
        if mns:
            extras.update(mns_topic=TOPIC, mns_queue=QUEUE, mns_subscription="airflow")
        extras.update(overrides)
        conn_id = f"imm_op_{next(_ids)}"
        conn = Connection(
            conn_id=conn_id,
            conn_type="imm",
            login=login or emulator.access_key_id,
            password=password or emulator.access_key_secret,
            extra=json.dumps({k: v for k, v in extras.items() if v is not None}),
        )
        self.monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", conn.as_json())
        return conn_id

    def put(self, uri: str, data: bytes | str = b"content") -> None:
        put_object(self.emulator, uri, data)

    def exists(self, uri: str) -> bool:
        return object_exists(self.emulator, uri)

    def creates(self) -> int:
        """Create*Task calls the emulator received."""
        return sum(n for k, n in self.emulator.counters.snapshot().items() if k.startswith("imm:Create"))

    def tasks(self) -> list[dict[str, Any]]:
        return self.emulator.imm.tasks()

    def run(self, body: str, *, header: str = "", **values: object) -> DagRunResult:
        """Run a DAG file, ``header`` then ``body`` (``__CONN__`` is this test's connection id),
        through ``dag.test()``."""
        values.setdefault("conn", self.conn_id)
        source = textwrap.dedent(header) + textwrap.dedent(body)
        return run_dag_file(self.home, dag_source(source, **values))


@pytest.fixture
def imm(emulator: ImmEmulator, airflow_home: Path, monkeypatch: pytest.MonkeyPatch) -> Imm:
    imm_env = Imm(emulator, airflow_home, monkeypatch)
    imm_env.conn_id = imm_env.connection()
    from airflow_provider_imm.hooks.mns import MnsHook

    MnsHook(imm_env.conn_id).ensure_notification_channel()
    emulator.counters.reset()
    return imm_env
