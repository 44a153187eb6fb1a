"""Every kind of bad input gives one clear line, exit code 2 and no traceback."""

from __future__ import annotations

import shutil

import pytest

from gridplan.cli import main
from scenario.errors import ScenarioError
from scenario.load import load_scenario
from tests.conftest import SCENARIOS, edit

YAML = "scenario.yaml"
CSV = "communities.csv"
ALLOC = "baseline_allocation.csv"

# (file, old text, new text, words the message must contain)
CASES = {
    "unknown key": (YAML, "seed: 7", "seed: 7\nsede: 8", ["unknown field 'sede'"]),
    "missing key": (YAML, "communities_table: communities.csv\n", "", ["missing required field 'communities_table'"]),
    "misspelt required key": (
        YAML,
        "deadline_working_hours: 18",
        "deadline_workng_hours: 18",
        ["missing required field", ".deadline_working_hours'", "found unknown field 'deadline_workng_hours'"],
    ),
    "wrong type": (YAML, "seed: 7", 'seed: "seven"', ["field 'seed'", "valid integer", "'seven'"]),
    "negative count": (
        YAML,
        "patrols_per_week: 5,",
        "patrols_per_week: -5,",
        ["grid_classes.busy.patrols_per_week", "greater than or equal to 0", "-5"],
    ),
    "zero deadline": (
        YAML,
        "deadline_working_hours: 18",
        "deadline_working_hours: 0",
        ["deadline_working_hours", "greater than 0", "0"],
    ),
    "duplicate district id": (
        YAML,
        "streets:",
        "  - {id: D1, name: again}\nstreets:",
        ["districts.1.id", "duplicate id 'D1'"],
    ),
    "duplicate yaml key": (YAML, "seed: 7", "seed: 7\nseed: 8", ["duplicate key 'seed'", "line 8"]),
    "street in unknown district": (
        YAML,
        "district: D1}",
        "district: D9}",
        ["streets.0.district", "unknown district 'D9'"],
    ),
    "bad rule scope": (
        YAML,
        "minimum: 6, scope: street}",
        "minimum: 6, scope: community}",
        ["policy.rules.street_office_staff", "scope 'community' does not fit"],
    ),
    "shares not summing to one": (YAML, "share: 0.7", "share: 0.6", ["category shares must sum to 1", "0.9"]),
    "yaml syntax": (YAML, "seed: 7", "seed: [7", ["YAML error at line", "scenario.yaml"]),
    "missing table": (
        YAML,
        "communities_table: communities.csv",
        "communities_table: nowhere.csv",
        ["nowhere.csv", "does not exist"],
    ),
    "missing column": (
        CSV,
        None,
        "community_id,street_id,urban_residents,grids_busy,grids_quiet\nA,S1,5000,2,1\n",
        ["communities.csv", "missing column(s) households"],
    ),
    "non-numeric cell": (
        CSV,
        "B,S1,3000,",
        "B,S1,three thousand,",
        ["communities.csv: line 3, column urban_residents", "'three thousand'"],
    ),
    "zero residents": (CSV, "C,S1,2000,", "C,S1,0,", ["line 4, column urban_residents", "must be > 0", "found 0"]),
    "duplicate community": (
        CSV,
        "C,S1,2000",
        "A,S1,2000",
        ["line 4, column community_id", "duplicate id 'A'", "line 2"],
    ),
    "unknown street": (CSV, "B,S1,", "B,S7,", ["line 3, column street_id", "unknown street 'S7'"]),
    "households above residents": (
        CSV,
        "C,S1,2000,800",
        "C,S1,2000,2500",
        ["line 4, column households", "<= urban_residents (2000)", "found 2500"],
    ),
    "no grids": (CSV, "C,S1,2000,800,80,60,1,0", "C,S1,2000,800,80,60,0,0", ["line 4", "no grids"]),
    "old routine section": (
        YAML,
        "targets:",
        "routine: {case_duty_share: 0.5}\ntargets:",
        ["'routine' was replaced by 'duties'"],
    ),
    "duty without source": (
        YAML,
        'source: "invented: every ordinary household twice a year, 30 minutes"',
        'source: ""',
        ["duties.scheduled.visits_ordinary.source", "at least 1 character"],
    ),
    "duty with two frequencies": (
        YAML,
        "times_per_year: 2, hours_each: 0.5,",
        "times_per_year: 2, times_per_week: 1, hours_each: 0.5,",
        ["duties.scheduled.visits_ordinary", "exactly one of times_per_year and times_per_week"],
    ),
    "special households above households": (
        CSV,
        "A,S1,5000,2000,200,",
        "A,S1,5000,2000,2500,",
        ["line 2, column special_households", "<= households"],
    ),
    "missing special households column": (
        CSV,
        None,
        "community_id,street_id,urban_residents,households,party_members,grids_busy,grids_quiet\nA,S1,5000,2000,150,2,1\nB,S1,3000,1200,90,1,1\nC,S1,2000,800,60,1,0\n",
        ["missing column special_households", "visits_ordinary"],
    ),
    "leave and fixed duties fill the week": (
        YAML,
        "hours_per_person_week: 2,",
        "hours_per_person_week: 44,",
        ["level community", "leave some time for work"],
    ),
    "allocation negative": (
        ALLOC,
        "community,B,6,",
        "community,B,-6,",
        ["baseline_allocation.csv: line 3, column workers", ">= 0", "-6"],
    ),
    "allocation unknown community": (
        ALLOC,
        "community,C,",
        "community,Z,",
        ["line 4, column id", "unknown community 'Z'"],
    ),
    "allocation missing row": (ALLOC, "community,C,4,1,28800,300000,,\n", "", ["missing row(s) for C"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_clear_line(case, tiny_copy, capsys):
    fname, old, new, words = CASES[case]
    if old is None:
        (tiny_copy / fname).write_text(new)
    else:
        edit(tiny_copy / fname, old, new)
    with pytest.raises(ScenarioError) as info:
        load_scenario(tiny_copy)
    message = str(info.value)
    assert "\n" not in message
    for w in words:
        assert w in message, f"{w!r} not in {message!r}"
    # and through the command line: exit 2, one line on stderr, no traceback
    assert main(["validate", str(tiny_copy)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and words[0] in err


def test_missing_scenario_file(tmp_path, capsys):
    assert main(["check", str(tmp_path / "absent.yaml")]) == 2
    err = capsys.readouterr().err
    assert "absent.yaml: scenario file does not exist" in err and "did you mean" not in err
    (tmp_path / "weihai").mkdir()
    (tmp_path / "weihai" / "scenario.yaml").write_text("name: x\n")
    assert main(["check", str(tmp_path / "wiehai")]) == 2  # a typo of a folder beside it
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"(did you mean {tmp_path / 'weihai'}?)" in err
    assert main(["check", str(tmp_path / "weihai" / "scenaro.yaml")]) == 2
    assert f"(did you mean {tmp_path / 'weihai' / 'scenario.yaml'}?)" in capsys.readouterr().err
    assert main(["check", str(tmp_path / ("a" * 300) / "x")]) == 2  # a name too long for the system
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a scenario path that can be read (File name too long)" in err


def test_extends_cycle(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(ScenarioError, match="cycle"):
        load_scenario(tmp_path / "a.yaml")


def test_scenario_is_immutable(tiny):
    with pytest.raises(ValueError):
        tiny.urban_residents[0] = 1
    import pydantic

    with pytest.raises(pydantic.ValidationError):
        tiny.spec.seed = 3  # type: ignore[misc]
    with pytest.raises(ValueError):
        tiny.baseline.workers[0] = 0


def test_targets_in_messages_are_not_rounded_up():
    """A 99.9% target is not printed as 100% (nor 0.855 as 86%)."""
    from scenario.text import percent

    assert [percent(x) for x in (0.9, 0.999, 0.855, 1.0)] == ["90%", "99.9%", "85.5%", "100%"]


def test_exponent_without_a_point_is_a_number(tiny_copy):
    """PyYAML (YAML 1.1) reads 1e9 as text and the field then fails as 'not a number'; a planner means 10^9."""
    from scenario.load import load_scenario

    text = (tiny_copy / "scenario.yaml").read_text()
    assert "street_staff_cost_yuan_per_year: 80000" in text
    (tiny_copy / "scenario.yaml").write_text(text.replace("cost_yuan_per_year: 80000", "cost_yuan_per_year: 8e4"))
    assert load_scenario(tiny_copy).spec.pay.street_staff_cost_yuan_per_year == 80_000


def test_messages_show_one_path_style(tmp_path, monkeypatch, capsys):
    """YAML, extends and field errors name the file the same way: relative to the current folder when inside."""
    import shutil

    from gridplan.cli import main
    from tests.conftest import SCENARIOS

    shutil.copytree(SCENARIOS / "tiny", tmp_path / "t")
    monkeypatch.chdir(tmp_path)
    yaml_file = tmp_path / "t" / "scenario.yaml"
    good = yaml_file.read_text()
    errors = []
    for text in (good + "a: [1,\n", good + "sede: 1\n"):
        yaml_file.write_text(text)
        assert main(["validate", "t"]) == 2 and main(["validate", str(tmp_path / "t")]) == 2
        errors += capsys.readouterr().err.splitlines()
    (tmp_path / "t" / "v.yaml").write_text("extends: nowhere.yaml\n")
    assert main(["validate", "t/v.yaml"]) == 2
    errors += capsys.readouterr().err.splitlines()
    assert len(errors) == 5
    assert all(
        e.startswith(("gridplan: error: t/scenario.yaml: ", "gridplan: error: t/nowhere.yaml: ")) for e in errors
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["validate", "{long}/x"],
        ["check", "{weihai}", "--allocation", "{long}.csv"],
        ["compare", "{weihai}", "--allocation", "{weihai}/{name}.csv", "--reps", "2", "--days", "20"],
        ["study", "{long}"],
        ["study", "{long}.yaml"],
    ],
)
def test_a_name_too_long_for_the_system_is_one_line(argv, tmp_path, capsys):
    """A path with a name longer than the system allows (255 bytes) is refused like a missing file: one line,
    exit 2, no traceback (the system's "File name too long" is not a crash)."""
    name = "a" * 300
    values = {"long": str(tmp_path / name), "name": name, "weihai": str(SCENARIOS / "weihai")}
    assert main([a.format(**values) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and err.startswith("gridplan: error: ")


def test_quiet_and_verbose_after_the_command_too():
    """``gridplan simulate ... -q`` as well as ``gridplan -q simulate ...``; neither given: both off."""
    from gridplan.cli import build_parser

    parse = build_parser().parse_args
    for argv in (["-q", "validate", "x"], ["validate", "x", "-q"], ["validate", "x", "--quiet"]):
        a = parse(argv)
        assert a.quiet is True and a.verbose is False, argv
    assert parse(["simulate", "x", "-v"]).verbose is True and parse(["-v", "simulate", "x"]).verbose is True
    a = parse(["validate", "x"])
    assert a.quiet is False and a.verbose is False


def test_paths_that_are_not_files_are_named_as_such(tmp_path, capsys):
    """An empty path is refused (it would read as the current folder); a pipe is not a regular file, not a
    missing one; a suggestion is never the path typed nor a broken link; a name with a line break in it is
    shown escaped, not as a look-alike."""
    import os

    from tests.conftest import SCENARIOS

    for argv in (["validate", ""], ["study", " "], ["simulate", str(SCENARIOS / "tiny"), "--out", ""]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "expected a path, found" in err, argv
    os.mkfifo(tmp_path / "pipe")
    assert main(["validate", str(tmp_path / "pipe")]) == 2
    assert "pipe: not a regular file" in capsys.readouterr().err
    (tmp_path / "loop1").symlink_to("loop2")
    (tmp_path / "loop2").symlink_to("loop1")
    assert main(["validate", str(tmp_path / "loop1")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "did you mean" not in err
    (tmp_path / "abc\ndef").mkdir()
    assert main(["validate", str(tmp_path / "abc def")]) == 2
    shown = ascii(str(tmp_path / "abc\ndef"))  # quoted, the line break escaped
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"(did you mean {shown}?)" in err
    table_dir = tmp_path / "t"
    shutil.copytree(SCENARIOS / "tiny", table_dir)
    (table_dir / "folder.csv").mkdir()
    assert main(["check", str(table_dir), "--allocation", str(table_dir / "folder.csv")]) == 2
    assert "folder.csv: not a regular file (a folder or a pipe); expected a CSV table" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("cell", "ok"),
    [
        ("10", True),
        ("+10", True),
        ("1e1", True),
        ("10.", True),
        (" 10 ", True),
        ("1_0", False),
        ("１０", False),
        ("٣", False),
        ("0x10", False),
        ("1,000", False),
    ],
)
def test_table_numbers_are_written_with_the_digits_0_to_9(cell, ok, tmp_path, capsys):
    """A table's number is what a spreadsheet writes: 0-9, a sign, a point, an exponent. Python's float()
    also reads 1_0 and full-width or Arabic-Indic digits; such a cell is refused in one line, not read as 10."""
    from tests.conftest import SCENARIOS

    shutil.copytree(SCENARIOS / "tiny", tmp_path / "t")
    table = tmp_path / "t" / "a.csv"
    table.write_text(f'level,id,workers\ncommunity,A,"{cell}"\n', encoding="utf-8")  # quoted: 1,000
    code = main(["check", str(tmp_path / "t"), "--allocation", str(table), "--partial"])
    err = capsys.readouterr().err
    if ok:
        assert code in (0, 1) and "error" not in err  # read (the check may pass or fail on policy)
    else:
        assert code == 2 and err.count("\n") == 1 and "column workers: expected a number" in err
