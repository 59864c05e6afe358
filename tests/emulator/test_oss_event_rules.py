"""OSS event rules as pure logic: validation, matching, the event message, the command-line syntax."""

from __future__ import annotations

import base64
import json
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_imm.emulator.oss import ObjectChange
from airflow_provider_imm.emulator.oss_events import (
    CATEGORIES,
    EVENT_NAMES,
    PROCESS_STATUS,
    OssEventRule,
    OssEventRuleError,
    event_message,
    event_time,
    format_rule_spec,
    matches,
    parse_rule_spec,
)
from airflow_provider_imm.utils.timestamps import parse_timestamp

FAST = settings(max_examples=150, deadline=None)

keys = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30)
# A prefix or suffix for the command-line syntax: no ',' (its separator).
spec_parts = st.text(st.characters(codec="utf-8", exclude_characters=",\x00"), max_size=20)
event_names = st.sampled_from(EVENT_NAMES)
patterns = st.one_of(event_names, st.sampled_from(CATEGORIES).map(lambda c: f"{c}:*"))
rules = st.builds(
    OssEventRule,
    name=st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,20}", fullmatch=True),
    topic=st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,20}", fullmatch=True),
    bucket=st.from_regex(r"[a-z0-9][a-z0-9-]{1,10}[a-z0-9]", fullmatch=True),
    prefix=spec_parts,
    suffix=spec_parts,
    events=st.lists(patterns, min_size=1, max_size=4).map(tuple),
    base64=st.booleans(),
)


def _parsed(text: str) -> datetime:
    """OSS's eventTime ("...Z"), which Python 3.10's fromisoformat does not read."""
    parsed = parse_timestamp(text)
    assert parsed is not None, text
    return parsed


def change(
    event: str = "ObjectCreated:PutObject", bucket: str = "docs", key: str = "inbox/a.docx"
) -> ObjectChange:
    return ObjectChange(event, bucket, key, 1234, "5D41402ABC4B2A76B9719D911017C592")


def rule(**fields: object) -> OssEventRule:
    defaults: dict[str, object] = {"name": "uploads", "topic": "oss-events", "bucket": "docs"}
    return OssEventRule(**{**defaults, **fields})  # type: ignore[arg-type]


# Matching
@FAST
@given(rules, keys, event_names)
def test_a_key_between_prefix_and_suffix_matches_exactly_when_an_event_pattern_names_its_event(
    r: OssEventRule, middle: str, event: str
) -> None:
    named = any(p == event or (p.endswith(":*") and event.split(":")[0] == p[:-2]) for p in r.events)

    assert matches(r, change(event, r.bucket, r.prefix + middle + r.suffix)) is named


@FAST
@given(rules, keys, event_names)
def test_a_change_in_another_bucket_never_matches(r: OssEventRule, key: str, event: str) -> None:
    assert not matches(r, change(event, r.bucket + "x", r.prefix + key + r.suffix))


@FAST
@given(rules, keys, event_names)
def test_a_key_outside_the_prefix_or_suffix_never_matches(r: OssEventRule, key: str, event: str) -> None:
    if not (key + r.suffix).startswith(r.prefix):
        assert not matches(r, change(event, r.bucket, key + r.suffix))
    if not (r.prefix + key).endswith(r.suffix):
        assert not matches(r, change(event, r.bucket, r.prefix + key))


@pytest.mark.parametrize("category", CATEGORIES)
def test_a_category_wildcard_selects_exactly_the_events_of_its_category(category: str) -> None:
    r = rule(events=(f"{category}:*",))

    selected = {e for e in EVENT_NAMES if matches(r, change(e))}

    assert selected == {e for e in EVENT_NAMES if e.startswith(f"{category}:")}
    assert not matches(r, change(f"{category}Extra:PutObject"))  # the category itself, not a prefix of it


def test_an_exact_event_name_selects_only_itself() -> None:
    r = rule(events=("ObjectRemoved:DeleteObject",))

    assert [e for e in EVENT_NAMES if matches(r, change(e))] == ["ObjectRemoved:DeleteObject"]


def test_prefix_and_suffix_are_literal_not_patterns() -> None:
    r = rule(prefix="in*/", suffix=".d?cx")

    assert matches(r, change(key="in*/a.d?cx"))
    assert not matches(r, change(key="inbox/a.docx"))


# Validation: every bad field is named
@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"name": ""}, "name", "letters, digits and hyphens"),
        ({"name": "../x"}, "name", "letters, digits and hyphens"),
        ({"topic": "a b"}, "topic", "letters, digits and hyphens"),
        ({"topic": None}, "topic", "not valid"),
        ({"bucket": "Docs"}, "bucket", "lower-case"),
        ({"bucket": "a/b"}, "bucket", "lower-case"),
        ({"bucket": 7}, "bucket", "not a bucket name"),
        ({"prefix": 3}, "prefix", "not a string"),
        ({"suffix": "x" * 1024}, "suffix", "1023-byte"),
        ({"events": ()}, "events", "at least one"),
        ({"events": "ObjectCreated:*"}, "events", "not a list"),
        ({"events": ("ObjectCreated:Put",)}, "events", "ObjectCreated:PutObject"),
        ({"events": ("Object*",)}, "events", "<category>:*"),
        ({"events": ("*",)}, "events", "not an OSS event name"),
        ({"events": ("objectcreated:*",)}, "events", "not an OSS event name"),
        ({"base64": "yes"}, "base64", "true or false"),
    ],
)
def test_bad_rule_fields_are_named(fields: dict[str, object], field: str, says: str) -> None:
    with pytest.raises(OssEventRuleError, match=says) as raised:
        rule(**fields)

    assert raised.value.field == field
    assert str(raised.value).startswith(f"{field}: ")


