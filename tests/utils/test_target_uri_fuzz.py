"""Fuzzing the TargetURI template functions: any text parses, checks and expands or gets a short
``TargetUriTemplateError``; the three agree with each other; the same input, the same answer."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from airflow_provider_imm.catalog import OPERATIONS
from airflow_provider_imm.utils.target_uri import (
    TargetUriTemplateError,
    check_target_uri,
    expand_target_uri,
    parse_target_uri,
)
from tests.utils.fuzz import KEYS, SCALARS, TEXT, outcome

_PIECES = st.sampled_from(
    ["{", "}", "{{", "}}", "{barename}", "{tags.", "tags", ".", "!r", ":", "[0]", " ", "0", "{}", "\ud800",
     "\x00", "{%", "%}", "x" * 80, "autoext", "{tags.team}"]
)  # fmt: skip
TEMPLATES = st.lists(_PIECES | TEXT, max_size=8).map("".join)
BOUND = 700


@settings(max_examples=400, deadline=None)
@given(
    TEMPLATES | SCALARS,
    st.sampled_from(sorted(OPERATIONS)),
    st.none() | st.dictionaries(KEYS, SCALARS, max_size=4) | st.just({"team": "t"}),
    st.booleans(),
    st.dictionaries(TEXT | st.sampled_from(["barename", "autoext"]), TEXT, max_size=3),
)
@example("oss://out/{tags.team}", "CreateOfficeConversionTask", {1: "x", None: "y", "a": "b"}, True, {})
@example("oss://out/{" + "x" * 100_000 + "}", "CreateOfficeConversionTask", None, True, {})
@example("oss://out/{tags.team}", "CreateOfficeConversionTask", {10**5000: "x"}, True, {})  # no str()
def test_any_template_parses_checks_and_expands_or_gets_a_short_error(
    template: Any, action: str, tags: Any, has_tags: bool, variables: dict[str, str]
) -> None:
    allowed = OPERATIONS[action].template_variables

    def check() -> Any:
        return check_target_uri(template, allowed, tags=tags, has_tags=has_tags, field="Targets[0].URI")

    parsed = outcome(
        lambda: parse_target_uri(template, field="Targets[0].URI"), TargetUriTemplateError, BOUND
    )
    checked = outcome(check, TargetUriTemplateError, BOUND)
    expanded = outcome(lambda: expand_target_uri(template, variables, tags), TargetUriTemplateError, BOUND)
    assert outcome(check, TargetUriTemplateError, BOUND) == checked
    if parsed[0] == "error":
        assert checked == parsed
        assert expanded[0] == "error"
        return
    if checked[0] == "ok":
        assert checked[1] == parsed[1]
    names = {v.name for v in parsed[1]}
    known = set(variables) | {f"tags.{k}" for k in (tags or {}) if isinstance(k, str)}
    assert (expanded[0] == "ok") == (names <= known)
