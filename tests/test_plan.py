"""Multi-year plans (issue 22): headcount conserved year to year, the steady state of the level mix, a one-year
plan equal to today's static allocation, the cost of a faster path, the recruitment limit, the command."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pandas as pd
import pytest

from gridplan.cli import main
from scenario.load import load_scenario
from scenario.workforce import average_pay, initial_stock, project, spread, steady_state, workforce_rates
from solvers.allocator import allocate
from solvers.costs import cost_per_unit, funder_costs
from solvers.errors import InfeasibleError
from solvers.lpmodel import AllocationOptions
from solvers.pathmodel import lead_delay, solve_path
from tests.conftest import SCENARIOS, edit
from workflows.plan import PlanOptions, plan

# A tiny city that needs more people than it has (the planning margin lowered to 30%: 11 / 7 / 5 workers
# against 10 / 6 / 4 today), two posts on three pay levels, and every workforce figure set.
WORKFORCE = """workforce:
  attrition_share_per_year: 0.1
  attrition_share_per_year_by_post: {head: 0.05}
  promotion_share_per_year: 0.4
  hiring_lead_months: 6
  recruits_max_share_per_year: 0.25
  moves_max_share_per_year: 0.2
  pay_rise_share_per_year: 0.03
  demand_growth_share_per_year: 0.05
  budget_growth_share_per_year: 0.04
  source: "invented for the tests"
