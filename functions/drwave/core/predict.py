"""What-if RTO prediction (pure): run a plan many times in virtual time through the real decision core.

Every run (`EngineRun`) feeds `decide()` exactly the messages the handlers would (servers resolved, chunks admitted
against the shared capacity ledger with DRS's quotas, jobs started, each server's launch result, SSM action results,
gate approvals after an assumed delay, the poll tick every minute), each event reaching its reaction one hop later.
What stands in for AWS is the subclass's: `ModelRun` (here, used by the deployed API and pre-flight) draws each
server's launch duration from its history (its past launches) or, without one, from its phase timeline with the
environment's jitter; the local runtime's harness (drwave_local.simulators.prediction) runs the DRS and SSM
simulators instead. The outcome: RTO percentiles per wave and for the plan, the critical path, and the probability
of meeting the plan's objective.
"""

from __future__ import annotations

import heapq
import itertools
import random
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Protocol

from drwave.core import messages as m
from drwave.core.capacity import DrsLimits, add_waiter, admission_denial, chunk_key, release, reserve
from drwave.core.create import new_execution
from drwave.core.decide import decide, freed_chunks
from drwave.core.servers import resolve_wave_servers
from drwave.models.capacity import CapacityLedger
from drwave.models.events import (
    EventDetail,
    WaveActionsRequested,
    WaveCompleted,
    WaveFailed,
    WaveGateWaiting,
    WaveStartRequested,
)
from drwave.models.execution import (
    ActionStatus,
    Chunk,
    ChunkStatus,
    Execution,
    ExecutionType,
    LaunchStatus,
    WaveStatus,
)
from drwave.models.plan import ProtectionGroup, RecoveryPlan, WaveAction

T0 = datetime(2030, 1, 1, tzinfo=UTC)
TICK_SECONDS = 60.0
OUTCOMES = {"Success": ActionStatus.SUCCEEDED, "Failed": ActionStatus.FAILED, "TimedOut": ActionStatus.TIMED_OUT}
# StartRecovery refusals start-wave defers (the chunk waits); any other refusal rejects the chunk.
RETRYABLE_REFUSALS = frozenset({"ConflictException", "ServiceQuotaExceededException", "ThrottlingException"})


class Clock(Protocol):
    """The timer queue a run advances (the local runtime's VirtualClock has this shape too)."""

    def now(self) -> datetime: ...
    def call_at(self, when: datetime, callback: Callable[[], None], label: str = "") -> Any: ...
    def next_due(self) -> datetime | None: ...
    def step(self) -> bool: ...


class Timers:
    """A minimal virtual clock: callbacks in time order, nothing sleeps."""

    def __init__(self, start: datetime = T0) -> None:
        self._now = start
        self._queue: list[tuple[datetime, int, Callable[[], None]]] = []
        self._seq = itertools.count()

    def now(self) -> datetime:
        return self._now

    def call_at(self, when: datetime, callback: Callable[[], None], label: str = "") -> None:
        heapq.heappush(self._queue, (max(when, self._now), next(self._seq), callback))

    def next_due(self) -> datetime | None:
        return self._queue[0][0] if self._queue else None

    def step(self) -> bool:
        if not self._queue:
            return False
        self._now, _, callback = heapq.heappop(self._queue)
        callback()
        return True


class JobRefused(Exception):
    """StartRecovery refused a chunk's job (a DRS error code and message)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ServerModel:
    """How one source server launches: its tags, past launch durations (seconds), or a phase timeline."""

    source_server_id: str
    tags: dict[str, str] = field(default_factory=dict)
    history: tuple[float, ...] = ()  # seconds from its job starting to LAUNCHED, in past executions
    phases: tuple[float, float, float] = (60.0, 240.0, 120.0)  # snapshot, conversion, launch (no history)
    fails: bool = False


@dataclass(frozen=True)
class Assumptions:
    """What a prediction assumes about the world around the engine."""

    jitter: float = 0.15  # each phase +-15 % (uniform) without history
    job_start_delay: float = 5.0  # StartRecovery to the job starting
    hop_seconds: float = 0.25  # one EventBridge + Lambda hop
    approval_delay: float = 120.0  # an operator approves a gate this long after it opens
    action_seconds: Mapping[str, float] = field(default_factory=dict)  # SSM document -> duration
    action_outcomes: Mapping[str, str] = field(default_factory=dict)  # SSM document -> Success|Failed|TimedOut|Hang


def draw_duration(server: ServerModel, assume: Assumptions, rng: random.Random) -> float:
    """One launch duration: a past one (resampled with +-5 %), else the phases with the environment's jitter."""
    if server.history:
        return rng.choice(server.history) * rng.uniform(0.95, 1.05)
    total = assume.job_start_delay
    for seconds in server.phases:
        total += seconds * rng.uniform(1 - assume.jitter, 1 + assume.jitter)
    return total


