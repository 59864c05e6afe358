"""What an MNS queue watcher reacts to, and the asset event payload it makes: pure logic, no I/O.

A watcher (:class:`~airflow_provider_imm.triggers.mns_event.MnsEventTrigger`) reads one queue and
turns the messages its :class:`EventFilter` selects into small JSON records, the asset events'
payloads. Three kinds of message:

* ``oss``: OSS's event notification (``{"events": [{"eventName", "eventSource": "acs:oss", "oss":
  {"bucket", "object"}}]}``, see ``reference/oss.md``), selected by bucket, key prefix, suffix or
  glob, and event names (``ObjectCreated:PutObject`` or a whole category, ``ObjectCreated:*``).
  Record: ``bucket``, ``key``, ``size``, ``etag``, ``event``, ``time``, ``message_id``.
* ``imm``: IMM's task notification (every shape :func:`parse_notification` reads), selected by
  TaskType, project, status and Tags (every given tag must be on the task). Record: the
  notification's fields.
* ``raw``: any message; record: ``message_id`` and ``body``.

Every kind arrives as the topic delivered it (its JSON or XML wrapper, base64 or not). A body
larger than :data:`MAX_BODY_CHARS` is selected by no filter (OSS's and IMM's messages are a few
hundred bytes; a payload that size would not be "small"): the caller leaves it to other consumers.
Selection never raises on a body; bad filter fields raise :class:`EventFilterError` naming the field.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from airflow_provider_imm.outcome import MAX_TEXT, iso_utc
from airflow_provider_imm.utils.excerpt import FieldError, excerpt
from airflow_provider_imm.utils.notification_parsing import (
    NotificationStatus,
    parse_notification,
    unwrap_message,
)

__all__ = ["MAX_BODY_CHARS", "SOURCES", "EventFilter", "EventFilterError", "Source"]

Source = Literal["oss", "imm", "raw"]
SOURCES: tuple[Source, ...] = ("oss", "imm", "raw")
#: Longest body a watcher reads, characters; longer ones are left to other consumers.
MAX_BODY_CHARS = 16 * 1024
#: Longest prefix, suffix or glob: an OSS key is at most 1,023 bytes.
MAX_PATTERN = 1023
#: OSS's event categories; an event pattern is ``<Category>:<Name>`` or ``<Category>:*``.
OSS_EVENT_CATEGORIES = (
    "ObjectCreated",
    "ObjectDownloaded",
    "ObjectRemoved",
    "ObjectReplication",
)
_EVENT_PATTERN = re.compile(r"([A-Za-z]+):(\*|[A-Za-z]+)")
_STATUSES = tuple(s.value for s in NotificationStatus)
#: Fields of each kind (besides ``source``); a field of another kind is refused.
_FIELDS: Mapping[Source, frozenset[str]] = {
    "oss": frozenset({"bucket", "prefix", "suffix", "glob", "events"}),
    "imm": frozenset({"task_types", "projects", "statuses", "tags"}),
    "raw": frozenset(),
}


class EventFilterError(FieldError):
    """A filter field is invalid; ``field`` names it and the message says what it takes."""


@dataclass(frozen=True)
class EventFilter:
    """Which messages a watcher turns into asset events. Empty tuples select any value."""

    source: Source = "oss"
    bucket: str | None = None
    prefix: str = ""
    suffix: str = ""
    glob: str | None = None
    events: tuple[str, ...] = ("ObjectCreated:*",)
    task_types: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    #: Sorted ``(name, value)`` pairs; every one must be among the task's Tags.
    tags: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_kwargs(cls, source: object = "oss", **fields: Any) -> EventFilter:
        """Build and check a filter from trigger kwargs; unknown or other-kind fields are refused."""
        if source not in SOURCES:
            raise EventFilterError("source", f"must be one of {', '.join(SOURCES)}, got {excerpt(source)}")
        kind: Source = source
        allowed = _FIELDS[kind]
        for name in fields:
            if name not in allowed:
                known = ", ".join(sorted(allowed)) or "none"
                raise EventFilterError(name, f"is not a field of source {kind!r} (its fields: {known})")
        values: dict[str, Any] = {"source": kind}
        if kind == "oss":
            values.update(_oss_fields(fields))
        elif kind == "imm":
            values.update(_imm_fields(fields))
        return cls(**values)

    def to_kwargs(self) -> dict[str, Any]:
        """The fields that differ from the defaults, JSON-friendly and in a fixed order (trigger
        kwargs are hashed to tell watchers apart)."""
        out: dict[str, Any] = {"source": self.source}
        default = EventFilter(source=self.source)
        for name in sorted(_FIELDS[self.source]):
            value = getattr(self, name)
            if value == getattr(default, name):
                continue
            if name == "tags":
                out[name] = dict(value)
            elif isinstance(value, tuple):
                out[name] = list(value)
            else:
                out[name] = value
        return out

    def select(self, body: str, message_id: str) -> list[dict[str, Any]]:
        """The asset event payloads of one message (none: not for this watcher)."""
        if len(body) > MAX_BODY_CHARS:
            return []
        if self.source == "raw":
            return [{"source": "raw", "message_id": message_id, "body": body}]
        if self.source == "imm":
            record = self._imm_record(body, message_id)
            return [] if record is None else [record]
        events = unwrap_message(body, _oss_events) or []
        return [record for event in events if (record := self._oss_record(event, message_id)) is not None]

    # OSS
    def _oss_record(self, event: Mapping[str, Any], message_id: str) -> dict[str, Any] | None:
        name = event.get("eventName")
        oss = event.get("oss")
        if not isinstance(name, str) or not isinstance(oss, dict):
            return None
        bucket = _get(oss, "bucket", "name")
        key = _get(oss, "object", "key")
        if not isinstance(bucket, str) or not isinstance(key, str):
            return None
        if not any(_event_matches(pattern, name) for pattern in self.events):
            return None
        if self.bucket is not None and bucket != self.bucket:
            return None
        if not (key.startswith(self.prefix) and key.endswith(self.suffix)):
            return None
        if self.glob is not None and not fnmatch.fnmatchcase(key, self.glob):
            return None
        size = _get(oss, "object", "size")
        etag = _get(oss, "object", "eTag")
        when = event.get("eventTime")
        return {
            "source": "oss",
            "bucket": bucket,
            "key": key,
            "size": size if isinstance(size, int) and not isinstance(size, bool) else None,
            "etag": etag if isinstance(etag, str) else None,
            "event": name,
            "time": when if isinstance(when, str) else None,
            "message_id": message_id,
        }

    # IMM
    def _imm_record(self, body: str, message_id: str) -> dict[str, Any] | None:
        n = parse_notification(body)
        if n is None:
            return None
        if self.task_types and n.task_type not in self.task_types:
            return None
        if self.projects and n.project not in self.projects:
            return None
        if self.statuses and n.status.value not in self.statuses:
            return None
        if self.tags and not all((n.tags or {}).get(k) == v for k, v in self.tags):
            return None
        return {
            "source": "imm",
            "task_id": n.task_id,
            "task_type": n.task_type,
            "project": n.project,
            "status": n.status.value,
            "code": n.code[:MAX_TEXT],
            "message": n.message[:MAX_TEXT],
            "start_time": iso_utc(n.start_time),
            "end_time": iso_utc(n.end_time),
            "user_data": n.user_data,
            "tags": dict(n.tags or {}),
            "message_id": message_id,
        }


def _oss_events(value: dict[str, Any], _message_id: str | None) -> list[dict[str, Any]] | None:
    """OSS's ``{"events": [...]}`` message: its OSS events (an IMM 2017 message is not one)."""
    events = value.get("events")
    if not isinstance(events, list):
        return None
    found = [e for e in events if isinstance(e, dict) and e.get("eventSource") == "acs:oss"]
    return found or None


