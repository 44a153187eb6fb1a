"""Load and validate a scenario once, into an immutable ``Scenario``."""

from __future__ import annotations

import difflib
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pydantic

from scenario.allocation import Allocation, read_allocation
from scenario.errors import AllocationError, ScenarioError
from scenario.spec import ScenarioSpec
from scenario.tables import read_csv_table
from scenario.textrules import id_problem, text_problem
from scenario.yamlio import display_path, is_dir, is_file, lists_as_tuples, read_scenario_tree

__all__ = [
    "MAX_CASES_PER_YEAR",
    "Scenario",
    "cases_per_year",
    "check_demand_cap",
    "load_scenario",
    "path_in_folder",
    "resolve_scenario_path",
]

log = logging.getLogger(__name__)

COMMUNITY_REQUIRED = ["community_id", "street_id", "urban_residents", "households"]
# optional columns, required when a duty's driver uses them
COMMUNITY_OPTIONAL = {
    "special_households": ("special_households", "ordinary_households"),
    "party_members": ("party_members_per_1000",),
}

# Plausible upper bounds of communities.csv cells (the largest Chinese communities
# have a few hundred thousand residents).
TABLE_MAXIMUM: dict[str, tuple[float, str]] = {
    "urban_residents": (1_000_000, "residents per community"),
    "households": (1_000_000, "households per community"),
    "grids": (10_000, "grids per community"),
    "special_households": (1_000_000, "special-attention households per community"),
    "party_members": (1_000_000, "party members per community"),
}
# Beijing's 12345 hotline, serving 21 million people, takes about 20 million contacts a year.
MAX_CASES_PER_YEAR = 50_000_000


def path_in_folder(path: Path, field: str, name: str) -> Path:
    """The file ``name`` that ``path``'s field ``field`` names, relative to ``path``'s folder (the
    scenario's), refused if it leads outside that folder.

    Absolute paths, ``..`` escapes and symbolic links pointing elsewhere are refused,
    so that a scenario or study file cannot make gridplan read (and copy into its results)
    files that are not part of the scenario.

    Raises:
        ScenarioError: one line naming ``path``, ``field`` and ``name``.
    """
    folder = path.parent.resolve()
    if Path(name).is_absolute() or name.startswith("~"):
        raise ScenarioError(f"{path}: field '{field}' must be a path relative to the scenario's folder, found {name!r}")
    try:
        resolved = (folder / name).resolve()
    except (OSError, ValueError, RuntimeError) as exc:  # a NUL byte, a symbolic-link loop
        raise ScenarioError(f"{path}: field '{field}': not a usable file name ({exc}), found {name!r}") from None
    if folder not in resolved.parents:
        raise ScenarioError(
            f"{path}: field '{field}' must name a file inside the scenario's folder {folder} "
            f"(symbolic links included), found {name!r}"
        )
    return path.parent / name


def cases_per_year(spec: ScenarioSpec, residents: np.ndarray) -> float:
    """The cases a year that the demand's channel rates give ``residents``, at the highest surge multiplier."""
    per_day = sum(c.rate_per_10k_per_day for c in spec.demand.channels.values()) * float(residents.sum()) / 10_000
    peak = max([1.0, *(s.multiplier for s in spec.demand.surges)])
    return per_day * 365 * peak


def _check_demand(path: Path, spec: ScenarioSpec, residents: np.ndarray) -> None:
    """Refuse a demand so large that one simulated year would not fit in memory."""
    cases = cases_per_year(spec, residents)
    if cases > MAX_CASES_PER_YEAR:
        raise ScenarioError(
            f"{path}: field 'demand.channels': the rates and residents give "
            f"{cases:,.0f} cases a year (surges included); more than the plausible "
            f"{MAX_CASES_PER_YEAR:,} cases a year"
        )


def check_demand_cap(scenario: Scenario, where: str) -> None:
    """Refuse a scenario derived in memory (demand scaled by a study's growth, a plan's year) whose cases a
    year pass ``MAX_CASES_PER_YEAR``: loading checked only the files as written, and ``model_copy`` does
    not validate again.

    Raises:
        ScenarioError: one line, ``where`` (the file, field and value that scaled the demand) followed by
            the cases a year and the cap.
    """
    cases = cases_per_year(scenario.spec, scenario.urban_residents)
    if cases > MAX_CASES_PER_YEAR:
        raise ScenarioError(
            f"{where}: the demand comes to {cases:,.0f} cases a year (surges included); more than the "
            f"plausible {MAX_CASES_PER_YEAR:,} cases a year"
        )


