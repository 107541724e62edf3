"""`drwave bench`: drwave's event-driven engine against the seed's poll loop, shape by shape, in one run."""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from drwave.models.events import BY_DETAIL_TYPE
from drwave_local.bench.baseline import PollBaseline
from drwave_local.bench.ideal import ideal_end_seconds
from drwave_local.bench.meter import CapacityMeter
from drwave_local.bench.shapes import Shape, fan_out, suite
from drwave_local.paths import ROOT
from drwave_local.runtime.clock import VirtualClock
from drwave_local.runtime.embedded import LocalRuntime, _timeline
from drwave_local.runtime.fast_dynamodb import dynamodb_choice
from drwave_local.simulators.drs import DrsSimulator, SimulatedSourceServer

HOP_LATENCY = 0.25  # modelled seconds per EventBridge + Lambda hop (METRICS.md default)
APPROVAL_SECONDS = 120.0
LAMBDA_GB = 0.25
LAMBDA_SECONDS = 0.2  # modelled average duration of one of our handler invocations
PRICES = {
    "stepFunctionsPer1kTransitions": 0.025,
    "lambdaPer1MRequests": 0.20,
    "lambdaPerGbSecond": 0.0000133334,
    "eventBridgePer1MCustomEvents": 1.00,
    "dynamoDbPer1MWriteUnits": 0.625,
    "dynamoDbPer1MReadUnits": 0.125,
}
HANDLERS = [
    "drwave.handlers.start_execution",
    "drwave.handlers.start_wave",
    "drwave.handlers.track_launch",
    "drwave.handlers.reconcile",
    "drwave.handlers.advance_plan",
    "drwave.handlers.run_wave_actions",
]


def _seconds(start: datetime, end: datetime | None) -> float:
    return (end - start).total_seconds() if end else math.nan


def edge_gap(drs: DrsSimulator, jobs: dict[str, list[str]], dependencies: list[str], wave_id: str) -> float | None:
    """Seconds from the last server of the wave's dependencies launching in DRS to the wave's first job."""
    if not dependencies or not jobs.get(wave_id) or not all(jobs.get(d) for d in dependencies):
        return None
    ready = max(run.end for d in dependencies for j in jobs[d] for run in drs.jobs[j].runs)
    return _seconds(ready, min(drs.jobs[j].created for j in jobs[wave_id]))


def _cost(transitions: float, invocations: float, events: float, wru: float, rru: float) -> float:
    return (
        transitions / 1000 * PRICES["stepFunctionsPer1kTransitions"]
        + invocations / 1e6 * PRICES["lambdaPer1MRequests"]
        + invocations * LAMBDA_SECONDS * LAMBDA_GB * PRICES["lambdaPerGbSecond"]
        + events / 1e6 * PRICES["eventBridgePer1MCustomEvents"]
        + wru / 1e6 * PRICES["dynamoDbPer1MWriteUnits"]
        + rru / 1e6 * PRICES["dynamoDbPer1MReadUnits"]
    )


def _simulator(shape: Shape, clock: VirtualClock) -> DrsSimulator:
    env = shape.environment
    drs = DrsSimulator(
        clock,
        account_id=env.account_id,
        region=env.region,
        seed=env.seed,
        default_timeline=_timeline(env.default_timeline),
        jitter=env.jitter,
        job_start_delay_seconds=env.job_start_delay_seconds,
    )
    for spec in env.source_servers:
        drs.add_source_server(SimulatedSourceServer(spec.id, timeline=_timeline(spec.timeline), fail_at=spec.fail_at))
    return drs


def _action_seconds(shape: Shape) -> Callable[[str], float]:
    actions = shape.environment.actions
    return lambda doc: actions[doc].duration_seconds if doc in actions else 30.0


