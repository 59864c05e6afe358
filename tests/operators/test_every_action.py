"""The generic operator runs each of the 18 Create*Task actions of the catalog from a minimal request."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from airflow_provider_imm.catalog import OPERATIONS
from tests.operators.conftest import Imm

DOC = "oss://in-bucket/docs/report.docx"
VIDEO = "oss://in-bucket/video/clip.mov"
PHOTO = "oss://in-bucket/images/photo.jpg"
LOGO = "oss://in-bucket/images/logo.png"
CLOUD = "oss://in-bucket/cloud/scan.pcd"
BUNDLE = "oss://in-bucket/archive/bundle.zip"

#: action -> (minimal request, output URIs the request fixes).
MINIMAL: dict[str, tuple[dict[str, Any], list[str]]] = {
    "CreateOfficeConversionTask": (
        {"SourceURI": DOC, "TargetType": "pdf", "TargetURI": "oss://out-bucket/office/{barename}.{autoext}"},
        ["oss://out-bucket/office/report.pdf"],
    ),
    "CreateMediaConvertTask": (
        {
            "Sources": [{"URI": VIDEO}],
            "Targets": [{"URI": "oss://out-bucket/media/{barename}.{autoext}", "Container": "mp4"}],
        },
        ["oss://out-bucket/media/clip.mp4"],
    ),
    "CreateFileCompressionTask": (
        {"Sources": [{"URI": DOC}, {"URI": PHOTO}], "TargetURI": "oss://out-bucket/zip/bundle.zip"},
        ["oss://out-bucket/zip/bundle.zip"],
    ),
    "CreateFileUncompressionTask": ({"SourceURI": BUNDLE, "TargetURI": "oss://out-bucket/unzipped/"}, []),
    "CreateArchiveFileInspectionTask": ({"SourceURI": BUNDLE}, []),
    "CreateImageToPDFTask": (
        {"Sources": [{"URI": PHOTO}, {"URI": LOGO}], "TargetURI": "oss://out-bucket/pdf/album.pdf"},
        ["oss://out-bucket/pdf/album.pdf"],
    ),
    "CreateImageSplicingTask": (
        {"Sources": [{"URI": PHOTO}, {"URI": LOGO}], "TargetURI": "oss://out-bucket/spliced/long.jpg"},
        ["oss://out-bucket/spliced/long.jpg"],
    ),
    "CreateImageModerationTask": ({"SourceURI": PHOTO}, []),
    "CreateVideoModerationTask": ({"SourceURI": VIDEO}, []),
    "CreateVideoLabelClassificationTask": ({"SourceURI": VIDEO}, []),
    "CreateFigureClusteringTask": ({"DatasetName": "faces"}, []),
    "CreateCompressPointCloudTask": (
        {"SourceURI": CLOUD, "TargetURI": "oss://out-bucket/cloud/{barename}.bin"},
        ["oss://out-bucket/cloud/scan.bin"],
    ),
    "CreateLocationDateClusteringTask": (
        {
            "DatasetName": "photos",
            "DateOptions": {"GapDays": 1, "MaxDays": 7, "MinDays": 1},
            "LocationOptions": {"LocationDateClusterLevels": ["city"]},
        },
        [],
    ),
    "CreateFacesSearchingTask": ({"DatasetName": "faces", "Sources": [{"URI": PHOTO}]}, []),
    "CreateSimilarImageClusteringTask": ({"DatasetName": "photos"}, []),
    "CreateFigureClustersMergingTask": ({"DatasetName": "faces", "From": "Cluster-a", "To": "Cluster-b"}, []),
    "CreateHighlightTask": ({"Sources": [{"URI": VIDEO}]}, []),
    "CreateDecodeBlindWatermarkTask": (
        {"SourceURI": PHOTO, "TargetURI": "oss://out-bucket/watermark/{barename}.png"},
        ["oss://out-bucket/watermark/photo.png"],
    ),
}

DAG_FILE = """
from airflow.sdk import DAG
from airflow_provider_imm.operators.imm import ImmCreateTaskOperator
from tests.operators.dag_support import DEFAULT_ARGS

with DAG("every_action", schedule=None, default_args=DEFAULT_ARGS) as dag:
    for action, request in __REQUESTS__.items():
        ImmCreateTaskOperator(task_id=action, imm_conn_id=__CONN__, action=action, request=request)
"""


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_every_action_runs_from_a_minimal_request(imm: Imm) -> None:
    assert set(MINIMAL) == set(OPERATIONS)
    for uri in (DOC, VIDEO, PHOTO, LOGO, CLOUD):
        imm.put(uri, f"content of {uri}")
    imm.put(BUNDLE, zip_bytes({"readme.txt": b"read me\n"}))
    imm.emulator.imm.task_duration = 0.0

    result = imm.run(DAG_FILE, requests={action: request for action, (request, _) in MINIMAL.items()})

    assert {key: run.state for key, run in result.tasks.items()} == dict.fromkeys(MINIMAL, "success")
    tasks = {task["TaskId"]: task for task in imm.tasks()}
    assert len(tasks) == len(MINIMAL) == imm.creates()
    for action, (_request, outputs) in MINIMAL.items():
        operation = OPERATIONS[action]
        xcom = result[action].xcom
        task = tasks[xcom["task_id"]]
        assert task["TaskType"] == xcom["task_type"] == operation.task_type
        assert task["Status"] == xcom["status"] == "Succeeded"
        assert xcom["output_uris"] == outputs
        assert all(imm.exists(uri) for uri in outputs)
        # The task instance's identity travels in Tags, else in UserData (DecodeBlindWatermark has
        # neither: the task state store alone records it).
        if operation.has_tags:
            assert task["Tags"]["airflow-task"] == action
        elif action != "CreateDecodeBlindWatermarkTask":
            assert len(json.loads(task["UserData"])["airflow-ti"]) == 16
    assert imm.exists("oss://out-bucket/unzipped/readme.txt")
