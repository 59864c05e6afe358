"""What a request reads and writes: the XCom's output URIs and OpenLineage's datasets."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from airflow.providers.openlineage.extractors.manager import ExtractorManager
from airflow.utils.state import TaskInstanceState

from airflow_provider_imm.catalog import get_operation
from airflow_provider_imm.operators.imm import (
    ImmCreateTaskOperator,
    ImmFileUncompressionOperator,
    ImmOfficeConversionOperator,
)
from airflow_provider_imm.utils.lineage import task_io


@pytest.mark.parametrize(
    ("action", "request_fields", "outputs", "locations"),
    [
        pytest.param(
            "OfficeConversion",
            {
                "SourceURI": "oss://docs/in/report.docx",
                "TargetType": "PDF",
                "TargetURI": "oss://out/d/{barename}.{autoext}",
            },
            ["oss://out/d/report.pdf"],
            ["oss://out/d/report.pdf"],
            id="key variables and autoext from TargetType",
        ),
        pytest.param(
            "OfficeConversion",
            {
                "SourceURI": "oss://docs/in/book.xlsx",
                "TargetType": "png",
                "TargetURI": "oss://out/d/{barename}-{index}.png",
            },
            [],
            ["oss://out/d/"],
            id="pages are IMM's: the folder",
        ),
        pytest.param(
            "MediaConvert",
            {
                "Sources": [{"URI": "oss://media/in/clip.mov"}],
                "Targets": [
                    {"URI": "oss://{bucket}/{tags.team}/{barename}.{autoext}", "Container": "mp4"},
                    {"URI": "oss://out/{t_year}/{barename}.{autoext}", "Container": "mp4"},
                ],
                "Tags": {"team": "news"},
            },
            ["oss://media/news/clip.mp4"],
            ["oss://media/news/clip.mp4", "oss://out/"],
            id="tags known, creation time not",
        ),
        pytest.param(
            "ImageToPDF",
            {
                "Sources": [{"URI": "oss://img/1.jpg"}, {"URI": "oss://img/2.jpg"}],
                "TargetURI": "oss://out/{barename}.pdf",
            },
            [],
            ["oss://out/"],
            id="several sources: which one names the output is IMM's",
        ),
        pytest.param(
            "FileUncompression",
            {"SourceURI": "oss://arch/a.zip", "TargetURI": "oss://out/unpacked/"},
            [],
            ["oss://out/unpacked/"],
            id="a folder target",
        ),
        pytest.param(
            "FileCompression",
            {"Sources": [{"URI": "oss://docs/a/"}], "TargetURI": "oss://out/{{literal}}.zip"},
            ["oss://out/{literal}.zip"],
            ["oss://out/{literal}.zip"],
            id="literal braces",
        ),
    ],
)
def test_outputs_known_from_the_request(
    action: str, request_fields: dict[str, Any], outputs: list[str], locations: list[str]
) -> None:
    io = task_io(get_operation(action), request_fields)
    assert list(io.outputs) == outputs
    assert list(io.output_locations) == locations


def lineage_of(operator: ImmCreateTaskOperator) -> Any:
    class DagRun:
        dag_id, run_id = "nightly", "scheduled__2024-03-09T00:00:00+00:00"

    class TaskInstance:
        task, dag_id, task_id, run_id, try_number, map_index = (
            operator,
            "nightly",
            operator.task_id,
            "r",
            1,
            -1,
        )

    return ExtractorManager().extract_metadata(
        dagrun=DagRun(),
        task=operator,
        task_instance_state=TaskInstanceState.SUCCESS,
        task_instance=TaskInstance(),
    )


def test_openlineage_sees_the_oss_datasets() -> None:
    office = ImmOfficeConversionOperator(
        task_id="office",
        source_uri="oss://docs/in/report.docx",
        target_type="pdf",
        target_uri="oss://out/2024-03-09/{barename}.{autoext}",
    )
    lineage = lineage_of(office)
    assert [(d.namespace, d.name) for d in lineage.inputs] == [("oss://docs", "in/report.docx")]
    assert [(d.namespace, d.name) for d in lineage.outputs] == [("oss://out", "2024-03-09/report.pdf")]
    unzip = ImmFileUncompressionOperator(
        task_id="unzip", source_uri="oss://arch/a.zip", target_uri="oss://out/"
    )
    lineage = lineage_of(unzip)
    assert [(d.namespace, d.name) for d in lineage.outputs] == [("oss://out", "/")]


def test_without_the_openlineage_provider_there_is_no_lineage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "airflow.providers.openlineage.extractors", None)
    office = ImmOfficeConversionOperator(
        task_id="office", source_uri="oss://docs/a.docx", target_type="pdf", target_uri="oss://out/a.pdf"
    )
    assert office.get_openlineage_facets_on_complete(None) is None
