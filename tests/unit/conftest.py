"""Builders for pure unit tests: small plans, executions, and a driver that feeds `decide` with a fixed clock.

Everything is exposed as fixtures (this directory is not a package, so test modules cannot import from here).
Time is injected: `t0` is a fixed instant and the driver only moves its clock when a test says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from drwave.core import messages as m
from drwave.core.decide import Decision, decide
from drwave.models.execution import (
    ActionStatus,
    ChunkStatus,
    Execution,
    ExecutionType,
    LaunchStatus,
    WaveState,
    WaveStatus,
)
from drwave.models.plan import ProtectionGroup, RecoveryPlan, Wave

T0 = datetime(2025, 3, 3, 9, 0, 0, tzinfo=UTC)
GROUP_ID = "pg-app"


def server_ids(count: int, start: int = 1) -> list[str]:
    """`count` valid DRS source server ids (s- + 17 digits), numbered from `start`."""
    return [f"s-{n:017d}" for n in range(start, start + count)]


def job_id(wave_id: str, index: int) -> str:
    """A DRS-shaped job id (drsjob- + 17 alphanumerics) for one chunk of a wave."""
    return "drsjob-" + f"{wave_id}{index}".lower().rjust(17, "0")


def make_wave(wave_id: str, **fields: Any) -> Wave:
    """A wave of the default protection group; keyword arguments use the python field names."""
    fields.setdefault("protection_group_ids", [GROUP_ID])
    return Wave(id=wave_id, **fields)


def build_execution(
    waves: list[Wave],
    execution_type: ExecutionType = ExecutionType.DRILL,
    execution_id: str = "exe-0001",
) -> Execution:
    """A PENDING execution of a one-group plan made of these waves, created at T0."""
    group = ProtectionGroup(id=GROUP_ID, name="application tier", source_server_ids=server_ids(1))
    plan = RecoveryPlan(id="plan-1", name="Test plan", waves=waves)
    return Execution(
        execution_id=execution_id,
        plan=plan,
        protection_groups={GROUP_ID: group},
        execution_type=execution_type,
        account_id="111122223333",
        region="us-east-1",
        started_by="unit-test",
        created_at=T0,
        waves={w.id: WaveState(wave_id=w.id) for w in waves},
    )


def detail_types(decision: Decision) -> list[str]:
    """The detail-types of the events a decision emits, in order."""
    return [e.DETAIL_TYPE for e in decision.events]


class Flow:
    """Feeds messages to `decide` one by one, keeping the latest execution and an explicit clock."""

    def __init__(self, execution: Execution, now: datetime = T0) -> None:
        self.execution = execution
        self.now = now
        self.last: Decision | None = None

    # --- clock and raw messages ------------------------------------------------------------------

    def advance(self, delta: timedelta) -> Flow:
        self.now += delta
        return self

    def send(self, message: m.Message, after: timedelta | None = None) -> Decision:
        if after is not None:
            self.advance(after)
        decision = decide(self.execution, message, self.now)
        self.execution = decision.execution
        self.last = decision
        return decision

    def send_all(self, messages: Iterable[m.Message]) -> list[Decision]:
        return [self.send(msg) for msg in messages]

    # --- views -------------------------------------------------------------------------------------

    def wave(self, wave_id: str) -> WaveState:
        return self.execution.waves[wave_id]

    def statuses(self) -> dict[str, WaveStatus]:
        return {wave_id: state.status for wave_id, state in self.execution.waves.items()}

    def chunk_statuses(self, wave_id: str) -> list[ChunkStatus]:
        return [c.status for c in self.wave(wave_id).chunks]

    # --- common story steps -----------------------------------------------------------------------

    def start(self) -> Decision:
        return self.send(m.Start())

    def resolve(self, wave_id: str, servers: list[str], chunk_size: int = 100) -> Decision:
        return self.send(m.ServersResolved(wave_id, servers, chunk_size))

    def start_chunk(self, wave_id: str, index: int) -> str:
        """ChunkStarting then ChunkStarted for one chunk; returns the job id."""
        job = job_id(wave_id, index)
        self.send(m.ChunkStarting(wave_id, index, f"token-{wave_id}-{index}"))
        self.send(m.ChunkStarted(wave_id, index, job))
        return job

    def launch(self, wave_id: str, servers: list[str], chunk_size: int = 100) -> list[str]:
        """Resolve the wave's servers and start every chunk; returns the job ids."""
        self.resolve(wave_id, servers, chunk_size)
        return [self.start_chunk(wave_id, c.index) for c in self.wave(wave_id).chunks]

    def report(self, job: str, servers: Iterable[str], status: LaunchStatus = LaunchStatus.LAUNCHED) -> Decision:
        """One ServerResult per server of a job; returns the last decision."""
        decision = None
        for sid in servers:
            instance = f"i-{sid[-8:]}" if status is LaunchStatus.LAUNCHED else None
            decision = self.send(m.ServerResult(job, sid, status, recovery_instance_id=instance))
        assert decision is not None
        return decision

    def finish_wave(self, wave_id: str, outcomes: dict[str, LaunchStatus] | None = None) -> Decision:
        """Report every server of every started chunk (LAUNCHED unless `outcomes` says otherwise)."""
        outcomes = outcomes or {}
        decision = None
        for chunk in self.wave(wave_id).chunks:
            if chunk.status is ChunkStatus.STARTED and chunk.job_id:
                for sid in chunk.source_server_ids:
                    decision = self.report(chunk.job_id, [sid], outcomes.get(sid, LaunchStatus.LAUNCHED))
        assert decision is not None
        return decision

    def run_actions(self, wave_id: str, phase: str, outcomes: dict[str, ActionStatus] | None = None) -> Decision:
        """Claim, start and finish every run of a wave phase (SUCCEEDED unless `outcomes` says otherwise)."""
        outcomes = outcomes or {}
        self.send(m.ActionsClaimed(wave_id, phase))
        runs = {name: f"cmd-{wave_id}-{phase}-{name}" for name in self.wave(wave_id).action_runs(phase)}
        decision = self.send(m.ActionsStarted(wave_id, phase, runs))
        for name, command_id in runs.items():
            status = outcomes.get(name, ActionStatus.SUCCEEDED)
            decision = self.send(m.ActionResult(wave_id, phase, command_id, status))
        return decision

    def run_wave(self, wave_id: str, servers: list[str], outcomes: dict[str, LaunchStatus] | None = None) -> Decision:
        """Launch a LAUNCHING wave and report every server; returns the decision that ended it."""
        self.launch(wave_id, servers)
        return self.finish_wave(wave_id, outcomes)


# --- fixtures -------------------------------------------------------------------------------------------
# Session-scoped because they are stateless factories (and so usable from hypothesis tests).


@pytest.fixture(scope="session")
def t0() -> datetime:
    return T0


@pytest.fixture(scope="session")
def sids() -> Callable[..., list[str]]:
    return server_ids


@pytest.fixture(scope="session")
def job() -> Callable[[str, int], str]:
    return job_id


@pytest.fixture(scope="session")
def wave() -> Callable[..., Wave]:
    return make_wave


@pytest.fixture(scope="session")
def make_execution() -> Callable[..., Execution]:
    """`make_execution(waves)`: a PENDING execution of these waves, created at `t0`."""
    return build_execution


@pytest.fixture(scope="session")
def types() -> Callable[[Decision], list[str]]:
    return detail_types


@pytest.fixture(scope="session")
def flow() -> Callable[..., Flow]:
    """`flow(waves, started=True)`: a driver over a fresh execution of these waves, Start already sent."""

    def build(waves: list[Wave], started: bool = True, **execution_fields: Any) -> Flow:
        driver = Flow(build_execution(waves, **execution_fields))
        if started:
            driver.start()
        return driver

    return build
