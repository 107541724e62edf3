"""The `drwave` command line: the demo's report, and exit code 2 with a readable message for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from drwave_local.cli.main import main

SERVER = "s-0a1b2c3d4e5f60001"
PLAN = f"""\
protectionGroups:
  - id: pg-app
    name: App
    sourceServerIds: [{SERVER}]
recoveryPlan:
  id: plan-cli
  name: CLI plan
  waves:
    - id: app
      protectionGroupIds: [pg-app]
"""
ENVIRONMENT = f"""\
accountId: "111122223333"
region: us-east-1
jitter: 0
sourceServers:
  - {{ id: {SERVER}, hostname: app-01 }}
"""


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`files(plan=..., environment=...)` writes the two inputs in a scratch directory (also the cwd)."""
    monkeypatch.chdir(tmp_path)

    def write(plan: str | bytes = PLAN, environment: str = ENVIRONMENT) -> tuple[Path, Path]:
        plan_path, env_path = tmp_path / "plan.yaml", tmp_path / "environment.yaml"
        if isinstance(plan, bytes):
            plan_path.write_bytes(plan)
        else:
            plan_path.write_text(plan, encoding="utf-8")
        env_path.write_text(environment, encoding="utf-8")
        return plan_path, env_path

    return write


def run(plan: Path, environment: Path, *extra: str) -> int:
    return main(["run", str(plan), "--environment", str(environment), *extra])


def run_in_subprocess(plan: Path, environment: Path) -> tuple[int, str]:
    """`drwave run` in its own interpreter: exit code and stderr exactly as a shell would see them.

    Used where the current code crashes inside LocalRuntime.__enter__, which leaves moto's mock started
    and would leak its state into every later test of this process.
    """
    script = "import sys; from drwave_local.cli.main import main; sys.exit(main(sys.argv[1:]))"
    args = ["run", str(plan), "--environment", str(environment)]
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, check=False)
    return done.returncode, done.stderr


def assert_usage_error(code: int, stderr: str, *expected: str) -> None:
    """Exit code 2, every expected fragment in the message, and no traceback."""
    assert code == 2
    assert stderr.startswith("drwave: error: ")
    for fragment in expected:
        assert fragment in stderr
    assert "Traceback" not in stderr


# --- demo ---------------------------------------------------------------------------------------------------


def test_demo_completes_and_writes_a_full_report(tmp_path, monkeypatch, capsys):
    # GIVEN a scratch working directory
    monkeypatch.chdir(tmp_path)
    # WHEN the demo runs with a report path
    code = main(["demo", "--report", "tmp/report.json", "--log", "tmp/handlers.log"])
    # THEN it succeeds and writes the report where asked
    assert code == 0
    report = json.loads((tmp_path / "tmp" / "report.json").read_text(encoding="utf-8"))
    assert report["executionId"]
    assert report["type"] == "DRILL"
    assert report["status"] in ("COMPLETED", "COMPLETED_WITH_WARNINGS")
    for stamp in ("createdAt", "startedAt", "endedAt"):
        assert report[stamp].endswith("Z")
    # AND every wave reports its timing, jobs and servers
    assert [w["id"] for w in report["waves"]] == ["identity", "databases", "orders", "payments", "web"]
    for wave in report["waves"]:
        assert wave["status"] in ("COMPLETED", "COMPLETED_WITH_WARNINGS")
        assert wave["startedAt"] <= wave["endedAt"]
        assert wave["drsJobIds"]
        assert all(j.startswith("drsjob-") for j in wave["drsJobIds"])
        for server in wave["servers"]:
            assert server["sourceServerId"].startswith("s-")
            assert server["launchStatus"] in ("LAUNCHED", "FAILED")
            assert (server["recoveryInstanceId"] is not None) == (server["launchStatus"] == "LAUNCHED")
    # AND DRS calls are counted per operation, and drwave agrees with DRS on every server
    assert report["drsApiCalls"]["StartRecovery"] == sum(len(w["drsJobIds"]) for w in report["waves"])
    assert set(report["drsApiCalls"]) <= {
        "StartRecovery",
        "DescribeJobs",
        "DescribeSourceServers",
        "DescribeJobLogItems",
        "GetLaunchConfiguration",  # the demo's web group has launch settings
        "UpdateLaunchConfiguration",
        "DescribeRecoveryInstances",  # the plan's drill TTL: the cleanup checks its instances are drills ...
        "TerminateRecoveryInstances",  # ... and terminates them
    }
    assert report["groundTruthMismatches"] == []
    # AND the drill's instances were terminated by its TTL, and the report records it
    assert report["evidence"]["cleanup"]["status"] == "DONE" and report["evidence"]["cleanup"]["ttlMinutes"] == 60
    # AND the console got the summary (objectives and the cleanup with it), and no error
    out, err = capsys.readouterr()
    assert "matches the simulated DRS ground truth" in out
    assert (
        "RTO execution: 37m32s, target 45 min: PASS" in out and "RTO wave databases: 12m16s, target 12 min: FAIL" in out
    )
    assert "Drill cleanup: DONE; TTL 60 min" in out
    assert err == ""


