"""`reports` queue: write a CSV or XLSX report from rows of data."""

from __future__ import annotations

import csv
from typing import Any

from openpyxl import Workbook

from app.tasks.arguments import Report
from app.tasks.base import MatchbotTask, task
from app.tasks.storage import REPORTS, area, atomic_write


@task(Report)
def generate_report(
    self: MatchbotTask, name: str, rows: list[dict[str, Any]], fmt: str
) -> dict[str, Any]:
    """Write DATA_DIR/reports/<name>-<task id>.<fmt>; running twice rewrites the same file."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    path = area(self.settings, REPORTS) / f"{name}-{self.request.id}.{fmt}"
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
