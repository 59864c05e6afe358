"""TargetURI templates: parsing, checking against each operation's variables, and expansion."""

from __future__ import annotations

import string
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_imm.catalog import BASE_TEMPLATE_VARIABLES, OPERATIONS, get_operation
from airflow_provider_imm.utils.target_uri import (
    TargetUriTemplateError,
    TemplateVariable,
    check_target_uri,
    escape_literal,
    expand_target_uri,
    parse_target_uri,
    source_variables,
)

UPLOADED = datetime(2024, 3, 5, 7, 8, 9, tzinfo=timezone.utc)
CREATED = datetime(2025, 11, 21, 23, 4, 0, tzinfo=timezone.utc)
ALL_VARIABLES = sorted(set().union(*(op.template_variables for op in OPERATIONS.values())))


def _error(template: object, **kwargs: object) -> str:
    with pytest.raises(TargetUriTemplateError) as info:
        if kwargs:
            check_target_uri(template, **kwargs)  # type: ignore[arg-type]
        else:
            parse_target_uri(template, field="Targets[0].URI")  # type: ignore[arg-type]
    return str(info.value)


def test_reference_example() -> None:
    template = "oss://{bucket}/{tags.custom}/{dirname}/{barename}.{autoext}"
    variables = parse_target_uri(template)
    assert [v.name for v in variables] == ["bucket", "tags.custom", "dirname", "barename", "autoext"]
    assert [v.tag for v in variables] == [None, "custom", None, None, None]
    values = {**source_variables("test-bucket", "path1/path2/name.png", uploaded=UPLOADED, created=CREATED)}
    values["autoext"] = "jpg"
    assert (
        expand_target_uri(template, values, {"custom": "team-a"})
        == "oss://test-bucket/team-a/path1/path2/name.jpg"
    )


def test_literal_braces() -> None:
    assert parse_target_uri("oss://b/{{x}}/{{{barename}}}") == [TemplateVariable("barename")]
    assert expand_target_uri("oss://b/{{x}}/{{{barename}}}", {"barename": "n"}) == "oss://b/{x}/{n}"


@settings(max_examples=300)
@given(st.text(max_size=60))
def test_escaped_text_round_trips(text: str) -> None:
    escaped = escape_literal(text)
    assert parse_target_uri(escaped) == []
    assert expand_target_uri(escaped, {}) == text


_LITERAL = st.text(st.characters(codec="utf-8"), max_size=8)


@settings(max_examples=200)
@given(
    st.sampled_from(sorted(OPERATIONS)),
    st.lists(st.tuples(_LITERAL, st.one_of(st.none(), st.integers(0, 10_000))), max_size=6),
    st.dictionaries(st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,8}", fullmatch=True), _LITERAL, max_size=3),
)
def test_generated_templates_check_and_expand_piece_by_piece(
    action: str, pieces: list[tuple[str, int | None]], tags: dict[str, str]
) -> None:
    op = OPERATIONS[action]
    names = sorted(op.template_variables) + ([f"tags.{t}" for t in sorted(tags)] if op.has_tags else [])
    values = {name: f"<{name}>" for name in op.template_variables}
    template, expected, used = "", "", []
    for literal, pick in pieces:
        template += escape_literal(literal)
        expected += literal
        if pick is not None:
            name = names[pick % len(names)]
            template += "{" + name + "}"
            expected += tags[name[5:]] if name.startswith("tags.") else values[name]
            used.append(name)
    checked = check_target_uri(template, op.template_variables, tags=tags, has_tags=op.has_tags)
    assert [v.name for v in checked] == used
    assert expand_target_uri(template, values, tags) == expected


@pytest.mark.parametrize("action", sorted(OPERATIONS))
def test_every_variable_of_every_operation_expands(action: str) -> None:
    op = OPERATIONS[action]
    template = "oss://{bucket}/" + "/".join("{" + v + "}" for v in sorted(op.template_variables))
    assert {
        v.name for v in check_target_uri(template, op.template_variables, tags=None, has_tags=op.has_tags)
    } == (op.template_variables)
    values = source_variables("in-bucket", "a/b/c.mov", uploaded=UPLOADED, created=CREATED)
    values.update({v: f"x{v}" for v in op.extra_template_variables})
    expanded = expand_target_uri(template, values)
    assert "{" not in expanded and "}" not in expanded
    assert expanded == "oss://in-bucket/" + "/".join(values[v] for v in sorted(op.template_variables))


def test_source_variables_follow_the_reference() -> None:
    values = source_variables("test-bucket", "path1/path2/name.png", uploaded=UPLOADED, created=CREATED)
    assert values == {
        "bucket": "test-bucket",
        "key": "path1/path2/name.png",
        "dirname": "path1/path2",
        "basename": "name.png",
        "barename": "name",
        "ext": "png",
        "year": "2024", "mon": "03", "day": "05", "hour": "07", "min": "08", "sec": "09",
        "t_year": "2025", "t_mon": "11", "t_day": "21", "t_hour": "23", "t_min": "04", "t_sec": "00",
    }  # fmt: skip
    assert set(values) == BASE_TEMPLATE_VARIABLES


