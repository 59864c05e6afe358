"""The default retry policy against a burst of submissions under flow control, simulated: clients
retrying with :meth:`RetryPolicy.next_delay` against the emulator's token bucket, on a virtual clock.

The measurement itself (worker processes, the real hook, the emulator over HTTP) is
``benchmarks/reconciliation.py``; this keeps its conclusion from regressing in milliseconds.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass

import pytest

from airflow_provider_imm.emulator.flow_control import FlowControl
from airflow_provider_imm.hooks.errors import ImmApiError
from airflow_provider_imm.hooks.retry import RetryPolicy

THROTTLED = ImmApiError(
    action="CreateFigureClusteringTask", code="Throttling.User", message="", kind="throttled", status_code=400
)
#: Seconds a call takes on the wire, counted in each client's elapsed time.
LATENCY = 0.02


@dataclass
class Burst:
    failed: int
    last_done: float
    throttled: int


def submit_at_once(policy: RetryPolicy, n: int, rate: float, seed: int) -> Burst:
    """``n`` clients start within half a second; each retries throttled answers as ``policy`` says."""
    now = 0.0
    control = FlowControl(clock=lambda: now)
    control.set_rate("CreateFigureClusteringTask", rate)
    rng = random.Random(seed)
    pending = [(rng.random() * 0.5, client, 0) for client in range(n)]
    heapq.heapify(pending)
    burst = Burst(0, 0.0, 0)
    while pending:
        now, client, attempts = heapq.heappop(pending)
        attempts += 1
        if control.admit("account", "CreateFigureClusteringTask") is None:
            burst.last_done = now
            continue
        burst.throttled += 1
        delay = policy.next_delay(
            THROTTLED,
            attempts=attempts,
            elapsed=now + LATENCY * attempts,
            rand=rng.random(),
            idempotent=False,
        )
        if delay is None:
            burst.failed += 1
        else:
            heapq.heappush(pending, (now + LATENCY + delay, client, attempts))
    return burst


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_default_policy_gets_1000_submissions_through_a_20_per_second_limit(seed: int) -> None:
    burst = submit_at_once(RetryPolicy(), n=1000, rate=20.0, seed=seed)

    assert burst.failed == 0
    assert burst.last_done <= 1.5 * 1000 / 20.0
    assert burst.throttled / 1000 < 8  # each throttled answer is a call IMM counts against the account


def test_the_previous_policy_ran_out_of_retries_for_most_of_them() -> None:
    previous = RetryPolicy(max_attempts=5, max_seconds=60.0, base_delay=0.5, max_delay=20.0, jitter=0.5)

    assert submit_at_once(previous, n=1000, rate=20.0, seed=0).failed > 500


def test_full_jitter_waits_anywhere_in_the_whole_step() -> None:
    policy = RetryPolicy()

    assert [policy.backoff(n, 0.0) for n in (1, 2, 10)] == [0.0, 0.0, 0.0]
    assert [policy.backoff(n, 0.5) for n in (1, 2, 3, 10)] == [0.25, 0.5, 1.0, policy.max_delay / 2]
