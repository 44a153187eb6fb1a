"""The README's Python API example runs as written."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT, SCENARIOS


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


def test_a_run_report_records_the_days_and_seed_used():
    from gridplan.api import _run_call
    from scenario.load import load_scenario

    s = load_scenario(ROOT / "scenarios" / "tiny")
    call = _run_call(s, "min-cost", 3, None, None)
    assert f"days={s.spec.calendar.days}, seed={s.spec.seed})" in call and "None" not in call
    assert _run_call(s, "min-cost", 3, 40, 5).endswith("reps=3, days=40, seed=5)")


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


def _edited(s, **changes):
    """The tiny baseline's values with some arrays changed (built from plain lists, as a notebook would)."""
    from scenario.allocation import COLUMNS, Allocation

    b = s.baseline
    fields = {f: list(getattr(b, f)) for f in COLUMNS[2:]}  # the number columns
    fields.update(changes.pop("values", {}))
    return Allocation(
        community_ids=changes.pop("community_ids", b.community_ids),
        street_ids=changes.pop("street_ids", b.street_ids),
        **fields,
    )


def test_api_matches_an_allocation_to_the_scenario_by_id_not_by_position():
    """Rows in the order C, B, A mean C, B and A (issue 20: A was checked against C's 4 workers); ids the
    scenario does not know are refused, not used by position."""
    import numpy as np
    import pytest

    import gridplan

    s = gridplan.load_scenario(ROOT / "scenarios" / "tiny")
    b = s.baseline
    order = [2, 1, 0]
    reversed_ = _edited(
        s,
        community_ids=tuple(b.community_ids[i] for i in order),
        values={f: [getattr(b, f)[i] for i in order] for f in ("workers", "secretary_assistants")}
        | {f: [getattr(b, f)[i] for i in order] for f in ("work_fund_yuan", "service_fund_yuan")},
    )
    rep = gridplan.check(s, reversed_)
    assert rep.passed and rep.workers_total == b.total_workers
    assert np.array_equal(rep.rows.actual.to_numpy(), gridplan.check(s).rows.actual.to_numpy())
    for ids, word in ((("X", "Y", "Z"), "unknown community 'X'"), (("A", "B"), "shape")):
        with pytest.raises(ValueError, match=re.escape(word)):
            gridplan.check(s, _edited(s, community_ids=ids))
    with pytest.raises(ValueError, match="unknown street 'S9'"):
        gridplan.simulate(s, _edited(s, street_ids=("S9",)), reps=1, days=20, processes=1)


@pytest.mark.parametrize(
    "values,words",
    [
        ({"workers": [-10, 6, 4]}, "Allocation.workers of 'A': must be >= 0, found -10.0"),
        ({"work_fund_yuan": [-1e9, 0, 0]}, "Allocation.work_fund_yuan of 'A': must be >= 0"),
        ({"street_office_staff": [-3]}, "Allocation.street_office_staff of 'S1': must be >= 0"),
        ({"workers": [8.99, 6, 4]}, "Allocation.workers of 'A': must be a whole number, found 8.99"),
        ({"workers": [float("nan"), 6, 4]}, "must be a finite number, found nan"),
        ({"service_fund_yuan": [float("inf"), 0, 0]}, "must be a finite number, found inf"),
        ({"workers": [10**9, 6, 4]}, "must be <= 100,000 workers per community"),
        ({"workers": ["ten", 6, 4]}, "must hold numbers"),
    ],
)
def test_api_refuses_what_the_allocation_table_reader_refuses(values, words):
    """Negative workers and funds, 8.99 workers, NaN and absurd values: a ValueError naming the field, the
    community and the value, before anything runs (issue 20: they ran, cost -998 M yuan, or became 8)."""
    import gridplan

    s = gridplan.load_scenario(ROOT / "scenarios" / "tiny")
    with pytest.raises(ValueError, match=re.escape(words)):
        gridplan.simulate(s, _edited(s, values=values), reps=1, days=20, processes=1)