def run_ours(shape: Shape) -> dict[str, Any]:
    """The shape on drwave's engine in the local runtime."""
    wall = time.perf_counter()
    with LocalRuntime(shape.environment, hop_latency=HOP_LATENCY, dynamodb=dynamodb_choice(default="fast")) as rt:
        for document in shape.plans:
            rt.install(document)
        meter = CapacityMeter()
        meter.attach(rt.dynamodb)
        t0 = rt.clock.now()
        ids = [rt.request_execution(d.recovery_plan.id) for d in shape.plans]
        rt.run()
        executions = [rt.execution(i) for i in ids]
        wall = time.perf_counter() - wall
        edges = []
        for execution in executions:
            jobs = {w: [c.job_id for c in s.chunks if c.job_id] for w, s in execution.waves.items()}
            edges += [
                gap
                for spec in execution.plan.waves
                if (gap := edge_gap(rt.drs, jobs, spec.depends_on, spec.id)) is not None
            ]
        invocations = sum(rt.router.stats.invocations.values())
        custom_events = sum(n for t, n in rt.router.stats.published.items() if t in BY_DETAIL_TYPE)
        waves = sum(len(e.plan.waves) for e in executions)
        gates = sum(1 for e in executions for w in e.plan.waves if w.pause_before_wave)
        transitions = 3 * len(executions) + 3 * waves + gates  # the thin wrapper's modelled transitions
        return {
            "statuses": Counter(str(e.status) for e in executions),
            "rtoSeconds": [_seconds(t0, e.ended_at) for e in executions],
            "edgeSeconds": edges,
            "drsCalls": dict(rt.drs.calls),
            "units": {
                "stepFunctionsTransitions": transitions,
                "lambdaInvocations": invocations,
                "eventBridgeCustomEvents": custom_events,
                "dynamoDbWriteUnits": meter.write_units,
                "dynamoDbReadUnits": meter.read_units,
            },
            "cost": _cost(transitions, invocations, custom_events, meter.write_units, meter.read_units),
            "wallSeconds": wall,
            "dynamodb": rt.dynamodb_kind,  # which store the local runtime used (fast_dynamodb or moto over botocore)
            "eventsPerSecond": invocations / wall if wall else math.nan,
            "notes": [],
        }


def run_baseline(shape: Shape) -> dict[str, Any]:
    """The shape on the seed's poll loop, same simulated DRS timelines."""
    clock = VirtualClock()
    drs = _simulator(shape, clock)
    t0 = clock.now()
    results = PollBaseline(drs, clock, approval_seconds=APPROVAL_SECONDS, action_seconds=_action_seconds(shape)).run(
        shape.plans
    )
    edges = []
    for result in results:
        jobs = {w: [j] for w, j in result.wave_jobs.items()}
        edges += [g for a, b in pairwise(result.wave_jobs) if (g := edge_gap(drs, jobs, [a], b)) is not None]
    transitions = sum(r.transitions for r in results)
    invocations = sum(r.lambda_invocations for r in results)
    writes, reads = sum(r.status_writes for r in results), sum(r.status_reads for r in results)
    return {
        "statuses": Counter(r.status for r in results),
        "rtoSeconds": [_seconds(t0, r.ended_at) for r in results],
        "edgeSeconds": edges,
        "drsCalls": dict(drs.calls),
        "units": {
            "stepFunctionsTransitions": transitions,
            "lambdaInvocations": invocations,
            "eventBridgeCustomEvents": 0,
            "dynamoDbWriteUnits": writes,
            "dynamoDbReadUnits": reads,
        },
        "cost": _cost(transitions, invocations, 0, writes, reads),
        "notes": [n for r in results for n in r.notes],
    }


def ideal(shape: Shape) -> list[float]:
    """Each plan's critical-path end, in seconds from the start."""
    drs = _simulator(shape, VirtualClock())
    return ideal_end_seconds(
        shape.plans,
        drs.planned_seconds,
        job_start_delay=drs.job_start_delay_seconds,
        action_seconds=_action_seconds(shape),
        approval_seconds=APPROVAL_SECONDS,
    )


