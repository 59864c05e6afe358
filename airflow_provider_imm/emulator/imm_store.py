"""IMM state: projects, the tasks kept (:class:`TaskStore`) and how tasks end from now on.

Everything here runs on the emulator's event loop, one call at a time, as ``mns_store`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from airflow_provider_imm.emulator.clock import EmulatedClock
from airflow_provider_imm.emulator.imm_tasks import Behaviour, TaskStore, format_time


@dataclass
class Project:
    name: str
    create_time: float
    service_role: str = "AliyunIMMDefaultRole"
    description: str = ""
    template_id: str = ""
    tags: list[dict[str, str]] = field(default_factory=list)
    limits: dict[str, int] = field(default_factory=dict)

    def to_api(self) -> dict[str, Any]:
        return {
            "ProjectName": self.name,
            "ServiceRole": self.service_role,
            "Description": self.description,
            "TemplateId": self.template_id,
            "CreateTime": format_time(self.create_time),
            "UpdateTime": format_time(self.create_time),
            "Tags": [{"TagKey": t["Key"], "TagValue": t.get("Value", "")} for t in self.tags],
            "DatasetCount": 0,
            "FileCount": 0,
            "TotalFileSize": 0,
            "EngineConcurrency": 3,
            "ProjectQueriesPerSecond": 50,
            "ProjectMaxDatasetCount": self.limits.get("ProjectMaxDatasetCount", 1_000_000_000),
            "DatasetMaxBindCount": self.limits.get("DatasetMaxBindCount", 10),
            "DatasetMaxFileCount": self.limits.get("DatasetMaxFileCount", 100_000_000),
            "DatasetMaxEntityCount": self.limits.get("DatasetMaxEntityCount", 10_000_000_000),
            "DatasetMaxRelationCount": self.limits.get("DatasetMaxRelationCount", 100_000_000_000),
            "DatasetMaxTotalFileSize": self.limits.get("DatasetMaxTotalFileSize", 90_000_000_000_000_000),
        }


class ImmStore:
    """All projects and tasks of the emulated account, and the configured task endings."""

    def __init__(self, clock: EmulatedClock) -> None:
        self._clock = clock
        self.projects: dict[str, Project] = {}
        self.tasks = TaskStore(clock)
        #: Task type -> how its tasks end, set by ``ImmService.set_behaviour``.
        self.behaviours: dict[str, Behaviour] = {}

    def add_project(self, name: str) -> None:
        if name not in self.projects:
            self.projects[name] = Project(name, self._clock.time())

    def delete_project(self, name: str) -> None:
        """Forget ``name`` and its tasks, stopping those still running."""
        del self.projects[name]
        for task in self.tasks.remove_project(name):
            if task.timer is not None:
                task.timer.cancel()
