"""OSS event notification rules: which object changes they select, and the message OSS publishes.

Pure logic, no I/O: :class:`OssEventRule` validates a rule and names the bad field,
:func:`matches` decides whether a rule selects an :class:`ObjectChange`, :func:`event_message`
builds the documented body (``../shared/reference/oss.md``), :func:`parse_rule_spec` reads the
``imm-emulator --oss-event-rule`` syntax. :mod:`oss_notification` publishes what they decide.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from typing import Any

from airflow_provider_imm.emulator.oss import MAX_KEY_BYTES, ObjectChange, OssKeyError, check_bucket_name
from airflow_provider_imm.utils.excerpt import FieldError, excerpt
from airflow_provider_imm.utils.mns_names import MNS_NAME_RULE_2019, is_2019_mns_name

#: OSS's event names, by category (``../shared/reference/oss.md``); a rule may name one, or every
#: event of a category as ``<category>:*``.
EVENT_NAMES: tuple[str, ...] = (
    "ObjectCreated:PutObject",
    "ObjectCreated:PostObject",
    "ObjectCreated:CopyObject",
    "ObjectCreated:InitiateMultipartUpload",
    "ObjectCreated:UploadPart",
    "ObjectCreated:UploadPartCopy",
    "ObjectCreated:CompleteMultipartUpload",
    "ObjectCreated:AppendObject",
    "ObjectDownloaded:GetObject",
    "ObjectRemoved:DeleteObject",
    "ObjectRemoved:DeleteObjects",
    "ObjectReplication:ObjectCreated",
    "ObjectReplication:ObjectRemoved",
    "ObjectReplication:ObjectModified",
)
CATEGORIES: tuple[str, ...] = tuple(dict.fromkeys(name.split(":")[0] for name in EVENT_NAMES))
#: Rules OSS allows in one region.
MAX_RULES = 10

#: ``x-oss-process-status`` of a response to a request that matched a rule: base64 of this JSON.
PROCESS_STATUS = base64.b64encode(
    json.dumps(
        {"code": "Success", "message": "NotificationSucceed", "type": "EventNotification", "version": "1.0"}
    ).encode()
).decode()


class OssEventRuleError(FieldError):
    """A rule's field is invalid; ``field`` names it, the message says what it takes."""


