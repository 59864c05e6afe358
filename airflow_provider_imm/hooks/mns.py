"""MnsHook: the MNS side of the ``imm`` connection (queue receive/delete/visibility, topic publish,
and a one-call setup of the topic -> subscription -> queue channel IMM notifies through).

The MNS SDK is synchronous and not thread-safe (one ``http.client`` connection per ``Account``), so
each thread gets its own ``Account``; the notification listener calls these methods from worker
threads. Credentials come from the connection like IMM's (STS tokens and refreshed role credentials
included). Calls are not retried here: the caller (the listener) owns its backoff. Results are
plain records; an empty long poll is ``[]``, not an error.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from airflow_provider_imm import sdk
from airflow_provider_imm.hooks.base import ImmBaseHook
from airflow_provider_imm.hooks.connection import (
    DEFAULT_CONN_ID,
    SUBSCRIPTION_FORMATS,
    ImmConnectionConfigError,
    mns_name_problem,
)
from airflow_provider_imm.hooks.credentials import (
    credential_hint,
    describe_credential_failure,
    is_credential_failure,
)
from airflow_provider_imm.hooks.errors import (
    INVALID_ARGUMENT,
    MnsApiError,
    one_line,
    redact,
    unencodable,
    unencodable_message,
)
from airflow_provider_imm.utils.mns_message import MnsMessage

__all__ = ["DeleteFailure", "MnsApiError", "MnsHook", "MnsMessage", "NotificationChannel", "VisibilityChange"]

T = TypeVar("T")

MAX_BATCH = 16
MAX_WAIT_SECONDS = 30
_NOT_FOUND = {"topic": "TopicNotExist", "queue": "QueueNotExist", "subscription": "SubscriptionNotExist"}
_ALREADY_EXISTS = {
    "topic": "TopicAlreadyExist",
    "queue": "QueueAlreadyExist",
    "subscription": "SubscriptionAlreadyExist",
}


@dataclass(frozen=True)
class DeleteFailure:
    receipt_handle: str
    code: str
    message: str


@dataclass(frozen=True)
class VisibilityChange:
    """The message's new receipt handle (the old one stops working) and when it reappears (ms)."""

    receipt_handle: str
    next_visible_time: int


@dataclass(frozen=True)
class NotificationChannel:
    topic: str
    queue: str
    subscription: str
    queue_endpoint: str
    format: str
    #: What this call created, among ``"topic"``, ``"queue"``, ``"subscription"``; empty if all existed.
    created: tuple[str, ...]


