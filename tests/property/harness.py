"""Runs a drawn `Schedule` on a fresh LocalRuntime and checks the at-least-once invariants (rule 3) on the outcome.

`run_schedule` builds the environment and plan files from the schedule, injects the faults, plays the operator
(requests, gate approvals, pauses/resumes, cancels) on the virtual clock and runs until every execution is
terminal. `violations` returns every broken property as a readable sentence, so a failing example shows what
went wrong next to the shrunk schedule.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from strategies import WAVE_TIMEOUT_MINUTES, Action, Burst, FaultMix, Plan, Schedule

from drwave.adapters.publisher import PublishError
from drwave.core.projection import project_all
from drwave.models.execution import ActionStatus, Execution, ExecutionStatus, LaunchStatus
from drwave.models.plan import PlanDocument
from drwave_local.runtime.embedded import LocalRuntime, RuntimeStalled
from drwave_local.runtime.invariants import check_invariants
from drwave_local.runtime.router import Faults
from drwave_local.runtime.template import Route
from drwave_local.simulators.environment import Environment

OPERATOR_POLL_SECONDS = 30  # how often the operator looks at the status page for gates whose notice was lost
PUBLISH_RETRY_SECONDS = 5  # the operator's command was refused by PutEvents: they try again
VIRTUAL_BUDGET = timedelta(hours=4)  # far beyond any drawn schedule; an execution still active then is stuck

# What an SSM document's simulated outcome must end up as in drwave ("Hang" never reports: drwave times it out).
SSM_TRUTH = {
    "Success": ActionStatus.SUCCEEDED,
    "Failed": ActionStatus.FAILED,
    "TimedOut": ActionStatus.TIMED_OUT,
    "Hang": ActionStatus.TIMED_OUT,
}
# Timeline entries that mark a wave opening: its gate, or its start (pre-actions or launch, whichever is first).
OPENING_EVENTS = frozenset({"GATE_WAITING", "ACTIONS_REQUESTED", "WAVE_LAUNCH_REQUESTED"})


def execution_id(plan: Plan) -> str:
    """The execution id a schedule's plan runs under."""
    return f"exec-{plan.id}"


def environment(schedule: Schedule) -> Environment:
    """The simulated account: the schedule's servers and every action's SSM document."""
    documents = {
        a.document: {"durationSeconds": a.duration, "outcome": a.outcome}
        for p in schedule.plans
        for w in p.waves
        for a in (*w.pre, *w.post)
    }
    return Environment.model_validate(
        {
            "seed": schedule.faults.seed,
            "jitter": 0.1,
            "sourceServers": [
                {
                    "id": s.id,
                    "timeline": {
                        "snapshotSeconds": s.snapshot,
                        "conversionSeconds": s.conversion,
                        "launchSeconds": s.launch,
                    },
                    **({"failAt": s.fail_at} if s.fail_at else {}),
                }
                for s in schedule.servers
            ],
            "actions": documents,
        }
    )


def _action(a: Action) -> dict[str, Any]:
    return {
        "name": a.name,
        "documentName": a.document,
        "type": a.kind,
        "timeoutSeconds": a.timeout,
        "onFailure": a.on_failure,
    }


def plan_document(schedule: Schedule, plan: Plan) -> PlanDocument:
    """The plan file: one protection group of explicit server ids per wave."""
    waves = []
    for w in plan.waves:
        wave: dict[str, Any] = {
            "id": w.id,
            "protectionGroupIds": [f"pg-{plan.id}-{w.id}"],
            "dependsOn": list(w.after),
            "failurePolicy": w.policy,
            "timeoutMinutes": WAVE_TIMEOUT_MINUTES,
            "preActions": [_action(a) for a in w.pre],
            "postActions": [_action(a) for a in w.post],
        }
        if w.gate:
            wave["pauseBeforeWave"] = {"timeoutMinutes": w.gate.timeout_minutes}
        if w.optional:
            wave["serverImpact"] = {schedule.server(n).id: "OPTIONAL" for n in w.optional}
        waves.append(wave)
    groups = [
        {
            "id": f"pg-{plan.id}-{w.id}",
            "name": f"{plan.id} {w.id}",
            "sourceServerIds": [schedule.server(n).id for n in w.servers],
        }
        for w in plan.waves
    ]
    return PlanDocument.model_validate(
        {"protectionGroups": groups, "recoveryPlan": {"id": plan.id, "name": f"plan {plan.id}", "waves": waves}}
    )


