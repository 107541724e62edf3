"""Builders for scenario tests: whole executions on the local runtime.

The real Lambda handlers run against moto, the DRS and SSM simulators and the template-driven event
router, on a virtual clock. A scenario declares plans whose waves bring their own simulated source
servers, then runs them under optional faults and reads the outcome back.

Everything is exposed as fixtures (this directory is not a package, so test modules cannot import
from here):

- `scenario`: a fresh `ScenarioBuilder`; declare plans and SSM documents, then `with scenario.run() as rt`.
- `kit`: read-only helpers for the THEN part (wave statuses and intervals, DRS job concurrency,
  timeline entries, the at-least-once invariants).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from drwave.core.capacity import DrsLimits
from drwave.models.execution import Execution, TimelineEntry, WaveStatus
from drwave.models.plan import PlanDocument
from drwave_local.runtime.embedded import LocalRuntime, RuntimeStalled
from drwave_local.runtime.invariants import check_invariants
from drwave_local.runtime.router import Faults
from drwave_local.simulators.drs import SimulatedJob
from drwave_local.simulators.environment import Environment

# Detail types an operator (API/CLI) publishes. The router already treats "Execution Requested" as
# never dropped because the API only answers after PutEvents succeeded; operator commands are the
# same kind of request, so fault sets that drop deliveries should keep these too (see `operator_safe`).
OPERATOR_COMMANDS = frozenset({"Execution Requested", "Wave Gate Approved", "Execution Cancel Requested"})


def operator_safe(faults: Faults) -> Faults:
    """The same faults, but never dropping the operator's own commands (only drwave's and AWS's events)."""
    return Faults(**{**vars(faults), "never_drop": faults.never_drop | OPERATOR_COMMANDS})


@dataclass
class ScenarioBuilder:
    """Plans, their simulated source servers and SSM documents, turned into a running LocalRuntime.

    Waves are given as the plan file's camelCase wave fields plus `servers`: a count, or a list of
    per-server specs (camelCase `SourceServerSpec` fields without `id`, e.g. `{"failAt": "LAUNCH"}`,
    plus an optional `impact` that becomes the wave's `serverImpact` entry, and `"inDrs": False` for a
    server the plan lists but DRS does not know, e.g. decommissioned). Each wave gets its own
    protection group of explicit server ids, or, when the wave has `selectTags`, a tag-selected group
    whose servers carry those tags.
    """

    seed: int = 7
    jitter: float = 0.1
    servers: dict[str, dict[str, Any]] = field(default_factory=dict)
    documents: list[PlanDocument] = field(default_factory=list)
    actions: dict[str, dict[str, Any]] = field(default_factory=dict)
    wave_servers: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    _next_id: int = 1

    def plan(self, plan_id: str, *waves: dict[str, Any]) -> PlanDocument:
        """Declare a recovery plan; returns the validated plan document."""
        groups: list[dict[str, Any]] = []
        wave_docs: list[dict[str, Any]] = []
        for raw in waves:
            wave = dict(raw)
            group_id = f"pg-{plan_id}-{wave['id']}"
            select_tags: dict[str, str] = wave.pop("selectTags", {})
            impact = dict(wave.pop("serverImpact", {}))
            ids = []
            for spec in self._specs(wave.pop("servers", 1)):
                sid = self._new_server_id()
                if "impact" in spec:
                    impact[sid] = spec.pop("impact")
                spec["tags"] = {**spec.get("tags", {}), **select_tags}
                if spec.pop("inDrs", True):
                    self.servers[sid] = {"id": sid, **spec}
                ids.append(sid)
            group: dict[str, Any] = {"id": group_id, "name": f"{plan_id} {wave['id']}"}
            if select_tags:
                group["serverSelectionTags"] = [{"key": k, "value": v} for k, v in select_tags.items()]
            else:
                group["sourceServerIds"] = ids
            groups.append(group)
            wave.setdefault("protectionGroupIds", [group_id])
            if impact:
                wave["serverImpact"] = impact
            self.wave_servers[(plan_id, wave["id"])] = ids
            wave_docs.append(wave)
        document = PlanDocument.model_validate(
            {
                "protectionGroups": groups,
                "recoveryPlan": {"id": plan_id, "name": f"Scenario plan {plan_id}", "waves": wave_docs},
            }
        )
        self.documents.append(document)
        return document

    def action(self, document_name: str, outcome: str = "Success", duration_seconds: float = 30) -> str:
        """Declare how a simulated SSM document behaves; returns its name."""
        self.actions[document_name] = {"durationSeconds": duration_seconds, "outcome": outcome}
        return document_name

    def servers_of(self, plan_id: str, wave_id: str) -> list[str]:
        """The source server ids declared for one wave."""
        return list(self.wave_servers[(plan_id, wave_id)])

    def environment(self) -> Environment:
        """The simulated account+region holding every declared server and SSM document."""
        return Environment.model_validate(
            {
                "seed": self.seed,
                "jitter": self.jitter,
                "sourceServers": list(self.servers.values()),
                "actions": self.actions,
            }
        )

    @contextmanager
    def run(
        self,
        *,
        faults: Faults | None = None,
        limits: DrsLimits | None = None,
        lose_launch_results: float = 0.0,
        dynamodb: str | None = None,
    ) -> Iterator[LocalRuntime]:
        """A started LocalRuntime with every declared plan installed (DynamoDB: `dynamodb`, else --dynamodb)."""
        with LocalRuntime(
            self.environment(),
            faults=faults,
            limits=limits,
            lose_launch_results=lose_launch_results,
            dynamodb=dynamodb,
        ) as runtime:
            for document in self.documents:
                runtime.install(document)
            yield runtime

    @staticmethod
    def _specs(servers: int | list[dict[str, Any]]) -> list[dict[str, Any]]:
        if isinstance(servers, int):
            return [{} for _ in range(servers)]
        return [dict(s) for s in servers]

    def _new_server_id(self) -> str:
        sid = f"s-{self._next_id:017d}"
        self._next_id += 1
        return sid


