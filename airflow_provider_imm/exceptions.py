"""Every error a DAG author or a caller of the hook may want to catch, in one module.

The operators, the sensor and the hooks raise these; their own modules re-export the ones they
raise, so ``from airflow_provider_imm.operators.imm import ImmTaskFailedError`` or
``from airflow_provider_imm.hooks.errors import ImmApiError`` keep working. Which error a failure
is (diagnosis, redaction, the SDKs' errors) is decided in :mod:`airflow_provider_imm.hooks.errors`.

Airflow's errors are defined here; the errors that must be defined without Airflow are re-exported:
those of the hooks from :mod:`airflow_provider_imm.hooks.exceptions` (Airflow's own start-up
imports the connection's settings, through ``get_provider_info``) and :class:`UnknownActionError`
from the catalog (the emulator imports it without Airflow). Neither SDK is imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_imm.catalog import UnknownActionError
from airflow_provider_imm.hooks.exceptions import ImmApiError, ImmConnectionConfigError, MnsApiError

if TYPE_CHECKING:
    from airflow_provider_imm.utils.request_validation import InvalidRequestError

__all__ = [
    "ImmApiError",
    "ImmConnectionConfigError",
    "ImmInvalidRequestError",
    "ImmSensorArgumentError",
    "ImmSensorTaskFailedError",
    "ImmTaskError",
    "ImmTaskFailedError",
    "ImmTaskTimeoutError",
    "MnsApiError",
    "UnknownActionError",
]


class ImmInvalidRequestError(AirflowFailException):
    """The request would be rejected or silently changed: fixed by editing the DAG, not by a retry."""

    def __init__(self, error: InvalidRequestError) -> None:
        super().__init__(str(error))
        self.action = error.action
        self.field = error.field
        self.problems = error.problems


class ImmTaskError(AirflowException):
    """An IMM task could not be waited for, or ended badly. Names the task; never a secret."""

    def __init__(self, message: str, *, task_id: str, task_type: str, project: str | None) -> None:
        super().__init__(message)
        self.task_id = task_id
        self.task_type = task_type
        self.project = project


class ImmTaskFailedError(ImmTaskError):
    """IMM says the task Failed; ``code`` and ``imm_message`` are IMM's."""

    def __init__(self, *, task_id: str, task_type: str, project: str | None, code: str, message: str) -> None:
        super().__init__(
            f"IMM task {task_id} ({task_type}, project {project}) failed: {code or 'no code'}: "
            f"{message or 'no message'}",
            task_id=task_id,
            task_type=task_type,
            project=project,
        )
        self.code = code
        self.imm_message = message


class ImmTaskTimeoutError(ImmTaskError):
    """The task had not ended by the deadline; it keeps running in IMM, which cannot cancel it."""


class ImmSensorTaskFailedError(ImmTaskFailedError, AirflowFailException):
    """The awaited IMM task Failed: final, as every retry would only find the same ended task."""


class ImmSensorArgumentError(AirflowFailException):
    """``imm_task_id`` or ``imm_task_type`` cannot name an IMM task: fixed in the DAG, not by a retry."""
