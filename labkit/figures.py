"""Figure tables: rows the drills record, printed as tables and kept as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class Figures:
    def __init__(self, path: Path | None = None) -> None:
        self.rows: list[dict[str, Any]] = []
        self.path = path

    def record(self, table: str, **row: Any) -> None:
        """One row of `table`; the JSON file is rewritten after each row."""
        self.rows.append({"table": table, **row})
        if self.path is not None:
            self.path.write_text(json.dumps(self.rows, indent=2))

    def tables(self) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        for row in self.rows:
            found.setdefault(row["table"], []).append(
                {key: value for key, value in row.items() if key != "table"}
            )
        return found


def table_lines(rows: list[dict[str, Any]]) -> list[str]:
    """A table as aligned text lines: a header, then one line per row."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    widths = {c: max(len(c), *(len(str(row.get(c, ""))) for row in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns)]
    lines += ["  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns) for row in rows]
    return lines


def write_tables(terminalreporter: Any, figures: Figures) -> None:
    """Every table of `figures`, at the end of a pytest session (pytest_terminal_summary)."""
    for title, rows in figures.tables().items():
        terminalreporter.write_sep("=", title)
        for line in table_lines(rows):
            terminalreporter.write_line(line)
