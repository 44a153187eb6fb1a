"""The YAML schema of a scenario, as frozen pydantic models.

Every field carries its unit in its name. Unknown keys are rejected. Mappings
keyed by id (categories, channels, grid classes, policy rules) let a variant
file override one entry through ``extends``.
"""

from __future__ import annotations

import math
import re
from enum import Enum
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from scenario.specbase import (  # noqa: F401  # the format's base, re-exported for its users
    FALLBACK_MAXIMUM,
    FIELD_MAXIMUM,
    RULE_MAXIMUM,
    Frozen,
    Ident,
    NonNeg,
    Positive,
    Share,
    field_maximum,
)
from scenario.workforcespec import WorkforceSpec

__all__ = [
    "Frozen",
    "field_maximum",
    "FIELD_MAXIMUM",
    "FALLBACK_MAXIMUM",
    "DistributionSpec",
    "CostSpec",
    "ResolutionSpec",
    "ServiceFundSpec",
    "DiscoverySpec",
    "CalendarSpec",
    "DistrictSpec",
    "StreetSpec",
    "GridClassSpec",
    "RuleKind",
    "Scope",
    "RuleSpec",
    "PolicySpec",
    "PostSpec",
    "PaySpec",
    "FundingSpec",
    "ChannelSpec",
    "CategorySpec",
    "SurgeSpec",
    "DemandSpec",
    "FeedbackSpec",
    "LadderSpec",
    "DutySpec",
    "FixedDutySpec",
    "DutiesSpec",
    "DUTY_DRIVERS",
    "MobileGridSpec",
    "VolunteerSpec",
    "TargetSpec",
    "CalibrationSpec",
    "IndicatorSpec",
    "EvaluationSpec",
    "ScenarioSpec",
    "WorkforceSpec",
    "VARIANT_NAME",
]

# a variant file of the scenario's folder: a plain file name, no folders
VARIANT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*\.ya?ml$")


class DistributionSpec(Frozen):
    """A service-time or delay distribution in working hours.

    ``cv`` is the coefficient of variation (ignored for exponential: 1, and fixed: 0).
    """

    kind: Literal["exponential", "lognormal", "gamma", "fixed"]
    mean_hours: Positive
    cv: NonNeg = 1.0

    @property
    def mean(self) -> float:
        """The mean in the distribution's unit (hours)."""
        return self.mean_hours


class CostSpec(Frozen):
    """The cost of one fix in yuan (``cv``: coefficient of variation; ignored for exponential and fixed)."""

    kind: Literal["exponential", "lognormal", "gamma", "fixed"]
    mean_yuan: Positive
    cv: NonNeg = 1.0

    @property
    def mean(self) -> float:
        """The mean in the distribution's unit (yuan)."""
        return self.mean_yuan


class ResolutionSpec(Frozen):
    """Whether a closed case is actually resolved (the problem solved, not only explained or referred).

    ``grid`` ... ``city``: the probability that a case closed at that level is resolved when it has what it
    needs; ``volunteer``: for cases volunteers handle. ``needs_money_share``: the share of the category's
    cases whose fix costs money (a small repair, a purchased service, a subsidy), paid from the community's
    people-service fund (``service_fund``), with ``fix_cost`` in yuan. ``source`` says where the figures
    come from (or that they are assumptions).
    """

    grid: Share = 1.0
    community: Share = 1.0
    street: Share = 1.0
    city: Share = 1.0
    volunteer: Share = 1.0
    needs_money_share: Share = 0.0
    fix_cost: CostSpec | None = None
    source: Annotated[str, Field(min_length=1)]

    @model_validator(mode="after")
    def _check(self) -> "ResolutionSpec":
        if self.needs_money_share > 0 and self.fix_cost is None:
            raise ValueError("fix_cost is required when needs_money_share > 0")
        return self


