"""`drwave` command line: rehearse DR plans in the embedded local runtime."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from drwave.models.execution import ExecutionStatus, ExecutionType
from drwave_local.cli.account_commands import ACCOUNT_COMMANDS, add_account_commands, run_account_command
from drwave_local.cli.commands import CLIENT_COMMANDS, add_client_commands, run_client_command
from drwave_local.contracts import events as contracts
from drwave_local.paths import EXAMPLES
from drwave_local.server import app as serve
from drwave_local.simulators.environment import InputFileError

if TYPE_CHECKING:  # the runtime (moto) loads only for the commands that run it: client commands stay quick
    from drwave_local.cli.rehearsal import RehearsalOptions
    from drwave_local.runtime.router import Faults

FAULT_KEYS = {
    "duplicate": "duplicate",
    "drop": "drop",
    "delay": "max_delay_seconds",
    "crash": "crash_after_save",
    "publish-failure": "publish_failure",
    "seed": "seed",
}
OK_STATUSES = {ExecutionStatus.COMPLETED, ExecutionStatus.COMPLETED_WITH_WARNINGS}


class UsageError(Exception):
    """A command-line value is invalid."""


def finite_float(text: str) -> float:
    """An argparse type: a number that is neither infinite nor NaN (exit 2 otherwise, as any bad option)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def quiet_print(text: str) -> None:
    """print, except that once the reader of stdout has gone (`| head`) the rest is dropped: the run goes on
    and its exit code still tells how it ended."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def writable_file(path: Path | None, option: str) -> None:
    """Refuse an output path that can never be written, before a whole rehearsal runs."""
    if path is None:
        return
    if path.is_dir():
        raise UsageError(f"{option}: {path} is a directory; name a file")
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise UsageError(f"{option}: {parent} is not a directory")


def parse_faults(text: str | None) -> tuple[Faults, float]:
    """`duplicate=0.2,drop=0.1,delay=30,crash=0.05,lose-launch-results=0.3,seed=1` -> (Faults, loss rate)."""
    from drwave_local.runtime.router import Faults  # noqa: PLC0415 - see TYPE_CHECKING above

    faults, lose = Faults(), 0.0
    for part in filter(None, (text or "").split(",")):
        key, _, raw = part.partition("=")
        key = key.strip()
        try:
            value = float(raw)
        except ValueError:
            raise UsageError(f"--faults: {key}: {raw!r} is not a number") from None
        if not math.isfinite(value):
            raise UsageError(f"--faults: {key}: {raw!r} is not a finite number")
        if key == "lose-launch-results":
            lose = value
        elif key in FAULT_KEYS:
            setattr(faults, FAULT_KEYS[key], int(value) if key == "seed" else value)
        else:
            known = ", ".join([*FAULT_KEYS, "lose-launch-results"])
            raise UsageError(f"--faults: unknown fault {key!r} (known: {known})")
        if key == "delay" and value < 0:
            raise UsageError(f"--faults: delay: seconds cannot be negative, got {value}")
        if key == "seed" and value != int(value):
            raise UsageError(f"--faults: seed: must be a whole number, got {value}")
        if key not in ("delay", "seed") and not 0 <= value <= 1:
            raise UsageError(f"--faults: {key}: a probability must be between 0 and 1, got {value}")
    return faults, lose


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="drwave", description="Event-driven DR orchestration for AWS DRS.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="rehearse the example retail plan as a DRILL, locally")
    demo.add_argument("--report", type=Path, default=Path("out/demo/report.json"))
    run = commands.add_parser("run", help="rehearse any plan against a simulated environment")
    run.add_argument("plan", type=Path, help="plan file (YAML/JSON: protectionGroups + recoveryPlan)")
    run.add_argument("--environment", type=Path, required=True, help="simulated environment file")
    run.add_argument("--type", choices=["drill", "recovery"], default="drill")
    run.add_argument(
        "--report", type=Path, help="write the JSON report here, and its .html and .md evidence next to it"
    )
    run.add_argument(
        "--recover-to-minutes-ago",
        type=finite_float,
        help="recover every server to its newest PIT snapshot this many simulated minutes before the start",
    )
    run.add_argument("--faults", help="e.g. duplicate=0.2,drop=0.1,delay=30,crash=0.05,lose-launch-results=0.3")
    run.add_argument(
        "--approve-after",
        type=finite_float,
        default=120.0,
        help="simulated seconds before an operator approves each gate (negative: never approve)",
    )
    run.add_argument(
        "--alarm",
        action="append",
        metavar="NAME=STATE@T+OFFSET",
        help="alarm timeline (repeatable), e.g. primary-down=ALARM@T+5m: a failover trigger on these alarms starts "
        "the execution (DRY_RUN for a drill, CONFIRM for a recovery)",
    )
    run.add_argument("--trigger", type=Path, help="failover trigger fields (YAML/JSON) for --alarm")
    guess = commands.add_parser("predict", help="what-if RTO: p50/p90/p99 from many virtual-time runs of a plan")
    guess.add_argument("plan", type=Path, help="plan file (YAML/JSON: protectionGroups + recoveryPlan)")
    guess.add_argument("--environment", type=Path, required=True, help="simulated environment file")
    guess.add_argument("--runs", type=int, default=200, help="how many runs (default 200)")
    guess.add_argument("--approve-after", type=finite_float, default=120.0, help="assumed gate approval delay (s)")
    guess.add_argument("--history", type=Path, nargs="*", default=[], help="drwave run --report JSON files")
    guess.add_argument("--json", type=Path, dest="json_path", help="also write the prediction as JSON here")
    bench = commands.add_parser("bench", help="benchmark drwave against the seed's poll-loop design")
    bench.add_argument("--quick", action="store_true", help="scale the large shapes down for a fast look")
    bench.add_argument("--output", type=Path, default=Path("out/bench/bench.json"))
    bench.add_argument("--only", action="append", metavar="SHAPE", help="run only this shape (repeatable)")
    schemas = commands.add_parser(
        "schemas", help="regenerate schemas/, events/drwave/ and the template's schema registry from the event models"
    )
    schemas.add_argument("--check", action="store_true", help="only report drift; exit 1 if any file is stale")
    local = commands.add_parser("serve", help="run the whole stack locally: REST API, direct invocation, fast clock")
    serve.add_arguments(local)
    add_client_commands(commands)  # groups, plans, preflight, servers, executions, invoke: talk to `drwave serve`
    add_account_commands(commands)  # login, logout, console publish: a deployed stack
    for sub in (demo, run):
        sub.add_argument("--log", type=Path, help="write the handlers' structured logs to this file")
    return parser


def _predict(args: argparse.Namespace) -> int:
    """`drwave predict`: exit 2 on a bad file or option."""
    from drwave_local.cli.predict import main as predict  # noqa: PLC0415 - only this command needs it

    if args.runs < 1 or args.runs > 100_000:
        print("drwave: error: --runs: between 1 and 100000", file=sys.stderr)
        return 2
    try:
        predict(
            args.plan,
            args.environment,
            runs=args.runs,
            approval_delay=args.approve_after,
            history_paths=args.history,
            json_path=args.json_path,
        )
    except InputFileError as err:
        print(f"drwave: error: {err}", file=sys.stderr)
        return 2
    return 0


def _runner(command: str) -> Callable[[argparse.Namespace], int] | None:
    """The function running a command that needs no rehearsal runtime, if it is one."""
    if command in CLIENT_COMMANDS:
        return run_client_command
    if command in ACCOUNT_COMMANDS:
        return run_account_command
    runners: dict[str, Callable[[argparse.Namespace], int]] = {"serve": serve.main, "predict": _predict}
    return runners.get(command)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code (0 when the execution completed)."""
    args = _parser().parse_args(argv)
    if args.command == "schemas":
        return _schemas(args.check)
    runner = _runner(args.command)
    if runner is not None:
        return runner(args)
    if args.command == "bench":
        from drwave_local.bench.run import main as bench  # noqa: PLC0415 - only this command needs it

        return bench(quick=args.quick, output=args.output, only=args.only or None)
    from drwave_local.cli.rehearsal import NothingTriggered, RehearsalOptions, rehearse  # noqa: PLC0415
    from drwave_local.runtime.embedded import RuntimeStalled  # noqa: PLC0415

    try:
        writable_file(args.report, "--report")
        writable_file(args.log, "--log")
        if args.command == "demo":
            plan, environment = EXAMPLES / "retail-plan.yaml", EXAMPLES / "retail-environment.yaml"
            options = RehearsalOptions(report_path=args.report, log_path=args.log or Path("out/demo/handlers.log"))
        else:
            faults, lose = parse_faults(args.faults)
            plan, environment = args.plan, args.environment
            options = RehearsalOptions(
                execution_type=ExecutionType(args.type.upper()),
                faults=faults,
                lose_launch_results=lose,
                approve_gates_after_seconds=None if args.approve_after < 0 else args.approve_after,
                report_path=args.report,
                log_path=args.log,
                recover_to_before_start=None
                if args.recover_to_minutes_ago is None
                else timedelta(minutes=args.recover_to_minutes_ago),
            )
            _alarm_options(args, options)
        report = rehearse(plan, environment, options, out=quiet_print)
    except (InputFileError, UsageError) as err:
        print(f"drwave: error: {err}", file=sys.stderr)
        return 2
    except NothingTriggered as err:
        print(f"drwave: {err}", file=sys.stderr)
        return 1
    except RuntimeStalled as err:
        print(f"drwave: the rehearsal did not finish: {err}", file=sys.stderr)
        return 3
    except BrokenPipeError:  # `drwave run ... | head`: the reader left; stay quiet at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    if report["invariantViolations"] or report["groundTruthMismatches"]:
        print(
            "drwave: the rehearsal broke drwave's invariants (see INVARIANT VIOLATED / MISMATCH above)", file=sys.stderr
        )
        return 4
    return 0 if ExecutionStatus(report["status"]) in OK_STATUSES else 1


def _alarm_options(args: argparse.Namespace, options: RehearsalOptions) -> None:
    """--alarm NAME=STATE@T+5m ... and --trigger FILE -> the rehearsal's alarm timeline and trigger fields."""
    from drwave_local.runtime.scheduler import parse_alarm_timeline  # noqa: PLC0415

    if args.trigger and not args.alarm:
        raise UsageError("--trigger: needs an alarm timeline (--alarm NAME=STATE@T+OFFSET)")
    if not args.alarm:
        return
    try:
        options.alarms = parse_alarm_timeline(args.alarm)
    except ValueError as err:
        raise UsageError(str(err)) from None
    if args.trigger:
        from drwave_local.cli.client import FileError, load_file  # noqa: PLC0415

        try:
            options.trigger = load_file(args.trigger)
        except FileError as err:
            raise UsageError(str(err)) from None


def _schemas(check: bool) -> int:
    if check:
        stale = contracts.drift()
        for name in stale:
            print(f"stale: {name} (run: drwave schemas)")
        return 1 if stale else 0
    for written in contracts.write_all():
        print(f"wrote {written.relative_to(contracts.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
