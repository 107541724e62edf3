"""`drwave bench`: drwave's event-driven engine against the seed's poll loop, shape by shape, in one run."""

from __future__ import annotations

import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
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
from drwave_local.bench.meter import meter_for
from drwave_local.bench.shapes import Shape, fan_out, suite
from drwave_local.paths import ROOT
from drwave_local.runtime.clock import VirtualClock
from drwave_local.runtime.embedded import LocalRuntime, _timeline
from drwave_local.runtime.fast_dynamodb import dynamodb_choice
from drwave_local.runtime.template import load_template
from drwave_local.simulators.drs import DrsSimulator, SimulatedSourceServer

HOP_LATENCY = 0.25  # modelled seconds per EventBridge + Lambda hop (METRICS.md default)
# The degraded run: a slower hop, and aws.drs events late (uniformly up to this) and some lost (seeded), as
# EventBridge's best-effort delivery of AWS service events allows; the engine's poll tick must recover them.
DEGRADED_HOP_LATENCY = 0.5
DRS_EVENT_DELAY_SECONDS = 5.0  # mean of an exponential delay (capped at 10x)
DRS_EVENT_LOSS = 0.1
STORE_BACKENDS = {  # what the local runtime's DynamoDB is, by DRWAVE_LOCAL_DYNAMODB (the bench's default: fast)
    "fast": "moto's DynamoDB backend called in-process by the local runtime's fast client (no botocore round trip)",
    "moto": "moto over botocore (boto3 clients on moto's HTTP mock)",
}
APPROVAL_SECONDS = 120.0
LARGE_PLANS = ("plan-1000", "plan-2000", "plan-5000")  # timed twice for the scaling ratios
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
HANDLER_PACKAGE = ROOT / "functions" / "drwave" / "handlers"
# Stand-ins for what CloudFormation resolves in a function's environment (infrastructure/template.yaml): which
# variables a function is given decides which clients it builds. Parameters take their defaults.
RESOLVED = {
    "STATE_TABLE": "drwave-state",
    "EVENT_BUS_NAME": "drwave",
    "ACCOUNT_ID": "123456789012",
    "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:drwave",
    "REPORT_BUCKET": "drwave-reports",
    "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:drwave",
    "TARGET_ACCOUNT_IDS": "",
}
LAMBDA_ENVIRONMENT = {  # what Lambda itself sets (credentials: any, nothing is called)
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "cold-start",
    "AWS_SECRET_ACCESS_KEY": "cold-start",
}


def function_environments() -> dict[str, dict[str, str]]:
    """Each handler module's environment as the template gives it (the union, where functions share a module)."""
    template = load_template()
    environments: dict[str, dict[str, str]] = {}
    for name, variables in template.environments.items():
        module = template.resources[name]["Properties"]["Handler"].rsplit(".", 1)[0]
        for key, written in variables.items():
            value = written
            if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in template.parameters:
                value = template.parameters[value["Ref"]].get("Default", "")
            resolved = RESOLVED.get(key, "placeholder") if isinstance(value, dict) else str(value)
            environments.setdefault(module, {})[key] = resolved
    return environments


def handler_modules() -> list[str]:
    """Every module a deployed function's Handler names (infrastructure/template.yaml), each once."""
    template = load_template()
    return sorted({template.resources[n]["Properties"]["Handler"].rsplit(".", 1)[0] for n in template.environments})


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


def _store_choice() -> str:
    return dynamodb_choice(default="fast")


def run_ours(
    shape: Shape, hop_latency: float = HOP_LATENCY, drs_event_delay: float = 0.0, drs_event_loss: float = 0.0
) -> dict[str, Any]:
    """The shape on drwave's engine in the local runtime; wall time is the rehearsal's alone (`run()`)."""
    with LocalRuntime(
        shape.environment,
        hop_latency=hop_latency,
        drs_event_delay_seconds=drs_event_delay,
        drs_event_loss=drs_event_loss,
        dynamodb=_store_choice(),
    ) as rt:
        for document in shape.plans:
            rt.install(document)
        meter = meter_for(rt.dynamodb)
        meter.counting = lambda: rt.in_handler  # the runtime's own loop checks are not a deployed cost
        t0 = rt.clock.now()
        ids = [rt.request_execution(d.recovery_plan.id) for d in shape.plans]
        wall = time.perf_counter()
        rt.run()
        wall = time.perf_counter() - wall
        executions = [rt.execution(i) for i in ids]
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
            "dynamoDbCalls": dict(meter.calls),
            "dynamoDbIndexWriteUnits": meter.index_write_units,
            "largestItemBytes": meter.largest_item_bytes,
            "lostDrsEvents": rt.drs_events_lost,
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