def cold_starts(repeats: int = 3) -> dict[str, float]:
    """Median import time of each handler module, and of bare boto3, in fresh interpreters."""

    def measure(module: str) -> float:
        code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
        runs = [
            float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
            for _ in range(repeats)
        ]
        return statistics.median(runs)

    return {module: measure(module) for module in ["boto3", *HANDLERS]}


def _fmt_calls(calls: dict[str, int]) -> str:
    return ", ".join(f"{op} {n}" for op, n in sorted(calls.items())) or "none"


def _ratio(ours: float, base: float) -> str:
    return f"x{base / ours:.1f}" if ours and not math.isnan(ours) and not math.isnan(base) else "-"


def report_shape(shape: Shape, ours: dict[str, Any], base: dict[str, Any], ideal_ends: list[float], out: Any) -> dict:
    """Print one shape's comparison and return its figures."""
    critical = max(ideal_ends)
    ours_end, base_end = max(ours["rtoSeconds"]), max(base["rtoSeconds"])
    executions = len(shape.plans)
    figures = {
        "shape": shape.name,
        "description": shape.description,
        "servers": shape.servers,
        "executions": executions,
        "criticalPathSeconds": critical,
        "drwave": {**ours, "overheadSeconds": ours_end - critical, "statuses": dict(ours["statuses"])},
        "pollBaseline": {**base, "overheadSeconds": base_end - critical, "statuses": dict(base["statuses"])},
    }
    mean = lambda xs: statistics.fmean(xs) if xs else 0.0  # noqa: E731
    rows = [
        (
            "status",
            ", ".join(f"{k} {v}" for k, v in ours["statuses"].items()),
            ", ".join(f"{k} {v}" for k, v in base["statuses"].items()),
            "",
        ),
        ("RTO, last execution end (s)", f"{ours_end:,.0f}", f"{base_end:,.0f}", _ratio(ours_end, base_end)),
        ("critical path (s)", f"{critical:,.0f}", f"{critical:,.0f}", ""),
        (
            "overhead above critical path (s)",
            f"{ours_end - critical:,.1f}",
            f"{base_end - critical:,.1f}",
            _ratio(ours_end - critical, base_end - critical),
        ),
        (
            "dependency end -> next DRS job (s, mean)",
            f"{mean(ours['edgeSeconds']):.2f}",
            f"{mean(base['edgeSeconds']):.2f}",
            _ratio(mean(ours["edgeSeconds"]), mean(base["edgeSeconds"])),
        ),
        (
            "DRS API calls",
            f"{sum(ours['drsCalls'].values()):,}",
            f"{sum(base['drsCalls'].values()):,}",
            _ratio(sum(ours["drsCalls"].values()), sum(base["drsCalls"].values())),
        ),
        (
            "cost per execution (USD)",
            f"{ours['cost'] / executions:.6f}",
            f"{base['cost'] / executions:.6f}",
            _ratio(ours["cost"], base["cost"]),
        ),
    ]
    out(f"\n== {shape.name}: {shape.description} ({executions} execution(s), {shape.servers} servers)")
    out(f"   {'':<36} {'drwave':>18} {'poll-baseline':>18} {'ratio':>8}")
    for label, a, b, r in rows:
        out(f"   {label:<36} {a:>18} {b:>18} {r:>8}")
    out(f"   DRS calls, drwave:        {_fmt_calls(ours['drsCalls'])}")
    out(f"   DRS calls, poll-baseline: {_fmt_calls(base['drsCalls'])}")
    for label, units in (("drwave", ours["units"]), ("poll-baseline", base["units"])):
        out(f"   units, {label}: " + ", ".join(f"{k} {v:,}" for k, v in units.items()))
    out(
        f"   engine wall time {ours['wallSeconds']:.2f} s, {ours['eventsPerSecond']:.0f} handler invocations/s"
        f" (DynamoDB: {ours['dynamodb']})"
    )
    for note in base["notes"][:3]:
        out(f"   baseline breaks: {note}")
    if set(base["statuses"]) != {"COMPLETED"}:
        out("   (ratios for this shape compare a finished drwave run with a failed baseline: not in the summary)")
    return figures


