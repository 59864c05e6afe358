"""The ``submission`` section of ``reconciliation.py``: submitting under a Create rate limit.

``submission``: ``--submissions`` tasks (default 1,000) submitted at once, as mapped tasks are, by
``--processes`` worker processes (a thread per submission, each with its own :class:`ImmHook`, as
each task instance builds its own), against the emulator in a process of its own limiting the
Create action to ``--create-rate`` calls per second (default 20). Each submission takes the
operator's path: ``ImmHook.create_task`` (which retries throttling under the connection's retry
policy), then GetTask once. Measured: wall seconds from the start signal to the last submission
done against the ideal ``submissions / create_rate``, failures (a retry budget that ran out counts
as one), duplicate IMM tasks (tasks per submission tag beyond the first) and throttled answers per
task. The baseline is the same run with the retry policy this provider had before it was sized from
this measurement (5 attempts, 60 s, equal jitter).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict
from multiprocessing.synchronize import Event
from typing import Any

from _common import EmulatorProcess

from airflow_provider_imm.emulator.server import emulator_connection
from airflow_provider_imm.hooks.retry import RetryPolicy

PROJECT = "bench-project"
CONN_ID = "imm_bench"
ACTION = "CreateFigureClusteringTask"
TASK_TYPE = "FaceClustering"
#: The retry policy before it was chosen from this benchmark: the baseline of the submission section.
PREVIOUS_POLICY = RetryPolicy(max_attempts=5, max_seconds=60.0, base_delay=0.5, max_delay=20.0, jitter=0.5)


def _submit_all(indexes: list[int], policy: RetryPolicy | None, ready: Any, go: Event, results: Any) -> None:
    """One worker process: a hook and a thread per submission, all released together by ``go``."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):  # a warning per retry, a thousand times over, says nothing the figures don't
        os.dup2(devnull, fd)
    from airflow_provider_imm.hooks.errors import ImmApiError
    from airflow_provider_imm.hooks.imm import ImmHook

    waits: Counter[int] = Counter()  # waits between attempts, per submission

    def sleeper(i: int) -> Any:
        def sleep(seconds: float) -> None:
            waits[i] += 1
            time.sleep(seconds)

        return sleep

    hooks = {i: ImmHook(CONN_ID, retry_policy=policy, sleep=sleeper(i)) for i in indexes}
    for hook in hooks.values():
        hook.get_conn()  # connection read and client built before the start, as a worker would have
    outcomes: list[tuple[int, str | None, float, int]] = []
    lock = threading.Lock()

    def submit(i: int) -> None:
        hook = hooks[i]
        error = None
        try:
            request = {"DatasetName": f"d{i}", "Tags": {"submission": str(i)}}
            task_id = hook.create_task(ACTION, request, PROJECT)["TaskId"]
            hook.get_task(PROJECT, TASK_TYPE, task_id)
        except ImmApiError as err:
            error = f"{err.kind}:{err.code}"
        with lock:
            outcomes.append((i, error, time.monotonic(), waits[i] + 1))  # Create's attempts

    threads = [threading.Thread(target=submit, args=(i,)) for i in indexes]
    ready.put(len(indexes))
    go.wait()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put(outcomes)


def measure_submission(
    n: int = 1000,
    *,
    create_rate: float = 20.0,
    processes: int = 20,
    policy: RetryPolicy | None = None,
) -> dict[str, Any]:
    """One submission run: ``n`` submissions at once under a Create limit of ``create_rate``/s.

    ``policy`` None: the connection's default retry policy (what users get). Returns the figures of
    the ``submission`` section (without the baseline).
    """
    ctx = multiprocessing.get_context("spawn")
    with EmulatorProcess(projects=[PROJECT]) as emulator:
        emulator.admin("POST", "/_emulator/flow-control", {"service": "imm", "rates": {ACTION: create_rate}})
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = emulator_connection(
            emulator.url, account_id=emulator.account_id, project=PROJECT, mns_topic=None, mns_queue=None,
            mns_subscription=None,
        )  # fmt: skip
        ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
        shares = [list(range(p, n, processes)) for p in range(min(processes, n))]
        workers = [
            ctx.Process(target=_submit_all, args=(share, policy, ready, go, results)) for share in shares
        ]
        for worker in workers:
            worker.start()
        for _ in workers:
            ready.get(timeout=600)
        emulator.admin("DELETE", "/_emulator/counters")
        started = time.monotonic()
        go.set()
        outcomes = [outcome for _ in workers for outcome in results.get(timeout=3600)]
        for worker in workers:
            worker.join(timeout=60)
        counters = emulator.admin("GET", "/_emulator/counters")
        tasks = emulator.admin("GET", f"/_emulator/imm/tasks?project={PROJECT}")["tasks"]

    ideal = n / create_rate
    wall = max(outcome[2] for outcome in outcomes) - started
    calls = sorted(outcome[3] for outcome in outcomes)
    per_submission = Counter(str((task.get("Tags") or {}).get("submission")) for task in tasks)
    errors = Counter(outcome[1] for outcome in outcomes if outcome[1] is not None)
    done = sorted(outcome[2] - started for outcome in outcomes if outcome[1] is None)
    effective = policy or RetryPolicy()  # its defaults are the connection's
    return {
        "submissions": n,
        "create_rate": create_rate,
        "processes": len(workers),
        "policy": asdict(effective),
        "wall_s": round(wall, 2),
        "ideal_s": ideal,
        "wall_ratio": round(wall / ideal, 3),
        "failed": sum(errors.values()),
        "errors": dict(errors),
        "retries_exhausted": sum(k for e, k in errors.items() if e.startswith("throttled:")),
        "duplicates": sum(k - 1 for k in per_submission.values() if k > 1),
        "imm_tasks": len(tasks),
        "create_calls": counters.get(f"imm:{ACTION}", 0),
        "throttled": counters.get(f"imm-throttled:{ACTION}", 0),
        "throttled_per_task": round(counters.get(f"imm-throttled:{ACTION}", 0) / n, 2),
        "done_s": {"p50": _quantile(done, 0.5), "p99": _quantile(done, 0.99)},
        # What sizes the attempt budget (GetTask has no limit here, so its waits are Create's).
        "create_attempts": {"p50": _quantile(calls, 0.5), "p99": _quantile(calls, 0.99), "max": calls[-1]},
    }


def _quantile(ordered: list[Any], q: float) -> Any:
    if not ordered:
        return None
    value = ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]
    return round(value, 2) if isinstance(value, float) else value


def submission_section(n: int, *, create_rate: float, processes: int) -> dict[str, Any]:
    """The ``submission`` figures with the current default policy, and the previous one as baseline."""
    current = measure_submission(n, create_rate=create_rate, processes=processes)
    baseline = measure_submission(n, create_rate=create_rate, processes=processes, policy=PREVIOUS_POLICY)
    return {"submission": {**current, "baseline": baseline}}


def print_submission(section: Mapping[str, Any]) -> None:
    for name, figures in (("current policy", section), ("baseline (previous policy)", section["baseline"])):
        print(
            f"submission, {name}: {figures['submissions']} at once against {figures['create_rate']:g}/s: "
            f"{figures['wall_s']:.1f} s against the ideal {figures['ideal_s']:.0f} s "
            f"(x{figures['wall_ratio']:.2f}), failed {figures['failed']}, "
            f"duplicates {figures['duplicates']}, "
            f"throttled answers per task {figures['throttled_per_task']:.2f}"
        )
