"""Hostile inputs: malformed scenarios, tables, command lines and output locations.

Every case must end in exit code 2 (``ScenarioError`` in-process) with exactly one
line on stderr that names the file or option, no traceback, within a time limit,
and without writing or removing any file outside a fresh results folder. Outcomes
are tallied in ``tests.conftest.HOSTILE_TALLY`` and reported at the end of the run.

Three layers: a hand-written table (every field type, every defect of issue 8),
Hypothesis mutations of the tiny scenario loaded in-process, and a sample of the
table through the installed command line in subprocesses.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import math
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridplan.cli import main
from scenario.allocation import Allocation, read_allocation, write_allocation
from scenario.errors import ScenarioError
from scenario.load import load_scenario
from tests.conftest import HOSTILE_TALLY, SCENARIOS

TIME_LIMIT_S = 10  # every case, however hostile, ends well within this
YAML, CSV, ALLOC = "scenario.yaml", "communities.csv", "baseline_allocation.csv"
SIM = ["--reps", "1", "--days", "20", "--processes", "1", "--out", "{OUT}"]


class Hang(Exception):
    """A case ran past the time limit."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def on_alarm(signum: int, frame: object) -> None:
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def snapshot(*folders: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder below ``folders`` (hidden ones too), with size and modification time."""
    out = {}
    for folder in folders:
        for p in [folder, *folder.rglob("*")]:
            st_ = p.lstat()
            out[str(p)] = (st_.st_size, st_.st_mtime_ns)
    return out


def classify(rc: int | None, err: str, names: list[str]) -> str:
    """clean, traceback, accepted (exit 0 or 1: the input was taken as valid) or unclear."""
    if "Traceback" in err:
        return "traceback"
    if rc in (0, 1):
        return "accepted"
    lines = err.strip().splitlines()
    if rc == 2 and len(lines) == 1 and lines[0].startswith("gridplan") and any(n in lines[0] for n in names):
        return "clean"
    return "unclear"


def tally(outcome: str) -> str:
    HOSTILE_TALLY["tried"] += 1
    HOSTILE_TALLY[outcome] += 1
    return outcome


# ------------------------------------------------------------------ the hand-written table
@dataclass(frozen=True)
class Case:
    """A defect: how to make it in a copy of the tiny scenario, the command, and the words expected."""

    setup: Callable[[Path], None]
    words: tuple[str, ...]  # the first names the file or option
    argv: tuple[str, ...] = ("validate", "{S}")
    extra: dict = field(default_factory=dict)


def _edit(fname: str, old: str, new: str) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        p = folder / fname
        text = p.read_text(encoding="utf-8")
        assert old in text, f"test setup: {old!r} not in {fname}"
        p.write_text(text.replace(old, new, 1), encoding="utf-8")

    return setup


def _write(fname: str, data: bytes) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        (folder / fname).write_bytes(data)

    return setup


def _both(*steps: Callable[[Path], None]) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        for s in steps:
            s(folder)

    return setup


def _nothing(folder: Path) -> None:
    pass


def Y(old: str, new: str, *words: str) -> Case:
    return Case(_edit(YAML, old, new), (YAML, *words))


def C(old: str, new: str, *words: str) -> Case:
    return Case(_edit(CSV, old, new), (CSV, *words))


def A(old: str, new: str, *words: str) -> Case:
    return Case(_edit(ALLOC, old, new), (ALLOC, *words))


def ARG(*argv: str, words: tuple[str, ...], setup: Callable[[Path], None] = _nothing) -> Case:
    return Case(setup, words, argv)


def _symlink_out(folder: Path) -> None:
    (folder / "link.csv").symlink_to("/etc/passwd")


STUDY = "grid.yaml"
STUDY_ARGV = ("study", "{S}/" + STUDY, "--processes", "1", "--out", "{OUT}")
FLOOR_RULE = "workers_per_10k_residents, minimum: 18, scope: community"


def _study(body: str, *steps: Callable[[Path], None]) -> Callable[[Path], None]:
    """A study file ``grid.yaml`` (``{S}`` in ``body``: the scenario's folder) after ``steps``."""

    def setup(folder: Path) -> None:
        for s in steps:
            s(folder)
        (folder / STUDY).write_text("name: hostile\n" + body.replace("{S}", str(folder)), encoding="utf-8")

    return setup


def STUDY_CASE(body: str, *words: str, steps: tuple[Callable[[Path], None], ...] = ()) -> Case:
    return Case(_study(body, *steps), (STUDY, *words), STUDY_ARGV)


def _scenario_outside(folder: Path) -> None:
    """``link.yaml``: a symbolic link to a complete scenario in a sibling folder."""
    shutil.copytree(folder, folder.parent / "elsewhere")
    (folder / "link.yaml").symlink_to(folder.parent / "elsewhere" / YAML)


def _latin1(fname: str) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        p = folder / fname
        p.write_bytes(p.read_bytes().replace(b"\n", " caf\u00e9\n".encode("latin-1"), 1))

    return setup


SURGE = "  surges: [{name: s, start_day: 1, length_days: 5, multiplier: %s}]\n  hour_of_day_weights:"
BOMB = "lol: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"l{i}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)
CASES: dict[str, Case] = {
    # --- integers
    "seed negative": Y("seed: 7", "seed: -1", "field 'seed'", "greater than or equal to 0"),
    "seed fraction": Y("seed: 7", "seed: 1.5", "field 'seed'", "integer"),
    "seed infinite": Y("seed: 7", "seed: .inf", "field 'seed'", "inf"),
    "seed huge": Y("seed: 7", "seed: 99999999999999999999", "field 'seed'", "<= 4,294,967,295"),
    "seed bool": Y("seed: 7", "seed: true", "field 'seed'"),
    "seed 5000 digits": Y("seed: 7", "seed: " + "9" * 5000, "too many digits"),
    "days zero": Y("days: 91", "days: 0", "calendar.days", "greater than 0"),
    "days absurd": Y("days: 91", "days: 100000", "calendar.days", "3,660 days"),
    "warm-up not below days": Y("warmup_days: 7", "warmup_days: 91", "warmup_days must be < days"),
    "weekday out of range": Y(
        "start_weekday: 0", "start_weekday: 9", "calendar.start_weekday", "less than or equal to 6"
    ),
    "weekday as text": Y("start_weekday: 0", "start_weekday: monday", "calendar.start_weekday", "'monday'"),
    "pay levels zero": Y("levels: 1", "levels: 0", "pay.levels"),
    "volunteers absurd": Y(
        "targets:", "volunteers: {registered: 10000000000}\ntargets:", "volunteers.registered", "people"
    ),
    # --- floats and their units
    "hour past midnight": Y(
        "day_start_hour: 8.5", "day_start_hour: 25", "calendar.day_start_hour", "less than or equal to 24"
    ),
    "hour not a number": Y("day_end_hour: 17.5", "day_end_hour: .nan", "calendar.day_end_hour", "finite"),
    "budget infinite": Y("budget_yuan: 2400000", "budget_yuan: .inf", "districts.0.budget_yuan", "finite"),
    "budget absurd": Y("budget_yuan: 2400000", "budget_yuan: 1.0e+20", "districts.0.budget_yuan", "yuan"),
    "budget negative": Y(
        "budget_yuan: 2400000", "budget_yuan: -5", "districts.0.budget_yuan", "greater than or equal to 0"
    ),
    "patrols not a number": Y(
        "patrols_per_week: 5,", "patrols_per_week: .nan,", "grid_classes.busy.patrols_per_week", "finite"
    ),
    "patrol hours absurd": Y(
        "patrol_hours_each: 0.5}", "patrol_hours_each: 1.0e+9}", "grid_classes.busy.patrol_hours_each", "hours"
    ),
    "duty hours absurd": Y(
        "times_per_year: 2, hours_each: 0.5,",
        "times_per_year: 2, hours_each: 1.0e+9,",
        "duties.scheduled.visits_ordinary.hours_each",
        "hours a task",
    ),
    "duty frequency infinite": Y(
        "times_per_year: 2, hours_each: 0.5,",
        "times_per_year: .inf, hours_each: 0.5,",
        "duties.scheduled.visits_ordinary.times_per_year",
        "finite",
    ),
    "leave absurd": Y(
        "leave_days_per_person_year: 10", "leave_days_per_person_year: 1e6", "duties.leave_days_per_person_year", "days"
    ),
    "rule minimum infinite": Y("minimum: 18,", "minimum: .inf,", "policy.rules.workers_per_10k.minimum", "finite"),
    "rule minimum absurd": Y(
        "minimum: 18,", "minimum: 1.0e+12,", "policy.rules.workers_per_10k.minimum", "workers per 10,000 residents"
    ),
    "pay infinite": Y("[60000]", "[.inf]", "pay_yuan_per_year_by_level", "finite"),
    "pay absurd": Y("[60000]", "[6.0e+9]", "pay_yuan_per_year_by_level", "entry 0", "yuan a year per person"),
    "staff cost absurd": Y(
        "street_staff_cost_yuan_per_year: 80000",
        "street_staff_cost_yuan_per_year: 1.0e+300",
        "pay.street_staff_cost_yuan_per_year",
        "yuan",
    ),
    "level share not a number": Y("level_shares: [1.0]", "level_shares: [.nan]", "pay.level_shares", "finite"),
    "city-paid workers infinite": Y(
        "city_paid_workers_per_community: 2.5",
        "city_paid_workers_per_community: .inf",
        "funding.city_paid_workers_per_community",
        "finite",
    ),
    "rate infinite": Y(
        "rate_per_10k_per_day: 5.0",
        "rate_per_10k_per_day: .inf",
        "demand.channels.hotline_12345.rate_per_10k_per_day",
        "finite",
    ),
    "rate absurd": Y(
        "rate_per_10k_per_day: 5.0",
        "rate_per_10k_per_day: 1.0e+7",
        "rate_per_10k_per_day",
        "cases per 10,000 residents a day",
    ),
    "deadline infinite": Y(
        "deadline_working_hours: 18",
        "deadline_working_hours: .inf",
        "demand.categories.simple.deadline_working_hours",
        "finite",
    ),
    "deadline absurd": Y(
        "deadline_working_hours: 18", "deadline_working_hours: 1.0e+9", "deadline_working_hours", "working hours"
    ),
    "service mean infinite": Y(
        "mean_hours: 1.0}", "mean_hours: .inf}", "demand.categories.simple.grid_service.mean_hours", "finite"
    ),
    "service cv not a number": Y("mean_hours: 1.0}", "mean_hours: 1.0, cv: .nan}", "grid_service.cv", "finite"),
    "weights with infinity": Y("month_weights: [1, 1,", "month_weights: [.inf, 1,", "demand.month_weights", "finite"),
    "weights too few": Y(
        "day_of_week_weights: [1, 1, 1, 1, 1, 1, 1]",
        "day_of_week_weights: [1, 1]",
        "day_of_week_weights must have 7 entries",
    ),
    "weights all zero": Y(
        "day_of_week_weights: [1, 1, 1, 1, 1, 1, 1]",
        "day_of_week_weights: [0, 0, 0, 0, 0, 0, 0]",
        "must not be all zero",
    ),
    "surge multiplier infinite": Y("  hour_of_day_weights:", SURGE % ".inf", "demand.surges.0.multiplier", "finite"),
    "surge multiplier absurd": Y(
        "  hour_of_day_weights:", SURGE % "1.0e+6", "demand.surges.0.multiplier", "times the usual demand"
    ),
    "travel infinite": Y(
        "targets:", "ladder: {travel_minutes_max: .inf}\ntargets:", "ladder.travel_minutes_max", "finite"
    ),
    "handling factor absurd": Y(
        "targets:",
        "mobile_grid: {handling_time_factor: 1.0e+9}\ntargets:",
        "mobile_grid.handling_time_factor",
        "times the handling time",
    ),
    # --- shares, booleans, enums, strings, ids, structure
    "share above one": Y("share: 0.7", "share: 1.5", "demand.categories.simple.share", "less than or equal to 1"),
    "escalation negative": Y(
        "escalate_to_city: 0.3", "escalate_to_city: -0.1", "escalate_to_city", "greater than or equal to 0"
    ),
    "target not a number": Y("on_time_share_min: 0.9", "on_time_share_min: .nan", "targets.on_time_share_min"),
    "bool as text": Y("is_hotline: true", "is_hotline: yes please", "is_hotline", "boolean"),
    "unknown distribution": Y(
        "grid_service: {kind: exponential,", "grid_service: {kind: weibull,", "grid_service.kind", "'weibull'"
    ),
    "unknown rule kind": Y(
        "kind: workers_per_10k_residents,", "kind: workers_per_resident,", "policy.rules.workers_per_10k.kind"
    ),
    "unknown scope": Y("scope: community}", "scope: planet}", "policy.rules.workers_per_10k.scope", "'planet'"),
    "district kind": Y("kind: district,", "kind: county,", "districts.0.kind", "'county'"),
    "bad id": Y("busy:  {name:", "'busy one!':  {name:", "grid_classes"),
    "name with spaces": Y("name: tiny", "name: tiny city", "field 'name'", "'tiny city'"),
    "description not text": Y('description: "Three', 'description: 5\nx_description: "Three', "description"),
    "unknown key": Y("seed: 7", "seed: 7\nsede: 8", "unknown field 'sede'"),
    "duplicate street": Y("streets:\n", "streets:\n  - {id: S1, name: again, district: D1}\n", "duplicate id 'S1'"),
    # --- YAML itself
    "alias bomb": Case(_write(YAML, BOMB.encode()), (YAML, "alias *a is not allowed", "line 2")),
    "one alias": Y("seed: 7", "seed: &s 7\nx: *s", "alias *s is not allowed"),
    "duplicate key": Y("seed: 7", "seed: 7\nseed: 8", "duplicate key 'seed'"),
    "unhashable key": Y("seed: 7", "seed: 7\n? [1, 2]\n: 3", "mapping key must be a plain value"),
    "deep nesting": Y("seed: 7", "seed: " + "[" * 5000 + "]" * 5000, "nesting deeper than"),
    "control character": Case(_write(YAML, b"name: ti\x00ny\n"), (YAML, "unacceptable character")),
    "yaml in latin-1": Case(_latin1(YAML), (YAML, "not UTF-8", "byte offset", "save the file as UTF-8")),
    "yaml not a mapping": Case(_write(YAML, b"- 1\n- 2\n"), (YAML, "expected a mapping")),
    "yaml empty": Case(_write(YAML, b""), (YAML, "expected a mapping")),
    "yaml too large": Case(_write(YAML, b"# x\n" * 1_300_000), (YAML, "larger than 5,000,000 bytes")),
    "extends outside": Y("seed: 7", "seed: 7\nextends: ../other.yaml", "'extends' must name a file in the same folder"),
    "extends symlink outside": Case(
        _both(_scenario_outside, _edit(YAML, "seed: 7", "seed: 7\nextends: link.yaml")),
        (YAML, "'extends' must name a file in the same folder", "symbolic links included"),
    ),
    # --- table paths
    "table absolute": Y(
        "communities_table: communities.csv", "communities_table: /etc/passwd", "communities_table", "relative"
    ),
    "table escapes": Y(
        "communities_table: communities.csv",
        "communities_table: ../../../../etc/passwd",
        "communities_table",
        "inside the scenario's folder",
    ),
    "table in proc": Y(
        "baseline_allocation_table: baseline_allocation.csv",
        "baseline_allocation_table: /proc/self/environ",
        "baseline_allocation_table",
    ),
    "table symlink outside": Case(
        _both(_symlink_out, _edit(YAML, "communities_table: communities.csv", "communities_table: link.csv")),
        (YAML, "communities_table", "symbolic links"),
    ),
    "table name with NUL": Y(
        "communities_table: communities.csv", 'communities_table: "a\\0b.csv"', "communities_table"
    ),
    "table empty name": Y("communities_table: communities.csv", "communities_table: ''", "communities_table"),
    # --- communities.csv
    "residents absurd": C("A,S1,5000", "A,S1,1e12", "line 2, column urban_residents", "residents per community"),
    "residents overflow int64": C("A,S1,5000", "A,S1,1e20", "column urban_residents", "plausible upper bound"),
    "residents infinite": C("A,S1,5000", "A,S1,inf", "column urban_residents", "finite"),
    "residents not a number": C("A,S1,5000", "A,S1,nan", "column urban_residents", "finite"),
    "residents fraction": C("A,S1,5000", "A,S1,5000.5", "column urban_residents", "whole number"),
    "households negative": C("A,S1,5000,2000", "A,S1,5000,-1", "column households", "> 0"),
    "grids absurd": C(
        "A,S1,5000,2000,200,150,2", "A,S1,5000,2000,200,150,1e9", "column grids_busy", "grids per community"
    ),
    "special households negative": C("A,S1,5000,2000,200", "A,S1,5000,2000,-200", "column special_households", ">= 0"),
    "ragged row": C("B,S1,3000,1200,120,90,1,1", "B,S1,3000,1200,120,90,1", "line 3", "expected 8 cells"),
    "field too large": C("B,S1,3000", "B" + "x" * 200_000 + ",S1,3000", "not a valid CSV line"),
    "csv in latin-1": Case(_latin1(CSV), (CSV, "not UTF-8", "byte offset")),
    "csv empty": Case(_write(CSV, b""), (CSV, "empty file")),
    "csv header only": Case(
        _write(
            CSV,
            b"community_id,street_id,urban_residents,households,special_households,party_members,"
            b"grids_busy,grids_quiet\n",
        ),
        (CSV, "no communities"),
    ),
    "demand too large": Case(
        _both(
            _edit(CSV, "A,S1,5000,2000", "A,S1,900000,2000"),
            _edit(YAML, "rate_per_10k_per_day: 5.0", "rate_per_10k_per_day: 9000"),
        ),
        (YAML, "cases a year", "50,000,000"),
    ),
    # --- the baseline allocation table
    "workers overflow int64": A("community,A,10,", "community,A,1e20,", "column workers", "workers per community"),
    "fund infinite": A("community,A,10,1,72000", "community,A,10,1,inf", "column work_fund_yuan", "finite"),
    "fund absurd": A("community,A,10,1,72000", "community,A,10,1,1e15", "column work_fund_yuan", "yuan a year"),
    "allocation id with comma": A("community,A,", '"community","A,x",', "unknown community 'A,x'"),
    "allocation level": A("street,S1", "district,S1", "column level", "'district'"),
    "allocation in latin-1": Case(_latin1(ALLOC), (ALLOC, "not UTF-8", "byte offset")),
    # --- issue 20: text, ids, YAML 1.1 readings, cells a row has no use for, sums that must not be zero
    "description lone surrogate": Y('description: "Three', 'description: "\\ud800Three', "'description'", "surrogate"),
    "description terminal escape": Y(
        'description: "Three', 'description: "\\e[2J\\e]0;pwned\\aThree', "'description'", "U+001B (ESCAPE)"
    ),
    "description NUL": Y('description: "Three', 'description: "\\0Three', "'description'", "U+0000 (NUL)"),
    "street name right-to-left override": Y(
        'name: "Street one"', 'name: "Street \\u202eeno"', "'streets.0.name'", "U+202E"
    ),
    "assumption with a control key": Y("assumptions:\n", 'assumptions:\n  - "\\x9b31m"\n', "'assumptions.0'", "U+009B"),
    "seed octal in YAML 1.1": Y("seed: 7", "seed: 010", "line 7", "leading zero", "octal"),
    "hour sexagesimal in YAML 1.1": Y("day_start_hour: 8.5", "day_start_hour: 8:30", "base-60", "quote it"),
    "working weekdays repeated": Y(
        "working_weekdays: [0, 1, 2, 3, 4]", "working_weekdays: [0, 0, 0, 0, 0]", "calendar", "each day once"
    ),
    "evaluation weights all zero": Case(
        _both(_edit(YAML, "weight: 60", "weight: 0"), _edit(YAML, "weight: 40", "weight: 0")),
        (YAML, "'evaluation'", "weight > 0"),
    ),
    "district id starting with a minus": Y("{id: D1,", "{id: -D1,", "districts.0.id", "pattern"),
    "community id zero-width space": C("B,S1,3000", "A\u200b,S1,3000", "column community_id", "U+200B"),
    "community id right-to-left override": C("B,S1,3000", "\u202eB,S1,3000", "column community_id", "U+202E"),
    "community id decomposed accent": C("B,S1,3000", "Be\u0301,S1,3000", "column community_id", "NFC"),
    "community id no-break space": C("B,S1,3000", "B\u00a0x,S1,3000", "column community_id", "U+00A0"),
    "community id with a newline": C("B,S1,3000", '"B\nx",S1,3000', "column community_id", "LINE FEED"),
    "community id with an escape": C("B,S1,3000", "B\x1b[2J,S1,3000", "column community_id", "ESCAPE"),
    "community id formula": C("C,S1,2000", "=HYPERLINK(1),S1,2000", "column community_id", "formula"),
    "community id at-formula": C("C,S1,2000", "@SUM(A1),S1,2000", "column community_id", "formula"),
    "community id minus-formula": C("C,S1,2000", "-2+3,S1,2000", "column community_id", "formula"),
    "community name with an escape": Case(
        _both(
            _edit(CSV, "community_id,street_id,", "name,community_id,street_id,"),
            _edit(CSV, "\nA,", "\nplain,A,"),
            _edit(CSV, "\nB,", "\nx\x1b[31m,B,"),
            _edit(CSV, "\nC,", "\nplain,C,"),
        ),
        (CSV, "line 3, column name", "ESCAPE"),
    ),
    "party members above residents": C(
        "A,S1,5000,2000,200,150", "A,S1,5000,2000,200,9000", "column party_members", "<= urban_residents"
    ),
    "street cell on a community row": A(
        "community,A,10,1,72000,300000,,", "community,A,10,1,72000,300000,6,", "column street_office_staff", "empty"
    ),
    "community cell on a street row": A("street,S1,,,,,6,2", "street,S1,5,,,,6,2", "line 5, column workers", "empty"),
    # --- issue 19: resolution, the people-service fund, problems found late
    "resolution above 1": Y(
        "resolution: {grid: 0.95,", "resolution: {grid: 1.5,", "resolution.grid", "less than or equal to 1"
    ),
    "resolution not a number": Y("resolution: {grid: 0.95,", "resolution: {grid: .nan,", "resolution.grid", "finite"),
    "money without a cost": Y(
        "fix_cost: {kind: exponential, mean_yuan: 1000}, ", "", "resolution", "fix_cost is required"
    ),
    "fix cost infinite": Y("mean_yuan: 1000}", "mean_yuan: .inf}", "fix_cost.mean_yuan", "finite"),
    "fix cost absurd": Y("mean_yuan: 1000}", "mean_yuan: 1.0e+12}", "fix_cost.mean_yuan", "yuan a fix"),
    "fix cost negative": Y("mean_yuan: 1000}", "mean_yuan: -5}", "fix_cost.mean_yuan", "greater than 0"),
    "resolution without source": Y(
        'fix_cost: {kind: exponential, mean_yuan: 1000}, source: "invented"}',
        "fix_cost: {kind: exponential, mean_yuan: 1000}}",
        "resolution.source",
    ),
    "fund release unknown": Y("release: quarterly", "release: weekly", "service_fund.release", "quarterly"),
    "approval limit negative": Y(
        "approval_limit_yuan: 8000", "approval_limit_yuan: -1", "service_fund.approval_limit_yuan"
    ),
    "money without a fund section": Y(
        "service_fund: {release: quarterly, approval_limit_yuan: 8000, unfunded_to_city_share: 0.5,\n"
        '               unfunded_resolution_share: 0.2, source: "invented"}\n',
        "",
        "needs a service_fund section",
    ),
    "finds an unknown category": Y("finds: {simple: 0.6}", "finds: {simpel: 0.6}", "unknown category 'simpel'"),
    "finds more than everything": Y("finds: {simple: 0.6}", "finds: {simple: 0.6, complex: 0.7}", "sum to 1.2"),
    "finds a share above 1": Y(
        "finds: {simple: 0.6}", "finds: {simple: 1.6}", "finds.simple", "less than or equal to 1"
    ),
    "discovery channel unknown": Y(
        "grid_channel: grid_patrol", "grid_channel: patrols", "discovery.grid_channel", "unknown channel"
    ),
    "discovery channels equal": Y(
        "surfaced_channel: hotline_12345", "surfaced_channel: grid_patrol", "surfaced_channel must differ"
    ),
    "discovery lookback zero": Y(
        "surfaced_channel: hotline_12345,",
        "surfaced_channel: hotline_12345, lookback_working_days: 0,",
        "discovery.lookback_working_days",
    ),
    "discovery delay infinite": Y(
        "surface_delay: {kind: exponential, mean_hours: 48}",
        "surface_delay: {kind: exponential, mean_hours: .inf}",
        "discovery.surface_delay.mean_hours",
        "finite",
    ),
    "escalation factor absurd": Y("escalation_factor: 1.5", "escalation_factor: 1.0e+9", "escalation_factor", "times"),
    "response limit zero": Y(
        "response_working_hours: 4", "response_working_hours: 0", "response_working_hours", "greater than 0"
    ),
    "resolution target above 1": Y(
        "on_time_share_min: 0.9", "on_time_share_min: 0.9\n  resolution_share_min: 1.2", "resolution_share_min"
    ),
    # --- issue 22: the workforce section and the plan command
    **{
        f"workforce {name}": Y("targets:", f"workforce: {{{body}}}\ntargets:", *words)
        for name, body, words in (
            (
                "attrition above one",
                "attrition_share_per_year: 1.5",
                ("workforce.attrition_share_per_year", "less than or equal to 1"),
            ),
            (
                "attrition negative",
                "attrition_share_per_year: -0.1",
                ("attrition_share_per_year", "greater than or equal to 0"),
            ),
            ("promotion not a number", "promotion_share_per_year: .nan", ("promotion_share_per_year", "finite")),
            ("unknown post", "attrition_share_per_year_by_post: {boss: 0.1}", ("by_post", "unknown post 'boss'")),
            ("promotion of an unknown post", "promotion_share_per_year_by_post: {x: 0.1}", ("unknown post 'x'",)),
            ("hire level above the table", "hire_level: 2", ("hire_level must be <= pay.levels",)),
            ("hire level zero", "hire_level: 0", ("workforce.hire_level", "greater than or equal to 1")),
            (
                "lead time absurd",
                "hiring_lead_months: 100",
                ("workforce.hiring_lead_months", "less than or equal to 36"),
            ),
            ("lead time fraction", "hiring_lead_months: 1.5", ("workforce.hiring_lead_months", "integer")),
            ("recruits above one", "recruits_max_share_per_year: 2", ("recruits_max_share_per_year",)),
            ("growth infinite", "demand_growth_share_per_year: .inf", ("demand_growth_share_per_year", "finite")),
            (
                "growth below minus a half",
                "budget_growth_share_per_year: -0.9",
                ("budget_growth", "greater than or equal to -0.5"),
            ),
            ("pay rise absurd", "pay_rise_share_per_year: 1.0e+9", ("pay_rise_share_per_year",)),
            ("unknown field", "attrition: 0.1", ("unknown field 'workforce.attrition'",)),
            ("headcount table outside", "headcount_table: ../../etc/passwd", ("headcount_table", "inside")),
        )
    },
    **{
        f"headcount table {name}": Case(
            _both(
                _edit(YAML, "targets:", "workforce: {headcount_table: heads.csv}\ntargets:"),
                _write("heads.csv", body.encode()),
            ),
            ("heads.csv", *words),
        )
        for name, body, words in (
            ("wrong sum", "post,level,workers\nworker,1,19\n", ("sum to 19", "20")),
            ("unknown post", "post,level,workers\nboss,1,20\n", ("line 2, column post", "unknown post 'boss'")),
            ("level out of range", "post,level,workers\nworker,2,20\n", ("column level", "<= 1")),
            ("level fraction", "post,level,workers\nworker,1.5,20\n", ("column level", "whole number")),
            ("workers negative", "post,level,workers\nworker,1,-20\n", ("column workers", ">= 0")),
            ("pair twice", "post,level,workers\nworker,1,10\nworker,1,10\n", ("line 3", "listed twice")),
            ("missing column", "post,workers\nworker,20\n", ("missing column(s) level",)),
            ("empty", "", ("empty file",)),
        )
    },
    "workforce headcount table missing": Case(
        _edit(YAML, "targets:", "workforce: {headcount_table: heads.csv}\ntargets:"), ("heads.csv", "does not exist")
    ),
    **{
        f"targets {name}": Y("on_time_share_min: 0.9", f"on_time_share_min: 0.9\n  {body}", *words)
        for name, body, words in (
            ("hold probability one", "hold_probability: 1", ("targets.hold_probability", "less than 1")),
            ("hold probability zero", "hold_probability: 0", ("targets.hold_probability", "greater than 0")),
            ("hold probability not a number", "hold_probability: .nan", ("targets.hold_probability", "finite")),
            ("hold probability as text", "hold_probability: ninety", ("targets.hold_probability",)),
            ("hold variant missing", "hold_variants: [nowhere.yaml]", ("targets.hold_variants.0", "no file")),
            ("hold variant outside", "hold_variants: [../x.yaml]", ("targets.hold_variants.0", "pattern")),
            ("hold variant not yaml", "hold_variants: [notes.txt]", ("targets.hold_variants.0", "pattern")),
            ("hold variants not a list", "hold_variants: surge.yaml", ("targets.hold_variants",)),
        )
    },
    **{
        f"robust --probability {v}": ARG(
            "robust", "{S}", "--probability", v, "--out", "{OUT}", words=("--probability", "strictly between 0 and 1")
        )
        for v in ("1", "1.5", "0", "-0.5")
    },
    "robust --levels above one": ARG(
        "robust", "{S}", "--levels", "mean,2", "--out", "{OUT}", words=("--levels", "strictly between 0 and 1")
    ),
    "robust --probability nan": ARG(
        "robust", "{S}", "--probability", "nan", "--out", "{OUT}", words=("--probability",)
    ),
    "robust --levels bad": ARG("robust", "{S}", "--levels", "0.5,,0.9", "--out", "{OUT}", words=("--levels",)),
    "robust --levels too many": ARG(
        "robust", "{S}", "--levels", ",".join(["0.5"] * 11), "--out", "{OUT}", words=("--levels",)
    ),
    "robust --validation-reps 1": ARG(
        "robust", "{S}", "--validation-reps", "1", "--out", "{OUT}", words=("--validation-reps",)
    ),
    "robust without a probability": ARG("robust", "{S}", "--out", "{OUT}", words=("hold_probability", "--probability")),
    "robust --variant missing": ARG(
        "robust", "{S}", "--probability", "0.9", "--variant", "nowhere.yaml", "--out", "{OUT}", words=("nowhere.yaml",)
    ),
    "next-million --check zero": ARG("next-million", "{S}", "--check", "0", "--out", "{OUT}", words=("--check",)),
    "next-million --check absurd": ARG("next-million", "{S}", "--check", "1e9", "--out", "{OUT}", words=("--check",)),
    "next-million --reps 1": ARG("next-million", "{S}", "--reps", "1", "--out", "{OUT}", words=("--reps",)),
    "next-million --allocation missing": ARG(
        "next-million", "{S}", "--allocation", "{S}/nowhere.csv", "--out", "{OUT}", words=("nowhere.csv",)
    ),
    "plan --target-year after the last": ARG(
        "plan", "{S}", "--years", "2", "--target-year", "3", "--reps", "0", "--out", "{OUT}", words=("--target-year",)
    ),
    "plan --years zero": ARG("plan", "{S}", "--years", "0", "--out", "{OUT}", words=("--years", ">= 1")),
    "plan --years absurd": ARG("plan", "{S}", "--years", "1e6", "--out", "{OUT}", words=("--years", "30 years")),
    "plan --reps negative": ARG("plan", "{S}", "--reps", "-1", "--out", "{OUT}", words=("--reps",)),
    "plan --days below warm-up": ARG("plan", "{S}", "--days", "5", "--out", "{OUT}", words=("--days", "warmup_days")),
    # --- command-line values
    "--seed negative": ARG("simulate", "{S}", "--seed", "-1", *SIM, words=("--seed", ">= 0")),
    "--seed fraction": ARG("simulate", "{S}", "--seed", "1.5", *SIM, words=("--seed", "whole number")),
    "--seed huge": ARG("simulate", "{S}", "--seed", "1e30", *SIM, words=("--seed",)),
    "--days zero": ARG("simulate", "{S}", "--days", "0", "--out", "{OUT}", words=("--days",)),
    "--days absurd": ARG("simulate", "{S}", "--days", "1000000", "--out", "{OUT}", words=("--days", "3,660 days")),
    "--reps absurd": ARG("simulate", "{S}", "--reps", "1e9", "--out", "{OUT}", words=("--reps",)),
    "--processes zero": ARG("simulate", "{S}", "--processes", "0", "--out", "{OUT}", words=("--processes",)),
    "--budget-yuan infinite": ARG(
        "allocate", "{S}", "--budget-yuan", "inf", "--out", "{OUT}", words=("--budget-yuan", "finite")
    ),
    "--budget-yuan nan": ARG("allocate", "{S}", "--budget-yuan", "nan", "--out", "{OUT}", words=("--budget-yuan",)),
    "--max-change absurd": ARG("allocate", "{S}", "--max-change", "1e12", "--out", "{OUT}", words=("--max-change",)),
    "--equity-spread infinite": ARG(
        "allocate", "{S}", "--equity-spread-per-10k", "inf", "--out", "{OUT}", words=("--equity-spread-per-10k",)
    ),
    **{
        f"{cmd} --reps 1": ARG(cmd, "{S}", *pre, "--reps", "1", "--out", "{OUT}", words=("--reps", "two replications"))
        for cmd, pre in (
            ("compare", ("--allocation", "{S}/baseline_allocation.csv")),
            ("optimize", ()),
            ("sweep", ("--budget-yuan", "1:2:1")),
            ("scorecard", ()),
            ("run", ()),
        )
    },
    **{
        f"sweep {r}": ARG("sweep", "{S}", "--budget-yuan", r, "--out", "{OUT}", words=("--budget-yuan",))
        for r in ("0:inf:1", "0:1e12:1", "0:1e7:1", "nan:1:1", "-5:-1:1", "3:1:1", "1:2:0", "1-3", "1:2:3:4")
    },
    **{
        f"{cmd} --days below warm-up": ARG(
            cmd, "{S}", *pre, "--days", "5", "--out", "{OUT}", words=("--days", "warmup_days")
        )
        for cmd, pre in (
            ("simulate", ()),
            ("compare", ("--allocation", "{S}/baseline_allocation.csv")),
            ("optimize", ()),
            ("sweep", ("--budget-yuan", "1:2:1")),
            ("run", ()),
        )
    },
    "--allocation missing": ARG("check", "{S}", "--allocation", "{S}/nowhere.csv", words=("nowhere.csv",)),
    "--allocation latin-1": ARG(
        "check",
        "{S}",
        "--allocation",
        "{S}/mine.csv",
        words=("mine.csv", "not UTF-8"),
        setup=lambda f: (f / "mine.csv").write_bytes(
            (f / ALLOC).read_bytes() + "community,Caf\u00e9,1,1,1,1,,\n".encode("latin-1")
        ),
    ),
    # --- issue 20: what is printed cannot drive the terminal; names the file system would refuse
    "path with a terminal escape": ARG("validate", "{S}/\x1b[2Jnowhere", words=("nowhere", "\\x1b[2J")),
    "argument with a terminal escape": ARG("validate", "{S}", "\x1b]0;pwned\x07", words=("unrecognized", "\\x1b")),
    "--out name too long": ARG(
        "simulate", "{S}", "--reps", "1", "--days", "20", "--out", "{S}/../" + "x" * 300, words=("--out", "at most")
    ),
    "check --out name too long": ARG("check", "{S}", "--out", "{S}/../" + "c" * 300, words=("--out", "at most")),
    # --- output locations
    "--out current folder": ARG(
        "simulate", "{S}", "--reps", "1", "--days", "20", "--out", ".", words=("--out", "current folder")
    ),
    "--out parent of current": ARG("simulate", "{S}", "--reps", "1", "--days", "20", "--out", "..", words=("--out",)),
    "--out is a file": ARG(
        "simulate",
        "{S}",
        "--reps",
        "1",
        "--days",
        "20",
        "--out",
        "{S}/../notes.txt",
        words=("--out", "not a folder"),
        setup=lambda f: (f.parent / "notes.txt").write_text("mine"),
    ),
    "--out below a file": ARG(
        "simulate",
        "{S}",
        "--reps",
        "1",
        "--days",
        "20",
        "--out",
        "{S}/../notes.txt/run",
        words=("--out", "not a folder"),
        setup=lambda f: (f.parent / "notes.txt").write_text("mine"),
    ),
    "--out the scenario": ARG(
        "simulate", "{S}", "--reps", "1", "--days", "20", "--out", "{S}", words=("--out", "holds the scenario")
    ),
    "check --out a folder": ARG("check", "{S}", "--out", "{S}/..", words=("--out", "is a folder")),
    # --- study files: what the study's own fields and axes make of the scenario
    "study days within the warm-up": STUDY_CASE("days: 3\n", "field 'days'", "warmup_days", "(7)", "found 3"),
    "study days within a variant's warm-up": STUDY_CASE(
        "days: 20\ngrid: {scenario: [scenario.yaml, long.yaml]}\n",
        "field 'days'",
        "long.yaml (30)",
        steps=(_write("long.yaml", b"extends: scenario.yaml\ncalendar: {warmup_days: 30}\n"),),
    ),
    "study floor axis without the rule": STUDY_CASE(
        "command: allocate\ngrid: {workers_per_10k_minimum: [18, 5000]}\n",
        "field 'grid.workers_per_10k_minimum'",
        "no active policy rule of kind workers_per_10k_residents",
        steps=(_edit(YAML, f"    workers_per_10k:      {{kind: {FLOOR_RULE}}}\n", ""),),
    ),
    "study floor axis of an inactive rule": STUDY_CASE(
        "command: allocate\ngrid: {workers_per_10k_minimum: [18, 5000]}\n",
        "field 'grid.workers_per_10k_minimum'",
        "no active policy rule",
        steps=(_edit(YAML, FLOOR_RULE, FLOOR_RULE + ", active: false"),),
    ),
    "study days with allocate": STUDY_CASE(
        "command: allocate\ndays: 30\ngrid: {budget_yuan: [2400000]}\n",
        "field 'days'",
        "simulates nothing",
    ),
    "study scenario symlink outside": STUDY_CASE(
        "command: allocate\ngrid: {scenario: [link.yaml]}\n",
        "field 'grid.scenario.0'",
        "symbolic links",
        steps=(_scenario_outside,),
    ),
    "study scenario absolute": STUDY_CASE(
        "command: allocate\ngrid: {scenario: [{S}/scenario.yaml]}\n",
        "field 'grid.scenario'",
        "must be a scenario file in",
    ),
    "study scenario escapes": STUDY_CASE(
        "command: allocate\ngrid: {scenario: [../tiny/scenario.yaml]}\n",
        "field 'grid.scenario'",
        "must be a scenario file in",
    ),
    "study demand growth past the cap": STUDY_CASE(
        "command: allocate\ngrid: {demand_growth: [1.0, 100]}\n",
        "field 'grid.demand_growth': 100 on scenario.yaml",
        "cases a year",
        "50,000,000",
        steps=(_edit(YAML, "rate_per_10k_per_day: 5.0,", "rate_per_10k_per_day: 5000.0,"),),
    ),
}


def _argv(case: Case, folder: Path, out: Path) -> list[str]:
    return [a.replace("{S}", str(folder)).replace("{OUT}", str(out)) for a in case.argv]


def _prepare(tmp_path: Path, case: Case) -> tuple[Path, Path, Path]:
    """A copy of the tiny scenario with the defect, an empty working folder and a fresh output path."""
    folder = tmp_path / "tiny"
    shutil.copytree(SCENARIOS / "tiny", folder)
    case.setup(folder)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    return folder, cwd, tmp_path / "fresh_out"


def test_the_table_has_at_least_60_cases():
    assert len(CASES) >= 60


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_case(name, tmp_path, monkeypatch, capsys):
    case = CASES[name]
    folder, cwd, out = _prepare(tmp_path, case)
    monkeypatch.chdir(cwd)
    before = snapshot(tmp_path)
    try:
        with time_limit(TIME_LIMIT_S):
            rc = main(_argv(case, folder, out))
        err = capsys.readouterr().err
        outcome = classify(rc, err, [case.words[0]])
    except Hang:
        rc, err, outcome = None, "", "hang"
    except Exception as exc:  # an escaped exception is what a user sees as a traceback
        rc, err, outcome = None, f"{type(exc).__name__}: {exc}", "traceback"
    tally(outcome)
    assert outcome == "clean", (outcome, rc, err)
    for w in case.words:
        assert w in err, f"{w!r} not in {err!r}"
    assert "\x1b" not in err and "\x07" not in err, "a terminal escape was printed raw"
    assert snapshot(tmp_path) == before, "a file was written or removed"


# ------------------------------------------------------------------ the same through the installed command line
SUBPROCESS_SAMPLE = [
    "alias bomb",
    "yaml in latin-1",
    "residents overflow int64",
    "table escapes",
    "--seed negative",
    "sweep -5:-1:1",
    "--out current folder",
]


@pytest.mark.parametrize("name", SUBPROCESS_SAMPLE)
def test_hostile_case_through_the_command_line(name, tmp_path):
    case = CASES[name]
    folder, cwd, out = _prepare(tmp_path, case)
    before = snapshot(tmp_path)
    try:
        r = subprocess.run(
            [sys.executable, "-m", "gridplan.cli", *_argv(case, folder, out)],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=TIME_LIMIT_S + 20,
        )
        outcome = classify(r.returncode, r.stderr, [case.words[0]])
    except subprocess.TimeoutExpired:
        outcome = "hang"
    tally(outcome)
    assert outcome == "clean", (outcome, r.returncode, r.stderr)
    assert snapshot(tmp_path) == before


# ------------------------------------------------------------------ Hypothesis mutations of the tiny scenario
def _nodes(x: object, path: tuple = ()) -> list[tuple]:
    """Paths of every node of a parsed YAML document."""
    out = [path]
    if isinstance(x, dict):
        for k, v in x.items():
            out += _nodes(v, path + (k,))
    elif isinstance(x, list):
        for i, v in enumerate(x):
            out += _nodes(v, path + (i,))
    return out


BASE = yaml.safe_load((SCENARIOS / "tiny" / YAML).read_text(encoding="utf-8"))
NODES = _nodes(BASE)[1:]
# Replacements that are invalid wherever a node of that type stands in the schema
# (every number in the schema is >= 0 and far below 1e30; no field takes None or a bool for a number).
BAD = {
    "number": [math.inf, -math.inf, math.nan, 1e300, -1.0, -1e300, 10**30, "12", True, [1], {"a": 1}],
    "str": [12, 1.5, None, [1], {"a": 1}, True],
    "bool": ["yes", 1, None, [True]],
    "list": [5, "x", {"a": 1}, None],
    "dict": [5, "x", [1], None, "ADD_UNKNOWN_KEY"],
}


def _kind(v: object) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    return {str: "str", list: "list", dict: "dict"}[type(v)]


_MISSING = object()


def _child(node: object, key: object) -> object:
    if isinstance(node, dict):
        return node.get(key, _MISSING)
    if isinstance(node, list) and isinstance(key, int) and key < len(node):
        return node[key]
    return _MISSING


def _mutate(doc: dict, path: tuple, pick: int, done: list[tuple]) -> bool:
    """Replace the node at ``path`` with an invalid value.

    Skipped (False) when the path no longer exists or lies on an earlier mutation's
    path (a second replacement could turn an invalid value back into a valid one).
    """
    if any(path[: len(d)] == d or d[: len(path)] == path for d in done):
        return False
    parent = doc
    for k in path[:-1]:
        parent = _child(parent, k)
    if _child(parent, path[-1]) is _MISSING:
        return False
    key = path[-1]
    choices = BAD[_kind(parent[key])]
    new = choices[pick % len(choices)]
    if new == "ADD_UNKNOWN_KEY":
        parent[key]["zz_unknown"] = 5
    else:
        parent[key] = new
    done.append(path)
    return True


def _expect_clean_error(folder: Path, names: list[str]) -> None:
    """load_scenario must refuse the mutated scenario with one line naming a mutated file, in time."""
    before = snapshot(folder)
    try:
        with time_limit(TIME_LIMIT_S):
            load_scenario(folder)
        outcome = "accepted"
    except ScenarioError as exc:
        msg = str(exc)
        outcome = "clean" if "\n" not in msg and any(str(folder / n) in msg for n in names) else "unclear"
    except Hang:
        outcome = "hang"
    except Exception:
        outcome = "traceback"
    tally(outcome)
    assert outcome == "clean", outcome
    assert snapshot(folder) == before


@contextlib.contextmanager
def _scenario_copy() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "tiny"
        shutil.copytree(SCENARIOS / "tiny", folder)
        yield folder


HYPOTHESIS = settings(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow], database=None)
SOAK_FACTOR = 20  # pytest -m soak: twenty times the examples, fresh random ones each run


