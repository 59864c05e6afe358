"""MNS's XML API (2015-06-06) over HTTP, as the unchanged ``mns`` SDK calls it.

Each call is counted (``mns:<Action>``), then delayed or failed by armed faults, then refused
``QpsLimitExceeded`` past the limit of :attr:`MnsService.flow_control` if one is set (counted again
as ``mns-throttled:<Action>``), then authenticated, then served from :class:`MnsStore`. Every
answer carries ``x-mns-request-id`` (spelled so: the SDK reads it case-sensitively); errors are
MNS's ``<Error>`` document with all four elements the SDK requires.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from aiohttp import web

from airflow_provider_imm.emulator.bodies import read_body
from airflow_provider_imm.emulator.context import ServiceContext
from airflow_provider_imm.emulator.flow_control import FlowControl
from airflow_provider_imm.emulator.mns_signature import authenticate
from airflow_provider_imm.emulator.mns_store import (
    MAX_BATCH,
    MAX_WAIT_SECONDS,
    QUEUE_INT_ATTRIBUTES,
    TOPIC_RETENTION,
    XMLNS,
    MnsError,
    MnsQueue,
    MnsStore,
    QueueAttributes,
    QueuedMessage,
    check_name,
    check_range,
    invalid_argument,
    qps_limit_exceeded,
)

API_VERSION = "2015-06-06"
MAX_LIST = 1000

# Carriage returns would be normalised away by the client's XML parser; keep them as references.
_TEXT_ENTITIES = {"\r": "&#13;"}


@dataclass(frozen=True)
class _Call:
    request: web.Request
    body: bytes

    @property
    def base_url(self) -> str:
        return f"http://{self.request.host}"


_Impl = Callable[[_Call], Awaitable[web.Response]]
_Route = tuple[str, _Impl]
_Handler = Callable[[web.Request], Awaitable[web.Response]]


class MnsService:
    """The MNS side of the emulator; state lives in :attr:`store`, touched only on the server loop."""

    def __init__(self, context: ServiceContext) -> None:
        self.context = context
        self.store = MnsStore(context.accounts.account_id, context.clock.time)
        self._closing = asyncio.Event()
        #: Per-second limits by action (off until set).
        self.flow_control = FlowControl()

    # HTTP
    def add_routes(self, router: web.UrlDispatcher) -> None:
        self._closing = asyncio.Event()  # once per start: a stopped emulator may be started again
        router.add_route("*", "/queues", self._queues)
        queue = self._resource(
            ("CreateQueue", self._create_queue),
            ("SetQueueAttributes", self._set_queue_attributes),
            ("GetQueueAttributes", self._get_queue_attributes),
            ("DeleteQueue", self._delete_queue),
        )
        topic = self._resource(
            ("CreateTopic", self._create_topic),
            ("SetTopicAttributes", self._set_topic_attributes),
            ("GetTopicAttributes", self._get_topic_attributes),
            ("DeleteTopic", self._delete_topic),
        )
        subscription = self._resource(
            ("Subscribe", self._subscribe),
            ("SetSubscriptionAttributes", self._set_subscription_attributes),
            ("GetSubscriptionAttributes", self._get_subscription_attributes),
            ("Unsubscribe", self._unsubscribe),
        )
        router.add_route("*", "/queues/{queue}", queue)
        router.add_route("*", "/queues/{queue}/messages", self._queue_messages)
        router.add_route("*", "/topics", self._topics)
        router.add_route("*", "/topics/{topic}", topic)
        router.add_route("*", "/topics/{topic}/messages", self._topic_messages)
        router.add_route("*", "/topics/{topic}/subscriptions", self._subscriptions)
        router.add_route("*", "/topics/{topic}/subscriptions/{subscription}", subscription)

    def _resource(self, create: _Route, set_attributes: _Route, get: _Route, delete: _Route) -> _Handler:
        """A queue, topic or subscription URL: PUT creates it (sets attributes with ``metaoverride``)."""

        async def handle(request: web.Request) -> web.Response:
            override = request.query.get("metaoverride") == "true"
            routes = {"PUT": set_attributes if override else create, "GET": get, "DELETE": delete}
            return await self._route(request, routes)

        return handle

    async def _queues(self, request: web.Request) -> web.Response:
        if request.method == "GET":
            return await self._serve(request, "ListQueue", self._list_queues)
        return self._unsupported(request)

    async def _queue_messages(self, request: web.Request) -> web.Response:
        query = request.query
        batch = "numOfMessages" in query
        if query.get("peekonly") == "true":
            get = ("BatchPeekMessage" if batch else "PeekMessage", self._peek)
        else:
            get = ("BatchReceiveMessage" if batch else "ReceiveMessage", self._receive)
        routes: dict[str, tuple[str, _Impl]] = {
            "GET": get,
            "POST": ("SendMessage", self._send),
            "DELETE": ("DeleteMessage", self._delete_message)
            if "ReceiptHandle" in query
            else ("BatchDeleteMessage", self._batch_delete),
            "PUT": ("ChangeMessageVisibility", self._change_visibility),
        }
        if request.method == "POST":
            head = (await read_body(request))[:256]
            if b"<Messages" in head:
                routes["POST"] = ("BatchSendMessage", self._batch_send)
        return await self._route(request, routes)

    async def _topics(self, request: web.Request) -> web.Response:
        if request.method == "GET":
            return await self._serve(request, "ListTopic", self._list_topics)
        return self._unsupported(request)

    async def _topic_messages(self, request: web.Request) -> web.Response:
        return await self._route(request, {"POST": ("PublishMessage", self._publish)})

    async def _subscriptions(self, request: web.Request) -> web.Response:
        return await self._route(request, {"GET": ("ListSubscriptionByTopic", self._list_subscriptions)})

    async def _route(self, request: web.Request, routes: dict[str, _Route]) -> web.Response:
        route = routes.get(request.method)
        if route is None:
            return self._unsupported(request)
        return await self._serve(request, *route)

    def _unsupported(self, request: web.Request) -> web.Response:
        error = MnsError(
            400, "InvalidRequestURL", f"{request.method} {request.path} is not an MNS operation."
        )
        return error_response(error, request, _request_id())

    async def _serve(self, request: web.Request, action: str, impl: _Impl) -> web.Response:
        request_id = _request_id()
        self.context.counters.incr("mns", action)
        try:
            await self._apply_faults(action)
            body = await read_body(request)
            authenticate(
                self.context.accounts,
                request.method,
                request.headers,
                request.raw_path,
                body,
                now=time.time(),
                credential_time=self.context.clock.time(),
            )
            # Every route checks the names in its URL, not only the creating ones: no odd name
            # (encoded separators, dots, NUL) goes further than this.
            for kind in ("Queue", "Topic", "Subscription"):
                if kind.lower() in request.match_info:
                    check_name(kind, request.match_info[kind.lower()])
            response = await impl(_Call(request, body))
        except MnsError as err:
            return error_response(err, request, request_id)
        response.headers["x-mns-request-id"] = request_id
        response.headers["x-mns-version"] = API_VERSION
        return response

    async def _apply_faults(self, action: str) -> None:
        faults = self.context.faults
        if faults.mns_latency > 0:
            await self._sleep(faults.mns_latency)
        fault = faults.take_mns(action)
        if fault is not None:
            if fault.delay > 0:
                await self._sleep(fault.delay)
            if fault.status:
                raise MnsError(fault.status, fault.code, fault.message)
        if self._closing.is_set():
            raise MnsError(503, "ServiceUnavailable", "The emulator is stopping.")
        if self.flow_control.admit(self.context.account_id, action) is not None:
            self.context.counters.incr("mns-throttled", action)
            raise qps_limit_exceeded()

    async def _sleep(self, seconds: float) -> None:
        """Sleep that ends early when the server stops, so a hung call never delays shutdown."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    # Queues
    async def _create_queue(self, call: _Call) -> web.Response:
        name = call.request.match_info["queue"]
        values = _parse(call.body, "Queue")
        attributes = QueueAttributes(**_queue_changes(values))
        created = self.store.create_queue(name, attributes)
        location = f"{call.base_url}/queues/{name}"
        return web.Response(status=201 if created else 204, headers={"Location": location})

    async def _set_queue_attributes(self, call: _Call) -> web.Response:
        values = _parse(call.body, "Queue")
        self.store.set_queue_attributes(call.request.match_info["queue"], **_queue_changes(values))
        return web.Response(status=204)

    async def _get_queue_attributes(self, call: _Call) -> web.Response:
        queue = self.store.queue(call.request.match_info["queue"])
        return _xml(200, "Queue", _elements(*_queue_meta(queue)))

    async def _delete_queue(self, call: _Call) -> web.Response:
        self.store.delete_queue(call.request.match_info["queue"])
        return web.Response(status=204)

    async def _list_queues(self, call: _Call) -> web.Response:
        return _listing(call, "Queue", self.store.queues, lambda name: _queue_meta(self.store.queues[name]))

    # Messages
    async def _send(self, call: _Call) -> web.Response:
        queue = self.store.queue(call.request.match_info["queue"])
        message = _send_one(queue, _parse(call.body, "Message"))
        return _xml(
            201, "Message", _elements(("MessageId", message.message_id), ("MessageBodyMD5", message.body_md5))
        )

    async def _batch_send(self, call: _Call) -> web.Response:
        queue = self.store.queue(call.request.match_info["queue"])
        entries = _parse_list(call.body, "Messages", "Message")
        if not 1 <= len(entries) <= MAX_BATCH:
            raise invalid_argument(f"A batch holds 1 to {MAX_BATCH} messages.")
        sent = [_send_one(queue, entry) for entry in entries]
        items = "".join(
            f"<Message>{_elements(('MessageId', m.message_id), ('MessageBodyMD5', m.body_md5))}</Message>"
            for m in sent
        )
        return _xml(201, "Messages", items)

    async def _receive(self, call: _Call) -> web.Response:
        query = call.request.query
        queue = self.store.queue(call.request.match_info["queue"])
        batch, limit = _batch_size(query)
        wait = query.get("waitseconds")
        seconds = (
            queue.attributes.polling_wait_seconds
            if wait is None
            else _int_param("waitseconds", wait, 0, MAX_WAIT_SECONDS)
        )
        return _messages(await queue.wait_receive(limit, seconds), batch, _received)

    async def _peek(self, call: _Call) -> web.Response:
        query = call.request.query
        queue = self.store.queue(call.request.match_info["queue"])
        batch, limit = _batch_size(query)
        return _messages(queue.peek(limit), batch, _peeked)

    async def _delete_message(self, call: _Call) -> web.Response:
        queue = self.store.queue(call.request.match_info["queue"])
        queue.delete(call.request.query["ReceiptHandle"])
        return web.Response(status=204)

    async def _batch_delete(self, call: _Call) -> web.Response:
        queue = self.store.queue(call.request.match_info["queue"])
        handles = _parse_texts(call.body, "ReceiptHandles", "ReceiptHandle")
        if not 1 <= len(handles) <= MAX_BATCH:
            raise invalid_argument(f"A batch holds 1 to {MAX_BATCH} receipt handles.")
        failures = []
        for handle in handles:
            try:
                queue.delete(handle)
            except MnsError as err:
                fields = (("ErrorCode", err.code), ("ErrorMessage", err.message), ("ReceiptHandle", handle))
                failures.append(f"<Error>{_elements(*fields)}</Error>")
        if failures:
            return _xml(404, "Errors", "".join(failures))
        return web.Response(status=204)

    async def _change_visibility(self, call: _Call) -> web.Response:
        query = call.request.query
        queue = self.store.queue(call.request.match_info["queue"])
        handle = query.get("ReceiptHandle")
        if not handle:
            raise MnsError(400, "MissingReceiptHandle", "ReceiptHandle is required.")
        if "VisibilityTimeout" not in query:
            raise MnsError(400, "MissingVisibilityTimeout", "VisibilityTimeout is required.")
        timeout = _int_param("VisibilityTimeout", query["VisibilityTimeout"], None, None)
        changed = queue.change_visibility(handle, timeout)
        fields = (
            ("ReceiptHandle", changed.receipt_handle),
            ("NextVisibleTime", _ms(changed.next_visible_time)),
        )
        return _xml(200, "ChangeVisibility", _elements(*fields))

    # Topics
    async def _create_topic(self, call: _Call) -> web.Response:
        name = call.request.match_info["topic"]
        created = self.store.create_topic(name, **_topic_changes(_parse(call.body, "Topic")))
        location = f"{call.base_url}/topics/{name}"
        return web.Response(status=201 if created else 204, headers={"Location": location})

    async def _set_topic_attributes(self, call: _Call) -> web.Response:
        changes = _topic_changes(_parse(call.body, "Topic"))
        self.store.set_topic_attributes(call.request.match_info["topic"], **changes)
        return web.Response(status=204)

    async def _get_topic_attributes(self, call: _Call) -> web.Response:
        topic = self.store.topic(call.request.match_info["topic"])
        return _xml(200, "Topic", _elements(*_topic_meta(self.store, topic.name)))

    async def _delete_topic(self, call: _Call) -> web.Response:
        self.store.delete_topic(call.request.match_info["topic"])
        return web.Response(status=204)

    async def _list_topics(self, call: _Call) -> web.Response:
        return _listing(call, "Topic", self.store.topics, lambda name: _topic_meta(self.store, name))

    async def _publish(self, call: _Call) -> web.Response:
        values = _parse(call.body, "Message")
        body = values.get("MessageBody", "")
        if not body:
            raise invalid_argument("The message body should not be empty.")
        published = self.store.publish(call.request.match_info["topic"], body, values.get("MessageTag", ""))
        fields = (("MessageId", published.message_id), ("MessageBodyMD5", published.body_md5))
        return _xml(201, "Message", _elements(*fields))

    # Subscriptions
    async def _subscribe(self, call: _Call) -> web.Response:
        topic, name = call.request.match_info["topic"], call.request.match_info["subscription"]
        values = _parse(call.body, "Subscription")
        endpoint = values.get("Endpoint", "")
        if not endpoint:
            raise invalid_argument("Endpoint is required.")
        created = self.store.subscribe(
            topic,
            name,
            endpoint,
            notify_strategy=values.get("NotifyStrategy") or "BACKOFF_RETRY",
            content_format=values.get("NotifyContentFormat") or "XML",
            filter_tag=values.get("FilterTag", ""),
        )
        location = f"{call.base_url}/topics/{topic}/subscriptions/{name}"
        return web.Response(status=201 if created else 204, headers={"Location": location})

    async def _set_subscription_attributes(self, call: _Call) -> web.Response:
        values = _parse(call.body, "Subscription")
        info = call.request.match_info
        self.store.set_subscription_strategy(
            info["topic"], info["subscription"], values.get("NotifyStrategy", "")
        )
        return web.Response(status=204)

    async def _get_subscription_attributes(self, call: _Call) -> web.Response:
        info = call.request.match_info
        sub = self.store.subscription(info["topic"], info["subscription"])
        fields: tuple[tuple[str, object], ...] = (
            ("TopicOwner", self.store.account_id),
            ("TopicName", sub.topic_name),
            ("SubscriptionName", sub.name),
            ("Endpoint", sub.endpoint),
            ("NotifyStrategy", sub.notify_strategy),
            ("NotifyContentFormat", sub.content_format),
            ("FilterTag", sub.filter_tag),
            ("CreateTime", int(sub.create_time)),
            ("LastModifyTime", int(sub.last_modify_time)),
        )
        return _xml(200, "Subscription", _elements(*fields))

    async def _unsubscribe(self, call: _Call) -> web.Response:
        info = call.request.match_info
        self.store.unsubscribe(info["topic"], info["subscription"])
        return web.Response(status=204)

    async def _list_subscriptions(self, call: _Call) -> web.Response:
        topic = self.store.topic(call.request.match_info["topic"])
        page, next_marker = _page(sorted(topic.subscriptions), call.request)
        base = f"{call.base_url}/topics/{topic.name}/subscriptions"
        items = "".join(
            f"<Subscription>{_elements(('SubscriptionURL', f'{base}/{n}'))}</Subscription>" for n in page
        )
        marker = _elements(("NextMarker", next_marker)) if next_marker else ""
        return _xml(200, "Subscriptions", items + marker)

    # Python API for tests and the IMM side (thread-safe: runs on the server loop)
    def publish(self, topic: str, body: str, tag: str = "") -> bool:
        """Publish ``body`` to ``topic`` (on the server loop); False when the topic does not exist."""

        def run() -> bool:
            try:
                self.store.publish(topic, body, tag)
            except MnsError:
                return False
            return True

        return self.context.call(run)

    def create_queue(self, name: str, **attributes: Any) -> None:
        """Create a queue; ``attributes`` are :class:`QueueAttributes` fields (``visibility_timeout=5``)."""
        self.context.call(self.store.create_queue, name, QueueAttributes(**attributes))

    def create_topic(self, name: str) -> None:
        self.context.call(self.store.create_topic, name)

    def subscribe(self, topic: str, subscription: str, queue: str, **options: str) -> None:
        """Subscribe ``queue`` to ``topic``; ``options`` are :meth:`MnsStore.subscribe`'s
        (``content_format``: SIMPLIFIED, JSON or XML, MNS's default)."""
        endpoint = self.queue_endpoint(queue)
        self.context.call(functools.partial(self.store.subscribe, topic, subscription, endpoint, **options))

    def send_message(
        self, queue: str, body: str, *, delay_seconds: int | None = None, priority: int | None = None
    ) -> str:
        """Put a message in ``queue`` as SendMessage would; returns its MessageId."""

        def run() -> str:
            return (
                self.store.queue(queue).send(body, delay_seconds=delay_seconds, priority=priority).message_id
            )

        return self.context.call(run)

    def queue_messages(self, queue: str) -> list[QueuedMessage]:
        """Every message in ``queue`` (active, delayed and in flight), oldest first, without receiving."""
        return self.context.call(lambda: self.store.queue(queue).messages())

    def queue_endpoint(self, queue: str) -> str:
        """The subscription endpoint of ``queue``, as ``TopicHelper.generate_queue_endpoint`` builds it."""
        return f"acs:mns:{self.context.region}:{self.store.account_id}:queues/{queue}"

    async def shutdown(self) -> None:
        self._closing.set()
        self.store.close()


