"""End to end on RocketMQ: the nightly example DAG's conversions wait deferred on IMM's RocketMQ
notifications in two triggerer processes that share one consumer group, on a real deployment
(api-server, scheduler, dag-processor, triggerers as separate processes; SQLite + LocalExecutor),
and one triggerer is SIGKILLed mid-wait.

The connection names RocketMQ and no MNS topic or queue: IMM is asked to notify RocketMQ only, and no
MNS call reaches the emulator. The emulator holds every conversion Running until the test ends it:

1. half of each triggerer's tasks while both run. A notification lands on either process's consumer;
   the one that does not wait for it must give it back at once (not ack it), or its trigger would
   learn of the end only by reconciliation, 300 s away: each must wake on its notification, in the
   triggerer that runs it, well within :data:`WAKE_TIMEOUT`;
2. one more of the first triggerer's tasks, and at once a SIGKILL for that triggerer (its
   notification may be in flight: received, handed over, acked or not);
3. every other task: the dead triggerer's notifications reach the survivor's consumer before their
   triggers do (the takeover waits for the dead one's heartbeat to lapse), so they are given back and
   received again; the triggers, re-created there, learn of the ends by a notification or their
   first GetTask.

Nothing may be lost (every conversion succeeds, its PDF written) or done twice (one IMM task per
document, one try and one fired event per task instance, one notification per IMM task).
"""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_imm.emulator import DEFAULT_PROJECT, ImmEmulator
from airflow_provider_imm.utils.notification_parsing import parse_notification
from tests.e2e.conftest import Stack
from tests.e2e.deployment import EXAMPLE_DAGS, SQLITE_LOCAL, AirflowDeployment
from tests.e2e.emulator_admin import EmulatorAdmin
from tests.e2e.observe import (
    TiKey,
    fired_events,
    imm_task_of,
    wait_for_runs,
    wait_until_waiting,
)
from tests.rocketmq_channel import ROCKETMQ_GROUP, ROCKETMQ_TOPIC, rocketmq_extras

pytestmark = pytest.mark.timeout(420)

NIGHTLY = "imm_nightly_document_conversion"
BUCKET = "imm-demo-docs"
DOCUMENTS = [f"scan-{index:02d}.docx" for index in range(20)]
#: Each triggerer runs at most this many triggers: both get a share of the 20, and the survivor
#: has room for the dead one's.
CAPACITY = 14
#: Seconds a notification may take to wake its trigger while both triggerers run: far below the
#: trigger's reconcile interval (300 s), so a notification acked by the wrong consumer fails the test.
WAKE_TIMEOUT = 60.0
#: Seconds between the last trigger's start and the first task's end: time for every trigger's first
#: GetTask to see its task Running (else it learns the end from GetTask, not the notification).
SETTLE = 5.0


@pytest.fixture(scope="module")
def rocketmq_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The emulator and a deployment of the nightly DAG alone, whose ``imm_default`` names the
    emulator's RocketMQ topic and consumer group (created by ``imm-setup-notifications``) and no MNS."""
    root = tmp_path_factory.mktemp("e2e-rocketmq")
    emulator = ImmEmulator(root / "oss", task_duration=0.5, projects=(DEFAULT_PROJECT,)).start()
    no_mns = dict.fromkeys(("mns_topic", "mns_queue", "mns_subscription"))
    connections = emulator.airflow_connections(
        "imm_default", project=DEFAULT_PROJECT, **no_mns, **rocketmq_extras(emulator)
    )
    dags = root / "dags"
    dags.mkdir()
    shutil.copy(EXAMPLE_DAGS / f"{NIGHTLY}.py", dags)
    airflow = AirflowDeployment(
        root / "airflow", connections=connections, dags_folder=dags, backend=SQLITE_LOCAL
    )
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("AIRFLOW_CONN_IMM_DEFAULT", connections["imm_default"])
            from airflow_provider_imm.cli import main

            assert main([]) == 0
        assert emulator.call(emulator.rocketmq.has_group, ROCKETMQ_GROUP)
        airflow.start_all(triggerer_capacity=CAPACITY)
        airflow.start_triggerer("triggerer-2", capacity=CAPACITY)
        yield Stack(emulator, airflow)
    finally:
        airflow.stop()
        emulator.stop()
        assert airflow.survivors == [], f"processes survived the deployment: {airflow.survivors}"


