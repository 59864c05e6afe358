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


def test_the_errors_are_defined_in_the_exceptions_module_which_depends_on_no_hook() -> None:
    import ast
    import pickle
    from pathlib import Path

    import airflow_provider_imm.catalog as catalog
    import airflow_provider_imm.hooks.connection as connection
    import airflow_provider_imm.hooks.errors as errors
    import airflow_provider_imm.hooks.exceptions as hook_exceptions
    import airflow_provider_imm.hooks.imm as imm
    import airflow_provider_imm.hooks.mns as mns

    # Defined without Airflow: the catalog (the emulator's) and the hooks' errors (Airflow's start-up).
    defined_elsewhere = {
        "UnknownActionError": catalog,
        "ImmApiError": hook_exceptions,
        "MnsApiError": hook_exceptions,
        "ImmConnectionConfigError": hook_exceptions,
    }
    for name in exceptions.__all__:
        assert isinstance(getattr(exceptions, name), type), name
        assert getattr(exceptions, name).__module__ == defined_elsewhere.get(name, exceptions).__name__, name
    assert errors.ImmApiError is imm.ImmApiError is exceptions.ImmApiError
    assert errors.MnsApiError is mns.MnsApiError is exceptions.MnsApiError
    assert (
        connection.ImmConnectionConfigError
        is errors.ImmConnectionConfigError
        is exceptions.ImmConnectionConfigError
    )

    def imports(module: object) -> set[str]:
        tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))  # type: ignore[attr-defined]
        return {
            node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
        } | {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}

    # Dependencies point one way: the modules defining errors import no hook logic.
    assert {m for m in imports(exceptions) if m.startswith("airflow_provider_imm")} <= {
        "airflow_provider_imm.catalog",
        "airflow_provider_imm.hooks.exceptions",
        "airflow_provider_imm.utils.request_validation",  # under TYPE_CHECKING
    }
    assert {m for m in imports(hook_exceptions) if m.partition(".")[0] != "__future__"} == {
        "typing",
        "airflow_provider_imm.utils.excerpt",
    }

    # A pickle made when the errors lived in hooks.errors still loads.
    error = exceptions.ImmApiError(
        action="GetTask", code="Throttling.User", message="slow down", kind="throttled"
    )
    old = pickle.dumps(error, protocol=0).replace(
        b"airflow_provider_imm.exceptions", b"airflow_provider_imm.hooks.errors"
    )
    assert str(pickle.loads(old)) == str(error)
