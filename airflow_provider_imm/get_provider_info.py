"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from airflow_provider_imm import __version__
from airflow_provider_imm.hooks.connection import MIN_TIMEOUT


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
        "operators": [
            {
                "integration-name": "Alibaba Cloud IMM",
                "python-modules": ["airflow_provider_imm.operators.imm"],
            }
        ],
        "sensors": [
            {"integration-name": "Alibaba Cloud IMM", "python-modules": ["airflow_provider_imm.sensors.imm"]}
        ],
        "triggers": [
            {"integration-name": "Alibaba Cloud IMM", "python-modules": ["airflow_provider_imm.triggers.imm"]}
        ],
        "hooks": [
            {
                "integration-name": "Alibaba Cloud IMM",
                "python-modules": ["airflow_provider_imm.hooks.imm", "airflow_provider_imm.hooks.mns"],
            }
        ],
        "extra-links": ["airflow_provider_imm.links.imm.ImmConsoleLink"],
        "connection-types": [
            {
                "connection-type": "imm",
                "hook-class-name": "airflow_provider_imm.hooks.imm.ImmHook",
                "hook-name": "Alibaba Cloud IMM",
                "conn-fields": _CONN_FIELDS,
                "ui-field-behaviour": {
                    "hidden-fields": ["host", "port", "schema"],
                    "relabeling": {"login": "AccessKey ID", "password": "AccessKey secret"},
                    "placeholders": {
                        "login": "LTAI5t... (empty for ECS role, OIDC or the default chain)",
                        "password": "AccessKey secret",
                        "region": "cn-hangzhou",
                        "endpoint": "imm-vpc.cn-hangzhou.aliyuncs.com",
                        "project": "my-imm-project",
                        "account_id": "1234567890123456",
                        "role_arn": "acs:ram::1234567890123456:role/airflow-imm",
                        "oidc_provider_arn": "acs:ram::1234567890123456:oidc-provider/ack-rrsa-xxx",
                        "oidc_token_file": "/var/run/secrets/tokens/oidc-token",
                        "sts_endpoint": "sts-vpc.cn-hangzhou.aliyuncs.com",
                        "mns_endpoint": "https://1234567890123456.mns.cn-hangzhou.aliyuncs.com",
                        "mns_topic": "imm-events",
                        "mns_queue": "airflow-imm",
                        "mns_subscription": "airflow-imm",
                    },
                },
            }
        ],
    }


def _text(label: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": {"type": ["string", "null"], **schema}}


def _number(label: str, description: str, kind: str = "number", **schema: Any) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": {"type": [kind, "null"], **schema}}


# Stored in the connection's extras under these names; hooks/connection.py validates them.
_CONN_FIELDS: dict[str, Any] = {
    "region": _text("Region", "Region id, e.g. cn-hangzhou; the endpoint is imm.<region>.aliyuncs.com."),
    "endpoint": _text(
        "Endpoint", "Overrides the regional endpoint: a VPC endpoint, or host:port of the emulator."
    ),
    "protocol": _text(
        "Protocol", "https, or http for the local emulator.", enum=["https", "http"], default="https"
    ),
    "project": _text("Default project", "IMM project used when a task does not name one."),
    "account_id": _text("Account ID", "Alibaba Cloud account id; with the region it names the MNS endpoint."),
    "auth_type": _text(
        "Credential kind",
        "access_key or sts use the AccessKey fields; the role kinds assume a RAM role; default is the "
        "SDK's default credential chain (environment, profile, ECS role, OIDC).",
        enum=["access_key", "sts", "ram_role_arn", "oidc_role_arn", "ecs_ram_role", "default"],
    ),
    "security_token": _text("STS security token", "For auth_type sts.", format="password"),
    "role_arn": _text("Role ARN", "RAM role to assume (ram_role_arn, oidc_role_arn)."),
    "role_session_name": _text("Role session name", "Session name of the assumed role."),
    "role_session_expiration": _number(
        "Role session seconds", "Lifetime of assumed role credentials.", "integer", minimum=900
    ),
    "policy": _text("Role policy", "JSON policy that narrows the assumed role.", format="multiline"),
    "external_id": _text("External ID", "External id required by the role's trust policy."),
    "sts_endpoint": _text("STS endpoint", "Overrides sts.aliyuncs.com; http://host:port for the emulator."),
    "oidc_provider_arn": _text("OIDC provider ARN", "For auth_type oidc_role_arn."),
    "oidc_token_file": _text("OIDC token file", "Path of the OIDC token file, for oidc_role_arn."),
    "role_name": _text("ECS role name", "RAM role of the ECS instance; empty to discover it."),
    "mns_endpoint": _text("MNS endpoint", "https://<account>.mns.<region>.aliyuncs.com"),
    "mns_topic": _text("MNS topic", "Topic IMM publishes task notifications to."),
    "mns_queue": _text("MNS queue", "Queue the notifications are read from."),
    "mns_subscription": _text("MNS subscription", "Subscription that delivers the topic to the queue."),
    "mns_subscription_format": _text(
        "Subscription format", "How the subscription wraps messages.", enum=["JSON", "XML", "SIMPLIFIED"]
    ),
    "retry_max_attempts": _number(
        "Max attempts", "Attempts per IMM call, first included.", "integer", minimum=1
    ),
    "retry_max_seconds": _number("Retry time budget", "Seconds one IMM call may spend retrying.", minimum=0),
    "retry_base_delay": _number(
        "First retry delay", "Seconds before the first retry; doubled for each further one.", minimum=0
    ),
    "retry_max_delay": _number("Longest retry delay", "Most seconds between two attempts.", minimum=0),
    "connect_timeout": _number("Connect timeout", "Seconds.", minimum=MIN_TIMEOUT),
    "read_timeout": _number("Read timeout", "Seconds.", minimum=MIN_TIMEOUT),
}