# --- run ------------------------------------------------------------------------------------------------------


def test_run_of_a_valid_plan_succeeds_and_writes_the_report(files, tmp_path, capsys):
    # GIVEN a one-wave plan and its environment
    plan, environment = files()
    # WHEN it is rehearsed as a recovery
    code = run(plan, environment, "--type", "recovery", "--report", str(tmp_path / "r.json"))
    # THEN it succeeds and the report says so
    assert code == 0
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert (report["type"], report["status"]) == ("RECOVERY", "COMPLETED")
    assert capsys.readouterr().err == ""


def test_run_whose_execution_fails_exits_1(files):
    # GIVEN the only server fails to launch
    plan, environment = files(environment=ENVIRONMENT.replace("hostname: app-01", "hostname: app-01, failAt: LAUNCH"))
    # WHEN rehearsed THEN the exit code says the execution did not complete
    assert run(plan, environment) == 1


def test_missing_plan_file_names_the_file_and_the_reason(files, tmp_path, capsys):
    # GIVEN no plan file at the given path
    _, environment = files()
    missing = tmp_path / "nope.yaml"
    # WHEN run THEN exit 2 naming the file and why
    code = run(missing, environment)
    assert_usage_error(code, capsys.readouterr().err, str(missing), "cannot read", "No such file or directory")


def test_missing_environment_file_names_the_file(files, tmp_path, capsys):
    # GIVEN a plan but no environment file
    plan, _ = files()
    missing = tmp_path / "absent-env.yaml"
    # WHEN run THEN exit 2 naming the environment file
    assert_usage_error(run(plan, missing), capsys.readouterr().err, str(missing), "cannot read")


def test_invalid_yaml_names_the_file_and_the_position(files, capsys):
    # GIVEN a plan file with broken YAML
    plan, environment = files(plan="protectionGroups: [\n  - id: pg-app\n")
    # WHEN run THEN exit 2 naming the file, the problem and where it is
    code = run(plan, environment)
    err = capsys.readouterr().err
    assert_usage_error(code, err, str(plan), "not valid YAML/JSON", "line")


def test_plan_with_a_dependency_cycle_names_the_field_and_the_cycle(files, capsys):
    # GIVEN two waves that depend on each other
    cyclic = PLAN.replace(
        "    - id: app\n      protectionGroupIds: [pg-app]\n",
        "    - { id: one, protectionGroupIds: [pg-app], dependsOn: [two] }\n"
        "    - { id: two, protectionGroupIds: [pg-app], dependsOn: [one] }\n",
    )
    plan, environment = files(plan=cyclic)
    # WHEN run THEN exit 2 naming the file, the field and the cycle
    code = run(plan, environment)
    assert_usage_error(
        code, capsys.readouterr().err, str(plan), "recoveryPlan", "waves", "dependency cycle: one -> two"
    )