@pytest.mark.parametrize(
    ("key", "dirname", "basename", "barename", "ext"),
    [
        ("name.png", "", "name.png", "name", "png"),
        ("a/archive.tar.gz", "a", "archive.tar.gz", "archive.tar", "gz"),
        ("a/README", "a", "README", "README", ""),
        ("a/.profile", "a", ".profile", ".profile", ""),
        ("a/b/", "a/b", "", "", ""),
    ],
)
def test_source_variables_edge_keys(key: str, dirname: str, basename: str, barename: str, ext: str) -> None:
    values = source_variables("b", key, uploaded=UPLOADED, created=CREATED)
    assert (values["dirname"], values["basename"], values["barename"], values["ext"]) == (
        dirname,
        basename,
        barename,
        ext,
    )


def test_detected_extension_overrides_the_key() -> None:
    assert source_variables("b", "a/photo", uploaded=UPLOADED, created=CREATED, ext="jpg")["ext"] == "jpg"


@pytest.mark.parametrize(
    "template", ["oss://b/{barename", "oss://b/barename}", "{", "}", "oss://b/{{x}}}", "a}b{"]
)
def test_unbalanced_braces(template: str) -> None:
    message = _error(template)
    assert message.startswith("Targets[0].URI") and "unbalanced braces" in message
    assert "a literal brace is '{{' or '}}'" in message


@settings(max_examples=300)
@given(st.text(alphabet="{}ab:!0. ", max_size=12))
def test_parse_agrees_with_str_format_on_balance(template: str) -> None:
    try:
        list(string.Formatter().parse(template))
        balanced = True
    except ValueError:
        balanced = False
    try:
        parse_target_uri(template, field="F")
    except TargetUriTemplateError as err:
        assert str(err).startswith("F")
        if not balanced:
            assert "unbalanced braces" in str(err)
    else:
        assert balanced


@pytest.mark.parametrize(
    "template", ["oss://b/{}.png", "oss://b/{0}.png", "oss://b/{ }.png", "oss://b/{ 1 }.png"]
)
def test_positional_placeholders(template: str) -> None:
    message = _error(template)
    assert "empty or positional" in message and "'{barename}'" in message


@pytest.mark.parametrize(
    ("template", "fix"),
    [
        ("oss://b/{index:03d}.png", "write '{index}'"),
        ("oss://b/{barename!r}.png", "write '{barename}'"),
        ("oss://b/{barename!s:>10}.png", "write '{barename}'"),
        ("oss://b/{index:{width}}.png", "write '{index}'"),
    ],
)
def test_format_specs_and_conversions(template: str, fix: str) -> None:
    message = _error(template)
    assert "conversion or format spec" in message and fix in message


@pytest.mark.parametrize(
    "template", ["oss://b/{barename[0]}", "oss://b/{bucket.name}", "oss://b/{tags.a.b}", "oss://b/{tags..a}"]
)
def test_indexing_and_attribute_chains(template: str) -> None:
    assert "not an IMM variable" in _error(template)


@pytest.mark.parametrize("template", ["oss://b/{tags}", "oss://b/{tags.}"])
def test_tags_without_a_key(template: str) -> None:
    assert "write '{tags.<key>}'" in _error(template)


def test_spaces_around_a_name() -> None:
    assert "write '{barename}'" in _error("oss://b/{ barename }.png")


def test_non_string_template() -> None:
    assert "must be a string" in _error(["oss://b/x"])


def test_unknown_variable_suggests_the_closest() -> None:
    op = get_operation("CreateImageToPDFTask")
    message = _error("oss://b/{barenme}.pdf", allowed=op.template_variables, tags=None, has_tags=True)
    assert "did you mean '{barename}'?" in message and "'{tags.<key>}'" in message
    message = _error("oss://b/{BUCKET}.pdf", allowed=op.template_variables, tags=None, has_tags=True)
    assert "did you mean '{bucket}'?" in message


def test_operation_specific_variables_are_not_offered_elsewhere() -> None:
    office = get_operation("CreateOfficeConversionTask")
    pdf = get_operation("CreateImageToPDFTask")
    template = "oss://b/{barename}-{index}.{autoext}"
    check_target_uri(template, office.template_variables, tags=None, has_tags=office.has_tags)
    message = _error(template, allowed=pdf.template_variables, tags=None, has_tags=pdf.has_tags)
    assert "'{index}', which this operation does not offer" in message