def main(quick: bool = False, output: Path = Path("out/bench/bench.json"), out: Callable[[str], None] = print) -> int:
    """Run the suite and print figures; the last line is the summary."""
    out(
        f"drwave bench: event hop latency modelled at {HOP_LATENCY} s; poll baseline waits 30 s per poll and "
        f"0.5 s per state transition; gates approved after {APPROVAL_SECONDS:.0f} s; same seed and DRS timelines."
    )
    out("Prices (USD, us-east-1 list): " + ", ".join(f"{k} {v}" for k, v in PRICES.items()))
    out(
        f"Lambda GB-seconds modelled as {LAMBDA_SECONDS} s x {LAMBDA_GB} GB per invocation for both designs; "
        "drwave's Step Functions transitions are the thin wrapper's modelled count (3 per execution + 3 per wave)."
    )
    shapes_figures = []
    for shape in suite(quick):
        ours, base = run_ours(shape), run_baseline(shape)
        shapes_figures.append(report_shape(shape, ours, base, ideal(shape), out))
    small, large = fan_out(25), fan_out(250)
    scale = run_ours(large)["wallSeconds"] / run_ours(small)["wallSeconds"]
    out(f"\n== scale: wall time of one wave with 250 servers / with 25 servers = x{scale:.1f} (x10 servers)")
    imports = cold_starts()
    base_import = imports["boto3"]
    out(
        f"== cold start: import boto3 {base_import * 1000:.0f} ms; handlers as a ratio to it: "
        + ", ".join(f"{m.rsplit('.', 1)[-1]} x{imports[m] / base_import:.2f}" for m in HANDLERS)
    )
    package = sum(p.stat().st_size for p in ROOT.joinpath("functions").rglob("*.py"))
    out(f"== deployment package: drwave code {package / 1024:.0f} KiB (plus boto3, aws-lambda-powertools, pydantic)")

    result = {
        "hopLatencySeconds": HOP_LATENCY,
        "prices": PRICES,
        "shapes": shapes_figures,
        "wallTimeRatioX10Servers": scale,
        "importSeconds": imports,
        "packageBytes": package,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    out(f"== figures written to {output}")

    comparable = [s for s in shapes_figures if set(s["pollBaseline"]["statuses"]) == {"COMPLETED"}]
    skipped = [s["shape"] for s in shapes_figures if s not in comparable]

    def geo(key: Callable[[dict], float]) -> float:
        values = [key(s) for s in comparable if key(s) > 0 and not math.isnan(key(s))]
        return math.exp(statistics.fmean(math.log(v) for v in values)) if values else math.nan

    rto = geo(lambda s: max(s["pollBaseline"]["rtoSeconds"]) / max(s["drwave"]["rtoSeconds"]))
    overhead = geo(lambda s: s["pollBaseline"]["overheadSeconds"] / max(s["drwave"]["overheadSeconds"], 0.01))
    calls = geo(lambda s: sum(s["pollBaseline"]["drsCalls"].values()) / sum(s["drwave"]["drsCalls"].values()))
    cost = geo(lambda s: s["pollBaseline"]["cost"] / s["drwave"]["cost"])
    throughput = statistics.fmean(s["drwave"]["eventsPerSecond"] for s in shapes_figures)
    cold = max(imports[m] for m in HANDLERS) / base_import
    fails = f"; baseline fails {', '.join(skipped)}" if skipped else ""
    out(
        f"SUMMARY drwave vs poll-baseline (geo-mean over the {len(comparable)} shapes both complete{fails}): "
        f"RTO x{rto:.2f} shorter, orchestration overhead x{overhead:.0f} lower, DRS API calls x{calls:.1f} fewer, "
        f"cost x{cost:.1f} lower; engine {throughput:.0f} events/s, x10 servers -> x{scale:.1f} wall; "
        f"slowest handler import x{cold:.2f} boto3"
    )
    return 0