@dataclass
class OperatorLog:
    """What the simulated operator did, at which virtual time (commands count once PutEvents accepted them)."""

    entries: list[tuple[datetime, str, str]] = field(default_factory=list)  # (at, execution id, what)
    approvals: dict[tuple[str, str], datetime] = field(default_factory=dict)  # (execution, wave) -> accepted at
    cancels: dict[str, datetime] = field(default_factory=dict)

    def lines(self) -> list[str]:
        return [f"{at:%H:%M:%S} {exe}: {what}" for at, exe, what in self.entries]


class Operator:
    """Plays a schedule's operator actions on the runtime's virtual clock."""

    def __init__(self, rt: LocalRuntime, schedule: Schedule) -> None:
        self.rt = rt
        self.schedule = schedule
        self.log = OperatorLog()

    def start(self) -> None:
        for plan, op in zip(self.schedule.plans, self.schedule.operators, strict=True):
            self._at(op.start_at, partial(self._request, plan))
            if op.cancel_at is not None:
                self._at(op.start_at + op.cancel_at, partial(self._command, execution_id(plan), "cancel"))
            for pause in op.pauses:
                self._at(op.start_at + pause.at, partial(self._pause, execution_id(plan), pause.hold))

    def _request(self, plan: Plan) -> None:
        exe = execution_id(plan)
        self._send(exe, "request", partial(self.rt.request_execution, plan.id, execution_id=exe), self._approver(plan))

    def _command(self, exe: str, what: str) -> None:
        commands = {"cancel": self.rt.cancel, "pause": self.rt.pause, "resume": self.rt.resume}
        self._send(exe, what, partial(commands[what], exe))

    def _pause(self, exe: str, hold: int) -> None:
        resume_later = partial(self._at, hold, partial(self._command, exe, "resume"))
        self._send(exe, "pause", partial(self.rt.pause, exe), resume_later)

    def _at(self, delay: float, callback: Callable[[], None]) -> None:
        self.rt.clock.call_later(delay, callback, label="operator")

    def _send(self, exe: str, what: str, command: Callable[[], Any], then: Callable[[], None] | None = None) -> None:
        """Issue a command; the API retries it until PutEvents accepts it (publish_failure fault)."""
        try:
            command()
        except PublishError:
            self._at(PUBLISH_RETRY_SECONDS, lambda: self._send(exe, what, command, then))
            return
        now = self.rt.clock.now()
        self.log.entries.append((now, exe, what))
        if what == "cancel":
            self.log.cancels.setdefault(exe, now)
        elif what.startswith("approve "):
            self.log.approvals.setdefault((exe, what.removeprefix("approve ")), now)
        if then is not None:
            then()

    def _approver(self, plan: Plan) -> Callable[[], None] | None:
        """Approve each gate `approve_after` s after it opened: notified by "Wave Gate Waiting" (the status
        page's push), with a look at the stored execution every OPERATOR_POLL_SECONDS in case that was lost."""
        delays = {w.id: w.gate.approve_after for w in plan.waves if w.gate and w.gate.approve_after is not None}
        if not delays:
            return None
        exe = execution_id(plan)
        scheduled: set[str] = set()

        def approve_later(wave_id: str, opened: datetime) -> None:
            if wave_id in scheduled:
                return
            scheduled.add(wave_id)
            wait = max(0.0, (opened + timedelta(seconds=delays[wave_id]) - self.rt.clock.now()).total_seconds())
            self._at(wait, lambda: self._send(exe, f"approve {wave_id}", lambda: self.rt.approve(exe, wave_id)))

        def notified(_bus: str, event: dict[str, Any]) -> None:
            detail = event.get("detail") or {}
            kind, wave_id = event["detail-type"], detail.get("waveId")
            if kind == "Wave Gate Waiting" and detail.get("executionId") == exe and wave_id in delays:
                approve_later(wave_id, self.rt.clock.now())

        def look() -> None:
            with suppress(KeyError):
                execution = self.rt.execution(exe)
                if execution.status.terminal:
                    return
                for wave_id in delays:
                    opened = execution.waves[wave_id].gate_opened_at
                    if opened is not None:
                        approve_later(wave_id, opened)
            if scheduled != set(delays):
                self._at(OPERATOR_POLL_SECONDS, look)

        self.rt.router.observers.append(notified)
        return look


