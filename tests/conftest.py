"""Test-suite wide settings."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# Wall-clock deadlines make property tests flaky on a shared 2-core machine; correctness is what they check.
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
# CI runs the same examples every time, so a red build is reproducible from its log.
settings.register_profile("ci", parent=settings.get_profile("dev"), derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

# Every store save in the suites also proves that what it skipped as unchanged was not changed in place.
os.environ.setdefault("DRWAVE_STORE_CHECKS", "1")