def test_tag_variables_need_the_tag() -> None:
    allowed = BASE_TEMPLATE_VARIABLES
    template = "oss://b/{tags.team}/{barename}"
    assert check_target_uri(template, allowed, tags={"team": "a"}, has_tags=True)[0].tag == "team"
    message = _error(template, allowed=allowed, tags={"other": "x"}, has_tags=True, field="TargetURI")
    assert message.startswith("TargetURI") and "no tag 'team' (tags present: other)" in message
    assert "add Tags={'team': ...}" in message
    assert "(tags present: none)" in _error(template, allowed=allowed, tags=None, has_tags=True)


def test_tag_variables_on_an_operation_without_tags() -> None:
    op = get_operation("CreateFileCompressionTask")
    assert not op.has_tags
    message = _error(
        "oss://b/{tags.team}.zip", allowed=op.template_variables, tags={"team": "a"}, has_tags=False
    )
    assert "takes no Tags" in message


def test_expansion_reads_tags_not_attributes() -> None:
    with pytest.raises(TargetUriTemplateError, match=r"no value for variable 'tags\.__class__'"):
        expand_target_uri("oss://b/{tags.__class__}", {}, {})
    assert expand_target_uri("oss://b/{tags.__class__}", {}, {"__class__": "c"}) == "oss://b/c"


def test_expansion_without_a_value() -> None:
    with pytest.raises(TargetUriTemplateError, match="no value for variable 'autoext'"):
        expand_target_uri("oss://b/{barename}.{autoext}", {"barename": "x"})
    with pytest.raises(TargetUriTemplateError, match=r"no value for variable 'tags\.team'"):
        expand_target_uri("oss://b/{tags.team}", {}, None)


def test_expansion_rejects_what_parsing_rejects() -> None:
    with pytest.raises(TargetUriTemplateError, match="conversion or format spec"):
        expand_target_uri("oss://b/{index:03d}", {"index": "1"})


# --- Size: validation is linear and messages quote a bounded excerpt ------------------------------


class _CountingStr(str):
    """A template that counts the characters of itself that validation copies into text."""

    copied = 0

    def __repr__(self) -> str:
        text = str.__repr__(self)
        _CountingStr.copied += len(text)
        return text

    def __str__(self) -> str:
        _CountingStr.copied += len(self)
        return str.__str__(self)

    def __format__(self, spec: str) -> str:
        _CountingStr.copied += len(self)
        return str.__format__(self, spec)


@pytest.mark.parametrize("placeholders", [1_000, 10_000])
def test_checking_a_template_copies_it_a_bounded_number_of_times(placeholders: int) -> None:
    """Work per placeholder is constant: the whole value is never copied once per placeholder."""
    allowed = get_operation("CreateMediaConvertTask").template_variables
    template = _CountingStr("oss://out/" + "{barename}/" * placeholders + "x.ts")
    _CountingStr.copied = 0
    check_target_uri(template, allowed, tags=None, has_tags=True)
    expand_target_uri(template, {"barename": "n"})
    assert _CountingStr.copied <= 2 * len(template)


def test_a_ten_megabyte_template_with_a_hundred_thousand_placeholders_gets_a_short_error() -> None:
    """The bad placeholder is the last one: everything before it is checked in linear time."""
    allowed = get_operation("CreateMediaConvertTask").template_variables
    segment = "{barename}/" + "a" * 89
    template = "oss://out/" + segment * 100_000 + "{ barename}.ts"
    assert len(template) >= 10_000_000
    with pytest.raises(TargetUriTemplateError) as info:
        check_target_uri(template, allowed, tags=None, has_tags=True, field="Targets[0].URI")
    message = str(info.value)
    assert len(message) < 300
    assert message.startswith("Targets[0].URI 'oss://out/{barename}/aaa")
    assert "has spaces around the name: write '{barename}'" in message
    for bad in ("oss://out/" + segment * 100_000 + "{barename", template.replace("{ barename}", "{barname}")):
        with pytest.raises(TargetUriTemplateError) as info:
            check_target_uri(bad, allowed, tags=None, has_tags=True)
        assert len(str(info.value)) < 600


def test_long_names_and_tags_are_quoted_in_excerpts() -> None:
    long_name = "x" * 1_000_000
    for template, kwargs in [
        ("oss://out/{" + long_name + "}", {"tags": None, "has_tags": True}),
        ("oss://out/{tags." + long_name + "}", {"tags": {"team": "v"}, "has_tags": True}),
        ("oss://out/{tags." + long_name + "}", {"tags": None, "has_tags": False}),
        ("oss://out/{tags.team}", {"tags": {f"{i}-{long_name}": "v" for i in range(3)}, "has_tags": True}),
        ("oss://out/{tags.team}", {"tags": {str(i): "v" for i in range(100_000)}, "has_tags": True}),
    ]:
        with pytest.raises(TargetUriTemplateError) as info:
            check_target_uri(template, {"barename"}, **kwargs)  # type: ignore[arg-type]
        assert len(str(info.value)) < 600
    with pytest.raises(TargetUriTemplateError) as info:
        expand_target_uri("oss://out/" + "a" * 1_000_000 + "{nothing}", {})
    assert len(str(info.value)) < 300
