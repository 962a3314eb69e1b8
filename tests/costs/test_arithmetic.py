"""Power, fees and the floor against hand-computed cases."""

from __future__ import annotations

import math

import pytest

from clore_host.costs.fees import gross_for_net, net_of_gross
from clore_host.costs.floor import cost_floor, daily_cost, kwh_per_day, round_up
from clore_host.costs.power import (
    PowerFigure,
    at_the_wall,
    limit_w,
    needed_samples,
    power_figure,
    weighted_p95,
)
from clore_host.facts import GpuNow, Unknown
from clore_host.history import PowerDraw
from clore_host.money import UNIT

from .conftest import gpus


def draws(*watts: float, gpus: int = 4) -> list[PowerDraw]:
    return [PowerDraw(float(i), w, gpus, 1) for i, w in enumerate(watts)]


# -- power ------------------------------------------------------------------------------------


def test_the_limit_is_the_sum_of_the_gpus_limits_plus_overhead() -> None:
    figure = power_figure("limit", gpus(4, 450.0), [], need=360, overhead_w=150)
    assert isinstance(figure, PowerFigure)
    assert (figure.watts, figure.source, figure.asked, figure.gpus_w) == (
        1950,
        "limit",
        "limit",
        1800,
    )
    assert not figure.fell_back


def test_a_psu_efficiency_divides_what_is_drawn() -> None:
    assert at_the_wall(1800, 150, 92.0) == pytest.approx(1950 / 0.92)
    figure = power_figure("limit", gpus(4, 450.0), [], need=1, overhead_w=150, psu_efficiency=92)
    assert isinstance(figure, PowerFigure) and figure.watts == pytest.approx(2119.565217391304)


def test_an_unknown_limit_is_unknown_power() -> None:
    assert limit_w(()) == Unknown("power_unknown", ("no GPU was read",))
    assert limit_w(gpus(2, None)) == Unknown("power_unknown", ("GPU 0 reports no power limit",))
    lost = (GpuNow(index=0, power_limit=450.0), GpuNow(index=1, lost=True))
    assert limit_w(lost) == Unknown("power_unknown", ("GPU 1 is lost",))
    assert limit_w(gpus(1, 1e9)) == Unknown(
        "power_unknown", ("GPU 0 reports an implausible limit of 1e+09 W",)
    )
    assert power_figure("limit", lost, [], need=1) == Unknown("power_unknown", ("GPU 1 is lost",))


def test_measured_is_the_p95_of_the_rented_draw_plus_overhead() -> None:
    # 100 samples: 1000 W, ..., 1099 W. The nearest-rank p95 is the 95th: 1094 W.
    found = draws(*(1000.0 + i for i in range(100)))
    figure = power_figure("measured", gpus(4, 450.0), found, need=60, overhead_w=150)
    assert isinstance(figure, PowerFigure)
    assert (figure.source, figure.measured_w, figure.watts) == ("measured", 1094.0, 1244.0)
    assert (figure.limit_w, figure.samples, figure.need) == (1800.0, 100, 60)


def test_measured_falls_back_to_the_limit_with_too_few_rented_samples() -> None:
    found = draws(*([1000.0] * 59))
    figure = power_figure("measured", gpus(4, 450.0), found, need=60, overhead_w=150)
    assert isinstance(figure, PowerFigure)
    assert (figure.asked, figure.source, figure.watts, figure.samples) == (
        "measured",
        "limit",
        1950.0,
        59,
    )
    assert figure.fell_back and figure.measured_w is None


def test_samples_missing_a_gpu_or_unreadable_do_not_count() -> None:
    found = [
        *draws(*([1000.0] * 60)),
        *draws(*([10.0] * 40), gpus=3),  # a card not reporting: the sum is short
        PowerDraw(0.0, math.inf, 4, 1),
        PowerDraw(0.0, 1e9, 4, 1),
    ]
    figure = power_figure("measured", gpus(4, 450.0), found, need=60)
    assert isinstance(figure, PowerFigure)
    assert (figure.source, figure.watts, figure.samples) == ("measured", 1000.0, 60)


def test_measured_power_needs_no_known_limit_but_the_fallback_does() -> None:
    found = draws(*([800.0] * 10), gpus=2)
    assert isinstance(power_figure("measured", gpus(2, None), found, need=10), PowerFigure)
    assert power_figure("measured", gpus(2, None), found, need=11) == Unknown(
        "power_unknown", ("GPU 0 reports no power limit",)
    )


