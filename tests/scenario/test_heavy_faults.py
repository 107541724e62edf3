"""The example plan under heavy faults ends exactly as it does without them (the transactional outbox at work):
crashes right after saves and refused PutEvents no longer lose the gate's notice, so the operator still approves
in time and the drill still ends COMPLETED_WITH_WARNINGS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from drwave_local.cli.rehearsal import RehearsalOptions, rehearse
from drwave_local.runtime.router import Faults

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# The operator approves the gate this long after its notice arrives, well inside the example's 30-minute gate
# timeout even when the notice waits for the tick to drain it from the outbox.
APPROVE_AFTER_SECONDS = 120.0


def outcome(report: dict[str, Any]) -> dict[str, Any]:
    """What the run decided, without timings or ids: statuses of the execution, its waves and servers."""
    return {
        "status": report["status"],
        "waves": {
            w["id"]: (w["status"], sorted((s["sourceServerId"], s["launchStatus"]) for s in w["servers"]))
            for w in report["waves"]
        },
    }


def run(faults: Faults | None, lose_launch_results: float = 0.0) -> dict[str, Any]:
    options = RehearsalOptions(
        faults=faults, lose_launch_results=lose_launch_results, approve_gates_after_seconds=APPROVE_AFTER_SECONDS
    )
    return rehearse(EXAMPLES / "retail-plan.yaml", EXAMPLES / "retail-environment.yaml", options, out=lambda _: None)


@pytest.fixture(scope="module")
def fault_free() -> dict[str, Any]:
    report = run(None)
    assert report["status"] == "COMPLETED_WITH_WARNINGS"
    return report


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_the_example_plan_under_heavy_faults_ends_as_it_does_without_them(fault_free, seed):
    # GIVEN duplicated, delayed and dropped deliveries, handlers dying right after their saves, PutEvents refusing
    # entries (the operator's commands included) and half of DRS's launch results lost
    faults = Faults(
        duplicate=0.2,
        drop=0.1,
        max_delay_seconds=20,
        crash_after_save=0.2,
        publish_failure=0.2,
        seed=seed,
    )
    # WHEN the example drill is rehearsed
    report = run(faults, lose_launch_results=0.5)
    # THEN faults were really injected, and the outcome is the fault-free one, invariants intact
    assert report["deliveries"]["injectedCrashes"] > 0
    assert report["invariantViolations"] == []
    assert report["groundTruthMismatches"] == []
    assert outcome(report) == outcome(fault_free)
    # AND the gate was announced and approved (not timed out)
    assert report["eventsPublished"].get("Wave Gate Waiting", 0) >= 1
    assert any(e["event"] == "GATE_APPROVED" for e in report["timeline"])