BARE_BOTO3 = "import boto3; boto3.client('dynamodb', region_name='us-east-1')"


def _cold_start_code(module: str) -> str:
    """A fresh Lambda container's work before the first event: import the handler, build its clients."""
    return f"import {module}; from drwave.engine.ports import Dependencies; Dependencies.from_environment()"


def built_package(into: Path) -> Path:
    """The functions' package as `sam build` makes it (functions/Makefile: the source and its bytecode)."""
    variables = [f"ARTIFACTS_DIR={into}", f"PYTHON={sys.executable}"]
    subprocess.run(
        ["make", "-s", "-C", str(ROOT / "functions"), "build-ApiFunction", *variables], check=True, capture_output=True
    )
    return into


# Run once per handler, untimed: what its cold start loads besides drwave (in order) and the clients it builds,
# after checking that drwave came from the built package (its bytecode), nothing else.
_DISCOVER = (
    "import sys, json; before = set(sys.modules); {code}; import gc, botocore.client, drwave; "
    "assert drwave.__spec__.origin.startswith({package!r}), drwave.__spec__.origin; "
    "print(json.dumps({{'modules': [m for m in list(sys.modules) if m not in before and m.split('.')[0] != 'drwave'], "
    "'services': sorted({{o.meta.service_model.service_name for o in gc.get_objects() "
    "if isinstance(o, botocore.client.BaseClient)}})}}))"
)


def _libraries_code(found: dict[str, Any]) -> str:
    """The same libraries and clients without drwave: what the handler's cold start cannot go below."""
    return (
        f"import importlib, botocore.session\nfor name in {found['modules']!r}:\n"
        "    try: importlib.import_module(name)\n    except Exception: pass\n"
        "session = botocore.session.get_session()\n"
        f"for service in {found['services']!r}: session.create_client(service)"
    )


