"""The same scenarios on moto over botocore and on the fast in-process DynamoDB client: identical outcomes.

The whole scenario and property suites run either way (`pytest --dynamodb=fast`); these tests run a few
executions both ways in one session and compare everything the run leaves behind, down to the audit trail.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from drwave.models.execution import ExecutionStatus
from drwave_local.runtime.fast_dynamodb import ENV_VAR, FastClient
from drwave_local.runtime.router import Faults

KINDS = ("moto", "fast")
RANDOM = frozenset({"launch_token"})  # uuid4s the engine draws: different in every run, whatever the store


def _steady(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "<random>" if k in RANDOM else _steady(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_steady(v) for v in value]
    return value


def _outcome(rt: Any, execution_id: str) -> dict[str, Any]:
    execution = rt.execution(execution_id)
    return {
        "execution": _steady(execution.model_dump(mode="json")),
        "view": rt.deps.store.load_view(execution_id),
        "jobs": [(j.job_id, j.job_type, j.created.isoformat(), len(j.runs)) for j in rt.drs.jobs.values()],
        "invocations": dict(rt.router.stats.invocations),
        "published": dict(rt.router.stats.published),
        "now": rt.clock.now().isoformat(),
    }


def _run(scenario: Any, kind: str, **run: Any) -> dict[str, Any]:
    with scenario.run(dynamodb=kind, **run) as rt:
        assert rt.dynamodb_kind == kind
        execution_id = rt.request_execution("agree")
        rt.run()
        return _outcome(rt, execution_id)


@pytest.mark.parametrize(
    "run",
    [
        pytest.param({}, id="no-faults"),
        pytest.param(
            {"faults": Faults(duplicate=0.2, max_delay_seconds=20, crash_after_save=0.1, seed=21)},
            id="duplicates-delays-crashes",
        ),
    ],
)
def test_a_fan_out_with_a_failing_server_ends_the_same_on_both(scenario, run):
    scenario.plan(
        "agree",
        {"id": "db", "servers": [{}, {}, {"failAt": "LAUNCH"}]},
        {"id": "app", "dependsOn": ["db"], "servers": 120},  # wider than one DRS job: two chunks
        {"id": "web", "dependsOn": ["app"], "servers": 4},
    )
    outcomes = {kind: _run(scenario, kind, **run) for kind in KINDS}
    assert outcomes["fast"] == outcomes["moto"]
    assert outcomes["fast"]["execution"]["status"] != ExecutionStatus.RUNNING


def test_the_suite_runs_on_the_dynamodb_it_was_asked_for(scenario, pytestconfig):
    # `pytest --dynamodb=fast` (or $DRWAVE_LOCAL_DYNAMODB) reaches every LocalRuntime built without a choice.
    scenario.plan("agree", {"id": "only", "servers": 1})
    expected = pytestconfig.getoption("--dynamodb") or os.environ.get(ENV_VAR) or "moto"
    with scenario.run() as rt:
        assert rt.dynamodb_kind == expected
        assert isinstance(rt.dynamodb, FastClient) == (expected == "fast")