@dataclass
class Outcome:
    """A finished run, read while the runtime is still up."""

    rt: LocalRuntime
    schedule: Schedule
    executions: dict[str, Execution]
    operator: OperatorLog
    stalled: list[str]  # still active when the virtual-time budget ran out
    idle: list[str]  # still active although nothing was scheduled any more (no poll tick)
    faults: list[str]
    published_ids: set[str] = field(default_factory=set)  # outbox event ids seen on the bus


class FaultInjector:
    """Applies a schedule's targeted faults to a runtime and logs every fault injected, random ones included."""

    def __init__(self, rt: LocalRuntime, faults: FaultMix) -> None:
        self.rt = rt
        self.log: list[str] = []
        self._deliveries = {(d.detail_type, d.nth): d for d in faults.deliveries}
        self._crashes = {(c.detail_type, c.nth) for c in faults.crashes}
        self._put_seen: Counter[str] = Counter()
        self._published: Counter[str] = Counter()
        # Outbox event ids PutEvents accepted (a targeted delivery drop may still lose them afterwards).
        self.accepted_ids: set[str] = set()
        router = rt.router
        self._put = router.put
        self._schedule = router._schedule
        self._put_entries = router.put_entries
        self._crash_now = rt._crash_now
        # Instance attributes shadow the methods the router and the runtime call on themselves.
        router.put = self._on_put  # type: ignore[method-assign]
        router._schedule = self._on_schedule  # type: ignore[method-assign]
        router.put_entries = self._on_put_entries  # type: ignore[method-assign]
        rt._crash_now = self._on_crash_now  # type: ignore[method-assign]
        events_client = rt.deps.publisher._events
        events_client.meta.events.register_first("before-send.events.PutEvents", self._before_put_events)
        drs_client = rt.deps.drs_for(rt.env.account_id, rt.env.region)._drs
        drs_client.meta.events.register("after-call.drs.StartRecovery", self._after_start_recovery)
        for burst in faults.bursts:
            rt.clock.call_later(burst.at, partial(self._burst, burst), label="fault")

    def _note(self, text: str) -> None:
        self.log.append(f"{self.rt.clock.now():%H:%M:%S} {text}")

    def _on_put(self, bus: str, event: dict[str, Any]) -> None:
        kind = event["detail-type"]
        self.accepted_ids.add((event.get("detail") or {}).get("eventId") or "")
        self._put_seen[kind] += 1
        fault = self._deliveries.get((kind, self._put_seen[kind]))
        if fault is None:
            self._put(bus, event)
            return
        self._note(fault.describe())
        if fault.fault == "duplicate":
            self._put(bus, event)
        if fault.fault != "drop":
            self.rt.clock.call_later(fault.seconds, partial(self._put, bus, event), label="fault")

    def _on_schedule(self, route: Route, event: dict[str, Any], attempt: int) -> None:
        stats = self.rt.router.stats
        dropped, duplicated = stats.dropped, stats.duplicated
        self._schedule(route, event, attempt)
        if stats.dropped != dropped:
            self._note(f"random drop: {event['detail-type']!r} to {route.function}")
        if stats.duplicated != duplicated:
            self._note(f"random duplicate: {event['detail-type']!r} to {route.function}")

    def _on_put_entries(self, entries: list[dict[str, Any]]) -> list[bool]:
        accepted = self._put_entries(entries)
        for entry, ok in zip(entries, accepted, strict=True):
            if not ok:
                self._note(f"random PutEvents rejection: {entry['DetailType']!r}")
        return accepted

    def _on_crash_now(self) -> bool:
        crash = self._crash_now()
        if crash:
            self._note("random handler crash (after saving / after StartRecovery)")
        return crash

    def _before_put_events(self, request: Any, **_: Any) -> None:
        if not self.rt._in_handler:
            return  # the operator's commands: the API would just answer with an error
        kinds = [e["DetailType"] for e in json.loads(request.body or b"{}")["Entries"]]
        doomed = False
        for kind in kinds:
            self._published[kind] += 1
            doomed |= (kind, self._published[kind]) in self._crashes
        if doomed:
            self.rt.crashes += 1
            self._note(f"crash after saving, before publishing {kinds}")
            raise RuntimeError("injected crash: handler died after saving, before publishing")

    def _after_start_recovery(self, parsed: dict[str, Any], **_: Any) -> None:
        if not self.rt._in_handler or "job" not in parsed:
            return
        self._published["StartRecovery"] += 1
        if ("StartRecovery", self._published["StartRecovery"]) in self._crashes:
            self.rt.crashes += 1
            self._note(f"crash after StartRecovery started {parsed['job']['jobID']}, before recording it")
            raise RuntimeError("injected crash: handler died after StartRecovery, before saving the job")

    def _burst(self, burst: Burst) -> None:
        self._note(burst.describe())
        self.rt.drs.inject_error(burst.operation, burst.code, burst.count)


