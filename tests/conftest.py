"""Test-suite wide settings."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from drwave_local.runtime.fast_dynamodb import CHOICES, ENV_VAR

# Wall-clock deadlines make property tests flaky on a shared 2-core machine; correctness is what they check.
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
# CI runs the same examples every time, so a red build is reproducible from its log.
settings.register_profile("ci", parent=settings.get_profile("dev"), derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

# Every store save in the suites also proves that what it skipped as unchanged was not changed in place.
os.environ.setdefault("DRWAVE_STORE_CHECKS", "1")
os.environ.setdefault("DRWAVE_VALIDATION_CHECKS", "1")  # the fast client's compiled validation agrees with botocore


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--dynamodb",
        choices=CHOICES,
        default=None,
        help=f"DynamoDB of every LocalRuntime the tests start (scenario, property, ...): moto over botocore, or the "
        f"fast in-process client on the same moto backend; default ${ENV_VAR}, else fast. Adapter tests that build "
        f"their own boto3 clients always use moto.",
    )


def pytest_configure(config: pytest.Config) -> None:
    choice = config.getoption("--dynamodb")
    if choice:  # LocalRuntime reads it when it is built without an explicit choice
        os.environ[ENV_VAR] = choice
    # The suites run on the fast client by default (moto's backend without botocore's wire: about 2.7x faster);
    # `make scenario` runs them on moto over botocore, and test_fast_dynamodb*.py hold the two to the same answers.
    os.environ.setdefault(ENV_VAR, "fast")
