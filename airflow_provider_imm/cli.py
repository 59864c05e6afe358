"""``imm-setup-notifications``: create the MNS topic, queue and subscription IMM notifies through.

A connection naming RocketMQ (extras ``rocketmq_*``) is checked instead: its topic and consumer group
must exist on the instance (ApsaraMQ creates them in its console; the emulator creates them here).

Reads the ``imm`` connection through Airflow (environment variable, secrets backend or metadata
database, as Airflow is configured) and creates whichever part is missing; running it again
changes nothing. Names default to the connection's ``mns_topic`` / ``mns_queue`` /
``mns_subscription`` extras.

``--watcher-queue NAME`` also creates an asset watcher's queue, subscribed to the same topic (the
subscription is named after the queue): watchers and deferred tasks then each get every message,
and never take each other's. The connection's ``mns_queue`` is refused as a watcher queue.
``--oss-bucket`` adds the OSS event rule that publishes the bucket's uploads to the topic: on the
emulator it is created; on the cloud the command prints what to configure in OSS.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import urllib.error
import urllib.request
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
    parser.add_argument(
        "--watcher-queue", help="also create this asset watcher queue, subscribed to the same topic"
    )
    parser.add_argument("--oss-bucket", help="publish this bucket's OSS events to the topic")
    parser.add_argument("--oss-prefix", default="", help="... of keys under this prefix")
    parser.add_argument("--oss-suffix", default="", help="... of keys with this suffix")
    parser.add_argument(
        "--oss-events", default="ObjectCreated:*", help="comma-separated OSS events (default: %(default)s)"
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
    text = _render(channel, settings, as_json=args.json)
    if args.watcher_queue:
        with contextlib.redirect_stdout(sys.stderr):
            watcher = _setup_watcher(args, channel)
        if isinstance(watcher, str):
            print(f"imm-setup-notifications: {watcher}", file=sys.stderr)
            return 1
        text = _with_watcher(text, watcher, as_json=args.json)
    print(text)
    return 0


def _setup_watcher(args: argparse.Namespace, deferral: NotificationChannel) -> dict[str, object] | str:
    """The watcher queue on the deferral channel's topic, and the OSS rule; or why not."""
    from airflow_provider_imm.hooks.errors import MnsApiError
    from airflow_provider_imm.hooks.mns import MnsHook

    queue = args.watcher_queue
    if queue == deferral.queue:
        return (
            f"queue {queue!r} is the one deferred IMM tasks wait on (the connection's mns_queue): a "
            "watcher reading it and the deferral listener would take each other's messages. Give the "
            "watcher a queue of its own, e.g. --watcher-queue imm-watch."
        )
    hook = MnsHook(args.conn_id)
    try:
        channel = hook.ensure_notification_channel(deferral.topic, queue, queue, args.format)
    except (MnsApiError, ValueError) as err:
        return str(err)
    result: dict[str, object] = {
        "watcher_queue": channel.queue,
        "watcher_subscription": channel.subscription,
        "watcher_created": list(channel.created),
    }
    if args.oss_bucket:
        rule = {
            "name": f"{queue}-{args.oss_bucket}"[:64],
            "topic": deferral.topic,
            "bucket": args.oss_bucket,
            "prefix": args.oss_prefix,
            "suffix": args.oss_suffix,
            "events": [e.strip() for e in args.oss_events.split(",") if e.strip()],
        }
        result["oss_rule"] = _emulator_rule(hook.endpoint, rule)
    return result


def _emulator_rule(endpoint: str, rule: dict[str, object]) -> str:
    """Create the OSS event rule on the emulator; on the cloud, say what to configure."""
    if endpoint.startswith(("http://127.0.0.1", "http://localhost")):
        request = urllib.request.Request(
            f"{endpoint.rstrip('/')}/_emulator/oss-event-rules",
            data=json.dumps(rule).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10):
                return f"created on the emulator: {rule['name']}"
        except (urllib.error.URLError, OSError) as err:
            return f"not created ({str(err)[:200]}): is {endpoint} the imm-emulator?"
    where = f"oss://{rule['bucket']}/{rule['prefix']}*{rule['suffix']}"
    return (
        f"configure in OSS (console: bucket {rule['bucket']} > Event Notification, or an EventBridge "
        f"rule): events {', '.join(rule['events'])} of {where} -> MNS topic {rule['topic']!r}"  # type: ignore[arg-type]
    )


def _with_watcher(text: str, watcher: dict[str, object], *, as_json: bool) -> str:
    if as_json:
        return json.dumps({**json.loads(text), **watcher})
    created = "created" if "queue" in watcher["watcher_created"] else "exists "  # type: ignore[operator]
    lines = [text, f"{created} watcher queue {watcher['watcher_queue']} (subscribed to the same topic)"]
    if "oss_rule" in watcher:
        lines.append(f"OSS event rule: {watcher['oss_rule']}")
    lines.append(
        f"Asset watchers read it: MnsEventTrigger(mns_queue={watcher['watcher_queue']!r}, ...) or "
        f"MessageQueueTrigger(scheme='alibaba+mns', mns_queue={watcher['watcher_queue']!r}, ...)"
    )
    return "\n".join(lines)


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
