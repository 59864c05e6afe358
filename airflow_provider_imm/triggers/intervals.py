"""How often a waiting IMM task is checked with GetTask: the defaults the trigger, the operator and
the sensor share.

A module of its own, importing nothing, so that a DAG file importing the operator or the sensor
does not import the trigger (nor ``airflow.triggers``) for two numbers: the trigger is imported
only when a task defers.
"""

from __future__ import annotations

#: Seconds between GetTask checks while an MNS notification is awaited (the safety net).
DEFAULT_RECONCILE_INTERVAL = 300.0
#: Seconds between GetTask checks without an MNS queue (polling).
DEFAULT_POLL_INTERVAL = 30.0