targets:
"""
PAY = """pay:
  levels: 3
  level_shares: [0.5, 0.3, 0.2]
  posts:
    head: {name: "head", share: 0.25, pay_yuan_per_year_by_level: [70000, 75000, 80000]}
    worker: {name: "community worker", share: 0.75, pay_yuan_per_year_by_level: [55000, 60000, 65000]}"""


def growing_city(folder, **workforce: str) -> None:
    """Edit a copy of tiny into the growing city above; ``workforce`` replaces lines of its section."""
    path = folder / "scenario.yaml"
    edit(path, "targets:\n", WORKFORCE)
    for key, value in workforce.items():
        text = path.read_text()
        start = text.index(f"  {key}:")
        path.write_text(text[:start] + f"  {key}: {value}" + text[text.index("\n", start) :])
    edit(
        path,
        'pay:\n  levels: 1\n  level_shares: [1.0]\n  posts:\n    worker: {name: "community worker", share: 1.0, '
        "pay_yuan_per_year_by_level: [60000]}",
        PAY,
    )
    edit(path, "city_budget_yuan: 450000", "city_budget_yuan: 600000")
    edit(path, "budget_yuan: 2400000", "budget_yuan: 4000000")
    edit(path, "max_planned_utilisation: 0.85", "max_planned_utilisation: 0.3")


@pytest.fixture(scope="module")
def growing(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plan") / "tiny"
    shutil.copytree(SCENARIOS / "tiny", folder)
    growing_city(folder)
    return load_scenario(folder)


@pytest.fixture(scope="module")
def three_years(growing):
    return plan(growing, PlanOptions(years=3, reps=0))


def test_headcount_is_conserved_year_to_year(three_years, growing):
    p = three_years.path
    for t in range(1, 4):
        start, end = p.allocations[t - 1].workers, p.allocations[t].workers
        np.testing.assert_allclose(start - p.leavers[t] + p.joiners[t] + p.moves_in[t] - p.moves_out[t], end, atol=1e-9)
        np.testing.assert_allclose(p.leavers[t], p.attrition_mean * start, atol=1e-12)
        assert (p.joiners[t] >= p.new_posts[t] - 1e-7).all()  # new posts are joiners; the rest replace leavers
        assert abs(p.moves_in[t].sum() - p.moves_out[t].sum()) < 1e-9  # moves stay within the district
        assert (p.moves_out[t] <= 0.2 * start + 1e-9).all()
        s0, s1 = p.allocations[t - 1].street_office_staff, p.allocations[t].street_office_staff
        np.testing.assert_allclose(s0 - p.street_leavers[t] + p.street_joiners[t], s1, atol=1e-9)
        # by post and level: every post's people are its survivors and joiners, and the levels sum to the city
        f = p.flows[t - 1]
        np.testing.assert_allclose(p.stocks[t - 1].sum(axis=1) - f.leavers.sum(axis=1) + f.joiners, f.stock.sum(axis=1))
        assert f.stock.sum() == pytest.approx(end.sum())
        np.testing.assert_allclose(f.promoted[:, -1], 0)  # nobody is promoted out of the top level
    flows = three_years.flows
    np.testing.assert_allclose(
        flows.start - flows.leavers + flows.joiners + flows.moves_in - flows.moves_out, flows.end, atol=1e-9
    )
    city = flows[flows.district == "city"].set_index("year")
    assert list(city.end) == [int(p.allocations[t].workers.sum()) for t in (1, 2, 3)]


def test_the_path_reaches_the_targets_by_the_target_year(three_years, growing):
    p = three_years.path
    assert p.target_year == 3 and p.pay_converged
    need = p.needs[3]
    assert (p.allocations[3].workers >= need[0]).all() and (p.allocations[3].workers > growing.baseline.workers).all()
    assert (three_years.reach.reaches_need_in_year == 3).all()  # all three short today, the cheapest path waits
    # a new post takes 6 months: nothing opened before year 1 counts in year 1, so year 1 grows by nobody
    assert lead_delay(6) == (1, 0.5)
    assert p.new_posts[1].sum() == 0 and p.allocations[1].workers.sum() <= growing.baseline.workers.sum()
    assert all(c == "PASS" for c in three_years.by_year.policy_check)
    # each year at its prices: pay rises 3% a year on top of the level mix, budgets 4%
    assert three_years.by_year.worker_cost_yuan.is_monotonic_increasing
    np.testing.assert_allclose(p.scenarios[2].spec.districts[0].budget_yuan, 4_000_000 * 1.04**2)
    rates = np.array([c.rate_per_10k_per_day for c in p.scenarios[3].spec.demand.channels.values()])
    base = np.array([c.rate_per_10k_per_day for c in growing.spec.demand.channels.values()])
    np.testing.assert_allclose(rates, base * 1.05**3)


def test_a_faster_path_costs_more_and_the_lead_time_is_named(three_years):
    f = three_years.faster.set_index("target_year")
    assert not f.loc[1, "feasible"] and "6 months" in f.loc[1, "note"] and "year 2" in f.loc[1, "note"]
    assert f.loc[2, "feasible"] and f.loc[2, "cost_total_yuan"] > f.loc[3, "cost_total_yuan"]
    assert f.loc[3, "extra_over_plan_yuan"] == 0
    assert f.loc[2, "extra_over_plan_yuan"] == pytest.approx(f.loc[2, "cost_total_yuan"] - f.loc[3, "cost_total_yuan"])


def test_costs_by_funder_add_up(three_years):
    by_year = three_years.by_year.set_index("year")
    total = three_years.costs.groupby("year").cost_yuan.sum()
    np.testing.assert_allclose(by_year.cost_total_yuan, total)
    f = three_years.faster.set_index("target_year")
    np.testing.assert_allclose(f.loc[3, [f"cost_year_{t}_yuan" for t in (1, 2, 3)]].astype(float), total.loc[1:])


def test_the_recruitment_limit_holds(tmp_path):
    folder = tmp_path / "tiny"
    shutil.copytree(SCENARIOS / "tiny", folder)
    growing_city(folder, recruits_max_share_per_year="0.15", hiring_lead_months="0")
    s = load_scenario(folder)
    p = solve_path(s, 3, 3)
    for t in range(1, 4):  # joiners of the city and its street office within 15% of last year's headcount
        joined = p.joiners[t].sum() + p.street_joiners[t].sum()
        before = p.allocations[t - 1].workers.sum() + p.allocations[t - 1].street_office_staff.sum()
        assert joined <= 0.15 * before + 1e-7
    # 2.2 leavers replaced a year leave room for one more worker a year: the three come one a year
    assert [int(a.workers.sum()) for a in p.allocations] == [20, 21, 22, 23]
    with pytest.raises(InfeasibleError, match="the recruitment limit"):
        solve_path(s, 3, 1)  # 3 more and 2.2 leavers replaced in year 1: above 15% of 26


def test_steady_state_of_the_level_mix():
    """With a constant headcount and constant rates the projection reaches the steady state of the closed
    form, and the closed form solves the year's balance equations (solved here as a linear system)."""
    s = load_scenario(SCENARIOS / "weihai")
    rates = workforce_rates(s)
    for hire_level in (0, 3):
        r = dataclasses.replace(rates, hire_level=hire_level)
        stock0, _ = initial_stock(s)
        flows = project(stock0, [stock0.sum()] * 400, r)
        ss = steady_state(r, stock0.sum(axis=1))
        np.testing.assert_allclose(flows[-1].stock, ss, rtol=1e-9, atol=1e-6)
        levels = stock0.shape[1]
        for k in range(len(r.post_ids)):
            a, pr = r.attrition[k], r.promotion[k]
            M = np.zeros((levels, levels))  # next year's levels from this year's, before joiners
            for lv in range(levels):
                up = pr if lv < levels - 1 else 0.0
                M[lv, lv] += (1 - a) * (1 - up)
                if lv < levels - 1:
                    M[lv + 1, lv] += (1 - a) * up
            joiners = np.zeros(levels)
            joiners[hire_level] = a * stock0[k].sum()
            np.testing.assert_allclose(np.linalg.solve(np.eye(levels) - M, joiners), ss[k], rtol=1e-9)
    # Weihai's rates (8% of members leave, a level every three years) make a younger mix than the pay
    # table's shares: at a constant headcount a worker's average pay drifts from 66,246 towards 64,380 yuan
    ss = steady_state(rates, stock0.sum(axis=1))
    assert average_pay(ss, rates, 0) == pytest.approx(64_380, abs=1)
    assert average_pay(stock0, rates, 0) == pytest.approx(s.spec.pay.mean_worker_cost_yuan_per_year, abs=2)


