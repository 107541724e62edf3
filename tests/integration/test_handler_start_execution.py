"""start_execution handler in the local runtime: snapshot the plan, open the first waves, exactly once."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from drwave.handlers.common import InvalidEvent
from drwave.models.execution import ExecutionStatus, ExecutionType, WaveStatus


def test_request_creates_a_running_execution_and_asks_to_launch_its_first_wave(harness, one_wave, sid):
    # GIVEN a one-wave plan over three servers
    h = harness(one_wave([sid(1), sid(2), sid(3)]))
    # WHEN the execution is requested
    outcome = h.request("exe-0001")
    # THEN it runs, its wave is launching, and the start and launch request are published
    assert outcome == {"executionId": "exe-0001", "status": "RUNNING"}
    execution = h.execution("exe-0001")
    assert execution.status is ExecutionStatus.RUNNING
    assert execution.execution_type is ExecutionType.DRILL
    assert (execution.account_id, execution.region) == ("111122223333", "us-east-1")
    assert execution.waves["app"].status is WaveStatus.LAUNCHING
    assert h.bus.detail_types() == ["Execution Started", "Wave Start Requested"]
    assert h.bus.of("Wave Start Requested") == [{"schemaVersion": "1", "executionId": "exe-0001", "waveId": "app"}]
    # AND no DRS call was made: launching is start_wave's job
    assert sum(h.drs_calls.values()) == 0


def test_execution_keeps_a_snapshot_of_the_plan_later_edits_do_not_change_it(harness, one_wave, sid):
    # GIVEN a started execution
    h = harness(one_wave([sid(1)]))
    h.request("exe-0001")
    # WHEN the plan is edited afterwards
    edited = h.rt.deps.store.get_plan("plan-it")
    edited.name = "Edited after the start"
    h.rt.deps.store.put_plan(edited)
    # THEN the execution still holds the plan it started with
    assert h.execution("exe-0001").plan.name == "Integration plan"


def test_duplicate_request_is_a_no_op(harness, one_wave, sid):
    # GIVEN an execution that was already requested
    h = harness(one_wave([sid(1), sid(2)]))
    h.request("exe-0001")
    before = h.stored("exe-0001")
    published = list(h.bus.events)
    # WHEN the same request is delivered again
    outcome = h.request("exe-0001")
    # THEN it reports the same execution, nothing was written and nothing more published
    assert outcome == {"executionId": "exe-0001", "status": "RUNNING"}
    assert h.stored("exe-0001") == before
    assert h.bus.events == published
    assert h.drs_calls["StartRecovery"] == 0


def test_request_for_an_unknown_plan_is_answered_not_found_and_stores_nothing(harness, one_wave, sid):
    # GIVEN no plan "nope"
    h = harness(one_wave([sid(1)]))
    # WHEN an execution of it is requested
    outcome = h.request("exe-0001", plan_id="nope")
    # THEN the outcome names the field and the plan, and no execution exists
    assert outcome == {"error": "NOT_FOUND", "message": "planId: no recovery plan 'nope'"}
    assert h.rt.deps.store.load_execution("exe-0001") is None
    assert h.bus.events == []


def test_plan_whose_protection_group_was_deleted_is_not_runnable(harness, one_wave, sid):
    # GIVEN a stored plan referencing a group that is not stored
    h = harness(one_wave([sid(1)]))
    plan = h.rt.deps.store.get_plan("plan-it")
    plan.waves[0].protection_group_ids = ["pg-gone"]
    h.rt.deps.store.put_plan(plan)
    # WHEN it is requested THEN INVALID_PLAN names the wave's field and the group, and nothing is stored
    outcome = h.request("exe-0001")
    assert outcome["error"] == "INVALID_PLAN"
    assert "waves[0].protectionGroupIds" in outcome["message"]
    assert "pg-gone" in outcome["message"]
    assert h.rt.deps.store.load_execution("exe-0001") is None


@pytest.mark.parametrize(
    ("detail", "field"),
    [
        ({"executionId": "exe-0001", "planId": "plan-it"}, "executionType"),
        ({"executionId": "exe-0001", "planId": "plan-it", "executionType": "PARTY"}, "executionType"),
        ({"planId": "plan-it", "executionType": "DRILL"}, "executionId"),
        ({"executionId": "", "planId": "plan-it", "executionType": "DRILL"}, "executionId"),
        ({"executionId": "exe-0001", "planId": "plan-it", "executionType": "DRILL", "extra": 1}, "extra"),
    ],
)
def test_invalid_request_raises_validation_error_naming_the_field_and_stores_nothing(
    harness, one_wave, sid, detail, field
):
    # GIVEN a plan
    h = harness(one_wave([sid(1)]))
    # WHEN a request breaking the contract arrives
    with pytest.raises(ValidationError) as error:
        h.send("start_execution", detail, "Execution Requested")
    # THEN the error names the offending field and no execution was created
    assert field in str(error.value)
    assert h.rt.deps.store.load_execution(detail.get("executionId") or "exe-0001") is None
    assert h.bus.events == []


def test_invalid_request_for_an_existing_execution_leaves_it_unchanged(harness, one_wave, sid):
    # GIVEN a running execution
    h = harness(one_wave([sid(1)]))
    h.request("exe-0001")
    before = h.stored("exe-0001")
    # WHEN a malformed duplicate arrives THEN it is refused and the stored execution is untouched
    with pytest.raises(ValidationError, match="executionType"):
        h.send("start_execution", {"executionId": "exe-0001", "planId": "plan-it"}, "Execution Requested")
    assert h.stored("exe-0001") == before


def test_event_without_a_detail_object_is_an_invalid_event(harness, one_wave, sid):
    # GIVEN an envelope whose detail is not an object WHEN delivered THEN InvalidEvent names "detail"
    h = harness(one_wave([sid(1)]))
    event = h.envelope("drwave", "Execution Requested", {})
    event["detail"] = "exe-0001"
    with pytest.raises(InvalidEvent, match="detail: missing or not an object"):
        h.invoke("start_execution", event)
