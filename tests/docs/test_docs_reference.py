"""The docs' reference material matches the code: the connection table has every field, the admin
API table every route, and every example DAG its page. (The build itself, with warnings as errors,
is a step of ``scripts/test``.)"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from airflow_provider_imm.emulator import ImmEmulator
from tests.docs.code_samples import REPO, SampleError, samples_in

DOCS = REPO / "docs"


@pytest.fixture(scope="module")
def provider_docs():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        import provider_docs

        yield provider_docs
    finally:
        sys.path.remove(str(DOCS / "_ext"))


def test_the_connection_table_has_a_row_per_form_field_and_extra(provider_docs) -> None:  # type: ignore[no-untyped-def]
    from airflow_provider_imm.get_provider_info import get_provider_info
    from airflow_provider_imm.hooks.connection import EXTRA_KEYS

    rows = list(provider_docs.connection_rows())
    named = [next(part for part in row[0] if isinstance(part, provider_docs.Code)) for row in rows]
    (conn_type,) = get_provider_info()["connection-types"]
    assert named[:2] == ["login", "password"]
    assert named[2 : 2 + len(conn_type["conn-fields"])] == list(conn_type["conn-fields"])
    extras_named = {str(part) for row in rows for part in row[0] if isinstance(part, provider_docs.Code)}
    assert set(EXTRA_KEYS) <= extras_named
    assert len(named) == len(set(named))


def test_the_admin_api_table_lists_every_admin_route() -> None:
    documented = set(
        re.findall(r"^\| `(GET|PUT|POST|DELETE) (/_emulator/[^`]*)`", _read("emulator.md"), re.M)
    )
    with ImmEmulator() as emu:
        routes = {
            (route.method, re.sub(r"\{(\w+)(:[^}]*)?\}", r"<\1>", route.resource.canonical).rstrip("/"))
            for route in emu.build_app().router.routes()
            if route.resource is not None
            and route.resource.canonical.startswith("/_emulator/")
            and route.method != "HEAD"
        }
    assert documented == routes


def test_every_example_dag_has_a_page_that_includes_it() -> None:
    included = {
        Path(match).name
        for page in (DOCS / "examples").glob("*.md")
        for match in re.findall(r"```\{literalinclude\} \.\./\.\./example_dags/(\S+)", page.read_text())
    }
    assert included == {path.name for path in (REPO / "example_dags").glob("*.py")}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("```python\nx = 1\n```\n", [("python", "run", "x = 1\n")]),
        ("~~~~bash\necho\n~~~~\n", [("shell", "run", "echo\n")]),
        ("```{code-block} python\n:caption: c\nx = 1\n```\n", [("python", "run", "x = 1\n")]),
        (
            "<!-- sample: not-run: needs a cloud account -->\n```py\nx(\n```\n",
            [("python", "not-run", "x(\n")],
        ),
        (
            "<!-- sample: pytest -->\n```python\ndef test(): pass\n```\n",
            [("python", "pytest", "def test(): pass\n")],
        ),
        ("- item\n\n   ```python\n   x = 1\n   ```\n", [("python", "run", "x = 1\n")]),
        ("````markdown\n```python\nx = 1\n```\n````\n```text\nhi\n```\n", []),
        ("<!-- a comment -->\n```bash\ntrue\n```\n", [("shell", "run", "true\n")]),
    ],
)
def test_samples_are_found_with_their_mode(text: str, expected: list[tuple[str, str, str]]) -> None:
    found = [(s.language, s.mode, s.source) for s in samples_in(REPO / "x.md", text)]
    assert found == expected


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ("<!-- sample: not-run -->", "say why"),
        ("<!-- sample: skip -->", "unknown sample mode 'skip'"),
        ("<!-- sample not-run: x -->", "malformed sample marker"),
    ],
)
def test_a_bad_marker_is_refused_naming_the_line(marker: str, message: str) -> None:
    with pytest.raises(SampleError, match=message) as raised:
        list(samples_in(REPO / "x.md", f"text\n{marker}\n```python\nx = 1\n```\n"))
    assert str(raised.value).startswith("x.md:2:")


def _read(page: str) -> str:
    return (DOCS / page).read_text()


def _api_modules() -> dict[str, list[str] | None]:
    """Module -> the members its API page lists (None: all its public members)."""
    modules: dict[str, list[str] | None] = {}
    directive = re.compile(r"^\.\. (automodule|autofunction):: (\S+)\n((?:   :.*\n(?:      .*\n)*)*)", re.M)
    for page in (DOCS / "api").glob("*.md"):
        for kind, name, options in directive.findall(page.read_text()):
            if kind == "autofunction":
                module, _, function = name.rpartition(".")
                modules.setdefault(module, []).append(function)  # type: ignore[union-attr]
                continue
            members = re.search(r":members:(.*(?:\n      .*)*)", options)
            if members is None:
                modules.setdefault(name, [])
            elif members[1].strip():
                modules[name] = [m.strip() for m in members[1].replace("\n", " ").split(",")]
            else:
                modules[name] = None
    return modules


def test_the_modules_airflow_registers_are_in_the_api_reference() -> None:
    from airflow_provider_imm.get_provider_info import get_provider_info

    info = get_provider_info()
    registered = {
        module
        for kind in ("operators", "sensors", "triggers", "hooks")
        for entry in info[kind]
        for module in entry["python-modules"]
    }
    registered |= {path.rpartition(".")[0] for path in info["extra-links"]}
    registered |= {c["hook-class-name"].rpartition(".")[0] for c in info["connection-types"]}
    assert registered <= set(_api_modules())


def test_every_public_name_in_the_api_reference_has_a_docstring() -> None:
    import importlib
    import inspect

    from sphinx.pycode import ModuleAnalyzer

    undocumented = []
    for module_name, listed in _api_modules().items():
        module = importlib.import_module(module_name)
        attribute_docs = {name for (_, name) in ModuleAnalyzer.for_module(module_name).find_attr_docs()}
        names = (
            listed
            if listed is not None
            else [
                name
                for name, value in vars(module).items()
                if not name.startswith("_")
                and (inspect.isclass(value) or inspect.isfunction(value))
                and value.__module__ == module_name
            ]
        )
        for name in names:
            value = getattr(module, name)
            if inspect.isclass(value) or inspect.isfunction(value):
                documented = bool((value.__doc__ or "").strip())
            else:
                documented = name in attribute_docs
            if not documented:
                undocumented.append(f"{module_name}.{name}")
    assert undocumented == []