def test_generated_headcount_keeps_the_pay_tables_shares():
    s = load_scenario(SCENARIOS / "weihai")
    stock, from_table = initial_stock(s)
    assert not from_table and stock.sum() == s.baseline.workers.sum() and (stock == np.round(stock)).all()
    want = stock.sum() * np.outer([0.1, 0.2, 0.7], s.spec.pay.level_shares)
    assert np.abs(stock - want).max() < 1
    assert spread(7, np.array([1.0, 1.0]), np.array([1.0])).tolist() == [[4.0], [3.0]]


def test_a_one_year_plan_equals_the_static_allocation(tmp_path):
    """With no lead time and no limits, a one-year plan is the allocator's min-cost answer for that year;
    year 0 of every plan is today's allocation."""
    folder = tmp_path / "tiny"
    shutil.copytree(SCENARIOS / "tiny", folder)
    growing_city(folder, hiring_lead_months="0", recruits_max_share_per_year="null", moves_max_share_per_year="1")
    s = load_scenario(folder)
    p = solve_path(s, 1, 1)
    assert p.allocations[0] is s.baseline
    static = allocate(p.scenarios[1], AllocationOptions(objective="min-cost")).allocation
    for col in ("workers", "secretary_assistants", "work_fund_yuan", "service_fund_yuan", "street_office_staff"):
        np.testing.assert_allclose(getattr(p.allocations[1], col), getattr(static, col), err_msg=col)
    assert (static.workers > s.baseline.workers).all()  # the static answer hires at once: the plan may too


def test_a_headcount_table_is_read_and_used(tmp_path):
    folder = tmp_path / "tiny"
    shutil.copytree(SCENARIOS / "tiny", folder)
    growing_city(folder)
    edit(folder / "scenario.yaml", "workforce:\n", "workforce:\n  headcount_table: heads.csv\n")
    (folder / "heads.csv").write_text("post,level,workers\nhead,3,5\nworker,1,10\nworker,2,5\n")
    s = load_scenario(folder)
    stock, from_table = initial_stock(s)
    assert from_table and stock.tolist() == [[0, 0, 5], [10, 5, 0]]
    assert (folder / "heads.csv") in s.files
    p = solve_path(s, 2, 2)
    assert p.worker_cost_yuan[0] == pytest.approx((5 * 80000 + 10 * 55000 + 5 * 60000) / 20)
    # the people in post are what every command costs today's workers at, not the pay table's shares
    assert cost_per_unit(s)["workers"] == pytest.approx(62_500) == s.mean_worker_cost_yuan
    assert p.scenarios[0] is s and p.scenarios[1].headcount_by_post_level is None