def test_rollup_minutes_weigh_their_sample_counts() -> None:
    # 19 samples at 500 W and one minute of 6 samples at 900 W: 25 in all, rank 24 is 900 W.
    found = [*draws(*([500.0] * 19)), PowerDraw(0.0, 900.0, 4, 6)]
    assert weighted_p95(found) == 900.0
    # One sample at 900 W: the top of 19 is rank 19 (ceil 18.05); of 20, rank 19 is 500 W.
    assert weighted_p95([*draws(*([500.0] * 18)), PowerDraw(0.0, 900.0, 4, 1)]) == 900.0
    assert weighted_p95([*draws(*([500.0] * 19)), PowerDraw(0.0, 900.0, 4, 1)]) == 500.0


def test_an_hour_of_samples_is_needed() -> None:
    assert needed_samples(10.0) == 360
    assert needed_samples(7.0) == 515
    assert needed_samples(7200.0) == 1


# -- fees ---------------------------------------------------------------------------------------


def test_the_gross_nets_the_cost_after_fee_and_surcharge() -> None:
    # On demand in bitcoin: 5 % + 15 % = 20 % kept, so 100 needs 125.
    assert gross_for_net(100.0, 20.0) == 125.0
    assert net_of_gross(125.0, 20.0) == 100.0
    # Spot in bitcoin: 1.25 % + 15 %.
    assert gross_for_net(100.0, 16.25) == pytest.approx(100 / 0.8375)
    assert gross_for_net(100.0, 0.0) == 100.0
    with pytest.raises(ValueError):
        gross_for_net(100.0, 100.0)


# -- the cost a day and the floors ------------------------------------------------------------


def test_the_worked_example_by_hand() -> None:
    # 1950 W for a day is 46.8 kWh; at 0.14 USD that is 6.552 USD, plus 1 USD fixed.
    assert kwh_per_day(1950.0) == pytest.approx(46.8)
    cost = daily_cost(1950.0, 0.14, 1.0, energy_usd=1.0, fixed_usd=1.0, listing_usd=95000.0)
    assert cost.energy == pytest.approx(6.552) and cost.usd == pytest.approx(7.552)
    assert cost.listing == pytest.approx(7.552 / 95000)  # 0.0000794947...
    assert round_up(cost.listing) == 0.0000795
    # Floors: 7.552 / 0.8 / 95000 = 0.0000993684 -> 0.00009937 on demand;
    # 7.552 / 0.8375 / 95000 = 0.0000949191 -> 0.00009492 spot.
    assert cost_floor(cost.listing, 20.0) == 0.00009937
    assert cost_floor(cost.listing, 16.25) == 0.00009492


def test_a_cost_currency_other_than_usd_goes_through_usd() -> None:
    # 1000 W at 0.25 EUR/kWh = 6 EUR, plus 2 EUR fixed = 8 EUR = 8.64 USD at 1.08.
    cost = daily_cost(1000.0, 0.25, 2.0, energy_usd=1.08, fixed_usd=1.08, listing_usd=95000.0)
    assert (cost.energy, cost.fixed) == (6.0, 2.0)
    assert cost.usd == pytest.approx(8.64)
    assert round_up(cost.listing) == 0.00009095  # 8.64 / 95000 = 0.0000909473...
    # Electricity in EUR, the fixed cost in GBP at 1.25: 6.48 + 2.5 USD.
    mixed = daily_cost(1000.0, 0.25, 2.0, energy_usd=1.08, fixed_usd=1.25, listing_usd=95000.0)
    assert mixed.usd == pytest.approx(8.98)


@pytest.mark.parametrize("cost", [7.552 / 95000, 1e-9, 0.00001, 0.000123456789, 0.0])
@pytest.mark.parametrize("kept", [0.0, 5.0, 16.25, 20.0, 99.0])
def test_a_floor_is_the_least_whole_unit_that_nets_the_cost(cost: float, kept: float) -> None:
    floor = cost_floor(cost, kept)
    assert round(floor / UNIT) * UNIT == pytest.approx(floor)  # a whole number of units
    assert net_of_gross(floor, kept) >= cost * (1 - 1e-12)
    if floor > 0:
        assert net_of_gross(floor - UNIT, kept) < cost


def test_a_margin_on_top_of_the_floor_still_nets_the_cost() -> None:
    # The policy's cost_floor margin multiplies the floor (the guard does it): 10 % over a
    # floor that nets the cost nets 10 % over the cost.
    cost = 7.552 / 95000
    floor = cost_floor(cost, 20.0)
    with_margin = round_up(floor * 1.10)
    assert with_margin == 0.00010931
    assert net_of_gross(with_margin, 20.0) >= cost * 1.10
