"""The SDKs stay behind airflow_provider_imm.sdk: lint fails a module-level import anywhere else."""

from __future__ import annotations

import ast
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


def _type_checking_block(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def sdk_imports(source: str) -> list[tuple[int, str]]:
    """(line, module) of every import of an SDK package in ``source``, at any depth, outside
    ``if TYPE_CHECKING:`` blocks."""
    found: list[tuple[int, str]] = []
    stack: list[ast.AST] = [ast.parse(source)]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _type_checking_block(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            names = []
        found.extend((node.lineno, name) for name in names if name.partition(".")[0] in sdk.SDK_PACKAGES)
        stack.extend(ast.iter_child_nodes(node))
    return sorted(found)


def test_sdk_imports_finds_function_level_imports_but_not_type_checking_ones() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from alibabacloud_imm20200930.client import Client\n"
        "def f():\n    from mns.queue import Message\n    import darabonba.exceptions\n"
        "    from airflow_provider_imm import sdk\n"
    )
    assert sdk_imports(source) == [(5, "mns.queue"), (6, "darabonba.exceptions")]


def test_only_the_sdk_module_imports_the_sdks() -> None:
    package = ROOT / "airflow_provider_imm"
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for path in sorted(package.rglob("*.py"))
        if path != package / "sdk.py"
        for line, module in sdk_imports(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], "import these through airflow_provider_imm.sdk.load():\n" + "\n".join(offenders)
