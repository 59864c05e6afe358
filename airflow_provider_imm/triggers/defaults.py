"""How often a waiting trigger checks on its IMM task, by default: here rather than in
:mod:`airflow_provider_imm.triggers.imm` so that the operator's and the sensor's signatures can name
them without importing the trigger (a task process resuming from a deferral never builds one)."""

from __future__ import annotations

#: Seconds between GetTask reconciliations of a trigger woken by notifications.
DEFAULT_RECONCILE_INTERVAL = 300.0
#: Seconds between GetTask polls of a trigger without a notification queue.
DEFAULT_POLL_INTERVAL = 30.0
