"""MNS faults aimed at one action leave every other call alone."""

from __future__ import annotations

import pytest
from mns.account import Account
from mns.mns_exception import MNSServerException
from mns.queue import Message

from airflow_provider_imm.emulator import ImmEmulator


def test_a_fault_for_one_action_skips_the_others(emulator: ImmEmulator, mns_account: Account) -> None:
    emulator.mns.create_queue("jobs")
    queue = mns_account.get_queue("jobs")
    queue.set_encoding(False)
    emulator.faults.fail_mns(1, action="DeleteMessage", status=403, code="AccessDenied")

    queue.send_message(Message("one"))
    received = queue.receive_message(wait_seconds=1)
    with pytest.raises(MNSServerException) as err:
        queue.delete_message(received.receipt_handle)
    assert err.value.type == "AccessDenied"
    queue.delete_message(received.receipt_handle)

    assert emulator.mns.queue_messages("jobs") == []
    assert emulator.counters.get("mns", "DeleteMessage") == 2
    assert emulator.faults.take_mns("DeleteMessage") is None
