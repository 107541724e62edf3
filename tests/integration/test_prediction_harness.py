"""The prediction harness: decide() for every decision, the DRS and SSM simulators (in memory) as AWS."""

from __future__ import annotations

from datetime import timedelta

from drwave.core.capacity import DrsLimits
from drwave.core.predict import Assumptions
from drwave.models.plan import PlanDocument
from drwave_local.cli.predict import server_models
from drwave_local.simulators.environment import Environment
from drwave_local.simulators.prediction import predict_in_simulator, replay

SERVERS = [f"s-{n:017d}" for n in range(1, 251)]


def _world(limits_jobs: int = 20) -> tuple[PlanDocument, Environment, DrsLimits]:
    document = PlanDocument.model_validate(
        {
            "protectionGroups": [{"id": "pg", "name": "all", "region": "us-east-1", "sourceServerIds": SERVERS}],
            "recoveryPlan": {
                "id": "big",
                "name": "big",
                "waves": [{"id": "w", "name": "w", "protectionGroupIds": ["pg"]}],
            },
        }
    )
    environment = Environment.model_validate(
        {
            "accountId": "111122223333",
            "region": "us-east-1",
            "seed": 3,
            "jitter": 0.0,
            "defaultTimeline": {"snapshotSeconds": 60, "conversionSeconds": 240, "launchSeconds": 120},
            "sourceServers": [{"id": sid, "hostname": sid} for sid in SERVERS],
        }
    )
    return document, environment, DrsLimits(active_jobs=limits_jobs)


def _predict(document: PlanDocument, environment: Environment, limits: DrsLimits):
    groups = {g.id: g for g in document.protection_groups}
    models = server_models(environment, {})
    return replay(document.recovery_plan, groups, models, environment, assume=Assumptions(), limits=limits)


def test_a_250_server_wave_is_split_into_jobs_of_at_most_100_that_the_simulator_runs_at_once():
    # GIVEN one wave of 250 servers, each launching in exactly 7 minutes (no jitter)
    document, environment, limits = _world()
    # WHEN it runs through the harness
    execution = _predict(document, environment, limits)
    # THEN start-wave split it into 3 DRS jobs of at most 100 servers, all admitted at once, so the wave takes one
    # launch (7 min 5 s with the job start delay) and hops, not three
    chunks = execution.waves["w"].chunks
    assert [len(c.source_server_ids) for c in chunks] == [100, 100, 50]
    assert len({c.job_id for c in chunks}) == 3
    took = execution.ended_at - execution.started_at
    assert timedelta(minutes=7, seconds=5) < took < timedelta(minutes=7, seconds=8), took


def test_the_active_job_quota_makes_the_jobs_of_a_wave_run_one_after_another():
    # GIVEN the same wave, with DRS allowing one active job at a time
    document, environment, limits = _world(limits_jobs=1)
    # WHEN it runs through the harness
    execution = _predict(document, environment, limits)
    # THEN each job waits for the previous one to end: three launches in a row
    took = execution.ended_at - execution.started_at
    assert timedelta(minutes=21, seconds=15) < took < timedelta(minutes=21, seconds=30), took
    assert str(execution.status) == "COMPLETED"


def test_each_prediction_run_is_a_fresh_world_and_the_spread_follows_the_jitter():
    # GIVEN the wave with the environment's jitter of 15 % and DRS's default quotas
    document, environment, _ = _world()
    environment = environment.model_copy(update={"jitter": 0.15})
    groups = {g.id: g for g in document.protection_groups}
    # WHEN it is predicted over 5 runs
    prediction = predict_in_simulator(
        document.recovery_plan, groups, server_models(environment, {}), environment, runs=5, assume=Assumptions()
    )
    # THEN the runs differ (a fresh seed each) and the slowest of 250 servers sits near the top of the jitter
    rto = prediction.plan_rto
    assert rto["p10"] is not None and rto["p99"] is not None and rto["p10"] < rto["p99"]
    assert 7 * 60 * 1.05 < rto["p10"] <= rto["p99"] < 7 * 60 * 1.16
