"""The typed operators: keyword arguments become IMM's fields, and they run like the generic one."""

from __future__ import annotations

import io
import zipfile

import pytest

from airflow_provider_imm.operators.imm import (
    ImmCreateTaskOperator,
    ImmFileCompressionOperator,
    ImmFileUncompressionOperator,
    ImmImageToPdfOperator,
    ImmMediaConvertOperator,
    ImmOfficeConversionOperator,
)
from tests.emulated_imm import Imm
from tests.operators.airflow_env import DS


def test_keywords_become_imms_field_names_and_request_adds_the_rest() -> None:
    office = ImmOfficeConversionOperator(
        task_id="office",
        source_uri="oss://docs/a.xlsx",
        target_type="png",
        target_uri="oss://out/{barename}-{index}.{autoext}",
        image_dpi=150,
        long_picture=True,
        tags={"team": "finance"},
        request={"SheetIndex": 2, "PaperSize": "A4"},
    )
    assert office.action == "CreateOfficeConversionTask"
    assert office.request == {
        "SourceURI": "oss://docs/a.xlsx",
        "TargetType": "png",
        "TargetURI": "oss://out/{barename}-{index}.{autoext}",
        "ImageDPI": 150,
        "LongPicture": True,
        "Tags": {"team": "finance"},
        "SheetIndex": 2,
        "PaperSize": "A4",
    }
    media = ImmMediaConvertOperator(
        task_id="media", source_uri="oss://v/a.mov", targets=[{"URI": "oss://o/a.mp4"}]
    )
    assert media.request == {"Sources": [{"URI": "oss://v/a.mov"}], "Targets": [{"URI": "oss://o/a.mp4"}]}
    packed = ImmFileCompressionOperator(
        task_id="zip",
        sources=["oss://b/a.txt", {"URI": "oss://b/dir/", "Alias": "dir/"}],
        target_uri="oss://o/a.zip",
    )
    assert packed.request["Sources"] == [{"URI": "oss://b/a.txt"}, {"URI": "oss://b/dir/", "Alias": "dir/"}]
    unpacked = ImmFileUncompressionOperator(
        task_id="unzip", source_uri="oss://o/a.zip", target_uri="oss://o/a/", selected_files=("x.txt",)
    )
    assert unpacked.request == {
        "SourceURI": "oss://o/a.zip",
        "TargetURI": "oss://o/a/",
        "SelectedFiles": ["x.txt"],
    }
    pdf = ImmImageToPdfOperator(
        task_id="pdf", sources=["oss://b/1.jpg", "oss://b/2.jpg"], target_uri="oss://o/a.pdf"
    )
    assert pdf.request["Sources"] == [{"URI": "oss://b/1.jpg"}, {"URI": "oss://b/2.jpg"}]
    for operator in (office, media, packed, unpacked, pdf):
        assert isinstance(operator, ImmCreateTaskOperator)
        assert tuple(operator.template_fields) == ("request", "project")
        assert operator.template_fields_renderers == {"request": "json"}


def test_a_field_given_twice_or_two_source_forms_fail_at_parse_time() -> None:
    with pytest.raises(ValueError, match="TargetType is given both as a keyword argument and in request="):
        ImmOfficeConversionOperator(task_id="t", target_type="pdf", request={"TargetType": "png"})
    with pytest.raises(ValueError, match="pass source_uri or sources, not both"):
        ImmMediaConvertOperator(task_id="t", source_uri="oss://v/a.mov", sources=["oss://v/b.mov"])
    with pytest.raises(ValueError, match="Did you mean 'CreateOfficeConversionTask'"):
        ImmCreateTaskOperator(task_id="t", action="CreateOfficeConvertionTask")


