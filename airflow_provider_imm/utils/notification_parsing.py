"""Turn an MNS message body into the IMM task notification it carries, or decide it carries none.

IMM's notification reaches a queue in many shapes (see ``reference/notifications.md``): the
CloudEvents-like envelope with the payload as a JSON string (``content``) or an object (``data``,
EventBridge), the flat payload of older documentation, any of those inside the MNS topic wrapper
(JSON with ``Message`` a string or an object, or XML ``<Notification>``), possibly base64-encoded,
and the 2017 API's ``events`` message. A queue is shared with other producers and deliveries can be
damaged, so :func:`parse_notification` answers ``None`` for anything it does not recognise and
never raises: the caller logs the body and leaves it for someone else.

Telling base64 from plain text is unambiguous: a JSON or XML body starts with ``{``, ``[``, ``"``
or ``<`` (after whitespace), none of which is in the base64 alphabet, and a base64 body is only
accepted when it decodes to UTF-8 text that is itself such a body.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar
from xml.etree import ElementTree

# Re-exported: it was defined here, and callers import it from here too.
from airflow_provider_imm.utils.timestamps import parse_timestamp

__all__ = ["ImmNotification", "NotificationStatus", "parse_notification", "parse_timestamp", "unwrap_message"]

T = TypeVar("T")


class NotificationStatus(str, enum.Enum):
    """A task's final status; IMM notifies only when a task has ended."""

    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


@dataclass(frozen=True)
class ImmNotification:
    """One IMM task notification, whatever shape it arrived in.

    ``task_type`` and ``project`` are ``None`` for the 2017 API's message, which names neither: such
    a notification can be matched by ``task_id`` only. ``event_id`` is the payload's ``EventId`` or,
    failing that, the envelope's ``id``; ``message_id`` is the MNS ``MessageId`` of the wrapper.
    ``payload`` is the innermost decoded object, kept for fields not lifted here.
    """

    task_id: str
    task_type: str | None
    project: str | None
    status: NotificationStatus
    code: str = ""
    message: str = ""
    start_time: datetime | None = None
    end_time: datetime | None = None
    user_data: str | None = None
    event_id: str | None = None
    message_id: str | None = None
    request_id: str | None = None
    tags: Mapping[str, str] | None = field(default=None, compare=False, hash=False)
    legacy: bool = False
    payload: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False, hash=False)

    @property
    def succeeded(self) -> bool:
        return self.status is NotificationStatus.SUCCEEDED


