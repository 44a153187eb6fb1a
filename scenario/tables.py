"""Strict CSV reading: every bad cell is reported with file, line and column."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from scenario.errors import ScenarioError
from scenario.yamlio import exists, is_file, read_text

__all__ = ["CsvTable", "read_csv_table"]


class CsvTable:
    """A CSV file read as strings, with typed column accessors that fail clearly.

    Line numbers count the header as line 1, as a spreadsheet does.
    """

    def __init__(self, path: Path, header: list[str], rows: list[list[str]], error: type[Exception]):
        self.path = path
        self.header = header
        self.rows = rows
        self._error = error
        self._index = {name: i for i, name in enumerate(header)}

    def __len__(self) -> int:
        return len(self.rows)

    def fail(self, row: int, column: str | None, message: str) -> Exception:
        col = f", column {column}" if column else ""
        return self._error(f"{self.path}: line {row + 2}{col}: {message}")

    def require_columns(self, required: list[str], optional: Sequence[str] = ()) -> None:
        missing = [c for c in required if c not in self._index]
        if missing:
            raise self._error(
                f"{self.path}: missing column(s) {', '.join(missing)}; expected columns {', '.join(required)}"
            )
        known = set(required) | set(optional)
        unknown = [c for c in self.header if c not in known]
        if unknown:
            raise self._error(
                f"{self.path}: unknown column(s) {', '.join(unknown)}; "
                f"expected columns {', '.join(list(required) + list(optional))}"
            )

    def has(self, column: str) -> bool:
        return column in self._index

    def text(self, column: str) -> list[str]:
        i = self._index[column]
        return [r[i].strip() for r in self.rows]

    def numbers(
        self,
        column: str,
        *,
        integer: bool,
        minimum: float | None = None,
        strictly_positive: bool = False,
        allow_blank: bool = False,
        maximum: tuple[float, str] | None = None,
    ) -> np.ndarray:
        """Parse one column; blank cells become NaN when ``allow_blank``.

        ``maximum`` is a plausible upper bound and its unit, e.g. ``(1e6, "residents")``.
        """
        out = np.empty(len(self.rows), dtype=float)
        for r, cell in enumerate(self.text(column)):
            if cell == "":
                if allow_blank:
                    out[r] = np.nan
                    continue
                raise self.fail(r, column, "empty cell; expected a number")
            if not _NUMBER.fullmatch(cell) and cell.lower().lstrip("+-") not in ("inf", "infinity", "nan"):
                # float() would also take 1_0 and full-width or other scripts' digits: not what a table means
                raise self.fail(r, column, f"expected a number written with the digits 0-9, found {cell!r}")
            try:
                value = float(cell)
            except ValueError:
                raise self.fail(r, column, f"expected a number, found {cell!r}") from None
            if not np.isfinite(value):
                raise self.fail(r, column, f"expected a finite number, found {cell!r}")
            if integer and value != int(value):
                raise self.fail(r, column, f"expected a whole number, found {cell!r}")
            if strictly_positive and value <= 0:
                raise self.fail(r, column, f"must be > 0, found {cell}")
            if minimum is not None and value < minimum:
                raise self.fail(r, column, f"must be >= {minimum:g}, found {cell}")
            if maximum is not None and value > maximum[0]:
                raise self.fail(
                    r, column, f"must be <= {maximum[0]:,.0f} {maximum[1]} (a plausible upper bound), found {cell}"
                )
            out[r] = value
        return out

    def unique_ids(self, column: str) -> list[str]:
        ids = self.text(column)
        seen: dict[str, int] = {}
        for r, value in enumerate(ids):
            if value == "":
                raise self.fail(r, column, "empty id")
            if value in seen:
                raise self.fail(r, column, f"duplicate id {value!r} (first on line {seen[value] + 2})")
            seen[value] = r
        return ids


_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)  # what float() reads, 0-9 only


MAX_TABLE_BYTES = 500_000_000  # ~5 million communities; beyond that a file is not a planning table


def read_csv_table(path: Path, error: type[Exception] = ScenarioError, text: str | None = None) -> CsvTable:
    """Read a UTF-8 CSV with a header row (a byte-order mark is accepted).

    With ``text``, parse that instead of a file (an edited table from the planner's desk); ``path``
    then only names it in messages.

    Raises:
        error: the file is absent, unreadable, too large, not UTF-8, ragged or
            not CSV (one line naming the file and the line).
    """
    if text is None:
        if not is_file(path):
            what = "not a regular file (a folder or a pipe); expected a CSV table" if exists(path) else None
            raise error(f"{path}: {what or 'table file does not exist'}")
        text = read_text(path, error, max_bytes=MAX_TABLE_BYTES)
    elif len(text.encode("utf-8")) > MAX_TABLE_BYTES:
        raise error(f"{path}: table too large (more than {MAX_TABLE_BYTES:,} bytes)")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise error(f"{path}: empty file; expected a header row") from None
        rows = []
        for row in reader:
            if not row or all(c.strip() == "" for c in row):
                continue
            if len(row) != len(header):
                raise error(f"{path}: line {reader.line_num}: expected {len(header)} cells, found {len(row)}")
            rows.append(row)
    except csv.Error as exc:
        raise error(f"{path}: line {reader.line_num}: not a valid CSV line ({exc})") from None
    return CsvTable(path, header, rows, error)