@contextmanager
def run_schedule(schedule: Schedule, never_drop: frozenset[str] = frozenset()) -> Iterator[Outcome]:
    """Run the schedule on its own LocalRuntime; the outcome is valid inside the `with` block.

    `never_drop` adds detail-types the router's random drops spare (besides the operator commands it always
    spares); by default every other event may be lost, aws.ssm status changes included.
    """
    f = schedule.faults
    faults = Faults(
        duplicate=f.duplicate,
        drop=f.drop,
        max_delay_seconds=f.max_delay,
        crash_after_save=f.crash_after_save,
        publish_failure=f.publish_failure,
        seed=f.seed,
    )
    faults.never_drop = faults.never_drop | never_drop
    with LocalRuntime(environment(schedule), faults=faults, lose_launch_results=f.lose_launch_results) as rt:
        for plan in schedule.plans:
            rt.install(plan_document(schedule, plan))
        injector = FaultInjector(rt, f)
        operator = Operator(rt, schedule)
        operator.start()
        stalled: list[str] = []
        idle: list[str] = []
        try:
            rt.run(max_virtual=VIRTUAL_BUDGET)
            idle = rt.deps.store.active_execution_ids()
        except RuntimeStalled:
            stalled = rt.deps.store.active_execution_ids()
        executions = {}
        for plan in schedule.plans:
            with suppress(KeyError):
                executions[plan.id] = rt.execution(execution_id(plan))
        yield Outcome(rt, schedule, executions, operator.log, stalled, idle, injector.log, injector.accepted_ids - {""})


# --- the oracle --------------------------------------------------------------------------------------------


def expected_status(schedule: Schedule, plan: Plan) -> ExecutionStatus:
    """The final status of an execution nobody cancelled, from the plan and the simulator's behaviour alone.

    A wave "fails" when its gate is never approved, a STOP action does not succeed, or a CRITICAL server fails;
    it "warns" when an OPTIONAL server fails or a CONTINUE action does not succeed. Any failure fails the
    execution (its dependants are skipped, and a STOP policy skips the rest); otherwise any warning makes it
    COMPLETED_WITH_WARNINGS. Run Command actions need instances to target: pre-actions target the instances
    the wave's dependencies recovered, post-actions the wave's own. An approval given in time holds even if
    the execution stays paused past the gate's timeout.
    """
    launched: dict[str, list[int]] = {}
    failed = warned = False
    for wave in plan.waves:
        if wave.gate and wave.gate.approve_after is None:
            failed = True
        dep_instances = [n for d in wave.after for n in launched[d]]
        launched[wave.id] = [n for n in wave.servers if schedule.server(n).fail_at is None]
        for action in wave.pre + wave.post:
            targets = dep_instances if action in wave.pre else launched[wave.id]
            ok = action.outcome == "Success" and (action.kind == "AUTOMATION" or bool(targets))
            if not ok:
                failed |= action.on_failure == "STOP"
                warned |= action.on_failure == "CONTINUE"
        for n in wave.servers:
            if schedule.server(n).fail_at is not None:
                failed |= n not in wave.optional
                warned |= n in wave.optional
    if failed:
        return ExecutionStatus.FAILED
    return ExecutionStatus.COMPLETED_WITH_WARNINGS if warned else ExecutionStatus.COMPLETED