def _ci_and_soak(examples: int, *strategies: st.SearchStrategy) -> Callable:
    """Make two tests of one body: ``examples`` fixed examples by default, many more under ``-m soak``."""

    def make(body: Callable) -> tuple[Callable, Callable]:
        ci = settings(HYPOTHESIS, max_examples=examples)(given(*strategies)(body))
        soak = settings(HYPOTHESIS, max_examples=examples * SOAK_FACTOR, derandomize=False)(given(*strategies)(body))
        return ci, pytest.mark.soak(soak)

    return make


def _yaml_mutations(mutations: list[tuple[tuple, int]]) -> None:
    doc = copy.deepcopy(BASE)
    done: list[tuple] = []
    for path, pick in mutations:
        _mutate(doc, path, pick, done)
    with _scenario_copy() as folder:
        (folder / YAML).write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
        _expect_clean_error(folder, [YAML])


test_mutated_yaml_is_refused_clearly, test_soak_mutated_yaml = _ci_and_soak(
    600, st.lists(st.tuples(st.sampled_from(NODES), st.integers(0, 10)), min_size=1, max_size=3)
)(_yaml_mutations)


def _numeric_cells(fname: str) -> list[tuple[int, int]]:
    rows = list(csv.reader(io.StringIO((SCENARIOS / "tiny" / fname).read_text(encoding="utf-8"))))
    return [(r, c) for r in range(1, len(rows)) for c, cell in enumerate(rows[r]) if cell.strip() and _is_number(cell)]


