"""The connection's secret and STS token reach nothing Airflow keeps or shows, in real task runs.

One DAG run on STS credentials: a submission that defers (its trigger serialised and run), one that
succeeds on the worker, one that IMM fails. Then everything Airflow stored or printed is scanned for
the secret and the token, raw and encoded (:mod:`tests.secret_scan`): every XCom, the rendered
fields, the triggers as serialised and as stored, the resumed tasks' ``next_kwargs``, every log
record (stdlib at DEBUG; structlog at the level Airflow lets through), the console, and the
exceptions raised.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

import pytest
import structlog.testing

from airflow_provider_imm.operators.imm import ImmTaskFailedError
from airflow_provider_imm.triggers.imm import ImmTaskCompletedTrigger
from tests.emulated_imm import Imm
from tests.operators.airflow_env import DagRunResult
from tests.secret_scan import RootCapture, assert_no_secret, record_texts

STS_KEY_ID = "STS.runsSecretScanKey"
#: Characters that percent-encoding, JSON-escaping and base64 each change.
STS_SECRET = 'Run/Secret+Key=\\Value"3318'
TOKEN = "CAIS/runsToken+Value=7740"
SECRETS = (STS_SECRET, TOKEN)

DAG_FILE = """
import json

from airflow.sdk import DAG
from airflow_provider_imm.operators.batch import ImmBatchOperator
from airflow_provider_imm.operators.imm import ImmCreateTaskOperator
from tests.operators.dag_support import DEFAULT_ARGS

PDF = {"SourceURI": "oss://docs/in/report.docx", "TargetType": "pdf", "TargetURI": "oss://out/{barename}.pdf"}
SLOW = json.dumps({"imm-emulator": {"duration": 0.5}})

with DAG("secrets_in_runs", schedule=None, default_args=DEFAULT_ARGS) as dag:
    ImmCreateTaskOperator(
        task_id="deferred",
        imm_conn_id=__CONN__,
        action="CreateOfficeConversionTask",
        request={**PDF, "UserData": SLOW},
    )
    ImmCreateTaskOperator(
        task_id="on_worker",
        imm_conn_id=__CONN__,
        action="CreateOfficeConversionTask",
        request={**PDF, "TargetURI": "oss://out/w/{barename}.pdf"},
        deferrable=False,
        poll_interval=0.2,
    )
    ImmCreateTaskOperator(
        task_id="imm_fails",
        imm_conn_id=__CONN__,
        action="CreateOfficeConversionTask",
        # Slow too: the operator's GetTask must find it running for it to defer.
        request={**PDF, "SourceURI": "oss://docs/missing.docx", "UserData": SLOW},
    )
    ImmBatchOperator(
        task_id="batch",
        imm_conn_id=__CONN__,
        action="CreateOfficeConversionTask",
        request={"TargetType": "pdf", "TargetURI": "oss://out/b/{barename}.pdf"},
        sources=["oss://docs/in/report.docx", "oss://docs/missing.docx"],
        failure_policy="never",
        reconcile_interval=2.0,
    )
"""


def run_scanned(
    imm: Imm, monkeypatch: pytest.MonkeyPatch, capture: RootCapture
) -> tuple[DagRunResult, list[Any], list[dict[str, Any]]]:
    """The DAG run on STS credentials, with every trigger's ``serialize()`` result and the structlog
    entries; stdlib records reach ``capture``."""
    imm.emulator.accounts.add_sts(STS_KEY_ID, STS_SECRET, TOKEN)
    imm.conn_id = imm.connection(access_key_id=STS_KEY_ID, access_key_secret=STS_SECRET, security_token=TOKEN)
    imm.put("oss://docs/in/report.docx")
    serialized: list[Any] = []
    serialize = ImmTaskCompletedTrigger.serialize

    def recording(trigger: ImmTaskCompletedTrigger) -> Any:
        result = serialize(trigger)
        serialized.append(result)
        return result

    monkeypatch.setattr(ImmTaskCompletedTrigger, "serialize", recording)
    with capture, structlog.testing.capture_logs() as logs:
        result = imm.run(DAG_FILE)
    return result, serialized, logs


def _stored_triggers_and_resumes(dag_id: str) -> list[Any]:
    """Every trigger row's kwargs and every task instance's ``next_kwargs``, as the DB holds them."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        stored: list[Any] = [(row.classpath, row.kwargs) for row in session.scalars(select(Trigger))]
        stored += [
            ti.next_kwargs
            for ti in session.scalars(select(TaskInstance).where(TaskInstance.dag_id == dag_id))
        ]
    return stored


def _error_text(error: BaseException) -> str:
    parts = ["".join(traceback.format_exception(error))]
    cause: BaseException | None = error
    while cause is not None:
        parts += [str(cause), repr(cause), repr(cause.args), repr(vars(cause))]
        cause = cause.__cause__ or cause.__context__
    return "\n".join(parts)


def test_no_secret_in_xcom_triggers_logs_or_errors(
    imm: Imm, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    capture = RootCapture()
    result, serialized, logs = run_scanned(imm, monkeypatch, capture)
    # The run did what it should, so every path was taken: deferred and resumed, polled, failed at IMM;
    # and the secret and token were in play (the emulator refuses an STS key without its token).
    assert result["deferred"].state == "success", result["deferred"].errors
    assert result["deferred"].xcom["learned_from"] == "notification"
    assert result["on_worker"].state == "success", result["on_worker"].errors
    assert result["imm_fails"].state == "failed"
    (error,) = result["imm_fails"].errors
    assert isinstance(error, ImmTaskFailedError) and error.code == "ResourceNotFound"
    assert result["batch"].state == "success", result["batch"].errors
    assert (result["batch"].xcom["succeeded"], result["batch"].xcom["failed"]) == (1, 1)
    assert imm.creates() == 5
    assert len(serialized) >= 2  # the two deferrals
    assert all(classpath.endswith("ImmTaskCompletedTrigger") for classpath, _ in serialized)
    # Debug records were captured: the scan looks at more than warnings.
    assert any(record.levelno == logging.DEBUG for record in capture.records)
    assert logs

    console = capfd.readouterr()
    texts = {
        "XCom": repr([task.xcoms for task in result.tasks.values()]),
        "rendered fields": repr([task.rendered for task in result.tasks.values()]),
        "serialised triggers": repr(serialized),
        "stored triggers and next_kwargs": repr(_stored_triggers_and_resumes("secrets_in_runs")),
        "stdlib log records": "\n".join(record_texts(capture.records)),
        "stdlib log records' attributes": "\n".join(repr(vars(record)) for record in capture.records),
        "structlog entries": repr(logs),
        "stdout": console.out,
        "stderr": console.err,
        "exceptions": "\n".join(_error_text(e) for task in result.tasks.values() for e in task.errors),
    }
    for where, text in texts.items():
        assert_no_secret([text], SECRETS, where=where)
