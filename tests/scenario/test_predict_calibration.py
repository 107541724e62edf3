"""The prediction is calibrated: rehearsals of the example plan in fresh worlds land in its bands as often as the
bands say (80 % between p10 and p90, half below p50), with the real handlers in the local runtime."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from drwave_local.cli.predict import run_prediction
from drwave_local.cli.rehearsal import RehearsalOptions, rehearse
from drwave_local.paths import EXAMPLES
from drwave_local.simulators.environment import load_environment, load_plan_document

PLAN, ENVIRONMENT = EXAMPLES / "retail-plan.yaml", EXAMPLES / "retail-environment.yaml"
WORLDS = 24


def _world(tmp_path: Path, seed: int) -> Path:
    """The example environment with another seed: the same servers and jitter, a fresh draw of it."""
    text = re.sub(r"(?m)^seed: \d+$", f"seed: {seed}", ENVIRONMENT.read_text(encoding="utf-8"))
    path = tmp_path / f"environment-{seed}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.slow
def test_rehearsals_in_fresh_worlds_fall_in_the_predicted_bands_as_often_as_they_say(tmp_path: Path):
    # GIVEN the example plan's prediction (200 runs) and the RTO `drwave run` measures in 24 other worlds
    prediction, _, _ = run_prediction(
        load_plan_document(PLAN), load_environment(ENVIRONMENT), runs=200, approval_delay=120.0, history={}
    )
    bands = prediction.plan_rto
    measured = [
        rehearse(PLAN, _world(tmp_path, seed), RehearsalOptions(), out=lambda _: None)["simulatedRtoSeconds"]
        for seed in range(101, 101 + WORLDS)
    ]
    # WHEN each is placed in the bands
    inside = sum(bands["p10"] <= m <= bands["p90"] for m in measured)
    below_median = sum(m < bands["p50"] for m in measured)
    # THEN about 80 % fall between p10 and p90 and about half below p50 (binomial 95 % ranges for 24 worlds)
    assert 14 <= inside <= 24, (bands, sorted(measured))
    assert 6 <= below_median <= 18, (bands, sorted(measured))