# --- the properties ------------------------------------------------------------------------------------------


def violations(outcome: Outcome) -> list[str]:
    """Every broken property of a finished run, as readable sentences (empty when all hold)."""
    rt, schedule = outcome.rt, outcome.schedule
    problems = [f"{e} still active after {VIRTUAL_BUDGET} of simulated time" for e in outcome.stalled]
    problems += [
        f"{e} still active when nothing was scheduled any more (the poll tick had stopped)" for e in outcome.idle
    ]
    for plan in schedule.plans:
        if plan.id not in outcome.executions:
            problems.append(f"{execution_id(plan)} was requested but never created")
    executions = list(outcome.executions.values())
    problems += check_invariants(executions, rt.drs)
    if executions and all(e.status.terminal for e in executions):
        ledger = rt.deps.store.load_ledger(rt.env.account_id, rt.env.region)
        problems += [f"DRS capacity still reserved after every execution ended: {k}" for k in ledger.reservations]
    for plan in schedule.plans:
        execution = outcome.executions.get(plan.id)
        if execution is not None:
            problems += _gates(execution, outcome.operator)
            problems += _openings(execution)
            problems += _final_status(schedule, plan, execution, outcome.operator)
            problems += _actions(execution, rt)
            problems += _launches(execution, rt)
            problems += _read_model(execution, rt)
            problems += _outbox(execution, rt, outcome.published_ids)
    return problems


def _outbox(execution: Execution, rt: LocalRuntime, published: set[str]) -> list[str]:
    """Every event of every saved decision reached the bus (crashes and refused PutEvents included), and every
    gate the execution opened was announced."""
    exe, problems = execution.execution_id, []
    records = rt.deps.store.decision_records(exe)
    problems += [f"{exe}: decision v{r['version']} still has unpublished events" for r in records if r["pending"]]
    saved = {json.loads(e["detail"]).get("eventId") for r in records for e in r["events"]}
    problems += [f"{exe}: saved event {i} was never published" for i in sorted(saved - published)]
    gates = sum(e.event == "GATE_WAITING" for e in execution.timeline)
    announced = {
        json.loads(e["detail"]).get("eventId")
        for r in records
        for e in r["events"]
        if e["detailType"] == "Wave Gate Waiting"
    }
    if len(announced & published) < gates:
        problems.append(f"{exe}: {gates} gate(s) opened but {len(announced & published)} announced")
    return problems


def outcome_of(execution: Execution) -> dict[str, Any]:
    """What a run decided, without its timing: statuses of the execution, its waves, servers and actions."""
    return {
        "status": execution.status,
        "waves": {
            w.wave_id: (
                w.status,
                sorted((s.source_server_id, s.launch_status) for s in w.servers.values()),
                sorted((name, run.status) for name, run in w.pre_actions.items()),
                sorted((name, run.status) for name, run in w.post_actions.items()),
            )
            for w in execution.waves.values()
        },
    }


def _read_model(execution: Execution, rt: LocalRuntime) -> list[str]:
    """The status read model (kept by the stream projection) equals a fresh projection of the final state."""
    exe = execution.execution_id
    items = rt.deps.store.execution_items(exe, "")
    fresh = {row.sk: json.loads(json.dumps(row.doc)) for row in project_all(items)}
    view = rt.deps.store.load_view(exe)
    if view is None:
        return [f"{exe}: no read model was projected"]
    kept = {"SUMMARY": view["summary"]} | {f"WAVE#{w}": d for w, d in view["waves"].items()}
    kept |= {f"SERVER#{w}#{s}": d for w, rows in view["servers"].items() for s, d in rows.items()}
    kept = {sk: {k: v for k, v in (doc or {}).items() if k != "sourceVersion"} for sk, doc in kept.items()}
    if kept == fresh:
        return []
    differing = sorted(sk for sk in set(kept) | set(fresh) if kept.get(sk) != fresh.get(sk))
    first = differing[0]
    diff = {
        k: (kept.get(first, {}).get(k), fresh.get(first, {}).get(k))
        for k in set(kept.get(first, {})) | set(fresh.get(first, {}))
        if kept.get(first, {}).get(k) != fresh.get(first, {}).get(k)
    }
    return [
        f"{exe}: read model differs from a fresh projection of the final state at {', '.join(differing[:5])}"
        f" (first: {first}, field: (kept, fresh) {diff})"
    ]


