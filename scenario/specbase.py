"""The base of the scenario format's models: frozen, strict, unknown keys rejected, and every number finite and
below a plausible bound named with its unit (``FIELD_MAXIMUM``, by field name)."""

from __future__ import annotations

import fnmatch
import math
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

__all__ = [
    "Frozen",
    "field_maximum",
    "FIELD_MAXIMUM",
    "FALLBACK_MAXIMUM",
    "RULE_MAXIMUM",
    "Positive",
    "NonNeg",
    "Share",
    "Ident",
]

Positive = Annotated[float, Field(gt=0)]
NonNeg = Annotated[float, Field(ge=0)]
Share = Annotated[float, Field(ge=0, le=1)]
# letters, digits, '_' and '-', not first: a leading '-' makes a spreadsheet read the id as a formula
Ident = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_\-]*$", min_length=1)]


# Plausible upper bounds, by field name (a shell-style pattern; names end in their unit).
# The first match wins; a quantity whose name matches nothing gets FALLBACK_MAXIMUM.
# They stop typos and hostile files (1e12 residents, an 'inf' deadline) from
# reaching the simulation, where they would exhaust memory or overflow int64.
FIELD_MAXIMUM: tuple[tuple[str, float, str], ...] = (
    ("seed", 2**32 - 1, "(a 32-bit seed)"),
    ("cv", 100, "(coefficient of variation)"),
    ("levels", 100, "pay levels"),
    ("multiplier", 1_000, "times the usual demand"),
    ("registered", 100_000_000, "people"),
    ("surge_mobilised", 100_000_000, "people"),
    ("city_paid_workers_per_community", 1_000, "workers per community"),
    ("handling_time_factor", 100, "times the handling time"),
    ("hire_level", 100, "(a pay level)"),
    ("*_months", 36, "months"),
    ("*_factor", 100, "times"),
    ("travel_minutes_max", 1_440, "minutes"),
    ("hours_per_person_week", 168, "hours a week per person"),
    ("leave_days_per_person_year", 366, "days a year"),
    ("times_per_year", 100_000, "times a year"),
    ("*hours_each", 168, "hours a task (a weekly block at most)"),
    ("max_planned_utilisation", 1, "(a share of available hours)"),
    ("*coverage_min", 1, "(a share)"),
    ("on_time_share_min", 1, "(a share)"),
    ("tolerance", 100, "(relative tolerance)"),
    ("target", 1e12, "(the source figure's unit)"),
    ("full_marks_at", 1e9, "(the indicator's unit)"),
    ("zero_at", 1e9, "(the indicator's unit)"),
    ("threshold_points", 100_000, "points"),
    ("weight", 1_000, "points"),
    ("*_per_late_day", 1, "(probability per late day)"),
    ("*_extra", 1, "(a probability)"),
    ("*_if_unresolved", 1, "(a probability)"),
    ("finds", 1, "(a share)"),
    ("grid", 1, "(a probability of resolution)"),
    ("community", 1, "(a probability of resolution)"),
    ("street", 1, "(a probability of resolution)"),
    ("city", 1, "(a probability of resolution)"),
    ("volunteer", 1, "(a probability of resolution)"),
    ("hold_probability", 1, "(a share of simulated years)"),
    ("*share*", 1, "(a share)"),
    ("escalate_to_*", 1, "(a probability)"),
    ("*_base", 1, "(a probability)"),
    ("*_hour", 24, "o'clock"),
    ("*weekday*", 6, "(weekday, Monday = 0)"),
    ("*_weights", 1e6, "(relative weight)"),
    ("mean_yuan", 1e8, "yuan a fix"),
    ("approval_limit_yuan", 1e8, "yuan a fix"),
    ("*_yuan_per_year", 1e7, "yuan a year per person"),
    ("*_yuan_per_year_by_level", 1e7, "yuan a year per person"),
    ("*_yuan", 1e13, "yuan a year"),
    ("*_working_hours", 8_760, "working hours"),
    ("*_hours", 8_760, "hours"),
    ("*_per_week", 1_000, "a week"),
    ("*_per_10k_per_day", 10_000, "cases per 10,000 residents a day"),
    ("*_per_worker_day", 1_000, "per worker a day"),
    ("*_per_volunteer_day", 1_000, "cases per volunteer a day"),
    ("days", 3_660, "days"),
    ("*_days", 3_660, "days"),
    ("*_day", 3_660, "days"),
)
FALLBACK_MAXIMUM = (1e9, "(generic bound: the field name carries no unit)")
# A rule's ``minimum`` is in the unit its kind names.
RULE_MAXIMUM: dict[str, tuple[float, str]] = {
    "workers_per_10k_residents": (10_000, "workers per 10,000 residents"),
    "street_office_staff_per_street": (100_000, "staff per street"),
    "secretary_assistants_per_community": (100_000, "secretary assistants per community"),
    "work_fund_yuan_per_1000_households": (1e11, "yuan a year per 1,000 households"),
    "service_fund_yuan_per_community": (1e11, "yuan a year per community"),
}


def field_maximum(field: str, rule_kind: str | None = None) -> tuple[float, str]:
    """The plausible upper bound of a numeric field and its unit, from the field's name."""
    if field == "minimum" and rule_kind in RULE_MAXIMUM:
        return RULE_MAXIMUM[rule_kind]
    for pattern, bound, unit in FIELD_MAXIMUM:
        if fnmatch.fnmatchcase(field, pattern):
            return bound, unit
    return FALLBACK_MAXIMUM


def _numbers(value: object) -> list[tuple[str, float]]:
    """The numbers in a field's value, labelled for a message ('' for a plain number)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [("", value)]
    if isinstance(value, tuple):
        return [
            (f"entry {i} ", v) for i, v in enumerate(value) if isinstance(v, (int, float)) and not isinstance(v, bool)
        ]
    return []


class Frozen(BaseModel):
    """Base: immutable, strict types, unknown keys rejected, numbers finite and plausible.

    Raises (through pydantic's ValidationError): a non-finite number in any field
    ("Input should be a finite number"), or a number above the field's plausible
    upper bound (see ``FIELD_MAXIMUM``), naming the bound and its unit.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    @field_validator("*", mode="after", check_fields=False)
    @classmethod
    def _plausible(cls, value: object, info: ValidationInfo) -> object:
        numbers = _numbers(value)
        if numbers:
            kind = info.data.get("kind")
            bound, unit = field_maximum(info.field_name or "", getattr(kind, "value", kind))
            for label, v in numbers:
                found = f", found {v:g}" if label else ""  # the loader shows a plain value itself
                if not math.isfinite(v):
                    raise ValueError(f"{label}must be a finite number{found}")
                if v > bound:
                    raise ValueError(f"{label}must be <= {bound:,.0f} {unit} (a plausible upper bound){found}")
        return value
