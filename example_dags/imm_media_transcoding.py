"""Transcode an uploaded video into two MP4 renditions, named by IMM from a TargetURI template.

Triggered per upload (by an upload handler through the REST API, or by hand), with the video and
the campaign it belongs to as params. The outputs land next to each other under
``transcoded/<campaign>/``: the template uses IMM's ``{barename}`` (the source's name without
extension), ``{autoext}`` (the extension of the output's Container, here ``mp4``) and
``{tags.campaign}`` (the request's tag, itself rendered from a param by Airflow).

Runs unchanged against the emulator and against Alibaba Cloud: only the ``imm_default`` connection
differs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_provider_imm.operators.imm import ImmMediaConvertOperator

TARGET = "oss://{{ params.bucket }}/transcoded/{tags.campaign}/{barename}"

with DAG(
    dag_id="imm_media_transcoding",
    description="Transcode one uploaded video to 720p and 360p MP4 with IMM",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=20)},
    params={
        "bucket": Param("imm-demo-media", type="string"),
        "video": Param("uploads/launch-teaser.mov", type="string", description="object key of the upload"),
        "campaign": Param("spring-launch", type="string", pattern="^[a-z0-9-]+$"),
    },
    tags=["imm", "example"],
) as dag:
    transcode = ImmMediaConvertOperator(
        task_id="transcode",
        source_uri="oss://{{ params.bucket }}/{{ params.video }}",
        targets=[
            {
                "URI": TARGET + "_720p.{autoext}",
                "Container": "mp4",
                "Video": {"TranscodeVideo": {"Codec": "h264", "Resolution": "1280x720", "CRF": 23}},
                "Audio": {"TranscodeAudio": {"Codec": "aac", "Bitrate": 128000}},
            },
            {
                "URI": TARGET + "_360p.{autoext}",
                "Container": "mp4",
                "Video": {"TranscodeVideo": {"Codec": "h264", "Resolution": "640x360", "CRF": 28}},
                "Audio": {"TranscodeAudio": {"Codec": "aac", "Bitrate": 64000}},
            },
        ],
        tags={"campaign": "{{ params.campaign }}"},
        timeout=timedelta(hours=1),
    )

    @task
    def publish(result: Any) -> list[str]:
        """Hand the renditions to the CDN publisher (here: return them, in XCom).

        ``result`` is the operator's XCom result: task id, status, times, target and output URIs.
        """
        return sorted(result["output_uris"])

    publish(transcode.output)
