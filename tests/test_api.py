"""The README's Python API example runs as written."""

from __future__ import annotations

import re

from tests.conftest import ROOT


def test_readme_api_example_runs(capsys):
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Python API") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    code = code.replace('"scenarios/tiny"', repr(str(ROOT / "scenarios" / "tiny")))  # as run from the clone
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "True" in out and "duty_coverage" in out and "decided_by" in out
    assert "['baseline', 'min-cost', 'equal budget']" in out


def test_run_is_the_command_lines_main_job(tmp_path, capsys):
    """gridplan.run() is data in, data out: it prints nothing, reports its steps to the callback in order, and
    writes (with out=) the same tables as ``gridplan run`` on the same settings."""
    import pandas as pd

    import gridplan
    from gridplan.cli import main
    from workflows.run import Message, RunResult, StepFinished, StepStarted, Ticked

    settings = {"reps": 2, "days": 40, "seed": 5, "processes": 1}
    events: list = []
    job = gridplan.run(ROOT / "scenarios" / "tiny", progress=events.append, out=tmp_path / "api", **settings)
    assert capsys.readouterr().out == ""  # the workflow prints nothing
    assert isinstance(job, RunResult) and job.seed == 5 and job.compare_seed == 12
    steps = [(e.step, e.label) for e in events if isinstance(e, StepStarted)]
    assert steps == [
        ("check", ""),
        ("optimise", "min-cost"),
        ("optimise", "equal budget"),
        ("compare", ""),
        ("calibrate", ""),
        ("score", ""),
    ]
    assert [e.step for e in events if isinstance(e, StepFinished)] == [s for s, _ in steps]
    compare_ticks = events[events.index(next(e for e in events if getattr(e, "step", "") == "compare")) :]
    assert sum(e.n for e in compare_ticks if isinstance(e, Ticked)) == 3 * 2  # three allocations x 2 reps
    assert any(isinstance(e, Message) and e.text.startswith("iteration 1") for e in events)
    finished = {e.step: e.value for e in events if isinstance(e, StepFinished)}
    assert finished["compare"] is job.comparison and finished["check"] is job.baseline_check
    argv = ["--quiet", "run", str(ROOT / "scenarios" / "tiny"), "--out", str(tmp_path / "cli")]
    argv += [x for k, v in settings.items() for x in (f"--{k}", str(v))]
    assert main(argv) == 0
    api_files = sorted(p.name for p in (tmp_path / "api").iterdir())
    assert api_files == sorted(p.name for p in (tmp_path / "cli").iterdir())
    for name in (n for n in api_files if n.endswith(".csv")):
        assert (tmp_path / "api" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes(), name
    city = pd.read_csv(tmp_path / "api" / "compare_city.csv")
    assert list(city.allocation.unique()) == job.comparison.labels


def test_api_is_lazy_and_complete():
    import gridplan

    assert set(gridplan.API) <= set(dir(__import__("gridplan.api", fromlist=["x"])))
    for name in gridplan.API:
        assert callable(getattr(gridplan, name))


def test_ci_runs_exactly_the_readme_test_command():
    """CI (.ci/run) runs the README's second quick-start command word for word, and that command makes its own
    virtual environment (it must work in a fresh shell, without the first command's)."""
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line for line in block.splitlines() if line.strip() and not line.startswith("#")]
    assert len(commands) == 2
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.strip()]
    assert ci[-1] == commands[1]
    assert commands[1].startswith("python3 -m venv .venv && . .venv/bin/activate && pip install")
    assert commands[0].startswith("python3 -m venv .venv && . .venv/bin/activate && pip install")


def test_api_bounds_run_values_like_the_command_line():
    """A typo such as days=10**9 is one ValueError naming the argument, not a machine out of memory."""
    import pytest

    import gridplan

    s = gridplan.load_scenario(ROOT / "scenarios" / "tiny")
    bad = [
        ({"days": 10**9}, "days must be <= 3,660"),
        ({"days": -5}, "days must be >= 1"),
        ({"days": 3}, "calendar.warmup_days"),
        ({"reps": 0}, "reps must be >= 1"),
        ({"reps": 2.5}, "reps must be a whole number"),
        ({"reps": True}, "reps must be a whole number"),
        ({"seed": -1}, "seed must be >= 0"),
        ({"processes": float("inf")}, "processes must be a whole number"),
    ]
    for kw, message in bad:
        if kw.get("reps") == 0:
            with pytest.raises(ValueError, match=re.escape(message)):
                gridplan.simulate(s, **kw)  # type: ignore[arg-type]
            continue
        for call in (gridplan.simulate, gridplan.optimize):
            with pytest.raises(ValueError, match=re.escape(message)):
                call(s, **kw)  # type: ignore[operator]
        with pytest.raises(ValueError, match=re.escape(message)):
            gridplan.compare(s, {"baseline": s.baseline}, **kw)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=re.escape(message)):
            gridplan.sweep(s, [3e6], **kw)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="budgets_yuan must be a finite number"):
        gridplan.sweep(s, [float("inf")])
    with pytest.raises(ValueError, match=r"budget_yuan must be in \[0, "):
        gridplan.allocate(s, budget_yuan=-1)


def test_api_refuses_what_the_command_line_refuses():
    """compare / optimize / sweep answer with intervals (two replications at least); compare needs two
    allocations; sweep at least one budget; a scenario may be given as a path, and a wrong type is named."""
    import pytest

    import gridplan

    tiny = ROOT / "scenarios" / "tiny"
    s = gridplan.load_scenario(tiny)
    for call in (
        lambda: gridplan.compare(s, {"a": s.baseline, "b": s.baseline}, reps=1),
        lambda: gridplan.optimize(s, reps=1),
        lambda: gridplan.sweep(s, [3e6], reps=1),
    ):
        with pytest.raises(ValueError, match="reps must be >= 2"):
            call()
    for allocations in ({}, {"baseline": s.baseline}):
        with pytest.raises(ValueError, match="at least two allocations"):
            gridplan.compare(s, allocations)
    with pytest.raises(ValueError, match="budgets_yuan is empty"):
        gridplan.sweep(s, [])
    assert gridplan.check(str(tiny)).passed and gridplan.allocate(tiny).costs.total_yuan > 0
    with pytest.raises(gridplan.ScenarioError, match="does not exist"):
        gridplan.check("does/not/exist")
    with pytest.raises(TypeError, match="scenario must be a Scenario"):
        gridplan.check(42)  # type: ignore[arg-type]
