"""The ``imm`` connection's RocketMQ settings: IMM's second notification channel (``Notification.RocketMQ``).

ApsaraMQ for RocketMQ 5.x serves RocketMQ 5's gRPC protocol; the official ``rocketmq-python-client``
(the optional ``rocketmq`` extra) talks to it. Extras: ``rocketmq_endpoint`` (``host:port``, or
``https://host:port`` for TLS), ``rocketmq_instance_id`` (IMM names the instance in the task's
notification), ``rocketmq_topic``, ``rocketmq_group`` (the consumer group the triggers read with),
and optionally ``rocketmq_username``/``rocketmq_password`` (the instance's credentials; without them
the connection's AccessKey pair signs, which ApsaraMQ also accepts).

Parsing is pure and imports no client: a connection without RocketMQ, or a machine without the
extra, never loads it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_imm.hooks.exceptions import ImmConnectionConfigError

#: The extras, with what each is for (the connection's error messages and form show these).
ROCKETMQ_EXTRAS: Mapping[str, str] = {
    "rocketmq_endpoint": "RocketMQ 5 gRPC endpoint host:port (https://host:port for TLS)",
    "rocketmq_instance_id": "ApsaraMQ for RocketMQ instance id IMM notifies, e.g. rmq-cn-...",
    "rocketmq_topic": "RocketMQ topic IMM publishes task notifications to",
    "rocketmq_group": "RocketMQ consumer group the triggers read notifications with",
    "rocketmq_username": "instance username (default: the connection's AccessKey ID)",
    "rocketmq_password": "instance password (default: the connection's AccessKey secret)",
}
_REQUIRED = ("rocketmq_endpoint", "rocketmq_instance_id", "rocketmq_topic", "rocketmq_group")
_NAME = re.compile(r"^[%|a-zA-Z0-9_-]{1,127}$")
_ENDPOINT = re.compile(
    r"^(?:(?P<scheme>https?)://)?(?P<host>[A-Za-z0-9.\-]+|\[[0-9a-fA-F:]+\]):(?P<port>\d{1,5})$"
)
NAME_RULE = "1-127 letters, digits, '%', '|', '_' or '-'"


class RocketMqConfigError(ImmConnectionConfigError):
    """A RocketMQ extra is missing or malformed; the message names it and the fix."""


@dataclass(frozen=True)
class RocketMqSettings:
    """Where IMM's RocketMQ notifications go and how they are read. The password is kept out of repr."""

    endpoint: str
    tls: bool
    instance_id: str
    topic: str
    group: str
    username: str | None
    password: str | None = field(default=None, repr=False)

    @property
    def identity(self) -> str:
        """Who reads, as a digest holding no secret (consumers are shared per identity)."""
        parts = f"{self.username}\x00{self.password}".encode("utf-8", "backslashreplace")
        return hashlib.sha256(parts).hexdigest()[:32]

    def notification(self) -> dict[str, str]:
        """The request's ``Notification.RocketMQ`` (SDK 5.0.3's model: InstanceId, TopicName)."""
        return {"InstanceId": self.instance_id, "TopicName": self.topic}


def parse_rocketmq(
    conn_id: str, extras: Mapping[str, Any], access_key: tuple[str | None, str | None]
) -> RocketMqSettings | None:
    """The RocketMQ settings of connection ``conn_id`` (None when it names none); ``access_key`` is
    the connection's AccessKey pair, the default credentials."""

    def text(key: str) -> str | None:
        value = extras.get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise RocketMqConfigError(f"Connection {conn_id!r}: extra {key!r} must be a string.")
        return value.strip() or None

    values = {key: text(key) for key in ROCKETMQ_EXTRAS}
    if not any(values[key] for key in _REQUIRED):
        if values["rocketmq_username"] or values["rocketmq_password"]:
            raise RocketMqConfigError(
                f"Connection {conn_id!r}: RocketMQ credentials are set but no RocketMQ channel: "
                f"set {', '.join(repr(k) for k in _REQUIRED)} too, or remove them."
            )
        return None
    missing = [key for key in _REQUIRED if not values[key]]
    if missing:
        raise RocketMqConfigError(
            f"Connection {conn_id!r}: RocketMQ notifications need extras {', '.join(map(repr, missing))} "
            f"as well (imm-setup-notifications checks them)."
        )
    endpoint = str(values["rocketmq_endpoint"])
    match = _ENDPOINT.match(endpoint)
    if match is None or not 0 < int(match["port"]) < 65536:
        raise RocketMqConfigError(
            f"Connection {conn_id!r}: extra 'rocketmq_endpoint' {endpoint[:40]!r} must be host:port, "
            "e.g. rmq-cn-xxx.cn-hangzhou.rmq.aliyuncs.com:8080 (https://host:port for TLS)."
        )
    for key in ("rocketmq_topic", "rocketmq_group"):
        if not _NAME.match(str(values[key])):
            raise RocketMqConfigError(
                f"Connection {conn_id!r}: extra {key!r} {str(values[key])[:40]!r} is not a RocketMQ name: "
                f"use {NAME_RULE}."
            )
    username, password = values["rocketmq_username"], values["rocketmq_password"]
    if (username is None) != (password is None):
        raise RocketMqConfigError(
            f"Connection {conn_id!r}: set both 'rocketmq_username' and 'rocketmq_password', or neither "
            "(then the connection's AccessKey pair signs)."
        )
    if username is None:
        username, password = access_key
        if username is None or password is None:
            raise RocketMqConfigError(
                f"Connection {conn_id!r}: RocketMQ requests are signed with a long-term AccessKey pair "
                "or the instance's credentials, and this connection has no AccessKey pair (an STS "
                "token, a role or the default chain cannot sign them): set 'rocketmq_username' and "
                "'rocketmq_password'."
            )
    return RocketMqSettings(
        endpoint=f"{match['host']}:{match['port']}",
        tls=match["scheme"] == "https",
        instance_id=str(values["rocketmq_instance_id"]),
        topic=str(values["rocketmq_topic"]),
        group=str(values["rocketmq_group"]),
        username=username,
        password=password,
    )


