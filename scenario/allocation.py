"""The allocation table: workers and funds per community, staff per street.

One CSV format is read and written by every command, so that a budget analyst
can edit it in a spreadsheet and feed it back::

    level,id,workers,secretary_assistants,work_fund_yuan,service_fund_yuan,street_office_staff,mobile_grid_workers
    community,C001,12,1,118800,300000,,
    street,S01,,,,,18,17
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scenario.errors import AllocationError
from scenario.tables import read_csv_table

__all__ = ["Allocation", "read_allocation", "write_allocation", "atomic_write_text", "align", "COLUMNS"]

COMMUNITY_COLUMNS = ["workers", "secretary_assistants", "work_fund_yuan", "service_fund_yuan"]
STREET_COLUMNS = ["street_office_staff", "mobile_grid_workers"]
COLUMNS = ["level", "id", *COMMUNITY_COLUMNS, *STREET_COLUMNS]

# Plausible upper bounds per cell (a community, a street). They keep sums far from
# int64 overflow and a typo (an extra zero block) from passing as a plan.
MAXIMUM: dict[str, tuple[float, str]] = {
    "workers": (100_000, "workers per community"),
    "secretary_assistants": (100_000, "secretary assistants per community"),
    "work_fund_yuan": (1e11, "yuan a year per community"),
    "service_fund_yuan": (1e11, "yuan a year per community"),
    "street_office_staff": (100_000, "staff per street"),
    "mobile_grid_workers": (1_000_000, "mobile grid workers per street"),
}


FUND_COLUMNS = ("work_fund_yuan", "service_fund_yuan")


def _check_values(name: str, ids: tuple[str, ...], values: np.ndarray, whole: bool) -> None:
    """Every value finite, >= 0, at most its bound and, for people, whole (the table reader's rules)."""
    bound, unit = MAXIMUM[name]
    rules = (
        (~np.isfinite(values), "must be a finite number"),
        (values < 0, "must be >= 0"),
        (values > bound, f"must be <= {bound:,.0f} {unit} (a plausible upper bound)"),
        (values != np.round(values) if whole else np.zeros(len(values), bool), "must be a whole number"),
    )
    for bad, rule in rules:
        hit = np.flatnonzero(bad)
        if hit.size:
            i = int(hit[0])
            raise ValueError(f"Allocation.{name} of {ids[i]!r}: {rule}, found {float(values[i])!r}")


def _frozen(a: np.ndarray, dtype: type) -> np.ndarray:
    out: np.ndarray = np.array(a, dtype=dtype, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class Allocation:
    """Workers and money per community and staff per street, aligned to the scenario's order."""

    community_ids: tuple[str, ...]
    street_ids: tuple[str, ...]
    workers: np.ndarray
    secretary_assistants: np.ndarray
    work_fund_yuan: np.ndarray
    service_fund_yuan: np.ndarray
    street_office_staff: np.ndarray
    mobile_grid_workers: np.ndarray
    source: str = "in memory"
    filled_from_baseline: tuple[str, ...] = field(default=())
    columns_from_baseline: tuple[str, ...] = field(default=())  # a partial table's absent columns

    def __post_init__(self) -> None:
        """Freeze the arrays; refuse what the allocation table reader refuses.

        Raises:
            ValueError: ids that are not unique text, an array of the wrong shape, or a value that is not
                finite, is negative, is above its plausible bound (``MAXIMUM``) or is not a whole number
                where people are counted (8.99 workers are refused, not cut to 8); the message names the
                field, the id, the rule and the value.
        """
        for ids, level in ((self.community_ids, "community"), (self.street_ids, "street")):
            if not all(isinstance(x, str) for x in ids) or len(set(ids)) != len(ids):
                raise ValueError(f"Allocation.{level}_ids must be distinct texts, found {list(ids)[:5]!r}")
        for name in COLUMNS[2:]:
            ids = self.community_ids if name in COMMUNITY_COLUMNS else self.street_ids
            raw = np.asarray(getattr(self, name))
            if raw.shape != (len(ids),):
                raise ValueError(f"Allocation.{name} must have shape ({len(ids)},), found {raw.shape}")
            try:
                values = raw.astype(float)
            except (TypeError, ValueError):
                raise ValueError(f"Allocation.{name} must hold numbers, found {raw.tolist()[:5]!r}") from None
            whole = name not in FUND_COLUMNS
            _check_values(name, ids, values, whole)
            object.__setattr__(self, name, _frozen(values, np.int64 if whole else float))

    def replace(self, **changes: object) -> "Allocation":
        """A copy with some fields changed (arrays are copied, never shared mutably)."""
        values = {f: getattr(self, f) for f in self.__dataclass_fields__}
        values.update(changes)
        return Allocation(**values)

    @property
    def total_workers(self) -> int:
        return int(self.workers.sum())

    def to_rows(self) -> list[list[str]]:
        rows = [COLUMNS]
        for i, cid in enumerate(self.community_ids):
            rows.append(
                [
                    "community",
                    cid,
                    str(int(self.workers[i])),
                    str(int(self.secretary_assistants[i])),
                    _fmt(self.work_fund_yuan[i]),
                    _fmt(self.service_fund_yuan[i]),
                    "",
                    "",
                ]
            )
        for j, sid in enumerate(self.street_ids):
            rows.append(
                [
                    "street",
                    sid,
                    "",
                    "",
                    "",
                    "",
                    str(int(self.street_office_staff[j])),
                    str(int(self.mobile_grid_workers[j])),
                ]
            )
        return rows


def align(allocation: Allocation, community_ids: tuple[str, ...], street_ids: tuple[str, ...]) -> Allocation:
    """``allocation`` in the order of the given ids, matched by id (never by position).

    Raises:
        ValueError: naming an id of the allocation that the scenario does not know, or one it lacks.
    """
    if allocation.community_ids == tuple(community_ids) and allocation.street_ids == tuple(street_ids):
        return allocation
    order = {}
    for level, have, want in (
        ("community", allocation.community_ids, community_ids),
        ("street", allocation.street_ids, street_ids),
    ):
        want_set, have_set = set(want), set(have)
        unknown = [x for x in have if x not in want_set]
        missing = [x for x in want if x not in have_set]
        if unknown or missing:
            what = f"unknown {level} {unknown[0]!r}" if unknown else f"no row for {level} {missing[0]!r}"
            raise ValueError(
                f"allocation ({allocation.source}) does not match the scenario's {level} ids: {what} "
                f"({len(unknown)} unknown, {len(missing)} missing)"
            )
        index = {x: i for i, x in enumerate(have)}
        order[level] = np.array([index[x] for x in want], dtype=np.int64)
    c, s = order["community"], order["street"]
    return allocation.replace(
        community_ids=tuple(community_ids),
        street_ids=tuple(street_ids),
        **{name: getattr(allocation, name)[c] for name in COMMUNITY_COLUMNS},
        **{name: getattr(allocation, name)[s] for name in STREET_COLUMNS},
    )


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.2f}"


def atomic_write_text(path: Path, text: str) -> None:
    """Write a file through a temporary name in the same folder, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_allocation(allocation: Allocation, path: Path) -> None:
    """Write the allocation table atomically, quoting cells as CSV needs (ids with commas, quotes, newlines)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(allocation.to_rows())
    atomic_write_text(path, buf.getvalue())


def _start_values(columns: list[str], baseline: Allocation | None, n: int) -> dict[str, np.ndarray]:
    """Each column's values before the file is read: the baseline's (a partial table) or NaN (to be filled)."""
    if baseline is not None:
        return {c: np.array(getattr(baseline, c), dtype=float) for c in columns}
    return {c: np.full(n, np.nan) for c in columns}


def _claim(table, r: int, rid: str, index: dict[str, int], seen: set[str], level: str) -> int:
    """The position of row ``r``'s id among the scenario's ids at its level; unknown and repeated ids fail."""
    if rid not in index:
        raise table.fail(r, "id", f"unknown {level} {rid!r}")
    if rid in seen:
        raise table.fail(r, "id", f"duplicate {level} {rid!r}")
    seen.add(rid)
    return index[rid]


def _refuse_other_level(table, r: int, level: str, parsed: dict[str, np.ndarray]) -> None:
    """A value in a column the row's level has no use for (staff on a community row) is refused, never ignored."""
    for c in STREET_COLUMNS if level == "community" else COMMUNITY_COLUMNS:
        if not np.isnan(parsed[c][r]):
            raise table.fail(r, c, f"a {level} row has no {c}; leave the cell empty, found {parsed[c][r]:g}")


def _absent_columns(table, path: Path, partial: bool) -> list[str]:
    """The value columns the table leaves out: taken from the baseline in a partial table, refused in a full one."""
    absent = [c for c in COMMUNITY_COLUMNS + STREET_COLUMNS if not table.has(c)]
    if absent and not partial:
        raise AllocationError(
            f"{path}: missing column(s) {', '.join(absent)}; a full table has every column "
            "(a partial table, checked with --partial, takes missing columns and rows from the baseline)"
        )
    return absent


def _take_cells(table, r: int, level: str, cols, parsed: dict, vals: dict, k: int, partial: bool) -> None:
    """Row ``r``'s values into position ``k``; a blank cell of a column the table has is refused."""
    for c in cols:
        v = parsed[c][r]
        if not np.isnan(v):
            vals[c][k] = v
        elif table.has(c):
            keep = " (to keep the baseline's value, leave the column or the row out)" if partial else ""
            raise table.fail(r, c, f"empty cell; expected a number for a {level} row{keep}")


def read_allocation(
    path: Path,
    community_ids: tuple[str, ...],
    street_ids: tuple[str, ...],
    baseline: Allocation | None = None,
    text: str | None = None,
) -> Allocation:
    """Read an allocation table for the given structure.

    With ``baseline``, rows and columns missing from the file are taken from it (a partial
    allocation); their ids are listed in ``filled_from_baseline``, the columns in
    ``columns_from_baseline``. Without it, every community, street and column must be
    present. A blank cell is refused either way: a value the planner left out by
    accident is never replaced by the baseline's without a word.

    Raises:
        AllocationError: a missing file or column, a non-numeric or negative cell,
            a duplicate or unknown id, or a missing row when no baseline is given.
    """
    table = read_csv_table(path, AllocationError, text=text)
    table.require_columns(["level", "id"], COMMUNITY_COLUMNS + STREET_COLUMNS)
    absent = _absent_columns(table, path, partial=baseline is not None)
    levels = table.text("level")
    ids = table.text("id")
    cindex = {c: i for i, c in enumerate(community_ids)}
    sindex = {s: i for i, s in enumerate(street_ids)}
    n, s = len(community_ids), len(street_ids)
    cvals = _start_values(COMMUNITY_COLUMNS, baseline, n)
    svals = _start_values(STREET_COLUMNS, baseline, s)
    seen_c: set[str] = set()
    seen_s: set[str] = set()
    parsed = {
        c: table.numbers(
            c, integer=c not in ("work_fund_yuan", "service_fund_yuan"), minimum=0, maximum=MAXIMUM[c], allow_blank=True
        )
        if table.has(c)
        else np.full(len(table), np.nan)
        for c in COMMUNITY_COLUMNS + STREET_COLUMNS
    }
    for r, (level, rid) in enumerate(zip(levels, ids)):
        if level == "community":
            cols, vals, k = COMMUNITY_COLUMNS, cvals, _claim(table, r, rid, cindex, seen_c, level)
        elif level == "street":
            cols, vals, k = STREET_COLUMNS, svals, _claim(table, r, rid, sindex, seen_s, level)
        else:
            raise table.fail(r, "level", f"expected 'community' or 'street', found {level!r}")
        _refuse_other_level(table, r, level, parsed)
        _take_cells(table, r, level, cols, parsed, vals, k, partial=baseline is not None)
    filled = [c for c in community_ids if c not in seen_c] + [x for x in street_ids if x not in seen_s]
    if baseline is None and filled:
        raise AllocationError(
            f"{path}: missing row(s) for {', '.join(filled[:5])}"
            f"{' …' if len(filled) > 5 else ''} ({len(filled)} in all)"
        )
    return Allocation(
        community_ids=community_ids,
        street_ids=street_ids,
        **{c: cvals[c] for c in COMMUNITY_COLUMNS},
        **{c: svals[c] for c in STREET_COLUMNS},
        source=str(path),
        filled_from_baseline=tuple(filled) if baseline is not None else (),
        columns_from_baseline=tuple(absent),
    )