def test_api_compare_names_the_type_it_needs():
    import gridplan

    s = gridplan.load_scenario(ROOT / "scenarios" / "tiny")
    with pytest.raises(TypeError, match="allocations must be a mapping label -> allocation.*found list"):
        gridplan.compare(s, [s.baseline, s.baseline], reps=2, days=20)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="allocation must be an Allocation, a path .* found int"):
        gridplan.check(s, 5)  # type: ignore[arg-type]


def test_allocation_is_part_of_the_api():
    """A notebook builds allocations from the package it imports, not from an internal module."""
    import gridplan

    s = gridplan.load_scenario(SCENARIOS / "tiny")
    assert gridplan.Allocation is type(s.baseline) and "Allocation" in gridplan.__all__


@pytest.mark.parametrize(
    "kw,error,words",
    [
        ({"probability": "0.8"}, ValueError, "probability must be a number strictly between 0 and 1"),
        ({"probability": float("nan")}, ValueError, "probability must be a number strictly between 0 and 1"),
        ({"levels": None}, TypeError, "levels must be a list or tuple of probabilities or 'mean'"),
        ({"levels": 0.5}, TypeError, "levels must be a list or tuple of probabilities or 'mean'"),
        ({"levels": "mean,0.9"}, TypeError, "levels must be a list or tuple"),
        ({"levels": [0.5] * 11}, ValueError, "levels must hold at most 10 probabilities, found 11"),
        ({"levels": ["mean", 2]}, ValueError, "levels[1] must be a number strictly between 0 and 1"),
        ({"levels": ["average"]}, ValueError, "levels[0] must be a number strictly between 0 and 1"),
        ({"variants": "grow.yaml"}, TypeError, "variants must be a list or tuple of file names"),
        ({"variants": [5]}, TypeError, "variants[0] must be a file name of the scenario's folder, found 5"),
        ({"variants": [" "]}, ValueError, "variants[0] must be a file name"),
    ],
)
def test_api_robust_refuses_what_the_command_line_refuses(kw, error, words, tmp_path):
    """probability, levels and variants as ``gridplan robust`` parses them: one error naming the argument,
    before anything is simulated or written (they failed deep inside, or a file name was read letter by
    letter)."""
    import gridplan

    s = gridplan.load_scenario(ROOT / "scenarios" / "tiny")
    kw = {"probability": 0.8} | kw
    with pytest.raises(error, match=re.escape(words)):
        gridplan.robust(s, processes=1, out=tmp_path / "robust", **kw)
    assert not (tmp_path / "robust").exists()


def test_robust_options_take_mean_as_the_command_line_does():
    """The word mean is the mean rule (None), as in ``--levels mean,0.9``; a list becomes the stored tuple."""
    from gridplan.cli import _levels
    from workflows.robust import RobustOptions

    o = RobustOptions(probability=0.9, variants=["surge.yaml"], levels=["mean", 0.9])
    assert o.levels == _levels("mean,0.9") == (None, 0.9)
    assert o.variants == ("surge.yaml",) and o.probability == 0.9


def test_api_plan_bounds_run_values_without_replications(tmp_path):
    """reps=0 (no simulation) skips none of the bounds ``gridplan plan --reps 0`` applies: a seed of -5 or
    10**9 days is refused before anything is planned or written."""
    import gridplan

    s = gridplan.load_scenario(ROOT / "scenarios" / "tiny")
    for kw, words in (
        ({"reps": 0, "seed": -5}, "seed must be >= 0"),
        ({"reps": 0, "days": 10**9}, "days must be <= 3,660"),
        ({"reps": 0, "processes": "x"}, "processes must be a whole number"),
        ({"reps": -1}, "reps must be >= 0"),
    ):
        with pytest.raises(ValueError, match=re.escape(words)):
            gridplan.plan(s, out=tmp_path / "plan", **kw)  # type: ignore[arg-type]
        assert not (tmp_path / "plan").exists()


