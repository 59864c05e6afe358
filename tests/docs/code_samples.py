"""The code samples of the docs (``docs/**/*.md``) and the README, as the tests run them.

A sample is a fenced code block in Python (``python``, ``py``, MyST's ``{code-block} python``) or
shell (``bash``, ``sh``, ``shell``, ``console``). An HTML comment on the line before the fence,
invisible on GitHub and in the built docs, says how the sample is run when it is not simply run:

- ``<!-- sample: not-run: <why> -->``: deliberately not runnable (it installs, serves forever,
  needs an Alibaba Cloud account, ...); the test checks that it compiles (``bash -n`` for shell).
- ``<!-- sample: dag-file -->``: a DAG file; it is run, and the page's ``pytest`` samples find it in
  their DAGs folder.
- ``<!-- sample: pytest -->``: a test module; pytest runs it against a migrated metadata DB, with
  the example DAGs and the page's DAG files in the DAGs folder.

Samples address the emulator's well-known ``127.0.0.1:8765``; the test gives them its own port.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LANGUAGES = {"python": "python", "py": "python", "bash": "shell", "sh": "shell", "shell": "shell"}
LANGUAGES["console"] = "shell"
MODES = ("run", "not-run", "dag-file", "pytest")

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_MARKER = re.compile(r"^<!--\s*sample:\s*(?P<mode>[a-z-]+)\s*(?::\s*(?P<why>.*?))?\s*-->$")


class SampleError(ValueError):
    """A sample's marker is malformed; the message names the file and line."""


@dataclass(frozen=True)
class Sample:
    path: Path
    line: int  # of the opening fence, 1-based
    language: str  # "python" or "shell"
    mode: str
    source: str
    why: str = ""

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


def sample_files() -> list[Path]:
    """README.md and every Markdown page of the docs, in a stable order."""
    docs = sorted(path for path in (REPO / "docs").rglob("*.md") if "_build" not in path.parts)
    return [REPO / "README.md", *docs]


def samples_in(path: Path, text: str) -> Iterator[Sample]:
    """The Python and shell samples of one Markdown text, in order."""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence, info = opening["fence"], opening["info"].strip()
        end = index + 1
        while end < len(lines) and not _closes(lines[end], fence):
            end += 1
        language = LANGUAGES.get(_language(info))
        if language is not None:
            mode, why = _marker(path, lines, index)
            width = len(opening["indent"])
            body = "\n".join(_dedent(line, width) if width else line for line in lines[index + 1 : end])
            yield Sample(path, index + 1, language, mode, _drop_directive_options(info, body) + "\n", why)
        index = end + 1


def _closes(line: str, fence: str) -> bool:
    stripped = line.strip()
    return stripped.startswith(fence) and set(stripped) == {fence[0]}


def _language(info: str) -> str:
    """``python`` of ``python``, ``python title``, ``{code-block} python``."""
    words = info.split()
    if not words:
        return ""
    if words[0] in ("{code-block}", "{code}", "{sourcecode}"):
        return words[1] if len(words) > 1 else ""
    return words[0]


def _drop_directive_options(info: str, body: str) -> str:
    """A MyST directive's ``:option:`` lines are not code."""
    if not info.startswith("{"):
        return body
    lines = body.splitlines()
    while lines and re.match(r"^:[\w-]+:", lines[0]):
        lines.pop(0)
    return "\n".join(lines)


def _dedent(line: str, width: int) -> str:
    """A fence indented by ``width`` spaces indents its content as much (or less)."""
    return line[width:] if line[:width].isspace() else line.lstrip(" ")


def _marker(path: Path, lines: list[str], fence_index: int) -> tuple[str, str]:
    """The mode the comment right above the fence gives (``run`` without one)."""
    above = fence_index - 1
    if above < 0 or not lines[above].lstrip().startswith("<!--"):
        return "run", ""
    comment = lines[above].strip()
    found = _MARKER.match(comment)
    where = f"{path.relative_to(REPO)}:{above + 1}"
    if found is None:
        if "sample" in comment:
            raise SampleError(f"{where}: malformed sample marker {comment[:80]!r}: {_USAGE}")
        return "run", ""
    mode, why = found["mode"], (found["why"] or "").strip()
    if mode not in MODES:
        raise SampleError(f"{where}: unknown sample mode {mode!r}: {_USAGE}")
    if mode == "not-run" and not why:
        raise SampleError(f"{where}: say why the sample is not run: <!-- sample: not-run: <why> -->")
    return mode, why


_USAGE = "write <!-- sample: not-run: <why> -->, <!-- sample: dag-file --> or <!-- sample: pytest -->"


def all_samples() -> list[Sample]:
    return [sample for path in sample_files() for sample in samples_in(path, path.read_text())]
