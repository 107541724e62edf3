"""The prediction harness: drwave.core.predict's engine runs, with the local DRS and SSM simulators as AWS.

Every decision is `decide()`'s, made on the messages the handlers would send (drwave.core.predict.EngineRun); what
AWS does is the simulators' own code, called in memory (no moto, no boto3 client, no HTTP): StartRecovery with its
quotas (at most 100 servers a job, 20 active jobs, 500 servers in active jobs, one active job per server), the job
start delay, each server's phase timeline with the environment's jitter and failure phase, the launch-result event
each launch ends with (to which track-launch reacts one hop later), and each SSM document's duration and outcome.
Each run is its own world: a simulator seeded afresh, so the jitter of every server is drawn again; run it with
the environment's own seed (`replay`) and it is the world `drwave run` rehearses.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import timedelta
from functools import partial
from typing import Any

from drwave.core import messages as m
from drwave.core.actions import actions_to_poll, ssm_status
from drwave.core.capacity import DrsLimits
from drwave.core.observe import (
    failure_reasons,
    job_changed,
    job_observed,
    jobs_to_poll,
    last_pending_in_chunk,
    newly_failed,
    observation,
    state_change,
)
from drwave.core.predict import (
    OUTCOMES,
    T0,
    TICK_SECONDS,
    Assumptions,
    EngineRun,
    JobRefused,
    Prediction,
    ServerModel,
    predict,
)
from drwave.models.execution import ActionStatus, Chunk, Execution, LaunchStatus
from drwave.models.plan import ActionType, ProtectionGroup, RecoveryPlan, WaveAction
from drwave_local.runtime.clock import VirtualClock
from drwave_local.simulators.drs import DrsError, DrsSimulator, ServerTimeline, SimulatedSourceServer
from drwave_local.simulators.environment import Environment
from drwave_local.simulators.ssm import ActionBehaviour, SsmSimulator

# What track-launch makes of a launch-result event's state.
_LAUNCH_STATES = {"RECOVERY_LAUNCH_SUCCEEDED": LaunchStatus.LAUNCHED, "RECOVERY_LAUNCH_FAILED": LaunchStatus.FAILED}


def _timeline(spec: Any) -> ServerTimeline | None:
    return None if spec is None else ServerTimeline(spec.snapshot_seconds, spec.conversion_seconds, spec.launch_seconds)


class SimulatedRun(EngineRun):
    """One execution through decide() against a fresh DRS and SSM simulator seeded with `seed`."""

    def __init__(
        self,
        plan: RecoveryPlan,
        groups: Mapping[str, ProtectionGroup],
        servers: Mapping[str, ServerModel],
        assume: Assumptions,
        limits: DrsLimits,
        rng: random.Random,
        *,
        environment: Environment,
        seed: int,
    ) -> None:
        clock = VirtualClock(T0)
        super().__init__(plan, groups, servers, assume, limits, rng, clock)
        env = environment
        self.drs = DrsSimulator(
            clock,
            account_id=env.account_id,
            region=env.region,
            seed=seed,
            default_timeline=_timeline(env.default_timeline),
            jitter=env.jitter,
            job_start_delay_seconds=env.job_start_delay_seconds,
            emit_event=self._drs_event,
            pit_snapshot_events=False,
        )
        for spec in env.source_servers:
            timeline = _timeline(spec.timeline)
            model = servers.get(spec.id)
            if model is not None and model.history:
                timeline = self._from_history(model, timeline or _timeline(env.default_timeline) or ServerTimeline())
            self.drs.add_source_server(
                SimulatedSourceServer(
                    spec.id, spec.hostname, dict(spec.tags), spec.replication_state, timeline, spec.fail_at
                )
            )
        behaviours = {name: ActionBehaviour(a.duration_seconds, a.outcome) for name, a in env.actions.items()}
        self.ssm = SsmSimulator(clock, self._ssm_event, behaviours, seed=seed)
        self._action_runs: dict[str, tuple[str, str]] = {}

    def _from_history(self, model: ServerModel, shape: ServerTimeline) -> ServerTimeline:
        """A timeline as long as one of the server's past launches (job start delay and hop taken off), in the
        proportions of its phases; the simulator's jitter then spreads it as it spreads any timeline."""
        past = self.rng.choice(model.history) - self.drs.job_start_delay_seconds - self.assume.hop_seconds
        base = (shape.snapshot_seconds, shape.conversion_seconds, shape.launch_seconds)
        scale = max(past, 1.0) / sum(base)
        return ServerTimeline(*(seconds * scale for seconds in base))

    def start_job(self, wave_id: str, chunk: Chunk, token: str) -> str:
        """start-wave's StartRecovery (tags as it sets them), answered by the DRS simulator."""
        body = {
            "sourceServers": [{"sourceServerID": sid} for sid in chunk.source_server_ids],
            "isDrill": self.exe.is_drill,
            "tags": {
                "drwave:execution-id": self.exe.execution_id,
                "drwave:wave-id": wave_id,
                "drwave:launch-token": token,
            },
        }
        try:
            return str(self.drs.call("StartRecovery", body)["job"]["jobID"])
        except DrsError as err:
            raise JobRefused(err.code, err.message) from err

    def _drs_event(self, event: dict[str, Any]) -> None:
        """An aws.drs event on the default bus: track-launch receives a launch result one hop later."""
        if event["detail-type"] == "DRS Source Server Launch Result" and event["detail"].get("state") in _LAUNCH_STATES:
            self.later(self.assume.hop_seconds, partial(self._track_launch, event))

    def _track_launch(self, event: dict[str, Any]) -> None:
        """track-launch on a launch result: the job log's reason for a failure; the job's instance ids once the
        chunk's last server has a result (the event carries none)."""
        job_id, status = event["detail"]["job-id"], _LAUNCH_STATES[event["detail"]["state"]]
        sid = event["resources"][0].rsplit("/", 1)[1]
        error = None
        if status is LaunchStatus.FAILED:
            error = self._failure_reasons(job_id).get(sid, event["detail"]["state"])
        result = m.ServerResult(job_id, sid, status, error=error)
        messages: list[m.Message] = [result]
        if last_pending_in_chunk(self.exe, result):
            messages = [*self._observe([job_id], {sid: error} if error else None), result]
        self.apply(*messages)

    def _observe(self, job_ids: list[str], errors: dict[str, str] | None = None) -> list[m.JobObserved]:
        """DescribeJobs for these jobs, as JobObserved messages."""
        items = self.drs.call("DescribeJobs", {"filters": {"jobIDs": job_ids}})["items"]
        return [
            observation(
                job["jobID"],
                job["status"],
                (
                    (s["sourceServerID"], s["launchStatus"], s.get("recoveryInstanceID"))
                    for s in job["participatingServers"]
                ),
                errors,
            )
            for job in items
        ]

    def _failure_reasons(self, job_id: str) -> dict[str, str]:
        return failure_reasons(self.drs.call("DescribeJobLogItems", {"jobID": job_id})["items"])

    def tick(self) -> None:
        """The poll tick (reconcile): overdue SSM results, the time-based decisions, then one DescribeJobs for the
        jobs worth polling, a "DRS Job State Change" (to track-launch, one hop later) for each that moved on."""
        overdue: list[m.Message] = []
        for run in actions_to_poll(self.exe, self.now):
            raw = self.ssm.status(run.run_id)
            status = ssm_status(raw) if raw else None
            if status is not None:
                error = None if status is ActionStatus.SUCCEEDED else f"SSM status {raw}"
                overdue.append(m.ActionResult(run.wave_id, run.phase, run.run_id, status, error))
        self.apply(*overdue, m.Tick())
        if self.exe.status.terminal:
            return
        polled = jobs_to_poll(self.exe, self.now, int(TICK_SECONDS))
        for seen in self._observe(sorted(polled)) if polled else []:
            if job_changed(self.exe, seen):
                reasons = self._failure_reasons(seen.job_id) if newly_failed(self.exe, seen) else {}
                change = state_change(self.exe, seen, reasons)
                self.later(self.assume.hop_seconds, partial(self.apply, job_observed(change)))
        self.later(TICK_SECONDS, self.tick)

    def start_action(self, wave_id: str, phase: str, action: WaveAction) -> str:
        """run-wave-actions' SendCommand / StartAutomationExecution, run by the SSM simulator."""
        run_id = self.ssm.start(action.document_name, automation=action.type is ActionType.AUTOMATION)
        self._action_runs[run_id] = (wave_id, phase)
        return run_id

    def _ssm_event(self, detail_type: str, detail: dict[str, Any], resources: list[str]) -> None:
        """An aws.ssm status change: run-wave-actions records the run's outcome one hop later."""
        run_id = str(detail.get("command-id") or detail.get("ExecutionId"))
        if run_id not in self._action_runs:
            return
        wave_id, phase = self._action_runs[run_id]
        result = m.ActionResult(wave_id, phase, run_id, OUTCOMES[str(detail.get("status") or detail.get("Status"))])
        self.later(self.assume.hop_seconds, partial(self.apply, result))


