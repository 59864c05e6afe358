"""``imm-setup-notifications``: create the MNS topic, queue and subscription IMM notifies through.

Reads the ``imm`` connection through Airflow (environment variable, secrets backend or metadata
database, as Airflow is configured) and creates whichever part is missing; running it again
changes nothing. Names default to the connection's ``mns_topic`` / ``mns_queue`` /
``mns_subscription`` extras.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from typing import TYPE_CHECKING

from airflow_provider_imm.hooks.connection import DEFAULT_CONN_ID, SUBSCRIPTION_FORMATS

if TYPE_CHECKING:
    from airflow_provider_imm.hooks.mns import NotificationChannel


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imm-setup-notifications", description=__doc__)
    parser.add_argument("--conn-id", default=DEFAULT_CONN_ID, help="imm connection id (default: %(default)s)")
    parser.add_argument("--topic", help="MNS topic IMM publishes to (default: extra mns_topic)")
    parser.add_argument("--queue", help="MNS queue to deliver to (default: extra mns_queue)")
    parser.add_argument(
        "--subscription", help="topic -> queue subscription (default: extra mns_subscription)"
    )
    parser.add_argument(
        "--format",
        type=str.upper,
        choices=SUBSCRIPTION_FORMATS,
        help="subscription content format (default: extra mns_subscription_format, else JSON)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Airflow logs to stdout; stdout is kept for the result (the --json output must parse).
    with contextlib.redirect_stdout(sys.stderr):
        outcome = _setup(args)
    if isinstance(outcome, str):
        print(f"imm-setup-notifications: {outcome}", file=sys.stderr)
        return 1
    print(_render(outcome, as_json=args.json))
    return 0


def _setup(args: argparse.Namespace) -> NotificationChannel | str:
    """The channel, or the one-line reason it could not be set up."""
    # Imported here so --help answers without loading Airflow.
    from airflow.sdk.exceptions import AirflowNotFoundException

    from airflow_provider_imm.hooks.connection import ImmConnectionConfigError
    from airflow_provider_imm.hooks.errors import MnsApiError
    from airflow_provider_imm.hooks.mns import MnsHook

    try:
        return MnsHook(args.conn_id).ensure_notification_channel(
            args.topic, args.queue, args.subscription, args.format
        )
    except (AirflowNotFoundException, ImmConnectionConfigError, MnsApiError, ValueError) as err:
        return str(err)


def _render(channel: NotificationChannel, *, as_json: bool) -> str:
    if as_json:
        return json.dumps(
            {
                "topic": channel.topic,
                "queue": channel.queue,
                "subscription": channel.subscription,
                "queue_endpoint": channel.queue_endpoint,
                "format": channel.format,
                "created": list(channel.created),
            }
        )
    lines = [
        f"{'created' if part in channel.created else 'exists '} {part:<12} {name}"
        for part, name in (
            ("topic", channel.topic),
            ("queue", channel.queue),
            ("subscription", channel.subscription),
        )
    ]
    lines.append(f"Queue endpoint: {channel.queue_endpoint} ({channel.format})")
    lines.append(f'Submit tasks with Notification={{"MNS": {{"TopicName": "{channel.topic}"}}}}.')
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
