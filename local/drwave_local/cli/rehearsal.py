"""A whole rehearsal: load files, run one execution in the local runtime, report."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from drwave.adapters.publisher import PublishError
from drwave.control.roles import Caller, Role
from drwave.control.service import ControlPlane
from drwave.core.evidence import build_evidence
from drwave.core.evidence_render import to_html, to_markdown
from drwave.models.execution import ExecutionType, LaunchStatus
from drwave.models.recovery import RecoveryPoint, RecoveryPointMode
from drwave_local.cli.progress import ProgressPrinter
from drwave_local.cli.report import build_report, summary_table
from drwave_local.runtime.embedded import LocalRuntime
from drwave_local.runtime.fast_dynamodb import dynamodb_choice
from drwave_local.runtime.invariants import check_invariants
from drwave_local.runtime.router import Faults
from drwave_local.simulators.environment import (
    InputFileError,
    assume_environment_region,
    load_environment,
    load_plan_document,
    problems_before_run,
)

PER_SERVER_LINES_UP_TO = 60
PUBLISH_RETRY_SECONDS = 5.0  # how soon the simulated operator tries again after PutEvents refused a command


@dataclass
class RehearsalOptions:
    """How to run a plan locally."""

    execution_type: ExecutionType = ExecutionType.DRILL
    faults: Faults | None = None
    lose_launch_results: float = 0.0
    approve_gates_after_seconds: float | None = 120.0  # None: nobody approves, gates time out
    report_path: Path | None = None
    log_path: Path | None = None
    max_virtual: timedelta = timedelta(days=2)
    # Recover to this long before the simulation starts (None: LATEST).
    recover_to_before_start: timedelta | None = None
    # Alarm timeline (offset, alarm name, state): the execution is started by a failover trigger on those alarms
    # (`trigger` fields override its defaults: DRY_RUN for a drill, CONFIRM for a recovery, 5-minute sustain).
    alarms: list[tuple[timedelta, str, str]] | None = None
    trigger: dict[str, Any] | None = None


class NothingTriggered(RuntimeError):
    """The alarm timeline started no execution (every decision was a suppression, listed in the message)."""


def rehearse(
    plan_path: Path, environment_path: Path, options: RehearsalOptions, out: Callable[[str], None] = print
) -> dict[str, Any]:
    """Run the plan once against the simulated environment; print progress and return the report."""
    document = load_plan_document(plan_path)
    environment = load_environment(environment_path)
    if (problems := problems_before_run(plan_path, document, environment)) is not None:
        raise problems
    for note in assume_environment_region(document, environment):
        out(f"Note: {note}")
    hostnames = {s.id: s.hostname for s in environment.source_servers if s.hostname}
    wall_start = time.perf_counter()
    runtime = LocalRuntime(
        environment,
        faults=options.faults,
        lose_launch_results=options.lose_launch_results,
        log_path=options.log_path,
        dynamodb=dynamodb_choice(default="fast"),
    )
    with runtime:
        runtime.install(document)
        printer = ProgressPrinter(
            runtime.clock.now(),
            hostnames,
            out,
            per_server=len(environment.source_servers) <= PER_SERVER_LINES_UP_TO,
        )
        printer.now = runtime.clock.now
        printer.failures = partial(_failed_servers, runtime)
        runtime.router.observers.append(printer)
        _preflight(runtime, document.recovery_plan.id, out)
        if options.approve_gates_after_seconds is not None:
            delay = options.approve_gates_after_seconds

            def approve_later(_bus: str, event: dict[str, Any]) -> None:
                if event["detail-type"] == "Wave Gate Waiting":
                    detail = event["detail"]
                    approve = partial(runtime.approve, detail["executionId"], detail["waveId"], "demo-operator")
                    runtime.clock.call_later(delay, partial(_send_until_accepted, runtime, approve), label="operator")

            runtime.router.observers.append(approve_later)
        out(
            f"Rehearsing {document.recovery_plan.name!r} as a {options.execution_type} on a simulated account "
            f"({len(environment.source_servers)} source servers; faults: {runtime.faults.describe()}"
            f"{f', lost launch results {options.lose_launch_results}' if options.lose_launch_results else ''})"
        )
        if options.alarms:
            execution_id = _rehearse_alarms(runtime, document.recovery_plan.id, options, out)
        else:
            execution_id = f"exec-{uuid.uuid4().hex[:12]}"
            point = None
            if options.recover_to_before_start is not None:
                at = runtime.clock.now() - options.recover_to_before_start
                point = RecoveryPoint(mode=RecoveryPointMode.POINT_IN_TIME, at=at)
            request = partial(
                runtime.request_execution, document.recovery_plan.id, options.execution_type, execution_id, point
            )
            _send_until_accepted(runtime, request)
            runtime.run(options.max_virtual)
        execution = runtime.execution(execution_id)
        violations = check_invariants([execution], runtime.drs) + [
            f"{execution_id}: decision v{r['version']} still has unpublished events"
            for r in runtime.deps.store.decision_records(execution_id)
            if r["pending"]
        ]
        stats = runtime.router.stats
        report = build_report(
            execution,
            ground_truth=runtime.drs.ground_truth(),
            drs_calls=runtime.drs.calls,
            invocations=stats.invocations,
            events_published=stats.published,
            hostnames=hostnames,
            extra={
                "faults": runtime.faults.describe(),
                "deliveries": {
                    "dropped": stats.dropped,
                    "duplicated": stats.duplicated,
                    "handlerFailures": dict(stats.failures),
                    "deadLettered": len(stats.dead_lettered),
                    "injectedCrashes": runtime.crashes,
                    "launchResultsLost": len(runtime.drs.launch_result_events_lost()),
                },
                "wallSeconds": round(time.perf_counter() - wall_start, 3),
                "invariantViolations": violations,
                "evidence": build_evidence(
                    execution, hostnames=hostnames, cleanup=runtime.deps.cleanup_store.load(execution_id)
                ),
            },
        )
    out("")
    _print_summary(report, out)
    out(f"Wall time: {report['wallSeconds']:.2f} s for {report['simulatedRtoSeconds'] or 0:.0f} s of simulated time")
    if options.report_path is not None:
        options.report_path.parent.mkdir(parents=True, exist_ok=True)
        options.report_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        for suffix, render in ((".html", to_html), (".md", to_markdown)):
            options.report_path.with_suffix(suffix).write_text(render(report["evidence"]), encoding="utf-8")
        out(
            f"Report: {options.report_path} (and {options.report_path.with_suffix('.html').name}, "
            f"{options.report_path.with_suffix('.md').name}; content SHA-256 {report['evidence']['contentSha256']})"
        )
    return report


def _print_summary(report: dict[str, Any], out: Callable[[str], None]) -> None:
    out(summary_table(report))
    if (cleanup := report["evidence"].get("cleanup")) is not None:
        out(cleanup_line(cleanup))
    for violation in report["invariantViolations"]:
        out(f"INVARIANT VIOLATED: {violation}")


def cleanup_line(cleanup: dict[str, Any]) -> str:
    """The drill cleanup in one line: its schedule and what was terminated (or why there is none)."""
    if "ttlMinutes" not in cleanup:
        return f"Drill cleanup: {cleanup['status']} ({cleanup.get('reason', '')})"
    batches = cleanup.get("batches") or []
    terminated = sum(len(b.get("recoveryInstanceIds") or []) for b in batches)
    return (
        f"Drill cleanup: {cleanup['status']}; TTL {cleanup['ttlMinutes']} min after the drill ended "
        f"(expires {cleanup['expiresAt']}, warning {cleanup['noticeMinutes']} min before); "
        f"{terminated} instance(s) sent for termination in {len(batches)} batch(es), "
        f"{len(cleanup.get('skipped') or {})} skipped"
    )


def _send_until_accepted(runtime: LocalRuntime, command: Callable[[], Any]) -> None:
    """Send an operator's command; if PutEvents refuses it, try again a few seconds later, as the API client does."""
    try:
        command()
    except PublishError:
        runtime.clock.call_later(
            PUBLISH_RETRY_SECONDS, partial(_send_until_accepted, runtime, command), label="operator"
        )