def test_plan_with_an_unknown_protection_group_names_the_wave_field_and_the_group(files, capsys):
    # GIVEN a wave naming a group the file does not define
    plan, environment = files(plan=PLAN.replace("protectionGroupIds: [pg-app]", "protectionGroupIds: [pg-ghost]"))
    # WHEN run THEN exit 2 naming the file, the wave's field and the group
    code = run(plan, environment)
    assert_usage_error(
        code, capsys.readouterr().err, str(plan), "waves[0].protectionGroupIds", "unknown protection groups: pg-ghost"
    )


def test_plan_with_a_bad_server_id_names_the_field_path(files, capsys):
    # GIVEN a protection group with a malformed source server id
    plan, environment = files(plan=PLAN.replace(f"[{SERVER}]", "[server-1]"))
    # WHEN run THEN exit 2 naming the file, the field path and the rule broken
    code = run(plan, environment)
    assert_usage_error(code, capsys.readouterr().err, str(plan), "protectionGroups.0.sourceServerIds", "server-1")


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        (("jitter: 0", "jitter: 2"), "jitter", "less than 1"),
        (('accountId: "111122223333"', 'accountId: "1234"'), "accountId", "pattern"),
        (("hostname: app-01", "hostname: app-01, failAt: BOOT"), "sourceServers.0.failAt", "SNAPSHOT"),
        (("region: us-east-1", "region: us-east-1\ncolour: blue"), "colour", "Extra inputs are not permitted"),
    ],
)
def test_bad_environment_field_names_the_file_field_and_reason(files, capsys, change, field, reason):
    # GIVEN an environment file with one bad field
    plan, environment = files(environment=ENVIRONMENT.replace(*change))
    # WHEN run THEN exit 2 naming the environment file, the field and the reason
    code = run(plan, environment)
    assert_usage_error(code, capsys.readouterr().err, str(environment), f": {field}: ", reason)


def test_environment_listing_a_server_twice_is_a_usage_error(files):
    # GIVEN the same source server listed twice in the environment
    plan, environment = files(environment=ENVIRONMENT + f"  - {{ id: {SERVER}, hostname: app-02 }}\n")
    # WHEN run THEN exit 2 naming the file, the field and the duplicate
    code, err = run_in_subprocess(plan, environment)
    assert_usage_error(code, err, str(environment), "sourceServers", SERVER)


def test_environment_with_an_unknown_replication_state_is_a_usage_error(files):
    # GIVEN a server whose replication state is not one DRS knows
    plan, environment = files(
        environment=ENVIRONMENT.replace("hostname: app-01", "hostname: app-01, replicationState: BOGUS")
    )
    # WHEN run THEN exit 2 naming the file, the field and the value
    code, err = run_in_subprocess(plan, environment)
    assert_usage_error(code, err, str(environment), "replicationState", "BOGUS")


def test_plan_file_that_is_not_utf8_text_is_a_usage_error(files, capsys):
    # GIVEN a plan file holding binary data
    plan, environment = files(plan=b"\xff\xfe\x00 not text")
    # WHEN run THEN exit 2 naming the file
    code = run(plan, environment)
    assert_usage_error(code, capsys.readouterr().err, str(plan))


def test_an_empty_plan_file_names_the_top_level(files, capsys):
    # GIVEN an empty plan file WHEN run THEN exit 2 saying the document itself is not a plan
    plan, environment = files(plan="")
    code = run(plan, environment)
    assert_usage_error(code, capsys.readouterr().err, str(plan), "(top level)")