class MnsHook(ImmBaseHook):
    """MNS through the ``imm`` connection's ``mns_*`` extras.

    Takes the parameters of :class:`~airflow_provider_imm.hooks.base.ImmBaseHook`. The SDK is not
    thread-safe: each thread gets its own ``Account``.
    """

    hook_name = "Alibaba Cloud MNS (IMM notifications)"

    @classmethod
    async def afor_connection(cls, imm_conn_id: str = DEFAULT_CONN_ID) -> MnsHook:
        """A hook whose connection was fetched with the Task SDK's async API (for the triggerer)."""
        hook = cls(imm_conn_id)
        await hook.aget_settings()
        return hook

    @property
    def endpoint(self) -> str:
        endpoint = self.settings.mns_endpoint
        if not endpoint:
            raise ImmConnectionConfigError(
                f"Connection {self.imm_conn_id!r} has no MNS endpoint: set extra 'mns_endpoint' "
                "(or 'account_id' with 'region')."
            )
        return endpoint

    def get_conn(self) -> Any:
        """This thread's ``mns.account.Account`` (one per thread: the SDK is not thread-safe)."""
        account = getattr(self._local, "account", None)
        if account is None:
            from airflow_provider_imm.hooks.credentials import MnsCredentialsProvider

            account = sdk.load("mns.account").Account(
                self.endpoint, credentials_provider=MnsCredentialsProvider(self.signing_credentials())
            )
            self._local.account = account
        return account

    def _name(self, value: str | None, extra: str) -> str:
        name = value or getattr(self.settings, extra)
        if not name:
            raise ValueError(
                f"No MNS {extra[4:]} given: pass it or set extra {extra!r} on {self.imm_conn_id!r}."
            )
        problem = mns_name_problem(str(name))
        if problem:
            raise ValueError(f"MNS {extra[4:]} {problem}.")
        return str(name)

    @staticmethod
    def _body(operation: str, body: str) -> str:
        """Refuse, naming the body, text the SDK would fail on while sending (or send mangled)."""
        found = unencodable(body, "body")
        if found is not None:
            raise MnsApiError(operation=operation, code=INVALID_ARGUMENT, message=unencodable_message(*found))
        return body

    def queue_endpoint(self, queue: str | None = None) -> str:
        """The subscription endpoint of a queue: ``acs:mns:<region>:<account>:queues/<queue>``."""
        settings = self.settings
        if not settings.region or not settings.account_id:
            raise ImmConnectionConfigError(
                f"Connection {self.imm_conn_id!r}: subscribing a queue needs extras 'region' and "
                "'account_id' (an mns_endpoint such as https://<account>.mns.<region>... gives the account)."
            )
        return f"acs:mns:{settings.region}:{settings.account_id}:queues/{self._name(queue, 'mns_queue')}"

    # Queue
    def receive(
        self, queue: str | None = None, *, wait_seconds: int = MAX_WAIT_SECONDS, max_messages: int = MAX_BATCH
    ) -> list[MnsMessage]:
        """Long-poll up to ``wait_seconds`` for up to ``max_messages``; ``[]`` when none arrived."""
        if not 1 <= max_messages <= MAX_BATCH:
            raise ValueError(f"max_messages must be between 1 and {MAX_BATCH}, got {max_messages}")
        if not 0 <= wait_seconds <= MAX_WAIT_SECONDS:
            raise ValueError(f"wait_seconds must be between 0 and {MAX_WAIT_SECONDS}, got {wait_seconds}")
        q = self._queue(queue)

        def call() -> list[Any]:
            if max_messages == 1:
                return [q.receive_message(wait_seconds)]
            return list(q.batch_receive_message(max_messages, wait_seconds))

        try:
            received = self._call("ReceiveMessage", call)
        except MnsApiError as err:
            if err.code == "MessageNotExist":
                return []
            raise
        return [_message(m) for m in received]

    def delete(self, receipt_handles: Iterable[str], queue: str | None = None) -> list[DeleteFailure]:
        """Delete messages (in batches of 16); returns the handles MNS refused, e.g. expired ones."""
        handles = list(receipt_handles)
        q = self._queue(queue)
        failures: list[DeleteFailure] = []
        for start in range(0, len(handles), MAX_BATCH):
            batch = handles[start : start + MAX_BATCH]
            try:
                self._call("BatchDeleteMessage", functools.partial(q.batch_delete_message, batch))
            except _PartialFailure as partial:
                failures.extend(partial.failures)
        return failures

    def change_visibility(
        self, receipt_handle: str, visibility_timeout: int, queue: str | None = None
    ) -> VisibilityChange:
        """Make a received message visible again after ``visibility_timeout`` seconds (0 = now)."""
        q = self._queue(queue)
        changed = self._call(
            "ChangeMessageVisibility", lambda: q.change_message_visibility(receipt_handle, visibility_timeout)
        )
        return VisibilityChange(changed.receipt_handle, int(changed.next_visible_time))

    def send(self, body: str, queue: str | None = None) -> str:
        """Send ``body`` to a queue; returns the message id."""
        message = sdk.load("mns.queue").Message(self._body("SendMessage", body))
        q = self._queue(queue)
        return str(self._call("SendMessage", lambda: q.send_message(message)).message_id)

    def _queue(self, queue: str | None) -> Any:
        q = self.get_conn().get_queue(self._name(queue, "mns_queue"))
        q.set_encoding(False)  # bodies are returned as sent; notification parsing handles base64
        return q

    # Topic
    def publish(self, body: str, topic: str | None = None, tag: str = "") -> str:
        """Publish ``body`` (raw) to a topic; returns the message id."""
        message = sdk.load("mns.topic").TopicMessage(self._body("PublishMessage", body), tag)
        t = self.get_conn().get_topic(self._name(topic, "mns_topic"))
        return str(self._call("PublishMessage", lambda: t.publish_message(message)).message_id)

    # Setup
    def ensure_notification_channel(
        self,
        topic: str | None = None,
        queue: str | None = None,
        subscription: str | None = None,
        format: str | None = None,
    ) -> NotificationChannel:
        """Create whichever of topic, queue and topic->queue subscription is missing.

        Idempotent: what exists is left alone, and the result says what this call created. An
        existing subscription that delivers elsewhere is an error, not silently accepted.
        """
        topic = self._name(topic, "mns_topic")
        queue = self._name(queue, "mns_queue")
        subscription = self._name(subscription, "mns_subscription")
        content_format = (format or self.settings.mns_subscription_format).upper()
        if content_format not in SUBSCRIPTION_FORMATS:
            raise ValueError(f"format must be one of {', '.join(SUBSCRIPTION_FORMATS)}, got {format!r}")
        endpoint = self.queue_endpoint(queue)
        account = self.get_conn()

        QueueMeta = sdk.load("mns.queue").QueueMeta
        SubscriptionMeta = sdk.load("mns.subscription").SubscriptionMeta
        TopicMeta = sdk.load("mns.topic").TopicMeta

        created = []
        t = account.get_topic(topic)
        if self._create_if_missing("topic", t.get_attributes, lambda: t.create(TopicMeta())):
            created.append("topic")
        q = account.get_queue(queue)
        if self._create_if_missing("queue", q.get_attributes, lambda: q.create(QueueMeta())):
            created.append("queue")
        s = account.get_subscription(topic, subscription)
        meta = SubscriptionMeta(endpoint, notify_content_format=content_format)
        if self._create_if_missing("subscription", s.get_attributes, lambda: s.subscribe(meta)):
            created.append("subscription")
        else:
            existing = self._call("GetSubscriptionAttributes", s.get_attributes)
            if existing.endpoint != endpoint:
                raise ValueError(
                    f"MNS subscription {subscription!r} of topic {topic!r} delivers to "
                    f"{existing.endpoint!r}, not to queue {queue!r} ({endpoint}); choose another name."
                )
            if existing.notify_content_format.upper() != content_format:
                self.log.warning(
                    "MNS subscription %r delivers %s, not %s; notifications are parsed either way.",
                    subscription,
                    existing.notify_content_format,
                    content_format,
                )
        if created:
            self.log.info("Created MNS %s for topic %r -> queue %r", ", ".join(created), topic, queue)
        return NotificationChannel(topic, queue, subscription, endpoint, content_format, tuple(created))

    # Diagnosis
    def diagnose_notification_channel(self) -> str | None:
        """What stops notifications from reaching the connection's queue, as one line with its fix;
        None when the channel is ready.

        Checks, in order: the queue exists and can be read (a peek, so no message is taken), the
        topic exists, and the subscription (``mns_subscription``, else any of the topic's) delivers
        to the queue. A wrong queue otherwise goes unnoticed: every wait silently falls back to
        reconciliation, minutes late.
        """
        try:
            queue = self._name(None, "mns_queue")
            endpoint = self.queue_endpoint(queue)
            setup = f"run `imm-setup-notifications --conn-id {self.imm_conn_id}`"
            account = self.get_conn()
            q = self._queue(queue)
            problem = self._probe("queue", queue, q.get_attributes, setup) or self._probe_read(queue, q)
            topic = self.settings.mns_topic
            if problem or topic is None:
                return problem
            t = account.get_topic(topic)
            return self._probe("topic", topic, t.get_attributes, setup) or self._probe_subscription(
                topic, queue, endpoint, setup
            )
        except (ImmConnectionConfigError, ValueError) as err:
            return one_line(str(err))

    def _probe(self, what: str, name: str, get: Callable[[], Any], setup: str) -> str | None:
        try:
            self._call(f"Get{what.title()}Attributes", get)
        except MnsApiError as err:
            if err.code == _NOT_FOUND[what]:
                return f"MNS {what} {name!r} does not exist ({err.code}): {setup} to create it."
            return f"MNS {what} {name!r} cannot be checked ({err.code}: {err.message})."
        return None

    def _probe_read(self, queue: str, q: Any) -> str | None:
        try:
            self._call("PeekMessage", q.peek_message)
        except MnsApiError as err:
            if err.code != "MessageNotExist":  # an empty queue
                return (
                    f"MNS queue {queue!r} cannot be read ({err.code}: {err.message}); allow the "
                    f"connection's credentials mns:ReceiveMessage and mns:DeleteMessage on it."
                )
        return None

    def _probe_subscription(self, topic: str, queue: str, endpoint: str, setup: str) -> str | None:
        account = self.get_conn()
        name = self.settings.mns_subscription
        if name is None:
            names, _ = self._call("ListSubscriptionByTopic", account.get_topic(topic).list_subscription)
            for candidate in names:
                meta = self._call(
                    "GetSubscriptionAttributes", account.get_subscription(topic, candidate).get_attributes
                )
                if meta.endpoint == endpoint:
                    return None
            return (
                f"no subscription of MNS topic {topic!r} delivers to queue {queue!r}: {setup} to create one."
            )
        s = account.get_subscription(topic, name)
        problem = self._probe("subscription", name, s.get_attributes, setup)
        if problem:
            return problem
        delivers_to = self._call("GetSubscriptionAttributes", s.get_attributes).endpoint
        if delivers_to != endpoint:
            return (
                f"MNS subscription {name!r} of topic {topic!r} delivers to {delivers_to!r}, not to queue "
                f"{queue!r}: set extra 'mns_subscription' to a new name and {setup}."
            )
        return None

    def _create_if_missing(self, what: str, get: Callable[[], Any], create: Callable[[], Any]) -> bool:
        try:
            self._call(f"Get{what.title()}Attributes", get)
            return False
        except MnsApiError as err:
            if err.code != _NOT_FOUND[what]:
                raise
        try:
            self._call(f"Create{what.title()}", create)
        except MnsApiError as err:
            if err.code == _ALREADY_EXISTS[what]:  # created concurrently by someone else
                return False
            raise
        return True

    # Errors
    def _call(self, operation: str, fn: Callable[[], T]) -> T:
        mns_errors = sdk.load("mns.mns_exception")
        try:
            return fn()
        except mns_errors.MNSServerException as err:
            if err.sub_errors and operation == "BatchDeleteMessage":
                raise _PartialFailure(_failures(err.sub_errors)) from None
            code = str(err.type)
            raise MnsApiError(
                operation=operation,
                code=code,
                message=one_line(redact(str(err.message), self.secrets()))
                + credential_hint(code, self.settings),
                request_id=err.request_id,
            ) from None
        except mns_errors.MNSClientNetworkException as err:
            self._local.account = None  # its connection is in an unknown state
            raise MnsApiError(
                operation=operation,
                code="NetworkError",
                message=one_line(redact(str(err.message), self.secrets())),
                network=True,
            ) from None
        except mns_errors.MNSExceptionBase as err:
            raise MnsApiError(
                operation=operation,
                code=str(err.type),
                message=one_line(redact(str(err.message), self.secrets())),
            ) from None
        except ImmConnectionConfigError:
            raise
        except Exception as err:
            if not is_credential_failure(err):
                raise
            failure = describe_credential_failure(err, self.settings, self.secrets())
            raise MnsApiError(
                operation=operation,
                code=failure.code,
                message=failure.message,
                request_id=failure.request_id,
                network=failure.kind in ("connect", "network"),
            ) from None


class _PartialFailure(Exception):
    def __init__(self, failures: Sequence[DeleteFailure]) -> None:
        super().__init__(f"{len(failures)} messages not deleted")
        self.failures = list(failures)


def _failures(sub_errors: Iterable[Any]) -> list[DeleteFailure]:
    return [
        DeleteFailure(
            receipt_handle=str(e.get("ReceiptHandle", "")),
            code=str(e.get("ErrorCode", "")),
            message=str(e.get("ErrorMessage", "")),
        )
        for e in sub_errors
        if isinstance(e, dict)
    ]


def _message(m: Any) -> MnsMessage:
    body = m.message_body
    return MnsMessage(
        message_id=str(m.message_id),
        receipt_handle=str(m.receipt_handle),
        body=body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body),
        dequeue_count=int(m.dequeue_count),
        enqueue_time=int(m.enqueue_time),
        first_dequeue_time=int(m.first_dequeue_time),
        next_visible_time=int(m.next_visible_time),
    )
