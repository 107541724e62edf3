"""The at-least-once invariants, checked against the simulator's ground truth after a run."""

from __future__ import annotations

from collections import Counter, defaultdict

from drwave.models.execution import ChunkStatus, Execution
from drwave_local.drs_simulator import DrsSimulator


def check_invariants(executions: list[Execution], drs: DrsSimulator) -> list[str]:
    """Every violated invariant, as a readable sentence (empty when all hold)."""
    problems: list[str] = []
    launch_jobs = [j for j in drs.jobs.values() if j.job_type == "LAUNCH"]

    # 1. A wave chunk starts at most one DRS job.
    per_chunk = Counter(
        (j.tags.get("drwave:execution-id"), j.tags.get("drwave:wave-id"), j.tags.get("drwave:chunk"))
        for j in launch_jobs
    )
    problems += [f"chunk {key} started {n} DRS jobs" for key, n in per_chunk.items() if n > 1]

    # 2. No source server is in two active jobs at once.
    spans: dict[str, list[tuple[object, object, str]]] = defaultdict(list)
    for job in launch_jobs:
        for run in job.runs:
            spans[run.source_server_id].append((job.created, job.ended, job.job_id))
    for server, intervals in spans.items():
        intervals.sort(key=lambda span: span[0])  # type: ignore[arg-type, return-value]
        for (_, end_a, job_a), (start_b, _, job_b) in zip(intervals, intervals[1:], strict=False):
            if start_b < end_a:  # type: ignore[operator]
                problems.append(f"server {server} was in jobs {job_a} and {job_b} at the same time")

    truth = drs.ground_truth()
    for execution in executions:
        exe = execution.execution_id
        # 3. Every execution reaches a terminal state.
        if not execution.status.terminal:
            problems.append(f"{exe} ended the run in non-terminal status {execution.status}")
        for spec in execution.plan.waves:
            wave = execution.waves[spec.id]
            # 4. No wave starts before all its dependencies completed successfully.
            if wave.started_at is not None:
                for dep_id in spec.depends_on:
                    dep = execution.waves[dep_id]
                    if not dep.status.succeeded or dep.ended_at is None or dep.ended_at > wave.started_at:
                        problems.append(f"{exe}: wave {spec.id} started before dependency {dep_id} completed")
            if execution.status.terminal and not wave.status.terminal:
                problems.append(f"{exe}: wave {spec.id} left {wave.status} in a terminal execution")
            # 5. No status lost: every server DRS launched or failed is recorded as such.
            for server in wave.servers.values():
                actual = truth.get(server.job_id or "", {}).get(server.source_server_id)
                if actual in ("LAUNCHED", "FAILED") and server.launch_status != actual:
                    problems.append(
                        f"{exe}: {server.source_server_id} recorded {server.launch_status}, DRS says {actual}"
                    )
            for chunk in wave.chunks:
                if chunk.status is ChunkStatus.ENDED and any(
                    not wave.servers[s].launch_status.final for s in chunk.source_server_ids
                ):
                    problems.append(f"{exe}: chunk {spec.id}#{chunk.index} ended with servers still pending")
        # 6. Every DRS job drwave started for this execution is one it knows about.
        known = {c.job_id for w in execution.waves.values() for c in w.chunks if c.job_id}
        started = {j.job_id for j in launch_jobs if j.tags.get("drwave:execution-id") == exe}
        problems += [f"{exe}: DRS job {j} was started but never recorded" for j in sorted(started - known)]
    return problems