# --- --faults -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("faults", "expected"),
    [
        ("explode=0.1", ["--faults", "unknown fault 'explode'", "known: duplicate"]),
        ("drop=1.5", ["--faults", "drop", "between 0 and 1", "1.5"]),
        ("duplicate=-0.1", ["--faults", "duplicate", "between 0 and 1"]),
        ("lose-launch-results=2", ["--faults", "lose-launch-results", "between 0 and 1"]),
        ("crash=often", ["--faults", "crash", "'often' is not a number"]),
    ],
)
def test_bad_faults_are_usage_errors_naming_the_fault(files, capsys, faults, expected):
    # GIVEN valid files but a bad --faults value
    plan, environment = files()
    # WHEN run THEN exit 2 naming the option, the fault and the reason, before any rehearsal output
    code = run(plan, environment, "--faults", faults)
    out, err = capsys.readouterr()
    assert_usage_error(code, err, *expected)
    assert out == ""


def test_a_negative_delivery_delay_is_a_usage_error(files, capsys):
    # GIVEN a negative --faults delay WHEN run THEN exit 2 naming the fault
    plan, environment = files()
    code = run(plan, environment, "--faults", "delay=-5")
    assert_usage_error(code, capsys.readouterr().err, "--faults", "delay")


def test_valid_faults_are_accepted(files):
    # GIVEN every known fault at a legal value WHEN run THEN the rehearsal runs to completion
    plan, environment = files()
    faults = "duplicate=0.2,drop=0,delay=30,crash=0,publish-failure=0,lose-launch-results=0.5,seed=3"
    assert run(plan, environment, "--faults", faults) == 0


def test_missing_required_option_exits_2_through_argparse(capsys):
    # GIVEN `run` without --environment WHEN parsed THEN argparse exits 2 naming the option
    with pytest.raises(SystemExit) as exited:
        main(["run", "plan.yaml"])
    assert exited.value.code == 2
    assert "--environment" in capsys.readouterr().err


# --- bad input: exit 2 with the field named, never a traceback ----------------------------------------------


@pytest.mark.parametrize(
    ("plan_text", "expected"),
    [
        (PLAN.replace("    name: App\n", "    name: App\n    name: Shop\n"), ["duplicate key 'name'", "line 4"]),
        (PLAN + "extra: " + "[" * 200 + "]" * 200 + "\n", ["nests more than 32 levels deep"]),
        (
            PLAN.replace(
                "      protectionGroupIds: [pg-app]\n",
                "      protectionGroupIds: [pg-app]\n      timeoutMinutes: " + "9" * 5000 + "\n",
            ),
            ["an integer of 5000 digits is out of range", "line"],
        ),
        (
            PLAN.replace(
                "      protectionGroupIds: [pg-app]\n",
                "      protectionGroupIds: [pg-app]\n      timeoutMinutes: true\n",
            ),
            ["recoveryPlan.waves.0.timeoutMinutes", "valid integer"],
        ),
    ],
    ids=["duplicate-key", "nested-200-deep", "integer-of-5000-digits", "boolean-for-minutes"],
)
def test_a_hostile_plan_file_is_a_usage_error_naming_where(files, capsys, plan_text, expected):
    # GIVEN a plan file with a duplicate key, deep nesting, a huge integer or a boolean for a number
    plan, environment = files(plan=plan_text)
    # WHEN run THEN exit 2 naming the file and the problem, without a traceback
    code = run(plan, environment)
    assert_usage_error(code, capsys.readouterr().err, str(plan), *expected)


@pytest.mark.parametrize("value", [".inf", ".nan"])
def test_an_infinite_or_nan_duration_in_the_environment_is_a_usage_error(files, capsys, value):
    plan, environment = files(environment=ENVIRONMENT + f"defaultTimeline: {{ launchSeconds: {value} }}\n")
    code = run(plan, environment)
    assert_usage_error(code, capsys.readouterr().err, "defaultTimeline.launchSeconds", "finite number")


def test_an_environment_region_that_is_not_a_region_is_a_usage_error(files, capsys):
    plan, environment = files(environment=ENVIRONMENT.replace("region: us-east-1", "region: moon-base-1"))
    assert_usage_error(run(plan, environment), capsys.readouterr().err, "region")