def cold_starts(modules: list[str] | None = None, repeats: int = 3) -> dict[str, float]:
    """Median seconds, in fresh interpreters, of each handler's import plus its clients, of the same libraries and
    clients without drwave ("libraries:<module>"), and of bare boto3's.

    Each handler runs from the built package with its function's environment from the template. Rounds interleave
    the candidates so that load on a shared machine falls on all of them alike.
    """
    modules = modules or handler_modules()
    environments = function_environments()
    runs: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="drwave-package-") as scratch:
        package = built_package(Path(scratch))

        def run(name: str, code: str) -> str:
            module = name.removeprefix("libraries:")
            env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
            env |= {**LAMBDA_ENVIRONMENT, "POWERTOOLS_SERVICE_NAME": "drwave", **environments.get(module, {})}
            env["PYTHONPATH"] = os.pathsep.join([str(package), env.get("PYTHONPATH", "")])
            env["PYTHONDONTWRITEBYTECODE"] = "1"  # as on Lambda: the code directory is read-only
            out = subprocess.run(
                [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env, cwd=scratch
            )
            return out.stdout.strip().splitlines()[-1]

        candidates = {"boto3": BARE_BOTO3}
        for module in modules:
            found = json.loads(run(module, _DISCOVER.format(code=_cold_start_code(module), package=str(package))))
            candidates[module] = _cold_start_code(module)
            candidates[f"libraries:{module}"] = _libraries_code(found)
        for _ in range(repeats):
            for name, code in candidates.items():
                timed = f"import time\nt = time.perf_counter()\n{code}\nprint(time.perf_counter() - t)"
                runs.setdefault(name, []).append(float(run(name, timed)))
    return {name: statistics.median(values) for name, values in runs.items()}


def _fmt_calls(calls: dict[str, int]) -> str:
    return ", ".join(f"{op} {n}" for op, n in sorted(calls.items())) or "none"


def _ratio(ours: float, base: float) -> str:
    return f"x{base / ours:.1f}" if ours and not math.isnan(ours) and not math.isnan(base) else "-"


def _geo(values: list[float]) -> float:
    positive = [max(v, 1e-3) for v in values if not math.isnan(v)]
    return math.exp(statistics.fmean(math.log(v) for v in positive)) if positive else math.nan


def _per_server(figures: dict[str, Any], servers: int) -> dict[str, float]:
    units = figures["units"]
    return {
        "dynamoDbWriteUnits": units["dynamoDbWriteUnits"] / servers,
        "dynamoDbReadUnits": units["dynamoDbReadUnits"] / servers,
        "lambdaInvocations": units["lambdaInvocations"] / servers,
    }


def _edges(figures: dict[str, Any]) -> tuple[float, float]:
    """Geo-mean and worst of the seconds from a dependency's last launch to the next wave's first DRS job."""
    edges = figures["edgeSeconds"]
    return (_geo(edges), max(edges)) if edges else (math.nan, math.nan)


def report_shape(shape: Shape, ours: dict[str, Any], base: dict[str, Any], ideal_ends: list[float], out: Any) -> dict:
    """Print one shape's comparison and return its figures."""
    critical = max(ideal_ends)
    ours_end, base_end = max(ours["rtoSeconds"]), max(base["rtoSeconds"])
    executions = len(shape.plans)
    ours_edge, base_edge = _edges(ours), _edges(base)
    ours_per, base_per = _per_server(ours, shape.servers), _per_server(base, shape.servers)
    figures = {
        "shape": shape.name,
        "description": shape.description,
        "servers": shape.servers,
        "executions": executions,
        "criticalPathSeconds": critical,
        "drwave": {
            **ours,
            "overheadSeconds": ours_end - critical,
            "statuses": dict(ours["statuses"]),
            "edgeGeoMeanSeconds": ours_edge[0],
            "edgeWorstSeconds": ours_edge[1],
            "perServer": ours_per,
        },
        "pollBaseline": {
            **base,
            "overheadSeconds": base_end - critical,
            "statuses": dict(base["statuses"]),
            "edgeGeoMeanSeconds": base_edge[0],
            "edgeWorstSeconds": base_edge[1],
            "perServer": base_per,
        },
    }
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
            "above critical path (s, incl. serial waves)",
            f"{ours_end - critical:,.1f}",
            f"{base_end - critical:,.1f}",
            _ratio(ours_end - critical, base_end - critical),
        ),
        (
            "dep. end -> next DRS job (s, geo-mean)",
            f"{ours_edge[0]:.2f}",
            f"{base_edge[0]:.2f}",
            _ratio(ours_edge[0], base_edge[0]),
        ),
        (
            "dep. end -> next DRS job (s, worst)",
            f"{ours_edge[1]:.2f}",
            f"{base_edge[1]:.2f}",
            _ratio(*(ours_edge[1], base_edge[1])),
        ),
        (
            "DRS API calls",
            f"{sum(ours['drsCalls'].values()):,}",
            f"{sum(base['drsCalls'].values()):,}",
            _ratio(sum(ours["drsCalls"].values()), sum(base["drsCalls"].values())),
        ),
        (
            "DynamoDB write units per server",
            f"{ours_per['dynamoDbWriteUnits']:.2f}",
            f"{base_per['dynamoDbWriteUnits']:.2f}",
            "",
        ),
        (
            "DynamoDB read units per server",
            f"{ours_per['dynamoDbReadUnits']:.2f}",
            f"{base_per['dynamoDbReadUnits']:.2f}",
            "",
        ),
        (
            "Lambda invocations per server",
            f"{ours_per['lambdaInvocations']:.2f}",
            f"{base_per['lambdaInvocations']:.2f}",
            "",
        ),
        (
            "cost per execution (USD)",
            f"{ours['cost'] / executions:.6f}",
            f"{base['cost'] / executions:.6f}",
            _ratio(ours["cost"], base["cost"]),
        ),
    ]
    out(f"\n== {shape.name}: {shape.description} ({executions} execution(s), {shape.servers} servers)")
    out(f"   {'':<44} {'drwave':>16} {'poll-baseline':>16} {'ratio':>7}")
    for label, a, b, r in rows:
        out(f"   {label:<44} {a:>16} {b:>16} {r:>7}")
    out(f"   DRS calls, drwave:        {_fmt_calls(ours['drsCalls'])}")
    out(f"   DRS calls, poll-baseline: {_fmt_calls(base['drsCalls'])}")
    for label, units in (("drwave", ours["units"]), ("poll-baseline", base["units"])):
        out(
            f"   units, {label}: "
            + ", ".join(f"{k} {v:,.1f}" if isinstance(v, float) else f"{k} {v:,}" for k, v in units.items())
        )
    out(
        f"   DynamoDB, drwave: calls {_fmt_calls(ours['dynamoDbCalls'])}; "
        f"index writes {ours['dynamoDbIndexWriteUnits']:,} of the write units; "
        f"largest item {ours['largestItemBytes']:,} B"
    )
    out(
        f"   engine wall time {ours['wallSeconds']:.2f} s (rehearsal only), "
        f"{ours['eventsPerSecond']:.0f} handler invocations/s (DynamoDB: {ours['dynamodb']})"
    )
    for note in base["notes"][:3]:
        out(f"   baseline breaks: {note}")
    if set(base["statuses"]) != {"COMPLETED"}:
        out("   (ratios for this shape compare a finished drwave run with a failed baseline: not in the summary)")
    return figures


