"""Fuzzing ``parse_notification``: arbitrary bytes and text, base64, and the MNS wrappers and IMM
envelopes around arbitrary JSON never raise; the answer is a notification or ``None``, and the same
body always gets the same answer."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from airflow_provider_imm.utils.notification_parsing import (
    ImmNotification,
    parse_notification,
    parse_timestamp,
)
from tests.utils.fuzz import CHARACTERS, TEXT
from tests.utils.test_notification_parsing import OUTER, PAYLOAD_SHAPES, WRAPPERS, imm_payload

_JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | TEXT
JSON_VALUES = st.recursive(
    _JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=10,
)
_FIELDS = st.sampled_from(
    ["TaskId", "Status", "TaskType", "ProjectName", "StartTime", "EndTime", "Tags", "UserData", "Code"]
)
#: IMM payloads with any value in any field, and fields added or dropped.
PAYLOADS = st.builds(
    lambda changes, dropped: {k: v for k, v in {**imm_payload(), **changes}.items() if k not in dropped},
    st.dictionaries(_FIELDS | TEXT, JSON_VALUES, max_size=3),
    st.lists(_FIELDS, max_size=2),
)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


@st.composite
def wrapped(draw: st.DrawFn) -> str | bytes:
    """A payload (or any JSON) in a documented shape, wrapper and outer encoding, maybe cut short."""
    inner = draw(PAYLOADS | JSON_VALUES.filter(lambda v: isinstance(v, dict)))
    body = draw(st.sampled_from(sorted(PAYLOAD_SHAPES)).map(PAYLOAD_SHAPES.get))(inner)  # type: ignore[misc]
    body = draw(st.sampled_from(sorted(WRAPPERS)).map(WRAPPERS.get))(body)  # type: ignore[misc]
    body = draw(st.sampled_from(sorted(OUTER)).map(OUTER.get))(body)  # type: ignore[misc]
    cut = draw(st.none() | st.integers(0, len(body)))
    return body if cut is None else body[:cut]


BODIES = (
    st.binary(max_size=200)
    | st.text(CHARACTERS, max_size=200)
    | JSON_VALUES.map(_dumps)
    | JSON_VALUES.map(lambda v: base64.b64encode(_dumps(v).encode("utf-8", "surrogatepass")).decode())
    | st.builds(
        lambda tag, text: f"<{tag}><Message>{text}</Message></{tag}>",
        st.sampled_from(["Notification", "x"]),
        TEXT,
    )
    | wrapped()
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(BODIES)
@example('{"TaskId": "t", "Status": "Succeeded", "StartTime": "0000-01-01T00:00:00Z"}')
@example('{"TaskId": "t", "Status": "Succeeded", "Tags": {"a": 1}, "UserData": 5}')
@example("<Notification><Message>\ud800</Message></Notification>")
@example('"' + "[" * 100_000 + '"')
@example("[" * 100_000)
@example("1" * 5000)
def test_any_body_gives_a_notification_or_none(body: str | bytes) -> None:
    first = parse_notification(body)
    assert first is None or isinstance(first, ImmNotification)
    assert parse_notification(body) == first
    if first is not None:
        assert first.task_id and isinstance(first.task_id, str)
        assert first.start_time is None or first.start_time.tzinfo is not None


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES | st.text(st.sampled_from("0123456789-:T.Z+ "), max_size=40))
def test_any_timestamp_gives_an_aware_datetime_or_none(value: Any) -> None:
    first = parse_timestamp(value)
    assert first is None or first.tzinfo is not None
    assert parse_timestamp(value) == first