@pytest.mark.parametrize("faults", ["delay=inf", "delay=nan", "seed=inf", "seed=nan", "drop=nan"])
def test_infinite_or_nan_faults_are_usage_errors(files, capsys, faults):
    plan, environment = files()
    code = run(plan, environment, "--faults", faults)
    out, err = capsys.readouterr()
    assert_usage_error(code, err, "--faults", "not a finite number")
    assert out == ""


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_non_finite_approve_after_exits_2_through_argparse(files, capsys, value):
    plan, environment = files()
    with pytest.raises(SystemExit) as exited:
        run(plan, environment, f"--approve-after={value}")
    assert exited.value.code == 2
    assert "--approve-after" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--report", "--log"])
def test_a_directory_as_report_or_log_is_refused_before_the_rehearsal_runs(files, tmp_path, capsys, option):
    # GIVEN an existing directory named as the output file
    plan, environment = files()
    (tmp_path / "out").mkdir()
    # WHEN run THEN exit 2 naming the option, and nothing was rehearsed
    code = run(plan, environment, option, str(tmp_path / "out"))
    out, err = capsys.readouterr()
    assert_usage_error(code, err, option, "is a directory")
    assert "Rehearsing" not in out


def test_plan_servers_missing_from_the_environment_are_a_usage_error_before_the_run(files, capsys):
    # GIVEN a plan whose group lists a server the environment does not simulate
    plan, environment = files(plan=PLAN.replace(f"[{SERVER}]", f"[{SERVER}, s-0a1b2c3d4e5f6ffff]"))
    # WHEN run THEN exit 2 naming the field and the server, before any progress is printed
    code = run(plan, environment)
    out, err = capsys.readouterr()
    assert_usage_error(code, err, "protectionGroups.0.sourceServerIds", "s-0a1b2c3d4e5f6ffff")
    assert out == ""


def test_a_file_with_many_problems_gets_a_message_that_fits_one_screen(files, capsys):
    # GIVEN a plan with 40 waves, each with a bad timeout
    waves = "".join(f"    - {{ id: w{n}, protectionGroupIds: [pg-app], timeoutMinutes: 0 }}\n" for n in range(40))
    plan, environment = files(plan=PLAN.split("  waves:\n", maxsplit=1)[0] + "  waves:\n" + waves)
    # WHEN run THEN the first ten problems and a count
    code = run(plan, environment)
    err = capsys.readouterr().err
    assert_usage_error(code, err, "and 30 more problems")
    assert len(err.splitlines()) == 11


def test_run_piped_into_head_prints_no_broken_pipe_traceback(files):
    # GIVEN `drwave run ... | head -1`: the reader leaves after the first line
    plan, environment = files()
    script = "import sys; from drwave_local.cli.main import main; sys.exit(main(sys.argv[1:]))"
    args = [sys.executable, "-c", script, "run", str(plan), "--environment", str(environment)]
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None and child.stderr is not None
        child.stdout.readline()
        child.stdout.close()
        stderr = child.stderr.read()
        code = child.wait(timeout=120)
    # THEN the rehearsal still ends with its own exit code and nothing but silence on stderr
    assert "Traceback" not in stderr
    assert "BrokenPipe" not in stderr
    assert code == 0


def test_a_definition_file_with_a_duplicate_key_is_refused_by_the_client(tmp_path):
    # GIVEN a group file for `drwave groups create -f` where the second `sourceServerIds` would silently win
    from drwave_local.cli.client import FileError, load_file  # noqa: PLC0415

    path = tmp_path / "group.yaml"
    path.write_text(f"id: pg\nname: pg\nsourceServerIds: [{SERVER}]\nsourceServerIds: []\n", encoding="utf-8")
    # WHEN it is loaded THEN it is refused naming the key
    with pytest.raises(FileError, match="duplicate key 'sourceServerIds'"):
        load_file(path)