def _is_number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


CELLS = [(f, r, c) for f in (CSV, ALLOC) for r, c in _numeric_cells(f)]
BAD_CELLS = ["inf", "-inf", "nan", "-1", "1e20", "1e400", "x", "", "0x10", "1,000", "1_000x"]


def _cell_mutation(cell: tuple[str, int, int], bad: str) -> None:
    fname, r, c = cell
    with _scenario_copy() as folder:
        rows = list(csv.reader(io.StringIO((folder / fname).read_text(encoding="utf-8"))))
        rows[r][c] = bad
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(rows)
        (folder / fname).write_text(buf.getvalue(), encoding="utf-8")
        _expect_clean_error(folder, [fname])


test_mutated_table_cell_is_refused_clearly, test_soak_mutated_table_cell = _ci_and_soak(
    300, st.sampled_from(CELLS), st.sampled_from(BAD_CELLS)
)(_cell_mutation)


def _byte_mutation(fname: str, where: float, junk: bytes) -> None:
    with _scenario_copy() as folder:
        data = (folder / fname).read_bytes()
        k = int(where * len(data))
        (folder / fname).write_bytes(data[:k] + junk + b" " + data[k:])
        _expect_clean_error(folder, [fname])


test_a_non_utf8_byte_anywhere_is_refused_clearly, test_soak_non_utf8_byte = _ci_and_soak(
    150, st.sampled_from([YAML, CSV, ALLOC]), st.floats(0, 1), st.sampled_from([b"\xff", b"\xe9", b"\x80\x80", b"\xc3"])
)(_byte_mutation)


