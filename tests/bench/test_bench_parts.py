"""The benchmark's parts: the ideal schedule, the poll baseline and the comparison, in virtual time."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from datetime import timedelta

import pytest

from drwave.core.capacity import DrsLimits
from drwave.models.plan import PlanDocument
from drwave_local.bench import shapes
from drwave_local.bench.baseline import POLL_SECONDS, PollBaseline, topological
from drwave_local.bench.ideal import ideal_end_seconds
from drwave_local.bench.run import (
    HANDLER_PACKAGE,
    LAMBDA_ENVIRONMENT,
    _summary_ratio,
    edge_gap,
    function_environments,
    handler_modules,
    run_baseline,
    run_ours,
)
from drwave_local.runtime.clock import VirtualClock
from drwave_local.simulators.drs import DrsSimulator, ServerTimeline, SimulatedSourceServer


def _plan(layout: list[tuple[str, list[str], list[str]]]) -> PlanDocument:
    return PlanDocument.model_validate(
        {
            "protectionGroups": [{"id": f"g-{w}", "name": w, "sourceServerIds": ids} for w, _, ids in layout],
            "recoveryPlan": {
                "id": "p",
                "name": "p",
                "waves": [{"id": w, "protectionGroupIds": [f"g-{w}"], "dependsOn": deps} for w, deps, _ in layout],
            },
        }
    )


def _ids(prefix: int, n: int) -> list[str]:
    return [f"s-{prefix:03d}{i:014d}" for i in range(n)]


def test_ideal_schedule_follows_the_dependency_graph_with_zero_latency() -> None:
    # GIVEN a -> (b, c) where every server takes 100 s and b's take 300 s
    plan = _plan([("a", [], _ids(1, 2)), ("b", ["a"], _ids(2, 2)), ("c", ["a"], _ids(3, 2))])
    seconds = {**dict.fromkeys(_ids(1, 2) + _ids(3, 2), 100.0), **dict.fromkeys(_ids(2, 2), 300.0)}
    # WHEN the ideal end is computed with a 5 s job start delay
    [end] = ideal_end_seconds(
        [plan], seconds.__getitem__, job_start_delay=5, action_seconds=lambda _: 0.0, approval_seconds=0
    )
    # THEN it is a's 105 s plus the slower branch's 305 s
    assert end == pytest.approx(410.0)


def test_ideal_schedule_queues_jobs_beyond_the_drs_quota() -> None:
    # GIVEN three independent one-server waves and room for only two concurrent jobs
    plan = _plan([(w, [], _ids(i, 1)) for i, w in enumerate("abc")])
    # WHEN the ideal end is computed
    [end] = ideal_end_seconds(
        [plan],
        lambda _: 100.0,
        job_start_delay=0,
        action_seconds=lambda _: 0.0,
        approval_seconds=0,
        limits=DrsLimits(active_jobs=2),
    )
    # THEN the third job waits for a slot: two rounds of 100 s
    assert end == pytest.approx(200.0)


def _simulator(clock: VirtualClock, servers: list[str], seconds: float) -> DrsSimulator:
    drs = DrsSimulator(clock, default_timeline=ServerTimeline(seconds / 3, seconds / 3, seconds / 3))
    for sid in servers:
        drs.add_source_server(SimulatedSourceServer(sid))
    return drs


def test_poll_baseline_runs_waves_one_after_another_and_polls_every_30_seconds() -> None:
    # GIVEN a -> b, c where b and c could run in parallel, each server taking 300 s
    plan = _plan([("a", [], _ids(1, 1)), ("b", ["a"], _ids(2, 1)), ("c", ["a"], _ids(3, 1))])
    clock = VirtualClock()
    drs = _simulator(clock, _ids(1, 1) + _ids(2, 1) + _ids(3, 1), 300)
    # WHEN the seed's design runs it
    [result] = PollBaseline(drs, clock, approval_seconds=0, action_seconds=lambda _: 0.0).run([plan])
    # THEN the three jobs never overlap, and each wave was polled every 30 s with both Describe calls
    jobs = sorted(drs.jobs.values(), key=lambda j: j.created)
    assert all(later.created >= earlier.ended for earlier, later in itertools.pairwise(jobs))
    assert drs.calls["DescribeJobs"] == drs.calls["DescribeJobLogItems"] == result.status_reads
    assert result.status_reads >= 3 * (305 // POLL_SECONDS)
    assert result.status == "COMPLETED"
    assert topological(plan) == ["a", "b", "c"]


def test_poll_baseline_records_where_the_seed_design_breaks_the_drs_job_quota() -> None:
    # GIVEN one wave of 150 servers (DRS takes at most 100 per job)
    plan = _plan([("all", [], _ids(1, 150))])
    clock = VirtualClock()
    drs = _simulator(clock, _ids(1, 150), 300)
    # WHEN the seed's design starts it as one job
    [result] = PollBaseline(drs, clock, approval_seconds=0, action_seconds=lambda _: 0.0).run([plan])
    # THEN DRS refuses it and the baseline says so instead of silently splitting the wave
    assert result.status == "FAILED"
    assert "150 servers refused (ServiceQuotaExceededException)" in result.notes[0]


def test_edge_gap_measures_from_the_dependencies_last_launch_to_the_next_job() -> None:
    # GIVEN two jobs, the second created 40 s after the first one's server finished
    clock = VirtualClock()
    drs = _simulator(clock, _ids(1, 1) + _ids(2, 1), 300)
    client = PollBaseline(drs, clock, approval_seconds=0, action_seconds=lambda _: 0.0)._client
    first = client.start_recovery(sourceServers=[{"sourceServerID": _ids(1, 1)[0]}])["job"]["jobID"]
    clock.advance_to(drs.jobs[first].runs[0].end + timedelta(seconds=40))
    second = client.start_recovery(sourceServers=[{"sourceServerID": _ids(2, 1)[0]}])["job"]["jobID"]
    # WHEN the gap of the edge first -> second is measured  THEN it is 40 s
    assert edge_gap(drs, {"a": [first], "b": [second]}, ["a"], "b") == pytest.approx(40.0)


def test_event_driven_engine_beats_the_poll_loop_on_the_seed_reference_chain() -> None:
    # GIVEN the seed's reference shape (a 3-wave chain), small
    shape = shapes.chain(servers_per_wave=3)
    # WHEN both designs run it on the same simulated DRS timelines
    ours, base = run_ours(shape), run_baseline(shape)
    # THEN both complete, drwave finishes earlier, waits less between waves and calls DRS less
    assert dict(ours["statuses"]) == {"COMPLETED": 1} == dict(base["statuses"])
    assert max(ours["rtoSeconds"]) < max(base["rtoSeconds"])
    assert max(ours["edgeSeconds"]) < min(base["edgeSeconds"])
    assert sum(ours["drsCalls"].values()) < sum(base["drsCalls"].values())


def test_the_summary_names_the_worst_shape_beside_the_geo_mean() -> None:
    # GIVEN one shape where drwave is x4 cheaper and one where it is x2 dearer
    shapes = [{"shape": "small", "ratio": 4.0}, {"shape": "big", "ratio": 0.5}]
    # WHEN they are summarised
    geo, worst = _summary_ratio(shapes, lambda s: s["ratio"])
    # THEN the geo-mean (x1.41) does not hide the dearer shape
    assert geo == pytest.approx(2**0.5)
    assert worst == "worst big x0.50"


def test_cold_start_covers_every_handler_module() -> None:
    # GIVEN the deployed handler package  WHEN the bench lists what it times (the modules the template's handlers name)
    timed = handler_modules()
    # THEN every handler module there is timed, or is part of a timed one's import (the API's trigger routes)
    on_disk = {f"drwave.handlers.{p.stem}" for p in HANDLER_PACKAGE.glob("*.py")} - {
        "drwave.handlers.__init__",
        "drwave.handlers.common",
    }
    loaded = subprocess.run(
        [sys.executable, "-c", f"import sys; import {', '.join(timed)}; print(sorted(sys.modules))"],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "STATE_TABLE": "t", "ACCOUNT_ID": "123456789012"},
    ).stdout
    assert len(timed) > 10 and set(timed) <= on_disk
    assert all(repr(m) in loaded for m in on_disk - set(timed))


def test_no_handler_imports_boto3_or_its_transfer_manager_at_cold_start() -> None:
    # GIVEN every handler's environment from the template at once (so every client any function builds is built)
    environment = {k: v for env in function_environments().values() for k, v in env.items()}
    code = (
        f"import sys; import {', '.join(handler_modules())}\n"
        "from drwave.engine.ports import Dependencies; Dependencies.from_environment()\n"
        "print(sorted({m.split('.')[0] for m in sys.modules}))"
    )
    # WHEN they are all imported and their clients built, as their cold starts do
    loaded = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **LAMBDA_ENVIRONMENT, **environment},
    ).stdout
    # THEN the clients came from botocore alone: boto3, s3transfer and multiprocessing were never loaded
    assert "'botocore'" in loaded and "'drwave'" in loaded
    assert not {"'boto3'", "'s3transfer'", "'multiprocessing'"} & set(loaded.strip("[]\n").split(", "))


def test_lost_and_late_drs_events_are_recovered_by_the_engine() -> None:
    # GIVEN the small reference chain, with half the aws.drs events lost and the others late
    shape = shapes.chain(servers_per_wave=2)
    # WHEN drwave rehearses it with 0.5 s hops
    ours = run_ours(shape, hop_latency=0.5, drs_event_delay=5.0, drs_event_loss=0.5)
    # THEN events were lost, yet the execution completed
    assert ours["lostDrsEvents"] > 0
    assert dict(ours["statuses"]) == {"COMPLETED": 1}
