"""Output locations: gridplan never deletes or overwrites a file it did not write."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gridplan.cli import main
from tests.conftest import ROOT, SCENARIOS

SIM = ["simulate", str(SCENARIOS / "tiny"), "--reps", "1", "--days", "20", "--processes", "1", "--case-log"]


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


def test_compare_refuses_the_out_folder_before_reading_the_tables(tiny_copy, tmp_path, capsys):
    """A refused --out is the only thing compare says: not after a partial table's note on its missing rows."""
    (tiny_copy / "part.csv").write_text("level,id,workers\ncommunity,A,5\n")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("do not lose me")
    argv = ["compare", str(tiny_copy), "--allocation", str(tiny_copy / "part.csv"), "--reps", "2", "--days", "20"]
    assert main([*argv, "--out", str(mine)]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.count("\n") == 1 and "notes.txt" in out.err
    assert main([*argv, "--out", str(tmp_path / "fresh"), "--processes", "1"]) == 0  # the table itself is fine
    assert "row(s) missing" in capsys.readouterr().out


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


# ------------------------------------------------------------------ issue 20: files gridplan did not write
def test_out_refuses_a_file_the_user_put_in_a_subfolder(tmp_path, capsys):
    """The whole tree is checked against the manifest, not only the top-level names (issue 20: a planner's
    r1/case_log/mine.txt was deleted by rerunning simulate --out r1)."""
    out = tmp_path / "r1"
    assert main([*SIM, "--out", str(out)]) == 0
    assert (out / "case_log").is_dir()
    mine = out / "case_log" / "mine.txt"
    mine.write_text("my notes")
    capsys.readouterr()
    assert main([*SIM, "--out", str(out)]) == 2
    _one_line_error(capsys, "did not write", "case_log/mine.txt")
    assert mine.read_text() == "my notes"
    mine.unlink()
    (out / "case_log" / "mine").mkdir()  # an empty folder of the planner's counts too
    assert main([*SIM, "--out", str(out)]) == 2
    _one_line_error(capsys, "case_log/mine")
    (out / "case_log" / "mine").rmdir()
    assert main([*SIM, "--out", str(out)]) == 0  # ours again: replaced


def test_out_refuses_a_result_file_the_user_changed(tmp_path, capsys):
    """A kpis.csv edited and saved in a spreadsheet is the planner's now: it is not overwritten."""
    out = tmp_path / "r1"
    assert main([*SIM, "--out", str(out)]) == 0
    kpis = out / "kpis.csv"
    kpis.write_text(kpis.read_text() + "my row,1,2,3,\n")
    capsys.readouterr()
    assert main([*SIM, "--out", str(out)]) == 2
    _one_line_error(capsys, "changed since gridplan wrote them", "kpis.csv")
    assert kpis.read_text().endswith("my row,1,2,3,\n")


def _dead_pid() -> int:
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_killed_runs_temporary_folder_is_removed_by_the_next_run(tmp_path):
    """A hidden .NAME.tmp-* folder that gridplan marked, whose process is gone, is removed by the next run into
    the same --out; an unmarked one (not gridplan's) and one of a live process stay."""
    import json
    import socket

    out = tmp_path / "r1"
    host = socket.gethostname()
    stale = tmp_path / ".r1.tmp-killed1"
    stale.mkdir()
    (stale / "kpis.csv").write_text("half")
    (stale / ".gridplan-temporary").write_text(json.dumps({"tool": "gridplan", "pid": _dead_pid(), "host": host}))
    stale_old = tmp_path / ".r1.old-killed2"
    (stale_old / "x").mkdir(parents=True)
    (stale_old / ".gridplan-temporary").write_text(json.dumps({"tool": "gridplan", "pid": _dead_pid(), "host": host}))
    live = tmp_path / ".r1.tmp-running"
    live.mkdir()
    (live / ".gridplan-temporary").write_text(json.dumps({"tool": "gridplan", "pid": os.getpid(), "host": host}))
    mine = tmp_path / ".r1.tmp-mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    assert main([*SIM, "--out", str(out)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [".r1.tmp-mine", ".r1.tmp-running", "r1"]
    assert (mine / "notes.txt").read_text() == "mine"


def test_out_with_a_name_too_long_is_one_line(tmp_path, capsys):
    """ENAMETOOLONG is caught before any computing, counting the temporary name gridplan adds."""
    for name in ("x" * 300, "y" * 245):
        assert main([*SIM, "--out", str(tmp_path / name)]) == 2
        _one_line_error(capsys, "--out", "at most 241 bytes")
    assert main(["check", str(SCENARIOS / "tiny"), "--out", str(tmp_path / ("z" * 300 + ".csv"))]) == 2
    _one_line_error(capsys, "--out", "at most")
    assert list(tmp_path.iterdir()) == []


def test_csv_cells_that_a_spreadsheet_would_run_are_inert(tmp_path):
    """A label from a file name (=HYPERLINK(...).csv) reaches compare's CSVs with a leading apostrophe (text
    for a spreadsheet); negative numbers are still written as numbers."""
    import csv

    from gridplan.spreadsheet import inert_cell

    evil = tmp_path / "=HYPERLINK(1)@x.csv"
    text = (SCENARIOS / "tiny" / "baseline_allocation.csv").read_text()
    evil.write_text(text.replace("community,A,10,", "community,A,14,"))  # differences of both signs
    out = tmp_path / "cmp"
    argv = ["--quiet", "compare", str(SCENARIOS / "tiny"), "--allocation", str(evil), *SHORT, "--out", str(out)]
    assert main(argv) == 0
    cells = [c for f in out.glob("*.csv") for row in csv.reader(open(f, encoding="utf-8")) for c in row]
    assert "'=HYPERLINK(1)@x" in cells
    formulas = [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert formulas and all(float(c) < 0 or c == "-0.0" for c in formulas), formulas  # numbers only
    assert [inert_cell(c) for c in ("=1+1", "+1-1x", "-2+3+cmd|' /C calc'!A0", "@SUM(A1)", "\t=1", "\r=1")] == [
        "'=1+1",
        "'+1-1x",
        "'-2+3+cmd|' /C calc'!A0",
        "'@SUM(A1)",
        "'\t=1",
        "'\r=1",
    ]
    assert [inert_cell(c) for c in ("-3.5", "-1e-05", "+4", "A-1", "")] == ["-3.5", "-1e-05", "+4", "A-1", ""]
