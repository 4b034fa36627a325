"""Latency distributions and settings validation."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from ekstwin.cloud import CloudSettings, Fixed, LogNormal, Uniform
from ekstwin.errors import InvalidInput


def test_fixed_draws_nothing_from_the_stream() -> None:
    rng = random.Random(3)
    state = rng.getstate()
    assert Fixed(4.5).sample(rng) == 4.5
    assert rng.getstate() == state


def test_uniform_stays_within_its_bounds() -> None:
    rng = random.Random(3)
    draws = [Uniform(1.0, 2.0).sample(rng) for _ in range(1000)]
    assert min(draws) >= 1.0 and max(draws) <= 2.0


def test_lognormal_is_centred_on_its_median_and_capped() -> None:
    rng = random.Random(3)
    draws = sorted(LogNormal(median=10.0, sigma=0.25).sample(rng) for _ in range(2001))
    assert 9.5 <= draws[1000] <= 10.5
    assert max(LogNormal(median=10.0, sigma=3.0, cap=30.0).sample(rng) for _ in range(500)) == 30.0


@pytest.mark.parametrize("build", [
    lambda: Fixed(-1.0), lambda: Uniform(2.0, 1.0), lambda: LogNormal(0.0, 0.2),
    lambda: LogNormal(10.0, -1.0), lambda: LogNormal(10.0, 0.1, cap=5.0),
    lambda: CloudSettings(spot_depth_medians=(1, 2, 3)), lambda: CloudSettings(unknown_bucket=5),
    lambda: CloudSettings(spot_depth_sigma=-0.1), lambda: CloudSettings(min_billed_seconds=-1.0),
])
def test_bad_settings_are_rejected(build: Callable[[], object]) -> None:
    with pytest.raises(InvalidInput):
        build()


def test_default_medians_add_up_to_about_forty_seconds() -> None:
    s = CloudSettings()
    phases = (s.create_fleet, s.pending_to_running, s.running_to_registered, s.registered_to_ready)
    assert 35.0 <= sum(p.median for p in phases) <= 60.0