def report_degraded(shape: Shape, base: dict[str, Any], out: Any) -> dict[str, Any]:
    """The shape again with a 0.5 s hop and late and lost aws.drs events, against the same baseline run."""
    ours = run_ours(shape, DEGRADED_HOP_LATENCY, DRS_EVENT_DELAY_SECONDS, DRS_EVENT_LOSS)
    edge, base_edge = _edges(ours), _edges(base)
    ours_end, base_end = max(ours["rtoSeconds"]), max(base["rtoSeconds"])
    out(
        f"   {shape.name}: {', '.join(f'{k} {v}' for k, v in ours['statuses'].items())}; "
        f"{ours['lostDrsEvents']} aws.drs events lost; RTO {ours_end:,.0f} s vs {base_end:,.0f} s "
        f"({_ratio(ours_end, base_end)} shorter); dep. end -> next DRS job geo-mean {edge[0]:.2f} s vs "
        f"{base_edge[0]:.2f} s ({_ratio(edge[0], base_edge[0])}), worst {edge[1]:.2f} s vs {base_edge[1]:.2f} s"
    )
    return {"shape": shape.name, "drwave": {**ours, "statuses": dict(ours["statuses"])}}


def _summary_ratio(shapes: list[dict], key: Callable[[dict], float]) -> tuple[float, str]:
    """Geo-mean over shapes of a baseline/drwave ratio, and the worst shape (the lowest ratio) beside it."""
    values = [(key(s), s["shape"]) for s in shapes]
    values = [(v, n) for v, n in values if v > 0 and not math.isnan(v)]
    if not values:
        return math.nan, "-"
    worst, name = min(values)
    return _geo([v for v, _ in values]), f"worst {name} x{worst:.2f}"


