"""The release as a user gets it: the sdist and wheel ``python -m build`` makes, their metadata and
contents, the wheel installed alone into a fresh virtual environment (without the ``oss`` extra:
the provider works without the Alibaba provider), and installed with its ``oss`` extra into another
one running the nightly example DAG (which reaches OSS through ``OSSHook``) on a real Airflow
deployment against the emulator.

Nothing here reaches the network: the build runs without isolation (the pinned setuptools is in the
test environment), and the fresh environment is installed by uv ``--offline`` from the cache the
bootstrap filled, constrained to the versions of the running test environment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 cell
    import tomli as tomllib

from airflow_provider_imm import __version__
from airflow_provider_imm.emulator import DEFAULT_PROJECT, ImmEmulator
from tests.e2e import deployment as deployment_module
from tests.e2e.deployment import EXAMPLE_DAGS, MNS_TOPIC, REPO, AirflowDeployment

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
NAME = PYPROJECT["project"]["name"]
#: One fact: pyproject reads the version from the package (``dynamic``), as provider info does.
VERSION = __version__
DIST_NAME = NAME.replace("-", "_")
PACKAGE = "airflow_provider_imm"
NIGHTLY = "imm_nightly_document_conversion"
DOCUMENTS = ["quarterly-report.docx", "board-minutes.docx", "price-list.xlsx"]


#: What a checkout holds besides its sources (its .gitignore's entries and git's own folder).
_NOT_SOURCES = (
    ".git",
    ".venv*",
    "__pycache__",
    "*.egg-info",
    ".*_cache",
    ".hypothesis",
    "build",
    "dist",
    "results",
    "_build",
)


@dataclass(frozen=True)
class Dist:
    sdist: Path
    wheel: Path


def _run(
    *cmd: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, timeout=600, check=False, cwd=cwd, env=env
    )
    command = " ".join(map(str, cmd))
    assert done.returncode == 0, f"{command} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    """``python -m build``: the sdist, then the wheel built from the unpacked sdist. From a copy of
    the checkout: setuptools writes its egg-info beside the sources, and the checkout is shared with
    whatever else runs from it (another matrix cell's tests, an editor)."""
    out = tmp_path_factory.mktemp("dist")
    source = tmp_path_factory.mktemp("source") / "checkout"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*_NOT_SOURCES))
    _run(sys.executable, "-m", "build", "--no-isolation", "--outdir", out, source)
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return Dist(sdist, wheel)


def test_build_names_both_artifacts_after_the_version_and_twine_accepts_their_metadata(dist: Dist) -> None:
    assert dist.sdist.name == f"{DIST_NAME}-{VERSION}.tar.gz"
    assert dist.wheel.name == f"{DIST_NAME}-{VERSION}-py3-none-any.whl"
    checked = _run(sys.executable, "-m", "twine", "check", "--strict", dist.sdist, dist.wheel)
    assert checked.stdout.count("PASSED") == 2, checked.stdout


def _package_files() -> set[str]:
    """Every module and package-data file (the generated ``request_models.json``) of the package."""
    files = (
        p
        for p in (REPO / PACKAGE).rglob("*")
        if p.suffix in {".py", ".json"} and "__pycache__" not in p.parts
    )
    return {p.relative_to(REPO).as_posix() for p in files}


def test_wheel_holds_every_module_and_py_typed_and_no_tests(dist: Dist) -> None:
    with zipfile.ZipFile(dist.wheel) as wheel:
        names = set(wheel.namelist())
        metadata = wheel.read(f"{DIST_NAME}-{VERSION}.dist-info/METADATA").decode()
        entry_points = wheel.read(f"{DIST_NAME}-{VERSION}.dist-info/entry_points.txt").decode()
    sources = _package_files()
    assert sources <= names, sorted(sources - names)
    assert f"{PACKAGE}/py.typed" in names
    top_level = {name.split("/", 1)[0] for name in names}
    assert top_level == {PACKAGE, f"{DIST_NAME}-{VERSION}.dist-info"}, top_level
    assert not [n for n in names if "/tests/" in n or n.split("/")[-1].startswith(("test_", "conftest"))]
    # What pip and Airflow read: the dependencies as pyproject declares them, the provider entry point.
    field = "Requires-Dist: "
    requires = {line.removeprefix(field) for line in metadata.splitlines() if line.startswith(field)}
    assert set(PYPROJECT["project"]["dependencies"]) <= {r.replace(" ", "") for r in requires}
    assert f"Version: {VERSION}\n" in metadata
    provider_info = f"provider_info = {PACKAGE}.get_provider_info:get_provider_info"
    assert f"[apache_airflow_provider]\n{provider_info}" in entry_points


