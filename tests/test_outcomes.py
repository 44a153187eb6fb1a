"""What a case buys (sim.outcomes): the people-service fund by hand, problems found late, resolution."""

from __future__ import annotations

import numpy as np
import pytest

from scenario.load import load_scenario
from sim.demand import Cases, draw_cases
from sim.engine import simulate_cases
from sim.outcomes import FUNDED, NO_MONEY, UNFUNDED_CLOSED, UNFUNDED_TO_CITY
from sim.routing import Stage
from tests.conftest import edit


def _cases(arrival, money, cost, u_city, u_res, category=None, community=None, days=120) -> Cases:
    n = len(arrival)
    return Cases(
        arrival=np.array(arrival, float),
        community=np.array(community if community is not None else [0] * n),
        channel=np.zeros(n, int),  # the hotline: nobody's duty finds these
        category=np.array(category if category is not None else [1] * n),
        grid=np.zeros(n, int),
        service=np.ones((n, 5)),
        u_escalate=np.ones((n, 3)),  # nobody escalates on their own
        u_feedback=np.ones((n, 2)),  # everybody satisfied
        u_mobile=np.ones(n),
        volunteer=np.zeros(n, bool),
        channel_ids=("hotline_12345", "grid_patrol", "mobile_grid"),
        days=days,
        u_discovery=np.ones((n, 2), np.float32),
        surface_delay_hours=np.zeros(n),
        u_resolve=np.array([[u, 1.0] for u in u_res], np.float32),
        u_money=np.array([[m, c] for m, c in zip(money, u_city)], np.float32),
        fix_cost_yuan=np.array(cost, float),
    )


@pytest.mark.parametrize("mode", ["events", "recursion"])
def test_the_fund_pays_in_arrival_order_by_hand(tiny, mode):
    """Tiny: 300,000 yuan a year released quarterly (75,000 by day 91), approval above 8,000 yuan, an unpaid fix
    goes to the city half the time (u < 0.5), else closes resolved 20% of the time. Community A's fixes of
    200,000 and 100,000 yuan find the quarter's money short (the first goes to the city, the second closes
    unresolved); 50,000 and 10,000 are paid (60,000 <= 75,000) and, above the approval limit, go up to the
    street office; a case needing no money pays nothing. In the second quarter 75,000 more: a 70,000 fix is paid
    (130,000 <= 150,000)."""
    cases = _cases(
        arrival=[9.0, 9.5, 10.0, 10.5, 11.0, 24 * 95 + 9.0],
        money=[0.0, 0.0, 0.0, 0.0, 0.99, 0.0],  # complex matters need money 30% of the time (u < 0.3)
        cost=[200_000, 100_000, 50_000, 10_000, 0.0, 70_000],
        u_city=[0.1, 0.9, 0.9, 0.9, 0.9, 0.9],
        u_res=[0.0, 0.5, 0.0, 0.0, 0.0, 0.0],
    )
    r = simulate_cases(tiny, cases, tiny.baseline, mode=mode)
    assert r.funded.tolist() == [UNFUNDED_TO_CITY, UNFUNDED_CLOSED, FUNDED, FUNDED, NO_MONEY, FUNDED]
    assert r.paid_yuan.tolist() == [0.0, 0.0, 50_000.0, 10_000.0, 0.0, 70_000.0]
    assert r.fund_spent_yuan.tolist() == [130_000.0, 0.0, 0.0]
    assert r.fund_exhausted_day[0] == 0 and np.isnan(r.fund_exhausted_day[1:]).all()
    assert r.unfunded_cases.tolist() == [2, 0, 0]
    reached_street = ~np.isnan(r.start[:, Stage.STREET])
    reached_city = ~np.isnan(r.start[:, Stage.CITY])
    assert reached_city.tolist() == [True, False, False, False, False, False]  # the unpaid fix the city takes
    assert reached_street.tolist() == [True, False, True, True, False, True]  # approvals above 8,000 yuan
    # resolved: the city's 0.7 (u 0); closed unpaid 0.2 (u 0.5: no); paid, at the street 0.8; no money, grid 0.85
    assert r.resolved.tolist() == [True, False, True, True, True, True]


