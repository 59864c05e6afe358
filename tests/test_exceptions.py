"""The errors a DAG author catches come from one module, and the old import paths still work."""

from __future__ import annotations

import airflow_provider_imm.exceptions as exceptions
import airflow_provider_imm.operators.imm as operators
import airflow_provider_imm.sensors.imm as sensors


def test_every_error_users_catch_is_in_one_module_and_raised_from_there() -> None:
    for module in (operators, sensors):
        for name in module.__all__:
            if name.endswith("Error"):
                assert getattr(module, name) is getattr(exceptions, name), name
    assert all(issubclass(getattr(exceptions, name), Exception) for name in exceptions.__all__)