def _gates(execution: Execution, log: OperatorLog) -> list[str]:
    """A gated wave starts only after an approval that the operator gave and drwave recorded."""
    exe, problems = execution.execution_id, []
    for spec in execution.plan.waves:
        wave = execution.waves[spec.id]
        if spec.pause_before_wave is None:
            if wave.approved_by is not None or wave.gate_opened_at is not None:
                problems.append(f"{exe}: ungated wave {spec.id} has gate state")
            continue
        if wave.started_at is None:
            continue
        approved = [e.at for e in execution.timeline if e.event == "GATE_APPROVED" and e.wave_id == spec.id]
        given = log.approvals.get((exe, spec.id))
        if wave.approved_by is None or not approved:
            problems.append(f"{exe}: gated wave {spec.id} started at {wave.started_at:%H:%M:%S} without approval")
        elif wave.started_at < approved[0]:
            problems.append(f"{exe}: gated wave {spec.id} started before its approval was recorded")
        if given is None or wave.started_at < given:
            problems.append(f"{exe}: gated wave {spec.id} started before the operator approved it ({given})")
    return problems


def _openings(execution: Execution) -> list[str]:
    """No wave opens (gate or start) while paused, after a cancel, or after a STOP failure."""
    exe, problems = execution.execution_id, []
    paused = halted = None
    opened: set[str] = set()
    for entry in execution.timeline:
        if entry.event == "EXECUTION_PAUSED":
            paused = entry.at
        elif entry.event == "EXECUTION_RESUMED":
            paused = None
        elif entry.event in ("CANCEL_REQUESTED", "EXECUTION_STOPPING"):
            halted = halted or f"{entry.event} at {entry.at:%H:%M:%S}"
        elif entry.event in OPENING_EVENTS and entry.wave_id not in opened:
            if entry.event == "ACTIONS_REQUESTED" and not entry.detail.startswith("pre:"):
                continue
            if entry.event != "GATE_WAITING":
                opened.add(str(entry.wave_id))
            what = "opened its gate" if entry.event == "GATE_WAITING" else "started"
            if paused is not None:
                problems.append(
                    f"{exe}: wave {entry.wave_id} {what} at {entry.at:%H:%M:%S}, paused since {paused:%H:%M:%S}"
                )
            if halted is not None:
                problems.append(f"{exe}: wave {entry.wave_id} {what} at {entry.at:%H:%M:%S} after {halted}")
    for wave_id, wave in execution.waves.items():
        if (wave.started_at is not None) != (wave_id in opened):
            problems.append(f"{exe}: wave {wave_id} started_at={wave.started_at} disagrees with the timeline")
    return problems


def _final_status(schedule: Schedule, plan: Plan, execution: Execution, log: OperatorLog) -> list[str]:
    """CANCELLED exactly when a cancel took effect; otherwise the status the plan and the simulator imply."""
    exe = execution.execution_id
    if not execution.status.terminal:
        return []  # reported by check_invariants
    cancelled = any(e.event == "CANCEL_REQUESTED" for e in execution.timeline)
    if cancelled and exe not in log.cancels:
        return [f"{exe}: cancelled although the operator never cancelled it"]
    if cancelled:
        if execution.status is not ExecutionStatus.CANCELLED:
            return [f"{exe}: cancel took effect but the execution ended {execution.status}"]
        return []
    expected = expected_status(schedule, plan)
    if execution.status is not expected:
        waves = ", ".join(
            f"{w}={s.status}" + (f" ({s.reason})" if s.reason else "") for w, s in execution.waves.items()
        )
        return [f"{exe}: ended {execution.status}, expected {expected}; waves: {waves}"]
    return []


