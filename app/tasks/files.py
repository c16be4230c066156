"""`file_processing` queue: parse an uploaded CSV or XLSX file."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from app.tasks.arguments import ParseUpload
from app.tasks.base import InvalidInput, MatchbotTask, require, task
from app.tasks.storage import UPLOADS, resolve_inside

PREVIEW_ROWS = 5
SUPPORTED = (".csv", ".xlsx")


@task(ParseUpload)
def parse_upload(self: MatchbotTask, path: str) -> dict[str, Any]:
    """Rows, columns and a preview of DATA_DIR/uploads/<path> (CSV or XLSX)."""
    file = resolve_inside(self.settings, UPLOADS, path)
    require(file.suffix.lower() in SUPPORTED, f"unsupported file type; expected {SUPPORTED}")
    require(file.is_file(), f"no uploaded file named {path!r}")
    size = file.stat().st_size
    limit = self.settings.max_upload_bytes
    require(size <= limit, f"file is {size} bytes; the limit is {limit}")
    rows = read_csv(file) if file.suffix.lower() == ".csv" else read_xlsx(file)
    return summarize(rows, self.settings.max_rows)


def read_csv(file: Path) -> list[list[str]]:
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidInput(f"CSV file is not UTF-8 text: {error.reason}") from None
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    try:
        return list(csv.reader(text.splitlines(), dialect))
    except csv.Error as error:
        raise InvalidInput(f"broken CSV file: {error}") from None


def read_xlsx(file: Path) -> list[list[str]]:
    try:
        workbook = load_workbook(file, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as error:
        raise InvalidInput(f"broken XLSX file: {error}") from None
    try:
        sheet = workbook.active
        if sheet is None:
            raise InvalidInput("XLSX file has no worksheet")
        return [
            ["" if cell is None else str(cell) for cell in row]
            for row in sheet.iter_rows(values_only=True)
        ]
    finally:
        workbook.close()


def summarize(rows: list[list[str]], limit: int) -> dict[str, Any]:
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    require(len(rows) > 0, "the file holds no rows")
    require(len(rows) - 1 <= limit, f"the file holds {len(rows) - 1} rows; the limit is {limit}")
    header, data = rows[0], rows[1:]
    width = len(header)
    ragged = [index + 2 for index, row in enumerate(data) if len(row) != width]
    require(
        not ragged,
        f"rows {ragged[:5]} have a different number of columns than the header ({width})",
    )
    return {"rows": len(data), "columns": header, "preview": data[:PREVIEW_ROWS]}
