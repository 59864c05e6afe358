"""Round trip against the embedded emulator, through the official SDKs only.

Starts the emulator, sets up MNS topic -> subscription -> queue, creates an IMM office
conversion task whose notification goes to the topic, receives the notification from the queue,
prints it and checks that GetTask agrees. Exits non-zero on any failure.
"""

from __future__ import annotations

import json
import sys
import time

from alibabacloud_imm20200930 import models as imm_models
from alibabacloud_imm20200930.client import Client as ImmClient
from alibabacloud_tea_openapi.models import Config
from mns.account import Account
from mns.mns_common import TopicHelper
from mns.queue import QueueMeta
from mns.subscription import SubscriptionMeta
from mns.topic import TopicMeta

from airflow_provider_imm.emulator import DEFAULT_PROJECT, ImmEmulator


def main() -> int:
    with ImmEmulator(task_duration=0.5) as emu:
        print(f"emulator listening on {emu.url}")
        emu.oss.put("demo-docs", "inbox/report.docx", b"a document")

        account = Account(emu.url, emu.access_key_id, emu.access_key_secret)
        account.get_queue("imm-events").create(QueueMeta())
        topic = account.get_topic("imm-topic")
        topic.create(TopicMeta())
        endpoint = TopicHelper.generate_queue_endpoint(emu.region, emu.account_id, "imm-events")
        topic.get_subscription("airflow").subscribe(
            SubscriptionMeta(endpoint, notify_content_format="SIMPLIFIED")
        )

        client = ImmClient(
            Config(
                access_key_id=emu.access_key_id,
                access_key_secret=emu.access_key_secret,
                endpoint=emu.endpoint,
                protocol="http",
                region_id=emu.region,
            )
        )
        request = imm_models.CreateOfficeConversionTaskRequest(
            project_name=DEFAULT_PROJECT,
            source_uri="oss://demo-docs/inbox/report.docx",
            target_type="pdf",
            target_uri="oss://demo-docs/outbox/{barename}.{autoext}",
            notification=imm_models.Notification(mns=imm_models.MNS(topic_name="imm-topic")),
        )
        started = time.monotonic()
        task = client.create_office_conversion_task(request).body
        print(f"created IMM task {task.task_id}")

        queue = account.get_queue("imm-events")
        queue.set_encoding(False)
        message = queue.receive_message(wait_seconds=10)
        queue.delete_message(message.receipt_handle)
        waited = time.monotonic() - started
        body = json.loads(message.message_body)
        content = json.loads(body["content"])
        print(f"notification received after {waited:.2f}s:")
        print(json.dumps({**body, "content": content}, indent=2))

        info = client.get_task(
            imm_models.GetTaskRequest(project_name=DEFAULT_PROJECT, task_type="OfficeConversion", task_id=task.task_id)
        ).body
        print(f"GetTask: {info.status}; outputs: {emu.oss.list('demo-docs', 'outbox/')}")
        ok = content["TaskId"] == task.task_id and content["Status"] == info.status == "Succeeded"
        print("round trip OK" if ok else "round trip FAILED")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
