"""Staff time: what a person can give, what the duties and cases ask, and how people are split.

One home for the planning arithmetic that the simulation and the allocator share:

* **Person hours.** A person works the calendar's working hours; leave
  (``duties.leave_days_per_person_year``) and fixed duties (meetings, training:
  ``duties.fixed``, hours per person per week) are unavailable to cases and to
  scheduled duties. What remains is the person's *available* time.
* **Planned hours** of a unit (a community's grids, its desk, a street office) a
  year: every scheduled duty (driver x times a year x hours each, plus mean
  travel) plus the expected case handling at that level.
* **The desk split.** A community's workers are split between its desk (service
  hall and escalated cases) and its grids in proportion to the planned hours of
  each: ``desk = round(workers x desk hours / (desk + grid hours))``, at least 1
  where the desk has work, at most workers - 1. A person is counted once.
* **Daily availability.** Each working day, ``floor(N x unavailable share + U)``
  of a unit's N people are away (U uniform, drawn per unit and day before the
  run, so every allocation sees the same draws); with ``rule: protected_share``
  a further ``floor(present x protected_share + U')`` are kept on scheduled
  duties. When a community's only desk person is away, a grid worker covers the
  desk (the service hall stays open).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from scenario.load import Scenario
from scenario.spec import DutySpec

__all__ = [
    "StaffTime",
    "staff_time",
    "split_desk",
    "daily_capacity",
    "cover_desk",
    "LEVELS",
    "annual_cases",
    "volunteer_share",
    "volunteer_capacity",
]

LEVELS = ("grid", "desk", "street")
_YEAR = 365.0


def annual_cases(scenario: Scenario) -> np.ndarray:
    """Expected cases a year per community, before volunteers and mobile discovery."""
    from scenario.profile import hourly_profile

    rate = sum(c.rate_per_10k_per_day for c in scenario.spec.demand.channels.values())
    days = scenario.spec.calendar.days
    return scenario.urban_residents / 10_000 * rate * _YEAR * float(hourly_profile(scenario, days).mean())


def volunteer_capacity(scenario: Scenario, days: int) -> np.ndarray:
    """Cases volunteers can take per community and day, (communities, days), in expectation.

    Weekends: registered x weekend_active_share; surge days: also surge_mobilised; each person takes
    cases_per_volunteer_day, and the city's volunteers are spread over communities by residents.
    """
    from scenario.profile import surge_days

    spec = scenario.spec
    v = spec.volunteers
    weekday = (spec.calendar.start_weekday + np.arange(days)) % 7
    weekend = ~np.isin(weekday, spec.calendar.working_weekdays)
    people = np.where(weekend, v.registered * v.weekend_active_share, 0.0) + np.where(
        surge_days(scenario, days), v.surge_mobilised, 0.0
    )
    share = scenario.urban_residents / scenario.urban_residents.sum()
    return people[None, :] * v.cases_per_volunteer_day * share[:, None]


def volunteer_share(scenario: Scenario) -> np.ndarray:
    """Expected share of eligible cases volunteers take, per community (daily min of demand and capacity)."""
    from scenario.profile import hourly_profile

    spec = scenario.spec
    v = spec.volunteers
    cats = list(spec.demand.categories.values())
    elig = sum(c.share for c in cats if c.volunteer_eligible)
    days = spec.calendar.days
    if elig == 0 or (v.registered == 0 and v.surge_mobilised == 0):
        return np.zeros(scenario.n_communities)
    rate = sum(c.rate_per_10k_per_day for c in spec.demand.channels.values())
    daily_profile = hourly_profile(scenario, days).reshape(days, 24).mean(axis=1)
    demand = (scenario.urban_residents[:, None] / 10_000 * rate * elig) * daily_profile[None, :]
    return np.minimum(demand, volunteer_capacity(scenario, days)).sum(axis=1) / demand.sum(axis=1)


def _driver(scenario: Scenario, duty: DutySpec) -> np.ndarray:
    """Driver quantity per community (grid/desk duties) or per street (street duties)."""
    s = scenario
    per_community = {
        "households": s.households.astype(float),
        "special_households": None if s.special_households is None else s.special_households.astype(float),
        "ordinary_households": None
        if s.special_households is None
        else (s.households - s.special_households).astype(float),
        "residents_per_1000": s.urban_residents / 1000.0,
        "party_members_per_1000": None if s.party_members is None else s.party_members / 1000.0,
        "grids": s.grids.astype(float),
        "communities": np.ones(s.n_communities),
    }
    if duty.driver == "streets":
        return np.ones(len(s.street_ids))
    if duty.driver == "grid_patrols":
        per_grid = np.array([g.patrols_per_week * _YEAR / 7.0 for g in s.spec.grid_classes.values()])
        return s.grids_by_class @ per_grid
    x = per_community[duty.driver]
    if x is None:  # the loader requires the column when a duty uses it
        raise ValueError(f"driver {duty.driver} needs a column the communities table does not have")
    if duty.level == "street":
        return np.bincount(s.community_street, weights=x, minlength=len(s.street_ids))
    return x


def _hours_each(scenario: Scenario, duty: DutySpec, travel_hours: float) -> np.ndarray | float:
    """Hours per occurrence (grid patrols: by grid class, as a per-community mean over patrols)."""
    extra = travel_hours if duty.travel else 0.0
    if duty.driver == "grid_patrols":
        classes = list(scenario.spec.grid_classes.values())
        per_grid_n = np.array([g.patrols_per_week for g in classes])
        per_grid_h = np.array([g.patrols_per_week * g.patrol_hours_each for g in classes])
        n = scenario.grids_by_class @ per_grid_n
        h = scenario.grids_by_class @ per_grid_h
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, h / n, 0.0) + extra
    return float(duty.hours_each or 0.0) + extra


@dataclass(frozen=True, eq=False)
class StaffTime:
    """Planned hours and person hours of a scenario (all per year unless named otherwise)."""

    scenario: Scenario
    duty_ids: tuple[str, ...]
    duty_level: tuple[str, ...]
    duty_hours: tuple[np.ndarray, ...]  # per duty: hours a year per unit (community or street)
    duty_tasks: tuple[np.ndarray, ...]  # per duty: tasks a year per unit
    case_hours_grid: np.ndarray  # per community
    case_hours_desk: np.ndarray  # per community
    case_hours_street: np.ndarray  # per street
    working_hours_per_person: float  # calendar working hours a year
    working_days_per_year: float
    unavailable_share: dict[str, float]  # "community" / "street": leave + fixed duties
    fixed_hours_per_person: dict[str, dict[str, float]]  # level -> fixed duty -> hours a year
    leave_hours_per_person: float

    def duties_at(self, level: str) -> np.ndarray:
        """Scheduled-duty hours a year per unit of ``level`` (grid, desk: per community; street)."""
        n = len(self.scenario.street_ids) if level == "street" else self.scenario.n_communities
        out = np.zeros(n)
        for lv, h in zip(self.duty_level, self.duty_hours):
            if lv == level:
                out += h
        return out

    @cached_property
    def planned_grid(self) -> np.ndarray:
        return self.duties_at("grid") + self.case_hours_grid

    @cached_property
    def planned_desk(self) -> np.ndarray:
        return self.duties_at("desk") + self.case_hours_desk

    @cached_property
    def planned_community(self) -> np.ndarray:
        """Grid + desk planned hours a year per community."""
        return self.planned_grid + self.planned_desk

    @cached_property
    def planned_street(self) -> np.ndarray:
        return self.duties_at("street") + self.case_hours_street

    @cached_property
    def desk_share(self) -> np.ndarray:
        tot = self.planned_community
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(tot > 0, self.planned_desk / tot, 0.0)

    def available_per_person(self, level: str) -> float:
        """Hours a year one person gives to cases and scheduled duties (``community`` or ``street``)."""
        return self.working_hours_per_person * (1.0 - self.unavailable_share[level])

    def min_staff(self, level: str, utilisation: float) -> np.ndarray:
        """Fewest people (real number) with planned hours <= available hours x ``utilisation``."""
        planned = self.planned_street if level == "street" else self.planned_community
        return planned / (self.available_per_person(level) * utilisation)

    def planned_load(self, level: str, people: np.ndarray) -> np.ndarray:
        """Per unit of ``level`` (community or street): planned hours / available hours of its ``people``
        (inf where a unit with planned work has nobody; 0 where it has no planned work)."""
        planned = self.planned_street if level == "street" else self.planned_community
        hours = np.asarray(people, float) * self.available_per_person(level)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(planned > 0, planned / hours, 0.0)

    @property
    def planning_margin(self) -> float | None:
        """The scenario's ``duties.max_planned_utilisation`` (None without duties): the one place it is read."""
        duties = self.scenario.spec.duties
        return None if duties is None else duties.max_planned_utilisation

    def workload_staff(self, level: str) -> np.ndarray:
        """Per unit of ``level`` (community or street): the workload rule's minimum, a real number of people
        (planned hours / (available hours x the planning margin)); the allocator's ``workload:`` rows."""
        margin = self.planning_margin
        if margin is None:
            raise ValueError("the scenario has no duties section, so no workload rule")
        return self.min_staff(level, margin)

    def workload_people(self, level: str) -> np.ndarray:
        """The workload rule's minimum in whole people: what an integer solution of the ``workload:`` rows
        needs (``workload_staff`` rounded up; float noise such as 9.000000001 is not a tenth person)."""
        return np.ceil(np.round(self.workload_staff(level), 9))


