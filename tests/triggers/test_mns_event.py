"""Asset watchers on an MNS queue, against the emulator through the official SDKs: what each filter
selects, what is deleted when, redeliveries, unwanted and broken messages, and MNS outages.

Every test runs each way this Airflow runs watchers (``runner``): each watcher its own ``run()``
loop, and, on Airflow 3.3, one shared stream per queue in ack mode driven by Airflow's own
``SharedStreamManager`` as the triggerer drives it.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from tests.triggers.mns_watch import (
    HAS_SHARED_STREAMS,
    Runner,
    Running,
    StateStoreSupervisor,
    Watch,
    eventually,
    oss_body,
)


async def test_each_upload_under_the_prefix_fires_one_event_with_its_record(
    watch: Watch, runner: Runner
) -> None:
    running = await runner.start(watch.trigger(bucket="docs", prefix="inbox/", suffix=".docx"))
    try:
        for name in ("a.docx", "b.docx"):
            watch.upload(f"inbox/{name}")
        watch.upload("inbox/c.txt")  # wrong suffix
        watch.upload("outbox/d.docx")  # wrong prefix
        await eventually(lambda: len(running.payloads()) >= 2, what="two events")
        await eventually(lambda: watch.messages() == 2, what="the two selected messages deleted")
        await asyncio.sleep(0.5)
    finally:
        await running.stop()
    assert sorted(running.keys()) == ["inbox/a.docx", "inbox/b.docx"]
    record = running.payloads()[0]
    assert set(record) == {"source", "bucket", "key", "size", "etag", "event", "time", "message_id"}
    assert record["bucket"] == "docs" and record["event"] == "ObjectCreated:PutObject"
    assert record["size"] == len(b"a document") and record["etag"]
    # The two unwanted ones are left for other consumers (not deleted before the orphan grace).
    assert watch.messages() == 2


async def test_malformed_foreign_and_oversized_messages_never_fail_the_watcher(
    watch: Watch, runner: Runner
) -> None:
    for body in (
        "{not json",
        "//79/w==",
        "&lt;Notification&gt;&lt;Message&gt;cut",
        '{"TaskId": 1}',
        "x" * 20_000,
        oss_body("k", bucket="other"),
    ):
        watch.send(body)
    running = await runner.start(watch.trigger(bucket="docs"))
    try:
        await eventually(lambda: watch.receives() >= 3, what="several receives")
        watch.upload("after.docx")
        await eventually(lambda: running.keys() == ["after.docx"], what="the upload's event")
        await asyncio.sleep(1.0)
        assert all(not task.done() for task in running.tasks)
    finally:
        await running.stop()
    assert watch.messages() == 6  # not deleted: the grace (600 s) has not passed


async def test_unwanted_messages_are_deleted_once_past_the_orphan_grace(watch: Watch, runner: Runner) -> None:
    watch.send("not for anyone")
    running = await runner.start(watch.trigger(bucket="docs", orphan_grace=1.5))
    try:
        await asyncio.sleep(1.0)
        assert watch.messages() == 1
        await eventually(lambda: watch.messages() == 0, what="the orphan deleted after its grace")
    finally:
        await running.stop()
    assert running.payloads() == []


async def test_mns_unavailable_for_a_while_backs_off_and_loses_nothing(watch: Watch, runner: Runner) -> None:
    running = await runner.start(watch.trigger(bucket="docs"))
    try:
        await eventually(lambda: watch.receives() >= 1, what="a first receive")
        watch.emulator.faults.fail_mns(6)
        keys = [f"outage/{i}.docx" for i in range(8)]
        for key in keys:
            watch.upload(key)
        await eventually(lambda: len(running.payloads()) >= len(keys), timeout=30, what="every event")
        await eventually(lambda: watch.messages() == 0, timeout=15, what="every message deleted")
        await asyncio.sleep(0.5)
    finally:
        await running.stop()
    assert sorted(running.keys()) == sorted(keys)  # each exactly once


async def test_a_stored_message_that_comes_back_makes_no_second_event(watch: Watch, runner: Runner) -> None:
    running = await runner.start(watch.trigger(bucket="docs"))
    try:
        watch.emulator.faults.fail_mns(1, action="BatchDeleteMessage")
        watch.upload("once.docx")
        # Its delete fails; the queue's visibility timeout (2 s) gives it back; it is deleted then.
        await eventually(
            lambda: watch.emulator.counters.get("mns", "BatchDeleteMessage") >= 2, what="2nd delete"
        )
        await eventually(lambda: watch.messages() == 0, what="deleted at last")
    finally:
        await running.stop()
    assert running.keys() == ["once.docx"]


async def test_imm_filter_selects_by_task_type_project_status_and_tags(watch: Watch, runner: Runner) -> None:
    import json

    def notification(task_id: str, task_type: str, status: str, tags: dict[str, str]) -> str:
        return json.dumps(
            {
                "ProjectName": "immtest",
                "TaskId": task_id,
                "TaskType": task_type,
                "Status": status,
                "Tags": tags,
                "StartTime": "2026-11-29T12:00:00Z",
                "EndTime": "2026-11-29T12:00:05Z",
            }
        )

    watch.send(notification("t1", "OfficeConversion", "Succeeded", {"team": "a"}))
    watch.send(notification("t2", "OfficeConversion", "Failed", {"team": "a"}))
    watch.send(notification("t3", "FileCompression", "Succeeded", {"team": "a"}))
    watch.send(notification("t4", "OfficeConversion", "Succeeded", {"team": "b"}))
    trigger = watch.trigger(
        source="imm", task_types=["OfficeConversion"], statuses=["Succeeded"], tags={"team": "a"}
    )
    running = await runner.start(trigger)
    try:
        await eventually(lambda: len(running.payloads()) >= 1, what="t1's event")
        await eventually(lambda: watch.messages() == 3, what="t1's message deleted")
        await asyncio.sleep(0.5)
    finally:
        await running.stop()
    [record] = running.payloads()
    assert record["task_id"] == "t1" and record["status"] == "Succeeded" and record["tags"] == {"team": "a"}
    assert record["end_time"] == "2026-11-29T12:00:05+00:00"


# Airflow 3.3 only: 3.2 has no shared streams (its watchers are the tests above, standalone).
if HAS_SHARED_STREAMS:

    async def test_shared_stream_deletes_only_after_the_events_are_stored(watch: Watch) -> None:
        runner = Runner("shared", auto_confirm=False)
        first, second = watch.trigger(bucket="docs", prefix="a/"), watch.trigger(bucket="docs", prefix="b/")
        try:
            running = await runner.start(first, second)
            for key in ("a/1.docx", "b/1.docx", "a/2.docx"):
                watch.upload(key)
            await eventually(lambda: len(running.payloads(0)) == 2 and len(running.payloads(1)) == 1)
            await asyncio.sleep(1.0)
            assert watch.messages() == 3  # nothing deleted before Airflow says the events are stored
            running.confirm()
            await eventually(lambda: watch.messages() == 0, what="deleted once stored")
            threads = [t for t in threading.enumerate() if t.name == f"imm-mns-watcher {watch.queue}"]
            assert len(threads) == 1  # one receive loop for both watchers
            await running.stop()
        finally:
            await runner.close()
        assert sorted(running.keys(0)) == ["a/1.docx", "a/2.docx"] and running.keys(1) == ["b/1.docx"]

    async def test_a_message_back_while_its_events_wait_to_be_stored_makes_no_second_event(
        watch: Watch,
    ) -> None:
        """Airflow confirms the store later than the queue's visibility timeout (2 s here): MNS
        delivers the message again meanwhile; it is not handed to the watcher again, and the delete
        after the confirmation uses the newer receipt handle (the first one lapsed with the
        redelivery: a delete with it fails, and the message would only go after coming back)."""
        runner = Runner("shared", auto_confirm=False)
        try:
            running = await runner.start(watch.trigger(bucket="docs"))
            watch.upload("slow.docx")
            await eventually(lambda: running.keys() == ["slow.docx"], what="the event")
            queue = watch.emulator.mns.store.queue(watch.queue)
            # Received again, and confirmed at once: well within the second copy's 2 s of hiding.
            await eventually(lambda: [m.dequeue_count for m in queue.messages()] == [2], what="redelivery")
            assert watch.emulator.counters.get("mns", "BatchDeleteMessage") == 0
            running.confirm()
            await eventually(lambda: watch.messages() == 0, what="deleted once stored")
            await asyncio.sleep(0.5)
            await running.stop()
        finally:
            await runner.close()
        assert running.keys() == ["slow.docx"]
        assert watch.emulator.counters.get("mns", "BatchDeleteMessage") == 1  # the first delete did it

    async def test_the_mark_of_a_message_whose_delete_failed_goes_with_its_redelivery(
        watch: Watch, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The delete fails, so the message is marked stored; the same triggerer gets it back, knows
        it as stored, deletes it, and removes the mark (the asset state store keeps keys forever)."""
        database = StateStoreSupervisor()
        database.install(monkeypatch)
        runner = Runner("shared")
        trigger = watch.trigger(bucket="docs")
        database.store_for(trigger, "uploads")
        watch.emulator.faults.fail_mns(1, status=403, code="AccessDenied", action="BatchDeleteMessage")
        try:
            running = await runner.start(trigger)
            watch.upload("again.docx")
            await eventually(lambda: len(database.rows) == 1, what="the mark after the failed delete")
            marked = dict(database.rows)
            await eventually(lambda: watch.messages() == 0, what="deleted when it came back")
            await eventually(lambda: database.rows == {}, what="its mark removed")
            await running.stop()
        finally:
            await runner.close()
        assert running.keys() == ["again.docx"] and len(marked) == 1

    async def test_a_message_deleted_at_the_first_try_costs_no_write_to_the_state_store(
        watch: Watch, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Marks are for messages that stay in the queue: one deleted once its events are stored
        costs no request through the triggerer's supervisor but the watcher's one probe at start."""
        database = await _three_uploads_deleted(watch, monkeypatch, "uploads")
        store_requests = {kind: n for kind, n in database.requests.items() if "AssetStateStore" in kind}
        assert store_requests == {"GetAssetStateStoreByName": 1} and database.rows == {}

    async def test_a_watcher_of_several_assets_says_once_that_it_keeps_no_marks(
        watch: Watch, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Airflow's accessors of a trigger shared by two assets refuse unnamed calls: the watcher
        makes its events without marks and says so once, not on every message and every delete."""
        database = await _three_uploads_deleted(watch, monkeypatch, "uploads", "mirror")
        warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert sum("watches several assets" in w for w in warnings) == 1, warnings
        assert not [w for w in warnings if "asset state store" in w and "several" not in w], warnings
        assert database.rows == {}

    async def _three_uploads_deleted(
        watch: Watch, monkeypatch: pytest.MonkeyPatch, *assets: str
    ) -> StateStoreSupervisor:
        """Three uploads through a shared-stream watcher of ``assets``, until their events are made
        and their messages deleted (and half a second more); the state store it was given."""
        database = StateStoreSupervisor()
        database.install(monkeypatch)
        runner = Runner("shared")
        trigger = watch.trigger(bucket="docs")
        database.store_for(trigger, *assets)
        try:
            running = await runner.start(trigger)
            for key in ("one.docx", "two.docx", "three.docx"):
                watch.upload(key)
            await eventually(lambda: len(running.keys()) == 3, what="three events")
            await eventually(lambda: watch.messages() == 0, what="deleted once stored")
            await asyncio.sleep(0.5)
            await running.stop()
        finally:
            await runner.close()
        return database

    async def test_a_redelivery_after_a_triggerer_restart_makes_a_second_event_only_if_unmarked(
        watch: Watch, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A triggerer killed after the events of a message were stored (and marked) but before MNS
        deleted it: the next one receives it again and makes no event; one killed before its events
        were confirmed stored (no mark) makes the event again, as it must."""
        from airflow_provider_imm.triggers import mns_event_stream
        from airflow_provider_imm.triggers.mns_shared_stream import mark_key

        database = StateStoreSupervisor()
        database.install(monkeypatch)

        async def triggerer(auto_confirm: bool) -> tuple[Runner, Running]:
            # A new triggerer process: nothing of the last one's memory, the same metadata database.
            monkeypatch.setattr(mns_event_stream, "_delivered", {})
            runner = Runner("shared", auto_confirm=auto_confirm)
            trigger = watch.trigger(bucket="docs")
            database.store_for(trigger, "uploads")
            return runner, await runner.start(trigger)

        # Stored and marked; the delete does not happen (here MNS refuses it), then the kill.
        watch.emulator.faults.fail_mns(1, status=403, code="AccessDenied", action="BatchDeleteMessage")
        runner, first = await triggerer(auto_confirm=True)
        watch.upload("stored.docx")
        await eventually(lambda: len(database.rows) == 1, what="the mark after the failed delete")
        marked = set(database.rows)
        await first.stop()
        await runner.close()
        # Not confirmed stored when the triggerer dies: no mark.
        runner, unconfirmed = await triggerer(auto_confirm=False)
        watch.upload("unconfirmed.docx")
        await eventually(lambda: unconfirmed.keys() == ["unconfirmed.docx"], what="the second upload's event")
        await unconfirmed.stop()
        await runner.close()
        assert first.keys() == ["stored.docx"] and unconfirmed.keys() == ["unconfirmed.docx"]

        runner, after = await triggerer(auto_confirm=True)
        try:
            await eventually(lambda: watch.messages() == 0, timeout=20, what="both redelivered and deleted")
            await asyncio.sleep(0.5)
        finally:
            await after.stop()
            await runner.close()
        assert after.keys() == ["unconfirmed.docx"]  # the marked one made no second event
        assert marked == {("uploads", mark_key(first.payloads()[0]["message_id"]))}
        assert database.rows == {}  # marks are removed once MNS has deleted their messages


async def test_standalone_watchers_delete_only_after_the_hold(
    watch: Watch, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without shared streams nothing says when an event is stored: the message waits HOLD_SECONDS."""
    from airflow_provider_imm.triggers import mns_event

    monkeypatch.setattr(mns_event, "HOLD_SECONDS", 2.0)
    running = await Runner("standalone").start(watch.trigger(bucket="docs"))
    try:
        watch.upload("held.docx")
        await eventually(lambda: running.keys() == ["held.docx"], what="the event")
        taken = asyncio.get_running_loop().time()
        await asyncio.sleep(1.0)
        assert watch.messages() == 1
        await eventually(lambda: watch.messages() == 0, what="deleted after the hold")
        assert asyncio.get_running_loop().time() - taken >= 1.5
    finally:
        await running.stop()
