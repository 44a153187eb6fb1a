"""Plans that hold with a stated probability: simulation-optimisation by sample-average approximation.

A planner states how often the targets must hold ("in 90% of years, including a surge like March's and a
year of 3% more demand"): ``targets.hold_probability`` and ``targets.hold_variants`` (or the options). The
loop, for one probability p (data in, data out: :class:`RobustOptions` in, :class:`RobustResult` out):

1. **Allocate** by min-cost with every community's and street office's staffing bounded below by what its
   duty-coverage target needs (no global planning margin: the margin is what the loop finds), and the
   on-time and resolution targets through the curves.
2. **Simulate** R replications of the allocation in the scenario and in each variant, always on the same
   seeds (common random numbers: a sample-average approximation whose sample is fixed, so the loop
   converges instead of chasing noise).
3. **Refit per unit.** From the pooled years, each unit's p-level value of each target's KPI
   (``workflows.holding``). The on-time and outcome curves are refitted through it (so the allocator's
   "reaches the target" means "holds with probability p"); for duty coverage, a unit's capacity factor
   ``kappa`` (coverage = (people x available hours x kappa - case hours) / duty hours, fitted through the
   p-level coverage) gives the fewest people that hold, bracketed by the staffings already seen to fail.
4. Repeat until every unit holds in the sample or ``max_iterations``; then **check on fresh replications**
   of every variant (another seed): the share of unit-years meeting each target, with its Wilson interval.

The margin each unit needs is an output: a community's planned load at the fewest people that hold its
coverage (its planning margin, against the scenario's ``max_planned_utilisation``), and how far above each
target its expected value must be planned. The cost of robustness: the same loop at several probabilities
(each level starting from the last level's fitted curves and known failures), beside the mean rule
(targets on the scenario's mean, no variants) and the scenario's fixed planning margin.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from numbers import Real
from pathlib import Path, PurePath

import numpy as np
import pandas as pd

from scenario.errors import ScenarioError
from scenario.load import Scenario, load_scenario, path_in_folder
from scenario.spec import VARIANT_NAME
from scenario.staffing import staff_time
from scenario.text import level_label
from sim.replications import Replications, run_replications
from solvers.allocator import AllocationResult, allocate
from solvers.curves import Curves, service_curves
from solvers.errors import InfeasibleError
from solvers.lpmodel import COVERAGE_UTILISATION, AllocationOptions
from workflows.holding import UnitSamples, hold_frequency, p_level, unit_samples, wilson
from workflows.optimize import VALIDATION_SEED_OFFSET
from workflows.run import Message, RunEvent, StepFinished, StepStarted, Ticked

__all__ = [
    "RobustOptions",
    "RobustPlan",
    "RobustResult",
    "robust",
    "load_variants",
    "check_level",
    "MAX_LEVELS",
    "PLAN_TOLERANCE",
]

MAX_LEVELS = 10  # plans in the cost-of-robustness table (each is a full loop of simulations)
PLAN_TOLERANCE = 0.001  # shares are planned this far above their p-level target, and missed only this far below


@dataclass(frozen=True)
class RobustOptions:
    """``probability`` / ``variants`` None: the scenario's ``targets.hold_probability`` / ``hold_variants``;
    ``levels``: the probabilities of the cost-of-robustness table (None in it: the mean rule); empty: only
    the plan at ``probability``."""

    probability: float | None = None
    variants: tuple[str, ...] | None = None
    levels: tuple[float | None, ...] = ()
    allocation: AllocationOptions = field(default_factory=AllocationOptions)
    reps: int = 3
    validation_reps: int = 4
    days: int | None = None
    seed: int | None = None
    processes: int | None = None
    solver: str = "auto"
    max_iterations: int = 6
    reference: bool = True  # also check the scenario's fixed planning margin (min-cost) on the fresh years

    def __post_init__(self) -> None:
        """Refuse what ``gridplan robust`` refuses, naming the field, before anything is simulated.

        Raises:
            TypeError: ``variants`` or ``levels`` is not a list or tuple (a bare string would be read letter by
                letter), or a variant is not a file name.
            ValueError: a probability that is not a number strictly between 0 and 1, more than
                ``MAX_LEVELS`` levels, or an empty variant name.
        """
        if self.probability is not None:
            object.__setattr__(self, "probability", _probability("probability", self.probability))
        if self.variants is not None:
            names = _sequence("variants", self.variants, "file names of the scenario's folder, e.g. ['surge.yaml']")
            for i, x in enumerate(names):
                if not isinstance(x, (str, PurePath)):
                    raise TypeError(f"variants[{i}] must be a file name of the scenario's folder, found {x!r}")
                if not str(x).strip():
                    raise ValueError(f"variants[{i}] must be a file name of the scenario's folder, found {x!r}")
            object.__setattr__(self, "variants", names)
        levels = _sequence("levels", self.levels, "probabilities or 'mean', e.g. ['mean', 0.9]")
        if len(levels) > MAX_LEVELS:
            raise ValueError(f"levels must hold at most {MAX_LEVELS} probabilities, found {len(levels)}")
        # 'mean' is the command line's word for the mean rule (None)
        levels = tuple(
            None if x is None or x == "mean" else _probability(f"levels[{i}]", x) for i, x in enumerate(levels)
        )
        object.__setattr__(self, "levels", levels)


def _sequence(name: str, value: object, expected: str) -> tuple:
    """``value`` as a tuple; a list or tuple only (a string is iterable but is one value, not several)."""
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{name} must be a list or tuple of {expected}, found {type(value).__name__} {value!r}")
    return tuple(value)


def _probability(name: str, value: object) -> float:
    """A share of simulated years: a number strictly between 0 and 1."""
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 < float(value) < 1:
        raise ValueError(
            f"{name} must be a number strictly between 0 and 1 (a share of simulated years), found {value!r}"
        )
    return float(value)


@dataclass
class RobustPlan:
    """The cheapest allocation found to hold at ``probability`` (None: the mean rule), its loop and check."""

    probability: float | None
    variants: tuple[str, ...]
    result: AllocationResult
    iterations: pd.DataFrame
    stop_reason: str
    margins: pd.DataFrame  # per community and street office
    holds: pd.DataFrame  # per target: fresh unit-years meeting it, the share and its Wilson interval
    replications: int  # simulated years this level used (tuning and validation)
    no_fund_lifts: list[str]  # communities no fund lifts to the resolution target at this probability
    no_staff_lifts: list[str]  # communities no staffing lifts to the on-time target
    coverage_stuck: list[str]  # communities and street offices whose coverage more people did not lift

    @property
    def holds_probability(self) -> bool:
        """Whether the fresh years bear the stated probability out: every target's share of unit-years meeting
        it has a 95% interval reaching the probability (the mean rule states none: True)."""
        if self.probability is None:
            return True
        per_target = self.holds[self.holds.target != "all of a community's targets"]
        return bool((per_target.ci95_high >= self.probability).all())


@dataclass
class RobustResult:
    """The plan at the asked probability, every level of the cost-of-robustness table and the table."""

    scenario: Scenario
    options: RobustOptions
    seed: int
    plan: RobustPlan
    levels: list[RobustPlan]
    table: pd.DataFrame
    # the fixed planning margin's plan, its check on the fresh years and how many years that check simulated
    reference: tuple[AllocationResult, pd.DataFrame, int] | None


def check_level(x: float) -> None:
    """A hold probability strictly between 0 and 1, stated to a hundredth of a point (0.9, 0.975, 0.9999): two
    levels never share a label or a file name, and none reads as 100%.

    Raises:
        ValueError: a probability outside (0, 1) or with more decimals than 4.
    """
    if not 0 < x < 1:
        raise ValueError(f"a hold probability must lie strictly between 0 and 1, found {x:g}")
    if abs(round(x, 4) - x) > 1e-12:
        raise ValueError(
            f"a hold probability is stated to a hundredth of a point at most (e.g. 0.9, 0.975, 0.9999), found {x!r}"
        )


def load_variants(scenario: Scenario, names: tuple[str, ...]) -> list[Scenario]:
    """The variant files named (in the scenario's folder, symbolic links included), each with the scenario's
    communities and streets; the scenario itself and a variant named twice are refused (their years would
    count twice).

    Raises:
        ScenarioError: a variant is missing, outside the folder, the scenario itself, named twice, invalid, or
            has other communities or streets.
    """
    out = []
    seen: dict[Path, str] = {}
    own = scenario.path.resolve()
    for name in map(str, names):
        where = f"{scenario.path}: variant {name!r}"
        if not VARIANT_NAME.fullmatch(name):
            raise ScenarioError(
                f"{where}: expected the name of a .yaml file in the scenario's folder (letters, digits, '_', '.', "
                "'-'; no folders)"
            )
        path = path_in_folder(scenario.path, "variant", name)
        if not path.is_file():
            raise ScenarioError(f"{where}: no such file in the scenario's folder")
        key = path.resolve()
        if key == own:
            raise ScenarioError(f"{where}: is the scenario itself, whose years count already")
        if key in seen:
            raise ScenarioError(f"{where}: named twice (as {seen[key]!r} before); each variant's years count once")
        seen[key] = name
        v = load_scenario(path)
        if v.community_ids != scenario.community_ids or v.street_ids != scenario.street_ids:
            raise ScenarioError(
                f"{v.path}: field 'targets.hold_variants': the variant must have the scenario's communities and "
                "streets (it should extend the scenario)"
            )
        out.append(v)
    return out


@dataclass
class _State:
    """What a level hands to the next: fitted curves, known failures, the coverage bounds, the last years."""

    curves: Curves
    lb_c: np.ndarray  # fewest workers per community its coverage needs
    lb_s: np.ndarray  # fewest staff per street office
    failed_c: np.ndarray  # most workers a community was seen to fail its coverage with (-1: none)
    failed_s: np.ndarray
    exempt: set[int] = field(default_factory=set)  # communities no staffing lifts to the on-time target
    no_fund_lifts: set[int] = field(default_factory=set)  # communities no fund lifts to the resolution target
    # units (communities, street offices) whose coverage did not rise with one more person: no staffing lifts it
    stuck_c: set[int] = field(default_factory=set)
    stuck_s: set[int] = field(default_factory=set)
    missed_c: dict[int, tuple[float, float]] = field(default_factory=dict)  # unit -> (people, p-level coverage)
    missed_s: dict[int, tuple[float, float]] = field(default_factory=dict)
    last: tuple[AllocationResult, list[Replications]] | None = None


class _Level:
    """One probability's loop (see the module docstring)."""

    def __init__(self, base: Scenario, variants: list[Scenario], names: tuple[str, ...], opts: RobustOptions):
        self.base, self.variants, self.names, self.o = base, variants, names, opts
        self.t = base.spec.targets
        self.st = staff_time(base)
        self.seed = base.spec.seed if opts.seed is None else opts.seed
        self.solver = opts.solver

    def world(self, probability: float | None) -> list[Scenario]:
        """The years the probability counts over: the scenario and its variants (the mean rule: the scenario)."""
        return [self.base] if probability is None else self.checked

    @property
    def checked(self) -> list[Scenario]:
        """The years every plan is checked on: the scenario's and its variants'."""
        return [self.base, *self.variants]

    def simulate(self, alloc, worlds: list[Scenario], seed: int, tick) -> list[Replications]:
        return [
            run_replications(
                w,
                alloc,
                self.o.reps if seed == self.seed else self.o.validation_reps,
                days=self.o.days,
                seed=seed,
                processes=self.o.processes,
                progress=tick,
            )
            for w in worlds
        ]

    def samples(self, runs: list[Replications]) -> dict[str, UnitSamples]:
        per_c = [r.group_per_rep("community") for r in runs]
        per_s = [r.group_per_rep("street") for r in runs]
        ids, sids = self.base.community_ids, self.base.street_ids
        out = {
            "resolution_share": unit_samples(per_c, ids, "resolution_share", True),
            "satisfaction_share": unit_samples(per_c, ids, "satisfaction_share", True),
            "on_time_share": unit_samples(per_c, ids, "on_time_share", True),
            "found_late_share": unit_samples(per_c, ids, "found_late_share", True),
        }
        if self.base.spec.duties is not None:
            out["duty_coverage"] = unit_samples(per_c, ids, "duty_coverage", False)
            out["office_duty_coverage"] = unit_samples(per_s, sids, "office_duty_coverage", False)
        return out

    def targets(self) -> dict[str, float]:
        """Each target's KPI and its minimum (duty coverage for communities and street offices)."""
        t = self.t
        out = {"on_time_share": t.on_time_share_min}
        if t.resolution_share_min is not None:
            out["resolution_share"] = t.resolution_share_min
        if t.satisfaction_share_min is not None:
            out["satisfaction_share"] = t.satisfaction_share_min
        if self.base.spec.duties is not None:
            out["duty_coverage"] = out["office_duty_coverage"] = t.duty_coverage_min
        return out

    def allocate(self, state: _State) -> AllocationResult:
        opts = replace(
            self.o.allocation,
            objective="min-cost",
            enforce_workload=False,
            min_workers=tuple(state.lb_c),
            min_street_staff=tuple(state.lb_s),
            target_exempt=tuple(sorted(state.exempt)),
            outcome_exempt=tuple(sorted(state.no_fund_lifts)),
            min_service_fund_yuan=tuple(self.all_fixes_paid(state)),
        )
        return allocate(self.base, opts, curves=state.curves, solver=self.solver)

    def all_fixes_paid(self, state: _State) -> np.ndarray:
        """The fund that pays all but 0.1% of a community's fixes, for those no fund lifts to the resolution
        target at the probability (the most money can do for them), 0 elsewhere."""
        out = np.zeros(self.base.n_communities)
        oc = state.curves.outcomes
        if oc is not None and state.no_fund_lifts:
            idx = sorted(state.no_fund_lifts)
            # whole yuan: a bound with decimals comes back from CBC's solution file rounded below it
            out[idx] = np.ceil(oc.min_fund_yuan(np.full(len(out), 0.999))[idx])
        return out

    def levels(self, samples: dict[str, UnitSamples], probability: float | None) -> dict[str, np.ndarray]:
        """Each target KPI's p-level value per unit (and the mean found-late share, for the refit)."""
        out = {k: p_level(samples[k], target, probability)[0] for k, target in self.targets().items()}
        out["found_late_share"] = np.nan_to_num(p_level(samples["found_late_share"], 0.0, None)[0])
        return out

    def misses(self, nu: dict[str, np.ndarray], state: _State) -> dict[str, np.ndarray]:
        """Units whose p-level value is below the target (shares of cases: by more than PLAN_TOLERANCE), but
        those no staffing or fund can lift to it (they are reported apart)."""
        out = {}
        exempt = {
            "on_time_share": state.exempt,
            "resolution_share": state.no_fund_lifts,
            "satisfaction_share": state.no_fund_lifts,
            "duty_coverage": state.stuck_c,
            "office_duty_coverage": state.stuck_s,
        }
        for k, target in self.targets().items():
            tol = 1e-9 if "coverage" in k else PLAN_TOLERANCE
            out[k] = np.nan_to_num(nu[k], nan=np.inf) < target - tol
            out[k][sorted(exempt.get(k, set()))] = False
        return out

    def refit(self, state: _State, res: AllocationResult, nu: dict[str, np.ndarray], may_lower: bool) -> None:
        """Curves through the p-level values; coverage bounds from each unit's capacity factor (lowered where a
        unit holds with time to spare only when ``may_lower``)."""
        a, c = res.allocation, state.curves
        if "on_time_share" in nu:
            ok = ~np.isnan(nu["on_time_share"])
            c = c.refit(a.workers, nu["on_time_share"] - PLAN_TOLERANCE, ok)
            target = self.t.on_time_share_min
            state.exempt |= {int(i) for i in np.flatnonzero(c.share.max(axis=1) < target - 1e-12)}
        if c.outcomes is not None and "resolution_share" in nu:
            sat = nu.get("satisfaction_share")
            c = replace(
                c,
                outcomes=c.outcomes.refit(
                    a.service_fund_yuan,
                    nu["found_late_share"],
                    nu["resolution_share"] - PLAN_TOLERANCE,
                    np.full(len(a.workers), np.nan) if sat is None else sat - PLAN_TOLERANCE,
                ),
            )
        state.curves = c
        if c.outcomes is not None:
            t = self.t
            unreachable = np.isinf(
                c.outcomes.min_fund_yuan(c.outcomes.min_funded(t.resolution_share_min, t.satisfaction_share_min))
            )
            state.no_fund_lifts |= {int(i) for i in np.flatnonzero(unreachable)}
        if "duty_coverage" in nu:
            T = self.t.duty_coverage_min
            _stuck(nu["duty_coverage"], T, a.workers, state.missed_c, state.stuck_c)
            _stuck(nu["office_duty_coverage"], T, a.street_office_staff, state.missed_s, state.stuck_s)
            st = self.st
            T = self.t.duty_coverage_min
            duty_c, case_c = st.duties_at("grid") + st.duties_at("desk"), st.case_hours_grid + st.case_hours_desk
            state.lb_c, state.failed_c = _coverage_bound(
                nu["duty_coverage"],
                T,
                a.workers,
                duty_c,
                case_c,
                st.available_per_person("community"),
                state.lb_c,
                state.failed_c,
                may_lower,
            )
            state.lb_s, state.failed_s = _coverage_bound(
                nu["office_duty_coverage"],
                T,
                a.street_office_staff,
                st.duties_at("street"),
                st.case_hours_street,
                st.available_per_person("street"),
                state.lb_s,
                state.failed_s,
                may_lower,
            )
            for lb, stuck, people in (
                (state.lb_c, state.stuck_c, a.workers),
                (state.lb_s, state.stuck_s, a.street_office_staff),
            ):
                idx = sorted(stuck)
                lb[idx] = np.asarray(people, float)[idx]  # more people do not lift it: keep what it has


def _stuck(nu: np.ndarray, target: float, people: np.ndarray, missed: dict, stuck: set[int]) -> None:
    """Units that miss their coverage again with more people and no more than 0.1 point more coverage join
    ``stuck`` (in place); ``missed`` keeps each missing unit's last people and p-level coverage."""
    fails = np.flatnonzero(np.nan_to_num(nu, nan=np.inf) < target - 1e-9)
    for i in (int(x) for x in fails):
        before = missed.get(i)
        if before is not None and people[i] > before[0] and nu[i] < before[1] + 0.001:
            stuck.add(i)
        missed[i] = (float(people[i]), float(nu[i]))


def _coverage_bound(
    nu: np.ndarray,
    target: float,
    people: np.ndarray,
    duty: np.ndarray,
    case: np.ndarray,
    hours: float,
    lb: np.ndarray,
    failed: np.ndarray,
    may_lower: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """The fewest people each unit's coverage needs at its p-level, and the most it was seen to fail with.

    A unit's capacity factor ``kappa = (nu x duty + case) / (people x hours)`` is identified when its p-level
    coverage is below 1; then it needs ``ceil((target x duty + case) / (hours x kappa))``. A failing unit
    needs at least one more than it had; a saturated one (coverage 1 in every year) keeps what it has, and so
    does a holding one unless ``may_lower`` (the first round of a level: later rounds only add, so that the
    loop does not trade units back and forth). Never at or below a staffing seen to fail."""
    people = np.asarray(people, float)
    fails = np.nan_to_num(nu, nan=np.inf) < target - 1e-9
    failed = np.where(fails, np.maximum(failed, people), failed)
    known = np.isfinite(nu) & (nu < 1 - 1e-6) & (duty > 0) & (people > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        kappa = (np.clip(nu, 0, 1) * duty + case) / (people * hours)
        need = np.ceil(np.round((target * duty + case) / (hours * kappa), 9))
    new = np.where(known, need, np.where(fails, people + 1, np.where(duty > 0, people, lb)))
    if not may_lower:
        new = np.where(fails | (duty <= 0), new, np.maximum(new, people))
    return np.maximum(np.nan_to_num(new, nan=0.0, posinf=0.0), failed + 1), failed


def _start(level: _Level) -> _State:
    """The first bounds: every unit's coverage target at the allocator's own capacity factor."""
    st, base = level.st, level.base
    n, ns = base.n_communities, len(base.street_ids)
    lb_c, lb_s = np.zeros(n), np.zeros(ns)
    if base.spec.duties is not None:
        T = base.spec.targets.duty_coverage_min
        for lb, duty, case, h in (
            (
                lb_c,
                st.duties_at("grid") + st.duties_at("desk"),
                st.case_hours_grid + st.case_hours_desk,
                st.available_per_person("community"),
            ),
            (lb_s, st.duties_at("street"), st.case_hours_street, st.available_per_person("street")),
        ):
            lb[:] = np.ceil(np.round((T * duty + case) / (h * COVERAGE_UTILISATION), 9))
    return _State(service_curves(base), lb_c, lb_s, np.full(n, -1.0), np.full(ns, -1.0))


def _run_level(
    level: _Level, state: _State, probability: float | None, report: Callable[[RunEvent], None]
) -> RobustPlan:
    """The loop at one probability, then its check on fresh replications (see the module docstring)."""
    o = level.o
    worlds = level.world(probability)
    tick = lambda n: report(Ticked(n))  # noqa: E731
    if state.last is not None:  # start from the last level's years, re-read at this probability
        level.refit(state, state.last[0], level.levels(level.samples(state.last[1]), probability), True)
    rows, stop, used = [], f"iteration limit ({o.max_iterations}) reached", 0
    res = level.allocate(state)
    for it in range(1, o.max_iterations + 1):
        runs = level.simulate(res.allocation, worlds, level.seed, tick)
        used += sum(r.reps for r in runs)
        nu = level.levels(level.samples(runs), probability)
        miss = level.misses(nu, state)
        rows.append(_iteration_row(it, res, miss, runs))
        report(Message(_news(probability, it, res, miss)))
        state.last = (res, runs)
        before = (state.lb_c.copy(), state.lb_s.copy())
        level.refit(state, res, nu, may_lower=it == 1)
        moved = int((before[0] != state.lb_c).sum() + (before[1] != state.lb_s).sum())
        rows[-1]["bounds_changed"] = moved  # why a round with no unit below its level is followed by another
        settled = moved == 0
        if not any(m.any() for m in miss.values()) and settled:
            where = f"at {level_label(probability)}" if probability else "on the mean"
            stop = f"every unit holds in the sample {where}"
            break
        try:
            res = level.allocate(state)
        except InfeasibleError as exc:
            stop = f"the corrected model is infeasible: {exc}"
            break
    # every plan is checked on the same fresh years: the scenario's and its variants' (the mean rule's too)
    fresh = level.simulate(res.allocation, level.checked, level.seed + VALIDATION_SEED_OFFSET, tick)
    used += sum(r.reps for r in fresh)
    holds = _holds(level, level.samples(fresh))
    margins = _margins(level, res, state, nu, probability)
    ids = level.base.community_ids
    return RobustPlan(
        probability,
        level.names if probability is not None else (),
        res,
        pd.DataFrame(rows),
        stop,
        margins,
        holds,
        used,
        [ids[i] for i in sorted(state.no_fund_lifts)],
        [ids[i] for i in sorted(state.exempt)],
        [ids[i] for i in sorted(state.stuck_c)] + [level.base.street_ids[i] for i in sorted(state.stuck_s)],
    )


def _news(probability: float | None, it: int, res: AllocationResult, miss: dict[str, np.ndarray]) -> str:
    label = level_label(probability)
    parts = ", ".join(f"{k} {int(m.sum())}" for k, m in miss.items())
    return (
        f"{label}, iteration {it}: cost {res.costs.total_yuan / 1e6:,.2f} M yuan, workers "
        f"{res.allocation.total_workers:,}; units below the target's p-level: {parts}"
    )


def _iteration_row(it: int, res: AllocationResult, miss: dict[str, np.ndarray], runs: list[Replications]) -> dict:
    row = {
        "iteration": it,
        "cost_total_yuan": res.costs.total_yuan,
        "workers": res.allocation.total_workers,
        "street_office_staff": int(res.allocation.street_office_staff.sum()),
        "service_fund_yuan": float(res.allocation.service_fund_yuan.sum()),
        "replications": sum(r.reps for r in runs),
    }
    row.update({f"missing_{k}": int(m.sum()) for k, m in miss.items()})
    return row


def _holds(level: _Level, samples: dict[str, UnitSamples]) -> pd.DataFrame:
    """Per target on fresh years: unit-years meeting it, the share, its Wilson interval; and every target
    of a community together."""
    rows = []
    joint = None
    for k, target in level.targets().items():
        share, hits, n = hold_frequency(samples[k], target)
        lo, hi = wilson(hits, n)
        unit = "street office" if k == "office_duty_coverage" else "community"
        rows.append(
            {
                "target": k,
                "unit": unit,
                "minimum": target,
                "unit_years": n,
                "met": hits,
                "share": share,
                "ci95_low": lo,
                "ci95_high": hi,
            }
        )
        if unit == "community":
            ok = np.concatenate([np.where(np.isnan(v), True, v >= target - 1e-12).ravel() for v in samples[k].values])
            joint = ok if joint is None else joint & ok
    if joint is not None:
        lo, hi = wilson(int(joint.sum()), len(joint))
        rows.append(
            {
                "target": "all of a community's targets",
                "unit": "community",
                "minimum": np.nan,
                "unit_years": len(joint),
                "met": int(joint.sum()),
                "share": joint.mean(),
                "ci95_low": lo,
                "ci95_high": hi,
            }
        )
    return pd.DataFrame(rows)


def _margins(
    level: _Level, res: AllocationResult, state: _State, nu: dict[str, np.ndarray], probability: float | None
) -> pd.DataFrame:
    """Per community and street office: its planned load at the plan and at the fewest people its coverage
    needs (the planning margin it needs), and how far above each target its expected value is planned."""
    st, a, base = level.st, res.allocation, level.base
    rows = []
    none = np.full(base.n_communities, np.nan)
    for unit, ids, people, lb, load, cov in (
        ("community", base.community_ids, a.workers, state.lb_c, st.planned_community, nu.get("duty_coverage", none)),
        (
            "street office",
            base.street_ids,
            a.street_office_staff,
            state.lb_s,
            st.planned_street,
            nu.get("office_duty_coverage", none[: len(base.street_ids)]),
        ),
    ):
        hours = st.available_per_person("community" if unit == "community" else "street")
        with np.errstate(invalid="ignore", divide="ignore"):
            df = pd.DataFrame(
                {
                    "unit": unit,
                    "id": list(ids),
                    "people": np.asarray(people, int),
                    "people_coverage_needs": np.asarray(lb, int),
                    "planned_load": np.where(people > 0, load / (people * hours), np.nan),
                    "planning_margin_needed": np.where(lb > 0, load / (lb * hours), np.nan),
                    # fitted from a p-level coverage below 1; otherwise the unit did every duty in every year and
                    # could plan busier: its margin is at least this
                    "margin_is_estimate": np.nan_to_num(cov, nan=1.0) < 1 - 1e-6,
                }
            )
        rows.append(df)
    out = pd.concat(rows, ignore_index=True)
    dc = res.deciding_community.set_index("community")["decided_by"]
    out["decided_by"] = [dc.get(i, "") if u == "community" else "" for u, i in zip(out.unit, out.id)]
    for k, target in level.targets().items():
        mean = p_level(level.samples(state.last[1])[k], target, None)[0] if state.last else np.full(len(nu[k]), np.nan)
        col = np.full(len(out), np.nan)
        sel = (out.unit == ("street office" if k == "office_duty_coverage" else "community")).to_numpy()
        col[sel] = mean - nu[k]
        out[f"margin_{k}_points"] = col * 100
    out["probability"] = np.nan if probability is None else probability
    return out


def _ignore(event: RunEvent) -> None:
    """No progress reporting."""


def robust(
    scenario: Scenario, options: RobustOptions | None = None, progress: Callable[[RunEvent], None] | None = None
) -> RobustResult:
    """The plan that holds at the stated probability, and the cost of robustness (see the module docstring).

    Raises:
        ValueError: a probability outside (0, 1), no probability stated, or fewer than 2 replications.
        ScenarioError: a variant file is missing, invalid or of other communities.
        InfeasibleError: the first allocation is impossible (the message names what collides).
    """
    o = options or RobustOptions()
    report = progress or _ignore
    t = scenario.spec.targets
    p = t.hold_probability if o.probability is None else o.probability
    if p is None:
        raise ValueError("no probability: give one (--probability) or state targets.hold_probability")
    names = tuple(t.hold_variants if o.variants is None else o.variants)
    for x in (p, *(y for y in o.levels if y is not None)):
        check_level(x)
    if o.reps < 2 or o.validation_reps < 2:
        raise ValueError(
            f"reps and validation_reps must be >= 2 (a spread needs two years), found {o.reps}, {o.validation_reps}"
        )
    variants = load_variants(scenario, names)
    for v in variants:  # the scenario's own warm-up is checked where the days are read (as for simulate)
        if o.days is not None and o.days <= v.spec.calendar.warmup_days:
            raise ScenarioError(
                f"{v.path}: days ({o.days}) must be > the variant's calendar.warmup_days "
                f"({v.spec.calendar.warmup_days}): its years would count almost no cases"
            )
    level = _Level(scenario, variants, names, o)
    order: list[float | None] = sorted(set(o.levels) | {p}, key=lambda x: -1.0 if x is None else x)
    state = _start(level)
    plans: list[RobustPlan] = []
    for q in order:
        report(StepStarted("robust", level_label(q)))
        plan = _run_level(level, state, q, report)
        report(StepFinished("robust", level_label(q), plan))
        plans.append(plan)
    reference = None
    if o.reference and scenario.spec.duties is not None:
        report(StepStarted("reference", "the scenario's planning margin"))
        ref = allocate(scenario, replace(o.allocation, objective="min-cost"), solver=o.solver)
        fresh = level.simulate(
            ref.allocation, level.checked, level.seed + VALIDATION_SEED_OFFSET, lambda n: report(Ticked(n))
        )
        reference = (ref, _holds(level, level.samples(fresh)), sum(r.reps for r in fresh))
        report(StepFinished("reference", value=reference))
    chosen = next(x for x in plans if x.probability == p)
    return RobustResult(scenario, o, level.seed, chosen, plans, _table(scenario, plans, reference), reference)


def _table(
    scenario: Scenario, plans: list[RobustPlan], reference: tuple[AllocationResult, pd.DataFrame, int] | None
) -> pd.DataFrame:
    """The cost of robustness: per probability (and the fixed planning margin), the cost, the people and the
    fund, the communities' planning margins and the fresh share of unit-years meeting each target."""
    rows = []
    margin = scenario.spec.duties.max_planned_utilisation if scenario.spec.duties is not None else np.nan
    entries: list[tuple[str, AllocationResult, pd.DataFrame, RobustPlan | None, int]] = [
        (level_label(x.probability), x.result, x.holds, x, x.replications) for x in plans
    ]
    if reference:  # no rounds: its years are those of its fresh check
        entries.append((f"fixed planning margin {margin:.0%}", reference[0], reference[1], None, reference[2]))
    for label, res, holds, x, years in entries:
        a = res.allocation
        row = {
            "plan": label,
            "cost_total_yuan": res.costs.total_yuan,
            "workers": a.total_workers,
            "street_office_staff": int(a.street_office_staff.sum()),
            "service_fund_yuan": float(a.service_fund_yuan.sum()),
        }
        if x is not None:
            com = x.margins[x.margins.unit == "community"]
            decided = com[com.decided_by.str.contains("simulation cut", regex=False)]
            row["communities_decided_by_coverage"] = len(decided)
            row["planning_margin_median"] = float(decided.planning_margin_needed.median()) if len(decided) else np.nan
            row["planning_margin_low"] = float(decided.planning_margin_needed.min()) if len(decided) else np.nan
            row["planning_margin_high"] = float(decided.planning_margin_needed.max()) if len(decided) else np.nan
        else:
            row["planning_margin_median"] = row["planning_margin_low"] = row["planning_margin_high"] = margin
        for h in holds.itertuples():
            key = h.target.replace("all of a community's targets", "all_targets")
            row[f"{key}_met_share"] = h.share
            row[f"{key}_met_ci95_low"] = h.ci95_low
            row[f"{key}_met_ci95_high"] = h.ci95_high
        row["replications"] = years
        row["communities_no_fund_lifts"] = len(x.no_fund_lifts) if x is not None else 0
        row["units_coverage_stuck"] = len(x.coverage_stuck) if x is not None else 0
        rows.append(row)
    return pd.DataFrame(rows)
