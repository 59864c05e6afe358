"""The SDKs stay behind airflow_provider_imm.sdk: lint fails a module-level import anywhere else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_imm import sdk

ROOT = Path(__file__).resolve().parents[1]


def lint(source: str, filename: str = "airflow_provider_imm/operators/new_module.py") -> str:
    """What ``ruff check`` with the project's configuration says about ``source`` as ``filename``."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--no-cache",
            "--select",
            "TID253",
            "--stdin-filename",
            filename,
            "-",
        ],
        input=source,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    return done.stdout + done.stderr


@pytest.mark.parametrize("package", sorted(sdk.SDK_PACKAGES))
def test_a_module_level_sdk_import_fails_lint(package: str) -> None:
    assert "TID253" in lint(f"import {package}.x\n")
    assert "TID253" in lint(f"from {package} import x\n")


def test_lazy_and_type_checking_imports_pass_lint() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from alibabacloud_imm20200930.client import Client\n"
        "def f():\n    from mns.queue import Message\n    return Message\n"
    )
    assert "TID253" not in lint(source)


def test_load_gives_sdk_modules_only() -> None:
    assert sdk.imm_models().CreateMediaConvertTaskRequest.__name__ == "CreateMediaConvertTaskRequest"
    assert sdk.load("mns.queue").Message.__name__ == "Message"
    with pytest.raises(ValueError, match="not a module of the SDKs"):
        sdk.load("os.path")
