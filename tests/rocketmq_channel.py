"""The emulator's RocketMQ channel for provider tests: topic, group and a connection naming them."""

from __future__ import annotations

from typing import Any

from airflow_provider_imm.emulator import ImmEmulator
from tests.emulated_imm import Imm

ROCKETMQ_TOPIC, ROCKETMQ_GROUP = "imm-events-rmq", "airflow-imm-rmq"


def rocketmq_extras(emulator: ImmEmulator, **overrides: Any) -> dict[str, Any]:
    """The connection extras naming the emulator's RocketMQ instance, topic and group."""
    extras = {
        "rocketmq_endpoint": emulator.rocketmq_endpoint,
        "rocketmq_instance_id": emulator.rocketmq.instance_id,
        "rocketmq_topic": ROCKETMQ_TOPIC,
        "rocketmq_group": ROCKETMQ_GROUP,
        "rocketmq_username": emulator.rocketmq_username,
        "rocketmq_password": emulator.rocketmq_password,
    }
    extras.update(overrides)
    return extras


def rocketmq_connection(imm: Imm, **overrides: Any) -> str:
    """Create the topic and group on the emulator and return a connection that waits on them."""
    emulator = imm.emulator
    emulator.call(emulator.rocketmq.create_topic, ROCKETMQ_TOPIC)
    emulator.call(emulator.rocketmq.create_group, ROCKETMQ_GROUP)
    return imm.connection(mns=False, **rocketmq_extras(emulator, **overrides))
