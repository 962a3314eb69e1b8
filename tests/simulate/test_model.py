"""The market model behaves as its assumptions say (issue 17, Must show 2)."""

from __future__ import annotations

import json
import math

from clore_host.config import load_policy
from clore_host.config.paths import resolve_shipped
from clore_host.policy import parse_policy
from clore_host.simulate.evaluate import best_static, evaluate, static_settings
from clore_host.simulate.model import START, arrivals, run

from .conftest import market

DEFAULT = load_policy(resolve_shipped("default", "policies"))


def test_no_renters_no_revenue() -> None:
    quiet = market(demand={"arrivals_per_day": 0.0})
    assert arrivals(quiet, 0, 30) == ()
    settings = static_settings(quiet, 0.0001)
    for result in (run(quiet, 0, 30, settings), run(quiet, 0, 30, settings, DEFAULT)):
        assert result.gross == 0 and result.fees == 0 and result.rentals == ()
        assert result.occupancy == 0
        # Idle power and the fixed cost are still paid: net is negative.
        assert result.net < 0


def test_without_price_sensitivity_the_highest_price_wins() -> None:
    # Renters pick among free servers at random and pay anything: a higher price loses no
    # renter, so the sweep's best static price is its highest.
    indifferent = market(
        demand={"price_sensitivity": 0.0, "reservation": {"median": 1.0, "sigma": 0.0}},
        sweep={"low": 0.5, "high": 3.0, "points": 11},
    )
    best, curve = best_static(indifferent, range(4), 20)
    assert best == max(price for price, _ in curve)
    assert math.isclose(best, 0.0003, rel_tol=1e-6)
    nets = [net for _, net in curve]
    assert nets == sorted(nets)  # the more it asks, the more it earns


def test_demand_far_above_supply_fills_the_server() -> None:
    rush = market(demand={"arrivals_per_day": 2000.0}, peers={"count": 5, "rule": []})
    result = run(rush, 0, 30, static_settings(rush, 0.0001))
    assert result.occupancy > 0.99
    policy = run(rush, 0, 30, static_settings(rush, 0.0001), DEFAULT)
    assert policy.occupancy > 0.99


def test_the_best_static_price_is_the_analytical_optimum_of_a_loss_system() -> None:
    """One server, no peers, no costs or fees; renters arrive as a Poisson process of rate
    lam = 2 a day, each paying at most R ~ lognormal(median m = 0.0001, sigma s = 0.3), and rent
    for L = 1 day. At a static price p an arrival rents if the server is free and R >= p, so
    rentals start as a Poisson process of rate lam S(p), S(p) = P(R >= p) = 1 - Phi((ln p -
    ln m) / s) (thinning). The server is an M/G/1/1 loss system: its long-run busy share is
    rho / (1 + rho), rho = lam S(p) L (Erlang's loss formula for one server, which holds for
    any distribution of L), and each busy day earns p. So revenue per day is

        f(p) = p * rho(p) / (1 + rho(p)),   rho(p) = lam * S(p) * L,

    maximal at p* ~ 0.0000932 (found below by golden-section search). The simulated sweep over
    a year and 10 seeds must find its best static price within 5 % of p*.
    """
    lam, length, median, sigma = 2.0, 1.0, 0.0001, 0.3

    def survival(p: float) -> float:
        return 0.5 * math.erfc((math.log(p) - math.log(median)) / (sigma * math.sqrt(2)))

    def revenue(p: float) -> float:
        rho = lam * survival(p) * length
        return p * rho / (1 + rho)

    low, high = 0.00003, 0.0003
    for _ in range(100):  # golden-section search: f is unimodal here
        a, b = high - (high - low) / 1.618, low + (high - low) / 1.618
        low, high = (low, b) if revenue(a) > revenue(b) else (a, high)
    optimum = (low + high) / 2
    assert 0.00009 < optimum < 0.0000960

    loss = market(
        peers={"count": 0, "rule": []},
        demand={
            "arrivals_per_day": lam,
            "daily": [1.0] * 24,
            "weekly": [1.0] * 7,
            "spot_share": 0.0,
            "price_sensitivity": 0.0,
            "reservation": {"median": median, "sigma": sigma},
        },
        rentals={"hours": {"median": 24 * length, "sigma": 0.0}},
        costs={"electricity": 0.0, "overhead_w": 0.0, "fixed_per_day": 0.0},
        fees={"on_demand": 0.0, "spot": 0.0},
        sweep={"low": 0.4, "high": 2.0, "points": 41},
    )
    best, _ = best_static(loss, range(10), 365)
    assert abs(best / optimum - 1) < 0.05, (best, optimum)


