"""Hypothesis-chosen adversarial schedules: agreement, validity and liveness after healing on every run.

`make test` runs 800 schedules (500 with n = 4, 300 with n = 7; derandomized, so the same set every
run); SILKPORT_LONG=1 runs 12,000 with fresh randomness.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings

from .network import Schedule, run_schedule
from .schedules import schedules

LONG = os.environ.get("SILKPORT_LONG") == "1"
SCALE = 15 if LONG else 1


def _settings(examples: int) -> settings:
    return settings(max_examples=examples * SCALE, deadline=None, derandomize=not LONG, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@_settings(500)
@given(schedules(4))
def test_n4_adversarial_schedules(schedule: Schedule) -> None:
    run_schedule(schedule)


@_settings(300)
@given(schedules(7))
def test_n7_adversarial_schedules(schedule: Schedule) -> None:
    run_schedule(schedule)