def test_unresolved_residents_are_less_satisfied_and_complain_again(tiny_copy):
    """With resolution impossible in one category, its residents are unsatisfied 60 points more often and
    reopen more (unsatisfied_if_unresolved 0.6, reopen_if_unresolved 0.3); the other category is untouched."""
    edit(tiny_copy / "scenario.yaml", "targets:",
         "ladder: {feedback: {unsatisfied_if_unresolved: 0.6, reopen_if_unresolved: 0.3}}\ntargets:")  # fmt: skip
    base = load_scenario(tiny_copy)
    edit(tiny_copy / "scenario.yaml", "resolution: {grid: 0.85, community: 0.8, street: 0.8, city: 0.7,",
         "resolution: {grid: 0.0, community: 0.0, street: 0.0, city: 0.0,")  # fmt: skip
    never = load_scenario(tiny_copy)
    cases = draw_cases(base, 91, np.random.SeedSequence(4))
    a = simulate_cases(base, cases, base.baseline)
    b = simulate_cases(never, cases, never.baseline)
    complex_ = (b.rows.category == 1) & b.active & ~np.isnan(b.first_close)
    simple = (b.rows.category == 0) & b.active
    assert not b.resolved[complex_ & ~b.reopened & (b.funded != UNFUNDED_CLOSED)].any()  # unpaid: 20% explained
    assert b.satisfied[complex_].mean() < a.satisfied[complex_].mean() - 0.4
    assert b.reopened[complex_].sum() > a.reopened[complex_].sum()
    assert np.array_equal(a.satisfied[simple & (a.final_close == b.final_close)],
                          b.satisfied[simple & (a.final_close == b.final_close)])  # fmt: skip


def test_duties_left_undone_surface_as_calls(tiny):
    """With one worker a community cannot do all its visits and patrols: the problems they would find surface later
    on the hotline (the twin row active, the drawn one not), after its surface delay, as often as the duties
    were left undone; with many workers every one is found early. Both engines agree."""
    cases = draw_cases(tiny, 91, np.random.SeedSequence(8))
    many = tiny.baseline.replace(workers=np.array([30, 30, 30]))
    few = tiny.baseline.replace(workers=np.array([1, 1, 1]))
    r_many = simulate_cases(tiny, cases, many)
    twin = r_many.rows.twin_of >= 0
    assert twin.sum() > 50 and not r_many.active[twin].any()
    r_few = simulate_cases(tiny, cases, few)
    assert r_few.active[twin].sum() > 0.3 * twin.sum()  # most duties undone
    late = twin & r_few.active
    orig = r_few.rows.twin_of[late]
    assert not r_few.active[orig].any()
    assert np.allclose(r_few.arrival[late], cases.arrival[orig] + cases.surface_delay_hours[orig])
    assert (r_few.channel[late] == 0).all()  # the hotline
    for mode in ("events", "recursion"):
        again = simulate_cases(tiny, cases, few, mode=mode)
        assert np.array_equal(again.active, r_few.active) and np.array_equal(again.start, r_few.start, equal_nan=True)


def test_no_outcome_sections_change_nothing(tiny_copy):
    """A scenario without resolution, fund and discovery sections resolves every closed case, pays nothing and
    adds no rows: the model gridplan had before them."""
    text = (tiny_copy / "scenario.yaml").read_text()
    start = text.index("# Resolution, the people-service fund")
    end = text.index("# Duties (invented")
    text = text[:start] + text[end:]
    for tag in ("finds: {complex: 0.5}, urgent_when_missed: true", "finds: {simple: 0.6}"):
        text = text.replace(f",\n                      {tag}", "")
    for cat in ("simple", "complex"):
        i = text.index("      response_working_hours", text.index(f"    {cat}:"))
        j = text.index('source: "invented"}\n', i) + len('source: "invented"}\n')
        text = text[:i] + text[j:]
    (tiny_copy / "scenario.yaml").write_text(text)
    s = load_scenario(tiny_copy)
    assert s.spec.discovery is None and s.spec.service_fund is None
    cases = draw_cases(s, 91, np.random.SeedSequence(2))
    r = simulate_cases(s, cases, s.baseline)
    closed = ~np.isnan(r.first_close)
    assert len(r.rows) == len(cases) and r.active.all()
    assert np.array_equal(r.resolved, closed) and (r.funded == NO_MONEY).all() and r.fund_spent_yuan.sum() == 0
