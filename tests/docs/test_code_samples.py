"""Every code sample of the docs and the README runs (``tests/docs/code_samples.py`` says how).

Python samples run in this process with the ``imm_default`` connection pointing at a fresh
emulator whose MNS channel exists, as a user's code runs against their account; shell samples run
in bash with the same connection; ``pytest`` samples run in a pytest of their own against a
migrated metadata DB. A sample marked ``not-run`` must still compile.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_imm.emulator import ImmEmulator
from tests.docs.code_samples import REPO, Sample, all_samples

SAMPLES = all_samples()
#: The address samples use for the emulator; the test substitutes its own.
WELL_KNOWN_PORT = "8765"
#: Its OSS endpoint's port (``--oss-port``), substituted too.
WELL_KNOWN_OSS_PORT = "8766"
WELL_KNOWN_ADDRESS = f"127.0.0.1:{WELL_KNOWN_PORT}"
_STARTS_AN_EMULATOR = re.compile(rf"^imm-emulator .*--port {WELL_KNOWN_PORT}.*&", re.M)
SUBPROCESS_TIMEOUT = 240


@pytest.fixture
def connected_emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ImmEmulator]:
    """An emulator with its MNS channel, and ``imm_default`` (in the environment) pointing at it."""
    from airflow_provider_imm.hooks.mns import MnsHook

    with ImmEmulator(tmp_path / "oss") as emu:
        for conn_id, value in emu.airflow_connections().items():
            monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)
        MnsHook().ensure_notification_channel()
        yield emu


def _params(*modes: str) -> list[pytest.param]:  # type: ignore[type-arg]
    return [pytest.param(s, id=s.id) for s in SAMPLES if s.mode in modes]


@pytest.mark.parametrize("sample", _params("not-run"))
def test_a_sample_not_run_compiles(sample: Sample, tmp_path: Path) -> None:
    if sample.language == "python":
        compile(sample.source, sample.id, "exec")
        return
    script = tmp_path / "sample.sh"
    script.write_text(sample.source)
    checked = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, f"{sample.id} is not valid bash:\n{checked.stderr}"


@pytest.mark.parametrize("sample", _params("run", "dag-file"))
def test_a_sample_runs(sample: Sample, connected_emulator: ImmEmulator, tmp_path: Path) -> None:
    if sample.language == "python":
        source = sample.source.replace(WELL_KNOWN_ADDRESS, connected_emulator.endpoint)
        exec(compile(source, sample.id, "exec"), {"__name__": "__doc_sample__"})
        return
    if _STARTS_AN_EMULATOR.search(sample.source):  # its own, on a free port instead of 8765
        source = sample.source.replace(WELL_KNOWN_PORT, str(_free_port()))
        source = source.replace(WELL_KNOWN_OSS_PORT, str(_free_port()))
    else:
        source = sample.source.replace(WELL_KNOWN_ADDRESS, connected_emulator.endpoint)
    connections = connected_emulator.airflow_connections()
    exported = _bash(source, tmp_path, {f"AIRFLOW_CONN_{k.upper()}": v for k, v in connections.items()})
    _check_connections(sample, exported, connections)


def _check_connections(sample: Sample, exported: dict[str, str], given: dict[str, str]) -> None:
    """A connection the sample exports is a valid ``imm`` connection (every extra known, values
    well-formed), as a hook would read it, or the ``oss`` connection ``emulator_oss_connection``
    makes for its endpoint."""
    from airflow.models import Connection

    from airflow_provider_imm.emulator.server import emulator_oss_connection
    from airflow_provider_imm.hooks.connection import parse_connection

    for name, value in exported.items():
        conn_id = name.removeprefix("AIRFLOW_CONN_").lower()
        if given.get(conn_id) == value:
            continue
        conn = Connection.from_json(value, conn_id=conn_id)
        if conn.conn_type == "oss":
            built = json.loads(emulator_oss_connection(conn.extra_dejson.get("endpoint", "")))
            assert conn.extra_dejson == built["extra"], (
                f"{sample.id}: {name} is not the emulator's oss connection"
            )
            continue
        assert conn.conn_type == "imm", f"{sample.id}: {name} is not an imm connection"
        parse_connection(conn)


@pytest.mark.parametrize("sample", _params("pytest"))
def test_a_test_sample_passes(sample: Sample, airflow_home: Path, tmp_path: Path) -> None:
    """The sample as a test module of its own; the DAGs folder holds the example DAGs and the DAG
    files of the sample's page, the metadata DB is a copy of the session's (already migrated)."""
    home = tmp_path / "airflow"
    dags = home / "dags"
    dags.mkdir(parents=True)
    for dag_file in (REPO / "example_dags").glob("*.py"):
        shutil.copy(dag_file, dags)
    for index, other in enumerate(s for s in SAMPLES if s.path == sample.path and s.mode == "dag-file"):
        (dags / f"doc_sample_dag_{index}.py").write_text(other.source)
    _copy_db(airflow_home / "airflow.db", home / "airflow.db")
    test_file = tmp_path / "test_doc_sample.py"
    test_file.write_text(sample.source)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__OPENLINEAGE__DISABLED="True",
        PYTHONPATH=str(REPO),
    )
    ran = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            str(test_file),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )
    assert ran.returncode == 0, f"{sample.id} failed:\n{ran.stdout[-4000:]}\n{ran.stderr[-2000:]}"


def _copy_db(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite DB that may be open (and in WAL mode) in this process."""
    with (
        contextlib.closing(sqlite3.connect(source)) as src,
        contextlib.closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)


def _bash(source: str, cwd: Path, connections: dict[str, str]) -> dict[str, str]:
    """Run ``source`` in bash, failing on the first failing command, with the venv's commands first
    on PATH, a scratch Airflow home and ``connections``; the ``AIRFLOW_CONN_*`` variables at its end.

    Its own process group: whatever it leaves running in the background is stopped afterwards.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(connections, AIRFLOW_HOME=str(cwd / "airflow"), PYTHONPATH=str(REPO))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    exported = cwd / "exported-connections.json"
    dump = (
        "import json, os, sys; json.dump({k: v for k, v in os.environ.items()"
        " if k.startswith('AIRFLOW_CONN_')}, open(sys.argv[1], 'w'))"
    )
    script = f"{source}\n{shlex.quote(sys.executable)} -c {shlex.quote(dump)} {shlex.quote(str(exported))}\n"
    output = cwd / "output.txt"
    with output.open("w") as out:
        process = subprocess.Popen(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            returncode = process.wait(timeout=SUBPROCESS_TIMEOUT)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
    assert returncode == 0, f"sample failed ({returncode}):\n{output.read_text()[-4000:]}"
    return dict(json.loads(exported.read_text()))


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
