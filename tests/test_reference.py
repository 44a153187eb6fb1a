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
