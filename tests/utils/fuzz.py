"""What the fuzz tests of the pure parsers and validators share: hostile inputs and the checks on errors.

Every parser and validator in ``airflow_provider_imm.utils`` either returns a result or raises its
module's documented error, with a message of bounded length that any log can print, and answers the
same input the same way twice.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

#: An int too long for ``str()`` (Python limits int-to-text conversion to 4300 digits).
HUGE_INT = st.just(0).map(lambda _: 10**5000)
#: Any character, lone surrogates and NUL included.
CHARACTERS = st.characters(exclude_categories=())
TEXT = st.text(CHARACTERS, max_size=40)
#: Values of every kind a DAG can put in a dict, JSON's and others.
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | TEXT
    | st.binary(max_size=8)
    | st.frozensets(st.integers(), max_size=3)
    | st.just(object())
    | HUGE_INT
)
KEYS = TEXT | st.integers() | st.none() | st.tuples(st.integers()) | st.floats() | HUGE_INT


def structures(leaves: st.SearchStrategy[Any] = SCALARS, keys: st.SearchStrategy[Any] = KEYS) -> Any:
    """Nested lists, tuples, sets and dicts of ``leaves``, with keys of any kind."""
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=3) | st.tuples(inner, inner) | st.dictionaries(keys, inner, max_size=3)
        ),
        max_leaves=10,
    )


def outcome(function: Callable[[], Any], error: type[Exception], bound: int) -> tuple[str, Any]:
    """``("ok", result)`` or ``("error", message)``; fails on any other exception, on a message longer
    than ``bound`` or one a UTF-8 log could not write."""
    try:
        return "ok", function()
    except error as err:
        message = str(err)
        assert len(message) <= bound, (len(message), message[:500])
        message.encode("utf-8")  # no lone surrogate reaches a log
        return "error", message


def same(first: tuple[str, Any], second: tuple[str, Any]) -> bool:
    """Equal outcomes, NaN equal to itself."""
    return _canonical(first) == _canonical(second)


def _canonical(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value