class EngineRun:
    """One execution in virtual time driven through decide(): a clock, the execution and the capacity ledger.

    The handlers' side (what start-wave, track-launch, run-wave-actions, advance-plan and the tick do with each
    event) is here; what AWS does with a job or an SSM run is the subclass's `start_job` / `start_action`.
    """

    def __init__(
        self,
        plan: RecoveryPlan,
        groups: Mapping[str, ProtectionGroup],
        servers: Mapping[str, ServerModel],
        assume: Assumptions,
        limits: DrsLimits,
        rng: random.Random,
        clock: Clock | None = None,
    ) -> None:
        self.clock: Clock = clock or Timers()
        self.exe = new_execution(
            "predict",
            plan,
            dict(groups),
            ExecutionType.DRILL,
            default_account_id="000000000000",
            started_by="predict",
            now=self.clock.now(),
        )
        self.t0 = self.clock.now()
        self.ledger = CapacityLedger(account_id=self.exe.account_id, region=self.exe.region)
        self.servers, self.assume, self.limits, self.rng = servers, assume, limits, rng
        self.seq = itertools.count()
        self.messages = 0

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def later(self, seconds: float, action: Callable[[], None]) -> None:
        self.clock.call_at(self.now + timedelta(seconds=seconds), action)

    def apply(self, *messages: m.Message) -> None:
        """What engine.loop.apply does, in memory: decide, release freed capacity, then deliver the events."""
        before = self.exe
        events: list[EventDetail] = []
        for message in messages:
            self.messages += 1
            decision = decide(self.exe, message, self.now)
            if decision.changed:
                self.exe = decision.execution
                events += decision.events
        freed = freed_chunks(before, self.exe)
        if freed:
            self.ledger = release(self.ledger, [chunk_key(self.exe.execution_id, w, i) for w, i in freed])
            events += [
                WaveStartRequested(execution_id=w.execution_id, wave_id=w.wave_id) for w in self.ledger.waiters.values()
            ]
            self.ledger.waiters.clear()
        for event in events:
            self.later(self.assume.hop_seconds, partial(self.react, event))

    def react(self, event: EventDetail) -> None:
        """The handler the template routes this event to."""
        match event:
            case WaveStartRequested():
                self.start_wave(event.wave_id)
            case WaveActionsRequested():
                self.run_actions(event.wave_id, event.phase)
            case WaveGateWaiting():
                self.later(self.assume.approval_delay, lambda: self.apply(m.GateApproved(event.wave_id, "predict")))
            case WaveCompleted() | WaveFailed():
                self.apply(m.WaveFinished(event.wave_id))
            case _:
                pass

    def start_wave(self, wave_id: str) -> None:
        """start-wave: resolve the servers once, then admit and start each waiting chunk in order."""
        state = self.exe.waves[wave_id]
        if state.status is not WaveStatus.LAUNCHING:
            return
        if not state.servers_resolved:
            groups = [self.exe.protection_groups[g] for g in self.exe.plan.wave(wave_id).protection_group_ids]
            self.apply(resolve_wave_servers(wave_id, groups, list(self.servers.values()), self.limits.servers_per_job))
        for chunk in list(self.exe.waves[wave_id].chunks):
            if chunk.status is not ChunkStatus.WAITING:
                continue
            if not self.launch_chunk(wave_id, chunk):
                return  # no capacity for this chunk means none for the next ones either

    def launch_chunk(self, wave_id: str, chunk: Chunk) -> bool:
        """Admit one chunk against the ledger and start its job; False when it must wait for capacity."""
        groups = [self.exe.protection_groups[g] for g in self.exe.plan.wave(wave_id).protection_group_ids]
        if not chunk.launch_settings_applied and any(g.has_launch_settings() for g in groups):
            self.apply(m.LaunchSettingsApplied(wave_id, chunk.index, len(chunk.source_server_ids), 0))
        key = chunk_key(self.exe.execution_id, wave_id, chunk.index)
        denial = admission_denial(self.ledger, key, chunk.source_server_ids, self.limits)
        if denial:
            self.ledger = add_waiter(self.ledger, self.exe.execution_id, wave_id, self.now)
            self.apply(m.ChunkDeferred(wave_id, chunk.index, denial))
            return False
        token = f"t{next(self.seq)}"
        self.apply(m.ChunkStarting(wave_id, chunk.index, token))
        self.ledger = reserve(self.ledger, key, self.exe.execution_id, wave_id, chunk.source_server_ids, self.now)
        try:
            job_id = self.start_job(wave_id, chunk, token)
        except JobRefused as err:
            retry = err.code in RETRYABLE_REFUSALS
            self.apply((m.ChunkDeferred if retry else m.ChunkRejected)(wave_id, chunk.index, str(err), token))
            return not retry
        self.apply(m.ChunkStarted(wave_id, chunk.index, job_id))
        return True

    def start_job(self, wave_id: str, chunk: Chunk, token: str) -> str:
        """StartRecovery for the chunk's servers: the job id; each server's ServerResult must follow."""
        raise NotImplementedError

    def run_actions(self, wave_id: str, phase: str) -> None:
        """run-wave-actions: claim, send, and report each SSM run when it ends."""
        self.apply(m.ActionsClaimed(wave_id, phase))
        spec = self.exe.plan.wave(wave_id)
        runs = {a.name: self.start_action(wave_id, phase, a) for a in spec.actions(phase)}
        self.apply(m.ActionsStarted(wave_id, phase, runs))

    def start_action(self, wave_id: str, phase: str, action: WaveAction) -> str:
        """Send one SSM document: its run id; its ActionResult must follow (or never, for a hang)."""
        raise NotImplementedError

    def tick(self) -> None:
        self.apply(m.Tick())
        if not self.exe.status.terminal:
            self.later(TICK_SECONDS, self.tick)

    def run(self, budget: timedelta) -> Execution:
        self.apply(m.Start())
        self.later(TICK_SECONDS, self.tick)
        while not self.exe.status.terminal and (due := self.clock.next_due()) is not None:
            if due - self.t0 > budget:
                break
            self.clock.step()
        return self.exe


