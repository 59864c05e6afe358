"""Sphinx directives that render reference material from the code, so the docs cannot drift from it.

- ``imm-connection-fields``: the ``imm`` connection's form (``get_provider_info()``) and the extras
  the connection accepts (``hooks.connection.EXTRA_KEYS``), one row per field.
- ``program-help``: a command's ``--help``, from its argparse parser (``module:function``).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective


class Code(str):
    """A part of a cell shown as code."""


#: A cell: text parts, the ``Code`` ones shown as code.
Cell = list[str]

#: Form fields Airflow draws itself (not extras), as the provider relabels them.
STANDARD_FIELDS = {"login": "access_key_id", "password": "access_key_secret"}
HEADER = ("field / extras key", "label in the form", "meaning", "value")


def connection_rows() -> Iterator[tuple[Cell, Cell, Cell, Cell]]:
    """One row per form field, then per extra without a form field of its own."""
    from airflow_provider_imm.get_provider_info import get_provider_info
    from airflow_provider_imm.hooks.connection import EXTRA_DEFAULTS, EXTRA_KEYS

    (conn_type,) = get_provider_info()["connection-types"]
    behaviour = conn_type["ui-field-behaviour"]
    placeholders = behaviour["placeholders"]
    for field, extra in STANDARD_FIELDS.items():
        yield (
            [Code(field), " (or extra ", Code(extra), ")"],
            [behaviour["relabeling"][field]],
            [EXTRA_KEYS[extra]],
            ["string, secret" if field == "password" else "string"],
        )
    fields: dict[str, Any] = conn_type["conn-fields"]
    for name, spec in fields.items():
        schema = spec["schema"]
        value: Cell = [" or ".join(kind for kind in schema["type"] if kind != "null")]
        if schema.get("format") == "password":
            value.append(", secret")
        if "enum" in schema:
            value.append("; one of ")
            for index, choice in enumerate(schema["enum"]):
                value.extend([", "] * bool(index) + [Code(choice)])
        if "minimum" in schema:
            value.append(f"; at least {schema['minimum']}")
        if name in EXTRA_DEFAULTS:
            value.extend(["; default ", Code(str(EXTRA_DEFAULTS[name]))])
        elif name in placeholders:
            value.extend(["; e.g. ", Code(placeholders[name])])
        yield [Code(name)], [spec["label"]], [spec["description"]], value
    for name, meaning in EXTRA_KEYS.items():
        if name not in fields and name not in STANDARD_FIELDS.values():
            yield [Code(name)], ["(extras only)"], [meaning], ["string"]


def _table(header: tuple[str, ...], rows: Iterator[tuple[Cell, ...]]) -> nodes.table:
    table = nodes.table()
    group = nodes.tgroup(cols=len(header))
    table += group
    group.extend(nodes.colspec(colwidth=width) for width in (20, 15, 45, 20))
    head, body = nodes.thead(), nodes.tbody()
    head += _row([[text] for text in header])
    body.extend(_row(list(cells)) for cells in rows)
    group += [head, body]
    return table


def _row(cells: list[Cell]) -> nodes.row:
    row = nodes.row()
    for cell in cells:
        paragraph = nodes.paragraph()
        paragraph.extend(
            nodes.literal(part, part) if isinstance(part, Code) else nodes.Text(part) for part in cell
        )
        entry = nodes.entry()
        entry += paragraph
        row += entry
    return row


class ConnectionFields(SphinxDirective):
    """The table of :func:`connection_rows`."""

    def run(self) -> list[nodes.Node]:
        return [_table(HEADER, connection_rows())]


class ProgramHelp(SphinxDirective):
    """``program-help package.module:parser_factory``: the parser's help as a literal block."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        module_name, _, factory = self.arguments[0].partition(":")
        parser = getattr(importlib.import_module(module_name), factory)()
        os.environ.setdefault("COLUMNS", "100")  # argparse wraps to the terminal; a build has none
        text = parser.format_help()
        return [nodes.literal_block(text, text, language="text")]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("imm-connection-fields", ConnectionFields)
    app.add_directive("program-help", ProgramHelp)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