@pytest.mark.parametrize(
    "kw,words",
    [
        ({"max_change_workers": -1}, "max_change_workers must be >= 0, found -1"),
        ({"max_change_workers": 2.5}, "max_change_workers must be a whole number, found 2.5"),
        ({"max_change_workers": float("nan")}, "max_change_workers must be a whole number, found nan"),
        ({"max_change_workers": "3"}, "max_change_workers must be a whole number, found '3'"),
        ({"max_change_workers": 10**6}, "max_change_workers must be <= 100,000"),
        ({"objective": "equity", "equity_spread_per_10k": float("inf")}, "equity_spread_per_10k must be a finite"),
        ({"objective": "equity", "equity_spread_per_10k": float("nan")}, "equity_spread_per_10k must be a finite"),
        ({"objective": "equity", "equity_spread_per_10k": -1}, "equity_spread_per_10k must be >= 0"),
        ({"target_exempt": (99,)}, "target_exempt must hold community indices 0 to 2, found 99"),
        ({"target_exempt": (-1,)}, "target_exempt[0] must be a community's index"),
        ({"outcome_exempt": 1}, "outcome_exempt must be a list or tuple"),
        ({"min_workers": (1, 2)}, "min_workers must hold one value per community (3 in the scenario), found 2"),
        ({"min_workers": (1, 2, float("nan"))}, "min_workers[2] must be a finite number, found nan"),
        ({"free_mobile": "no"}, "free_mobile must be True or False, found 'no'"),
        ({"objective": "cheapest"}, "objective must be one of min-cost, max-service, rebalance, equity"),
    ],
)
def test_api_refuses_allocation_options_the_command_line_refuses(kw, words):
    """--max-change and --equity-spread-per-10k's bounds, and the internal per-community options, hold for
    every caller of AllocationOptions: one ValueError naming the option (the solver, numpy or an index failed
    deep inside, or -1 exempted the last community)."""
    import gridplan

    s = gridplan.load_scenario(ROOT / "scenarios" / "tiny")
    calls = [
        lambda: gridplan.allocate(s, **kw),
        lambda: gridplan.optimize(s, reps=2, days=20, processes=1, **kw),
        lambda: gridplan.run(s, reps=2, days=20, processes=1, **kw),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=re.escape(words)):
            call()


def test_allocation_options_keep_what_the_command_line_accepts():
    from solvers.lpmodel import AllocationOptions

    o = AllocationOptions(max_change_workers=2.0, equity_spread_per_10k=3, target_exempt=[2], min_workers=[1, 2, 3])
    assert o.max_change_workers == 2 and isinstance(o.max_change_workers, int)
    assert o.equity_spread_per_10k == 3.0 and o.target_exempt == (2,) and o.min_workers == (1.0, 2.0, 3.0)


def test_the_main_jobs_optimisations_beside_each_other_are_those_one_after_the_other(tmp_path, monkeypatch):
    """On a pool of workers the equal budget's optimisation runs beside the first (``sim.workers.Beside``): the
    same events in the same order (each plan's together, the first plan's first) and the same tables, byte for
    byte, as on one process, where they run one after the other."""
    import gridplan
    import sim.workers

    started: list[object] = []
    real = sim.workers.Beside

    def counted(fn):
        started.append(fn)
        return real(fn)

    monkeypatch.setattr("workflows.run.Beside", counted)
    runs = {}
    for processes in (1, 2):
        events: list = []
        gridplan.run(
            ROOT / "scenarios" / "tiny",
            progress=events.append,
            out=tmp_path / str(processes),
            reps=2,
            days=40,
            seed=5,
            processes=processes,
        )
        runs[processes] = [
            (type(e).__name__, getattr(e, "step", ""), getattr(e, "text", ""), getattr(e, "n", 0)) for e in events
        ]
        assert len(started) == processes - 1  # beside on two processes only
    assert runs[1] == runs[2]
    names = sorted(p.name for p in (tmp_path / "1").iterdir() if p.suffix == ".csv")
    assert names and names == sorted(p.name for p in (tmp_path / "2").iterdir() if p.suffix == ".csv")
    for name in names:
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes(), name
