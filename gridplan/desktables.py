"""The desk's allocation tables: the rows the page edits, the allocation CSV they make, and its policy check.

The page edits two tables (communities, streets); their rows become an allocation CSV in the format every
command reads, validated exactly as an ``--allocation`` file is, so that a bad cell gets the command line's
one-line message. The check gives a one-line summary and the cells each failing community or street rule
is about, for the tables to mark.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

from gridplan.fmt import number
from gridplan.spreadsheet import inert_cell
from scenario.allocation import Allocation
from scenario.errors import GridplanError
from scenario.load import Scenario
from solvers.policy import ALLOCATION_FIELD, PolicyReport, check_policy

__all__ = [
    "COMMUNITY_COLS",
    "STREET_COLS",
    "ACTIVE_CELL",
    "FAILING_CELL",
    "community_rows",
    "street_rows",
    "table_csv",
    "parse",
    "check_text",
    "failing_cells",
    "checked",
]

COMMUNITY_COLS = ["workers", "secretary_assistants", "work_fund_yuan", "service_fund_yuan"]
STREET_COLS = ["street_office_staff", "mobile_grid_workers"]
# the table's own style for the selected cell is a pale red: neutral here, so that red marks failing cells only
ACTIVE_CELL = [
    {"if": {"state": "active"}, "backgroundColor": "#e7f0fb", "border": "1px solid #1971c2"},
    {"if": {"state": "selected"}, "backgroundColor": "#e7f0fb", "border": "1px solid #1971c2"},
]
FAILING_CELL = {"backgroundColor": "#fde2e1", "color": "#b42318", "fontWeight": "bold"}


def community_rows(s: Scenario, a: Allocation) -> list[dict[str, Any]]:
    """The community table the page edits."""
    return [
        {
            "community": c,
            "street": s.street_ids[s.community_street[i]],
            "urban_residents": int(s.urban_residents[i]),
            "workers": int(a.workers[i]),
            "secretary_assistants": int(a.secretary_assistants[i]),
            "work_fund_yuan": float(a.work_fund_yuan[i]),
            "service_fund_yuan": float(a.service_fund_yuan[i]),
        }
        for i, c in enumerate(s.community_ids)
    ]


def street_rows(s: Scenario, a: Allocation) -> list[dict[str, Any]]:
    """The street table the page edits."""
    return [
        {
            "street": x,
            "street_office_staff": int(a.street_office_staff[j]),
            "mobile_grid_workers": int(a.mobile_grid_workers[j]),
        }
        for j, x in enumerate(s.street_ids)
    ]


def _rows(value: object, name: str) -> list[dict]:
    """A table as the page sends it: a list of rows, each a mapping (a forged request may send anything).

    Raises:
        GridplanError: naming the table and what was found instead.
    """
    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise GridplanError(f"the {name} table must be a list of rows, found {type(value).__name__}")
    return value


def table_csv(communities: list[dict], streets: list[dict]) -> str:
    """The two edited tables as one allocation CSV (the format every command reads), its cells inert for a
    spreadsheet.

    Raises:
        GridplanError: a table that is not a list of rows.
    """
    rows = [["level", "id", *COMMUNITY_COLS, *STREET_COLS]]
    for r in _rows(communities, "communities"):
        rows.append(["community", _cell(r.get("community")), *(_cell(r.get(c)) for c in COMMUNITY_COLS), "", ""])
    for r in _rows(streets, "streets"):
        rows.append(["street", _cell(r.get("street")), "", "", "", "", *(_cell(r.get(c)) for c in STREET_COLS)])
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([[inert_cell(c) for c in row] for row in rows])
    return buf.getvalue()


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


_LINE = re.compile(r"^edited allocation: line (\d+)(?:, column (\w+))?: ")


def parse(s: Scenario, text: str) -> Allocation:
    """An edited table, validated exactly as ``--allocation`` files are (one-line errors), the error naming
    the row by what the page shows (its level and id) rather than the CSV line the page never shows."""
    try:
        return s.read_allocation(Path("edited allocation"), text=text)
    except GridplanError as exc:
        raise type(exc)(_as_on_screen(str(exc), text)) from None


def _as_on_screen(message: str, text: str) -> str:
    """``edited allocation: line 5, column X: ...`` as ``edited allocation, street S1, column X: ...``."""
    m = _LINE.match(message)
    rows = list(csv.reader(io.StringIO(text)))
    k = int(m.group(1)) - 1 if m else 0
    if not m or not 0 < k < len(rows) or len(rows[k]) < 2:
        return message
    level, rid = rows[k][0], rows[k][1]
    column = level if m.group(2) == "id" and level in ("community", "street") else m.group(2)
    where = f"{level} {rid!r}" + (f", column {column}" if column else "")
    return f"edited allocation, {where}: {message[m.end() :]}"


def _report(s: Scenario, text: str) -> PolicyReport | str:
    """The policy check of an edited table, or why it is not a valid allocation."""
    try:
        return check_policy(s, parse(s, text))
    except GridplanError as exc:
        return f"Not a valid allocation: {exc}"


def _summary(s: Scenario, rep: PolicyReport | str, base: float | None) -> tuple[bool, str]:
    if isinstance(rep, str):
        return False, rep
    failing = rep.rows[~rep.rows.passed]
    base = check_policy(s, s.baseline).costs.total_yuan if base is None else base
    head = (
        f"{'PASS' if rep.passed else 'FAIL'}: {rep.workers_total:,} workers = {rep.workers_per_10k:.1f} per "
        f"10,000; {rep.street_staff_total:,} street staff; cost {rep.costs.total_yuan / 1e6:,.2f} M yuan "
        f"(baseline {base / 1e6:,.2f} M)"
    )
    if len(failing):
        head += "; failing: " + "; ".join(
            f"{r.rule} at {r.unit} ({number(r.actual)}{' yuan' if r.rule.startswith('budget') else ''} against "
            f"{'at most' if r.bound == '<=' else 'at least'} {number(r.limit)})"
            for r in failing.head(5).itertuples()
        )
    return rep.passed, head


def _marks(s: Scenario, rep: PolicyReport | str) -> tuple[list[dict], list[dict]]:
    marks: dict[str, list[dict]] = {"community": list(ACTIVE_CELL), "street": list(ACTIVE_CELL)}
    if isinstance(rep, str):
        return marks["community"], marks["street"]
    rules = s.spec.policy.rules
    for r in rep.rows[~rep.rows.passed].itertuples():
        rule = rules.get(str(r.rule))
        if rule is None or rule.scope.value not in marks:  # a budget, or a district or city rule: no one cell
            continue
        # a street's workers rule marks its communities' workers: the community table has a street column
        level, column = rule.scope.value, ALLOCATION_FIELD[rule.kind]
        table = "community" if column in COMMUNITY_COLS else "street"
        unit = str(r.unit).replace("\\", "\\\\").replace('"', '\\"')  # the filter query's string syntax
        marks[table].append({"if": {"filter_query": f'{{{level}}} = "{unit}"', "column_id": column}} | FAILING_CELL)
    return marks["community"], marks["street"]


def check_text(s: Scenario, text: str, base: float | None = None) -> tuple[bool, str]:
    """(passes, a short summary) of the policy check of an edited table; an invalid edit explains itself.
    ``base``: the baseline's cost, when the caller knows it."""
    return _summary(s, _report(s, text), base)


def failing_cells(s: Scenario, text: str) -> tuple[list[dict], list[dict]]:
    """Styles marking each cell a community or street rule fails on (the tables' ``style_data_conditional``
    for communities and streets), found by the unit's id so that sorting and filtering keep them right."""
    return _marks(s, _report(s, text))


def checked(s: Scenario, text: str, base: float | None = None) -> tuple[bool, str, list[dict], list[dict]]:
    """``check_text`` and ``failing_cells`` of one edited table, checked once."""
    rep = _report(s, text)
    return (*_summary(s, rep, base), *_marks(s, rep))
