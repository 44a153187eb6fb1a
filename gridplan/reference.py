"""The scenario format's reference, generated from the pydantic models: JSON Schema and a Markdown page.

``gridplan schema`` writes the JSON Schema (editors validate YAML against it as it is typed);
``python -m gridplan.reference`` rewrites ``docs/scenario-reference.md``, and a test fails when the
committed page is out of date.
"""

from __future__ import annotations

import inspect
import json
import sys
import typing
from pathlib import Path

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from scenario.spec import ScenarioSpec, field_maximum

__all__ = ["json_schema", "reference_markdown", "REFERENCE_PATH"]

REFERENCE_PATH = Path(__file__).resolve().parents[1] / "docs" / "scenario-reference.md"


# What a field's name does not say (units are in the names).
MEANING = {
    "ScenarioSpec.name": "identifier; results go to results/NAME/",
    "ScenarioSpec.assumptions": "every assumption the source does not give, in words; copied into reports",
    "ScenarioSpec.seed": "default random seed (replication r uses child r of SeedSequence(seed))",
    "ScenarioSpec.communities_table": "CSV of communities, a path inside the scenario's folder",
    "ScenarioSpec.baseline_allocation_table": "CSV allocation table of today's staffing, inside the folder",
    "ScenarioSpec.duties": "every duty that takes staff time; leave it out for a pure queueing network",
    "ScenarioSpec.calibration": "figures of the source beside the model's values",
    "CalendarSpec.start_weekday": "weekday of day 0 (Monday = 0)",
    "CalendarSpec.working_weekdays": "weekdays people work (Monday = 0), each listed once",
    "CalendarSpec.warmup_days": "days left out of the KPIs (the system fills up)",
    "DistrictSpec.kind": "a district or a development zone",
    "DistrictSpec.budget_yuan": "the district's budget a year; the allocator keeps its cost within it",
    "GridClassSpec.patrols_per_week": "patrols of every grid of this class a week (the grid_patrols duty)",
    "RuleSpec.minimum": "the floor, in the unit of the rule's kind",
    "RuleSpec.scope": "the unit each requirement applies to (rounded up there for headcounts)",
    "PaySpec.level_shares": "share of workers at each of the pay levels (sums to 1)",
    "PostSpec.share": "share of community workers on this post",
    "FundingSpec.city_paid_workers_per_community": "posts the city pays in every community; districts pay the "
    "rest; the allocator never plans fewer workers in a community (rounded up)",
    "ChannelSpec.is_hotline": "a hotline channel: mobile grid workers can discover its cases first",
    "CategorySpec.share": "share of all cases in this category",
    "CategorySpec.escalate_to_community": "probability a case goes from the grid worker to the community desk",
    "CategorySpec.escalate_to_street": "probability, given it reached the desk, that it goes to the street office",
    "CategorySpec.escalate_to_city": "probability, given it reached the street office, that it goes to the city",
    "CategorySpec.volunteer_eligible": "volunteers may take cases of this category",
    "DistributionSpec.cv": "coefficient of variation (ignored for exponential and fixed)",
    "SurgeSpec.multiplier": "demand multiplier during the surge",
    "FeedbackSpec.unsatisfied_base": "probability a resident is unsatisfied at the feedback call when on time",
    "FeedbackSpec.reopen_given_unsatisfied_base": "probability an unsatisfied resident reopens the case",
    "DutySpec.level": "who does it: grid workers, the community desk, or the street office",
    "DutySpec.driver": "what the duty scales with, per community (grid, desk) or street (street)",
    "DutySpec.travel": "add the mean travel within the service circle to every task",
    "DutySpec.due_within_days": "days a task may wait before it is overdue (default: one cycle)",
    "DutySpec.carry_over": "undone tasks stay in the backlog (true) or are missed (false)",
    "DutySpec.source": "where the norm comes from (required)",
    "DutiesSpec.rule": "cases_first: a person on a duty breaks off for a case; protected_share: some stay on duties",
    "DutiesSpec.protected_share": "share of the people present kept on scheduled duties each day",
    "DutiesSpec.max_planned_utilisation": "the allocator plans each unit at most at this share of available hours",
    "TargetSpec.hold_probability": "share of simulated years the targets must hold in (gridplan robust); none: "
    "on the mean",
    "TargetSpec.hold_variants": "variant files of the scenario's folder whose years count too (a surge, growth)",
    "WorkforceSpec.headcount_table": "CSV post,level,workers of today's community workers, inside the folder; none: "
    "generated from the pay table's shares",
    "WorkforceSpec.attrition_share_per_year": "share of a post's workers leaving a year (every post without its own)",
    "WorkforceSpec.attrition_share_per_year_by_post": "attrition of named posts of the pay table",
    "WorkforceSpec.promotion_share_per_year": "share of survivors below the top level moving up one level a year",
    "WorkforceSpec.promotion_share_per_year_by_post": "promotion of named posts of the pay table",
    "WorkforceSpec.hire_level": "pay level new workers start at (1 = the lowest)",
    "WorkforceSpec.street_staff_attrition_share_per_year": "share of street party-office staff leaving a year",
    "WorkforceSpec.hiring_lead_months": "months from opening a new post to its holder starting; it counts in the "
    "staffing from the next whole year",
    "WorkforceSpec.recruits_max_share_per_year": "most a district recruits a year, as a share of its headcount; "
    "none: no limit",
    "WorkforceSpec.moves_max_share_per_year": "most of a community's workers moving to another community of its "
    "district a year",
    "WorkforceSpec.pay_rise_share_per_year": "the pay table's rise a year, on top of seniority",
    "WorkforceSpec.demand_growth_share_per_year": "growth of every channel's rate a year",
    "WorkforceSpec.budget_growth_share_per_year": "growth of every budget (districts, city, total) a year",
    "WorkforceSpec.source": "where the figures come from (or that they are assumptions)",
    "FixedDutySpec.level": "community workers or street party-office staff",
    "MobileGridSpec.max_share_of_hotline": "at most this share of a street's hotline cases is discovered first",
    "MobileGridSpec.handling_time_factor": "a discovered case needs this share of the grid handling time",
    "VolunteerSpec.weekend_active_share": "share of registered members active on a weekend day",
    "TargetSpec.on_time_share_min": "every community's on-time share must reach this",
    "TargetSpec.duty_coverage_min": "every community's and street office's duty coverage must reach this",
    "CalibrationSpec.kpi": "a city KPI or category:<id>:<column>",
    "CalibrationSpec.rule": "at_least, about (within tolerance), input, not_modelled",
    # whole sections and plain texts
    "ScenarioSpec.description": "one or two sentences shown at the top of reports and `validate`",
    "ScenarioSpec.grid_classes": "the five-colour grid classes by id (grids_<id> columns of the communities table)",
    "ScenarioSpec.evaluation": "the annual appraisal for `gridplan scorecard`; leave it out for no scorecards",
    "CalendarSpec.day_start_hour": "clock hour the working day starts (cases wait for it; 0 to 24 on all seven "
    "days: always on)",
    "CalendarSpec.day_end_hour": "clock hour the working day ends (work in progress resumes the next working day)",
    "CalendarSpec.days": "simulated days of a replication (the `--days` default), warm-up included",
    "DistrictSpec.id": "identifier; streets name it in `district`",
    "DistrictSpec.name": "name shown in tables and reports",
    "StreetSpec.id": "identifier; the communities table names it in `street_id`",
    "StreetSpec.name": "name shown in tables and reports",
    "StreetSpec.district": "id of the district (or development zone) the street belongs to",
    "GridClassSpec.name": "name shown in tables and reports (e.g. red: key attention)",
    "GridClassSpec.patrol_hours_each": "hours one patrol of one grid of this class takes (the grid_patrols duty)",
    "PolicySpec.rules": "the policy minimums by id; the check and the allocator enforce every active one",
    "RuleSpec.kind": "which minimum: workers per 10,000 residents, street-office staff per street, secretary "
    "assistants per community, work fund per 1,000 households or service fund per community",
    "RuleSpec.active": "false keeps the rule in the file but out of the check and the allocator",
    "RuleSpec.description": "the rule in words, with its source; shown in the policy check",
    "PaySpec.levels": 'number of pay levels (18 in the "3 posts, 18 levels" table)',
    "PaySpec.posts": "the posts by id, with their share of workers and pay by level",
    "PaySpec.street_staff_cost_yuan_per_year": "cost of one street party-office staff member a year (the district "
    "pays)",
    "PaySpec.mobile_worker_allowance_yuan_per_year": "allowance of one mobile grid worker a year (the district pays)",
    "PostSpec.name": "name of the post shown in tables",
    "PostSpec.pay_yuan_per_year_by_level": "annual pay at each level (one entry per level)",
    "FundingSpec.city_budget_yuan": "the city's budget a year for the posts it pays; none: no city budget row",
    "FundingSpec.total_budget_yuan": "budget of all funders a year; none: no total budget (the `--budget-yuan` "
    "default)",
    "DemandSpec.channels": "the intake channels by id with their rates; together the complaint volume",
    "DemandSpec.categories": "the complaint categories by id: share, deadline, escalation and service times",
    "DemandSpec.hour_of_day_weights": "relative arrivals in each hour of the day (24 entries, normalised)",
    "DemandSpec.day_of_week_weights": "relative arrivals on each weekday, Monday first (7 entries, normalised)",
    "DemandSpec.month_weights": "relative arrivals in each month, January first (12 entries, normalised)",
    "DemandSpec.surges": "periods of extra demand (a multiplier on every channel); volunteers mobilise then",
    "ChannelSpec.name": "name shown in tables",
    "ChannelSpec.rate_per_10k_per_day": "cases a day per 10,000 residents arriving on this channel (a year's "
    "average; the weights shape it)",
    "CategorySpec.name": "name shown in tables",
    "CategorySpec.deadline_working_hours": "working hours from arrival by which the case must be closed for good to "
    "count as on time",
    "CategorySpec.grid_service": "hours a grid worker spends on a case (plus travel within the service circle)",
    "CategorySpec.community_service": "hours the community desk spends on an escalated case",
    "CategorySpec.street_service": "hours the street office spends on an escalated case",
    "CategorySpec.city_delay": "working hours city departments take (a delay, no queue: departments are not staffed "
    "here)",
    "DistributionSpec.kind": "the shape of the distribution of service hours",
    "DistributionSpec.mean_hours": "mean hours",
    "SurgeSpec.name": "name shown in reports",
    "SurgeSpec.start_day": "first day of the surge (day 0 is the run's first day)",
    "SurgeSpec.length_days": "days the surge lasts",
    "LadderSpec.travel_minutes_max": "longest walk within the service circle; each grid task adds a uniform travel "
    "time up to this",
    "LadderSpec.feedback": "the feedback call after closure: satisfaction and reopening",
    "FeedbackSpec.delay_hours": "hours after closure before a reopened case returns to its grid worker "
    "(0 with reopening possible: the simulation runs on the event loop, about 3x slower)",
    "FeedbackSpec.unsatisfied_per_late_day": "added probability of an unsatisfied resident per day past the deadline",
    "FeedbackSpec.reopen_given_unsatisfied_per_late_day": "added probability of reopening per day past the deadline",
    "DutiesSpec.leave_days_per_person_year": "paid leave days a person takes a year (whole days, drawn at random)",
    "DutiesSpec.leave_source": "where the leave figure comes from",
    "DutiesSpec.fixed": "fixed duties by id: hours every person spends a week off cases and other duties",
    "DutiesSpec.scheduled": "scheduled duties by id: tasks that arise with their driver and wait for spare time",
    "FixedDutySpec.hours_per_person_week": "hours a week every person at the level spends on it",
    "FixedDutySpec.source": "where the norm comes from (required)",
    "DutySpec.times_per_year": "tasks a year per unit of the driver (give this or times_per_week)",
    "DutySpec.times_per_week": "tasks a week per unit of the driver (give this or times_per_year)",
    "DutySpec.hours_each": "hours one task takes (travel added when `travel`)",
    "MobileGridSpec.discoveries_per_worker_day": "problems one mobile grid worker reports a day, taken from the "
    "street's hotline cases",
    "MobileGridSpec.discovery_lead_hours": "hours earlier a discovered case arrives than the resident's call would",
    "VolunteerSpec.registered": "registered in-service party members who may volunteer on weekends",
    "VolunteerSpec.surge_mobilised": "members mobilised every day of a surge",
    "VolunteerSpec.cases_per_volunteer_day": "eligible cases one active volunteer takes a day",
    "VolunteerSpec.handling_hours": "clock hours a volunteer takes to close a case",
    "TargetSpec.wait_threshold_working_hours": "the `served_within_threshold_share` KPIs count cases whose wait "
    "before service is at most this",
    "CalibrationSpec.figure": "the figure of the source in words",
    "CalibrationSpec.source_value": "its value as the source gives it (text, e.g. 5,000+)",
    "CalibrationSpec.target": "the number the model's KPI is compared with (none for input and not_modelled)",
    "CalibrationSpec.tolerance": "relative tolerance of the `about` rule (0.1 = within 10%)",
    "CalibrationSpec.variant": "another scenario file of this folder to simulate for this figure",
    "CalibrationSpec.note": "why the figure is not modelled, or how to read the comparison",
    "CalibrationSpec.by_construction": "the inputs were chosen to give this figure: a match is by construction",
    "EvaluationSpec.indicators": "the appraisal's indicators by id, each with weight and scale (one weight > 0)",
    "EvaluationSpec.threshold_points": "a unit is flagged when its score is below this in most replications",
    "EvaluationSpec.source": "where the appraisal's design comes from",
    "IndicatorSpec.kpi": "the simulated KPI the indicator scores",
    "IndicatorSpec.weight": "points at full marks",
    "IndicatorSpec.full_marks_at": "KPI value that earns full marks (points are linear between, clipped)",
    "IndicatorSpec.zero_at": "KPI value that earns no points (above full_marks_at where less is better)",
    "IndicatorSpec.source": "where the weight and scale come from",
    "CategorySpec.response_working_hours": "first contact (the start of grid handling) is due within this many "
    "working hours of arrival (the response rate); none: no response limit",
    "CategorySpec.resolution": "whether closed cases are actually resolved, and what their fixes cost; none: every "
    "closed case counts as resolved",
    "ResolutionSpec.grid": "probability a case closed by its grid worker is resolved (with what it needs)",
    "ResolutionSpec.community": "probability a case closed at the community desk is resolved",
    "ResolutionSpec.street": "probability a case closed at the street office is resolved",
    "ResolutionSpec.city": "probability a case closed by city departments is resolved",
    "ResolutionSpec.volunteer": "probability a case volunteers handle is resolved",
    "ResolutionSpec.needs_money_share": "share of the category's cases whose fix costs money (repairs, purchased "
    "services, subsidies), paid from the community's people-service fund",
    "ResolutionSpec.fix_cost": "the cost of one fix (yuan)",
    "ResolutionSpec.source": "where the figures come from, or that they are assumptions (required)",
    "CostSpec.kind": "the cost distribution's family",
    "CostSpec.mean_yuan": "the mean cost of one fix",
    "CostSpec.cv": "coefficient of variation (ignored for exponential and fixed)",
    "FeedbackSpec.unsatisfied_if_unresolved": "added to the probability of an unsatisfied feedback call when the "
    "problem was not resolved",
    "FeedbackSpec.reopen_if_unresolved": "added to the probability an unsatisfied resident complains again (the "
    "case is reopened) when the problem was not resolved",
    "FeedbackSpec.revisit_resolution_share": "probability the reopened visit resolves a problem still unresolved",
    "DutySpec.finds": "category -> share of its problems on the grid channel this duty finds; a duty left undone "
    "lets them surface later (`discovery`)",
    "DutySpec.urgent_when_missed": "a problem this duty misses surfaces as an urgent case (shorter deadline)",
    "ServiceFundSpec.release": "how the year's fund is released: all at once, in 4 or in 12 equal tranches",
    "ServiceFundSpec.approval_limit_yuan": "a fix above this needs the street office's approval (the case goes up "
    "to it); none: no limit",
    "ServiceFundSpec.unfunded_to_city_share": "probability a fix the fund cannot pay goes up to city departments "
    "(they pay; slower)",
    "ServiceFundSpec.unfunded_resolution_share": "otherwise, probability the case closing at its level unpaid is "
    "still resolved (explained, referred)",
    "ServiceFundSpec.source": "where the release schedule and limits come from (required)",
    "DiscoverySpec.grid_channel": "the channel of grid workers' own discoveries",
    "DiscoverySpec.surfaced_channel": "the channel a problem nobody found early surfaces on (a hotline)",
    "DiscoverySpec.lookback_working_days": "a duty's recent coverage is its share of hours done over this many "
    "working days",
    "DiscoverySpec.surface_delay": "clock hours from when a duty would have found the problem to the resident's call",
    "DiscoverySpec.escalation_factor": "a problem found late escalates this many times as often at each level "
    "(capped at 1)",
    "DiscoverySpec.resolution_factor": "a problem found late is resolved this many times as often",
    "DiscoverySpec.unsatisfied_extra": "added to the probability its resident is unsatisfied",
    "DiscoverySpec.urgent_deadline_factor": "deadline multiplier of a problem a duty marked `urgent_when_missed` "
    "missed",
    "DiscoverySpec.source": "where the figures come from, or that they are assumptions (required)",
    "TargetSpec.resolution_share_min": "every community's resolution rate must reach this (none: no target)",
    "TargetSpec.satisfaction_share_min": "every community's satisfaction rate must reach this (none: no target)",
    "TargetSpec.response_share_min": "every community's response rate must reach this (none: no target)",
}