def _get(value: Mapping[str, Any], *path: str) -> object:
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)  # type: ignore[assignment]
    return value


def _event_matches(pattern: str, event: str) -> bool:
    category, _, name = pattern.partition(":")
    return event == pattern or (name == "*" and event.partition(":")[0] == category)


# Checking fields
def _oss_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if fields.get("bucket") is not None:
        out["bucket"] = _text("bucket", fields["bucket"], allow_empty=False)
    for name in ("prefix", "suffix"):
        if fields.get(name) is not None:
            out[name] = _text(name, fields[name])
    if fields.get("glob") is not None:
        out["glob"] = _text("glob", fields["glob"], allow_empty=False)
    if "events" in fields:
        events = _strings("events", fields["events"], allow_empty=False)
        for event in events:
            match = _EVENT_PATTERN.fullmatch(event)
            if match is None or match.group(1) not in OSS_EVENT_CATEGORIES:
                raise EventFilterError(
                    "events",
                    f"{excerpt(event)} is not an OSS event: write <Category>:<Name> or <Category>:*, "
                    f"categories {', '.join(OSS_EVENT_CATEGORIES)} (e.g. ObjectCreated:*)",
                )
        out["events"] = events
    return out


def _imm_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("task_types", "projects"):
        if fields.get(name) is not None:
            out[name] = _strings(name, fields[name])
    if fields.get("statuses") is not None:
        statuses = _strings("statuses", fields["statuses"])
        for status in statuses:
            if status not in _STATUSES:
                raise EventFilterError("statuses", f"takes {' or '.join(_STATUSES)}, got {excerpt(status)}")
        out["statuses"] = statuses
    if fields.get("tags") is not None:
        tags = fields["tags"]
        if not isinstance(tags, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
        ):
            raise EventFilterError("tags", "takes a mapping of tag name to value, both strings")
        out["tags"] = tuple(sorted(tags.items()))
    return out


def _text(name: str, value: object, *, allow_empty: bool = True) -> str:
    if not isinstance(value, str):
        raise EventFilterError(name, f"takes a string, got {type(value).__name__}")
    if not value and not allow_empty:
        raise EventFilterError(name, "must not be empty (leave it out to select any)")
    if len(value) > MAX_PATTERN:
        raise EventFilterError(name, f"is longer than {MAX_PATTERN} characters: {excerpt(value)}")
    return value


def _strings(name: str, value: object, *, allow_empty: bool = True) -> tuple[str, ...]:
    """A string or a list of strings, deduplicated, sorted (so equal filters serialise alike)."""
    items: Iterable[object] = [value] if isinstance(value, str) else value  # type: ignore[assignment]
    if not isinstance(value, (str, list, tuple)):
        raise EventFilterError(name, f"takes a string or a list of strings, got {type(value).__name__}")
    out = tuple(sorted({_text(name, item, allow_empty=False) for item in items}))
    if not out and not allow_empty:
        raise EventFilterError(name, "must name at least one")
    return out