@dataclass(frozen=True)
class OssEventRule:
    """Publish OSS's event message to ``topic`` for every change of ``events`` under
    ``oss://bucket/prefix...suffix``.

    ``base64``: whether the body is published base64-encoded. OSS's documentation shows the body
    decoded and does not say how it is published, so a consumer must accept both; the default is
    base64, the MNS SDK's default encoding, and ``False`` publishes the JSON as is.
    """

    name: str
    topic: str
    bucket: str
    prefix: str = ""
    suffix: str = ""
    events: tuple[str, ...] = ("ObjectCreated:*",)
    base64: bool = True

    def __post_init__(self) -> None:
        for name in ("name", "topic"):
            value = getattr(self, name)
            if not isinstance(value, str) or not is_2019_mns_name(value):
                raise OssEventRuleError(name, f"{excerpt(value)} is not valid: use {MNS_NAME_RULE_2019}")
        if not isinstance(self.bucket, str):
            raise OssEventRuleError("bucket", f"{excerpt(self.bucket)} is not a bucket name")
        try:
            check_bucket_name(self.bucket)
        except OssKeyError as err:
            raise OssEventRuleError("bucket", str(err)) from None
        for name in ("prefix", "suffix"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise OssEventRuleError(name, f"{excerpt(value)} is not a string")
            if len(value.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
                raise OssEventRuleError(name, f"{excerpt(value)} is over OSS's {MAX_KEY_BYTES}-byte limit")
        self._check_events()
        if not isinstance(self.base64, bool):
            raise OssEventRuleError("base64", f"{excerpt(self.base64)} is not true or false")

    def _check_events(self) -> None:
        events = self.events
        if isinstance(events, str) or not isinstance(events, tuple | list):
            raise OssEventRuleError("events", f"{excerpt(events)} is not a list of event names")
        if not events:
            raise OssEventRuleError("events", "name at least one event, e.g. ObjectCreated:*")
        for event in events:
            if not is_event_pattern(event):
                raise OssEventRuleError(
                    "events",
                    f"{excerpt(event)} is not an OSS event name: use one of {', '.join(EVENT_NAMES)}, "
                    f"or <category>:* for a whole category ({', '.join(CATEGORIES)})",
                )
        object.__setattr__(self, "events", tuple(events))

    def to_json(self) -> dict[str, Any]:
        """The rule as the admin API shows and takes it."""
        document = asdict(self)
        document["events"] = list(self.events)
        return document

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> OssEventRule:
        """A rule from the admin API's JSON; unknown or missing fields are named in the error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(document) - known)
        if unknown:
            raise OssEventRuleError(
                excerpt(unknown[0]), f"unknown field; a rule has {', '.join(f.name for f in fields(cls))}"
            )
        for required in ("name", "topic", "bucket"):
            if required not in document:
                raise OssEventRuleError(required, "is required")
        return cls(**document)


def is_event_pattern(value: object) -> bool:
    """Whether ``value`` is an OSS event name or ``<category>:*``."""
    if not isinstance(value, str):
        return False
    category, _, name = value.partition(":")
    return value in EVENT_NAMES or (name == "*" and category in CATEGORIES)


def matches(rule: OssEventRule, change: ObjectChange) -> bool:
    """Whether ``rule`` selects ``change``: same bucket, key within prefix and suffix, event named."""
    return (
        change.bucket == rule.bucket
        and change.key.startswith(rule.prefix)
        and change.key.endswith(rule.suffix)
        and any(_event_matches(pattern, change.event) for pattern in rule.events)
    )


def _event_matches(pattern: str, event: str) -> bool:
    if pattern.endswith(":*"):
        return event.startswith(pattern[:-1])
    return pattern == event


def event_time(epoch: float) -> str:
    """``eventTime``: ISO-8601 UTC with milliseconds, as the documented sample writes it."""
    when = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def event_message(
    rule: OssEventRule,
    change: ObjectChange,
    *,
    region: str,
    account_id: str,
    epoch: float,
    request_id: str,
    source_ip: str = "127.0.0.1",
) -> str:
    """The JSON body OSS publishes for ``change`` selected by ``rule`` (not yet base64-encoded).

    ``deltaSize`` is the change's size, negated for a removal: the emulator does not keep the size
    an overwritten object had, and a removal carries size 0.
    """
    removed = change.event.startswith("ObjectRemoved:")
    event = {
        "eventName": change.event,
        "eventSource": "acs:oss",
        "eventTime": event_time(epoch),
        "eventVersion": "1.0",
        "oss": {
            "bucket": {
                "arn": f"acs:oss:{region}:{account_id}:{change.bucket}",
                "name": change.bucket,
                "ownerIdentity": account_id,
            },
            "object": {
                "key": change.key,
                "size": change.size,
                "eTag": change.etag,
                "deltaSize": -change.size if removed else change.size,
            },
            "ossSchemaVersion": "1.0",
            "ruleId": rule.name,
        },
        "region": region,
        "requestParameters": {"sourceIPAddress": source_ip},
        "responseElements": {"requestId": request_id},
        "userIdentity": {"principalId": account_id},
    }
    return json.dumps({"events": [event]}, ensure_ascii=False, separators=(",", ":"))


#: The fields ``--oss-event-rule`` takes, in the order ``format_rule_spec`` writes them.
SPEC_FIELDS = ("name", "topic", "bucket", "prefix", "suffix", "events", "base64")
SPEC_EXAMPLE = "name=uploads,topic=oss-events,bucket=docs,prefix=inbox/,suffix=.docx,events=ObjectCreated:*"


def parse_rule_spec(spec: str) -> OssEventRule:
    """A rule from ``imm-emulator --oss-event-rule``'s ``field=value,...`` syntax.

    ``events`` may repeat (``events=ObjectCreated:*,events=ObjectRemoved:DeleteObject``); ``base64``
    is ``true`` or ``false``. A prefix or suffix holding ``,`` cannot be written here (use the
    admin API or the Python API).
    """
    document: dict[str, Any] = {}
    events: list[str] = []
    for item in spec.split(","):
        field, sep, value = item.partition("=")
        field = field.strip()
        if not sep:
            raise OssEventRuleError(
                excerpt(item), f"write field=value pairs separated by ',', e.g. {SPEC_EXAMPLE}"
            )
        if field not in SPEC_FIELDS:
            raise OssEventRuleError(excerpt(field), f"unknown field; a rule has {', '.join(SPEC_FIELDS)}")
        if field == "events":
            events.append(value)
        elif field in document:
            raise OssEventRuleError(field, "given twice; only events may repeat")
        elif field == "base64":
            if value.lower() not in ("true", "false"):
                raise OssEventRuleError("base64", f"{excerpt(value)} is not true or false")
            document[field] = value.lower() == "true"
        else:
            document[field] = value
    if events:
        document["events"] = tuple(events)
    return OssEventRule.from_json(document)


def format_rule_spec(rule: OssEventRule) -> str:
    """``rule`` in :func:`parse_rule_spec`'s syntax (for a prefix and suffix without ``,``)."""
    pairs = [(f, getattr(rule, f)) for f in ("name", "topic", "bucket", "prefix", "suffix")]
    pairs += [("events", event) for event in rule.events]
    pairs.append(("base64", "true" if rule.base64 else "false"))
    return ",".join(f"{field}={value}" for field, value in pairs)