def test_rocketmq_deployment_two_triggerers_share_a_group_and_losing_one_loses_and_repeats_nothing(
    rocketmq_stack: Stack,
) -> None:
    emulator, airflow = rocketmq_stack.emulator, rocketmq_stack.airflow
    admin = EmulatorAdmin(emulator.url)
    admin.hold("CreateOfficeConversionTask")
    for name in DOCUMENTS:
        emulator.oss.put(BUCKET, f"rmq/{name}", b"document body")
    airflow.wait_for_dags({NIGHTLY})
    first, second = _triggerer_jobs(airflow, "triggerer", "triggerer-2")

    airflow.rest.unpause(NIGHTLY)
    run_id = airflow.rest.trigger(
        NIGHTLY, logical_date="2026-11-18T02:00:00Z", conf={"inbox": "rmq/", "team": "rmq"}
    )
    waiting = wait_until_waiting(
        airflow, NIGHTLY, run_id, "convert_to_pdf", count=len(DOCUMENTS), timeout=240
    )
    shares = Counter(waiting.values())
    assert set(shares) == {first, second} and max(shares.values()) <= CAPACITY, shares
    imm_tasks = {key: imm_task_of(airflow, run_id, key) for key in waiting}
    time.sleep(SETTLE)

    # 1. Both triggerers run: half of each one's tasks end, each wakes on its notification.
    held = {job: sorted(key for key, on in waiting.items() if on == job) for job in (first, second)}
    early = {key for keys in held.values() for key in keys[::2]}
    for key in sorted(early):
        admin.finish(imm_tasks[key])
    _wait_until_woken(rocketmq_stack, run_id, {key: imm_tasks[key] for key in early}, WAKE_TIMEOUT)

    # 2. One more of the first triggerer's tasks ends, and that triggerer dies at once.
    racing, *orphaned = [key for key in held[first] if key not in early]
    admin.finish(imm_tasks[racing])
    airflow.kill("triggerer")
    # 3. The dead one's other tasks end (their triggers not yet taken over), then the survivor's.
    later = [key for key in held[second] if key not in early]
    for key in [*orphaned, *later]:
        admin.finish(imm_tasks[key])
    assert wait_for_runs(airflow, {NIGHTLY: run_id}, timeout=240) == {NIGHTLY: "success"}
    assert first not in {job["id"] for job in airflow.triggerer_jobs(alive=True)}

    # Every task instance succeeded in its first try: resumed once, none retried.
    instances = airflow.rest.task_instances(NIGHTLY, run_id)
    assert Counter(ti["state"] for ti in instances) == {"success": len(DOCUMENTS) + 3}
    assert {ti["try_number"] for ti in instances if ti["task_id"] == "convert_to_pdf"} == {1}
    results = {key: _xcom(airflow, run_id, key) for key in waiting}
    for key, result in results.items():
        assert (result["task_id"], result["status"]) == (imm_tasks[key], "Succeeded"), (key, result)

    # Each trigger fired once, where it ran: the live ones on their RocketMQ notification (in
    # phase 1 whichever process's consumer received it), the dead one's on the survivor.
    for key in waiting:
        fired = {job: len(events) for job, events in fired_events(airflow, run_id, key).items() if events}
        if key in early or key in later:
            assert fired == {waiting[key]: 1}, (key, fired)
            assert results[key]["learned_from"] == "notification", (key, results[key])
        elif key != racing:  # the racing one may have fired on the dead triggerer before it died
            assert fired == {second: 1}, (key, fired)

    # One IMM task per document, told to notify RocketMQ and nothing else; no MNS call at all.
    ours = [t for t in admin.tasks() if t["Tags"].get("airflow-run") == run_id]
    assert sorted(t["TaskId"] for t in ours) == sorted(imm_tasks.values())
    notify = {"RocketMQ": {"InstanceId": emulator.rocketmq.instance_id, "TopicName": ROCKETMQ_TOPIC}}
    assert all(json.loads(t["TaskRequestDefinition"])["Notification"] == notify for t in ours)
    assert {name: n for name, n in admin.counters().items() if name.startswith("mns") and n} == {}
    written = [f"outbox/2026-11-18/rmq/{name.removesuffix('.docx')}.pdf" for name in DOCUMENTS]
    assert admin.objects(BUCKET, "outbox/2026-11-18/rmq/") == written

    # One notification per IMM task. Those a trigger woke on were acked; the dead triggerer's, which
    # reached the survivor before their triggers did, were given back and received again.
    messages = _notifications(emulator)
    assert {task_id: len(ids) for task_id, ids in messages.items()} == dict.fromkeys(imm_tasks.values(), 1)
    states = emulator.call(emulator.rocketmq.message_states, ROCKETMQ_GROUP)
    assert set(states) == {message_id for (message_id,) in messages.values()}
    for key in early | set(later):
        (message_id,) = messages[imm_tasks[key]]
        assert states[message_id].acked, (key, states[message_id])
    for key in orphaned:
        (message_id,) = messages[imm_tasks[key]]
        assert states[message_id].attempts >= 2, (key, states[message_id])