def _actions(execution: Execution, rt: LocalRuntime) -> list[str]:
    """Every action run drwave recorded ended as SSM says it did, and every SSM run started was recorded."""
    exe, problems = execution.execution_id, []
    recorded: set[str] = set()
    for wave_id, wave in execution.waves.items():
        for phase in ("pre", "post"):
            for run in wave.action_runs(phase).values():
                if run.command_id is None:
                    if run.status is not ActionStatus.PENDING:
                        problems.append(f"{exe}: {wave_id} {phase}-action {run.name} {run.status} without a command id")
                    continue
                recorded.add(run.command_id)
                if run.command_id.startswith("not-started:"):
                    expected = ActionStatus.FAILED
                else:
                    truth = rt.ssm.runs.get(run.command_id)
                    if truth is None:
                        problems.append(f"{exe}: {wave_id} {phase}-action {run.name} has unknown id {run.command_id}")
                        continue
                    expected = SSM_TRUTH[truth["outcome"]]
                if run.status is not expected:
                    problems.append(
                        f"{exe}: {wave_id} {phase}-action {run.name} recorded {run.status}, SSM says {expected}"
                    )
    documents = {a.document_name for w in execution.plan.waves for a in (*w.pre_actions, *w.post_actions)}
    for run_id, sent in rt.ssm.runs.items():
        if sent["document"] in documents and run_id not in recorded:
            problems.append(f"{exe}: SSM run {run_id} of {sent['document']} was started but never recorded")
    return problems


def _launches(execution: Execution, rt: LocalRuntime) -> list[str]:
    """DRS ground truth: each job of a wave was created after the wave started (and its gate was approved)
    and after its dependencies ended; each launched server recorded the instance DRS really launched."""
    exe, problems = execution.execution_id, []
    instances = {(j.job_id, r.source_server_id): r.instance_id for j in rt.drs.jobs.values() for r in j.runs}
    for job in rt.drs.jobs.values():
        if job.job_type != "LAUNCH" or job.tags.get("drwave:execution-id") != exe:
            continue
        wave_id = job.tags.get("drwave:wave-id", "")
        wave = execution.waves.get(wave_id)
        if wave is None or wave.started_at is None or job.created < wave.started_at:
            problems.append(f"{exe}: DRS job {job.job_id} for wave {wave_id} created before the wave started")
            continue
        for dep in execution.plan.wave(wave_id).depends_on:
            ended = execution.waves[dep].ended_at
            if ended is None or job.created < ended:
                problems.append(f"{exe}: DRS job {job.job_id} for {wave_id} created before dependency {dep} ended")
    for wave_id, wave in execution.waves.items():
        for server in wave.servers.values():
            if server.launch_status is LaunchStatus.LAUNCHED:
                truth = instances.get((server.job_id or "", server.source_server_id))
                if server.recovery_instance_id != truth:
                    problems.append(
                        f"{exe}: {wave_id} {server.source_server_id} recorded instance "
                        f"{server.recovery_instance_id}, DRS launched {truth}"
                    )
    return problems


def story(outcome: Outcome) -> str:
    """What happened, for the failure message: operator actions, timelines, delivery statistics."""
    lines = ["operator:", *(f"  {line}" for line in outcome.operator.lines())]
    lines += ["faults injected:", *(f"  {line}" for line in outcome.faults)]
    lost = outcome.rt.drs.launch_result_events_lost()
    lines += [
        f"  lost aws.drs launch result of {e['resources'][0].rsplit('/', 1)[-1]} ({e['detail']['state']})" for e in lost
    ]
    for execution in outcome.executions.values():
        lines.append(f"{execution.execution_id} ended {execution.status}:")
        lines += [
            f"  {e.at:%H:%M:%S} {e.event}"
            + (f" [{e.wave_id}]" if e.wave_id else "")
            + (f" {e.detail}" if e.detail else "")
            for e in execution.timeline
        ]
    stats = outcome.rt.router.stats
    lines.append(
        f"router: dropped {stats.dropped}, duplicated {stats.duplicated}, crashes {outcome.rt.crashes}, "
        f"handler failures {dict(stats.failures)}, dead-lettered {len(stats.dead_lettered)}"
    )
    return "\n".join(lines)