class CalendarSpec(Frozen):
    """Working time of community workers and simulated horizon."""

    start_weekday: Annotated[int, Field(ge=0, le=6)] = 0
    day_start_hour: Annotated[float, Field(ge=0, le=24)] = 8.5
    day_end_hour: Annotated[float, Field(ge=0, le=24)] = 17.5
    working_weekdays: tuple[Annotated[int, Field(ge=0, le=6)], ...] = (0, 1, 2, 3, 4)
    days: Annotated[int, Field(gt=0)] = 365
    warmup_days: Annotated[int, Field(ge=0)] = 14

    @model_validator(mode="after")
    def _check(self) -> "CalendarSpec":
        if self.day_end_hour <= self.day_start_hour:
            raise ValueError(f"day_end_hour must be > day_start_hour: {self.day_end_hour} <= {self.day_start_hour}")
        if not self.working_weekdays:
            raise ValueError("working_weekdays must list at least one day")
        if len(set(self.working_weekdays)) != len(self.working_weekdays):
            raise ValueError(f"working_weekdays must list each day once, found {list(self.working_weekdays)}")
        if self.warmup_days >= self.days:
            raise ValueError(f"warmup_days must be < days: {self.warmup_days} >= {self.days}")
        return self

    @property
    def working_hours_per_day(self) -> float:
        return self.day_end_hour - self.day_start_hour


class DistrictSpec(Frozen):
    """A district or development zone and its budget (yuan a year; none: no limit)."""

    id: Ident
    name: str
    kind: Literal["district", "development_zone"] = "district"
    budget_yuan: NonNeg | None = None


class StreetSpec(Frozen):
    """A street and the district it belongs to."""

    id: Ident
    name: str
    district: Ident


class GridClassSpec(Frozen):
    """One colour of the "five-colour" grid classification and its patrol norm.

    The grid-patrol duty (``driver: grid_patrols``) takes its frequency and length
    from here: every grid of the class is patrolled ``patrols_per_week`` times a
    week for ``patrol_hours_each`` hours.
    """

    name: str
    patrols_per_week: NonNeg
    patrol_hours_each: NonNeg


class RuleKind(str, Enum):
    """The kinds of policy minimum; each names the unit of its ``minimum``."""

    workers_per_10k_residents = "workers_per_10k_residents"
    street_office_staff_per_street = "street_office_staff_per_street"
    secretary_assistants_per_community = "secretary_assistants_per_community"
    work_fund_yuan_per_1000_households = "work_fund_yuan_per_1000_households"
    service_fund_yuan_per_community = "service_fund_yuan_per_community"


class Scope(str, Enum):
    """The unit a rule's requirement applies to."""

    community = "community"
    street = "street"
    district = "district"
    city = "city"


# Which scopes make sense for each rule (a street rule cannot apply per community).
RULE_SCOPES: dict[RuleKind, set[Scope]] = {
    RuleKind.workers_per_10k_residents: {Scope.community, Scope.street, Scope.district, Scope.city},
    RuleKind.street_office_staff_per_street: {Scope.street, Scope.district, Scope.city},
    RuleKind.secretary_assistants_per_community: {Scope.community, Scope.street, Scope.district, Scope.city},
    RuleKind.work_fund_yuan_per_1000_households: {Scope.community, Scope.street, Scope.district, Scope.city},
    RuleKind.service_fund_yuan_per_community: {Scope.community, Scope.street, Scope.district, Scope.city},
}


class RuleSpec(Frozen):
    """A named policy minimum. ``minimum`` is in the unit the kind names."""

    kind: RuleKind = Field(strict=False)
    minimum: NonNeg
    scope: Scope = Field(strict=False)
    active: bool = True
    description: str = ""

    @model_validator(mode="after")
    def _scope_fits(self) -> "RuleSpec":
        if self.scope not in RULE_SCOPES[self.kind]:
            allowed = ", ".join(sorted(s.value for s in RULE_SCOPES[self.kind]))
            raise ValueError(
                f"scope {self.scope.value!r} does not fit rule kind {self.kind.value}; use one of {allowed}"
            )
        return self


class PolicySpec(Frozen):
    """The policy rules, by id."""

    rules: dict[Ident, RuleSpec]


class PostSpec(Frozen):
    """One of the "3 posts": its share of community workers and pay by level."""

    name: str
    share: Share
    pay_yuan_per_year_by_level: tuple[Positive, ...]


