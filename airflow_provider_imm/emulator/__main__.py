"""imm-emulator: run the IMM + MNS + OSS emulator in the foreground until interrupted.

Once listening it prints one JSON line on stdout with everything a client needs: endpoint, url,
oss_url, region, account id, the key pair it accepts and its projects (also served at GET /_emulator/info).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

from airflow_provider_imm.emulator.flow_control import parse_rate
from airflow_provider_imm.emulator.guard import check_loopback
from airflow_provider_imm.emulator.oss_events import (
    SPEC_EXAMPLE,
    SPEC_FIELDS,
    OssEventRule,
    OssEventRuleError,
    parse_rule_spec,
)
from airflow_provider_imm.emulator.server import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCESS_KEY_SECRET,
    DEFAULT_PROJECT,
    ImmEmulator,
)

#: The options that :class:`ImmEmulator` takes as they are, under the same names.
_SAME_NAMED = (
    "host",
    "port",
    "oss_port",
    "rocketmq_port",
    "region",
    "access_key_id",
    "access_key_secret",
    "task_duration",
    "retry_after",
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imm-emulator",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "example: an MNS message for every document put under oss://docs/inbox/\n"
            f"  imm-emulator --oss-event-rule '{SPEC_EXAMPLE}'"
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=0, help="port to bind, 0 for a free one (default: %(default)s)"
    )
    parser.add_argument(
        "--oss-port",
        type=int,
        default=0,
        help="port of OSS's REST API (oss_url), 0 for a free one (default: %(default)s)",
    )
    parser.add_argument(
        "--rocketmq-port",
        type=int,
        default=0,
        help="port of RocketMQ's gRPC service (rocketmq_endpoint; needs the rocketmq extra), "
        "0 for a free one (default: %(default)s)",
    )
    parser.add_argument("--root", help="OSS folder (default: a new temporary folder)")
    parser.add_argument(
        "--region", default="cn-hangzhou", help="region the services report (default: %(default)s)"
    )
    parser.add_argument(
        "--access-key-id", default=DEFAULT_ACCESS_KEY_ID, help="AccessKey ID accepted (default: %(default)s)"
    )
    parser.add_argument(
        "--access-key-secret",
        default=DEFAULT_ACCESS_KEY_SECRET,
        help="AccessKey secret accepted, a test key (default: %(default)s)",
    )
    parser.add_argument(
        "--project",
        action="append",
        help=f"IMM project to create, repeatable (default: {DEFAULT_PROJECT})",
    )
    parser.add_argument(
        "--task-duration", type=float, default=0.05, help="seconds an IMM task runs (default: %(default)s)"
    )
    parser.add_argument(
        "--oss-event-rule",
        action="append",
        default=[],
        metavar="FIELD=VALUE,...",
        help=(
            "OSS event notification rule, repeatable: publish OSS's event message to an MNS topic "
            f"(created if missing) for matching object changes. Fields: {', '.join(SPEC_FIELDS)} "
            "(name, topic and bucket required; events repeats and defaults to ObjectCreated:*; "
            "base64 true or false, default true). See the example below."
        ),
    )
    parser.add_argument(
        "--rate",
        action="append",
        default=[],
        metavar="SERVICE:ACTION=PER_SECOND",
        help="flow control: limit an action to calls per second, repeatable "
        "(e.g. imm:CreateOfficeConversionTask=20, mns:ReceiveMessage=50; default: no limit)",
    )
    parser.add_argument(
        "--retry-after",
        action="store_true",
        help="IMM's throttled answers carry x-acs-retry-after (IMM documents none; default: off)",
    )
    return parser


async def _run(args: argparse.Namespace, rules: list[OssEventRule]) -> None:
    emulator = ImmEmulator(
        args.root,
        projects=tuple(args.project or [DEFAULT_PROJECT]),
        imm_rates=args.rates["imm"],
        mns_rates=args.rates["mns"],
        **{name: getattr(args, name) for name in _SAME_NAMED},
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with emulator:
        for rule in rules:
            emulator.oss_events.add_rule(rule)
        # One JSON line on stdout tells a parent process where the emulator listens.
        print(json.dumps(emulator.info()), flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        check_loopback(args.host)
    except ValueError as err:
        parser.error(f"--host {err}")
    try:
        rules = [parse_rule_spec(spec) for spec in args.oss_event_rule]
    except OssEventRuleError as err:
        parser.error(f"--oss-event-rule {err}; e.g. {SPEC_EXAMPLE}")
    args.rates = {"imm": {}, "mns": {}}
    for option in args.rate:
        try:
            service, action, per_second = parse_rate(option)
        except ValueError as err:
            parser.error(f"--rate {err}")
        args.rates[service][action] = per_second
    asyncio.run(_run(args, rules))
    return 0


if __name__ == "__main__":
    sys.exit(main())
