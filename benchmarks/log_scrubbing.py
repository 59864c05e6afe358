"""Cost of scrubbing one library log record against the number of STS refreshes the process has seen.

Each refresh of role credentials issues a temporary secret and token, which the log scrubber must
keep out of the libraries' records. This script protects one connection's secret and token, then
simulates ``n`` refreshes (n = 10, 100, 1,000, 3,000), and measures the CPU time
(``time.process_time``, best of ``--repeat`` runs) of scrubbing a typical urllib3 DEBUG record (a
signed AssumeRole request line quoting the newest token, percent-encoded):

* ``scrubber``: :class:`SecretScrubber` as it is: the connection's secrets plus the last
  ``TEMPORARY_KEPT`` refreshes, all matched by one regular expression;
* ``baseline``: the previous shape, kept here: every secret ever issued, each of its seven forms
  replaced with ``str.replace`` (forms cached for at most 256 secrets, as before).

Prints, per n, microseconds per record and the number of secrets protected, and writes them to
``benchmarks/results/log_scrubbing.json``. Target: the scrubber's cost and set stay flat as n grows.
"""

from __future__ import annotations

import argparse
import base64
import functools
import json
import logging
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from _common import write_results

from airflow_provider_imm.hooks.log_scrubbing import SecretScrubber

SIZES = (10, 100, 1_000, 3_000)
RECORDS = 2_000
#: The baseline takes ~15 ms a record at 1,000 refreshes: timed on fewer records.
BASELINE_RECORDS = 100


@functools.lru_cache(maxsize=256)
def _old_forms(secret: str) -> tuple[str, ...]:
    raw = secret.encode()
    forms = {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        json.dumps(secret)[1:-1],
    }
    return tuple(sorted(forms, key=len, reverse=True))


def _old_redact(text: str, secrets: frozenset[str]) -> str:
    forms = {form for secret in secrets if secret for form in _old_forms(secret)}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, "***")
    return text


def issued(refresh: int) -> list[str]:
    return [f"STS.tmpSecret{refresh:08d}Xy+/=", f"CAIS{refresh:08d}token/with+chars=="]


def record(token: str) -> logging.LogRecord:
    line = (
        'http://127.0.0.1:8765 "GET /?Action=AssumeRole&Format=JSON&RoleArn=acs%3Aram%3A%3A1%3Arole%2Fr'
        f'&SecurityToken={quote(token, safe="")}&Signature=abc HTTP/1.1" 200 512'
    )
    return logging.LogRecord("urllib3.connectionpool", logging.DEBUG, __file__, 1, line, None, None)


def best(repeat: int, run: Any) -> float:
    times = []
    for _ in range(repeat):
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return min(times)


def measure(refreshes: int, repeat: int) -> dict[str, Any]:
    factory = logging.getLogRecordFactory()
    scrubber = SecretScrubber(loggers=("urllib3",))
    scrubber.protect(["connection-secret-0123456789", "connection-token-0123456789"])
    every = {"connection-secret-0123456789", "connection-token-0123456789"}
    for refresh in range(refreshes):
        scrubber.protect(issued(refresh), temporary=True)
        every.update(issued(refresh))
    logging.setLogRecordFactory(factory)
    baseline_set = frozenset(every)
    token = issued(refreshes - 1)[1]
    records = [record(token) for _ in range(RECORDS)]

    def new() -> None:
        for item in records:
            item.msg, item.args = record(token).msg, None
            scrubber.scrub(item)
        assert "CAIS" not in records[-1].getMessage()

    def old() -> None:
        for _ in range(BASELINE_RECORDS):
            assert "CAIS" not in _old_redact(record(token).getMessage(), baseline_set)

    return {
        "refreshes": refreshes,
        "scrubber_us_per_record": best(repeat, new) / RECORDS * 1e6,
        "scrubber_secrets": len(scrubber.protected),
        "baseline_us_per_record": best(repeat, old) / BASELINE_RECORDS * 1e6,
        "baseline_secrets": len(baseline_set),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results/log_scrubbing.json")
    args = parser.parse_args()
    rows = []
    for refreshes in SIZES:
        row = measure(refreshes, args.repeat)
        rows.append(row)
        print(
            f"{refreshes:>6} refreshes: scrubber {row['scrubber_us_per_record']:8.1f} us/record "
            f"({row['scrubber_secrets']} secrets), baseline {row['baseline_us_per_record']:10.1f} us/record "
            f"({row['baseline_secrets']} secrets)"
        )
    write_results(args.output, {"records": RECORDS, "sizes": rows})


if __name__ == "__main__":
    main()
