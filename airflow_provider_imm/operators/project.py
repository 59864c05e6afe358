"""Which IMM project an operator or the sensor works in: its ``project``, else the connection's."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk.exceptions import AirflowFailException

if TYPE_CHECKING:
    from airflow_provider_imm.hooks.connection import ImmConnectionSettings

__all__ = ["ImmProjectMissingError", "resolve_project"]


class ImmProjectMissingError(AirflowFailException):
    """No project anywhere: fixed by editing the DAG or the connection, not by a retry."""


def resolve_project(project: str | None, settings: ImmConnectionSettings, *, conn_id: str, who: str) -> str:
    """``project``, else the connection's ``project`` extra; ``who`` starts the message."""
    name = project or settings.project
    if not name:
        raise ImmProjectMissingError(
            f"{who}: no IMM project: pass project=... or set extra 'project' on connection {conn_id!r}"
        )
    return name
