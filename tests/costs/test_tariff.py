"""The tariff: the price now, and its average over the horizon, against hand-computed cases."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from clore_host.costs.tariff import Segment, Tariff, Window

PEAK = Window(price=0.30, start=17, end=21)


def at(text: str, zone: str = "UTC") -> float:
    """Seconds since the epoch of a local time "2026-03-28 18:00" in `zone`."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()


def test_a_flat_tariff_is_its_price_at_every_moment() -> None:
    flat = Tariff(0.14, "USD")
    assert flat.price_at(at("2026-11-30 03:00")) == 0.14
    assert flat.average(at("2026-11-30 03:17"), 86400) == 0.14
    assert flat.segments(at("2026-11-30 03:17"), 3600) == (
        Segment(at("2026-11-30 03:17"), at("2026-11-30 04:17"), 0.14),
    )


def test_a_horizon_that_crosses_the_peak_pays_for_it() -> None:
    tariff = Tariff(0.10, "USD", "UTC", (PEAK,))
    assert tariff.price_at(at("2026-11-30 16:59:59")) == 0.10
    assert tariff.price_at(at("2026-11-30 17:00")) == 0.30
    assert tariff.price_at(at("2026-11-30 21:00")) == 0.10
    # From 15:00, six hours: 2 h at 0.10 and 4 h at 0.30.
    assert tariff.average(at("2026-11-30 15:00"), 6 * 3600) == pytest.approx(1.4 / 6, abs=1e-15)
    # A day from any moment holds the 4 peak hours: (4 x 0.30 + 20 x 0.10) / 24.
    for when in ("2026-11-30 12:00", "2026-11-30 19:00", "2026-11-30 18:37:12"):
        assert tariff.average(at(when), 86400) == pytest.approx(3.2 / 24, abs=1e-15)
    # Starting mid-peak, for two hours: 1 h 23 m at 0.30, then 37 m at 0.10.
    start = at("2026-11-30 19:37")
    expected = (83 * 0.30 + 37 * 0.10) / 120
    assert tariff.average(start, 7200) == pytest.approx(expected, abs=1e-15)
    assert tariff.segments(start, 7200) == (
        Segment(start, at("2026-11-30 21:00"), 0.30),
        Segment(at("2026-11-30 21:00"), start + 7200, 0.10),
    )


def test_windows_by_weekday_and_past_midnight_first_match_wins() -> None:
    tariff = Tariff(
        0.20,
        "EUR",
        "UTC",
        (
            Window(price=0.08, weekdays=frozenset({5, 6})),  # the weekend, all day
            Window(price=0.12, start=22, end=6),  # nights, past midnight
            Window(price=0.50, start=0, end=24),  # never reached: the night rule came first
        ),
    )
    # 2026-11-27 is a Friday.
    assert tariff.price_at(at("2026-11-27 23:30")) == 0.12
    assert tariff.price_at(at("2026-11-28 05:59")) == 0.08  # Saturday
    assert tariff.price_at(at("2026-11-30 05:59")) == 0.12  # Monday night
    assert tariff.price_at(at("2026-11-30 06:00")) == 0.50
    # Friday 18:00 for a day: 4 h at 0.50 (18-22), 2 h of Friday night at 0.12, 18 h of
    # Saturday at 0.08.
    expected = (4 * 0.50 + 2 * 0.12 + 18 * 0.08) / 24
    assert tariff.average(at("2026-11-27 18:00"), 86400) == pytest.approx(expected, abs=1e-15)


def test_a_horizon_across_the_spring_change_counts_real_hours() -> None:
    # Prague, Saturday 2026-03-28 18:00 CET: the night loses an hour (02:00 -> 03:00 CEST),
    # so 24 real hours end at 19:00 local: peak 18-21 (3 h) and 17-19 (2 h) = 5 h.
    tariff = Tariff(0.10, "CZK", "Europe/Prague", (PEAK,))
    start = at("2026-03-28 18:00", "Europe/Prague")
    assert tariff.average(start, 86400) == pytest.approx((5 * 0.30 + 19 * 0.10) / 24, abs=1e-15)
    segments = tariff.segments(start, 86400)
    assert [s.price for s in segments] == [0.30, 0.10, 0.30]
    assert segments[1].end == at("2026-03-29 17:00", "Europe/Prague")
    assert segments[1].end - segments[1].start == 19 * 3600  # 21:00 to 17:00, one hour short


def test_a_horizon_across_the_autumn_change_counts_real_hours() -> None:
    # Saturday 2026-10-24 18:00 CEST: the night gains an hour, so 24 real hours end at 17:00
    # local: only the 3 peak hours of Saturday.
    tariff = Tariff(0.10, "CZK", "Europe/Prague", (PEAK,))
    start = at("2026-10-24 18:00", "Europe/Prague")
    assert tariff.average(start, 86400) == pytest.approx((3 * 0.30 + 21 * 0.10) / 24, abs=1e-15)
    # Repeated 02:00-03:00 local hour: a window over it counts both real hours.
    night = Tariff(0.10, "CZK", "Europe/Prague", (Window(price=1.0, start=2, end=3),))
    midnight = at("2026-10-25 00:00", "Europe/Prague")
    assert night.average(midnight, 6 * 3600) == pytest.approx((2 * 1.0 + 4 * 0.10) / 6, abs=1e-15)


def test_a_zone_half_an_hour_off_utc_changes_price_on_its_own_hour() -> None:
    tariff = Tariff(0.10, "INR", "Asia/Kolkata", (PEAK,))
    start = at("2026-11-30 16:00", "Asia/Kolkata")  # 10:30 UTC
    segments = tariff.segments(start, 3 * 3600)
    assert segments[0] == Segment(start, at("2026-11-30 17:00", "Asia/Kolkata"), 0.10)
    assert tariff.average(start, 3 * 3600) == pytest.approx((0.10 + 2 * 0.30) / 3, abs=1e-15)


def test_a_span_must_be_finite_and_positive() -> None:
    with pytest.raises(ValueError):
        Tariff(0.1, "USD").segments(0.0, 0.0)
    with pytest.raises(ValueError):
        Tariff(0.1, "USD").segments(float("nan"), 10.0)