def test_typed_operators_run_and_the_password_stays_hidden(
    imm: Imm, capfd: pytest.CaptureFixture[str]
) -> None:
    for name in ("a.txt", "b.txt"):
        imm.put(f"oss://docs/pack/{name}", f"text of {name}")
    imm.put("oss://docs/in/report.docx")
    imm.put("oss://media/in/clip.mov")
    imm.put("oss://media/in/1.jpg")
    imm.put("oss://media/in/2.jpg")
    secret = "archive-password-6f1d"
    result = imm.run(
        """
        from airflow.sdk import DAG
        from airflow_provider_imm.operators.imm import (
            ImmFileCompressionOperator, ImmFileUncompressionOperator, ImmImageToPdfOperator,
            ImmMediaConvertOperator, ImmOfficeConversionOperator,
        )
        from tests.operators.dag_support import DEFAULT_ARGS

        with DAG("typed", schedule=None, default_args=DEFAULT_ARGS) as dag:
            zipped = ImmFileCompressionOperator(
                task_id="zip", imm_conn_id=__CONN__,
                sources=["oss://docs/pack/a.txt", "oss://docs/pack/b.txt"],
                target_uri="oss://out/{{ ds }}/pack.zip",
            )
            unzipped = ImmFileUncompressionOperator(
                task_id="unzip", imm_conn_id=__CONN__,
                source_uri="oss://out/{{ ds }}/pack.zip", target_uri="oss://out/{{ ds }}/unpacked/",
                password=__SECRET__,
            )
            zipped >> unzipped
            ImmOfficeConversionOperator(
                task_id="office", imm_conn_id=__CONN__, source_uri="oss://docs/in/report.docx",
                target_type="pdf", target_uri="oss://out/{{ ds }}/{barename}.{autoext}",
            )
            ImmMediaConvertOperator(
                task_id="media", imm_conn_id=__CONN__, source_uri="oss://media/in/clip.mov",
                targets=[{"URI": "oss://out/{{ ds }}/{barename}.{autoext}", "Container": "mp4"}],
            )
            ImmImageToPdfOperator(
                task_id="pdf", imm_conn_id=__CONN__, sources=["oss://media/in/1.jpg", "oss://media/in/2.jpg"],
                target_uri="oss://out/{{ ds }}/album.pdf",
            )
        """,
        secret=secret,
    )
    assert {key: run.state for key, run in result.tasks.items()} == dict.fromkeys(
        ("zip", "unzip", "office", "media", "pdf"), "success"
    )
    archive = zipfile.ZipFile(io.BytesIO(imm.emulator.oss.get("out", f"{DS}/pack.zip")))
    assert sorted(archive.namelist()) == ["a.txt", "b.txt"]
    assert imm.emulator.oss.get("out", f"{DS}/unpacked/b.txt") == b"text of b.txt"
    assert result["zip"].xcom["output_uris"] == [f"oss://out/{DS}/pack.zip"]
    assert result["office"].xcom["output_uris"] == [f"oss://out/{DS}/report.pdf"]
    assert result["media"].xcom["output_uris"] == [f"oss://out/{DS}/clip.mp4"]
    assert result["pdf"].xcom["output_uris"] == [f"oss://out/{DS}/album.pdf"]
    assert all(
        imm.exists(uri) for key in ("office", "media", "pdf") for uri in result[key].xcom["output_uris"]
    )
    # Rendered for the UI as IMM's fields, the password masked; never in the logs.
    rendered = result["unzip"].rendered["request"]
    assert rendered["SourceURI"] == f"oss://out/{DS}/pack.zip"
    assert rendered["Password"] != secret and secret not in str(result["unzip"].rendered)
    output = capfd.readouterr()
    assert secret not in output.out + output.err


def test_tags_on_an_action_without_tags_fail_at_parse_time() -> None:
    with pytest.raises(TypeError, match="CreateFileCompressionTask has no Tags: remove tags="):
        ImmFileCompressionOperator(task_id="t", target_uri="oss://o/a.zip", tags={"team": "a"})
    packed = ImmFileCompressionOperator(
        task_id="zip", sources=["oss://b/a.txt"], target_uri="oss://o/a.zip", user_data="u"
    )
    assert packed.request == {
        "Sources": [{"URI": "oss://b/a.txt"}],
        "TargetURI": "oss://o/a.zip",
        "UserData": "u",
    }


def test_typed_operators_expand_over_their_keywords() -> None:
    from airflow.sdk import DAG

    with DAG("typed_mapped", schedule=None):
        mapped = ImmOfficeConversionOperator.partial(
            task_id="office", target_type="pdf", target_uri="oss://o/{barename}.pdf", tags={"team": "a"}
        ).expand(source_uri=["oss://d/a.docx", "oss://d/b.docx"])
    assert mapped.expand_input.value == {"source_uri": ["oss://d/a.docx", "oss://d/b.docx"]}
    assert mapped.partial_kwargs["tags"] == {"team": "a"}