# Request parsing
def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _root(body: bytes, root: str) -> ElementTree.Element:
    try:
        element = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise MnsError(400, "MalformedXML", "The XML you provided was not well-formed.") from None
    if _local(element.tag) != root:
        raise invalid_argument(f"The XML you provided did not validate against our published schema: {root}.")
    return element


def _parse(body: bytes, root: str) -> dict[str, str]:
    """Child elements of ``<root>`` as name -> text; an empty body means no values."""
    if not body.strip():
        return {}
    return {_local(child.tag): child.text or "" for child in _root(body, root)}


def _parse_list(body: bytes, root: str, item: str) -> list[dict[str, str]]:
    return [
        {_local(child.tag): child.text or "" for child in element}
        for element in _root(body, root)
        if _local(element.tag) == item
    ]


def _parse_texts(body: bytes, root: str, item: str) -> list[str]:
    return [(element.text or "").strip() for element in _root(body, root) if _local(element.tag) == item]


def _int_param(name: str, text: str | None, low: int | None, high: int | None) -> int:
    try:
        value = int(text or "")
    except ValueError:
        raise invalid_argument(f"The value of {name} should be an integer.") from None
    if low is not None and high is not None:
        check_range(name, value, low, high)
    return value


def _bool_param(text: str) -> bool:
    return text.strip().lower() == "true"