class PaySpec(Frozen):
    """The "3 posts, 18 levels" pay table. ``level_shares`` is the share of workers at each level."""

    levels: Annotated[int, Field(gt=0)] = 18
    level_shares: tuple[Share, ...]
    posts: dict[Ident, PostSpec]
    street_staff_cost_yuan_per_year: NonNeg
    mobile_worker_allowance_yuan_per_year: NonNeg

    @model_validator(mode="after")
    def _check(self) -> "PaySpec":
        if len(self.level_shares) != self.levels:
            raise ValueError(f"level_shares must have {self.levels} entries, found {len(self.level_shares)}")
        if not math.isclose(sum(self.level_shares), 1.0, abs_tol=1e-6):
            raise ValueError(f"level_shares must sum to 1, found {sum(self.level_shares):.6f}")
        if not math.isclose(sum(p.share for p in self.posts.values()), 1.0, abs_tol=1e-6):
            raise ValueError(f"post shares must sum to 1, found {sum(p.share for p in self.posts.values()):.6f}")
        for pid, post in self.posts.items():
            if len(post.pay_yuan_per_year_by_level) != self.levels:
                raise ValueError(
                    f"posts.{pid}.pay_yuan_per_year_by_level must have {self.levels} entries, "
                    f"found {len(post.pay_yuan_per_year_by_level)}"
                )
        return self

    @property
    def mean_worker_cost_yuan_per_year(self) -> float:
        """Average annual cost of one community worker over the post and level mix."""
        return sum(
            post.share * sum(s * p for s, p in zip(self.level_shares, post.pay_yuan_per_year_by_level))
            for post in self.posts.values()
        )


class FundingSpec(Frozen):
    """Who pays: the city pays a fixed number of workers per community, districts the rest."""

    city_paid_workers_per_community: NonNeg = 2.5
    city_budget_yuan: NonNeg | None = None
    total_budget_yuan: NonNeg | None = None


class ChannelSpec(Frozen):
    """An intake channel and its rate of cases per 10,000 residents a day."""

    name: str
    rate_per_10k_per_day: NonNeg
    is_hotline: bool = False


class CategorySpec(Frozen):
    """A complaint category: its share, deadline, escalation and service times per level."""

    name: str
    share: Share
    deadline_working_hours: Positive
    volunteer_eligible: bool = False
    escalate_to_community: Share = 0.0
    escalate_to_street: Share = 0.0
    escalate_to_city: Share = 0.0
    grid_service: DistributionSpec
    community_service: DistributionSpec
    street_service: DistributionSpec
    city_delay: DistributionSpec
    response_working_hours: Positive | None = None  # first contact within; None: no response limit
    resolution: ResolutionSpec | None = None  # None: every closed case counts as resolved


class SurgeSpec(Frozen):
    """A demand surge: demand x ``multiplier`` for ``length_days`` from ``start_day``."""

    name: str
    start_day: Annotated[int, Field(ge=0)]
    length_days: Annotated[int, Field(gt=0)]
    multiplier: Positive