def _ro(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class Scenario:
    """A validated planning case: the YAML spec plus its tables, as read-only arrays."""

    spec: ScenarioSpec
    path: Path
    files: tuple[Path, ...]
    sha256: str
    district_ids: tuple[str, ...]
    street_ids: tuple[str, ...]
    street_district: np.ndarray  # district index of each street
    community_ids: tuple[str, ...]
    community_street: np.ndarray  # street index of each community
    urban_residents: np.ndarray  # per community
    households: np.ndarray  # per community
    grids_by_class: np.ndarray  # (communities, grid classes)
    grid_class_ids: tuple[str, ...]
    baseline: Allocation
    special_households: np.ndarray | None = None  # special-attention households per community (optional column)
    party_members: np.ndarray | None = None  # registered party members per community (optional column)
    headcount_by_post_level: np.ndarray | None = None  # (posts, levels): workforce.headcount_table, city-wide

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def n_communities(self) -> int:
        return len(self.community_ids)

    @cached_property
    def community_district(self) -> np.ndarray:
        return _ro(self.street_district[self.community_street])

    @cached_property
    def grids(self) -> np.ndarray:
        return _ro(self.grids_by_class.sum(axis=1))

    @property
    def mean_worker_cost_yuan(self) -> float:
        """A community worker's cost a year today: the average pay of the people in
        ``workforce.headcount_table`` when the scenario has one (who is in post today), else the pay table
        over its post and level shares. The one figure every command costs today's workers at."""
        h = self.headcount_by_post_level
        pay = self.spec.pay
        if h is None or h.sum() <= 0:
            return pay.mean_worker_cost_yuan_per_year
        table = np.array([p.pay_yuan_per_year_by_level for p in pay.posts.values()], float)
        return float((h * table).sum() / h.sum())

    def read_allocation(self, path: Path, partial: bool = False, text: str | None = None) -> Allocation:
        """Read an allocation table for this scenario (``partial``: missing rows from the baseline; ``text``:
        the table's CSV text, ``path`` then only names it in messages)."""
        return read_allocation(
            Path(path), self.community_ids, self.street_ids, self.baseline if partial else None, text=text
        )


def resolve_scenario_path(path: str | Path) -> Path:
    """A scenario is a YAML file, or a folder holding ``scenario.yaml``."""
    p = Path(path)
    try:
        if p.is_dir():
            p = p / "scenario.yaml"
        found = p.is_file()
        there = found or p.exists()
    except OSError as exc:  # a name too long for the system: not a path to read
        raise ScenarioError(f"{p}: not a scenario path that can be read ({exc.strerror or exc})") from None
    if there and not found:  # a pipe, a device
        raise ScenarioError(f"{p}: not a regular file; a scenario is a YAML file, or a folder holding scenario.yaml")
    if not found:
        raise ScenarioError(f"{p}: scenario file does not exist{_did_you_mean(p)}")
    return p


def _did_you_mean(p: Path) -> str:
    """``" (did you mean NAME?)"`` for a missing path whose name is close to another beside it (a typo), else
    "". A name with characters a line cannot show (a line break, a tab) is quoted with them escaped."""
    import difflib

    try:
        asked = p.parent if p.name == "scenario.yaml" and not p.parent.exists() else p
        names = [q.name for q in asked.parent.iterdir()] if asked.parent.is_dir() else []
    except OSError:  # a name too long, a folder not readable: no suggestion
        return ""
    close = difflib.get_close_matches(asked.name, [x for x in names if x != asked.name], n=3, cutoff=0.75)
    readable = [x for x in close if is_file(asked.parent / x) or is_dir(asked.parent / x)]  # not a broken link
    if not readable:
        return ""
    shown = str(asked.parent / readable[0])
    return f" (did you mean {shown if shown.isprintable() else ascii(shown)}?)"


def _format_pydantic(path: Path, exc: pydantic.ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"{display_path(path)}: unknown field '{loc}'"
    if kind == "missing":
        # a misspelt required field shows up as missing here and as unknown beside it: name both
        parent = err["loc"][:-1]
        unknown = [
            str(e["loc"][-1])
            for e in exc.errors()
            if e["type"] == "extra_forbidden" and tuple(e["loc"][:-1]) == tuple(parent)
        ]
        close = difflib.get_close_matches(str(err["loc"][-1]), unknown, n=1)
        hint = f" (found unknown field '{close[0]}': a misspelling?)" if close else ""
        return f"{display_path(path)}: missing required field '{loc}'{hint}"
    msg = err["msg"].removeprefix("Value error, ")
    value = err.get("input")
    shown = f"; found {_short(value)}" if not isinstance(value, (dict, list, tuple)) else ""
    more = f" (and {len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
    return f"{display_path(path)}: field '{loc}': {msg}{shown}{more}"


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def load_scenario(path: str | Path) -> Scenario:
    """Read, validate and freeze a scenario.

    Raises:
        ScenarioError: with one line naming the file, field or CSV line/column,
            the rule broken and the value found.
    """
    path = resolve_scenario_path(path)
    data, files = read_scenario_tree(path)
    try:
        spec = ScenarioSpec.model_validate(lists_as_tuples(data))
    except pydantic.ValidationError as exc:
        raise ScenarioError(_format_pydantic(path, exc)) from None
    district_ids, street_ids, street_district = _places(path, spec)
    c = _read_communities(path, spec, street_ids)
    _check_demand(path, spec, c.residents)
    alloc_path = path_in_folder(path, "baseline_allocation_table", spec.baseline_allocation_table)
    try:
        baseline = read_allocation(alloc_path, c.ids, street_ids)
    except AllocationError as exc:
        raise ScenarioError(str(exc)) from None
    all_files = (*files, c.path, alloc_path)
    for i, name in enumerate(spec.targets.hold_variants):
        variant = path_in_folder(path, f"targets.hold_variants.{i}", name)
        if not is_file(variant):
            raise ScenarioError(f"{path}: field 'targets.hold_variants.{i}': no file {name!r} in the scenario's folder")
    headcount = None
    if spec.workforce.headcount_table is not None:
        head_path = path_in_folder(path, "workforce.headcount_table", spec.workforce.headcount_table)
        headcount = _read_headcount(head_path, spec, int(baseline.workers.sum()))
        all_files = (*all_files, head_path)
    log.info(
        "scenario %s: %d communities, %d streets, %d districts, from %s",
        spec.name,
        len(c.ids),
        len(street_ids),
        len(district_ids),
        ", ".join(f.name for f in all_files),
    )
    return Scenario(
        spec=spec,
        path=path,
        files=all_files,
        sha256=_digest(all_files),
        district_ids=district_ids,
        street_ids=street_ids,
        street_district=_ro(street_district),
        community_ids=c.ids,
        community_street=_ro(c.street),
        urban_residents=_ro(c.residents),
        households=_ro(c.households),
        grids_by_class=_ro(c.grids),
        grid_class_ids=tuple(spec.grid_classes),
        baseline=baseline,
        special_households=_ro(c.optional["special_households"]) if "special_households" in c.optional else None,
        party_members=_ro(c.optional["party_members"]) if "party_members" in c.optional else None,
        headcount_by_post_level=None if headcount is None else _ro(headcount),
    )


def _read_headcount(path: Path, spec: ScenarioSpec, workers_total: int) -> np.ndarray:
    """The workforce's headcount table (``post,level,workers``, city-wide): known posts, levels 1 to
    ``pay.levels``, each pair once, summing to the baseline's workers. Returns (posts, levels)."""
    table = read_csv_table(path)
    table.require_columns(["post", "level", "workers"])
    posts = list(spec.pay.posts)
    levels = spec.pay.levels
    level = table.numbers("level", integer=True, minimum=1, maximum=(levels, "(the pay table's levels)"))
    workers = table.numbers("workers", integer=True, minimum=0, maximum=(100_000_000, "workers"))
    out = np.zeros((len(posts), levels))
    seen: dict[tuple[str, int], int] = {}
    for r, post in enumerate(table.text("post")):
        if post not in posts:
            raise table.fail(r, "post", f"unknown post {post!r} (the pay table's posts: {', '.join(posts)})")
        key = (post, int(level[r]))
        if key in seen:
            raise table.fail(r, "level", f"post {post} level {key[1]} listed twice (first on line {seen[key] + 2})")
        seen[key] = r
        out[posts.index(post), key[1] - 1] = workers[r]
    if int(out.sum()) != workers_total:
        raise ScenarioError(
            f"{path}: the workers sum to {int(out.sum()):,}; the baseline allocation has {workers_total:,} "
            "community workers (today's headcount must be the same people)"
        )
    return out


def _digest(files: tuple[Path, ...]) -> str:
    """SHA-256 over every file's name and bytes: the scenario's identity in results and resumed runs."""
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode())
        digest.update(f.read_bytes())
    return digest.hexdigest()


def _places(path: Path, spec: ScenarioSpec) -> tuple[tuple[str, ...], tuple[str, ...], np.ndarray]:
    """District ids, street ids and each street's district index (ids unique, districts known)."""
    district_ids = tuple(d.id for d in spec.districts)
    _unique(path, "districts", district_ids)
    street_ids = tuple(s.id for s in spec.streets)
    _unique(path, "streets", street_ids)
    dindex = {d: i for i, d in enumerate(district_ids)}
    for i, s in enumerate(spec.streets):
        if s.district not in dindex:
            raise ScenarioError(
                f"{path}: field 'streets.{i}.district': unknown district {s.district!r} "
                f"(street {s.id}); known: {', '.join(district_ids)}"
            )
    return district_ids, street_ids, np.array([dindex[s.district] for s in spec.streets], dtype=np.int64)


@dataclass(frozen=True)
class _Communities:
    """The communities table, checked."""

    path: Path
    ids: tuple[str, ...]
    street: np.ndarray
    residents: np.ndarray
    households: np.ndarray
    grids: np.ndarray  # (communities, grid classes)
    optional: dict[str, np.ndarray]  # optional columns present (special_households, party_members)


def _read_communities(path: Path, spec: ScenarioSpec, street_ids: tuple[str, ...]) -> _Communities:
    """Read and check the communities table: known streets, residents >= households, grids, optional columns."""
    table_path = path_in_folder(path, "communities_table", spec.communities_table)
    table = read_csv_table(table_path)
    grid_cols = [f"grids_{g}" for g in spec.grid_classes]
    table.require_columns(COMMUNITY_REQUIRED + grid_cols, ["name", *COMMUNITY_OPTIONAL])
    if len(table) == 0:
        raise ScenarioError(f"{table_path}: no communities")
    community_ids = tuple(table.unique_ids("community_id"))
    _check_text_cells(table, "community_id", id_problem)
    if table.has("name"):
        _check_text_cells(table, "name", text_problem)
    sindex = {s: i for i, s in enumerate(street_ids)}
    community_street = np.empty(len(table), dtype=np.int64)
    for r, sid in enumerate(table.text("street_id")):
        if sid not in sindex:
            raise table.fail(r, "street_id", f"unknown street {sid!r} (community {community_ids[r]})")
        community_street[r] = sindex[sid]
    residents = table.numbers(
        "urban_residents", integer=True, strictly_positive=True, maximum=TABLE_MAXIMUM["urban_residents"]
    ).astype(np.int64)
    households = table.numbers(
        "households", integer=True, strictly_positive=True, maximum=TABLE_MAXIMUM["households"]
    ).astype(np.int64)
    _at_most(table, "households", households, residents, "urban_residents", community_ids)
    grids = np.column_stack(
        [table.numbers(c, integer=True, minimum=0, maximum=TABLE_MAXIMUM["grids"]) for c in grid_cols]
    ).astype(np.int64)
    no_grid = np.flatnonzero(grids.sum(axis=1) == 0)
    if no_grid.size:
        r = int(no_grid[0])
        raise table.fail(r, None, f"community {community_ids[r]} has no grids; at least one grid is required")
    optional = _optional_columns(table, table_path, spec)
    if "special_households" in optional:
        _at_most(table, "special_households", optional["special_households"], households, "households", community_ids)
    if "party_members" in optional:
        _at_most(table, "party_members", optional["party_members"], residents, "urban_residents", community_ids)
    empty_streets = sorted(set(range(len(street_ids))) - set(community_street.tolist()))
    if empty_streets:
        raise ScenarioError(
            f"{path}: field 'streets': street {street_ids[empty_streets[0]]!r} has no communities in {table_path.name}"
        )
    return _Communities(table_path, community_ids, community_street, residents, households, grids, optional)


def _check_text_cells(table, col: str, problem_of: Callable[[str], str | None]) -> None:
    """Every cell of a text column passes ``problem_of`` (``scenario.textrules``); one line naming the first
    that does not."""
    for r, cell in enumerate(table.text(col)):
        problem = problem_of(cell)
        if problem:
            raise table.fail(r, col, f"{cell!r} {problem}")


def _at_most(table, col: str, values: np.ndarray, limit: np.ndarray, limit_col: str, ids: tuple[str, ...]) -> None:
    """Every community's ``col`` at most its ``limit_col``; else one line naming the first row."""
    bad = np.flatnonzero(values > limit)
    if bad.size:
        r = int(bad[0])
        raise table.fail(r, col, f"{col} must be <= {limit_col} ({limit[r]}), found {values[r]} (community {ids[r]})")


def _optional_columns(table, table_path: Path, spec: ScenarioSpec) -> dict[str, np.ndarray]:
    """The optional columns present; one a duty's driver needs must be there."""
    optional = {}
    for col, drivers in COMMUNITY_OPTIONAL.items():
        users = [d for d, duty in (spec.duties.scheduled.items() if spec.duties else ()) if duty.driver in drivers]
        if not table.has(col):
            if users:
                raise ScenarioError(
                    f"{table_path}: missing column {col}, needed by duty '{users[0]}' "
                    f"(driver {spec.duties.scheduled[users[0]].driver if spec.duties else ''})"
                )
            continue
        optional[col] = table.numbers(col, integer=True, minimum=0, maximum=TABLE_MAXIMUM[col]).astype(np.int64)
    return optional


def _unique(path: Path, field: str, ids: tuple[str, ...]) -> None:
    seen: set[str] = set()
    for i, x in enumerate(ids):
        if x in seen:
            raise ScenarioError(f"{path}: field '{field}.{i}.id': duplicate id {x!r}")
        seen.add(x)