@lru_cache(maxsize=16)
def staff_time(scenario: Scenario) -> StaffTime:
    """The planning arithmetic of ``scenario`` (expected cases, duties, person hours); cached per scenario."""
    spec = scenario.spec
    cal = spec.calendar
    work_days = len(set(cal.working_weekdays)) * _YEAR / 7.0
    day_hours = cal.day_end_hour - cal.day_start_hour
    hours = work_days * day_hours
    week_hours = len(set(cal.working_weekdays)) * day_hours
    duties = spec.duties
    travel_h = spec.ladder.mean_travel_hours
    ids, levels, dh, dt = [], [], [], []
    unavailable = {"community": 0.0, "street": 0.0}
    fixed: dict[str, dict[str, float]] = {"community": {}, "street": {}}
    leave_h = 0.0
    if duties is not None:
        for did, d in duties.scheduled.items():
            tasks = _driver(scenario, d) * (d.times_per_year_each if d.driver != "grid_patrols" else 1.0)
            ids.append(did)
            levels.append(d.level)
            dt.append(tasks)
            dh.append(tasks * _hours_each(scenario, d, travel_h))
        leave_h = duties.leave_days_per_person_year * day_hours
        for lv in unavailable:
            fixed[lv] = {fid: f.hours_per_person_week * _YEAR / 7.0 for fid, f in duties.fixed.items() if f.level == lv}
            unavailable[lv] = (
                duties.leave_days_per_person_year / work_days
                + sum(f.hours_per_person_week for f in duties.fixed.values() if f.level == lv) / week_hours
            )
    grid_h, desk_h, street_h = _expected_case_hours(scenario, travel_h)
    return StaffTime(
        scenario,
        tuple(ids),
        tuple(levels),
        tuple(dh),
        tuple(dt),
        grid_h,
        desk_h,
        street_h,
        hours,
        work_days,
        unavailable,
        fixed,
        leave_h,
    )


