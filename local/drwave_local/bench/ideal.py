"""The critical path: when a perfect, zero-latency orchestrator would finish, given the simulated DRS
durations, each plan's dependency graph and the DRS quotas (greedy first-come admission)."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from functools import partial

from drwave.core.capacity import DrsLimits, split_into_chunks
from drwave.models.plan import PlanDocument


def ideal_end_seconds(  # noqa: C901, PLR0915 - one small event simulation, clearer kept together
    plans: list[PlanDocument],
    server_seconds: Callable[[str], float],
    *,
    job_start_delay: float,
    action_seconds: Callable[[str], float],
    approval_seconds: float,
    limits: DrsLimits | None = None,
) -> list[float]:
    """Seconds from the common start to each plan's ideal end."""
    limits = limits or DrsLimits()
    servers_of = {g.id: g.source_server_ids or [] for doc in plans for g in doc.protection_groups}
    done: list[dict[str, float]] = [{} for _ in plans]
    ends = [0.0] * len(plans)
    queue: list[tuple[float, int, int, str, list[str]]] = []  # waiting chunks: (ready time, seq, plan, wave, servers)
    events: list[tuple[float, int, Callable[[], None]]] = []
    seq = itertools.count()
    active = {"jobs": 0, "servers": 0}
    pending: dict[tuple[int, str], int] = {}  # chunks still running per wave

    def at(time: float, action: Callable[[], None]) -> None:
        heapq.heappush(events, (time, next(seq), action))

    def finish_wave(p: int, wave_id: str, time: float) -> None:
        wave = plans[p].recovery_plan.wave(wave_id)
        end = time + max((action_seconds(a.document_name) for a in wave.post_actions), default=0.0)
        done[p][wave_id] = end
        ends[p] = max(ends[p], end)
        at(end, partial(open_ready, p, end))

    def admit(now: float) -> None:
        while queue:
            _, _, p, wave_id, chunk = queue[0]
            if (
                active["jobs"] + 1 > limits.active_jobs
                or active["servers"] + len(chunk) > limits.servers_in_active_jobs
            ):
                return
            heapq.heappop(queue)
            active["jobs"] += 1
            active["servers"] += len(chunk)
            end = now + job_start_delay + max(server_seconds(s) for s in chunk)
            at(end, partial(chunk_done, p, wave_id, chunk, end))

    def chunk_done(p: int, wave_id: str, chunk: list[str], time: float) -> None:
        active["jobs"] -= 1
        active["servers"] -= len(chunk)
        pending[(p, wave_id)] -= 1
        if pending[(p, wave_id)] == 0:
            finish_wave(p, wave_id, time)
        admit(time)

    def launch(p: int, wave_id: str, time: float) -> None:
        wave = plans[p].recovery_plan.wave(wave_id)
        servers = list(dict.fromkeys(s for g in wave.protection_group_ids for s in servers_of[g]))
        chunks = split_into_chunks(servers, limits.servers_per_job)
        pending[(p, wave_id)] = len(chunks)
        for chunk in chunks:
            heapq.heappush(queue, (time, next(seq), p, wave_id, chunk))
        admit(time)

    def open_ready(p: int, now: float) -> None:
        for wave in plans[p].recovery_plan.waves:
            started = (p, wave.id) in pending or wave.id in done[p]
            if started or not all(d in done[p] for d in wave.depends_on):
                continue
            pending[(p, wave.id)] = -1  # opened; replaced by its chunk count at launch
            start = max([now, *(done[p][d] for d in wave.depends_on)])
            start += approval_seconds if wave.pause_before_wave else 0.0
            start += max((action_seconds(a.document_name) for a in wave.pre_actions), default=0.0)
            at(start, partial(launch, p, wave.id, start))

    for p in range(len(plans)):
        open_ready(p, 0.0)
    while events:
        _, _, action = heapq.heappop(events)
        action()
    return ends
