"""`reports` queue: write a CSV or XLSX report from rows of data."""

from __future__ import annotations

import csv
import re
from typing import Any

from openpyxl import Workbook

from app.core.celery import app as celery_app
from app.core.config import get_settings
from app.tasks.base import MatchbotTask, require, require_type
from app.tasks.storage import REPORTS, area, atomic_write

FORMATS = ("csv", "xlsx")
REPORT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


@celery_app.task(base=MatchbotTask, bind=True, name="app.tasks.reports.generate_report")
def generate_report(
    self: MatchbotTask, name: str, rows: list[dict[str, Any]], fmt: str = "csv"
) -> dict[str, Any]:
    """Write DATA_DIR/reports/<name>-<task id>.<fmt>; running twice rewrites the same file."""
    require_type(name, str, "name")
    require(bool(REPORT_NAME.match(name)), "name must be 1-64 letters, digits, '_' or '-'")
    require(fmt in FORMATS, f"fmt must be one of {FORMATS}")
    columns = validate_rows(rows)
    path = area(REPORTS) / f"{name}-{self.request.id}.{fmt}"
    if fmt == "csv":
        with atomic_write(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
    else:
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet(title=name[:31])
        sheet.append(columns)
        for row in rows:
            sheet.append([row.get(column) for column in columns])
        with atomic_write(path, "wb") as handle:
            workbook.save(handle)
    return {"path": path.name, "rows": len(rows), "columns": columns, "format": fmt}


def validate_rows(rows: Any) -> list[str]:
    """The report's columns (first-seen order); every cell a string, number, bool or None."""
    limit = get_settings().max_rows
    require_type(rows, list, "rows")
    require(0 < len(rows) <= limit, f"rows must hold 1 to {limit} rows, got {len(rows)}")
    columns: dict[str, None] = {}
    for index, row in enumerate(rows):
        require_type(row, dict, f"rows[{index}]")
        for key, value in row.items():
            require(
                value is None or isinstance(value, str | int | float | bool),
                f"rows[{index}][{key!r}] must be a string, number, boolean or null",
            )
            columns.setdefault(str(key), None)
    return list(columns)
