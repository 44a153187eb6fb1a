"""The allocator: known answers by hand, an independent solve, infeasible/unbounded cases, re-checks."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from gridplan.cli import main
from scenario.load import load_scenario
from solvers import lpsolve
from solvers.allocator import allocate
from solvers.curves import service_curves
from solvers.errors import InfeasibleError, SolverError, UnboundedError
from solvers.lpmodel import AllocationOptions, build_model
from solvers.policy import check_policy
from tests.conftest import SCENARIOS, edit


def test_tiny_min_cost_by_hand(tiny):
    """Floors 9/6/4 workers (18 per 10,000 rounded up), funds at their floors, 6 street staff."""
    r = allocate(tiny, AllocationOptions(objective="min-cost"))
    a = r.allocation
    assert a.workers.tolist() == [9, 6, 4]
    assert a.secretary_assistants.tolist() == [1, 1, 1]
    assert a.work_fund_yuan.tolist() == [72_000, 43_200, 28_800]
    assert a.service_fund_yuan.tolist() == [300_000] * 3
    assert a.street_office_staff.tolist() == [6] and a.mobile_grid_workers.tolist() == [2]
    assert r.costs.total_yuan == pytest.approx(19 * 60_000 + 144_000 + 900_000 + 6 * 80_000 + 2 * 2_000)
    assert r.costs.city_yuan == pytest.approx(7.5 * 60_000)
    sp_ = r.shadow_prices.set_index("name")["effect"]
    # LP duals in planners' units: +1 worker per 10,000 over 10,000 residents = 1 worker = 60,000 yuan;
    # +1 street staff = 80,000 yuan; +1,000 yuan per 1,000 households over 4,000 households = 4,000 yuan;
    # +1 yuan per community over 3 communities = 3 yuan.
    assert sp_["workers_per_10k"] == pytest.approx(60_000)
    assert sp_["street_office_staff"] == pytest.approx(80_000)
    assert sp_["work_fund"] == pytest.approx(4_000)
    assert sp_["service_fund"] == pytest.approx(3)
    assert check_policy(tiny, a).passed


def test_scipy_duals_are_per_unit_of_the_rows_as_written(tiny):
    """scipy's HiGHS solves the rows divided by their norms (badly scaled rows failed the interior point
    method on the megacity); the duals it gives back are per unit of the rows as written: the same shadow
    prices by hand as CBC's."""
    r = allocate(tiny, AllocationOptions(objective="min-cost"), solver="scipy")
    sp_ = r.shadow_prices.set_index("name")["effect"]
    assert sp_["workers_per_10k"] == pytest.approx(60_000)
    assert sp_["street_office_staff"] == pytest.approx(80_000)
    assert sp_["work_fund"] == pytest.approx(4_000)
    assert sp_["service_fund"] == pytest.approx(3)
    m = r.model
    scaled = lpsolve._row_norms(m)
    assert scaled.max() / scaled.min() > 1e4  # rows of yuan beside rows of people: worth scaling


def test_scipy_gets_rows_of_unit_norm(tiny, monkeypatch):
    """What HiGHS is given through scipy: every row divided by its norm (the unscaled megacity max-service
    model ran into 'HiGHS Status 4: Solve error' after 2 minutes; scaled it solves in 6 s)."""
    import scipy.optimize

    seen = []
    real = scipy.optimize.linprog

    def spy(c, A_ub=None, b_ub=None, **kw):
        seen.append(np.sqrt(np.asarray(A_ub.multiply(A_ub).sum(axis=1)).ravel()))
        return real(c, A_ub=A_ub, b_ub=b_ub, **kw)

    monkeypatch.setattr(scipy.optimize, "linprog", spy)
    allocate(tiny, AllocationOptions(objective="max-service", total_budget_yuan=3e6))
    assert seen and all(np.allclose(n[n > 0], 1.0) for n in seen)