def test_clashing_fixed_ips_in_a_plan_file_are_a_usage_error_before_the_run(files, capsys):
    # GIVEN a group whose two servers are given the same fixed private IP
    second = "s-0a1b2c3d4e5f60002"
    settings = '{ subnetId: subnet-0123abcd, privateIpAddress: "10.0.0.5" }'
    plan_text = PLAN.replace(
        f"[{SERVER}]",
        f"[{SERVER}, {second}]\n    serverLaunchOverrides:\n      {SERVER}: {settings}\n      {second}: {settings}",
    )
    environment = ENVIRONMENT + f"  - {{ id: {second}, hostname: app-02 }}\n"
    plan, env = files(plan=plan_text, environment=environment)
    # WHEN run THEN exit 2 naming the group and the field, before the rehearsal prints anything
    code = run(plan, env)
    out, err = capsys.readouterr()
    assert_usage_error(code, err, "protectionGroups.0.privateIpAddress", "10.0.0.5")
    assert out == ""


def test_watch_lines_carry_the_stacks_clock_not_this_machines(capsys):
    # GIVEN an execution view answered by a stack whose (simulated) clock reads 09:07:30
    from drwave_local.cli.commands import _print_changes  # noqa: PLC0415

    view = {
        "executionId": "exec-1",
        "status": "RUNNING",
        "asOf": "2026-01-05T09:07:30.000Z",
        "progress": {"waves": "0/1", "servers": "0/1"},
        "waves": [
            {"waveId": "w1", "status": "LAUNCHING", "reason": None, "servers": {"total": 1, "launched": 0, "failed": 0}}
        ],
    }
    # WHEN the watch prints what changed
    _print_changes(view, {})
    # THEN every line is stamped with the stack's time, the same clock the server's log shows
    lines = capsys.readouterr().out.splitlines()
    assert lines
    assert all(line.startswith("[09:07:30]") for line in lines)


def test_a_group_in_another_region_than_the_environment_is_refused_and_a_missing_one_is_assumed(files, capsys):
    # GIVEN the environment (us-east-1) and a plan whose group names another region
    elsewhere = PLAN.replace("    name: App\n", "    name: App\n    region: eu-west-1\n")
    plan, environment = files(plan=elsewhere)
    # WHEN it is rehearsed THEN it is refused before it runs, naming the field and both regions
    assert run(plan, environment) == 2
    assert "protectionGroups.0.region: eu-west-1 is not the simulated environment's region us-east-1" in (
        capsys.readouterr().err
    )
    # AND a group that names no region runs in the environment's, and the output says it was assumed
    plan, environment = files()
    assert run(plan, environment) == 0
    assert "protection group pg-app: no region given; using the environment's us-east-1" in capsys.readouterr().out


def test_an_alarm_timeline_held_past_the_sustain_rehearses_a_dry_run_drill(files: Any, capsys: Any) -> None:
    # GIVEN a plan and an alarm that goes to ALARM five simulated minutes in and stays there
    plan, environment = files()
    # WHEN the rehearsal plays the timeline (a drill: the trigger runs in DRY_RUN)
    code = run(plan, environment, "--alarm", "primary-down=ALARM@T+5m", "--report", "r.json")
    # THEN the trigger started a DRILL after the 5-minute sustain, and it completed
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Failover trigger rehearsal: DRY_RUN" in out
    report = json.loads(Path("r.json").read_text())
    assert report["executionId"].startswith("failover-rehearsal-20260105T0905")


def test_a_flapping_alarm_timeline_starts_nothing_and_says_why(files: Any, capsys: Any) -> None:
    plan, environment = files()
    flaps = ["a=ALARM@T+1m", "a=OK@T+3m", "a=ALARM@T+4m", "a=OK@T+6m"]
    code = run(plan, environment, *(f"--alarm={f}" for f in flaps))
    assert code == 1
    assert "started no execution (SUSTAIN_NOT_REACHED" in capsys.readouterr().err


def test_a_malformed_alarm_timeline_is_a_usage_error(files: Any, capsys: Any) -> None:
    plan, environment = files()
    assert run(plan, environment, "--alarm", "primary-down=ALARM@5m") == 2
    assert "expected T+<number><s|m|h|d>" in capsys.readouterr().err
