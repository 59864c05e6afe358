"""Fuzzing ``validate_request`` over every catalog action: any request, however strange its keys and
values, passes or gets an ``InvalidRequestError`` of bounded length; the same request, the same answer."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from airflow_provider_imm.catalog import OPERATIONS
from airflow_provider_imm.utils.request_validation import MAX_DEPTH, InvalidRequestError, validate_request
from tests.minimal_requests import MINIMAL
from tests.utils.fuzz import KEYS, SCALARS, TEXT, outcome, structures

_URIS = st.sampled_from(
    ["oss://in-bucket/a.docx", "oss://out/{barename}.{autoext}", "http://x/y", "{{ ds }}"]
)
VALUES = structures(SCALARS | _URIS)
#: Per problem: a field path of at most MAX_DEPTH excerpts, and a message.
BOUND = 11 * (MAX_DEPTH * 120 + 800)


def requests(action: str) -> st.SearchStrategy[dict[Any, Any]]:
    """The action's minimal request with fields changed, added or removed, and a few stranger keys."""
    op = OPERATIONS[action]
    names = st.sampled_from(sorted(op.all_fields))
    changes = st.dictionaries(names | KEYS, VALUES, max_size=4)
    removed = st.lists(names, max_size=2)
    return st.builds(
        lambda changes, removed: {
            **{k: v for k, v in copy.deepcopy(MINIMAL[action].request).items() if k not in removed},
            **changes,
        },
        changes,
        removed,
    )


@st.composite
def any_request(draw: st.DrawFn) -> tuple[str, dict[Any, Any]]:
    action = draw(st.sampled_from(sorted(OPERATIONS)))
    return action, draw(requests(action))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(any_request(), st.none() | TEXT)
@example(("CreateOfficeConversionTask", {"Tags": {"team": 10**5000}}), None)
def test_any_request_passes_or_gets_a_bounded_error(case: tuple[str, dict[Any, Any]], project: Any) -> None:
    action, request = case

    def validate() -> None:
        validate_request(OPERATIONS[action], request, project=project)

    first = outcome(validate, InvalidRequestError, BOUND)
    assert outcome(validate, InvalidRequestError, BOUND) == first
    if first[0] == "ok":
        # What passes can be sent: JSON without NaN, text UTF-8 can encode, no NUL.
        text = json.dumps(request, allow_nan=False, ensure_ascii=False)
        assert "\x00" not in text
        text.encode("utf-8")
    else:
        try:
            validate()
        except InvalidRequestError as err:
            assert err.problems and err.field == err.problems[0].field
            assert len({p.field for p in err.problems}) == len(err.problems)
            assert all(p.field and p.message for p in err.problems)
