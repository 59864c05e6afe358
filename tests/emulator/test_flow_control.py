"""The emulator's flow control as a pure decision: token buckets per account and action, a fake clock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_imm.emulator.flow_control import FlowControl, Rate, parse_rate, retry_after_ms


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _admitted(control: FlowControl, n: int, action: str = "GetTask", account: str = "1") -> int:
    return sum(control.admit(account, action) is None for _ in range(n))


def test_no_limit_is_set_by_default() -> None:
    control = FlowControl(clock=Clock())

    assert _admitted(control, 10_000) == 10_000
    assert control.rates() == {} and control.retry_after is False


def test_a_limit_of_n_per_second_lets_n_through_at_once_then_one_per_1_over_n_seconds() -> None:
    clock = Clock()
    control = FlowControl(clock=clock)
    control.set_rate("GetTask", 20)

    assert _admitted(control, 30) == 20
    assert control.admit("1", "GetTask") == pytest.approx(1 / 20)  # how long until the next token
    clock.now += 0.5
    assert _admitted(control, 30) == 10
    clock.now += 10  # the bucket holds at most one second's worth
    assert _admitted(control, 100) == 20


def test_a_refused_call_takes_no_token() -> None:
    clock = Clock()
    control = FlowControl(clock=clock)
    control.set_rate("GetTask", 1)
    control.admit("1", "GetTask")

    for _ in range(100):
        assert control.admit("1", "GetTask") is not None
    clock.now += 1.0
    assert control.admit("1", "GetTask") is None


def test_buckets_are_per_action_and_per_account() -> None:
    control = FlowControl(clock=Clock())
    control.set_rates({"GetTask": 2, "ListTasks": 3})

    assert _admitted(control, 10, "GetTask") == 2
    assert _admitted(control, 10, "ListTasks") == 3
    assert _admitted(control, 10, "GetTask", account="2") == 2
    assert _admitted(control, 10, "GetProject") == 10  # no limit on it


def test_fractional_rates_and_bursts() -> None:
    clock = Clock()
    control = FlowControl(clock=clock)
    control.set_rate("GetTask", 0.5)
    control.set_rate("ListTasks", 10, burst=1)

    assert _admitted(control, 5) == 1  # a rate under one call per second still lets one through
    clock.now += 1.0
    assert _admitted(control, 5) == 0
    clock.now += 1.0
    assert _admitted(control, 5) == 1
    assert _admitted(control, 5, "ListTasks") == 1


def test_removing_or_changing_a_limit_starts_afresh() -> None:
    control = FlowControl(clock=Clock())
    control.set_rate("GetTask", 1)
    _admitted(control, 5)

    control.set_rate("GetTask", 2)
    assert _admitted(control, 5) == 2
    control.set_rate("GetTask", None)
    assert _admitted(control, 5) == 5
    control.set_rates({"GetTask": 1})
    control.retry_after = True
    control.clear()
    assert _admitted(control, 5) == 5 and control.retry_after is False


@pytest.mark.parametrize("per_second", [0, -1, float("nan"), float("inf"), True, "20", 1e7])
def test_a_bad_rate_is_refused_with_the_fix(per_second: object) -> None:
    with pytest.raises(ValueError, match="per_second must be a number of calls per second"):
        FlowControl().set_rate("GetTask", per_second)  # type: ignore[arg-type]


def test_bad_actions_and_bursts_are_refused() -> None:
    control = FlowControl(known=["GetTask", "ListTasks"])

    with pytest.raises(ValueError, match=r"unknown action 'GetTsk'; one of GetTask, ListTasks"):
        control.set_rate("GetTsk", 1)
    with pytest.raises(ValueError, match="action must be an API action name"):
        FlowControl().set_rate("x" * 10_000, 1)
    with pytest.raises(ValueError, match="burst must be at least 1"):
        control.set_rate("GetTask", 5, burst=0.5)
    with pytest.raises(ValueError, match="rates must map action names"):
        control.set_rates([("GetTask", 1)])  # type: ignore[arg-type]
    # All checked before any is set.
    with pytest.raises(ValueError):
        control.set_rates({"GetTask": 1, "ListTasks": 0})
    assert control.rates() == {}


@settings(max_examples=60, deadline=None)
@given(
    rate=st.floats(min_value=0.1, max_value=100),
    gaps=st.lists(st.floats(min_value=0, max_value=2), max_size=200),
)
def test_no_window_admits_more_than_the_burst_plus_the_refill(rate: float, gaps: list[float]) -> None:
    clock = Clock()
    control = FlowControl(clock=clock)
    control.set_rate("GetTask", rate)
    admitted: list[float] = []
    for gap in gaps:
        clock.now += gap
        wait = control.admit("1", "GetTask")
        if wait is None:
            admitted.append(clock.now)
        else:
            assert 0 < wait <= 1 / rate + 1e-9
    capacity = Rate(rate).capacity
    for i, start in enumerate(admitted):
        for j in range(i, len(admitted)):
            assert j - i + 1 <= capacity + (admitted[j] - start) * rate + 1e-6


def test_retry_after_is_whole_milliseconds_at_least_one() -> None:
    assert (retry_after_ms(0.05), retry_after_ms(0.0), retry_after_ms(0.0101)) == (50, 1, 11)


def test_the_command_line_form_of_a_rate() -> None:
    assert parse_rate("imm:CreateOfficeConversionTask=20") == ("imm", "CreateOfficeConversionTask", 20.0)
    assert parse_rate("mns:ReceiveMessage=0.5") == ("mns", "ReceiveMessage", 0.5)
    for bad, words in [
        ("CreateOfficeConversionTask=20", "SERVICE:ACTION=PER_SECOND"),
        ("oss:GetObject=1", "SERVICE imm or mns"),
        ("imm:GetTask=fast", "not a number of calls per second"),
        ("imm:GetTask=0", "above 0"),
    ]:
        with pytest.raises(ValueError, match=words):
            parse_rate(bad)
