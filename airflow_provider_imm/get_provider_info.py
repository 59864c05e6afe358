"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from airflow_provider_imm import __version__
from airflow_provider_imm.hooks.connection import (
    AUTH_TYPES,
    EXTRA_DEFAULTS,
    MIN_TIMEOUT,
    PROTOCOLS,
    SUBSCRIPTION_FORMATS,
)


def get_provider_info() -> dict[str, Any]:
    """The provider's metadata: its modules, extra link and the ``imm`` connection's form."""
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
                "python-modules": [
                    "airflow_provider_imm.operators.imm",
                    "airflow_provider_imm.operators.batch",
                ],
            }
        ],
        "sensors": [
            {"integration-name": "Alibaba Cloud IMM", "python-modules": ["airflow_provider_imm.sensors.imm"]}
        ],
        "triggers": [
            {
                "integration-name": "Alibaba Cloud IMM",
                "python-modules": [
                    "airflow_provider_imm.triggers.imm",
                    "airflow_provider_imm.triggers.mns_event",
                    "airflow_provider_imm.triggers.batch",
                ],
            }
        ],
        "queues": ["airflow_provider_imm.queues.mns.MnsMessageQueueProvider"],
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
                        **_PLACEHOLDERS,
                        **{name: f"{value} (default)" for name, value in _SHOWN_DEFAULTS.items()},
                    },
                },
            }
        ],
    }


