"""The emulator seen from a test: connections to it, OSS objects, IMM tasks, triggers and DAG runs.

One class, :class:`Imm`, behind the suite's one ``imm`` fixture (``tests/conftest.py``). Every
connection to the emulator is built by ``ImmEmulator.airflow_connections()`` and registered as an
``AIRFLOW_CONN_<ID>`` variable for the test's duration (a fresh id each time: Airflow may cache by id).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import textwrap
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_imm.emulator import DEFAULT_PROJECT, ImmEmulator
from tests.oss_objects import object_exists, put_object
from tests.sdk_clients import imm_client_for, mns_account_for

if TYPE_CHECKING:
    from airflow.triggers.base import BaseTrigger
    from alibabacloud_imm20200930.client import Client as ImmClient
    from mns.account import Account

    from airflow_provider_imm.triggers.imm import ImmTaskCompletedTrigger
    from tests.operators.airflow_env import DagRunResult

#: The MNS channel the ``imm`` fixture creates: IMM -> topic -> subscription -> queue.
TOPIC = "imm-events"
QUEUE = "airflow-imm"
SUBSCRIPTION = "airflow"
#: Where :meth:`Imm.create_task` reads its document.
BUCKET = "docs"
#: How a task created or finished with a status other than Succeeded fails.
FAILURE = {"code": "InvalidDocument", "message": "The document is damaged."}
#: Short retry delays for the ``imm`` fixture's connections, so a retried call costs a test little.
FAST_RETRIES = {"retry_base_delay": 0.05, "retry_max_delay": 0.2}

_ids = itertools.count()
_UNSET: Any = object()

#: ``connect``'s signature once bound to an emulator: keyword options in, a conn id out.
MakeConn = Callable[..., str]


def connect(
    emulator: ImmEmulator,
    monkeypatch: pytest.MonkeyPatch,
    *,
    login: str | None = _UNSET,
    password: str | None = _UNSET,
    **options: Any,
) -> str:
    """Register a connection to ``emulator`` and return its id.

    ``login``/``password`` replace the emulator's key pair (None: none); ``options`` are
    ``emulator_connection``'s (project, MNS names, other extras; None leaves one out).
    """
    if login is not _UNSET:
        options["access_key_id"] = login
    if password is not _UNSET:
        options["access_key_secret"] = password
    conn_id = f"imm_test_{next(_ids)}"
    for key, value in emulator.airflow_connections(conn_id, **options).items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{key.upper()}", value)
    return conn_id


@dataclass
class Imm:
    """The emulator with an MNS channel and a connection (``conn_id``) to both.

    Airflow's metadata DB (``home``, needed by :meth:`run`) is set up on first use, so tests that
    never run a DAG don't pay for it.
    """

    emulator: ImmEmulator
    #: The Airflow home, or how to get it on first use (``home``).
    airflow_home: Path | Callable[[], Path]
    monkeypatch: pytest.MonkeyPatch
    conn_id: str = ""

    # Connections
    def connection(self, *, mns: bool = True, **options: Any) -> str:
        """Register a connection to the emulator (with the channel's MNS names unless ``mns`` is
        False) and return its id; ``options`` as :func:`connect` takes them."""
        names = {"mns_topic": TOPIC, "mns_queue": QUEUE, "mns_subscription": SUBSCRIPTION}
        if not mns:
            names = dict.fromkeys(names)
        return connect(self.emulator, self.monkeypatch, **{**FAST_RETRIES, **names, **options})

    @cached_property
    def client(self) -> ImmClient:
        """The official IMM SDK's client for the emulator."""
        return imm_client_for(self.emulator)

    @cached_property
    def account(self) -> Account:
        """The official MNS SDK's account for the emulator."""
        return mns_account_for(self.emulator)

    # OSS
    def put(self, uri: str, data: bytes | str = b"content") -> None:
        put_object(self.emulator, uri, data)

    def exists(self, uri: str) -> bool:
        return object_exists(self.emulator, uri)

    # IMM tasks
    async def create_task(
        self, duration: float | None = 0.2, status: str = "Succeeded", topic: str = TOPIC
    ) -> str:
        """An OfficeConversion task that ends after ``duration`` s (None: when finished by hand)."""
        from alibabacloud_imm20200930 import models as imm_models

        self.put(f"oss://{BUCKET}/in/report.docx", b"a document")
        behaviour: dict[str, Any] = {"duration": duration}
        if status != "Succeeded":
            behaviour.update(status=status, **FAILURE)
        request = imm_models.CreateOfficeConversionTaskRequest(
            project_name=DEFAULT_PROJECT,
            source_uri=f"oss://{BUCKET}/in/report.docx",
            target_type="pdf",
            target_uri=f"oss://{BUCKET}/out/{{barename}}.{{autoext}}",
            notification=imm_models.Notification(mns=imm_models.MNS(topic_name=topic)),
            user_data=json.dumps({"imm-emulator": behaviour}),
        )
        response = await self.client.create_office_conversion_task_async(request)
        return str(response.body.task_id)

    def finish(self, task_id: str, status: str = "Succeeded") -> None:
        """End a task created with ``duration=None`` now, as ``create_task`` would have with ``status``."""
        failure = FAILURE if status != "Succeeded" else {}
        if not self.emulator.imm.finish_task(task_id, status=status, **failure):
            raise AssertionError(f"task {task_id} had already ended")

    def tasks(self) -> list[dict[str, Any]]:
        return self.emulator.imm.tasks()

    def creates(self) -> int:
        """Create*Task calls the emulator received."""
        return sum(n for k, n in self.emulator.counters.snapshot().items() if k.startswith("imm:Create"))

    def get_task_calls(self) -> int:
        return self.emulator.counters.get("imm", "GetTask")

    # MNS
    def publish(self, body: str) -> None:
        from mns.topic import TopicMessage

        self.account.get_topic(TOPIC).publish_message(TopicMessage(body))

    def queue_messages(self) -> int:
        """Messages still in the queue, visible or in flight (nothing here is sent delayed)."""
        attributes = self.account.get_queue(QUEUE).get_attributes()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the SDK deprecates its own getters
            return int(attributes.active_messages) + int(attributes.inactive_messages)

    # Triggers
    def trigger(self, task_id: str, **kwargs: Any) -> ImmTaskCompletedTrigger:
        """The trigger an operator defers with for ``task_id``: an OfficeConversion on the queue."""
        from airflow_provider_imm.triggers.imm import ImmTaskCompletedTrigger

        params: dict[str, Any] = {
            "task_type": "OfficeConversion",
            "project": DEFAULT_PROJECT,
            "imm_conn_id": self.conn_id,
            "mns_queue": QUEUE,
            "reconcile_interval": 60.0,
        }
        params.update(kwargs)
        return ImmTaskCompletedTrigger(task_id=task_id, **params)

    # DAG runs
    @property
    def home(self) -> Path:
        """The session's Airflow home (metadata DB and DAGs folder), set up on first use."""
        if callable(self.airflow_home):
            self.airflow_home = self.airflow_home()
        return self.airflow_home

    def run(self, body: str, *, header: str = "", **values: object) -> DagRunResult:
        """Run a DAG file, ``header`` then ``body`` (``__CONN__`` is this test's connection id),
        through ``dag.test()``."""
        from tests.operators.airflow_env import dag_source, run_dag_file

        values.setdefault("conn", self.conn_id)
        source = textwrap.dedent(header) + textwrap.dedent(body)
        return run_dag_file(self.home, dag_source(source, **values))


async def run_trigger(trigger: BaseTrigger, timeout: float = 15.0) -> dict[str, Any]:
    """Run ``trigger`` as the triggerer does and return its one event's payload."""

    async def collect() -> list[Any]:
        return [event async for event in trigger.run()]

    events = await asyncio.wait_for(collect(), timeout)
    assert len(events) == 1, events
    return dict(events[0].payload)
