"""Processes of a deployment: each component in a session of its own, all descendants findable.

Airflow's task supervisor moves every task process into a process group of its own, so killing the
group of the scheduler does not reach its tasks; and several Airflow processes rename themselves
(``setproctitle``), which overwrites what ``/proc/<pid>/environ`` shows. Every component therefore
starts a new session (its pid is the session id, inherited by all descendants whatever their
process group), and also carries ``IMM_E2E_MARKER=<unique value>`` in its environment for any
descendant that would start a session of its own. At the end every process found either way is
killed, and the caller can assert that none is left.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import subprocess
import time
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil

MARKER_VARIABLE = "IMM_E2E_MARKER"
#: The host name a component reports (``[core] hostname_callable`` = :func:`component_hostname`).
HOSTNAME_VARIABLE = "IMM_E2E_HOSTNAME"


def component_hostname() -> str:
    """The host name given to this component, so that several on one machine can be told apart."""
    return os.environ[HOSTNAME_VARIABLE]


class Service:
    """One long-running command, its output in ``log_path``, in a new session (its own group).

    ``user``: run as this account (PostgreSQL refuses to run as root). ``stop_signal``: what
    :meth:`terminate` sends (PostgreSQL shuts down at once on SIGINT, on SIGTERM only once every
    client has gone).
    """

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        env: Mapping[str, str],
        log_path: Path,
        *,
        user: str | None = None,
        stop_signal: int = signal.SIGTERM,
    ) -> None:
        self.name = name
        self.log_path = log_path
        self.stop_signal = stop_signal
        #: Set once the process was stopped or killed on purpose.
        self.stopped = False
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                list(command),
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **run_as(user),
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def kill(self) -> None:
        """SIGKILL the whole process group at once: no clean shutdown, as when a machine dies."""
        self.stopped = True
        _killpg(self.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def terminate(self) -> None:
        """Send ``stop_signal`` to the group; :meth:`wait_or_kill` finishes the job."""
        self.stopped = True
        if self.alive():
            _killpg(self.pid, self.stop_signal)

    def wait_or_kill(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the process to exit, then SIGKILL its group."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=max(timeout, 0.0))
        _killpg(self.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def __repr__(self) -> str:
        return f"Service({self.name!r}, pid={self.pid}, alive={self.alive()})"


def run_as(user: str | None) -> dict[str, Any]:
    """``subprocess`` arguments that run a command as ``user`` with only its own group (None: as we are)."""
    if user is None:
        return {}
    return {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []}


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def deployment_processes(sessions: Collection[int], marker: str) -> list[psutil.Process]:
    """Live (non-zombie) processes in one of ``sessions``, or whose environment carries ``marker``."""
    found = []
    for proc in psutil.process_iter():
        if proc.pid == os.getpid():
            continue
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if os.getsid(proc.pid) in sessions or proc.environ().get(MARKER_VARIABLE) == marker:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError, PermissionError):
            continue
    return found


def kill_all(sessions: Collection[int], marker: str, timeout: float = 20.0) -> list[psutil.Process]:
    """SIGKILL every process of the deployment until none is left or ``timeout`` passes.

    Returns the processes still alive at the end (an empty list is success).
    """
    deadline = time.monotonic() + timeout
    while True:
        survivors = deployment_processes(sessions, marker)
        if not survivors:
            return []
        for proc in survivors:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(survivors, timeout=2)
        if time.monotonic() > deadline:
            return deployment_processes(sessions, marker)