def json_schema() -> dict:
    """The JSON Schema of a scenario file (``extends:`` and tables are resolved by the loader)."""
    schema = ScenarioSpec.model_json_schema()
    schema["title"] = "gridplan scenario"
    schema.setdefault("properties", {})["extends"] = {
        "type": "string",
        "description": "a scenario file of the same folder this one overrides",
    }
    return schema


def _models(model: type[BaseModel], seen: list[type[BaseModel]]) -> None:
    if model in seen:
        return
    seen.append(model)
    for f in model.model_fields.values():
        for arg in _flatten(f.annotation):
            if inspect.isclass(arg) and issubclass(arg, BaseModel):
                _models(arg, seen)


def _flatten(t: object) -> list[object]:
    args = typing.get_args(t)
    if not args:
        return [t]
    out: list[object] = []
    for a in args:
        out += _flatten(a)
    return out


def _type_name(prop: dict) -> str:
    """A field's type as a planner reads it, from its JSON Schema."""
    if "$ref" in prop:
        return prop["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in prop:
        return " or ".join(_type_name(p) for p in prop["anyOf"])
    if "enum" in prop:
        return "one of " + ", ".join(f"`{v}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    t = prop.get("type", "any")
    if t == "array":
        items = prop.get("prefixItems") or [prop.get("items", {})]
        return "list of " + _type_name(items[0]) if items and items[0] else "list"
    if t == "object":
        return "mapping id → " + _type_name(prop.get("additionalProperties", {}))
    return {
        "number": "number",
        "integer": "whole number",
        "string": "text",
        "boolean": "true/false",
        "null": "null",
    }.get(t, t)


def _section(annotation: object) -> str:
    """A field that holds a section: the first line of that section's own description."""
    for arg in _flatten(annotation):
        if inspect.isclass(arg) and issubclass(arg, BaseModel) and arg.__doc__:
            return inspect.cleandoc(arg.__doc__).splitlines()[0]
    return ""


def _default(f) -> str:
    if f.default is PydanticUndefined:
        return "required"
    d = f.default
    if isinstance(d, BaseModel):
        return "(defaults)"
    if isinstance(d, (dict, tuple)) and not d:
        return "empty"
    return f"`{d}`"


def _unit(name: str, annotation: object) -> str:
    numeric = any(a in (int, float) for a in _flatten(annotation))
    if not numeric:
        return ""
    bound, unit = field_maximum(name)
    return f"{unit} (at most {bound:,.6g})"


def reference_markdown() -> str:
    """Every model of the scenario format: its meaning, and each field with type, default and unit."""
    models: list[type[BaseModel]] = []
    _models(ScenarioSpec, models)
    lines = [
        "# Scenario reference",
        "",
        "Generated from the pydantic models in `scenario/spec.py` by `python -m gridplan.reference`; "
        "do not edit by hand (a test compares this page with the models). `gridplan schema` writes "
        "the same format as JSON Schema for editors. Units are in the field names; the last column "
        "gives the unit and the plausible upper bound the loader enforces. Unknown keys are refused.",
        "",
    ]
    schema = ScenarioSpec.model_json_schema()
    defs = schema.get("$defs", {})
    for m in models:
        props = (schema if m is ScenarioSpec else defs.get(m.__name__, {})).get("properties", {})
        doc = inspect.cleandoc(m.__doc__ or "").strip()
        lines += [
            f"## {m.__name__}",
            "",
            doc,
            "",
            "| field | type | default | unit (bound) | meaning |",
            "|---|---|---|---|---|",
        ]
        for name, f in m.model_fields.items():
            meaning = (f.description or MEANING.get(f"{m.__name__}.{name}") or _section(f.annotation)).replace(
                "|", "\\|"
            )
            lines.append(
                f"| `{name}` | {_type_name(props.get(name, {}))} | {_default(f)} | "
                f"{_unit(name, f.annotation)} | {meaning} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Rewrite docs/scenario-reference.md (or print the JSON Schema with --schema)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--schema"]:
        print(json.dumps(json_schema(), indent=1))
        return 0
    REFERENCE_PATH.parent.mkdir(exist_ok=True)
    REFERENCE_PATH.write_text(reference_markdown(), encoding="utf-8")
    print(f"wrote {REFERENCE_PATH}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
