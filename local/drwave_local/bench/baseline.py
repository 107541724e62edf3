"""The poll-loop baseline: the seed design (seeds/004, seeds/000) on the same simulated DRS.

Per execution, a Step Functions Standard workflow: waves strictly one after another (Map with
MaxConcurrency 1, in dependency order), each wave one StartRecovery for all of its servers, then
Wait 30 s -> DescribeJobs + DescribeJobLogItems -> Choice, looping until the job is COMPLETED.
Every state transition costs ~0.5 s (seeds/003). Where the seed design breaks a DRS quota (more than
100 servers in one job) it is recorded as the seed would meet it: the wave fails.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from drwave.models.plan import PlanDocument
from drwave_local.runtime.clock import VirtualClock
from drwave_local.simulators.drs import DrsSimulator

TRANSITION_SECONDS = 0.5
POLL_SECONDS = 30.0


@dataclass
class BaselineResult:
    """What one baseline execution did."""

    plan_id: str
    status: str = "RUNNING"
    started_at: datetime | None = None
    ended_at: datetime | None = None
    transitions: int = 0
    lambda_invocations: int = 0
    status_writes: int = 0
    status_reads: int = 0
    wave_jobs: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def topological(document: PlanDocument) -> list[str]:
    """Wave ids in plan order, each after its dependencies (the seed runs them one at a time)."""
    order: list[str] = []
    remaining = list(document.recovery_plan.waves)
    while remaining:
        ready = next(w for w in remaining if all(d in order for d in w.depends_on))
        order.append(ready.id)
        remaining.remove(ready)
    return order


class PollBaseline:
    """Runs plans the seed's way on a DRS simulator and virtual clock of its own."""

    def __init__(self, drs: DrsSimulator, clock: VirtualClock, *, approval_seconds: float, action_seconds: Any) -> None:
        self.clock = clock
        self.drs = drs
        self._client = boto3.client(
            "drs",
            region_name="us-east-1",
            aws_access_key_id="baseline",
            aws_secret_access_key="baseline",
            config=Config(retries={"total_max_attempts": 1}),
        )
        drs.attach(self._client)
        self._approval = approval_seconds
        self._action_seconds = action_seconds

    def run(self, documents: list[PlanDocument]) -> list[BaselineResult]:
        """Start every plan at once and run until all finish."""
        results = [BaselineResult(d.recovery_plan.id) for d in documents]
        for document, result in zip(documents, results, strict=True):
            self._drive(self._execution(document, result))
        while self.clock.step():
            pass
        return results

    def _drive(self, process: Generator[float, None, None]) -> None:
        try:
            delay = next(process)
        except StopIteration:
            return
        self.clock.call_later(delay, lambda: self._drive(process), label="baseline")

    def _execution(self, document: PlanDocument, result: BaselineResult) -> Generator[float, None, None]:
        result.started_at = self.clock.now()
        groups = {g.id: g for g in document.protection_groups}
        for _ in ("InitializeExecution", "GetRecoveryPlan"):
            yield from self._task(result)
        for wave_id in topological(document):
            wave = document.recovery_plan.wave(wave_id)
            result.transitions += 1  # Map iteration
            if wave.pause_before_wave:
                result.transitions += 1  # waitForTaskToken until an operator approves
                yield self._approval
            for action in wave.pre_actions:
                yield from self._poll_until(result, self._action_seconds(action.document_name))
            servers = [s for g in wave.protection_group_ids for s in groups[g].source_server_ids or []]
            yield from self._task(result)  # StartWaveRecovery
            try:
                job = self._client.start_recovery(sourceServers=[{"sourceServerID": s} for s in servers], isDrill=True)[
                    "job"
                ]
            except ClientError as err:
                code = err.response["Error"]["Code"]
                result.notes.append(f"wave {wave_id}: StartRecovery of {len(servers)} servers refused ({code})")
                result.status = "FAILED"
                break
            result.status_writes += 1
            result.wave_jobs[wave_id] = job["jobID"]
            if not (yield from self._poll_job(result, job["jobID"])):
                result.status = "FAILED"
                result.notes.append(f"wave {wave_id}: a server failed to launch")
                break
            for action in wave.post_actions:
                yield from self._poll_until(result, self._action_seconds(action.document_name))
            result.transitions += 1  # WaveSuccess
            result.status_writes += 1
        else:
            result.status = "COMPLETED"
        for _ in ("GetRecoveryInstances", "FinalizeExecution"):
            yield from self._task(result)
        result.ended_at = self.clock.now()

    @staticmethod
    def _task(result: BaselineResult) -> Generator[float, None, None]:
        """A Lambda Task state: one transition, one invocation."""
        result.transitions += 1
        result.lambda_invocations += 1
        yield TRANSITION_SECONDS

    def _poll_job(self, result: BaselineResult, job_id: str) -> Generator[float, None, bool]:
        """Wait 30 s -> CheckWaveStatus (DescribeJobs + DescribeJobLogItems) -> Choice, until COMPLETED."""
        while True:
            result.transitions += 1  # Wait
            yield POLL_SECONDS
            yield from self._task(result)  # CheckWaveStatus
            result.status_reads += 1
            job = self._client.describe_jobs(filters={"jobIDs": [job_id]})["items"][0]
            self._client.describe_job_log_items(jobID=job_id)
            result.transitions += 1  # Choice
            yield TRANSITION_SECONDS
            if job["status"] == "COMPLETED":
                return all(p.get("launchStatus") == "LAUNCHED" for p in job.get("participatingServers", []))

    def _poll_until(self, result: BaselineResult, seconds: float) -> Generator[float, None, None]:
        """An SSM document the seed's way: start it, then poll every 30 s until it has run `seconds`."""
        yield from self._task(result)
        end = self.clock.now() + timedelta(seconds=seconds)
        while self.clock.now() < end:
            result.transitions += 1
            yield POLL_SECONDS
            yield from self._task(result)
            result.transitions += 1
            yield TRANSITION_SECONDS


def drs_calls(drs: DrsSimulator) -> Counter[str]:
    """The simulator's API call counts."""
    return Counter(drs.calls)