#: Wrappers nest (base64 of an MNS wrapper of an envelope ...); real bodies need at most four levels.
_MAX_DEPTH = 8
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")
_WHITESPACE = re.compile(r"\s+")
_XML_DECLARATIONS = re.compile(r"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_STATUSES = {s.value.lower(): s for s in NotificationStatus}


def parse_notification(body: str | bytes | bytearray | memoryview) -> ImmNotification | None:
    """The IMM notification in an MNS message body, or ``None`` if the body is not one."""
    text = _text(body)
    if text is None:
        return None
    return _from_text(text, _Context(), 0)


def unwrap_message(
    body: str | bytes | bytearray | memoryview, recognize: Callable[[dict[str, Any], str | None], T | None]
) -> T | None:
    """What ``recognize`` finds in the first object, through MNS's wrappers (a topic's JSON or XML
    ``Notification``, base64, a JSON string), that it accepts; ``recognize`` also gets the wrapper's
    ``MessageId``. Same limits as :func:`parse_notification`: never raises on a body."""
    text = _text(body)
    if text is None:
        return None

    def other(value: dict[str, Any], ctx: _Context, _depth: int) -> T | None:
        return recognize(value, ctx.message_id)

    found: Any = _from_text(text, _Context(recognize=other), 0)
    return found


@dataclass
class _Context:
    """What the outer layers said about the message, for fields the payload lacks."""

    message_id: str | None = None
    envelope_id: str | None = None
    #: What an unwrapped object is, or None to unwrap further; IMM's notification by default.
    recognize: Callable[[dict[str, Any], _Context, int], Any] | None = None


def _text(body: object) -> str | None:
    if isinstance(body, (bytes, bytearray, memoryview)):
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not isinstance(body, str):
        return None
    return body.lstrip("\ufeff").strip()


def _from_text(text: str, ctx: _Context, depth: int) -> ImmNotification | None:
    if depth > _MAX_DEPTH or not text:
        return None
    first = text[0]
    if first in '{["':
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            return None
        return _from_value(value, ctx, depth + 1)
    if first == "<":
        return _from_xml(text, ctx, depth + 1)
    decoded = _b64decode(text)
    if decoded is None:
        return None
    return _from_text(decoded, ctx, depth + 1)


def _b64decode(text: str) -> str | None:
    compact = _WHITESPACE.sub("", text)
    if len(compact) % 4 or not _BASE64.fullmatch(compact):
        return None
    try:
        if "-" in compact or "_" in compact:
            raw = base64.urlsafe_b64decode(compact)
        else:
            raw = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None
    decoded = _text(raw)
    # Only a body that is itself JSON, XML or base64 again can be an IMM notification.
    return decoded or None


def _from_value(value: object, ctx: _Context, depth: int) -> ImmNotification | None:
    if depth > _MAX_DEPTH:
        return None
    if isinstance(value, str):
        # A body serialised twice: a JSON string holding the JSON (or base64) body.
        return _from_text(value.strip(), ctx, depth + 1)
    if not isinstance(value, dict):
        return None
    found = (ctx.recognize or _from_imm_value)(value, ctx, depth)
    if found is not None:
        return found
    if "Message" in value and "TaskId" not in value:
        inner_ctx = replace(ctx, message_id=_str(value.get("MessageId")) or ctx.message_id)
        return _from_value(value["Message"], inner_ctx, depth + 1)
    return None


def _from_imm_value(value: dict[str, Any], ctx: _Context, depth: int) -> ImmNotification | None:
    if "TaskId" in value and "Status" in value:
        return _from_payload(value, ctx)
    if "events" in value:
        return _from_legacy(value, ctx)
    if "Message" in value:
        return None  # the MNS wrapper
    for key in ("content", "data"):
        if key in value:
            return _from_envelope(value, value[key], ctx, depth)
    return None


def _from_envelope(
    envelope: dict[str, Any], inner: object, ctx: _Context, depth: int
) -> ImmNotification | None:
    source = envelope.get("source")
    kind = envelope.get("type")
    if source is not None and not (isinstance(source, str) and source.lower() == "acs.imm"):
        return None
    if kind is not None and not (isinstance(kind, str) and kind.lower().startswith("imm:")):
        return None
    inner_ctx = replace(ctx, envelope_id=_str(envelope.get("id")) or ctx.envelope_id)
    if isinstance(inner, str):
        inner_text = inner.strip()
        if not inner_text.startswith("{"):
            return None
        try:
            inner = json.loads(inner_text)
        except (ValueError, RecursionError):
            return None
    if not isinstance(inner, dict) or "TaskId" not in inner:
        return None
    return _from_payload(inner, inner_ctx)


def _from_payload(payload: dict[str, Any], ctx: _Context) -> ImmNotification | None:
    task_id = _str(payload.get("TaskId"))
    status = _status(payload.get("Status"))
    if not task_id or status is None:
        return None
    tags = payload.get("Tags")
    return ImmNotification(
        task_id=task_id,
        task_type=_str(payload.get("TaskType")) or None,
        project=_str(payload.get("ProjectName")) or None,
        status=status,
        code=_str(payload.get("Code")) or "",
        message=_str(payload.get("Message")) or "",
        start_time=parse_timestamp(payload.get("StartTime")),
        end_time=parse_timestamp(payload.get("EndTime")),
        user_data=_str(payload.get("UserData")),
        event_id=_str(payload.get("EventId")) or ctx.envelope_id,
        message_id=ctx.message_id,
        request_id=_str(payload.get("RequestId")) or None,
        tags=_string_map(tags),
        payload=payload,
    )


def _from_legacy(message: dict[str, Any], ctx: _Context) -> ImmNotification | None:
    """The 2017 API's ``{"events": [{"imm": {"taskId", "code"}, ...}]}``; ``NoError`` is success."""
    events = message.get("events")
    if not isinstance(events, list):
        return None
    for event in events:
        if not isinstance(event, dict):
            continue
        source = event.get("eventSource")
        if source is not None and source != "acs:imm":
            continue
        imm = event.get("imm")
        if not isinstance(imm, dict):
            continue
        task_id = _str(imm.get("taskId"))
        code = _str(imm.get("code"))
        if not task_id or not code:
            continue
        succeeded = code == "NoError"
        return ImmNotification(
            task_id=task_id,
            task_type=None,
            project=None,
            status=NotificationStatus.SUCCEEDED if succeeded else NotificationStatus.FAILED,
            code="" if succeeded else code,
            message="" if succeeded else (_str(imm.get("message")) or _str(event.get("eventName")) or ""),
            end_time=parse_timestamp(event.get("eventTime")),
            message_id=ctx.message_id,
            legacy=True,
            payload=event,
        )
    return None


def _from_xml(text: str, ctx: _Context, depth: int) -> ImmNotification | None:
    # Entity declarations have no place in an MNS notification; refusing them rules out entity
    # expansion attacks whatever the XML parser's own limits are.
    if _XML_DECLARATIONS.search(text):
        return None
    try:
        root = ElementTree.fromstring(text)
    except (ElementTree.ParseError, ValueError, RecursionError):
        return None
    if _local(root.tag) != "Notification":
        return None
    children = {_local(child.tag): child for child in root}
    message = children.get("Message")
    if message is None or message.text is None:
        return None
    id_element = children.get("MessageId")
    message_id = (id_element.text or "").strip() if id_element is not None else ""
    inner_ctx = replace(ctx, message_id=message_id or ctx.message_id)
    return _from_text(message.text.strip(), inner_ctx, depth + 1)


def _local(tag: object) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _status(value: object) -> NotificationStatus | None:
    return _STATUSES.get(value.lower()) if isinstance(value, str) else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _string_map(value: object) -> Mapping[str, str] | None:
    if not isinstance(value, dict):
        return None
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}
