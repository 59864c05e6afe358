"""RocketMQ 5's gRPC ``MessagingService``, the subset ``rocketmq-python-client``'s ``Producer`` and
``SimpleConsumer`` use, over :class:`~airflow_provider_imm.emulator.rocketmq_store.RocketMqStore`.

Requests are signed as the client signs them: metadata ``authorization: MQv2-HMAC-SHA1
Credential=<ak>, SignedHeaders=x-mq-date-time, Signature=<hex HMAC-SHA1(sk, x-mq-date-time)>``.
ApsaraMQ 5.x takes either the instance's username and password or an AccessKey pair of the account
as ``ak``/``sk``; both are accepted here. Refusals travel, as the proxy sends them, in the response's
``status`` (``UNAUTHORIZED``, ``TOPIC_NOT_FOUND``...), which the client raises as exceptions.

Needs the optional ``rocketmq`` extra (grpcio and the client's generated stubs).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import re
import zlib
from collections.abc import AsyncIterator, Callable
from hashlib import sha1
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from rocketmq.grpc_protocol import definition_pb2 as pb
from rocketmq.grpc_protocol import service_pb2 as spb
from rocketmq.grpc_protocol.service_pb2_grpc import (
    MessagingServiceServicer,
    add_MessagingServiceServicer_to_server,
)

from airflow_provider_imm.emulator.rocketmq_store import Delivery, RocketMqError, RocketMqStore

_AUTHORIZATION = re.compile(
    r"^MQv2-HMAC-SHA1 Credential=(?P<ak>[^,]*), SignedHeaders=x-mq-date-time, Signature=(?P<sig>[0-9a-f]+)$"
)
#: Longest a receive's long poll may wait, seconds (the proxy caps it likewise).
MAX_LONG_POLL = 30.0


def _status(code: str = "OK", message: str = "OK") -> pb.Status:
    return pb.Status(code=pb.Code.Value(code), message=message)


def _timestamp(seconds: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


class RocketMqService(MessagingServiceServicer):
    """The servicer; ``credentials(ak)`` returns the secret for ``ak`` or None when unknown;
    ``count(action)`` is told of every call (the emulator's counters, ``rocketmq:<Action>``)."""

    def __init__(
        self,
        store: RocketMqStore,
        credentials: Callable[[str], str | None],
        count: Callable[[str], None] = lambda action: None,
    ) -> None:
        self.store = store
        self._credentials = credentials
        self._count = count

    def add_to(self, server: grpc.aio.Server) -> None:
        add_MessagingServiceServicer_to_server(self, server)

    # Authentication
    def _check(self, context: grpc.aio.ServicerContext, action: str) -> None:
        self._count(action)
        metadata = dict(context.invocation_metadata() or ())
        match = _AUTHORIZATION.match(str(metadata.get("authorization", "")))
        date = str(metadata.get("x-mq-date-time", ""))
        if match is None or not date:
            raise RocketMqError("UNAUTHORIZED", "request is not signed: set the credentials")
        secret = self._credentials(match["ak"]) if match["ak"] else None
        if secret is None:
            raise RocketMqError("UNAUTHORIZED", "the AccessKey or username is not known to this instance")
        expected = hmac.new(secret.encode(), date.encode(), sha1).hexdigest()
        if not hmac.compare_digest(expected, match["sig"]):
            raise RocketMqError("UNAUTHORIZED", "the signature does not match: check the secret or password")

    # Unary calls
    async def QueryRoute(self, request: spb.QueryRouteRequest, context: Any) -> spb.QueryRouteResponse:
        try:
            self._check(context, "QueryRoute")
            self.store.require_topic(request.topic.name)
        except RocketMqError as err:
            return spb.QueryRouteResponse(status=_status(err.code, err.message))
        queue = pb.MessageQueue(
            topic=request.topic,
            id=0,
            permission=pb.Permission.READ_WRITE,
            broker=pb.Broker(name="broker-0", id=0, endpoints=request.endpoints),
            accept_message_types=[pb.MessageType.NORMAL],
        )
        return spb.QueryRouteResponse(status=_status(), message_queues=[queue])

    async def Heartbeat(self, request: spb.HeartbeatRequest, context: Any) -> spb.HeartbeatResponse:
        try:
            self._check(context, "Heartbeat")
            if request.group.name and not self.store.has_group(request.group.name):
                raise RocketMqError("CONSUMER_GROUP_NOT_FOUND", "consumer group does not exist")
        except RocketMqError as err:
            return spb.HeartbeatResponse(status=_status(err.code, err.message))
        return spb.HeartbeatResponse(status=_status())

    async def SendMessage(self, request: spb.SendMessageRequest, context: Any) -> spb.SendMessageResponse:
        try:
            self._check(context, "SendMessage")
            entries = [self._send(message) for message in request.messages]
        except RocketMqError as err:
            return spb.SendMessageResponse(status=_status(err.code, err.message))
        return spb.SendMessageResponse(status=_status(), entries=entries)

    def _send(self, message: pb.Message) -> spb.SendResultEntry:
        props = message.system_properties
        stored = self.store.send(
            message.topic.name,
            bytes(message.body),
            message_id=props.message_id or None,
            tag=props.tag,
            keys=tuple(props.keys),
            properties=dict(message.user_properties),
            born_timestamp=props.born_timestamp.ToNanoseconds() / 1e9
            if props.HasField("born_timestamp")
            else None,
            born_host=props.born_host,
        )
        return spb.SendResultEntry(status=_status(), message_id=stored.message_id, offset=stored.offset)

    async def AckMessage(self, request: spb.AckMessageRequest, context: Any) -> spb.AckMessageResponse:
        try:
            self._check(context, "AckMessage")
        except RocketMqError as err:
            return spb.AckMessageResponse(status=_status(err.code, err.message))
        results = []
        for entry in request.entries:
            try:
                self.store.ack(request.group.name, entry.receipt_handle)
                status = _status()
            except RocketMqError as err:
                status = _status(err.code, err.message)
            results.append(
                spb.AckMessageResultEntry(
                    message_id=entry.message_id, receipt_handle=entry.receipt_handle, status=status
                )
            )
        failed = [r.status for r in results if r.status.code != pb.Code.OK]
        overall = _status() if not failed else failed[0] if len(results) == 1 else _status("MULTIPLE_RESULTS")
        return spb.AckMessageResponse(status=overall, entries=results)

    async def ChangeInvisibleDuration(
        self, request: spb.ChangeInvisibleDurationRequest, context: Any
    ) -> spb.ChangeInvisibleDurationResponse:
        try:
            self._check(context, "ChangeInvisibleDuration")
            seconds = request.invisible_duration.ToNanoseconds() / 1e9
            handle = self.store.change_invisible(request.group.name, request.receipt_handle, seconds)
        except RocketMqError as err:
            return spb.ChangeInvisibleDurationResponse(status=_status(err.code, err.message))
        return spb.ChangeInvisibleDurationResponse(status=_status(), receipt_handle=handle)

    async def NotifyClientTermination(
        self, request: spb.NotifyClientTerminationRequest, context: Any
    ) -> spb.NotifyClientTerminationResponse:
        try:
            self._check(context, "NotifyClientTermination")
        except RocketMqError as err:
            return spb.NotifyClientTerminationResponse(status=_status(err.code, err.message))
        return spb.NotifyClientTerminationResponse(status=_status())

    # Streams
    async def ReceiveMessage(
        self, request: spb.ReceiveMessageRequest, context: Any
    ) -> AsyncIterator[spb.ReceiveMessageResponse]:
        try:
            self._check(context, "ReceiveMessage")
            deliveries = await self._long_poll(request)
        except RocketMqError as err:
            yield spb.ReceiveMessageResponse(status=_status(err.code, err.message))
            return
        if not deliveries:
            yield spb.ReceiveMessageResponse(status=_status("MESSAGE_NOT_FOUND", "no new message"))
            return
        yield spb.ReceiveMessageResponse(status=_status())
        for delivery in deliveries:
            yield spb.ReceiveMessageResponse(message=_message(delivery, request.message_queue.id))

    async def _long_poll(self, request: spb.ReceiveMessageRequest) -> list[Delivery]:
        store = self.store
        topic, group = request.message_queue.topic.name, request.group.name
        invisible = request.invisible_duration.ToNanoseconds() / 1e9
        wait = min(MAX_LONG_POLL, max(0.0, request.long_polling_timeout.ToNanoseconds() / 1e9))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            changed = store.changed()
            deliveries = store.receive(group, topic, request.batch_size or 1, invisible)
            remaining = deadline - loop.time()
            if deliveries or remaining <= 0:
                return deliveries
            comeback = store.next_visible()
            if comeback is not None:
                remaining = min(remaining, max(0.01, comeback - store.now()))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=remaining)

    async def Telemetry(
        self, request_iterator: AsyncIterator[spb.TelemetryCommand], context: Any
    ) -> AsyncIterator[spb.TelemetryCommand]:
        """Answers each settings command with the settings the service imposes."""
        try:
            self._check(context, "Telemetry")
        except RocketMqError as err:
            yield spb.TelemetryCommand(status=_status(err.code, err.message))
            return
        async for command in request_iterator:
            if command.HasField("settings"):
                settings = pb.Settings()
                settings.CopyFrom(command.settings)
                if settings.HasField("publishing"):
                    settings.publishing.max_body_size = 4 * 1024 * 1024
                yield spb.TelemetryCommand(status=_status(), settings=settings)


def _message(delivery: Delivery, queue_id: int) -> pb.Message:
    stored = delivery.message
    props = pb.SystemProperties(
        tag=stored.tag or None,
        keys=list(stored.keys),
        message_id=stored.message_id,
        body_digest=pb.Digest(type=pb.DigestType.CRC32, checksum=f"{zlib.crc32(stored.body):08X}"),
        body_encoding=pb.Encoding.IDENTITY,
        message_type=pb.MessageType.NORMAL,
        born_timestamp=_timestamp(stored.born_timestamp),
        born_host=stored.born_host or "127.0.0.1",
        store_timestamp=_timestamp(stored.store_timestamp),
        store_host="127.0.0.1",
        receipt_handle=delivery.handle or "",
        queue_id=queue_id,
        queue_offset=stored.offset,
        delivery_attempt=delivery.attempts,
    )
    return pb.Message(
        topic=pb.Resource(name=stored.topic),
        user_properties=stored.properties,
        system_properties=props,
        body=stored.body,
    )
