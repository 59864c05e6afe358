"""What the operator does differently by Airflow version: each path runs on the version that has it.

Airflow 3.3 brought the task state store; before it, an action whose request carries neither Tags
nor UserData (DecodeBlindWatermark) leaves nothing linking the IMM task to the task instance, so a
retry would submit a new IMM task, and the operator says so at submission. The matrix runs this
module on 3.3 (state store) and on 3.2 (none).
"""

from __future__ import annotations

import pytest

from tests.airflow_compat import airflow_release
from tests.emulated_imm import Imm
from tests.minimal_requests import MINIMAL, put_sources
from tests.operators.test_create_task_runs import run_task

HAS_STATE_STORE = airflow_release() >= (3, 3)
UNRECORDED = "nothing records this task instance with the IMM task"


def test_an_action_without_tags_or_user_data_warns_only_where_airflow_has_no_state_store(
    imm: Imm, capfd: pytest.CaptureFixture[str]
) -> None:
    put_sources(imm.emulator)
    imm.emulator.imm.task_duration = 0.0
    action = "CreateDecodeBlindWatermarkTask"
    run = run_task(imm, "version_paths_watermark", MINIMAL[action].request, action=action)
    assert run.state == "success", run.errors
    output = capfd.readouterr()
    assert (UNRECORDED in output.out + output.err) is not HAS_STATE_STORE
    assert imm.creates() == 1
