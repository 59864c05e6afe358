"""MNS as common.messaging's message queue: found by scheme, deterministic secret-free kwargs, usable
in an AssetWatcher; and the package without common.messaging."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from airflow_provider_imm.triggers.mns_event import MnsEventTrigger
from airflow_provider_imm.utils.mns_event_filters import EventFilterError


def test_message_queue_trigger_finds_the_provider_by_scheme() -> None:
    from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger

    trigger = MessageQueueTrigger(
        scheme="alibaba+mns", mns_queue="imm-watch", imm_conn_id="imm_cloud", bucket="docs", prefix="inbox/"
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_imm.triggers.mns_event.MnsEventTrigger"
    assert kwargs == {
        "mns_queue": "imm-watch",
        "imm_conn_id": "imm_cloud",
        "source": "oss",
        "bucket": "docs",
        "prefix": "inbox/",
    }
    assert isinstance(trigger.trigger, MnsEventTrigger)


def test_kwargs_are_deterministic_so_airflow_tells_one_watcher_from_another() -> None:
    from airflow.triggers.base import BaseEventTrigger

    one = MnsEventTrigger(mns_queue="w", source="imm", task_types=["B", "A"], tags={"y": "2", "x": "1"})
    two = MnsEventTrigger(mns_queue="w", source="imm", task_types=["A", "B", "A"], tags={"x": "1", "y": "2"})
    other = MnsEventTrigger(mns_queue="w", source="imm", task_types=["A"])
    assert one.serialize() == two.serialize()
    assert BaseEventTrigger.hash(*one.serialize()) == BaseEventTrigger.hash(*two.serialize())
    assert BaseEventTrigger.hash(*one.serialize()) != BaseEventTrigger.hash(*other.serialize())
    # Rebuilt from its kwargs (as the triggerer does), it is the same watcher.
    classpath, kwargs = one.serialize()
    assert MnsEventTrigger(**kwargs).serialize() == (classpath, kwargs)


def test_an_asset_watcher_takes_the_trigger() -> None:
    from airflow.sdk import Asset, AssetWatcher

    trigger = MnsEventTrigger(mns_queue="imm-watch", bucket="docs", prefix="inbox/")
    asset = Asset("oss://docs/inbox", watchers=[AssetWatcher(name="inbox", trigger=trigger)])
    assert asset.watchers[0].trigger is trigger


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"mns_queue": "bad_name!"}, "mns_queue"),
        ({"mns_queue": "w", "source": "sqs"}, "source"),
        ({"mns_queue": "w", "task_types": ["OfficeConversion"]}, "task_types"),
        ({"mns_queue": "w", "events": ["Created"]}, "events"),
        ({"mns_queue": "w", "source": "imm", "statuses": ["Running"]}, "statuses"),
        ({"mns_queue": "w", "orphan_grace": 0}, "orphan_grace"),
    ],
)
def test_bad_arguments_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(EventFilterError) as caught:
        MnsEventTrigger(**kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field and str(caught.value).startswith(f"{field}: ")


def test_without_common_messaging_the_package_works_and_the_queue_says_what_to_install() -> None:
    script = textwrap.dedent(
        """
        import importlib.abc, sys

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                # Its modules, not its provider info (Airflow's provider discovery reads that).
                messaging = name.startswith("airflow.providers.common.messaging.")
                if messaging and not name.endswith("provider_info"):
                    raise ModuleNotFoundError(f"No module named {name!r}")
                return None

        sys.meta_path.insert(0, Block())
        import airflow_provider_imm.operators.imm, airflow_provider_imm.sensors.imm
        from airflow_provider_imm.triggers.mns_event import MnsEventTrigger
        from airflow.sdk import Asset, AssetWatcher
        trigger = MnsEventTrigger(mns_queue="imm-watch", bucket="docs")
        Asset("a", watchers=[AssetWatcher(name="w", trigger=trigger)])
        try:
            import airflow_provider_imm.queues.mns
        except Exception as err:
            print(type(err).__name__, err)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("AirflowOptionalProviderFeatureException")
    assert "airflow-provider-imm[messaging]" in last