def test_a_huge_bad_value_is_quoted_as_a_short_excerpt() -> None:
    with pytest.raises(OssEventRuleError) as raised:
        rule(events=("x" * 10_000_000,))

    assert len(str(raised.value)) < 1000


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"topic": "t", "bucket": "docs"}, "name"),
        ({"name": "r", "bucket": "docs"}, "topic"),
        ({"name": "r", "topic": "t"}, "bucket"),
        ({"name": "r", "topic": "t", "bucket": "docs", "bukket": "docs"}, "'bukket'"),
    ],
)
def test_from_json_names_a_missing_or_unknown_field(document: dict[str, object], field: str) -> None:
    with pytest.raises(OssEventRuleError) as raised:
        OssEventRule.from_json(document)

    assert raised.value.field == field


@FAST
@given(rules)
def test_json_round_trip(r: OssEventRule) -> None:
    assert OssEventRule.from_json(json.loads(json.dumps(r.to_json()))) == r


# The command-line syntax
@FAST
@given(rules)
def test_spec_round_trip(r: OssEventRule) -> None:
    assert parse_rule_spec(format_rule_spec(r)) == r


def test_spec_defaults_and_repeated_events() -> None:
    assert parse_rule_spec("name=a,topic=t,bucket=docs") == rule(name="a", topic="t")
    repeated = parse_rule_spec("name=a,topic=t,bucket=docs,events=ObjectCreated:*,events=ObjectRemoved:*")
    assert repeated.events == ("ObjectCreated:*", "ObjectRemoved:*")


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ("name=a,topic=t", "bucket"),
        ("name=a,topic=t,bucket=docs,bukket=x", "'bukket'"),
        ("name=a,topic=t,bucket=docs,inbox/", "'inbox/'"),
        ("name=a,name=b,topic=t,bucket=docs", "name"),
        ("name=a,topic=t,bucket=docs,base64=maybe", "base64"),
        ("name=a,topic=t,bucket=docs,events=Created", "events"),
    ],
)
def test_bad_specs_name_the_field(spec: str, field: str) -> None:
    with pytest.raises(OssEventRuleError) as raised:
        parse_rule_spec(spec)

    assert raised.value.field == field


# The message
def test_event_message_has_the_documented_shape() -> None:
    body = event_message(
        rule(),
        change(),
        region="cn-beijing",
        account_id="1234567890",
        epoch=1795140001.0,
        request_id="5F6A7B8C9D0E1F2A3B4C5D6E",
    )

    assert json.loads(body) == {
        "events": [
            {
                "eventName": "ObjectCreated:PutObject",
                "eventSource": "acs:oss",
                "eventTime": "2026-11-20T02:00:01.000Z",
                "eventVersion": "1.0",
                "oss": {
                    "bucket": {
                        "arn": "acs:oss:cn-beijing:1234567890:docs",
                        "name": "docs",
                        "ownerIdentity": "1234567890",
                    },
                    "object": {
                        "key": "inbox/a.docx",
                        "size": 1234,
                        "eTag": "5D41402ABC4B2A76B9719D911017C592",
                        "deltaSize": 1234,
                    },
                    "ossSchemaVersion": "1.0",
                    "ruleId": "uploads",
                },
                "region": "cn-beijing",
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {"requestId": "5F6A7B8C9D0E1F2A3B4C5D6E"},
                "userIdentity": {"principalId": "1234567890"},
            }
        ]
    }


@FAST
@given(keys, st.integers(0, 2**40), event_names)
def test_event_message_carries_any_key_and_size_unchanged(key: str, size: int, event: str) -> None:
    c = ObjectChange(event, "docs", key, size, "")
    (message,) = json.loads(event_message(rule(), c, region="r", account_id="1", epoch=0.0, request_id="x"))[
        "events"
    ]

    assert message["eventName"] == event
    assert message["oss"]["object"]["key"] == key
    assert message["oss"]["object"]["size"] == size
    assert message["oss"]["object"]["deltaSize"] == (-size if event.startswith("ObjectRemoved:") else size)


@FAST
@given(st.floats(0, 4e9))
def test_event_time_is_iso_utc_with_milliseconds_of_the_given_time(epoch: float) -> None:
    text = event_time(epoch)

    assert len(text) == 24 and text.endswith("Z")
    assert abs(_parsed(text).timestamp() - epoch) < 0.001


def test_process_status_is_the_documented_base64_json() -> None:
    assert json.loads(base64.b64decode(PROCESS_STATUS)) == {
        "code": "Success",
        "message": "NotificationSucceed",
        "type": "EventNotification",
        "version": "1.0",
    }