def test_the_same_seed_gives_the_same_numbers() -> None:
    daily = market("daily-cycle", sweep={"points": 5})
    first = evaluate(daily, {"default": DEFAULT}, seeds=[3, 4], days=7)
    again = evaluate(daily, {"default": DEFAULT}, seeds=[3, 4], days=7)
    assert json.dumps(first.to_dict()) == json.dumps(again.to_dict())
    other = evaluate(daily, {"default": DEFAULT}, seeds=[5, 6], days=7)
    assert json.dumps(other.to_dict()) != json.dumps(first.to_dict())


def test_renters_follow_the_daily_and_weekly_profile() -> None:
    daily = market("daily-cycle")
    people = [a for seed in range(5) for a in arrivals(daily, seed, 28)]
    hours = [int((a.t - START) // 3600) % 24 for a in people]
    night = sum(h in (2, 3, 4) for h in hours)
    peak = sum(h in (14, 15, 16) for h in hours)
    assert peak > 10 * night  # the profile: 0.1 at night, 2.5 at the peak
    weekend = sum(int((a.t - START) // 86400) % 7 >= 5 for a in people)
    assert weekend < 0.2 * len(people)  # 1.0 of the week's 7.0 weight, scaled


def test_a_rental_keeps_the_price_it_started_at() -> None:
    # Up 20 % while rented, back down when free: the renter pays what it found.
    policy = parse_policy(
        {
            "version": 1,
            "rails": {
                "on_demand": {"floor": 0.00005, "ceiling": 0.0003},
                "spot": {"floor": 0.00002, "ceiling": 0.0002},
                "max_step": "20%",
                "min_interval": "5m",
            },
            "rule": [
                {
                    "name": "rented",
                    "when": {"fact": "rented"},
                    "then": {"on_demand": {"set": 0.00012}},
                },
                {
                    "name": "free",
                    "when": {"fact": "rented", "value": False},
                    "then": {"on_demand": {"set": 0.0001}},
                },
            ],
        }
    )
    steady = market(demand={"spot_share": 0.0})
    result = run(steady, 1, 30, static_settings(steady, 0.0001), policy)
    timeline = result.timeline
    raised_during = 0
    for rental in result.rentals:
        in_force = [s.on_demand for t, s in timeline if t <= rental.start][-1]
        assert rental.price == in_force == 0.0001
        raised_during += any(rental.start < t < rental.end for t, s in timeline)
    assert raised_during >= 3  # the price rose under running rentals, which kept theirs
    earned = sum(
        r.price * (min(r.end, START + 30 * 86400) - r.start) / 86400 for r in result.rentals
    )
    assert math.isclose(result.gross, earned, rel_tol=1e-12)


def test_hours_below_the_cost_floor_count_rented_and_listed_time() -> None:
    steady = market()
    floor = steady.cost_floor[0]
    cheap = run(steady, 0, 10, static_settings(steady, floor * 0.9))
    assert cheap.rentals and math.isclose(cheap.hours_below_floor, 240, rel_tol=1e-9)
    fair = run(steady, 0, 10, static_settings(steady, floor * 1.5))
    assert fair.hours_below_floor == 0
    # Delisted time is not listed below the floor; rented time is only if the price was.
    off = static_settings(steady, floor * 0.9)._replace(availability=False)
    assert run(steady, 0, 10, off).hours_below_floor == 0
