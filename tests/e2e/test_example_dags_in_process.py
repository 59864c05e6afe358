"""The example DAGs that reach OSS, run unchanged (but for their dag_id) with ``dag.test()`` against the
emulator: the nightly conversion finds its inputs through OSS, reads its outputs back and files
its inputs away, skips an empty inbox with no IMM call, and files nothing on a failed night; the
compression DAG downloads its archive and checks its members.

Faster than the deployment test (``test_deployment.py``), so each outcome gets a run of its own. The
DAGs use the default connection ids, ``imm_default`` and ``oss_default``, set here from
``ImmEmulator.airflow_connections()`` as a user's DAG test would.
"""

from __future__ import annotations

import io
import itertools
import zipfile
from datetime import datetime, timezone

import pytest

from tests.e2e.deployment import EXAMPLE_DAGS
from tests.emulated_imm import FAST_RETRIES, QUEUE, SUBSCRIPTION, TOPIC, Imm
from tests.operators.airflow_env import DagRunResult, run_dag_file

BUCKET = "imm-demo-docs"
NIGHTLY = "imm_nightly_document_conversion"
COMPRESS = "imm_compress_run_outputs"
#: After the example DAGs' start_date (a task does not run before its start_date).
LOGICAL_DATE = datetime(2026, 11, 20, 2, tzinfo=timezone.utc)
DS = "2026-11-20"
_runs = itertools.count()


@pytest.fixture
def example(imm: Imm, monkeypatch: pytest.MonkeyPatch) -> Imm:
    """``imm`` with the example DAGs' connections, ``imm_default`` and ``oss_default``, pointing at it."""
    connections = imm.emulator.airflow_connections(
        mns_topic=TOPIC, mns_queue=QUEUE, mns_subscription=SUBSCRIPTION, **FAST_RETRIES
    )
    assert set(connections) == {"imm_default", "oss_default"}
    for conn_id, value in connections.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)
    return imm


def run_example(imm: Imm, name: str, *, retries: int | None = None) -> DagRunResult:
    """The example DAG file ``name`` through ``dag.test()``, under a dag_id of its own (and with
    ``retries`` instead of the DAG's 2, where a test wants a failure to stay one)."""
    source = (EXAMPLE_DAGS / f"{name}.py").read_text()
    source = source.replace(f'dag_id="{name}"', f'dag_id="{name}_{next(_runs)}"')
    if retries is not None:
        source = source.replace('"retries": 2,', f'"retries": {retries},')
    return run_dag_file(imm.home, source, LOGICAL_DATE)


def test_the_nightly_dag_converts_what_it_finds_checks_the_pdfs_and_files_the_documents(example: Imm) -> None:
    names = ["b.docx", "a.docx", "sub/c.xlsx"]
    for name in names:
        example.put(f"oss://{BUCKET}/inbox/{name}", f"contents of {name}")
    example.put(f"oss://{BUCKET}/elsewhere/d.docx")

    result = run_example(example, NIGHTLY)

    assert result.state == "success", result.tasks
    found = [f"oss://{BUCKET}/inbox/{name}" for name in sorted(names)]
    assert result["find_documents"].xcom == found
    outputs = [f"oss://{BUCKET}/outbox/{DS}/finance/{stem}.pdf" for stem in ("a", "b", "c")]
    checked = result["check_outputs"].xcom
    assert sorted(checked["outputs"]) == outputs
    assert all(size > 0 for size in checked["outputs"].values())
    assert sorted(checked["imm_tasks"]) == sorted(t["TaskId"] for t in example.tasks())
    assert example.creates() == 3
    # The documents moved to processed/<ds>/, nothing else touched.
    processed = [uri.replace("/inbox/", f"/processed/{DS}/") for uri in found]
    assert result["file_documents"].xcom == processed
    assert example.emulator.oss.list(BUCKET, "inbox/") == []
    assert example.emulator.oss.get(BUCKET, f"processed/{DS}/sub/c.xlsx") == b"contents of sub/c.xlsx"
    assert example.exists(f"oss://{BUCKET}/elsewhere/d.docx")


def test_an_empty_inbox_skips_the_night_with_no_imm_call(example: Imm) -> None:
    example.put(f"oss://{BUCKET}/processed/2026-11-19/a.docx")  # last night's, filed away

    result = run_example(example, NIGHTLY)

    assert result.state == "success"
    assert {key: task.state for key, task in result.tasks.items()} == dict.fromkeys(
        ["find_documents", "convert_to_pdf", "check_outputs", "file_documents"], "skipped"
    )
    assert example.creates() == 0


def test_a_failed_conversion_files_nothing_away(example: Imm) -> None:
    for name in ("a.docx", "b.docx"):
        example.put(f"oss://{BUCKET}/inbox/{name}")
    example.emulator.imm.set_behaviour(
        "CreateOfficeConversionTask", status="Failed", code="InvalidDocument", message="damaged"
    )

    result = run_example(example, NIGHTLY, retries=0)

    assert result.state == "failed"
    assert {result["check_outputs"].state, result["file_documents"].state} == {"upstream_failed"}
    assert example.emulator.oss.list(BUCKET, "inbox/") == ["inbox/a.docx", "inbox/b.docx"]
    assert example.emulator.oss.list(BUCKET, "processed/") == []


def test_the_compression_dag_downloads_its_archive_and_checks_its_members(example: Imm) -> None:
    for name in ("sales.xlsx", "support.docx"):
        example.put(f"oss://{BUCKET}/drafts/{name}")

    result = run_example(example, COMPRESS)

    assert result.state == "success", result.tasks
    ds_nodash = DS.replace("-", "")
    archive = f"oss://{BUCKET}/archives/reports-{DS}.zip"
    (pack_task,) = [t["TaskId"] for t in example.tasks() if t["TaskType"] == "FileCompression"]
    assert result["check_archive"].xcom == {
        "archive": archive,
        "imm_task_id": pack_task,
        "members": [f"reports-{ds_nodash}/sales.pdf", f"reports-{ds_nodash}/support.pdf"],
    }


def test_the_compression_dag_fails_on_an_archive_with_other_members(example: Imm) -> None:
    """A stray PDF in the run's folder gets packed too: the archive is not what the run rendered."""
    for name in ("sales.xlsx", "support.docx"):
        example.put(f"oss://{BUCKET}/drafts/{name}")
    example.put(f"oss://{BUCKET}/reports/{DS}/stray.pdf", b"not a report of this run")

    result = run_example(example, COMPRESS, retries=0)

    assert result.state == "failed"
    assert result["check_archive"].state == "failed"
    with zipfile.ZipFile(
        io.BytesIO(example.emulator.oss.get(BUCKET, f"archives/reports-{DS}.zip"))
    ) as archive:
        assert f"reports-{DS.replace('-', '')}/stray.pdf" in archive.namelist()
