"""Output locations: gridplan never deletes or overwrites a file it did not write."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gridplan.cli import main
from tests.conftest import ROOT, SCENARIOS

SIM = ["simulate", str(SCENARIOS / "tiny"), "--reps", "1", "--days", "20", "--processes", "1"]


def _one_line_error(capsys, *words: str) -> None:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("gridplan: error:"), err
    assert "Traceback" not in err[0]
    for w in words:
        assert w in err[0], (w, err[0])


def test_out_refuses_a_folder_with_the_users_files(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("do not lose me")
    assert main([*SIM, "--out", str(mine)]) == 2
    _one_line_error(capsys, str(mine), "notes.txt", "did not write")
    assert (mine / "notes.txt").read_text() == "do not lose me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no temporary folder left


def test_out_refuses_the_scenario_folder_and_its_parents(tiny_copy, capsys):
    before = sorted(p.name for p in tiny_copy.iterdir())
    for out in (tiny_copy, tiny_copy.parent):
        assert main(["simulate", str(tiny_copy), "--reps", "1", "--days", "20", "--out", str(out)]) == 2
        _one_line_error(capsys, "holds the scenario file")
    assert sorted(p.name for p in tiny_copy.iterdir()) == before


def test_out_refuses_a_file(tmp_path, capsys):
    f = tmp_path / "report.txt"
    f.write_text("keep")
    assert main([*SIM, "--out", str(f)]) == 2
    _one_line_error(capsys, "not a folder")
    assert f.read_text() == "keep"


def test_out_replaces_an_earlier_result_but_not_one_the_user_added_to(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*SIM, "--out", str(out)]) == 0
    first = (out / "metadata.json").read_text()
    assert main([*SIM, "--out", str(out), "--seed", "11"]) == 0  # our own result: replaced
    assert (out / "metadata.json").read_text() != first
    (out / "my_analysis.xlsx").write_text("user's work")
    capsys.readouterr()
    assert main([*SIM, "--out", str(out)]) == 2
    _one_line_error(capsys, "my_analysis.xlsx")
    assert (out / "my_analysis.xlsx").read_text() == "user's work"


def test_out_accepts_an_empty_folder(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    assert main([*SIM, "--out", str(out)]) == 0
    assert (out / "kpis.csv").is_file()


def test_bad_out_fails_before_any_computing(tmp_path, capsys, monkeypatch):
    import sim.replications

    called = []
    monkeypatch.setattr(sim.replications, "run_replications", lambda *a, **k: called.append(1))
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "x").write_text("x")
    assert main([*SIM, "--out", str(mine)]) == 2
    assert not called


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere; permissions cannot be tested as root")
def test_out_in_a_read_only_folder(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert main([*SIM, "--out", str(ro / "run")]) == 2
        _one_line_error(capsys, "cannot write")
    finally:
        ro.chmod(0o755)


def test_check_out_file_rules(tmp_path, capsys):
    good = tmp_path / "check.csv"
    assert main(["check", str(SCENARIOS / "tiny"), "--out", str(good)]) == 0
    assert main(["check", str(SCENARIOS / "tiny"), "--out", str(good)]) == 0  # its own earlier output
    capsys.readouterr()
    other = tmp_path / "budget.csv"
    other.write_text("a,b\n1,2\n")
    assert main(["check", str(SCENARIOS / "tiny"), "--out", str(other)]) == 2
    _one_line_error(capsys, "was not written by this command")
    assert other.read_text() == "a,b\n1,2\n"
    assert main(["check", str(SCENARIOS / "tiny"), "--out", str(tmp_path)]) == 2
    _one_line_error(capsys, "is a folder")
    assert main(["check", str(SCENARIOS / "tiny"), "--out", str(SCENARIOS / "tiny" / "communities.csv")]) == 2
    _one_line_error(capsys, "file of the scenario")


def test_check_header_matches_the_table(tiny):
    from gridplan.commands import CHECK_HEADER
    from solvers.policy import check_policy

    assert ",".join(check_policy(tiny, tiny.baseline).rows.columns) == CHECK_HEADER


ALLOC = str(SCENARIOS / "tiny" / "baseline_allocation.csv")
SHORT = ["--reps", "2", "--days", "20", "--processes", "1"]


@pytest.mark.parametrize(
    "argv,used",
    [
        (["simulate", "--allocation", ALLOC, *SHORT], {"seed": 7, "days": 20}),
        (["compare", "--allocation", ALLOC, *SHORT, "--seed", "5"], {"seed": 5, "days": 20}),
        (["optimize", *SHORT], {"seed": 7, "days": 20}),
        (["sweep", "--budget-yuan", "2700000:2700000:1", *SHORT], {"seed": 7, "days": 20}),
        (["run", *SHORT, "--seed", "3"], {"seed": 3, "days": 20, "compare_seed": 10}),
    ],
)
def test_metadata_records_every_setting_and_input(argv, used, tmp_path):
    import json

    out = tmp_path / "out"
    assert main([argv[0], str(SCENARIOS / "tiny"), *argv[1:], "--out", str(out)]) in (0, 1)
    meta = json.loads((out / "metadata.json").read_text())
    for k, v in used.items():
        assert meta[k] == v, (k, meta.get(k))
    settings = meta["settings"]
    assert {"reps", "days", "seed", "processes"} <= set(settings) and settings["reps"] == 2
    if argv[0] in ("optimize", "run"):
        assert settings["objective"] == "min-cost" and "validation_seeds" in meta
    inputs = meta["input_files_sha256"]
    assert all(len(h) == 64 for h in inputs.values())
    assert {p.name for p in map(Path, inputs)} >= {"scenario.yaml", "communities.csv", "baseline_allocation.csv"}
    if "--allocation" in argv:
        assert ALLOC in inputs
    if (ROOT / ".git").exists():  # a checkout (a worktree's .git is a file)
        assert isinstance(meta["git_dirty"], bool) and len(meta["git_commit"]) == 40