def _independent_weihai_min_cost(s) -> float:
    """Build the Weihai min-cost MILP from the scenario data here, without gridplan's model builder."""
    n, S = s.n_communities, len(s.street_ids)
    unit = s.spec.pay.mean_worker_cost_yuan_per_year
    from scenario.staffing import staff_time

    curves = service_curves(s)
    need = curves.min_workers(s.spec.targets.on_time_share_min)
    oc = curves.outcomes  # the resolution target as the fund each community needs (a model input, like the curves)
    fund_need = oc.min_fund_yuan(oc.min_funded(s.spec.targets.resolution_share_min, None))
    st = staff_time(s)  # planned hours are model inputs, like the curves; the solve is independent
    u = s.spec.duties.max_planned_utilisation
    work = np.ceil(np.round(st.planned_community / (st.available_per_person("community") * u), 9))
    office = np.ceil(np.round(st.planned_street / (st.available_per_person("street") * u), 9))
    w_lo = np.maximum.reduce([np.ceil(np.round(18 * s.urban_residents / 10_000, 9)), np.full(n, 3.0), need, work])
    # variables: w (n), sa (n), wf (n), sf (n), st (S), mb (S)
    # (4 n + 2 S variables)
    c = np.concatenate(
        [
            np.full(n, unit),
            np.zeros(n),
            np.ones(n),
            np.ones(n),
            np.full(S, s.spec.pay.street_staff_cost_yuan_per_year),
            np.full(S, s.spec.pay.mobile_worker_allowance_yuan_per_year),
        ]
    )
    lo = np.concatenate(
        [
            w_lo,
            np.ones(n),
            36 * s.households,
            np.maximum(300_000.0, fund_need),
            np.maximum(6.0, office),
            s.baseline.mobile_grid_workers,
        ]
    )
    hi = np.concatenate(
        [
            np.full(n, np.inf),
            np.full(n, np.inf),
            np.full(n, np.inf),
            np.full(n, np.inf),
            np.full(S, np.inf),
            s.baseline.mobile_grid_workers,
        ]
    )
    # sa <= w
    A = sp.hstack([-sp.eye(n), sp.eye(n), sp.csr_matrix((n, 2 * n + 2 * S))]).tocsr()
    integrality = np.concatenate([np.ones(2 * n), np.zeros(2 * n), np.ones(2 * S)])
    res = milp(c, constraints=LinearConstraint(A, -np.inf, 0), bounds=Bounds(lo, hi), integrality=integrality)
    assert res.status == 0
    return float(res.fun)


def test_weihai_min_cost_matches_independent_solve(weihai):
    r = allocate(weihai, AllocationOptions(objective="min-cost"))
    assert r.costs.total_yuan == pytest.approx(_independent_weihai_min_cost(weihai), rel=1e-9)
    # the city total is the sum of per-community ceilings, not the ceiling of the sum
    floors = np.ceil(np.round(18 * weihai.urban_residents / 10_000, 9)).sum()
    assert r.allocation.total_workers >= floors > np.ceil(18 * weihai.urban_residents.sum() / 10_000) + 100
    assert check_policy(weihai, r.allocation).passed


@pytest.mark.parametrize("solver", ["cbc", "highs", "scipy"])
@pytest.mark.parametrize("objective", ["min-cost", "max-service", "equity"])
def test_solvers_agree_and_answers_are_whole_people(weihai, tiny, solver, objective):
    # CBC's branch and bound needs about 50 s for max-service's second phase on Weihai (HiGHS, the default
    # for max-service, 1.5 s): that pair is checked on tiny
    s = tiny if (objective, solver) == ("max-service", "cbc") else weihai
    ref = allocate(s, AllocationOptions(objective=objective), solver="highs")
    r = ref if solver == "highs" else allocate(s, AllocationOptions(objective=objective), solver=solver)
    assert r.objective_value == pytest.approx(ref.objective_value, rel=1e-6, abs=1e-6)
    if objective == "max-service":  # the second phase: the cheapest within the tolerance of the best
        assert r.costs.total_yuan == pytest.approx(ref.costs.total_yuan, rel=1e-6)
    for f in ("workers", "secretary_assistants", "street_office_staff", "mobile_grid_workers"):
        v = getattr(r.allocation, f)
        assert np.array_equal(v, np.round(v))
    assert check_policy(s, r.allocation).rows.query("scope != 'funder'").passed.all()


def test_equity_raises_the_worst_community(weihai):
    """Within the budgets, after the workload and the targets, equity lifts the worst community above what the
    cheapest allocation leaves it (the baseline's worst is out of reach: 181 communities are over their
    planning margin and 25 short of fund for the resolution target, and the district budgets pay for that
    first)."""
    base = weihai.baseline.workers / (weihai.urban_residents / 10_000)
    r = allocate(weihai, AllocationOptions(objective="equity"))
    new = r.allocation.workers / (weihai.urban_residents / 10_000)
    mc = allocate(weihai, AllocationOptions(objective="min-cost")).allocation.workers
    assert new.min() > (mc / (weihai.urban_residents / 10_000)).min() + 0.1
    # the objective value is the worst community's workers per 10,000 (negated), not blurred by the cost
    # tie-break (1e-9 per yuan: about 0.4 on Weihai)
    assert -r.objective_value == pytest.approx(new.min(), abs=1e-6)
    assert check_policy(weihai, r.allocation).passed  # budgets included
    from gridplan.screens import allocation_screen

    assert f"the worst community has {new.min():.2f} workers per 10,000 (baseline {base.min():.2f})" in (
        allocation_screen(weihai, r)
    )