def simple_consumer_factory(settings: RocketMqSettings, await_seconds: int) -> Callable[[], Any]:
    """Makes a started ``SimpleConsumer`` of the settings' group on their topic (call it on a worker
    thread: starting queries the route and blocks)."""

    def make() -> Any:
        config = client_configuration(settings)
        from rocketmq import FilterExpression, SimpleConsumer

        consumer = SimpleConsumer(
            config,
            settings.group,
            {settings.topic: FilterExpression()},
            await_duration=await_seconds,
            tls_enable=settings.tls,
        )
        consumer.startup()
        return consumer

    return make


@dataclass(frozen=True)
class RocketMqChannel:
    """The outcome of :func:`ensure_rocketmq_channel`: the topic and group, and which were created."""

    topic: str
    group: str
    created: tuple[str, ...]


def ensure_rocketmq_channel(settings: RocketMqSettings, emulator_url: str | None = None) -> RocketMqChannel:
    """Check that the topic and consumer group exist, signed as the client signs (QueryRoute for the
    topic, Heartbeat naming the group). ApsaraMQ creates both in its console or OpenAPI, not over
    gRPC; on the emulator (``emulator_url``, its HTTP address; only for a loopback endpoint) missing
    ones are created through its admin API. Whether the real proxy refuses a heartbeat of an unknown
    group is undocumented: only an explicit ``CONSUMER_GROUP_NOT_FOUND`` counts as missing."""
    missing = _missing(settings)
    created: list[str] = []
    if missing and emulator_url and _is_loopback(settings.endpoint):
        import urllib.request

        for kind in missing:
            name = settings.topic if kind == "topic" else settings.group
            request = urllib.request.Request(
                f"{emulator_url}/_emulator/rocketmq/{kind}s/{name}", method="PUT"
            )
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
            with opener.open(request, timeout=10) as response:
                if json.loads(response.read()).get("created"):
                    created.append(kind)
        missing = _missing(settings)
    if missing:
        names = {"topic": f"topic {settings.topic!r}", "group": f"consumer group {settings.group!r}"}
        absent = " and no ".join(names[k] for k in missing)
        raise RocketMqConfigError(
            f"RocketMQ instance {settings.instance_id!r} has no {absent}: "
            "create them in the ApsaraMQ for RocketMQ console (topic of type Normal; group with the "
            "default delivery order), or fix extras 'rocketmq_topic' / 'rocketmq_group'."
        )
    return RocketMqChannel(settings.topic, settings.group, tuple(created))


def client_configuration(settings: RocketMqSettings) -> Any:
    """The client's ``ClientConfiguration`` for ``settings``; a clear error without the extra."""
    try:
        from rocketmq import ClientConfiguration, Credentials
    except ImportError as err:
        raise RocketMqConfigError(
            "RocketMQ notifications need the optional extra: pip install 'airflow-provider-imm[rocketmq]'"
        ) from err
    return ClientConfiguration(
        settings.endpoint, Credentials(settings.username or "", settings.password or "")
    )


def _missing(settings: RocketMqSettings) -> list[str]:
    config = client_configuration(settings)
    import grpc
    from rocketmq.grpc_protocol import Code, HeartbeatRequest, QueryRouteRequest
    from rocketmq.grpc_protocol.service_pb2_grpc import MessagingServiceStub
    from rocketmq.v5.util import Signature

    channel = (
        grpc.secure_channel(settings.endpoint, grpc.ssl_channel_credentials())
        if settings.tls
        else (grpc.insecure_channel(settings.endpoint))
    )
    with channel:
        stub = MessagingServiceStub(channel)
        route = QueryRouteRequest()
        route.topic.name = settings.topic
        route.endpoints.CopyFrom(config.rpc_endpoints.endpoints)
        answer = stub.QueryRoute(route, metadata=Signature.metadata(config, "imm-setup"), timeout=10)
        if answer.status.code == Code.UNAUTHORIZED:
            raise RocketMqConfigError(
                f"RocketMQ refused the credentials ({answer.status.message[:120]}): check extras "
                "'rocketmq_username'/'rocketmq_password' or the connection's AccessKey pair."
            )
        missing = ["topic"] if answer.status.code == Code.TOPIC_NOT_FOUND else []
        heartbeat = HeartbeatRequest()
        heartbeat.group.name = settings.group
        beat = stub.Heartbeat(heartbeat, metadata=Signature.metadata(config, "imm-setup"), timeout=10)
        if beat.status.code == Code.CONSUMER_GROUP_NOT_FOUND:
            missing.append("group")
    return missing


def _is_loopback(endpoint: str) -> bool:
    host = endpoint.rpartition(":")[0].strip("[]")
    return host in {"localhost", "127.0.0.1", "::1"} or host.startswith("127.")
