"""`drwave predict PLAN --environment ENV`: the plan's RTO distribution from many virtual-time runs of the engine
against the environment's DRS and SSM simulators (drwave_local.simulators.prediction)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from drwave.core.predict import Assumptions, Prediction, ServerModel
from drwave.models.plan import PlanDocument
from drwave_local.cli.report import duration_text
from drwave_local.simulators.environment import (
    Environment,
    InputFileError,
    load_environment,
    load_plan_document,
    problems_before_run,
)
from drwave_local.simulators.prediction import predict_in_simulator, replay

QUANTILES = ("p10", "p50", "p90", "p99")


def history_of(paths: Sequence[Path]) -> dict[str, list[float]]:
    """Each server's past launch durations (job start to LAUNCHED) from `drwave run --report` JSON files."""
    found: dict[str, list[float]] = {}
    for path in paths:
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise InputFileError(f"{path}: not a drwave report: {err}") from err
        evidence = report.get("evidence") or report
        for wave in evidence.get("waves", []):
            for server in wave.get("servers", []):
                if server.get("rtoSeconds") is not None:
                    found.setdefault(server["sourceServerId"], []).append(float(server["rtoSeconds"]))
    return found


def server_models(environment: Environment, history: dict[str, list[float]]) -> dict[str, ServerModel]:
    """The environment's servers with their history (if any) and their phase timelines."""
    models = {}
    for spec in environment.source_servers:
        timeline = spec.timeline or environment.default_timeline
        models[spec.id] = ServerModel(
            spec.id,
            dict(spec.tags),
            tuple(history.get(spec.id, ())),
            (timeline.snapshot_seconds, timeline.conversion_seconds, timeline.launch_seconds),
            spec.fail_at is not None,
        )
    return models


def assumptions_for(environment: Environment, approval_delay: float) -> Assumptions:
    """What a prediction assumes of the environment's DRS and SSM, and how long an operator takes to approve."""
    return Assumptions(
        jitter=environment.jitter,
        job_start_delay=environment.job_start_delay_seconds,
        approval_delay=approval_delay,
        action_seconds={name: a.duration_seconds for name, a in environment.actions.items()},
        action_outcomes={name: a.outcome for name, a in environment.actions.items()},
    )


def run_prediction(
    document: PlanDocument,
    environment: Environment,
    *,
    runs: int,
    approval_delay: float,
    history: dict[str, list[float]],
) -> tuple[Prediction, float, float | None]:
    """The prediction, the runs per second it managed, and the RTO of the environment's own world (its seed)."""
    assume = assumptions_for(environment, approval_delay)
    groups = {g.id: g for g in document.protection_groups}
    models = server_models(environment, history)
    started = time.perf_counter()
    result = predict_in_simulator(document.recovery_plan, groups, models, environment, runs=runs, assume=assume)
    rate = runs / max(time.perf_counter() - started, 1e-9)
    own = replay(document.recovery_plan, groups, models, environment, assume=assume)
    own_rto = (own.ended_at - own.started_at).total_seconds() if own.started_at and own.ended_at else None
    return result, rate, own_rto


def rank_of(prediction: Prediction, seconds: float) -> str:
    """Where an RTO falls among the prediction's quantiles (e.g. "between p10 and p50")."""
    below = [q for q in QUANTILES if (v := prediction.plan_rto[q]) is not None and v <= seconds]
    above = [q for q in QUANTILES if (v := prediction.plan_rto[q]) is not None and v >= seconds]
    if not below:
        return f"below {above[0]}" if above else "-"
    if not above:
        return f"above {below[-1]}"
    return f"at {below[-1]}" if below[-1] == above[0] else f"between {below[-1]} and {above[0]}"


def render(
    prediction: Prediction,
    rate: float,
    history_servers: int,
    total_servers: int,
    own_world: tuple[int, float | None] | None = None,
) -> list[str]:
    """The operator's table: plan and wave percentiles, critical path, probability of meeting the target."""

    def cell(value: float | None) -> str:
        return duration_text(value)

    lines = [
        f"{prediction.runs} runs in virtual time through the engine and the DRS/SSM simulators ({rate:.1f} runs/s; "
        f"{prediction.messages_per_run:.0f} decisions per run; "
        f"history for {history_servers} of {total_servers} servers)",
        "",
        f"{'':<14} {'p10':>9} {'p50':>9} {'p90':>9} {'p99':>9}",
        f"{'plan':<14} " + " ".join(f"{cell(prediction.plan_rto[q]):>9}" for q in QUANTILES),
    ]
    for wave_id, summary in prediction.wave_rto.items():
        lines.append(f"{'  ' + wave_id:<14} " + " ".join(f"{cell(summary[q]):>9}" for q in QUANTILES))
    lines += [
        "",
        f"critical path: {' -> '.join(prediction.critical_path)} ({prediction.critical_path_share:.0%} of runs)",
        "outcomes: " + ", ".join(f"{n} {s}" for s, n in sorted(prediction.statuses.items())),
    ]
    seed, seconds = own_world or (0, None)
    if seconds is not None:
        lines.append(
            f"the environment's own world (seed {seed}, what `drwave run` measures): {cell(seconds)}, "
            f"{rank_of(prediction, seconds)}"
        )
    if prediction.target_rto_minutes is not None:
        p90 = prediction.plan_rto["p90"]
        lines.append(
            f"target RTO {prediction.target_rto_minutes} min: "
            f"met in {prediction.probability_meeting_target:.0%} of runs"
        )
        if p90 is not None and p90 > prediction.target_rto_minutes * 60:
            lines.append(f"WARNING: the p90 RTO {cell(p90)} exceeds the target of {prediction.target_rto_minutes} min")
    return lines


def main(
    plan_path: Path,
    environment_path: Path,
    *,
    runs: int,
    approval_delay: float,
    history_paths: Sequence[Path],
    json_path: Path | None,
    out: Callable[[str], None] = print,
) -> dict[str, Any]:
    """`drwave predict`: print the table (and write JSON); returns the JSON form."""
    document = load_plan_document(plan_path)
    environment = load_environment(environment_path)
    if (problems := problems_before_run(plan_path, document, environment)) is not None:
        raise problems
    history = history_of(history_paths)
    prediction, rate, own_rto = run_prediction(
        document, environment, runs=runs, approval_delay=approval_delay, history=history
    )
    own = (environment.seed, own_rto)
    for line in render(prediction, rate, len(history), len(environment.source_servers), own):
        out(line)
    wire = {
        **prediction.to_wire(),
        "runsPerSecond": round(rate, 2),
        "environmentSeed": environment.seed,
        "environmentSeedRtoSeconds": own_rto,
    }
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(wire, indent=2) + "\n", encoding="utf-8")
    return wire
