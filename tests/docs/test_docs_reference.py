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
