"""What-if RTO prediction through the decision core (pure, virtual time)."""

from __future__ import annotations

from drwave.core.capacity import DrsLimits
from drwave.core.predict import Assumptions, ServerModel, critical_path, predict
from drwave.models.plan import PlanDocument


def _document(servers_per_wave: int, *, target: int | None = None, gate: bool = False) -> PlanDocument:
    ids = {w: [f"s-{i:02d}{n:015d}" for n in range(servers_per_wave)] for i, w in enumerate(("a", "b", "c"))}
    waves = [
        {"id": "a", "protectionGroupIds": ["ga"]},
        {"id": "b", "protectionGroupIds": ["gb"], "dependsOn": ["a"]},
        {"id": "c", "protectionGroupIds": ["gc"], "dependsOn": ["a"]}
        | ({"pauseBeforeWave": {"timeoutMinutes": 60}} if gate else {}),
    ]
    return PlanDocument.model_validate(
        {
            "protectionGroups": [{"id": f"g{w}", "name": w, "sourceServerIds": s} for w, s in ids.items()],
            "recoveryPlan": {"id": "p", "name": "P", "targetRtoMinutes": target, "waves": waves},
        }
    )


def _servers(document: PlanDocument, **fields: object) -> dict[str, ServerModel]:
    return {
        sid: ServerModel(sid, **fields)  # type: ignore[arg-type]
        for g in document.protection_groups
        for sid in g.source_server_ids or []
    }


def test_fixed_durations_give_the_chain_of_two_launches_and_no_spread():
    # GIVEN servers that always take exactly 600 s to launch, no jitter, and an instant world
    document = _document(2)
    assume = Assumptions(jitter=0, job_start_delay=0, hop_seconds=0)
    servers = _servers(document, history=(600.0,))
    # WHEN predicted (history resampled within +-5 %)
    result = predict(
        document.recovery_plan, {g.id: g for g in document.protection_groups}, servers, runs=30, assume=assume
    )
    # THEN the plan takes about two launches (a, then b and c in parallel), every run completing
    p50, p90 = result.plan_rto["p50"], result.plan_rto["p90"]
    assert p50 is not None and p90 is not None
    assert 1140 <= p50 <= p90 <= 1260
    assert result.statuses == {"COMPLETED": 30}
    assert result.critical_path[0] == "a" and len(result.critical_path) == 2


def test_the_drs_job_quota_makes_chunks_wait_for_each_other():
    # GIVEN 250 servers per wave (3 jobs each) and an account that allows one DRS job at a time
    document = _document(250)
    assume = Assumptions(jitter=0, job_start_delay=0, hop_seconds=0)
    servers = _servers(document, history=(600.0,))
    groups = {g.id: g for g in document.protection_groups}
    # WHEN predicted with the quota and without it
    tight = predict(document.recovery_plan, groups, servers, runs=3, assume=assume, limits=DrsLimits(active_jobs=1))
    free = predict(document.recovery_plan, groups, servers, runs=3, assume=assume)
    # THEN one job at a time serialises the 9 jobs, while the default quotas only split them
    assert tight.plan_rto["p50"] is not None and free.plan_rto["p50"] is not None
    assert tight.plan_rto["p50"] > 8 * 570
    assert free.plan_rto["p50"] < 3 * 630


def test_a_gate_adds_the_assumed_approval_delay_and_the_target_is_judged():
    # GIVEN a gated third wave, approvals after 20 minutes, and a 25-minute target
    document = _document(1, target=25, gate=True)
    servers = _servers(document, history=(600.0,))
    groups = {g.id: g for g in document.protection_groups}
    assume = Assumptions(jitter=0, job_start_delay=0, hop_seconds=0, approval_delay=1200)
    # WHEN predicted
    result = predict(document.recovery_plan, groups, servers, runs=20, assume=assume)
    # THEN the gated wave is on the critical path, the plan takes ~ gate + launch and always misses the target
    assert result.critical_path == ["c"] or result.critical_path[-1] == "c"
    assert result.plan_rto["p50"] is not None and result.plan_rto["p50"] > 1200 + 570
    assert result.probability_meeting_target == 0.0


def test_critical_path_follows_the_latest_ending_dependencies():
    document = _document(1)
    servers = _servers(document, phases=(10.0, 10.0, 10.0))
    result = predict(document.recovery_plan, {g.id: g for g in document.protection_groups}, servers, runs=1)
    assert result.critical_path[0] == "a"
    assert critical_path.__doc__
