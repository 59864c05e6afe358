"""Validation time of a TargetURI against its number of placeholders: linear, unlike before.

A TargetURI rendered from ``dag_run.conf`` can hold any number of placeholders. For n = 1e3 .. 1e6
placeholders (``oss://out/{barename}/{barename}/...``, 11 characters each) this script measures the
CPU time of its own process (``time.process_time``, so that other work on a shared machine does not
count), best of ``--repeat`` runs:

* ``check``: :func:`check_target_uri` against CreateMediaConvertTask's variables (what the
  operator runs before submitting);
* ``validate``: :func:`validate_request` of a whole CreateOfficeConversionTask request with that
  TargetURI (which then fails, on the key's length, with a message of bounded length);
* ``baseline``: the previous checker's shape, kept here: the same parse, but each placeholder's check
  built its message prefix from ``repr`` of the whole template, O(n x length). It is timed only up to
  ``--baseline-max`` placeholders, as it takes minutes beyond.

Prints, per size, seconds, nanoseconds per character and the ratio to the previous size (10x more
placeholders: ~10 is linear, ~100 quadratic), and writes them to
``benchmarks/results/validation_scaling.json``. Target: ratio <= 15 for ``check`` and ``validate``
at every step, and time per character flat (largest / smallest <= 3).
"""

from __future__ import annotations

import argparse
import string
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import write_results

from airflow_provider_imm.catalog import get_operation
from airflow_provider_imm.utils.request_validation import InvalidRequestError, validate_request
from airflow_provider_imm.utils.target_uri import check_target_uri

SIZES = (1_000, 10_000, 100_000, 1_000_000)
MEDIA = get_operation("CreateMediaConvertTask")
OFFICE = get_operation("CreateOfficeConversionTask")
RATIO_TARGET = 15.0
FLATNESS_TARGET = 3.0


def template(placeholders: int) -> str:
    return "oss://out/" + "{barename}/" * placeholders + "x.ts"


def check(text: str) -> None:
    check_target_uri(text, MEDIA.template_variables, tags=None, has_tags=MEDIA.has_tags)


def validate(text: str) -> None:
    request = {"SourceURI": "oss://in/a.docx", "TargetType": "pdf", "TargetURI": text}
    try:
        validate_request(OFFICE, request)
    except InvalidRequestError as err:
        assert len(str(err)) < 1_000, "the message must stay short"


_FORMATTER = string.Formatter()


def baseline(text: str) -> None:
    """The previous checker's cost: the same parse, plus a message prefix per placeholder."""
    for _literal, name, _spec, _conversion in _FORMATTER.parse(text):
        if name is not None:
            prefix = f"TargetURI {text!r}: placeholder {'{' + name + '}'!r}"
            assert prefix


def best_of(function: Callable[[str], None], text: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.process_time()
        function(text)
        times.append(time.process_time() - start)
    return min(times)


def series(name: str, function: Callable[[str], None], sizes: list[int], repeat: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for n in sizes:
        text = template(n)
        seconds = best_of(function, text, repeat if n < 1_000_000 else 1)
        row = {"placeholders": n, "characters": len(text), "seconds": seconds}
        row["ns_per_char"] = seconds / len(text) * 1e9
        row["ratio"] = seconds / rows[-1]["seconds"] if rows else None
        rows.append(row)
        ratio = f"{row['ratio']:7.1f}x" if row["ratio"] else "       -"
        print(f"{name:>9} n={n:>9,} {seconds:10.4f} s {row['ns_per_char']:8.1f} ns/char  ratio {ratio}")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per size, best kept")
    parser.add_argument("--baseline-max", type=int, default=10_000, help="largest n for the baseline")
    parser.add_argument(
        "--output", type=Path, default=Path(__file__).parent / "results" / "validation_scaling.json"
    )
    args = parser.parse_args()

    results: dict[str, Any] = {"sizes": list(SIZES)}
    for name, function in (("check", check), ("validate", validate)):
        results[name] = series(name, function, list(SIZES), args.repeat)
    results["baseline"] = series(
        "baseline", baseline, [n for n in SIZES if n <= args.baseline_max], args.repeat
    )

    verdicts = {}
    for name in ("check", "validate"):
        rows = results[name]
        worst = max(row["ratio"] for row in rows[1:])
        per_char = [row["ns_per_char"] for row in rows]
        flatness = max(per_char) / min(per_char)
        verdicts[name] = {
            "worst_ratio_per_10x": worst,
            "ns_per_char_largest_over_smallest": flatness,
            "linear": worst <= RATIO_TARGET and flatness <= FLATNESS_TARGET,
        }
        print(
            f"{name}: worst ratio per 10x {worst:.1f} (target <= {RATIO_TARGET}), "
            f"ns/char largest/smallest {flatness:.2f} (target <= {FLATNESS_TARGET}): "
            + ("met" if verdicts[name]["linear"] else "NOT met")
        )
    base = results["baseline"]
    if len(base) > 1:
        print(f"baseline: ratio per 10x {base[-1]['ratio']:.1f} (quadratic is ~100)")
    results["verdicts"] = verdicts
    write_results(args.output, results)
    print(f"written to {args.output}")
    return 0 if all(v["linear"] for v in verdicts.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