def test_sdist_holds_the_sources_readme_and_changelog(dist: Dist) -> None:
    prefix = f"{DIST_NAME}-{VERSION}/"
    with tarfile.open(dist.sdist) as sdist:
        names = {name.removeprefix(prefix) for name in sdist.getnames()}
    sources = _package_files()
    assert sources <= names, sorted(sources - names)
    assert {"pyproject.toml", "README.md", "CHANGELOG.md", "PKG-INFO", f"{PACKAGE}/py.typed"} <= names
    # The changelog has an entry for the version being built.
    assert f"## {VERSION}" in (REPO / "CHANGELOG.md").read_text()


def _install(dist: Dist, tmp_path_factory: pytest.TempPathFactory, extras: str = "") -> Path:
    """A new virtual environment holding the wheel (with ``extras``, e.g. ``[oss]``) and its
    dependencies, nothing else.

    uv resolves offline from its cache, constrained to the running environment's versions (those the
    bootstrap installed from the lock, hence cached): the wheel's own metadata decides what is installed.
    """
    root = tmp_path_factory.mktemp("fresh")
    uv = (sys.executable, "-m", "uv")
    frozen = _run(*uv, "pip", "freeze", "--python", sys.executable).stdout
    constraints = root / "constraints.txt"
    constraints.write_text("".join(line + "\n" for line in frozen.splitlines() if "==" in line))
    venv = root / "venv"
    base = _run(sys.executable, "-c", "import sys; print(sys._base_executable)").stdout.strip()
    _run(*uv, "venv", "--quiet", "--python", base, venv)
    python = venv / "bin" / "python"
    requirement = f"{dist.wheel}{extras}"
    # Bytecode compiled, as pip does for users: processes of the deployment then import as theirs do.
    _run(
        *uv,
        "pip",
        "install",
        "--offline",
        "--quiet",
        "--compile-bytecode",
        "--python",
        python,
        "-c",
        constraints,
        requirement,
    )
    return venv