def _expected_case_hours(scenario: Scenario, travel_h: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expected handling hours a year: grid (with reopened cases), desk per community; street per street.

    Volunteer-handled cases take no staff time; mobile discovery's shorter handling is
    ignored (a conservative plan).
    """
    spec = scenario.spec
    cats = list(spec.demand.categories.values())
    p = np.array([c.share for c in cats])
    elig = np.array([c.volunteer_eligible for c in cats])
    cases = annual_cases(scenario)
    vol = volunteer_share(scenario)  # share of eligible cases
    n = cases[:, None] * p[None, :] * (1.0 - vol[:, None] * elig[None, :])
    reopen = spec.ladder.feedback.reopen_probability()
    grid = np.array([c.grid_service.mean_hours for c in cats]) + travel_h
    pc = np.array([c.escalate_to_community for c in cats])
    ps = pc * np.array([c.escalate_to_street for c in cats])
    desk = pc * np.array([c.community_service.mean_hours for c in cats])
    street = ps * np.array([c.street_service.mean_hours for c in cats])
    grid_h = n @ (grid * (1.0 + reopen))
    desk_h = n @ desk
    street_h = np.bincount(scenario.community_street, weights=n @ street, minlength=len(scenario.street_ids))
    return grid_h, desk_h, street_h


def split_desk(st: StaffTime, workers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(desk, grid) people per community for ``workers`` (see the module docstring)."""
    w = np.asarray(workers, dtype=np.int64)
    share = st.desk_share
    desk = np.floor(w * share + 0.5).astype(np.int64)
    desk = np.where(share > 0, np.clip(desk, 1, np.maximum(w - 1, 0)), 0)
    desk = np.where(w >= 2, desk, 0)
    return desk, w - desk


def daily_capacity(
    st: StaffTime, people: np.ndarray, level: np.ndarray, u: np.ndarray, working: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """People present and people taking cases, per unit and calendar day.

    ``people``: (units,); ``level``: (units,) "community" or "street"; ``u``: (units, days, 2)
    uniforms; ``working``: (days,) working-day mask. Returns (present, case servers), both
    (units, days) int64; non-working days hold the full headcount (no work is done then).
    """
    duties = st.scenario.spec.duties
    share = np.array([st.unavailable_share[str(lv)] for lv in level])
    n = np.asarray(people, dtype=np.int64)[:, None]
    away = np.floor(n * share[:, None] + u[:, :, 0]).astype(np.int64)
    present = np.where(working[None, :], np.clip(n - away, 0, None), n)
    case = present.copy()
    if duties is not None and duties.rule == "protected_share" and duties.protected_share > 0:
        kept = np.floor(present * duties.protected_share + u[:, :, 1]).astype(np.int64)
        case = np.where(working[None, :], present - kept, present)
    return present, case


def cover_desk(
    desk_people: np.ndarray,
    grid: tuple[np.ndarray, np.ndarray],
    desk: tuple[np.ndarray, np.ndarray],
    working: np.ndarray,
) -> None:
    """A grid worker covers the desk on working days its people are all away (in place).

    ``grid`` and ``desk`` are (present, case servers) arrays of shape (communities, days).
    """
    need = (working[None, :] & (desk_people[:, None] > 0) & (desk[0] == 0) & (grid[0] > 0)).astype(np.int64)
    desk[0][...] += need
    desk[1][...] += need
    grid[0][...] -= need
    np.minimum(grid[1], grid[0], out=grid[1])
