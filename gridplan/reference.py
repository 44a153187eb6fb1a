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
    "CalendarSpec.working_weekdays": "weekdays people work (Monday = 0)",
    "CalendarSpec.warmup_days": "days left out of the KPIs (the system fills up)",
    "DistrictSpec.kind": "a district or a development zone",
    "DistrictSpec.budget_yuan": "the district's budget a year; the allocator keeps its cost within it",
    "GridClassSpec.patrols_per_week": "patrols of every grid of this class a week (the grid_patrols duty)",
    "RuleSpec.minimum": "the floor, in the unit of the rule's kind",
    "RuleSpec.scope": "the unit each requirement applies to (rounded up there for headcounts)",
    "PaySpec.level_shares": "share of workers at each of the pay levels (sums to 1)",
    "PostSpec.share": "share of community workers on this post",
    "FundingSpec.city_paid_workers_per_community": "posts the city pays in every community; districts pay the rest",
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
    "FixedDutySpec.level": "community workers or street party-office staff",
    "MobileGridSpec.max_share_of_hotline": "at most this share of a street's hotline cases is discovered first",
    "MobileGridSpec.handling_time_factor": "a discovered case needs this share of the grid handling time",
    "VolunteerSpec.weekend_active_share": "share of registered members active on a weekend day",
    "TargetSpec.on_time_share_min": "every community's on-time share must reach this",
    "TargetSpec.duty_coverage_min": "every community's and street office's duty coverage must reach this",
    "CalibrationSpec.kpi": "a city KPI or category:<id>:<column>",
    "CalibrationSpec.rule": "at_least, about (within tolerance), input, not_modelled",
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
            meaning = (f.description or MEANING.get(f"{m.__name__}.{name}", "")).replace("|", "\\|")
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
