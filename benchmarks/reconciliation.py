"""Waiting and submitting at scale inside IMM's quotas, each measured against today's path in the same run.

- ``shared`` / ``per_trigger`` and ``restart`` (``_reconciliation_rounds.py``): ``--n`` deferred
  waits (default 10,000) settled by the shared reconciler against each trigger's own GetTask, over
  ``--rounds`` shortened rounds with 5% of notifications dropped, and after a triggerer restart.
- ``submission`` (``_submission_burst.py``): ``--submissions`` (default 1,000) submitted at once by
  ``--processes`` worker processes against a ``--create-rate`` Create limit (default 20/s), with the
  retry policy against the one it replaced.

Prints the figures and writes them as JSON (``--output``): ``shared.imm_calls_per_task``,
``per_trigger.imm_calls_per_task``, ``shared.dropped_latency_s.p99``, ``restart.shared_imm_calls``,
``restart.per_trigger_imm_calls``, ``submission.wall_ratio``, ``submission.failed``,
``submission.duplicates``, ... ``--skip`` leaves sections out.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from _common import write_results
from _reconciliation_rounds import measure_restart, measure_rounds, print_restart, print_rounds
from _submission_burst import print_submission, submission_section

RESULTS = Path(__file__).parent / "results"
SECTIONS = ("rounds", "restart", "submission")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="waiting triggers (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=20, help="reconciliation rounds (default: %(default)s)")
    parser.add_argument("--interval", type=float, default=3.0, help="seconds between rounds (shortened)")
    parser.add_argument(
        "--baseline-n",
        type=int,
        default=1000,
        help="waits on today's per-trigger path (default: %(default)s)",
    )
    parser.add_argument("--submissions", type=int, default=1000, help="submitted at once (default: 1000)")
    parser.add_argument("--create-rate", type=float, default=20.0, help="Create calls per second allowed")
    parser.add_argument("--processes", type=int, default=20, help="worker processes submitting")
    parser.add_argument("--skip", action="append", default=[], choices=SECTIONS, help="leave a section out")
    parser.add_argument("--output", type=Path, default=RESULTS / "reconciliation.json")
    args = parser.parse_args()
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR")

    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count()}}
    if "rounds" not in args.skip:
        results.update(
            measure_rounds(args.n, args.rounds, interval=args.interval, baseline_n=args.baseline_n)
        )
        print_rounds(results)
    if "restart" not in args.skip:
        results.update(measure_restart(args.n, interval=args.interval))
        print_restart(results["restart"])
    if "submission" not in args.skip:
        results.update(
            submission_section(args.submissions, create_rate=args.create_rate, processes=args.processes)
        )
        print_submission(results["submission"])
    write_results(args.output, results)
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