@pytest.fixture(scope="module")
def fresh_env(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel alone, without extras."""
    return _install(dist, tmp_path_factory)


@pytest.fixture(scope="module")
def fresh_env_oss(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel with its ``oss`` extra, as the example DAGs need it."""
    return _install(dist, tmp_path_factory, "[oss]")


def _fresh_python(venv: Path, code: str) -> str:
    """Run ``code`` in the fresh environment from outside the repository (its sources not on the path)."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    return _run(venv / "bin" / "python", "-c", code, cwd=venv, env=env).stdout.strip()


def test_the_fresh_environment_holds_the_installed_wheel_and_no_test_tools(fresh_env: Path) -> None:
    where = _fresh_python(fresh_env, f"import {PACKAGE}; print({PACKAGE}.__file__)")
    assert Path(where).is_relative_to(fresh_env), where
    shown = json.loads(
        _fresh_python(
            fresh_env,
            "import json, importlib.util as u; "
            "print(json.dumps([bool(u.find_spec(m)) for m in ('pytest', 'hypothesis', 'airflow')]))",
        )
    )
    assert shown == [False, False, True]
    # The base install has no OSS, RocketMQ or common.messaging, and every module of the provider
    # outside the emulator imports without them, but the message-queue provider, which is
    # common.messaging's plug-in: it says which extra to install, as Airflow's providers do.
    queue_provider = f"{PACKAGE}.queues.mns"
    modules = sorted(
        ".".join(p.relative_to(REPO).with_suffix("").parts)
        for p in (REPO / PACKAGE).rglob("*.py")
        if "emulator" not in p.parts and p.name != "__main__.py"
    )
    assert queue_provider in modules
    modules.remove(queue_provider)
    # The shared-stream producer is imported only where Airflow has shared streams (3.3).
    shared_stream = f"{PACKAGE}.triggers.mns_shared_stream"
    check = (
        "import importlib, importlib.util, json\n"
        "from airflow.exceptions import AirflowOptionalProviderFeatureException\n"
        f"for name in {modules!r}:\n"
        f"    if name != {shared_stream!r} or importlib.util.find_spec('airflow.triggers.shared_stream'):\n"
        "        importlib.import_module(name)\n"
        "try:\n"
        f"    importlib.import_module({queue_provider!r})\n"
        "    refusal = ''\n"
        "except AirflowOptionalProviderFeatureException as err:\n"
        "    refusal = str(err)\n"
        "print(json.dumps([importlib.util.find_spec(m) is not None "
        "for m in ('alibabacloud_oss_v2', 'airflow.providers.alibaba', 'rocketmq', "
        "'airflow.providers.common.messaging')] + [refusal]))"
    )
    *present, refusal = json.loads(_fresh_python(fresh_env, check))
    assert present == [False, False, False, False]
    assert "airflow-provider-imm[messaging]" in refusal
    for script in ("imm-emulator", "imm-setup-notifications"):
        assert "usage:" in _run(fresh_env / "bin" / script, "--help", cwd=fresh_env).stdout


@pytest.fixture
def fresh_airflow(fresh_env_oss: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The deployment harness starts the fresh environment's ``airflow``, without the repository on
    its path, so every Airflow process imports the provider from the installed wheel."""
    monkeypatch.setattr(deployment_module, "AIRFLOW", str(fresh_env_oss / "bin" / "airflow"))
    yield


def test_the_installed_wheel_with_its_oss_extra_runs_the_nightly_example_dag_against_the_emulator(
    fresh_airflow: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(EXAMPLE_DAGS / f"{NIGHTLY}.py", dags)
    with ImmEmulator(tmp_path / "oss", task_duration=0.5, projects=(DEFAULT_PROJECT,)) as emulator:
        for name in DOCUMENTS:
            emulator.oss.put("imm-demo-docs", f"inbox/{name}", b"document body")
        connections = emulator.airflow_connections(
            "imm_default", project=DEFAULT_PROJECT, mns_topic=MNS_TOPIC
        )
        for conn_id, value in connections.items():
            monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)
        from airflow_provider_imm.hooks.mns import MnsHook

        MnsHook("imm_default").ensure_notification_channel()
        airflow = AirflowDeployment(
            tmp_path / "airflow", connections=connections, dags_folder=dags, repository_on_path=False
        )
        try:
            airflow.start_all()
            airflow.wait_for_dags({NIGHTLY})
            airflow.rest.unpause(NIGHTLY)
            run_id = airflow.rest.trigger(NIGHTLY, logical_date="2026-11-20T02:00:00Z")
            state = airflow.rest.wait_for_run(NIGHTLY, run_id, timeout=300)
            logs = "\n".join(p.read_text(errors="replace") for p in (airflow.home / "logs").rglob("*.log"))
            assert state == "success", logs[-5000:]
            checked = airflow.rest.xcom(NIGHTLY, run_id, "check_outputs")
        finally:
            airflow.stop()
        assert airflow.survivors == []
        outputs = [f"outbox/2026-11-20/finance/{name.rsplit('.', 1)[0]}.pdf" for name in DOCUMENTS]
        assert sorted(checked["outputs"]) == sorted(f"oss://imm-demo-docs/{key}" for key in outputs)
        assert all(emulator.oss.exists("imm-demo-docs", key) for key in outputs)
        assert emulator.oss.list("imm-demo-docs", "inbox/") == []