def _preflight(runtime: LocalRuntime, plan_id: str, out: Callable[[str], None]) -> None:
    """The API's pre-flight on the installed plan: problems refuse the rehearsal (as they would refuse a start)."""
    report = ControlPlane(runtime.deps).preflight(Caller("local-cli", Role.ADMIN), plan_id)
    servers = sum(len(ids) for ids in report.wave_servers.values())
    if not report.ok:
        lines = [f"pre-flight: {p.message}" for p in report.problems]
        shown = lines[:10] + ([f"pre-flight: and {len(lines) - 10} more problems"] if len(lines) > 10 else [])
        raise InputFileError("\n".join(shown))
    notes = f"; {len(report.warnings)} warning(s)" if report.warnings else ""
    out(f"Pre-flight: OK ({len(report.wave_servers)} waves, {servers} servers{notes})")
    for warning in report.warnings:
        out(f"  warning: {warning.message}")


def _failed_servers(runtime: LocalRuntime, execution_id: str, wave_id: str) -> list[tuple[str, str]]:
    """Each failed server of a wave and the reason DRS gave (from the job log), for the console."""
    wave = runtime.execution(execution_id).waves.get(wave_id)
    if wave is None:
        return []
    return [
        (s.source_server_id, s.error or "no reason recorded")
        for s in wave.servers.values()
        if s.launch_status is LaunchStatus.FAILED
    ]


