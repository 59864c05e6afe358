"""One emulator and one Airflow deployment per backend for the whole e2e module (starting Airflow
takes ~40 s): every test runs on SQLite with LocalExecutor and on PostgreSQL with CeleryExecutor."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from airflow_provider_imm.emulator import DEFAULT_PROJECT, ImmEmulator
from tests.e2e.deployment import BACKENDS, MNS_TOPIC, AirflowDeployment, Backend

#: Triggers one triggerer runs at once: two of them are needed for the 40 tasks of the failover test.
TRIGGERER_CAPACITY = 24


@dataclass
class Stack:
    emulator: ImmEmulator
    airflow: AirflowDeployment


@pytest.fixture(scope="module", params=BACKENDS, ids=lambda backend: backend.name)
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The emulator in this process, Airflow's components as separate processes, all on loopback.

    The MNS topic, queue and subscription are created through ``MnsHook.ensure_notification_channel``
    with the same connection the deployment uses. On teardown, every process the deployment started
    must be gone.
    """
    backend: Backend = request.param
    root = tmp_path_factory.mktemp(f"e2e-{backend.name}")
    emulator = ImmEmulator(root / "oss", task_duration=0.5, projects=(DEFAULT_PROJECT,)).start()
    connections = emulator.airflow_connections("imm_default", project=DEFAULT_PROJECT, mns_topic=MNS_TOPIC)
    deployment = AirflowDeployment(root / "airflow", connections=connections, backend=backend)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("AIRFLOW_CONN_IMM_DEFAULT", connections["imm_default"])
            from airflow_provider_imm.hooks.mns import MnsHook

            channel = MnsHook("imm_default").ensure_notification_channel()
        assert set(channel.created) == {"topic", "queue", "subscription"}
        deployment.start_all(triggerer_capacity=TRIGGERER_CAPACITY)
        yield Stack(emulator, deployment)
    finally:
        deployment.stop()
        emulator.stop()
        assert deployment.survivors == [], f"processes survived the deployment: {deployment.survivors}"
        assert deployment.processes() == []