class ModelRun(EngineRun):
    """AWS modelled in memory: each launch takes a duration drawn from the server's history or phase timeline."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.jobs = itertools.count()

    def start_job(self, wave_id: str, chunk: Chunk, token: str) -> str:
        job_id = f"drsjob-{next(self.jobs):017d}"
        for sid in chunk.source_server_ids:
            model = self.servers[sid]
            status = LaunchStatus.FAILED if model.fails else LaunchStatus.LAUNCHED
            result = m.ServerResult(job_id, sid, status, None if model.fails else f"i-{sid[2:]}")
            seconds = draw_duration(model, self.assume, self.rng) + self.assume.hop_seconds
            self.later(seconds, partial(self.apply, result))
        return job_id

    def start_action(self, wave_id: str, phase: str, action: WaveAction) -> str:
        run_id = f"cmd-{wave_id}-{phase}-{action.name}"
        outcome = self.assume.action_outcomes.get(action.document_name, "Success")
        if outcome != "Hang":  # a hang never reports: the tick times it out
            seconds = self.assume.action_seconds.get(action.document_name, 30.0) + self.assume.hop_seconds
            self.later(seconds, partial(self.apply, m.ActionResult(wave_id, phase, run_id, OUTCOMES[outcome])))
        return run_id


class RunFactory(Protocol):
    """Builds run number `index` of a prediction (its own world)."""

    def __call__(self, index: int, rng: random.Random) -> EngineRun: ...


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def critical_path(exe: Execution) -> list[str]:
    """The chain of waves that ended last: from the last-ending wave back through its latest-ending dependency."""
    ended = {w: s.ended_at for w, s in exe.waves.items() if s.ended_at}
    if not ended:
        return []
    path = [max(ended, key=lambda w: ended[w])]
    while True:
        deps = [d for d in exe.plan.wave(path[-1]).depends_on if d in ended]
        if not deps:
            return list(reversed(path))
        path.append(max(deps, key=lambda d: ended[d]))


@dataclass
class Prediction:
    """Percentiles over many runs (seconds), the most common critical path and the chance of meeting the target."""

    runs: int
    plan_rto: dict[str, float | None]
    wave_rto: dict[str, dict[str, float | None]]
    critical_path: list[str]
    critical_path_share: float
    target_rto_minutes: int | None
    probability_meeting_target: float | None
    statuses: dict[str, int]
    messages_per_run: float

    def to_wire(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "runs": self.runs,
            "planRtoSeconds": self.plan_rto,
            "waveRtoSeconds": self.wave_rto,
            "criticalPath": self.critical_path,
            "criticalPathShare": self.critical_path_share,
            "targetRtoMinutes": self.target_rto_minutes,
            "probabilityMeetingTarget": self.probability_meeting_target,
            "statuses": self.statuses,
            "messagesPerRun": self.messages_per_run,
        }


def predict(
    plan: RecoveryPlan,
    groups: Mapping[str, ProtectionGroup],
    servers: Mapping[str, ServerModel],
    *,
    runs: int = 200,
    seed: int = 0,
    assume: Assumptions | None = None,
    limits: DrsLimits | None = None,
    budget: timedelta = timedelta(days=2),
    make_run: RunFactory | None = None,
) -> Prediction:
    """Run the plan `runs` times and summarise its RTO (execution start to end) per wave and for the plan.

    `make_run` builds each run (default: a `ModelRun`, AWS modelled from the server models and `assume`).
    """
    assume = assume or Assumptions()
    limits = limits or DrsLimits()
    rng = random.Random(seed)
    if make_run is None:

        def make_run(index: int, rng: random.Random) -> EngineRun:
            return ModelRun(plan, groups, servers, assume, limits, rng)

    totals: list[float] = []
    per_wave: dict[str, list[float]] = {w.id: [] for w in plan.waves}
    paths: dict[tuple[str, ...], int] = {}
    statuses: dict[str, int] = {}
    messages = 0
    for index in range(runs):
        run = make_run(index, rng)
        exe = run.run(budget)
        messages += run.messages
        statuses[str(exe.status)] = statuses.get(str(exe.status), 0) + 1
        if exe.started_at and exe.ended_at:
            totals.append((exe.ended_at - exe.started_at).total_seconds())
        for wave_id, state in exe.waves.items():
            if state.started_at and state.ended_at:
                per_wave[wave_id].append((state.ended_at - state.started_at).total_seconds())
        path = tuple(critical_path(exe))
        paths[path] = paths.get(path, 0) + 1
    top = max(paths, key=lambda p: paths[p]) if paths else ()
    target = plan.target_rto_minutes
    return Prediction(
        runs=runs,
        plan_rto=_summary(totals),
        wave_rto={w: _summary(v) for w, v in per_wave.items()},
        critical_path=list(top),
        critical_path_share=paths.get(top, 0) / runs if runs else 0.0,
        target_rto_minutes=target,
        probability_meeting_target=None
        if target is None or not totals
        else sum(t <= target * 60 for t in totals) / len(totals),
        statuses=statuses,
        messages_per_run=messages / runs if runs else 0.0,
    )


def _summary(values: Sequence[float]) -> dict[str, float | None]:
    return {
        "p10": _percentile(values, 0.1),
        "p50": _percentile(values, 0.5),
        "p90": _percentile(values, 0.9),
        "p99": _percentile(values, 0.99),
        "mean": statistics.fmean(values) if values else None,
    }