def _rehearse_alarms(runtime: LocalRuntime, plan_id: str, options: RehearsalOptions, out: Callable[[str], None]) -> str:
    """Arm a trigger on the timeline's alarms, play the timeline on the clock, and return the execution it started."""
    from drwave.control.roles import Caller, Role  # noqa: PLC0415
    from drwave.control.triggers import TriggerControl  # noqa: PLC0415

    timeline = options.alarms or []
    mode = "DRY_RUN" if options.execution_type is ExecutionType.DRILL else "CONFIRM"
    names = sorted({name for _, name, _ in timeline})
    body = {"id": "rehearsal", "planId": plan_id, "mode": mode, "sustainMinutes": 5, **(options.trigger or {})}
    body.setdefault("alarmArns", [runtime.triggers.alarm_arn(n) for n in names])
    admin = Caller("rehearsal-admin", Role.ADMIN)
    control = TriggerControl(runtime.deps)
    control.put_trigger(admin, body)
    trigger = control.arm(admin, str(body["id"]))
    out(
        f"Failover trigger {trigger['id']}: {trigger['mode']}, quorum {trigger['quorum']} of {names}, "
        f"sustain {trigger['sustainMinutes']} min; alarm timeline: "
        + ", ".join(f"{n}={s}@T+{int(o.total_seconds())}s" for o, n, s in timeline)
    )
    decisions: list[dict[str, Any]] = []
    runtime.router.observers.append(
        lambda _bus, e: decisions.append(e) if e["detail-type"].startswith("Failover ") else None
    )
    start = runtime.clock.now()
    for offset, name, state in timeline:
        runtime.triggers.alarm_at(start + offset, name, state)
    runtime.run(options.max_virtual)
    triggered = [e["detail"] for e in decisions if e["detail-type"] == "Failover Triggered"]
    if not triggered:
        reasons = "; ".join(f"{e['detail']['reason']}: {e['detail']['message']}" for e in decisions) or "no decision"
        raise NothingTriggered(f"the alarm timeline started no execution ({reasons})")
    return str(triggered[0]["executionId"])
