"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from airflow_provider_imm import __version__


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-imm",
        "name": "Alibaba Cloud Intelligent Media Management (IMM)",
        "description": "Submit IMM tasks (document conversion, media transcoding, compression, ...) and "
        "wait for them, deferred, on the MNS notification IMM publishes when they end.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Alibaba Cloud IMM",
                "external-doc-url": "https://www.alibabacloud.com/help/en/imm/",
                "tags": ["alibaba"],
            }
        ],
    }