# ------------------------------------------------------------------ what must still be accepted
def test_a_utf8_byte_order_mark_is_accepted(tiny_copy):
    for f in (YAML, CSV, ALLOC):
        p = tiny_copy / f
        p.write_bytes(b"\xef\xbb\xbf" + p.read_bytes())
    s = load_scenario(tiny_copy)
    assert s.community_ids == ("A", "B", "C") and s.baseline.total_workers == 20


@pytest.mark.parametrize(
    "ids",
    [
        ("a,b", 'say "hi"', "with space", "城市社区", "new\nline"),
        ("=1+1", "'quoted'", ",", '"', "trailing,comma,"),
    ],
)
def test_allocation_table_round_trips_hostile_ids(ids, tmp_path):
    n = len(ids)
    a = Allocation(
        community_ids=ids,
        street_ids=("S,1", 'S"2'),
        workers=np.arange(n) + 3,
        secretary_assistants=np.ones(n),
        work_fund_yuan=np.linspace(1000, 2000, n) + 0.25,
        service_fund_yuan=np.full(n, 300000.0),
        street_office_staff=[6, 7],
        mobile_grid_workers=[1, 2],
    )
    path = tmp_path / "allocation.csv"
    write_allocation(a, path)
    b = read_allocation(path, ids, a.street_ids)
    for col in (
        "workers",
        "secretary_assistants",
        "work_fund_yuan",
        "service_fund_yuan",
        "street_office_staff",
        "mobile_grid_workers",
    ):
        np.testing.assert_array_equal(getattr(a, col), getattr(b, col))


def test_every_numeric_field_has_a_bound_with_a_unit():
    import scenario.spec as config

    generic = []
    for name in config.__all__:
        cls = getattr(config, name)
        if isinstance(cls, type) and issubclass(cls, config.Frozen):
            for f, info in cls.model_fields.items():
                numeric = any(t in str(info.annotation) for t in ("float", "int"))
                if numeric and f != "minimum" and config.field_maximum(f) == config.FALLBACK_MAXIMUM:
                    generic.append(f"{name}.{f}")
    assert not generic, f"give these fields a unit bound in scenario.spec.FIELD_MAXIMUM: {generic}"


def test_bundled_scenarios_are_within_the_bounds():
    for f in ("tiny", "weihai", "erlang_c", "weihai/surge.yaml", "weihai/property_before.yaml"):
        load_scenario(SCENARIOS / f)
