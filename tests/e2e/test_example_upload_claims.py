"""The claim by which ``imm_convert_on_upload`` converts each upload in exactly one run, against the
emulator's OSS through the client the DAG uses (``OSSHook``'s ``alibabacloud-oss-v2`` client).

The deployment test (``test_event_driven.py``) shows it end to end, where runs race only when a
triggerer is killed at the right moment; here runs race on every upload, and retry.
"""

from __future__ import annotations

import importlib.util
import json
import random
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any

import pytest

from airflow_provider_imm.emulator import ImmEmulator
from tests.e2e.deployment import EXAMPLE_DAGS

BUCKET = "imm-claims-docs"
DAG_ID = "imm_convert_on_upload"


@pytest.fixture(scope="module")
def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "imm_convert_on_upload_claims", EXAMPLE_DAGS / f"{DAG_ID}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def client(emulator: ImmEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    import alibabacloud_oss_v2 as oss
    from airflow.providers.alibaba.cloud.hooks.oss import OSSHook

    for conn_id, value in emulator.airflow_connections().items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)
    made = OSSHook(oss_conn_id="oss_default").get_bucket()
    made.put_bucket(oss.PutBucketRequest(bucket=BUCKET))
    yield made


def _run(run_id: str, dag_id: str = DAG_ID) -> dict[str, str]:
    return {"dag_id": dag_id, "run_id": run_id}


def _payload(key: str, message_id: str) -> dict[str, Any]:
    return {"source": "oss", "bucket": BUCKET, "key": key, "etag": "E", "message_id": message_id}


def test_of_runs_claiming_the_same_uploads_at_once_each_upload_is_held_by_exactly_one(
    example: ModuleType, client: Any, emulator: ImmEmulator
) -> None:
    uploads = [(f"{i:032X}", f"oss://{BUCKET}/inbox/{i:03d}.docx") for i in range(40)]
    runs = [_run(f"asset_triggered__{n}") for n in range(4)]
    start = threading.Barrier(len(runs))

    def claim(run: dict[str, str]) -> set[tuple[str, str]]:
        mine = random.Random(run["run_id"]).sample(uploads, len(uploads))  # each run in its own order
        start.wait()
        return example.claim_uploads(client, BUCKET, "claims/x/", mine, run)

    with ThreadPoolExecutor(len(runs)) as pool:
        held = list(pool.map(claim, runs))
    assert sorted(u for h in held for u in h) == sorted(uploads)  # each upload held once, none lost
    assert sum(1 for h in held if h) > 1  # the runs did race
    # A retry of a run holds what it held, and nothing another run claimed.
    assert [example.claim_uploads(client, BUCKET, "claims/x/", uploads, run) for run in runs] == held
    # Each claim names its run and the object; one small object per upload.
    for run, mine in zip(runs, held, strict=True):
        for message_id, uri in mine:
            (claim,) = emulator.oss.list(BUCKET, f"claims/x/{message_id}/")
            assert json.loads(emulator.oss.get(BUCKET, claim)) == {**run, "object": uri}
    assert len(emulator.oss.list(BUCKET, "claims/")) == len(uploads)


def test_a_run_converts_the_objects_of_which_it_holds_an_upload(
    example: ModuleType, client: Any, emulator: ImmEmulator
) -> None:
    first = [
        _payload("inbox/a.docx", "M1"),
        _payload("inbox/b.docx", "M2"),
        _payload("inbox/a.docx", "M3"),  # a put again: converted once, in its latest upload
        _payload("elsewhere/c.docx", "M4"),  # outside the inbox: neither converted nor claimed
        _payload("inbox/b.docx", "M2"),  # the same message again, folded into the same run
        _payload("inbox/a.docx", "M1"),  # and an earlier upload's, folded too
    ]
    got = example.objects_to_convert(client, BUCKET, first, _run("run-1"))
    assert got == [
        {"source_uri": f"oss://{BUCKET}/inbox/b.docx", "tags": {"upload": "M2"}},
        {"source_uri": f"oss://{BUCKET}/inbox/a.docx", "tags": {"upload": "M3"}},
    ]
    assert example.objects_to_convert(client, BUCKET, first, _run("run-1")) == got  # a retry
    # A second run with redelivered events (a triggerer killed midway): run-1 has them.
    again = [_payload("inbox/a.docx", "M1"), _payload("inbox/b.docx", "M2")]
    assert example.objects_to_convert(client, BUCKET, again, _run("run-2")) == []
    # A new upload of b (a new message) is converted by the run that has it; another DAG reacting
    # to the same uploads claims them for itself.
    newer = [_payload("inbox/b.docx", "M5")]
    assert example.objects_to_convert(client, BUCKET, newer, _run("run-2")) == [
        {"source_uri": f"oss://{BUCKET}/inbox/b.docx", "tags": {"upload": "M5"}}
    ]
    # A newer upload of a whose run also has the redelivered older one: converted all the same.
    mixed = [_payload("inbox/a.docx", "M6"), _payload("inbox/a.docx", "M1")]
    assert example.objects_to_convert(client, BUCKET, mixed, _run("run-3")) == [
        {"source_uri": f"oss://{BUCKET}/inbox/a.docx", "tags": {"upload": "M6"}}
    ]
    other = example.objects_to_convert(client, BUCKET, again, _run("run-1", dag_id="another_dag"))
    assert [o["source_uri"] for o in other] == [
        f"oss://{BUCKET}/inbox/a.docx",
        f"oss://{BUCKET}/inbox/b.docx",
    ]
    assert not any(k.startswith("elsewhere/") or "M4" in k for k in emulator.oss.list(BUCKET, ""))


def test_a_claim_that_fails_otherwise_fails_the_task(example: ModuleType, client: Any) -> None:
    """Only "a claim is there" means another run's: a failed put is not taken for one."""
    import alibabacloud_oss_v2 as oss

    with pytest.raises(oss.exceptions.OperationError, match="NoSuchBucket"):
        example.claim_uploads(client, "no-such-bucket", "claims/x/", [("M1", "oss://b/k")], _run("r"))
