"""CSV cells that a spreadsheet would run as formulas, made inert.

gridplan's CSVs are meant to be opened in a spreadsheet, which reads a cell starting with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return as a formula (``=HYPERLINK(...)``, ``@SUM(...)``: CSV
formula injection). Scenario ids cannot start so (``scenario.textrules``), but labels and notes can
come from file names and free text; every CSV gridplan writes for spreadsheets passes through here.
Such a cell gets a leading apostrophe, which spreadsheets read as "this is text". A number (``-3.5``,
``-1e-05``) is left as it is: it must stay a number.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from scenario.textrules import FORMULA_START

__all__ = ["inert_cell", "inert_csv_text", "make_csvs_inert"]

# a cell that may start like a formula: at the start of a line, or after a comma, possibly quoted
_MAYBE = re.compile(r'(?:^|,)"?[=+\-@\t\r]', re.M)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def inert_cell(cell: str) -> str:
    """``cell``, with a leading apostrophe when a spreadsheet would read it as a formula."""
    return "'" + cell if cell.startswith(FORMULA_START) and not _is_number(cell) else cell


def inert_csv_text(text: str) -> str:
    """The CSV ``text`` with every formula-like cell made inert (the text itself when there is none)."""
    if not _MAYBE.search(text):
        return text
    rows = list(csv.reader(io.StringIO(text, newline="")))
    inert = [[inert_cell(c) for c in row] for row in rows]
    if inert == rows:
        return text
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(inert)
    return buf.getvalue()


def make_csvs_inert(folder: Path) -> None:
    """Rewrite, in place, every ``*.csv`` below ``folder`` that holds a formula-like cell (a result folder
    before it is renamed into place; the others are not touched)."""
    for path in sorted(folder.rglob("*.csv")):
        text = path.read_text(encoding="utf-8")
        inert = inert_csv_text(text)
        if inert is not text:
            path.write_text(inert, encoding="utf-8", newline="")
