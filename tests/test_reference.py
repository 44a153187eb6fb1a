"""The scenario reference and JSON Schema are generated from the models and kept up to date."""

from __future__ import annotations

import json

from gridplan.cli import main
from gridplan.reference import REFERENCE_PATH, json_schema, reference_markdown


def test_committed_reference_is_up_to_date():
    assert REFERENCE_PATH.read_text(encoding="utf-8") == reference_markdown(), (
        "docs/scenario-reference.md is out of date: run python -m gridplan.reference"
    )


def test_reference_lists_every_field_of_the_duty_model():
    text = reference_markdown()
    for field in (
        "max_planned_utilisation",
        "leave_days_per_person_year",
        "due_within_days",
        "carry_over",
        "patrols_per_week",
        "duty_coverage_min",
    ):
        assert f"`{field}`" in text, field


def test_schema_command(tmp_path, capsys):
    assert main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(json.dumps(json_schema()))
    assert {"duties", "demand", "policy", "extends"} <= set(printed["properties"])
    out = tmp_path / "scenario.schema.json"
    assert main(["schema", "--out", str(out)]) == 0
    assert json.loads(out.read_text()) == printed
    other = tmp_path / "notes.txt"
    other.write_text("mine")
    assert main(["schema", "--out", str(other)]) == 2 and other.read_text() == "mine"


def test_every_field_has_a_meaning():
    """No row of the reference leaves its meaning empty, and no MEANING entry names a field that does not exist."""
    import re

    from gridplan.reference import MEANING, _models
    from scenario.spec import ScenarioSpec

    rows = [re.split(r"(?<!\\)\|", line) for line in reference_markdown().splitlines() if line.startswith("| `")]
    assert rows and all(len(cells) == 7 for cells in rows)  # "", field, type, default, unit, meaning, ""
    empty = [cells[1].strip() for cells in rows if not cells[5].strip()]
    assert not empty, f"fields without a meaning: {empty}"
    models: list = []
    _models(ScenarioSpec, models)
    fields = {f"{m.__name__}.{name}" for m in models for name in m.model_fields}
    assert set(MEANING) <= fields, sorted(set(MEANING) - fields)