class DemandSpec(Frozen):
    """Complaint arrivals: a non-homogeneous Poisson process per community."""

    channels: dict[Ident, ChannelSpec]
    categories: dict[Ident, CategorySpec]
    hour_of_day_weights: tuple[NonNeg, ...]
    day_of_week_weights: tuple[NonNeg, ...]
    month_weights: tuple[NonNeg, ...]
    surges: tuple[SurgeSpec, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> "DemandSpec":
        for name, n in (("hour_of_day_weights", 24), ("day_of_week_weights", 7), ("month_weights", 12)):
            vals = getattr(self, name)
            if len(vals) != n:
                raise ValueError(f"{name} must have {n} entries, found {len(vals)}")
            if sum(vals) <= 0:
                raise ValueError(f"{name} must not be all zero")
        total = sum(c.share for c in self.categories.values())
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(f"category shares must sum to 1, found {total:.6f}")
        if not self.channels:
            raise ValueError("at least one channel is required")
        return self


class FeedbackSpec(Frozen):
    """Feedback call after closure; reopen probability grows with lateness (capped at 1)."""

    delay_hours: NonNeg = 24.0
    unsatisfied_base: Share = 0.08
    unsatisfied_per_late_day: NonNeg = 0.05
    reopen_given_unsatisfied_base: Share = 0.3
    reopen_given_unsatisfied_per_late_day: NonNeg = 0.1
    # an unresolved problem: more likely unsatisfied, and then more likely to come back (a repeat complaint)
    unsatisfied_if_unresolved: Share = 0.0
    reopen_if_unresolved: Share = 0.0
    revisit_resolution_share: Share = 0.0  # chance the reopened visit solves a problem still unresolved

    def reopen_probability(self, late_days: float = 0.0) -> float:
        """P(a case closed ``late_days`` late is reopened): P(unsatisfied) x P(reopened | unsatisfied), each
        capped at 1. The planning arithmetic (staff hours, service curves) takes an on-time case (0 days);
        the simulation draws the same two events per case (``sim.routing``)."""
        unsatisfied = min(1.0, self.unsatisfied_base + self.unsatisfied_per_late_day * late_days)
        reopened = min(1.0, self.reopen_given_unsatisfied_base + self.reopen_given_unsatisfied_per_late_day * late_days)
        return unsatisfied * reopened


class LadderSpec(Frozen):
    """The escalation ladder: grid worker → community desk → street office → city departments.

    A community's workers are split between its desk (service hall) and its grids
    in proportion to the planned hours of each (see ``scenario.staffing``).
    """

    travel_minutes_max: NonNeg = 15.0
    feedback: FeedbackSpec = FeedbackSpec()

    @property
    def travel_hours_max(self) -> float:
        """The longest trip to a case, in hours (trips are uniform on [0, this])."""
        return self.travel_minutes_max / 60.0

    @property
    def mean_travel_hours(self) -> float:
        """The mean trip to a case, in hours: half the longest (uniform on [0, travel_minutes_max])."""
        return self.travel_minutes_max / 120.0


DUTY_DRIVERS = (
    "households",
    "ordinary_households",
    "special_households",
    "residents_per_1000",
    "party_members_per_1000",
    "grids",
    "grid_patrols",
    "communities",
    "streets",
)
StaffLevel = Literal["grid", "desk", "street"]


class DutySpec(Frozen):
    """A scheduled duty: tasks generated every working day, done in the time cases leave.

    Hours a year at one unit of the level (a community for ``grid`` and ``desk``,
    a street office for ``street``) = driver x times a year x ``hours_each``
    (+ mean travel within the service circle when ``travel``). Tasks are due
    ``due_within_days`` after they arise (default: one cycle, 365 / times a year);
    undone tasks stay in the backlog (``carry_over``) or are missed.
    """

    level: StaffLevel
    driver: Literal[DUTY_DRIVERS]  # type: ignore[valid-type]
    times_per_year: NonNeg | None = None
    times_per_week: NonNeg | None = None
    hours_each: NonNeg | None = None
    travel: bool = False
    due_within_days: Annotated[int, Field(gt=0)] | None = None
    carry_over: bool = True
    source: Annotated[str, Field(min_length=1)]
    # category -> share of that category's problems on the grid channel this duty finds (``discovery``)
    finds: dict[Ident, Share] = {}
    urgent_when_missed: bool = False  # a problem it misses surfaces as an urgent case (shorter deadline)

    @model_validator(mode="after")
    def _check(self) -> "DutySpec":
        if self.finds and self.level != "grid":
            raise ValueError(f"finds needs level grid (grid workers find problems), found {self.level}")
        given = [self.times_per_year is not None, self.times_per_week is not None]
        if self.driver == "grid_patrols":
            if any(given) or self.hours_each is not None:
                raise ValueError(
                    "driver grid_patrols takes its frequency and hours from grid_classes; "
                    "omit times_per_year, times_per_week and hours_each"
                )
            if self.level != "grid":
                raise ValueError(f"driver grid_patrols needs level grid, found {self.level}")
            return self
        if sum(given) != 1:
            raise ValueError("give exactly one of times_per_year and times_per_week")
        if self.hours_each is None:
            raise ValueError("hours_each is required")
        if self.driver == "streets" and self.level != "street":
            raise ValueError(f"driver streets needs level street, found {self.level}")
        return self

    @property
    def times_per_year_each(self) -> float:
        """Occurrences a year per unit of the driver (grid patrols: per patrol norm, see GridClassSpec)."""
        if self.times_per_week is not None:
            return self.times_per_week * 365.0 / 7.0
        return float(self.times_per_year or 0.0)

    @property
    def window_days(self) -> int:
        """Days a task may wait before it is overdue."""
        if self.due_within_days is not None:
            return self.due_within_days
        per_year = self.times_per_year_each if self.driver != "grid_patrols" else 365.0
        return max(1, int(round(365.0 / per_year))) if per_year > 0 else 365


class FixedDutySpec(Frozen):
    """Non-deferrable time of every person at a level (meetings, training, study): off cases and other duties."""

    level: Literal["community", "street"]
    hours_per_person_week: NonNeg
    source: Annotated[str, Field(min_length=1)]


class DutiesSpec(Frozen):
    """Every duty that takes staff time besides cases, and how duties and cases share people.

    ``rule``: ``cases_first`` (a person on a scheduled duty breaks off for a case)
    or ``protected_share`` (each day a share of the people present is kept on
    scheduled duties and takes no case). Leave and fixed duties are taken as
    whole person-days, drawn at random each working day (expected share exact).
    The allocator plans each unit's staff so that planned hours <= available
    hours x ``max_planned_utilisation``.
    """

    rule: Literal["cases_first", "protected_share"] = "cases_first"
    protected_share: Annotated[float, Field(ge=0, lt=1)] = 0.0
    max_planned_utilisation: Annotated[float, Field(gt=0, le=1)] = 0.85
    leave_days_per_person_year: Annotated[float, Field(ge=0, le=200)] = 0.0
    leave_source: str = ""
    fixed: dict[Ident, FixedDutySpec] = {}
    scheduled: dict[Ident, DutySpec] = {}

    @model_validator(mode="after")
    def _check(self) -> "DutiesSpec":
        if self.rule == "cases_first" and self.protected_share > 0:
            raise ValueError("protected_share is used only with rule protected_share; set rule: protected_share")
        if self.leave_days_per_person_year > 0 and not self.leave_source.strip():
            raise ValueError("leave_source is required when leave_days_per_person_year > 0")
        return self


class ServiceFundSpec(Frozen):
    """How a community spends its people-service fund (``service_fund_yuan`` of the allocation).

    The year's fund is released in equal tranches (``release``) and pays, in the order cases arrive, the fix of
    each case that needs money (``ResolutionSpec.needs_money_share``). A fix above ``approval_limit_yuan``
    needs the street office's approval: the case goes up to the street office (its service there is the
    approval). A case the fund cannot pay (spent for now) goes up to city departments with probability
    ``unfunded_to_city_share`` (they pay, slower: resolved with the category's ``city`` probability), else it
    closes at its level, resolved with probability ``unfunded_resolution_share`` (explained, referred).
    """

    release: Literal["yearly", "quarterly", "monthly"] = "quarterly"
    approval_limit_yuan: NonNeg | None = None
    unfunded_to_city_share: Share = 0.0
    unfunded_resolution_share: Share = 0.0
    source: Annotated[str, Field(min_length=1)]

    @property
    def tranches_per_year(self) -> int:
        return {"yearly": 1, "quarterly": 4, "monthly": 12}[self.release]


class DiscoverySpec(Frozen):
    """What a grid duty left undone costs residents: problems found late.

    A problem on ``grid_channel`` of a category some duty ``finds`` is found by that duty (the share it
    finds) only as often as the duty was done: with the share of the duty's hours done in its community over
    the last ``lookback_working_days`` working days. Otherwise nobody finds it early: it surfaces
    ``surface_delay`` (clock hours) later on ``surfaced_channel`` (a resident's call), escalates
    ``escalation_factor`` times as often at each level (capped at 1), is resolved ``resolution_factor`` times as
    often and leaves the resident unsatisfied with ``unsatisfied_extra`` more probability; a duty marked
    ``urgent_when_missed`` makes it urgent (deadline x ``urgent_deadline_factor``).
    """

    grid_channel: Ident
    surfaced_channel: Ident
    lookback_working_days: Annotated[int, Field(ge=1, le=260)] = 5
    surface_delay: DistributionSpec
    escalation_factor: Annotated[float, Field(ge=0)] = 1.0
    resolution_factor: Share = 1.0
    unsatisfied_extra: Share = 0.0
    urgent_deadline_factor: Annotated[float, Field(gt=0, le=1)] = 0.5
    source: Annotated[str, Field(min_length=1)]


class MobileGridSpec(Frozen):
    """Mobile grid workers (couriers, riders) discover problems before residents call."""

    discoveries_per_worker_day: NonNeg = 0.5
    max_share_of_hotline: Share = 0.5
    handling_time_factor: Positive = 0.6
    discovery_lead_hours: NonNeg = 12.0


class VolunteerSpec(Frozen):
    """Registered party members who take simple cases on weekends and during surges."""

    registered: Annotated[int, Field(ge=0)] = 0
    weekend_active_share: Share = 0.02
    surge_mobilised: Annotated[int, Field(ge=0)] = 0
    cases_per_volunteer_day: NonNeg = 0.5
    handling_hours: Positive = 4.0


class IndicatorSpec(Frozen):
    """One indicator of the annual appraisal: points = weight x the KPI's position between zero_at and
    full_marks_at (linear, clipped; zero_at may lie above full_marks_at for a KPI where less is better)."""

    kpi: Literal[
        "on_time_share",
        "resolution_share",
        "response_share",
        "satisfaction_share",
        "reopened_share",
        "duty_coverage",
        "resolution_p90_hours",
        "overdue_cases",
    ]
    weight: Annotated[float, Field(ge=0, le=1000)]
    full_marks_at: float
    zero_at: float
    source: str = ""

    @model_validator(mode="after")
    def _check(self) -> "IndicatorSpec":
        if self.full_marks_at == self.zero_at:
            raise ValueError("full_marks_at and zero_at must differ")
        return self


class EvaluationSpec(Frozen):
    """The annual appraisal ("实事评价、年底考评"): each street and community scored from simulated KPIs."""

    indicators: dict[Ident, IndicatorSpec]
    threshold_points: Annotated[float, Field(ge=0, le=100_000)]
    source: str = ""

    @model_validator(mode="after")
    def _check(self) -> "EvaluationSpec":
        if not any(i.weight > 0 for i in self.indicators.values()):
            raise ValueError("at least one indicator must have a weight > 0 (all weights 0 score every unit 0)")
        return self


class TargetSpec(Frozen):
    """Targets the allocation must meet in every community (and street office, for duty coverage)."""

    on_time_share_min: Share = 0.9
    duty_coverage_min: Share = 0.95  # share of scheduled duty hours done by their due date
    wait_threshold_working_hours: Annotated[float, Field(gt=0, le=1000)] = 1.0  # "served within" KPI per level
    # the three rates residents see, per community (None: no target)
    resolution_share_min: Share | None = None
    satisfaction_share_min: Share | None = None
    response_share_min: Share | None = None
    # how often the targets must hold (gridplan robust): in this share of simulated years of the scenario and
    # of each variant file listed (None: on the mean, as gridplan optimize plans)
    hold_probability: Annotated[float, Field(gt=0, lt=1)] | None = None
    hold_variants: tuple[Annotated[str, Field(pattern=VARIANT_NAME.pattern)], ...] = ()


class CalibrationSpec(Frozen):
    """A figure of the source the model should reproduce, and where the model's value comes from.

    ``kpi``: a city KPI (e.g. ``escalated_city_per_year``) or ``category:<id>:<column>`` of the KPIs by
    category (e.g. ``category:property_management:hotline_share``); ``variant``: another scenario file
    of the same folder to simulate instead of this one; ``target`` with ``rule`` (``at_least``,
    ``about``: within ``tolerance`` relative, ``input``: the figure is an input, reproduced by
    construction, ``not_modelled``: say why in ``note``). ``by_construction``: the scenario's inputs were
    chosen so that the model gives this figure (escalation shares set to give the source's count, a
    category's resolution set to give a satisfaction): a match then shows the arithmetic, not the model,
    and the verdict says so.
    """

    figure: Annotated[str, Field(min_length=1)]
    source_value: Annotated[str, Field(min_length=1)]
    kpi: str = ""
    target: float | None = None
    rule: Literal["at_least", "about", "input", "not_modelled"] = "about"
    tolerance: NonNeg = 0.1
    variant: str | None = None
    note: str = ""
    by_construction: bool = False


_REPLACED = {
    "routine": "'routine' was replaced by 'duties' (every duty with its driver, hours and source; "
    "see the README's duty model)",
    "ladder.street_staff_share_on_cases": "'ladder.street_staff_share_on_cases' was removed: the split of street staff "
    "between cases and party work now emerges from 'duties'",
    "ladder.community_desk_staff_per_secretary_assistant": "'ladder.community_desk_staff_per_secretary_assistant' was "
    "removed: desk staff follow the desk's planned hours",
}


class ScenarioSpec(Frozen):
    """The whole planning case as written in the YAML file."""

    @field_validator("duties", mode="before")
    @classmethod
    def _no_null_duties(cls, v: object) -> object:
        # leaving the section out means "no duties"; an explicit null is more likely a slip
        if v is None:
            raise ValueError("write the duties section or leave it out; null is not allowed")
        return v

    @model_validator(mode="before")
    @classmethod
    def _replaced_fields(cls, data: object) -> object:
        if isinstance(data, dict):
            ladder = data.get("ladder")
            keys = set(data) | ({f"ladder.{k}" for k in ladder} if isinstance(ladder, dict) else set())
            for old, msg in _REPLACED.items():
                if old in keys:
                    raise ValueError(msg)
        return data

    name: Ident
    description: str = ""
    assumptions: tuple[str, ...] = ()
    seed: Annotated[int, Field(ge=0)] = 0
    calendar: CalendarSpec = CalendarSpec()
    districts: tuple[DistrictSpec, ...]
    streets: tuple[StreetSpec, ...]
    grid_classes: dict[Ident, GridClassSpec]
    communities_table: str
    baseline_allocation_table: str
    policy: PolicySpec
    pay: PaySpec
    funding: FundingSpec
    demand: DemandSpec
    ladder: LadderSpec = LadderSpec()
    duties: DutiesSpec | None = None
    mobile_grid: MobileGridSpec = MobileGridSpec()
    volunteers: VolunteerSpec = VolunteerSpec()
    service_fund: ServiceFundSpec | None = None
    discovery: DiscoverySpec | None = None
    targets: TargetSpec = TargetSpec()
    calibration: tuple[CalibrationSpec, ...] = ()
    evaluation: EvaluationSpec | None = None
    workforce: WorkforceSpec = WorkforceSpec()

    @model_validator(mode="after")
    def _time_left(self) -> "ScenarioSpec":
        """Leave and fixed duties must leave working time at every level."""
        d = self.duties
        if d is None:
            return self
        cal = self.calendar
        week = len(set(cal.working_weekdays)) * (cal.day_end_hour - cal.day_start_hour)
        for level in ("community", "street"):
            share = (
                d.leave_days_per_person_year / (len(set(cal.working_weekdays)) * 365 / 7)
                + sum(f.hours_per_person_week for f in d.fixed.values() if f.level == level) / week
            )
            if share >= 1:
                raise ValueError(
                    f"duties: leave and fixed duties at level {level} take {share:.0%} of working time; "
                    f"they must leave some time for work"
                )
        return self

    @model_validator(mode="after")
    def _references(self) -> "ScenarioSpec":
        """Ids named by discovery, duties' ``finds`` and the fund must exist; money needs a fund section."""
        cats, chans = self.demand.categories, self.demand.channels
        scheduled = self.duties.scheduled if self.duties is not None else {}
        finders = {did: d for did, d in scheduled.items() if d.finds}
        found: dict[str, float] = {}
        for did, d in finders.items():
            for cid, share in d.finds.items():
                if cid not in cats:
                    raise ValueError(
                        f"duties.scheduled.{did}.finds: unknown category {cid!r} (known: {', '.join(cats)})"
                    )
                found[cid] = found.get(cid, 0.0) + share
        for cid, total in found.items():
            if total > 1 + 1e-9:
                raise ValueError(f"duties: the shares of category {cid!r} that duties find sum to {total:g}; at most 1")
        disc = self.discovery
        if finders and disc is None:
            raise ValueError(f"duties.scheduled.{next(iter(finders))}.finds needs a discovery section")
        if disc is not None:
            for field in ("grid_channel", "surfaced_channel"):
                if getattr(disc, field) not in chans:
                    raise ValueError(
                        f"discovery.{field}: unknown channel {getattr(disc, field)!r} (known: {', '.join(chans)})"
                    )
            if disc.grid_channel == disc.surfaced_channel:
                raise ValueError("discovery.surfaced_channel must differ from discovery.grid_channel")
        self._workforce_references()
        money = [cid for cid, c in cats.items() if c.resolution is not None and c.resolution.needs_money_share > 0]
        if money and self.service_fund is None:
            raise ValueError(
                f"demand.categories.{money[0]}.resolution.needs_money_share > 0 needs a service_fund section"
            )
        return self

    def _workforce_references(self) -> None:
        """The workforce section's posts must be the pay table's, its hire level one of its levels."""
        wf, pay = self.workforce, self.pay
        for field in ("attrition_share_per_year_by_post", "promotion_share_per_year_by_post"):
            for post in getattr(wf, field):
                if post not in pay.posts:
                    raise ValueError(f"workforce.{field}: unknown post {post!r} (known: {', '.join(pay.posts)})")
        if wf.hire_level > pay.levels:
            raise ValueError(f"workforce.hire_level must be <= pay.levels ({pay.levels}), found {wf.hire_level}")
