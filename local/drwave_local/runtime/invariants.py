"""The at-least-once invariants, checked against the simulator's ground truth after a run."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from itertools import pairwise

from drwave.models.execution import ChunkStatus, Execution
from drwave_local.simulators.drs import DrsSimulator, SimulatedJob


def check_invariants(executions: list[Execution], drs: DrsSimulator) -> list[str]:
    """Every violated invariant, as a readable sentence (empty when all hold)."""
    launch_jobs = [j for j in drs.jobs.values() if j.job_type == "LAUNCH"]
    problems = _one_job_per_chunk(launch_jobs) + _no_server_in_two_active_jobs(launch_jobs)
    truth = drs.ground_truth()
    for execution in executions:
        problems += _execution_invariants(execution, truth, launch_jobs)
    return problems


def _one_job_per_chunk(jobs: list[SimulatedJob]) -> list[str]:
    per_chunk = Counter(
        (j.tags.get("drwave:execution-id"), j.tags.get("drwave:wave-id"), j.tags.get("drwave:chunk")) for j in jobs
    )
    return [f"chunk {key} started {n} DRS jobs" for key, n in per_chunk.items() if n > 1]


def _no_server_in_two_active_jobs(jobs: list[SimulatedJob]) -> list[str]:
    spans: dict[str, list[tuple[datetime, datetime, str]]] = defaultdict(list)
    for job in jobs:
        for run in job.runs:
            spans[run.source_server_id].append((job.created, job.ended, job.job_id))
    problems = []
    for server, intervals in spans.items():
        intervals.sort()
        for (_, end_a, job_a), (start_b, _, job_b) in pairwise(intervals):
            if start_b < end_a:
                problems.append(f"server {server} was in jobs {job_a} and {job_b} at the same time")
    return problems


def _execution_invariants(
    execution: Execution, truth: dict[str, dict[str, str]], jobs: list[SimulatedJob]
) -> list[str]:
    exe = execution.execution_id
    problems = []
    if not execution.status.terminal:
        problems.append(f"{exe} ended the run in non-terminal status {execution.status}")
    for spec in execution.plan.waves:
        wave = execution.waves[spec.id]
        if wave.started_at is not None:
            for dep_id in spec.depends_on:
                dep = execution.waves[dep_id]
                if not dep.status.succeeded or dep.ended_at is None or dep.ended_at > wave.started_at:
                    problems.append(f"{exe}: wave {spec.id} started before dependency {dep_id} completed")
        if execution.status.terminal and not wave.status.terminal:
            problems.append(f"{exe}: wave {spec.id} left {wave.status} in a terminal execution")
        for server in wave.servers.values():
            actual = truth.get(server.job_id or "", {}).get(server.source_server_id)
            if actual in ("LAUNCHED", "FAILED") and server.launch_status != actual:
                problems.append(f"{exe}: {server.source_server_id} recorded {server.launch_status}, DRS says {actual}")
        for chunk in wave.chunks:
            if chunk.status is ChunkStatus.ENDED and any(
                not wave.servers[s].launch_status.final for s in chunk.source_server_ids
            ):
                problems.append(f"{exe}: chunk {spec.id}#{chunk.index} ended with servers still pending")
    known = {c.job_id for w in execution.waves.values() for c in w.chunks if c.job_id}
    started = {j.job_id for j in jobs if j.tags.get("drwave:execution-id") == exe}
    problems += [f"{exe}: DRS job {j} was started but never recorded" for j in sorted(started - known)]
    return problems