def test_budget_too_small_is_explained(tiny, capsys, tmp_path):
    with pytest.raises(InfeasibleError) as e:
        allocate(tiny, AllocationOptions(total_budget_yuan=2_000_000))
    assert "total budget 2.00 M yuan < 2.67 M yuan that the policy minimums, workload and on-time targets" in str(
        e.value
    )
    out = tmp_path / "x"
    assert main(["allocate", str(SCENARIOS / "tiny"), "--budget-yuan", "2000000", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "total budget" in err and not out.exists()
    assert main(["allocate", str(SCENARIOS / "tiny"), "--out", str(out)]) == 0
    import json

    assert json.loads((out / "metadata.json").read_text())["solver"] == "cbc"  # the one used, not "auto"
    assert "street_staff_change" in capsys.readouterr().out  # the console's change table explains costs


def test_city_budget_too_small(tiny_copy):
    edit(tiny_copy / "scenario.yaml", "city_budget_yuan: 450000", "city_budget_yuan: 400000")
    with pytest.raises(InfeasibleError, match=r"city budget 0.40 M yuan < 0.45 M yuan"):
        allocate(load_scenario(tiny_copy))


def test_max_change_collision_is_named(tiny):
    """Community A would need 9 workers; the baseline has 10; max change 0 is fine, but a higher floor is not."""
    with pytest.raises(InfeasibleError, match="maximum change of 0 workers"):
        allocate(
            tiny,
            AllocationOptions(max_change_workers=0, total_budget_yuan=None),
            curves=service_curves(tiny).replace(np.where(np.arange(61) >= 11, 1.0, 0.0)[None, :].repeat(3, 0), "test"),
        )


def test_equity_without_budget_is_unbounded(tiny_copy):
    edit(tiny_copy / "scenario.yaml", "budget_yuan: 2400000}", "budget_yuan: null}")
    with pytest.raises(UnboundedError, match="unbounded"):
        allocate(load_scenario(tiny_copy), AllocationOptions(objective="equity"))


def test_solver_answer_is_rechecked(tiny, monkeypatch):
    real = lpsolve.solve

    def lying(m, solver="cbc", relax=False):
        sol = real(m, solver, relax)
        if not relax:
            sol.x = sol.x.copy()
            sol.x[m.blocks["workers"].start] -= 1  # one worker short, still "optimal"
        return sol

    monkeypatch.setattr("solvers.allocator.solve", lying)
    with pytest.raises(SolverError, match="violates"):
        allocate(tiny)


def test_an_optimal_status_without_values_is_a_solver_error(tiny, monkeypatch):
    """A solver that calls the problem solved but returns no values is named in a SolverError (run with
    ``python -O`` an assert would not even stop it)."""
    real = lpsolve.solve

    def empty(m, solver="cbc", relax=False):
        sol = real(m, solver, relax)
        return sol if relax else lpsolve.LpSolution(lpsolve.Status.optimal, None, None, None, "optimal", solver)

    monkeypatch.setattr("solvers.allocator.solve", empty)
    for objective in ("min-cost", "max-service"):
        with pytest.raises(SolverError, match="returned no allocation"):
            allocate(tiny, AllocationOptions(objective=objective, total_budget_yuan=3e6))


def test_concave_cuts_cover_the_curve(weihai):
    cv = service_curves(weihai)
    for c in (0, 17, 200):
        cuts = cv.concave_cuts(c, 3, 40)
        xs = np.arange(3, 41)
        env = np.min([a + b * xs for a, b in cuts], axis=0)
        assert np.all(env >= cv.share[c, xs] - 1e-9)
        assert np.isclose(env, cv.share[c, xs]).sum() >= 2


def test_allocate_command_writes_tables(tmp_path, capsys):
    out = tmp_path / "alloc"
    assert main(["allocate", str(SCENARIOS / "tiny"), "--objective", "min-cost", "--out", str(out)]) == 0
    for f in (
        "allocation.csv",
        "constraints.csv",
        "shadow_prices.csv",
        "changes_by_district.csv",
        "changes_by_street.csv",
        "service_curves.csv",
        "metadata.json",
    ):
        assert (out / f).is_file(), f
    text = capsys.readouterr().out
    assert "raising 'workers_per_10k' from 18 to 19: LP marginal rate 60,000 yuan a year" in text
    # the exact next step, by re-solving: A 9 -> 10 (9.5 rounds up), B and C unchanged (6, 4): one worker
    shadow = pd.read_csv(out / "shadow_prices.csv").set_index("name")
    assert shadow.loc["workers_per_10k", "exact_next_step_yuan"] == 60_000
    assert shadow.loc["workers_per_10k", "binding_rows"] == 3
    # the allocation it writes passes the policy check
    assert main(["check", str(SCENARIOS / "tiny"), "--allocation", str(out / "allocation.csv")]) == 0


def _rising_curves(s):
    """A curve where every worker helps: on-time share 1 - 0.5^(w/3)."""
    cv = service_curves(s)
    return cv.replace(np.tile(1 - 0.5 ** (cv.workers / 3.0), (s.n_communities, 1)), "test")


def test_max_service_spends_the_budget_and_prices_it(tiny):
    cv = _rising_curves(tiny)
    lo = allocate(tiny, AllocationOptions(objective="max-service", total_budget_yuan=2_800_000), curves=cv)
    hi = allocate(tiny, AllocationOptions(objective="max-service", total_budget_yuan=3_100_000), curves=cv)
    assert hi.allocation.total_workers > lo.allocation.total_workers
    assert hi.expected_overdue_cases < lo.expected_overdue_cases
    assert lo.costs.total_yuan <= 2_800_000 + 1
    total = lo.shadow_prices.set_index("name").loc["total"]
    assert total["effect"] > 0 and "more on-time work hours" in total["explanation"]
    # the dual predicts the gain of 300,000 more yuan to first order (concave: it over-predicts);
    # objective = -(on-time work hours) + 1e-9 x cost
    gain = (lo.objective_value - 1e-9 * lo.costs.total_yuan) - (hi.objective_value - 1e-9 * hi.costs.total_yuan)
    assert 0 < gain <= total["effect"] * 0.3 * 1.0001


def test_equity_spread_bound(tiny):
    cv = _rising_curves(tiny)
    r = allocate(
        tiny,
        AllocationOptions(objective="max-service", total_budget_yuan=3_100_000, equity_spread_per_10k=2.0),
        curves=cv,
    )
    per10k = r.allocation.workers / (tiny.urban_residents / 10_000)
    assert per10k.max() - per10k.min() <= 2.0 + 1e-9


def test_service_curve_matches_mmc_response_time_formula(tmp_path):
    """erlang_c scenario (M/M/c, no desk, no duties), deadline 6 minutes: P(wait + service <= D), closed form."""
    import math
    import shutil

    from solvers.queueing import erlang_c

    shutil.copytree(SCENARIOS / "erlang_c", tmp_path / "q")
    edit(tmp_path / "q" / "scenario.yaml", "deadline_working_hours: 1", "deadline_working_hours: 0.1")
    s = load_scenario(tmp_path / "q")
    cv = service_curves(s)
    lam, mu = 200.0, 20.0  # 200 calls an hour, 3-minute service
    deadline = 0.1
    for k in (12, 13, 14, 16):
        a = lam / mu
        theta = k * mu - lam
        c = erlang_c(k, a)
        # P(W + S <= D) = 1 - e^{-mu D} - C mu e^{-theta D} (e^{(theta - mu) D} - 1) / (theta - mu)
        expected = (
            1
            - math.exp(-mu * deadline)
            - c * mu * math.exp(-theta * deadline) * (math.exp((theta - mu) * deadline) - 1) / (theta - mu)
        )
        assert cv.share[0, k] == pytest.approx(expected, abs=0.004), k
    assert cv.share[0, 10] == 0.0  # load 10 on 10 servers: unstable


def test_highs_prints_nothing_on_stdout(tiny, capfd):
    """HiGHS's banner comes from C++ on file descriptor 1; gridplan keeps stdout for its results."""
    allocate(tiny, AllocationOptions(), solver="highs")
    assert "HiGHS" not in capfd.readouterr().out


def test_max_service_does_not_buy_millionths(tiny):
    """On tiny the on-time curves saturate at the policy floors: max-service spends beyond min-cost only on what
    residents see (fixes the fund pays), never for a millionth of on-time share (it once bought 3 more workers
    for 180,000 yuan); and with no fund to buy, it spends no more than min-cost."""
    mc = allocate(tiny, AllocationOptions(objective="min-cost"))
    ms = allocate(tiny, AllocationOptions(objective="max-service"))
    assert ms.expected_on_time_share == pytest.approx(mc.expected_on_time_share, abs=1e-4)
    assert ms.allocation.total_workers == mc.allocation.total_workers
    extra = ms.costs.total_yuan - mc.costs.total_yuan
    gain = ms.expected_resolution_share - mc.expected_resolution_share
    assert extra > 0 and gain / (extra / 100_000) > 0.001  # at least 0.1 point of resolution per 100,000 yuan
    no_money = tiny.spec.model_copy(update={"service_fund": None, "demand": _free_fixes(tiny.spec.demand)})
    t0 = replace(tiny, spec=no_money)
    assert allocate(t0, AllocationOptions(objective="max-service")).costs.total_yuan <= (
        allocate(t0, AllocationOptions(objective="min-cost")).costs.total_yuan + 1e-6
    )


def _free_fixes(demand):
    """The demand with no fix costing money."""
    cats = {
        k: c.model_copy(update={"resolution": c.resolution.model_copy(update={"needs_money_share": 0.0})})
        for k, c in demand.categories.items()
    }
    return demand.model_copy(update={"categories": cats})


def test_max_service_names_the_budget_only_where_it_stops_the_objective(weihai):
    """Weihai's own budgets leave 1-6 M yuan per district unspent at max-service (every fix paid, every duty
    done: the outcomes saturate): units above their floors are decided by the service objective. At 370 M the
    total budget stops it."""
    free = allocate(weihai, AllocationOptions(objective="max-service"))
    assert "budget (service objective)" not in set(free.deciding_community.decided_by)
    assert "service objective" in set(free.deciding_community.decided_by)
    tight = allocate(weihai, AllocationOptions(objective="max-service", total_budget_yuan=370e6))
    assert "budget (service objective)" in set(tight.deciding_community.decided_by)


def test_rebalance_says_what_its_budget_does(tiny):
    """Rebalance is defined by its budget: the budget row says so, not 'does not limit the allocation'."""
    r = allocate(tiny, AllocationOptions(objective="rebalance"))
    total = r.shadow_prices.set_index("name").loc["total", "explanation"]
    assert "spends the total budget on capacity margin" in total and "does not limit" not in total


def test_rebalance_searches_by_solves_alone_and_builds_one_result(tiny, monkeypatch):
    """Rebalance's bisection asks only whether each margin fits, and solves each model (lower bounds) once: no
    explanation of an infeasible step (each costs several re-solves) and one full result (tables, duals,
    deciding constraints) for the margin found, the same allocation and margin as a full allocate at every
    step would give."""
    from solvers import allocator

    calls = {"explain": 0, "tables": 0, "solves": 0}
    explain, table, first = allocator.explain_infeasible, allocator._constraint_table, allocator._first_solve

    def counted(name, f):
        def g(*a, **k):
            calls[name] += 1
            return f(*a, **k)

        return g

    monkeypatch.setattr(allocator, "explain_infeasible", counted("explain", explain))
    monkeypatch.setattr(allocator, "_constraint_table", counted("tables", table))
    monkeypatch.setattr(allocator, "_first_solve", counted("solves", first))
    r = allocate(tiny, AllocationOptions(objective="rebalance"))
    # a bisection's 19 steps, the check at margin 0 and the answer's solve: a step whose lower bounds (whole people)
    # were solved before is not solved again
    assert calls["explain"] == 0 and calls["tables"] == 1 and 2 < calls["solves"] < 21
    # the same margin and allocation as the search that built a full allocate at every step
    lo, hi, best = 0.0, 40.0, None
    while hi - lo >= 1e-4:
        mid = (lo + hi) / 2
        try:
            best, lo = allocator._at_margin(tiny, r.options, r.curves, "cbc", "milp", mid), mid
        except InfeasibleError:
            hi = mid
    assert best is not None and -r.objective_value == lo
    assert np.array_equal(best.allocation.workers, r.allocation.workers)
    assert np.array_equal(best.allocation.service_fund_yuan, r.allocation.service_fund_yuan)


def test_a_margin_hint_saves_solves_and_changes_nothing(weihai, monkeypatch):
    """Rebalance with the margin found before as a hint (the main job's rounds pass it on): the same margin and
    allocation whether the hint is right, close, far off on either side or absurd; fewer solves when close."""
    from solvers import allocator

    solves = {"n": 0}
    first = allocator._first_solve

    def counted(*a, **k):
        solves["n"] += 1
        return first(*a, **k)

    monkeypatch.setattr(allocator, "_first_solve", counted)
    curves = service_curves(weihai)
    opts = AllocationOptions(objective="rebalance")
    plain = allocate(weihai, opts, curves=curves)
    plain_solves, solves["n"] = solves["n"], 0
    t = -plain.objective_value
    for hint in (t, t * 1.002, t * 0.997, t * 0.5, t * 1.8, 39.99, 1e-9, 1e6, None):
        got = allocate(weihai, opts, curves=curves, margin_hint=hint)
        assert got.objective_value == plain.objective_value, hint
        for column in ("workers", "service_fund_yuan", "work_fund_yuan", "street_office_staff"):
            assert np.array_equal(getattr(got.allocation, column), getattr(plain.allocation, column)), (hint, column)
        if hint is not None and abs(hint / t - 1) < 0.005:
            assert solves["n"] <= plain_solves - 5, (hint, solves["n"], plain_solves)
        solves["n"] = 0


def test_reused_models_are_per_thread(tiny):
    """The desk allocates in two threads at once: each rebalance's search keeps its own PuLP problem (one
    shared problem would take each thread's bounds in turn), so every answer is the single-thread one. (HiGHS
    through PuLP: CBC is called without PuLP's problem objects, ``solvers.cbc``.)"""
    from concurrent.futures import ThreadPoolExecutor

    def rebalance(_: object = None) -> float | None:
        return allocate(tiny, AllocationOptions(objective="rebalance"), solver="highs").objective_value

    want = rebalance()
    with ThreadPoolExecutor(2) as ex:
        got = list(ex.map(rebalance, range(6)))
    assert got == [want] * 6 and lpsolve._REUSED.get() is None


def test_a_reused_problem_solves_as_a_fresh_one(tiny, monkeypatch):
    """Within reused_models(), models differing only in bounds re-solve one PuLP problem (built once) and give
    exactly a fresh build's answers, infeasible steps included; nothing is kept after the block. (CBC through
    PuLP's problem objects, as HiGHS is solved: ``solvers.cbc`` calls CBC without them.)"""
    from solvers.allocator import _margin_options

    monkeypatch.setattr(lpsolve, "_VIA_PULP", lpsolve.contextvars.ContextVar("via_pulp", default=True))
    curves = service_curves(tiny)
    opts = AllocationOptions(objective="rebalance", total_budget_yuan=2_728_000)
    models = [build_model(tiny, curves, _margin_options(tiny, opts, t)) for t in (1.0, 2.0, 9.0, 1.5)]
    fresh = [lpsolve.solve(m, "cbc") for m in models]
    assert fresh[2].status is lpsolve.Status.infeasible and fresh[0].status is lpsolve.Status.optimal
    builds = []
    build = lpsolve._build_pulp
    monkeypatch.setattr(lpsolve, "_build_pulp", lambda *a: builds.append(1) or build(*a))
    with lpsolve.reused_models():
        again = [lpsolve.solve(m, "cbc") for m in models]
    assert len(builds) == 1 and lpsolve._REUSED.get() is None
    for f, a in zip(fresh, again):
        assert f.status is a.status and (f.x is None or np.array_equal(f.x, a.x))


def test_constraint_table_shows_rows_as_written(tiny):
    """constraints.csv: a minimum reads 'workers >= 9', not '-workers <= -9' (rows the model stores negated are
    shown as written, with their sense); slack is how far from binding, positive when met."""
    r = allocate(tiny, AllocationOptions())
    t = r.constraints
    rules = t[t.row.str.startswith("rule:workers_per_10k:")]
    assert len(rules) == tiny.n_communities and (rules.sense == ">=").all()
    assert (rules.rhs > 0).all() and (rules.lhs >= rules.rhs - 1e-9).all()
    assert (rules.dual_lp[rules.binding] > 0).all()  # a higher minimum costs more
    ge, le = t.sense == ">=", t.sense == "<="
    assert ge.any() and le.any() and (ge | le).all()
    assert np.allclose(t.slack[ge], (t.lhs - t.rhs)[ge]) and np.allclose(t.slack[le], (t.rhs - t.lhs)[le])


def test_whole_people_rounds_down_then_meets_the_minimums():
    """Known answer: x = (2.3, 4.0, 1.5, 0.7) with minimums x0 >= 2.1, x2 >= 1.5 and x1 + x3 >= 4.6: rounded down
    (2, 4, 1, 0), then raised where a minimum needs it: x0 to 3, x2 to 2, and of x1, x3 the one that lost most
    in rounding (x3, 0.7) to 1; the continuous x4 is left alone."""
    import scipy.sparse as sp

    from solvers.lpmodel import LpModel
    from solvers.lpsolve import whole_people

    A = sp.csr_matrix(np.array([[-1, 0, 0, 0, 0], [0, 0, -1, 0, 0], [0, -1, 0, -1, 0], [1, 1, 1, 1, 1.0]]))
    m = LpModel(
        c=np.ones(5),
        A=A,
        b=np.array([-2.1, -1.5, -4.6, 100.0]),
        lb=np.zeros(5),
        ub=np.full(5, np.inf),
        integer=np.array([True, True, True, True, False]),
        row_names=["a", "b", "c", "budget"],
        var_names=[f"x{i}" for i in range(5)],
        blocks={},
        at_least=np.array([True, True, True, False]),
    )
    y = whole_people(m, np.array([2.3, 4.0, 1.5, 0.7, 0.25]))
    assert y.tolist() == [3.0, 4.0, 2.0, 1.0, 0.25]
    # a minimum a hair above a whole number needs the next person, as the solver will check it (a workload
    # row of 13.0000012 people once passed as 13 and the continuous re-solve failed on a national city)
    hair = LpModel(**{**m.__dict__, "b": np.array([-13.0000012, -1.5, -4.6, 100.0])})
    assert whole_people(hair, np.array([13.0000012, 4.0, 1.5, 0.7, 0.25]))[0] == 14.0


@pytest.mark.parametrize("objective", ["min-cost", "max-service", "equity"])
def test_solve_fixed_is_the_fixed_models_solve(tiny, objective):
    """solve_fixed (the whole people moved to the right-hand sides, rows of one continuous variable made bounds,
    in numpy) answers what HiGHS answers for the model with its whole people fixed, and says infeasible where
    that model is: a row of whole people alone broken."""
    from solvers.lpsolve import Status, solve, solve_fixed, whole_people, with_fixed

    m = build_model(tiny, service_curves(tiny), AllocationOptions(objective=objective))
    relaxed = solve(m, "scipy", relax=True)
    assert relaxed.x is not None
    y = whole_people(m, relaxed.x, nearest=True)
    full, fast = solve(with_fixed(m, y), "scipy", relax=True), solve_fixed(m, y)
    assert full.x is not None and fast.x is not None and fast.objective is not None
    assert np.allclose(fast.x, full.x, rtol=1e-9, atol=1e-7)
    assert fast.objective == pytest.approx(full.objective, rel=1e-12)
    w = m.blocks["workers"].start
    y[w] = 0.0  # below the community's policy floor: a row of whole people alone
    assert solve(with_fixed(m, y), "scipy", relax=True).status is Status.infeasible
    assert solve_fixed(m, y).status is Status.infeasible


@pytest.mark.parametrize("objective", ["min-cost", "max-service", "equity"])
def test_lp_round_answers_every_objective_within_its_budget(tiny_copy, objective):
    """The large-city path (LP relaxation, whole people, continuous variables re-solved) on a busy tiny whose
    budget binds max-service: a valid allocation within the budget, shadow prices from the model's own
    relaxation (max-service's second phase has one more row), close to the exact solve."""
    edit(tiny_copy / "scenario.yaml", "rate_per_10k_per_day: 5.0", "rate_per_10k_per_day: 30.0")
    edit(tiny_copy / "scenario.yaml", "budget_yuan: 2400000}", "budget_yuan: 9000000}")
    s = load_scenario(tiny_copy)
    opts = AllocationOptions(objective=objective, total_budget_yuan=3_100_000)
    exact = allocate(s, opts, method="milp")
    r = allocate(s, opts, method="lp-round")
    assert r.costs.total_yuan <= 3_100_000 + 1
    assert check_policy(s, r.allocation).passed
    assert list(r.shadow_prices.name) == list(exact.shadow_prices.name)
    # equity's worst community loses most in rounding down on three communities
    assert r.objective_value == pytest.approx(exact.objective_value, rel=0.1 if objective == "equity" else 0.02)


def test_lp_round_says_when_whole_people_do_not_fit(tiny_copy):
    """A total budget the fractional workload fits exactly, whole people not: an InfeasibleError naming the
    budget row and what to do (no command-line option that does not exist)."""
    from solvers.lpsolve import solve

    edit(tiny_copy / "scenario.yaml", "max_planned_utilisation: 0.85", "max_planned_utilisation: 0.3")
    edit(tiny_copy / "scenario.yaml", "budget_yuan: 2400000}", "budget_yuan: 9000000}")
    s = load_scenario(tiny_copy)
    relaxed = solve(build_model(s, service_curves(s), AllocationOptions()), "scipy", relax=True)
    assert relaxed.x is not None and not np.allclose(relaxed.x, np.round(relaxed.x))  # fractional workload
    with pytest.raises(InfeasibleError, match="whole people do not fit") as err:
        allocate(s, AllocationOptions(total_budget_yuan=float(relaxed.objective)), method="lp-round")
    assert "budget:" in str(err.value) and "--method" not in str(err.value)


def test_rebalance_without_an_affordable_margin_says_what_the_smallest_costs(tiny_copy):
    """With the street-office rule off and a budget below one person in every unit with planned work,
    rebalance finds no capacity margin: one line saying what the smallest margin costs (not a division by 0)."""
    edit(tiny_copy / "scenario.yaml", "minimum: 6, scope: street}", "minimum: 6, scope: street, active: false}")
    s = load_scenario(tiny_copy)
    with pytest.raises(InfeasibleError, match=r"buys no capacity margin: the smallest one .* costs 2\.\d\d M yuan"):
        allocate(s, AllocationOptions(objective="rebalance", total_budget_yuan=2_188_000))


def test_a_large_city_is_explained_without_a_milp(tiny_copy, monkeypatch):
    """On the large-city path an infeasible model is explained as it is solved, by LP relaxations in whole
    people: a MILP of a megacity's size ran 4 minutes into 'HiGHS Status 4: Solve error'. The district's
    shortfall is still named with its amounts."""
    from solvers import explain

    edit(tiny_copy / "scenario.yaml", "budget_yuan: 2400000}", "budget_yuan: 2000000}")
    s = load_scenario(tiny_copy)
    calls = []
    real = explain.solve

    def spy(m, solver="cbc", relax=False):
        calls.append(relax)
        return real(m, solver, relax)

    monkeypatch.setattr(explain, "solve", spy)
    with pytest.raises(InfeasibleError, match=r"district D1 budget 2\.00 M yuan < 2\.2\d M yuan that the policy"):
        allocate(s, AllocationOptions(), method="lp-round")
    assert calls and all(calls)  # every re-solve a relaxation


def test_a_variable_the_solver_leaves_out_is_at_its_lower_bound():
    """erlang_c's street office costs nothing and no rule names it: CBC leaves its staff and mobile workers out
    of the problem, with no value, which was written as -9,223,372,036,854,775,808 people."""
    s = load_scenario(SCENARIOS / "erlang_c")
    a = allocate(s, AllocationOptions()).allocation
    assert a.street_office_staff.tolist() == [0] and a.mobile_grid_workers.tolist() == [0]


def test_curves_reach_as_far_as_the_load_needs(tiny_copy):
    """A city 200 times busier than tiny needs far more than 3 x its baseline's largest community: the curves
    go as far as twice the case load in servers, so min-cost finds the staffing instead of calling the
    target unreachable (at most 0.0% with 60 workers)."""
    edit(tiny_copy / "scenario.yaml", "rate_per_10k_per_day: 5.0,", "rate_per_10k_per_day: 1000,")
    edit(tiny_copy / "scenario.yaml", "budget_yuan: 2400000}", "budget_yuan: 900000000}")
    edit(tiny_copy / "scenario.yaml", "city_budget_yuan: 450000", "city_budget_yuan: 90000000")
    s = load_scenario(tiny_copy)
    curves = service_curves(s)
    assert curves.workers.max() > 60
    res = allocate(s, AllocationOptions(objective="min-cost"), curves=curves)
    assert res.allocation.workers.max() > 60 and (curves.evaluate(res.allocation.workers) >= 0.9 - 1e-9).all()


def test_service_curves_are_kept_per_scenario_and_cannot_be_changed(tiny):
    """The curves of a scenario are worked out once (the main job's two optimisations, a sweep's points ask
    for the same) and handed out read-only: a caller that changed them in place would change the next
    caller's; a refit makes its own copy."""
    from solvers.curves import service_curves

    a, b = service_curves(tiny), service_curves(tiny)
    assert a is b and service_curves(tiny, 5) is not a
    with pytest.raises(ValueError, match="read-only"):
        a.share[0, 0] = 0.5
    assert a.outcomes is not None
    with pytest.raises(ValueError, match="read-only"):
        a.outcomes.res_base[0] = 0.0
    fitted = a.refit(tiny.baseline.workers, np.full(tiny.n_communities, 0.5), np.ones(tiny.n_communities, bool))
    assert fitted.share.flags.writeable and not np.array_equal(fitted.share, a.share)


def test_threads_solving_at_once_give_stdout_back(capfd):
    """HiGHS's banner goes to descriptor 1, which the solve points at /dev/null: two threads solving at once
    (the desk, the main job's two optimisations) silence it once, and stdout is back when the last is done, in
    whichever order they end (here the first in leaves first)."""
    import os
    import threading

    from solvers.lpsolve import _native_stdout_silenced

    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()

    def a():
        with _native_stdout_silenced(True):
            a_in.set()
            b_in.wait(5)
            os.write(1, b"banner a\n")
        a_out.set()

    def b():
        a_in.wait(5)
        with _native_stdout_silenced(True):
            b_in.set()
            a_out.wait(5)
            os.write(1, b"banner b\n")

    threads = [threading.Thread(target=f) for f in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    os.write(1, b"results\n")
    out = capfd.readouterr().out
    assert "results" in out and "banner" not in out