def _wait_until_woken(stack: Stack, run_id: str, keys: dict[TiKey, str], timeout: float) -> None:
    """Until the task instances ``keys`` (-> their IMM tasks) are no longer deferred (their
    triggerer stored the event that resumes them); else fail naming the late ones with what the
    consumer group did with their notifications."""
    airflow, emulator = stack.airflow, stack.emulator
    deadline = time.monotonic() + timeout
    while True:
        airflow.check_alive()
        states = {
            key: ti["state"]
            for ti in airflow.rest.task_instances(NIGHTLY, run_id)
            if (key := (NIGHTLY, ti["task_id"], ti["map_index"])) in keys
        }
        late = sorted(key for key, state in states.items() if state == "deferred")
        if not late and len(states) == len(keys):
            return
        if time.monotonic() > deadline:
            messages = _notifications(emulator)
            group = emulator.call(emulator.rocketmq.message_states, ROCKETMQ_GROUP)
            seen = {key[2]: [group.get(m) for m in messages.get(keys[key], ())] for key in late}
            raise AssertionError(
                f"not woken by their RocketMQ notifications within {timeout:.0f} s (map index: the "
                f"group's view of its notification): {seen}"
            )
        time.sleep(0.5)


def _triggerer_jobs(airflow: AirflowDeployment, *names: str, timeout: float = 120) -> list[int]:
    """The job ids of the triggerers ``names``, once each heartbeats."""
    deadline = time.monotonic() + timeout
    while True:
        airflow.check_alive()
        alive = {job["id"] for job in airflow.triggerer_jobs(alive=True)}
        jobs = {service.name: job for job, service in airflow.triggerer_services().items() if job in alive}
        if set(names) <= set(jobs):
            return [jobs[name] for name in names]
        if time.monotonic() > deadline:
            raise TimeoutError(f"triggerers {names} not all heartbeating after {timeout:.0f} s: {jobs}")
        time.sleep(0.5)


def _notifications(emulator: ImmEmulator) -> dict[str, tuple[str, ...]]:
    """IMM TaskId -> the ids of the messages on the topic that notify its end."""
    found: dict[str, tuple[str, ...]] = {}
    for message in emulator.call(emulator.rocketmq.require_topic, ROCKETMQ_TOPIC):
        notification = parse_notification(message.body)
        assert notification is not None, message.body[:200]
        found[notification.task_id] = (*found.get(notification.task_id, ()), message.message_id)
    return found


def _xcom(airflow: AirflowDeployment, run_id: str, key: TiKey) -> Any:
    return airflow.rest.xcom(key[0], run_id, key[1], map_index=key[2])