def run_seed(environment_seed: int, index: int) -> int:
    """The simulator seed of prediction run `index`: a world of its own, reproducible from the environment's seed."""
    return random.Random(f"{environment_seed}|predict|{index}").getrandbits(31)


def predict_in_simulator(
    plan: RecoveryPlan,
    groups: Mapping[str, ProtectionGroup],
    servers: Mapping[str, ServerModel],
    environment: Environment,
    *,
    runs: int,
    assume: Assumptions,
    limits: DrsLimits | None = None,
    budget: timedelta = timedelta(days=2),
) -> Prediction:
    """`runs` runs, each against simulators seeded afresh: the RTO over the worlds the environment describes."""
    limits = limits or DrsLimits()

    def make_run(index: int, rng: random.Random) -> EngineRun:
        return SimulatedRun(
            plan,
            groups,
            servers,
            assume,
            limits,
            rng,
            environment=environment,
            seed=run_seed(environment.seed, index),
        )

    return predict(
        plan,
        groups,
        servers,
        runs=runs,
        seed=environment.seed,
        assume=assume,
        limits=limits,
        budget=budget,
        make_run=make_run,
    )


def replay(
    plan: RecoveryPlan,
    groups: Mapping[str, ProtectionGroup],
    servers: Mapping[str, ServerModel],
    environment: Environment,
    *,
    assume: Assumptions,
    limits: DrsLimits | None = None,
    budget: timedelta = timedelta(days=2),
) -> Execution:
    """One run in the environment's own world (its seed): what `drwave run` measures, if the harness is faithful."""
    run = SimulatedRun(
        plan,
        groups,
        servers,
        assume,
        limits or DrsLimits(),
        random.Random(environment.seed),
        environment=environment,
        seed=environment.seed,
    )
    return run.run(budget)
