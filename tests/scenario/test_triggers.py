"""Triggers end to end in the local runtime: scheduled drills and alarm-triggered failover, on the virtual clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from drwave.control.errors import Forbidden, PreflightFailed
from drwave.control.roles import Caller, Role
from drwave.control.service import ControlPlane
from drwave.control.triggers import TriggerControl
from drwave.models.execution import ExecutionStatus, ExecutionType, WaveStatus
from drwave_local.runtime.embedded import LocalRuntime

ADMIN = Caller("alice", Role.ADMIN)


class Watcher:
    """Every event put on drwave's bus, in order (what a subscriber of the bus sees)."""

    def __init__(self, rt: LocalRuntime) -> None:
        self.events: list[dict[str, Any]] = []
        rt.router.observers.append(lambda bus, event: self.events.append(event) if bus != "default" else None)

    def of(self, detail_type: str) -> list[dict[str, Any]]:
        return [e["detail"] for e in self.events if e["detail-type"] == detail_type]


def notifications(rt: LocalRuntime) -> Any:
    """An SQS queue subscribed to the notification topic; returns a function draining its JSON messages."""
    sqs, sns = boto3.client("sqs", region_name=rt.env.region), boto3.client("sns", region_name=rt.env.region)
    url = sqs.create_queue(QueueName="operators")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=rt.notification_topic_arn, Protocol="sqs", Endpoint=arn)

    def drain() -> list[dict[str, Any]]:
        received = []
        while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for message in batch:
                received.append(json.loads(json.loads(message["Body"])["Message"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return received

    return drain


def finish(rt: LocalRuntime, execution_id: str, budget: timedelta = timedelta(hours=6)) -> None:
    """Advance the clock until the execution is terminal (schedules keep the clock busy forever)."""
    deadline = rt.clock.now() + budget
    while rt.clock.now() < deadline:
        summary = rt.deps.store.execution_summary(execution_id)
        if summary is not None and ExecutionStatus(summary.status).terminal:
            return
        rt.triggers.run_for(timedelta(minutes=1))
    raise AssertionError(f"{execution_id} did not finish within {budget}")


def test_a_schedule_fires_a_drill_at_its_cron_time_and_the_drill_completes(scenario: Any) -> None:
    # GIVEN a plan and a drill schedule every day at 02:00 UTC (the runtime's clock starts Monday 09:00)
    scenario.plan("retail", {"id": "db", "servers": 2}, {"id": "web", "servers": 2, "dependsOn": ["db"]})
    with scenario.run() as rt:
        control = TriggerControl(rt.deps)
        view = control.put_schedule(
            ADMIN, {"id": "nightly", "planId": "retail", "scheduleExpression": "cron(0 2 * * ? *)"}
        )
        fire_at = datetime(2026, 1, 6, 2, 0, tzinfo=UTC)
        assert view["nextFireAt"] == "2026-01-06T02:00:00.000Z"
        assert rt.triggers.next_firing("drill-nightly") == fire_at
        # WHEN virtual time reaches the cron time
        rt.triggers.run_until(fire_at + timedelta(seconds=1))
        execution_id = "drill-nightly-20260106T0200Z"
        finish(rt, execution_id)
        # THEN exactly one DRILL ran, under the occurrence's deterministic id, started by the schedule, and completed
        execution = rt.execution(execution_id)
        assert execution.execution_type is ExecutionType.DRILL
        assert execution.started_by == "schedule:nightly"
        assert execution.status is ExecutionStatus.COMPLETED
        assert execution.created_at == fire_at
        # AND the next occurrence is armed for the following night
        assert rt.triggers.next_firing("drill-nightly") == fire_at + timedelta(days=1)


def test_a_duplicated_schedule_delivery_starts_one_drill(scenario: Any) -> None:
    scenario.plan("retail", {"id": "db", "servers": 1})
    with scenario.run() as rt:
        control = TriggerControl(rt.deps)
        control.put_schedule(ADMIN, {"id": "nightly", "planId": "retail", "scheduleExpression": "rate(1 day)"})
        occurrence = datetime(2026, 1, 6, 2, 0, tzinfo=UTC)
        # WHEN Scheduler delivers the same occurrence twice
        first = control.fire_schedule("nightly", occurrence)
        second = control.fire_schedule("nightly", occurrence)
        # THEN the second names the same drill and starts nothing
        assert first == {"executionId": "drill-nightly-20260106T0200Z", "started": True}
        assert second["started"] is False and second["reason"] == "DUPLICATE"


def test_a_schedule_whose_preflight_fails_emits_drill_skipped_and_starts_nothing(scenario: Any) -> None:
    # GIVEN a plan with a server whose replication is stalled and one DRS does not know
    scenario.plan("retail", {"id": "db", "servers": [{"replicationState": "STALLED"}, {"inDrs": False}]})
    with scenario.run() as rt:
        watcher, drain = Watcher(rt), notifications(rt)
        TriggerControl(rt.deps).put_schedule(
            ADMIN, {"id": "nightly", "planId": "retail", "scheduleExpression": "cron(0 2 * * ? *)"}
        )
        # WHEN the schedule fires
        rt.triggers.run_until(datetime(2026, 1, 6, 2, 5, tzinfo=UTC))
        # THEN Drill Skipped lists every problem, and no execution exists
        (skipped,) = watcher.of("Drill Skipped")
        assert skipped["reason"] == "PREFLIGHT_FAILED"
        assert len(skipped["problems"]) == 2
        assert rt.deps.store.execution_summary("drill-nightly-20260106T0200Z") is None
        assert watcher.of("Execution Requested") == []
        # AND the operators were notified, with every problem
        (notified,) = [n for n in drain() if n["eventType"] == "Drill Skipped"]
        assert notified["reason"] == "PREFLIGHT_FAILED" and len(notified["problems"]) == 2


def test_a_schedule_skips_an_occurrence_while_the_plan_runs_and_inside_a_blackout(scenario: Any) -> None:
    # GIVEN a gated plan (an operator's drill of it waits a day for approval) and a nightly schedule with a blackout
    scenario.plan("retail", {"id": "db", "servers": 1, "pauseBeforeWave": {"timeoutMinutes": 1440}})
    with scenario.run() as rt:
        watcher = Watcher(rt)
        blackout = {"start": "2026-01-07T00:00:00Z", "end": "2026-01-08T00:00:00Z", "reason": "change freeze"}
        TriggerControl(rt.deps).put_schedule(
            ADMIN,
            {
                "id": "nightly",
                "planId": "retail",
                "scheduleExpression": "cron(0 2 * * ? *)",
                "blackoutWindows": [blackout],
            },
        )
        running = rt.request_execution("retail")
        # WHEN the schedule fires on Tuesday (the drill still waits) and on Wednesday (inside the blackout)
        rt.triggers.run_until(datetime(2026, 1, 7, 2, 1, tzinfo=UTC))
        # THEN both occurrences are skipped with their reasons, and only the operator's drill ever ran
        skipped = watcher.of("Drill Skipped")
        assert [s["reason"] for s in skipped] == ["OVERLAP", "BLACKOUT"]
        assert running in skipped[0]["message"]
        assert {e["executionId"] for e in watcher.of("Execution Requested")} == {running}


# ------------------------------------------------------------------------------------------------ failover


def arm_trigger(rt: LocalRuntime, trigger_id: str, alarms: list[str], **fields: Any) -> None:
    control = TriggerControl(rt.deps)
    arns = [rt.triggers.alarm_arn(a) for a in alarms]
    control.put_trigger(ADMIN, {"id": trigger_id, "planId": "retail", "alarmArns": arns, **fields})
    control.arm(ADMIN, trigger_id)


def test_an_alarm_held_for_the_sustain_period_starts_a_confirm_recovery_that_waits_for_an_admin(scenario: Any) -> None:
    # GIVEN an armed CONFIRM trigger (5-minute sustain) on a two-wave plan
    scenario.plan("retail", {"id": "db", "servers": 2}, {"id": "web", "servers": 2, "dependsOn": ["db"]})
    with scenario.run() as rt:
        watcher, drain = Watcher(rt), notifications(rt)
        arm_trigger(rt, "primary", ["primary-down"], sustainMinutes=5, confirmTimeoutMinutes=60)
        started = rt.clock.now()
        # WHEN the alarm goes to ALARM and stays there for six minutes
        rt.triggers.set_alarm("primary-down", "ALARM")
        rt.triggers.run_for(timedelta(minutes=4))
        assert watcher.of("Failover Triggered") == []  # the sustain period is not over yet
        rt.triggers.run_for(timedelta(minutes=2))
        # THEN one RECOVERY was created, waiting for approval before its first wave
        (triggered,) = watcher.of("Failover Triggered")
        execution_id = triggered["executionId"]
        assert execution_id == f"failover-primary-{started:%Y%m%dT%H%M%SZ}"
        assert triggered["mode"] == "CONFIRM" and triggered["confirmWaves"] == ["db"]
        execution = rt.execution(execution_id)
        assert execution.execution_type is ExecutionType.RECOVERY
        assert execution.started_by == "trigger:primary"
        assert execution.waves["db"].status is WaveStatus.WAITING_APPROVAL
        assert watcher.of("DRS Job Started") == []  # nothing launched before the approval
        # AND the operators were told, with the approve command
        (notified,) = [n for n in drain() if n["eventType"] == "Failover Triggered"]
        assert f"drwave executions approve {execution_id} db" in notified["approve"][0]["cli"]
        # AND an operator may not confirm it
        with pytest.raises(Forbidden):
            ControlPlane(rt.deps).approve(Caller("bob", Role.OPERATOR), execution_id, "db")
        # WHEN an admin approves
        ControlPlane(rt.deps).approve(ADMIN, execution_id, "db")
        finish(rt, execution_id)
        # THEN the RECOVERY completes
        assert rt.execution(execution_id).status is ExecutionStatus.COMPLETED


def test_a_second_alarm_during_the_recovery_starts_nothing(scenario: Any) -> None:
    scenario.plan("retail", {"id": "db", "servers": 1, "pauseBeforeWave": {"timeoutMinutes": 600}})
    with scenario.run() as rt:
        watcher = Watcher(rt)
        arm_trigger(rt, "primary", ["primary-down"], sustainMinutes=1, mode="AUTOMATIC")
        arm_trigger(rt, "synthetics", ["synthetics-failing"], sustainMinutes=1, mode="AUTOMATIC")
        rt.triggers.set_alarm("primary-down", "ALARM")
        rt.triggers.run_for(timedelta(minutes=3))
        (triggered,) = watcher.of("Failover Triggered")
        # WHEN another trigger's alarm fires while that RECOVERY runs (its gate holds it)
        rt.triggers.set_alarm("synthetics-failing", "ALARM")
        rt.triggers.run_for(timedelta(minutes=3))
        # THEN it is suppressed as already running, and still only one execution exists
        assert [s["reason"] for s in watcher.of("Failover Suppressed")] == ["ALREADY_RUNNING"]
        assert len(watcher.of("Failover Triggered")) == 1
        assert {e["executionId"] for e in watcher.of("Execution Requested")} == {triggered["executionId"]}


def test_flapping_alarms_start_nothing(scenario: Any) -> None:
    scenario.plan("retail", {"id": "db", "servers": 1})
    with scenario.run() as rt:
        watcher = Watcher(rt)
        arm_trigger(rt, "primary", ["primary-down"], sustainMinutes=5, mode="AUTOMATIC")
        # WHEN the alarm flaps: two minutes in ALARM, one minute OK, for half an hour
        for _ in range(10):
            rt.triggers.set_alarm("primary-down", "ALARM")
            rt.triggers.run_for(timedelta(minutes=2))
            rt.triggers.set_alarm("primary-down", "OK")
            rt.triggers.run_for(timedelta(minutes=1))
        rt.triggers.run_for(timedelta(minutes=10))
        # THEN nothing started, and each broken episode was reported
        assert watcher.of("Failover Triggered") == [] and watcher.of("Execution Requested") == []
        assert {s["reason"] for s in watcher.of("Failover Suppressed")} == {"SUSTAIN_NOT_REACHED"}
        assert len(watcher.of("Failover Suppressed")) == 10


def test_dry_run_starts_a_drill_of_the_plan(scenario: Any) -> None:
    scenario.plan("retail", {"id": "db", "servers": 1})
    with scenario.run() as rt:
        watcher = Watcher(rt)
        arm_trigger(rt, "primary", ["primary-down"], sustainMinutes=2, mode="DRY_RUN")
        rt.triggers.set_alarm("primary-down", "ALARM")
        rt.triggers.run_for(timedelta(minutes=3))
        (triggered,) = watcher.of("Failover Triggered")
        assert triggered["executionType"] == "DRILL"
        finish(rt, triggered["executionId"])
        execution = rt.execution(triggered["executionId"])
        assert execution.execution_type is ExecutionType.DRILL
        assert execution.status is ExecutionStatus.COMPLETED


def test_a_trigger_is_created_disarmed_and_arming_is_audited(scenario: Any) -> None:
    scenario.plan("retail", {"id": "db", "servers": 1})
    with scenario.run() as rt:
        watcher = Watcher(rt)
        control = TriggerControl(rt.deps)
        arn = rt.triggers.alarm_arn("primary-down")
        created = control.put_trigger(ADMIN, {"id": "primary", "planId": "retail", "alarmArns": [arn], "armed": True})
        assert created["armed"] is False  # whatever the body says
        rt.triggers.set_alarm("primary-down", "ALARM")
        rt.triggers.run_for(timedelta(minutes=10))
        assert [s["reason"] for s in watcher.of("Failover Suppressed")] == ["DISARMED"]
        control.arm(ADMIN, "primary")
        rt.triggers.run_for(timedelta(seconds=1))  # the trail is ordered by time (to the millisecond)
        control.arm(ADMIN, "primary", armed=False)
        actions = [(e["actor"], e["action"]) for e in control.audit_trail(ADMIN)]
        assert actions == [("alice", "create trigger"), ("alice", "arm trigger"), ("alice", "disarm trigger")]


# ------------------------------------------------------------------------------------------------ every start path


def test_a_retry_runs_preflight_and_is_refused_with_every_problem_of_the_retried_waves(scenario: Any) -> None:
    # GIVEN an execution whose db wave failed (a launch failure), and db's server since stopped replicating
    scenario.plan("retail", {"id": "db", "servers": [{"failAt": "LAUNCH"}]}, {"id": "web", "servers": 1})
    with scenario.run() as rt:
        execution_id = rt.request_execution("retail")
        finish(rt, execution_id)
        assert rt.execution(execution_id).waves["db"].status is WaveStatus.FAILED
        (server,) = scenario.servers_of("retail", "db")
        rt.drs._servers[server].replication_state = "STALLED"
        # WHEN an operator retries the failed wave
        plane = ControlPlane(rt.deps)
        try:
            plane.retry_wave(ADMIN, execution_id, "db")
        except PreflightFailed as err:
            refused = err
        else:
            raise AssertionError("the retry was not refused")
        # THEN pre-flight refused it, naming the server, and nothing was requested
        assert [d.get("sourceServerId") for d in refused.details] == [server]
        assert len(rt.deps.store.active_execution_ids()) == 0


# ------------------------------------------------------------------------------------------------ drill freshness


def test_drill_overdue_fires_once_when_the_last_successful_drill_is_older_than_drill_every_days(scenario: Any) -> None:
    # GIVEN a plan that wants a successful drill every 2 days, drilled once today
    scenario.plan("retail", {"id": "db", "servers": 1})
    with scenario.run() as rt:
        watcher, drain = Watcher(rt), notifications(rt)
        plan = rt.deps.store.get_plan("retail")
        assert plan is not None
        rt.deps.store.put_plan(plan.model_copy(update={"drill_every_days": 2}))
        drill = rt.request_execution("retail")
        finish(rt, drill)
        control = TriggerControl(rt.deps)
        assert control.freshness(ADMIN, "retail")["overdue"] is False
        # WHEN the tick runs within the two days, then after them, then again
        rt.triggers.run_for(timedelta(days=1))
        assert rt.triggers.tick()["overdue"] == []
        rt.triggers.run_for(timedelta(days=1, hours=1))
        first, again = rt.triggers.tick(), rt.triggers.tick()
        # THEN Drill Overdue fired once, naming the last drill, and the API shows its age
        assert first["overdue"] == ["retail"] and again["overdue"] == []
        (overdue,) = watcher.of("Drill Overdue")
        assert overdue["executionId"] == drill and overdue["drillEveryDays"] == 2
        view = control.freshness(ADMIN, "retail")
        assert view["overdue"] is True and view["lastDrillExecutionId"] == drill and view["ageDays"] > 2
        rt.triggers.run_for(timedelta(seconds=5))
        assert [n["eventType"] for n in drain()].count("Drill Overdue") == 1


def test_schedules_and_triggers_by_direct_invocation(scenario: Any) -> None:
    from drwave.handlers import invoke  # noqa: PLC0415
    from drwave_local.runtime.embedded import _LambdaContext  # noqa: PLC0415

    scenario.plan("retail", {"id": "db", "servers": 1})
    with scenario.run() as rt:
        data = lambda p: invoke.data_management(p, _LambdaContext("DataManagementFunction", "t"), deps=rt.deps)  # noqa: E731
        query = lambda p: invoke.query(p, _LambdaContext("QueryFunction", "t"), deps=rt.deps)  # noqa: E731
        bad = data({"operation": "create_drill_schedule", "id": "n", "planId": "retail", "scheduleExpression": "x"})
        assert bad["error"] == "INVALID_PARAMETER" and "scheduleExpression" in bad["message"]
        ok = data(
            {"operation": "create_drill_schedule", "id": "n", "planId": "retail", "scheduleExpression": "rate(1 day)"}
        )
        assert ok["nextFireAt"] == "2026-01-06T09:00:00.000Z"
        arn = rt.triggers.alarm_arn("primary-down")
        data({"operation": "create_failover_trigger", "id": "p", "planId": "retail", "alarmArns": [arn]})
        assert data({"operation": "arm_failover_trigger", "triggerId": "p"})["armed"] is True
        listed = query({"operation": "list_failover_triggers"})["items"]
        assert [(t["id"], t["armed"]) for t in listed] == [("p", True)]
        assert query({"operation": "list_drill_schedules"})["items"][0]["id"] == "n"


def test_the_trigger_function_takes_aws_own_alarm_event_of_another_region(scenario: Any) -> None:
    from pathlib import Path  # noqa: PLC0415

    from drwave.handlers import trigger as trigger_function  # noqa: PLC0415
    from drwave.handlers.common import InvalidEvent  # noqa: PLC0415
    from drwave_local.runtime.embedded import _LambdaContext  # noqa: PLC0415

    context = _LambdaContext("TriggerFunction", "t")

    sample = Path(__file__).resolve().parents[2] / "events" / "aws" / "cloudwatch-alarm-state-change.json"
    event = json.loads(sample.read_text())
    scenario.plan("retail", {"id": "db", "servers": 1})
    with scenario.run() as rt:
        control = TriggerControl(rt.deps)
        control.put_trigger(
            ADMIN,
            {
                "id": "west",
                "planId": "retail",
                "alarmArns": event["resources"],
                "sustainMinutes": 0,
                "mode": "AUTOMATIC",
            },
        )
        control.arm(ADMIN, "west")
        # WHEN AWS's sample event (us-west-2, CloudWatch's own timestamp format) reaches the function
        (decision,) = trigger_function.handler(event, context, rt.deps)["decisions"]
        # THEN the trigger fires for the episode that began at the alarm's state time
        assert decision["verdict"] == "TRIGGER"
        assert decision["executionId"] == "failover-west-20260105T085500Z"
        # AND a redelivery of the same event decides nothing more
        assert trigger_function.handler(event, context, rt.deps)["decisions"][0]["verdict"] == "NONE"
        # AND an event without the alarm's ARN is refused as invalid
        with pytest.raises(InvalidEvent, match="resources"):
            trigger_function.handler({**event, "resources": []}, context, rt.deps)
