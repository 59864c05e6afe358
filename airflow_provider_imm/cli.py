"""``imm-setup-notifications``: create the MNS topic, queue and subscription IMM notifies through.

A connection naming RocketMQ (extras ``rocketmq_*``) is checked instead: its topic and consumer group
must exist on the instance (ApsaraMQ creates them in its console; the emulator creates them here).

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
from airflow_provider_imm.hooks.rocketmq import RocketMqChannel

if TYPE_CHECKING:
    from airflow_provider_imm.hooks.connection import ImmConnectionSettings
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
        rocketmq = _setup_rocketmq(args.conn_id)
        outcome = _setup(args) if rocketmq is None else rocketmq
    if isinstance(outcome, RocketMqChannel):
        print(_render_rocketmq(outcome, as_json=args.json))
        return 0
    if isinstance(outcome, str):
        print(f"imm-setup-notifications: {outcome}", file=sys.stderr)
        return 1
    channel, settings = outcome
    print(_render(channel, settings, as_json=args.json))
    return 0


def _setup(args: argparse.Namespace) -> tuple[NotificationChannel, ImmConnectionSettings] | str:
    """The channel and the connection, or the one-line reason it could not be set up."""
    # Imported here so --help answers without loading Airflow.
    from airflow.sdk.exceptions import AirflowNotFoundException

    from airflow_provider_imm.hooks.connection import ImmConnectionConfigError
    from airflow_provider_imm.hooks.errors import MnsApiError
    from airflow_provider_imm.hooks.mns import MnsHook

    try:
        hook = MnsHook(args.conn_id)
        channel = hook.ensure_notification_channel(args.topic, args.queue, args.subscription, args.format)
        return channel, hook.settings
    except (AirflowNotFoundException, ImmConnectionConfigError, MnsApiError, ValueError) as err:
        return str(err)


def _setup_rocketmq(conn_id: str) -> RocketMqChannel | str | None:
    """The RocketMQ channel checked (created on the emulator), the reason it failed, or None when
    the connection names no RocketMQ."""
    from airflow.sdk.exceptions import AirflowNotFoundException

    from airflow_provider_imm.hooks.connection import ImmConnectionConfigError
    from airflow_provider_imm.hooks.imm import ImmHook
    from airflow_provider_imm.hooks.rocketmq import ensure_rocketmq_channel

    try:
        settings = ImmHook(conn_id).settings
        if settings.rocketmq is None:
            return None
        emulator_url = f"{settings.protocol}://{settings.imm_endpoint}"
        return ensure_rocketmq_channel(settings.rocketmq, emulator_url)
    except (AirflowNotFoundException, ImmConnectionConfigError, OSError) as err:
        return str(err)


def _render_rocketmq(channel: RocketMqChannel, *, as_json: bool) -> str:
    if as_json:
        return json.dumps({"topic": channel.topic, "group": channel.group, "created": list(channel.created)})
    lines = [
        f"{'created' if part in channel.created else 'exists '} {part:<12} {name}"
        for part, name in (("topic", channel.topic), ("group", channel.group))
    ]
    lines.append("Operators add Notification.RocketMQ to each request: leave Notification out of yours.")
    return "\n".join(lines)


def _render(channel: NotificationChannel, settings: ImmConnectionSettings, *, as_json: bool) -> str:
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
    lines.append(_next_step(channel, settings))
    return "\n".join(lines)


def _next_step(channel: NotificationChannel, settings: ImmConnectionSettings) -> str:
    """What the user does next. The operators add ``Notification`` from the connection's extras, so
    the user never writes it; only names other than the connection's need the extras changed."""
    if (settings.mns_topic, settings.mns_queue) == (channel.topic, channel.queue):
        return (
            f"Operators add Notification (topic {channel.topic!r}) to each request: "
            "leave Notification out of yours."
        )
    return (
        f"Set extras mns_topic={channel.topic!r} and mns_queue={channel.queue!r} on connection "
        f"{settings.conn_id!r}: operators then add Notification to each request (leave it out of "
        "yours) and wait on this queue."
    )


if __name__ == "__main__":
    sys.exit(main())
