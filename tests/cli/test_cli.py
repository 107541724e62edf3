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
    }
    assert report["groundTruthMismatches"] == []
    # AND the console got the summary, and no error
    out, err = capsys.readouterr()
    assert "matches the simulated DRS ground truth" in out
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