@dataclass(frozen=True)
class JobSpan:
    """One DRS LAUNCH job as the simulator saw it."""

    job_id: str
    execution_id: str
    wave_id: str
    created: datetime
    ended: datetime
    servers: tuple[str, ...]


@dataclass
class RecordedEvent:
    """One event put on a bus, with the virtual time it was put."""

    at: datetime
    bus: str
    detail_type: str
    detail: dict[str, Any]


class ScenarioKit:
    """Read-only helpers for asserting on a finished (or paused) scenario."""

    @staticmethod
    def statuses(execution: Execution) -> dict[str, WaveStatus]:
        """Wave id -> wave status."""
        return {wave_id: wave.status for wave_id, wave in execution.waves.items()}

    @staticmethod
    def interval(execution: Execution, wave_id: str) -> tuple[datetime, datetime]:
        """(started_at, ended_at) of a wave that ran."""
        wave = execution.waves[wave_id]
        assert wave.started_at is not None, f"wave {wave_id} never started ({wave.status})"
        assert wave.ended_at is not None, f"wave {wave_id} never ended ({wave.status})"
        return wave.started_at, wave.ended_at

    @staticmethod
    def timeline(execution: Execution, event: str, wave_id: str | None = None) -> list[TimelineEntry]:
        """Audit-trail entries of one kind (optionally of one wave)."""
        return [e for e in execution.timeline if e.event == event and (wave_id is None or e.wave_id == wave_id)]

    @staticmethod
    def launch_jobs(runtime: LocalRuntime, execution_id: str | None = None) -> list[JobSpan]:
        """DRS LAUNCH jobs in creation order, optionally only those of one execution."""
        spans = [
            ScenarioKit._span(job)
            for job in sorted(runtime.drs.jobs.values(), key=lambda j: j.seq)
            if job.job_type == "LAUNCH"
        ]
        return [s for s in spans if execution_id is None or s.execution_id == execution_id]

    @staticmethod
    def peak(spans: Iterable[JobSpan], weight: str = "jobs") -> int:
        """Most jobs (or, with weight="servers", source servers) active in DRS at the same instant.

        A job is active from its creation until its last server finished; a job ending at the very
        instant another is created does not overlap it (DRS counts it as completed by then).
        """
        points: list[tuple[datetime, int, int]] = []
        for span in spans:
            amount = 1 if weight == "jobs" else len(span.servers)
            points += [(span.created, 1, amount), (span.ended, 0, -amount)]
        current = best = 0
        for _, _, delta in sorted(points):
            current += delta
            best = max(best, current)
        return best

    @staticmethod
    def record(runtime: LocalRuntime) -> list[RecordedEvent]:
        """Start recording every event put on any bus; the returned list fills as the run goes."""
        seen: list[RecordedEvent] = []
        runtime.router.observers.append(
            lambda bus, event: seen.append(
                RecordedEvent(runtime.clock.now(), bus, event["detail-type"], event.get("detail") or {})
            )
        )
        return seen

    @staticmethod
    def settle(runtime: LocalRuntime, max_virtual: timedelta = timedelta(hours=6)) -> list[str]:
        """Run like `runtime.run`, but within a shorter virtual budget and reporting rather than raising:
        the ids of executions still active when the budget ran out (empty when everything ended)."""
        try:
            runtime.run(max_virtual=max_virtual)
        except RuntimeStalled:
            return runtime.deps.store.active_execution_ids()
        return []

    @staticmethod
    def invariant_violations(runtime: LocalRuntime, *execution_ids: str) -> list[str]:
        """check_invariants for these executions against the DRS simulator's ground truth."""
        return check_invariants([runtime.execution(e) for e in execution_ids], runtime.drs)

    @staticmethod
    def _span(job: SimulatedJob) -> JobSpan:
        return JobSpan(
            job_id=job.job_id,
            execution_id=job.tags.get("drwave:execution-id", ""),
            wave_id=job.tags.get("drwave:wave-id", ""),
            created=job.created,
            ended=job.ended,
            servers=tuple(run.source_server_id for run in job.runs),
        )


@pytest.fixture
def scenario() -> ScenarioBuilder:
    """A fresh scenario: declare plans and SSM documents, then `with scenario.run(...) as rt`."""
    return ScenarioBuilder()


@pytest.fixture
def kit() -> ScenarioKit:
    """Helpers for the THEN part of a scenario."""
    return ScenarioKit()