def test_plan_command_writes_its_folder_and_screen(growing, tmp_path, capsys):
    out = tmp_path / "plan"
    argv = ["plan", str(growing.path), "--years", "2", "--reps", "1", "--days", "20", "--processes", "1"]
    assert main([*argv, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "targets, workload and rules met from year 2" in text and "The cost of a faster path" in text
    assert text.count("The cost of a faster path") == 1  # the progress line does not repeat the section's title
    assert "workforce.attrition_share_per_year = 0.1 (scenario)" in text
    for name in (
        "plan_by_year.csv",
        "cost_by_funder.csv",
        "flows_by_district.csv",
        "headcount_by_post_level.csv",
        "reach_by_community.csv",
        "faster_paths.csv",
        "workforce_assumptions.csv",
        "kpis_by_year.csv",
        "policy_check_by_year.csv",
        "allocation_year_0.csv",
        "allocation_year_2.csv",
        "metadata.json",
    ):
        assert (out / name).is_file(), name
    kpis = pd.read_csv(out / "kpis_by_year.csv")
    assert sorted(kpis.year.unique()) == [0, 1, 2]
    by_year = pd.read_csv(out / "plan_by_year.csv")
    assert by_year.workers.tolist() == [int(a.workers.sum()) for a in load_plan_allocations(out, 2)]
    assert main([*argv[:4], "--target-year", "3", "--out", str(tmp_path / "x")]) == 2
    assert "--target-year must be <= --years (2)" in capsys.readouterr().err


def load_plan_allocations(out, years: int):
    from scenario.allocation import read_allocation

    return [read_allocation(out / f"allocation_year_{t}.csv", ("A", "B", "C"), ("S1",)) for t in range(years + 1)]


def test_plan_api_refuses_bad_values(growing):
    import gridplan

    with pytest.raises(ValueError, match="years must be >= 1"):
        gridplan.plan(growing, years=0)
    with pytest.raises(ValueError, match="target_year must be <= 2"):
        gridplan.plan(growing, years=2, target_year=3, reps=0)
    r = gridplan.plan(growing, years=2, reps=0, faster=False)
    assert r.target_year == 2 and r.faster.empty and r.kpis.empty


def test_weihai_three_year_path():
    """The issue's case: gridplan plan scenarios/weihai --years 3 (the path and its costs; simulation is
    measured in the README)."""
    s = load_scenario(SCENARIOS / "weihai")
    r = plan(s, PlanOptions(years=3, reps=0))
    p = r.path
    assert all(c == "PASS" for c in r.by_year.policy_check)
    assert (r.reach.reaches_need_in_year >= 0).all()
    assert (p.allocations[3].workers >= p.needs[3][0]).all()
    assert r.by_year.cost_total_yuan.is_monotonic_increasing
    # year 0 is today's allocation at today's prices: the figures `gridplan check` gives, funder by funder
    today = funder_costs(s, s.baseline)
    y0 = r.costs[r.costs.year == 0].set_index("funder").cost_yuan
    assert y0["city"] == pytest.approx(today.city_yuan, abs=1e-3)
    for d in s.district_ids:
        assert y0[d] == pytest.approx(today.district_yuan[d], abs=1e-3)
    assert r.by_year.worker_cost_yuan[0] == pytest.approx(s.spec.pay.mean_worker_cost_yuan_per_year, abs=1e-6)
    f = r.faster.set_index("target_year")
    assert not f.loc[1, "feasible"] and f.loc[2, "cost_total_yuan"] > f.loc[3, "cost_total_yuan"]
    for t in (1, 2, 3):  # the recruitment limit: 15% of a district's headcount a year; a new post's holder
        # joins 6 months before the year it counts in
        nxt = (p.new_posts[t + 1], p.street_new_posts[t + 1]) if t < 3 else (0.0, 0.0)
        joined = np.bincount(s.community_district, weights=p.joiners[t] - p.new_posts[t] + nxt[0]) + np.bincount(
            s.street_district, weights=p.street_joiners[t] - p.street_new_posts[t] + nxt[1]
        )
        before = np.bincount(s.community_district, weights=p.allocations[t - 1].workers) + np.bincount(
            s.street_district, weights=p.allocations[t - 1].street_office_staff
        )
        assert (joined <= 0.15 * before + 1e-6).all()


def test_default_workforce_figures_read_as_words():
    """A scenario without a recruitment limit or per-post rates says so in words, not 'None' or '{}'."""
    from scenario.load import load_scenario
    from workflows.plan import _assumptions

    s = load_scenario(SCENARIOS / "tiny")
    shown = _assumptions(s, solve_path(s, 2, 2)).set_index("field").value
    assert shown["workforce.recruits_max_share_per_year"] == "no limit"
    assert shown["workforce.attrition_share_per_year_by_post"] == "the same for every post"
    assert not shown.isin(["None", "{}"]).any()


def test_growth_that_compounds_past_a_projection_is_refused(tmp_path, capsys):
    """Growth rates are bounded a year, not over the plan: 100% a year for 30 years is a billion-fold pay;
    demand growing past what a year's simulation holds is refused before any solve (one line, exit 2)."""

    def city(name: str, **workforce: str):
        folder = tmp_path / name
        shutil.copytree(SCENARIOS / "tiny", folder)
        growing_city(folder, **workforce)
        return folder

    out = ["--reps", "0", "--no-faster", "--out", str(tmp_path / "p")]
    assert main(["plan", str(city("pay", pay_rise_share_per_year="1.0")), "--years", "30", *out]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "workforce.pay_rise_share_per_year' (1) compounds to 1.07e+09 x" in err[0], err
    assert main(["plan", str(city("fall", demand_growth_share_per_year="-0.5")), "--years", "10", *out]) == 2
    assert "workforce.demand_growth_share_per_year' (-0.5) compounds to 0.000977" in capsys.readouterr().err
    busy = city("busy", demand_growth_share_per_year="1.0")
    edit(busy / "scenario.yaml", "rate_per_10k_per_day: 5.0,", "rate_per_10k_per_day: 10000,")
    assert main(["plan", str(busy), "--years", "4", *out]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "demand_growth_share_per_year' (1) in year 4: the demand comes to" in err[0], err
    assert not (tmp_path / "p").exists()