def _queue_changes(values: dict[str, str]) -> dict[str, Any]:
    changes: dict[str, Any] = {
        spec.field: _int_param(element, values[element], None, None)
        for element, spec in QUEUE_INT_ATTRIBUTES.items()
        if values.get(element)
    }
    if values.get("LoggingEnabled"):
        changes["logging_enabled"] = _bool_param(values["LoggingEnabled"])
    return changes


def _topic_changes(values: dict[str, str]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if values.get("MaximumMessageSize"):
        changes["maximum_message_size"] = _int_param(
            "MaximumMessageSize", values["MaximumMessageSize"], None, None
        )
    if values.get("LoggingEnabled"):
        changes["logging_enabled"] = _bool_param(values["LoggingEnabled"])
    return changes


def _send_one(queue: MnsQueue, values: dict[str, str]) -> QueuedMessage:
    delay = values.get("DelaySeconds")
    priority = values.get("Priority")
    return queue.send(
        values.get("MessageBody", ""),
        delay_seconds=_int_param("DelaySeconds", delay, None, None) if delay else None,
        priority=_int_param("Priority", priority, None, None) if priority else None,
    )


def _page(names: Sequence[str], request: web.Request) -> tuple[list[str], str]:
    """One page of ``names`` (sorted) after the ``x-mns-*`` list headers, and the next marker."""
    headers = request.headers
    prefix = headers.get("x-mns-prefix", "")
    marker = headers.get("x-mns-marker", "")
    limit = _int_param("x-mns-ret-number", headers.get("x-mns-ret-number", str(MAX_LIST)), 1, MAX_LIST)
    matching = [name for name in names if name.startswith(prefix) and name >= marker]
    page = matching[:limit]
    return page, matching[limit] if len(matching) > limit else ""


def _batch_size(query: Mapping[str, str]) -> tuple[bool, int]:
    """Whether a receive or peek is a batch one (``numOfMessages`` given), and how many it takes."""
    if "numOfMessages" not in query:
        return False, 1
    return True, _int_param("numOfMessages", query["numOfMessages"], 1, MAX_BATCH)


# Response rendering
def _messages(
    messages: Sequence[QueuedMessage], batch: bool, render: Callable[[QueuedMessage], str]
) -> web.Response:
    """A receive's or peek's answer: ``<Messages>`` for a batch call, else one ``<Message>``."""
    if not messages:
        raise MnsError(404, "MessageNotExist", "Message not exist.")
    if batch:
        return _xml(200, "Messages", "".join(f"<Message>{render(m)}</Message>" for m in messages))
    return _xml(200, "Message", render(messages[0]))


def _listing(
    call: _Call, kind: str, names: Iterable[str], meta: Callable[[str], Iterable[tuple[str, object]]]
) -> web.Response:
    """ListQueue / ListTopic: one page of ``<Queue>``/``<Topic>`` items, with their attributes when
    the client sends ``x-mns-with-meta: true``."""
    page, next_marker = _page(sorted(names), call.request)
    with_meta = call.request.headers.get("x-mns-with-meta", "").lower() == "true"
    items = []
    for name in page:
        fields: list[tuple[str, object]] = [(f"{kind}URL", f"{call.base_url}/{kind.lower()}s/{name}")]
        if with_meta:
            fields += meta(name)
        items.append(f"<{kind}>{_elements(*fields)}</{kind}>")
    marker = _elements(("NextMarker", next_marker)) if next_marker else ""
    return _xml(200, f"{kind}s", "".join(items) + marker)


def error_response(error: MnsError, request: web.Request, request_id: str | None = None) -> web.Response:
    """MNS's ``<Error>`` document with the four elements the SDK requires."""
    request_id = request_id or _request_id()
    inner = _elements(
        ("Code", error.code),
        ("Message", error.message),
        ("RequestId", request_id),
        ("HostId", f"http://{request.host}"),
    )
    return _xml(error.status, "Error", inner, request_id)


def _request_id() -> str:
    return uuid.uuid4().hex[:24].upper()


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def _elements(*fields: tuple[str, object]) -> str:
    return "".join(f"<{name}>{escape(str(value), _TEXT_ENTITIES)}</{name}>" for name, value in fields)


def _xml(status: int, root: str, inner: str, request_id: str | None = None) -> web.Response:
    text = f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{XMLNS}">{inner}</{root}>'
    response = web.Response(status=status, text=text, content_type="text/xml", charset="utf-8")
    if request_id is not None:
        response.headers["x-mns-request-id"] = request_id
        response.headers["x-mns-version"] = API_VERSION
    return response


def _peeked_fields(message: QueuedMessage) -> list[tuple[str, object]]:
    return [
        ("MessageId", message.message_id),
        ("MessageBodyMD5", message.body_md5),
        ("MessageBody", message.body),
        ("EnqueueTime", _ms(message.enqueue_time)),
        ("FirstDequeueTime", _ms(message.first_dequeue_time)),
        ("DequeueCount", message.dequeue_count),
        ("Priority", message.priority),
    ]


def _peeked(message: QueuedMessage) -> str:
    return _elements(*_peeked_fields(message))


def _received(message: QueuedMessage) -> str:
    fields = _peeked_fields(message)
    fields[1:1] = [("ReceiptHandle", message.receipt_handle)]
    fields.append(("NextVisibleTime", _ms(message.next_visible_time)))
    return _elements(*fields)


def _queue_meta(queue: MnsQueue) -> list[tuple[str, object]]:
    stats = queue.stats()
    attributes = queue.attributes
    return [
        ("QueueName", queue.name),
        ("CreateTime", int(queue.create_time)),
        ("LastModifyTime", int(queue.last_modify_time)),
        *attributes.int_elements(),
        ("ActiveMessages", stats.active),
        ("InactiveMessages", stats.inflight),
        ("DelayMessages", stats.delayed),
        ("LoggingEnabled", "True" if attributes.logging_enabled else "False"),
    ]


def _topic_meta(store: MnsStore, name: str) -> Iterable[tuple[str, object]]:
    topic = store.topic(name)
    return [
        ("TopicName", topic.name),
        ("CreateTime", int(topic.create_time)),
        ("LastModifyTime", int(topic.last_modify_time)),
        ("MaximumMessageSize", topic.maximum_message_size),
        ("MessageRetentionPeriod", TOPIC_RETENTION),
        ("MessageCount", 0),
        ("LoggingEnabled", "True" if topic.logging_enabled else "False"),
    ]