def main(
    quick: bool = False,
    output: Path = Path("out/bench/bench.json"),
    out: Callable[[str], None] = print,
    only: list[str] | None = None,
) -> int:
    """Run the suite and print figures; the last line is the summary."""
    out(
        f"drwave bench: event hop latency modelled at {HOP_LATENCY} s; poll baseline waits 30 s per poll and "
        f"0.5 s per state transition; gates approved after {APPROVAL_SECONDS:.0f} s; same seed and DRS timelines."
    )
    out(
        f"DynamoDB: {STORE_BACKENDS[_store_choice()]}; units sized from the items' DynamoDB size, every billable "
        "call counted."
    )
    out("Prices (USD, us-east-1 list): " + ", ".join(f"{k} {v}" for k, v in PRICES.items()))
    out(
        f"Lambda GB-seconds modelled as {LAMBDA_SECONDS} s x {LAMBDA_GB} GB per invocation for both designs; "
        "drwave's Step Functions transitions are the thin wrapper's modelled count (3 per execution + 3 per wave)."
    )
    shapes = [s for s in suite(quick) if not only or s.name in only]
    shapes_figures, baselines = [], {}
    for shape in shapes:
        ours, base = run_ours(shape), run_baseline(shape)
        baselines[shape.name] = base
        shapes_figures.append(report_shape(shape, ours, base, ideal(shape), out))
    walls = {s["shape"]: s["drwave"]["wallSeconds"] for s in shapes_figures}

    out(
        f"\n== degraded delivery: {DEGRADED_HOP_LATENCY} s per hop, aws.drs events late by "
        f"{DRS_EVENT_DELAY_SECONDS:.0f} s on average (exponential) and {DRS_EVENT_LOSS:.0%} lost (seeded); "
        "drwave vs the same poll baseline"
    )
    small = [s for s in shapes if s.servers <= 100 and set(baselines[s.name]["statuses"]) == {"COMPLETED"}]
    degraded = [report_degraded(s, baselines[s.name], out) for s in small]

    # Scaling from shapes already run where the suite has them; only the small fan-out is extra.
    fan = walls.get("fan-out")
    # The small run takes a few tenths of a second, where one scheduler hiccup doubles it: the best of three.
    scale = (fan / min(run_ours(fan_out(25))["wallSeconds"] for _ in range(3))) if fan else math.nan
    out(
        "\n== scale (rehearsal wall time only, set-up excluded): "
        + (f"one wave of 250 servers / of 25 = x{scale:.1f} (x10 servers)" if fan else "fan-out not run")
    )
    # This machine's speed drifts by a third within a minute, so each large plan is rehearsed once more, after all
    # the others, and each side of a ratio is its best run (noise only ever adds time); both runs are printed.
    large = {s.name: [walls[s.name], run_ours(s)["wallSeconds"]] for s in shapes if s.name in LARGE_PLANS}
    ratios = {}
    for a, b in (("plan-1000", "plan-2000"), ("plan-1000", "plan-5000")):
        if a in large and b in large:
            ratios[f"{b}/{a}"] = min(large[b]) / min(large[a])
            runs = "; ".join(f"{n} {' and '.join(f'{w:.2f}' for w in large[n])} s" for n in (a, b))
            out(f"   {b} / {a}: x{ratios[f'{b}/{a}']:.2f} wall for x{int(b[5:]) / int(a[5:]):.0f} servers ({runs})")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    largest = max(shapes, key=lambda s: s.servers)
    out(f"== peak memory: {peak:,.0f} MiB resident for the bench process, whose largest rehearsal is {largest.name}")

    imports = cold_starts()
    base_import = imports["boto3"]
    modules = [m for m in imports if m != "boto3" and not m.startswith("libraries:")]
    out(
        f"== cold start (import + building the function's clients, from the built package with its bytecode and the "
        f"function's environment, median of fresh interpreters): bare boto3 with a DynamoDB client "
        f"{base_import * 1000:.0f} ms; handlers as a ratio to it (in brackets: the same libraries and clients "
        f"without drwave's code): "
        + ", ".join(
            f"{m.rsplit('.', 1)[-1]} x{imports[m] / base_import:.2f} (x{imports['libraries:' + m] / base_import:.2f})"
            for m in modules
        )
    )
    package = sum(p.stat().st_size for p in ROOT.joinpath("functions").rglob("*.py"))
    out(f"== deployment package: drwave code {package / 1024:.0f} KiB (plus botocore, aws-lambda-powertools, pydantic)")

    result = {
        "hopLatencySeconds": HOP_LATENCY,
        "storeBackend": STORE_BACKENDS[_store_choice()],
        "prices": PRICES,
        "shapes": shapes_figures,
        "degraded": {
            "hopLatencySeconds": DEGRADED_HOP_LATENCY,
            "drsEventDelaySeconds": DRS_EVENT_DELAY_SECONDS,
            "drsEventLoss": DRS_EVENT_LOSS,
            "shapes": degraded,
        },
        "wallTimeRatioX10Servers": scale,
        "largePlanWallSeconds": large,
        "largePlanWallRatios": ratios,
        "peakResidentMiB": peak,
        "importSeconds": imports,
        "packageBytes": package,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    out(f"== figures written to {output}")

    comparable = [s for s in shapes_figures if set(s["pollBaseline"]["statuses"]) == {"COMPLETED"}]
    skipped = [s["shape"] for s in shapes_figures if s not in comparable]
    rto = _summary_ratio(comparable, lambda s: max(s["pollBaseline"]["rtoSeconds"]) / max(s["drwave"]["rtoSeconds"]))
    latency = _summary_ratio(
        [s for s in comparable if s["drwave"]["edgeSeconds"]],
        lambda s: s["pollBaseline"]["edgeGeoMeanSeconds"] / s["drwave"]["edgeGeoMeanSeconds"],
    )
    calls = _summary_ratio(
        comparable, lambda s: sum(s["pollBaseline"]["drsCalls"].values()) / sum(s["drwave"]["drsCalls"].values())
    )
    cost = _summary_ratio(comparable, lambda s: s["pollBaseline"]["cost"] / s["drwave"]["cost"])
    throughput = statistics.fmean(s["drwave"]["eventsPerSecond"] for s in shapes_figures)
    slowest = max(modules, key=imports.__getitem__)
    fails = f"; baseline fails {', '.join(skipped)}" if skipped else ""
    out(
        f"SUMMARY drwave vs poll-baseline (geo-mean over the {len(comparable)} shapes both complete{fails}): "
        f"RTO x{rto[0]:.2f} shorter ({rto[1]}), orchestration latency per wave edge x{latency[0]:.1f} lower "
        f"({latency[1]}; {HOP_LATENCY} s hops), DRS API calls x{calls[0]:.1f} fewer ({calls[1]}), "
        f"cost x{cost[0]:.1f} lower ({cost[1]}); engine {throughput:.0f} events/s, x10 servers -> x{scale:.1f} wall"
        + "".join(f", {pair} x{ratio:.2f} wall" for pair, ratio in ratios.items())
        + f"; peak {peak:,.0f} MiB; slowest handler cold start x{imports[slowest] / base_import:.2f} boto3 "
        f"({slowest.rsplit('.', 1)[-1]}; its libraries alone x{imports['libraries:' + slowest] / base_import:.2f})"
    )
    return 0
