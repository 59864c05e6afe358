"""Excerpts of users' values in error messages: whole when short, start and end when long, always
short and printable whatever the value."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings

from airflow_provider_imm.utils.excerpt import MAX_EXCERPT, excerpt
from tests.utils.fuzz import SCALARS, TEXT, structures

#: Start and end of the value (with quotes, escapes and '...') plus its length.
BOUND = 2 * MAX_EXCERPT + 40


def test_a_short_value_is_quoted_whole() -> None:
    assert excerpt("oss://docs/in/report.docx") == "'oss://docs/in/report.docx'"
    assert excerpt("it's") == '"it\'s"'
    assert excerpt(12) == "12"


def test_a_long_value_shows_its_start_end_and_length() -> None:
    value = "oss://out/{barename}/" + "a" * 10_000_000 + "/end.pdf"
    shown = excerpt(value)
    assert shown.startswith("'oss://out/{barename}/aaa")
    assert shown.endswith(f"aaa/end.pdf' ({len(value)} characters)")
    assert "'...'" in shown
    assert len(shown) <= BOUND


def test_escapes_count_towards_the_length() -> None:
    for value in ("\U000e0000" * 50, "\ud800" * 1000, "\x00" * MAX_EXCERPT):
        shown = excerpt(value)
        assert len(shown) <= BOUND
        assert shown.isascii()


class _Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def test_an_object_whose_repr_fails_is_named_by_its_type() -> None:
    assert excerpt(_Unprintable()).startswith("<_Unprintable ")
    assert excerpt([_Unprintable()]).startswith("[<_Unprintable ")


@settings(max_examples=300, deadline=None)
@given(structures(SCALARS) | TEXT)
@example(10**5000)  # int too long for repr
@example(list(range(100_000)))
def test_any_value_gives_a_short_printable_excerpt(value: Any) -> None:
    shown = excerpt(value)
    assert isinstance(shown, str)
    assert len(shown) <= BOUND
    shown.encode("utf-8")
    assert excerpt(value) == shown