def _text(label: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": {"type": ["string", "null"], **schema}}


def _number(label: str, description: str, kind: str = "number", **schema: Any) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": {"type": [kind, "null"], **schema}}


def _choice(label: str, description: str, name: str, choices: tuple[str, ...]) -> dict[str, Any]:
    """A select box, preset to the hook's own default."""
    return _text(label, description, enum=list(choices), default=EXTRA_DEFAULTS[name])


# Stored in the connection's extras under these names; hooks/connection.py validates them. Airflow
# shows them in this order: what every user sets first, then the credential kind and the fields of
# each kind (an AccessKey user stops before them), then tuning that rarely needs changing.
_CONN_FIELDS: dict[str, Any] = {
    # Common
    "region": _text("Region", "Region id of the IMM project; the endpoint is imm.<region>.aliyuncs.com."),
    "project": _text("Default project", "IMM project used when a task does not name one."),
    "mns_queue": _text(
        "MNS queue", "Queue task notifications are read from; create it with imm-setup-notifications."
    ),
    "mns_topic": _text("MNS topic", "Topic IMM publishes task notifications to (the operator adds it)."),
    "mns_subscription": _text("MNS subscription", "Subscription that delivers the topic to the queue."),
    "account_id": _text(
        "Account ID", "Alibaba Cloud account id; with the region it gives the MNS endpoint and queue ARN."
    ),
    "rocketmq_endpoint": _text(
        "RocketMQ endpoint", "Instead of MNS: the ApsaraMQ for RocketMQ 5.x gRPC endpoint, host:port."
    ),
    "rocketmq_instance_id": _text("RocketMQ instance", "Instance id IMM notifies (the operator adds it)."),
    "rocketmq_topic": _text("RocketMQ topic", "Topic IMM publishes task notifications to."),
    "rocketmq_group": _text("RocketMQ consumer group", "Group the triggers read notifications with."),
    "rocketmq_username": _text("RocketMQ username", "Instance username; empty: the AccessKey pair signs."),
    "rocketmq_password": _text(
        "RocketMQ password", "Instance password; empty: the AccessKey pair signs.", format="password"
    ),
    "endpoint": _text(
        "IMM endpoint",
        "Only to override the regional endpoint: a VPC endpoint, or host:port of the emulator.",
    ),
    "protocol": _choice("Protocol", "https; http only for the local emulator.", "protocol", PROTOCOLS),
    "mns_endpoint": _text("MNS endpoint", "Only to override the one account id and region give."),
    # Credential kind, then each kind's own fields
    "auth_type": _text(
        "Credential kind",
        "Empty: inferred from what is filled in (an AccessKey pair is access_key). sts adds a token; "
        "ram_role_arn and oidc_role_arn assume a RAM role; ecs_ram_role uses the instance's role; "
        "default is the SDK's default credential chain.",
        enum=list(AUTH_TYPES),
    ),
    "security_token": _text("STS security token", "Only for auth_type sts.", format="password"),
    "role_arn": _text("Role ARN", "Only for ram_role_arn and oidc_role_arn: the RAM role to assume."),
    "role_session_name": _text(
        "Role session name", "Only for the role kinds: session name of the assumed role."
    ),
    "role_session_expiration": _number(
        "Role session seconds",
        "Only for the role kinds: lifetime of the assumed role's credentials (library default 3600).",
        "integer",
        minimum=900,
    ),
    "policy": _text(
        "Role policy",
        "Only for the role kinds: JSON policy that narrows the assumed role.",
        format="multiline",
    ),
    "external_id": _text(
        "External ID", "Only for ram_role_arn: external id the role's trust policy asks for."
    ),
    "sts_endpoint": _text(
        "STS endpoint",
        "Only for the role kinds, to override sts.aliyuncs.com; http://host:port for the emulator.",
    ),
    "oidc_provider_arn": _text("OIDC provider ARN", "Only for auth_type oidc_role_arn."),
    "oidc_token_file": _text("OIDC token file", "Only for oidc_role_arn: path of the OIDC token file."),
    "role_name": _text(
        "ECS role name", "Only for ecs_ram_role: the instance's RAM role; empty to discover it."
    ),
    # Tuning
    "mns_subscription_format": _choice(
        "Subscription format",
        "How the subscription wraps messages (notifications are parsed either way).",
        "mns_subscription_format",
        SUBSCRIPTION_FORMATS,
    ),
    "retry_max_attempts": _number(
        "Max attempts", "Attempts per IMM call, the first included.", "integer", minimum=1
    ),
    "retry_max_seconds": _number("Retry time budget", "Seconds one IMM call may spend retrying.", minimum=0),
    "retry_base_delay": _number(
        "First retry delay", "Seconds before the first retry; doubled for each further one.", minimum=0
    ),
    "retry_max_delay": _number("Longest retry delay", "Most seconds between two attempts.", minimum=0),
    "connect_timeout": _number(
        "Connect timeout", "Seconds to wait for a connection (SDK default 5).", minimum=MIN_TIMEOUT
    ),
    "read_timeout": _number(
        "Read timeout", "Seconds to wait for an answer (SDK default 10).", minimum=MIN_TIMEOUT
    ),
}

_PLACEHOLDERS = {
    "region": "cn-hangzhou",
    "project": "my-imm-project",
    "mns_queue": "airflow-imm",
    "mns_topic": "imm-events",
    "mns_subscription": "airflow-imm",
    "account_id": "1234567890123456",
    "rocketmq_endpoint": "rmq-cn-xxx.cn-hangzhou.rmq.aliyuncs.com:8080",
    "rocketmq_instance_id": "rmq-cn-xxx",
    "rocketmq_topic": "imm-events",
    "rocketmq_group": "airflow-imm",
    "rocketmq_username": "instance username",
    "rocketmq_password": "instance password",
    "endpoint": "imm-vpc.cn-hangzhou.aliyuncs.com",
    "mns_endpoint": "https://1234567890123456.mns.cn-hangzhou.aliyuncs.com",
    "auth_type": "access_key",
    "security_token": "CAIS...",
    "role_arn": "acs:ram::1234567890123456:role/airflow-imm",
    "role_session_name": "airflow-imm",
    "role_session_expiration": "3600",
    "policy": '{"Version": "1", "Statement": [...]}',
    "external_id": "abcd1234",
    "sts_endpoint": "sts-vpc.cn-hangzhou.aliyuncs.com",
    "oidc_provider_arn": "acs:ram::1234567890123456:oidc-provider/ack-rrsa-xxx",
    "oidc_token_file": "/var/run/secrets/tokens/oidc-token",
    "role_name": "AliyunECSImmRole",
    "connect_timeout": "5",
    "read_timeout": "10",
}
#: Defaults of the fields without a preset value, shown as their placeholder.
_SHOWN_DEFAULTS = {
    name: value for name, value in EXTRA_DEFAULTS.items() if "default" not in _CONN_FIELDS[name]["schema"]
}
