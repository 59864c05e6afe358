"""The shared reconciler's decisions, without I/O (``triggers/reconciliation.py``)."""

from __future__ import annotations

import math
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_imm.triggers.reconciliation import (
    ReconcileSettings,
    catch_up_start,
    ended,
    first_checks_due,
    iso_time,
    list_running_instead,
    listing_page_budget,
    needing_check,
    round_delay,
    running,
    window_start,
)

DEFAULT = ReconcileSettings()
STATUSES = st.sampled_from(["Running", "Succeeded", "Failed", "Unknown", None])
IDS = st.sampled_from([f"OfficeConversion-{n}" for n in range(8)])
TASKS = st.lists(st.fixed_dictionaries({"TaskId": IDS, "Status": STATUSES}), max_size=30)
EPOCH = st.floats(min_value=1.6e9, max_value=2.1e9, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(previous=EPOCH, ends_after=st.floats(0, 7200), skew=st.floats(-599, 599))
def test_a_task_ending_after_the_previous_round_started_is_in_the_window_whatever_the_skew(
    previous: float, ends_after: float, skew: float
) -> None:
    # It ends, by this machine's clock, after the previous round began; IMM's clock is ``skew`` off.
    end_in_imm_time = previous + ends_after + skew
    start = window_start(previous, DEFAULT)
    assert start <= end_in_imm_time
    # ... and the bound IMM receives (whole seconds) is never later than the window's start.
    assert datetime.fromisoformat(iso_time(start).replace("Z", "+00:00")).timestamp() <= start


def test_a_skew_beyond_the_margin_is_what_rechecks_exist_for() -> None:
    previous = 1.8e9
    assert window_start(previous, DEFAULT) > previous - 601  # the margin is 600 s by default


def test_catch_up_reaches_back_at_least_a_margin() -> None:
    now = 1.8e9
    assert catch_up_start(now, DEFAULT) == now - 3600
    assert catch_up_start(now, ReconcileSettings(catch_up=10)) == now - DEFAULT.margin


@settings(max_examples=200, deadline=None)
@given(listed=TASKS, waiting=st.sets(IDS))
def test_ended_settles_each_waited_for_task_once_from_a_final_status(
    listed: list[dict[str, str | None]], waiting: set[str]
) -> None:
    found = ended(listed, waiting)
    expected = {
        t["TaskId"] for t in listed if t["TaskId"] in waiting and t["Status"] in ("Succeeded", "Failed")
    }
    assert set(found) == expected
    for task_id, info in found.items():
        # The first final listing of it, whatever repeats overlapping pages brought.
        first = next(t for t in listed if t["TaskId"] == task_id and t["Status"] in ("Succeeded", "Failed"))
        assert info is first


def test_ended_ignores_malformed_entries() -> None:
    listed = [
        {"Status": "Succeeded"},
        {"TaskId": 7, "Status": "Failed"},
        {"TaskId": "a", "Status": "Running"},
    ]
    assert ended(listed, {"a"}) == {}


@settings(max_examples=100, deadline=None)
@given(listed=TASKS)
def test_running_names_exactly_the_running_tasks(listed: list[dict[str, str | None]]) -> None:
    assert running(listed) == {t["TaskId"] for t in listed if t["Status"] == "Running"}


def test_needing_check_takes_unchecked_and_stale_waits_oldest_first() -> None:
    now = 1.8e9
    checked = {"fresh": now - 10, "never": None, "stale": now - DEFAULT.recheck_after - 1, "edge": None}
    assert needing_check(checked, now, DEFAULT) == ["edge", "never", "stale"]
    assert needing_check({}, now, DEFAULT) == []


@settings(max_examples=200, deadline=None)
@given(
    checked=st.dictionaries(IDS, st.one_of(st.none(), st.floats(0, 2e4))),
    now=st.floats(0, 2e4),
)
def test_needing_check_is_exactly_the_unchecked_and_stale(
    checked: dict[str, float | None], now: float
) -> None:
    small = ReconcileSettings(recheck_after=100)
    due = needing_check(checked, now, small)
    assert set(due) == {k for k, at in checked.items() if at is None or at <= now - 100}
    assert len(due) == len(set(due))


def test_few_checks_are_get_task_calls_whatever_a_listing_would_cost() -> None:
    assert not list_running_instead(DEFAULT.listing_min_batch - 1, 1, DEFAULT)
    assert not list_running_instead(1, None, DEFAULT)


@settings(max_examples=200, deadline=None)
@given(need=st.integers(0, 50_000), pages=st.one_of(st.none(), st.integers(1, 1000)))
def test_a_listing_is_chosen_only_when_it_costs_fewer_calls(need: int, pages: int | None) -> None:
    chosen = list_running_instead(need, pages, DEFAULT)
    estimate = pages if pages is not None else math.ceil(need / 100)
    assert chosen == (need >= DEFAULT.listing_min_batch and estimate + 1 < need)
    # A listing never takes more pages than GetTask each would have cost calls.
    assert listing_page_budget(need) <= max(1, need)


def test_a_restart_with_ten_thousand_waits_lists() -> None:
    assert list_running_instead(10_000, None, DEFAULT)
    assert list_running_instead(10_000, 100, DEFAULT)


@settings(max_examples=200, deadline=None)
@given(
    interval=st.floats(0.1, 600),
    failures=st.integers(0, 100),
    retry_after=st.one_of(st.none(), st.floats(0.1, 3600)),
)
def test_failed_rounds_back_off_capped_and_honour_retry_after(
    interval: float, failures: int, retry_after: float | None
) -> None:
    delay = round_delay(interval, failures, retry_after, DEFAULT)
    assert delay >= interval
    assert delay <= max(interval * DEFAULT.max_backoff_factor, retry_after or 0)
    if retry_after:
        assert delay >= retry_after
    if failures:
        assert round_delay(interval, failures + 1, None, DEFAULT) >= round_delay(
            interval, failures, None, DEFAULT
        )


def test_no_failure_means_the_interval() -> None:
    assert round_delay(30.0, 0, None, DEFAULT) == 30.0
    assert round_delay(30.0, 1, None, DEFAULT) == 60.0
    assert round_delay(30.0, 50, None, DEFAULT) == 240.0


@pytest.mark.parametrize(
    "field",
    ["margin", "catch_up", "first_check_delay", "first_check_max_delay", "recheck_after", "default_interval"],
)
def test_negative_times_are_refused_by_name(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        ReconcileSettings(**{field: -1})


def test_limits_below_one_are_refused() -> None:
    with pytest.raises(ValueError, match="GetTask"):
        ReconcileSettings(get_task_concurrency=0)
    with pytest.raises(ValueError, match="listing_min_batch"):
        ReconcileSettings(listing_min_batch=0)


@settings(max_examples=200, deadline=None)
@given(gaps=st.lists(st.floats(0, 0.3), min_size=1, max_size=50))
def test_first_checks_wait_for_a_burst_to_pause_but_never_past_the_cap(gaps: list[float]) -> None:
    pending_since = now = 1.8e9
    for gap in gaps:
        now += gap
        due = first_checks_due(pending_since, now, DEFAULT)
        assert due <= pending_since + DEFAULT.first_check_max_delay
        assert due <= now + DEFAULT.first_check_delay
        # A lone wait is checked a pause after it registered.
    assert first_checks_due(now, now, DEFAULT) == now + DEFAULT.first_check_delay
