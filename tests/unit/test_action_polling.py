"""Which SSM runs the tick asks SSM about: those whose status change is overdue (it may have been lost)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from drwave.core.actions import ACTION_POLL_AFTER, RunningAction, actions_to_poll
from drwave.models.execution import ActionRun, ActionStatus, Execution, WaveStatus
from drwave.models.plan import ActionType, Wave, WaveAction

T0 = datetime(2025, 3, 3, 9, 0, 0, tzinfo=UTC)


def with_runs(
    make_execution: Callable[..., Execution],
    *runs: ActionRun,
    timeout: int = 600,
    phase: WaveStatus = WaveStatus.PRE_ACTIONS,
) -> Execution:
    """An execution whose only wave is in an action phase with these runs (actions named after them)."""
    actions = [
        WaveAction(name=r.name, document_name="DR-Check", type=ActionType.AUTOMATION, timeout_seconds=timeout)
        for r in runs
    ]
    key = "pre_actions" if phase is WaveStatus.PRE_ACTIONS else "post_actions"
    execution = make_execution([Wave(id="w", protection_group_ids=["pg-app"], **{key: actions})])
    state = execution.waves["w"]
    state.status = phase
    state.action_runs("pre" if phase is WaveStatus.PRE_ACTIONS else "post").update({r.name: r for r in runs})
    return execution


def running(name: str, run_id: str | None = None, started_s: float = 0) -> ActionRun:
    return ActionRun(
        name=name,
        status=ActionStatus.RUNNING,
        command_id=run_id or f"id-{name}",
        started_at=T0 + timedelta(seconds=started_s),
    )


def test_a_run_is_asked_about_only_once_its_status_change_is_overdue(make_execution: Callable[..., Execution]) -> None:
    # GIVEN a run started at T0
    execution = with_runs(make_execution, running("a"))
    # WHEN the tick comes before and after ACTION_POLL_AFTER  THEN it is asked about only after
    assert actions_to_poll(execution, T0 + ACTION_POLL_AFTER - timedelta(seconds=1)) == []
    assert actions_to_poll(execution, T0 + ACTION_POLL_AFTER) == [
        RunningAction("w", "pre", "id-a", ActionType.AUTOMATION)
    ]


def test_a_run_with_a_short_timeout_is_asked_about_before_it_can_be_timed_out(
    make_execution: Callable[..., Execution],
) -> None:
    # GIVEN a post-action with a 45 s timeout
    execution = with_runs(make_execution, running("a"), timeout=45, phase=WaveStatus.POST_ACTIONS)
    # WHEN the tick comes at its timeout  THEN SSM is asked first (a timeout is never declared without asking)
    assert [r.phase for r in actions_to_poll(execution, T0 + timedelta(seconds=45))] == ["post"]


def test_finished_unsent_and_refused_runs_are_not_asked_about(make_execution: Callable[..., Execution]) -> None:
    # GIVEN a finished run, a claimed run not sent yet, and a run SSM refused to start
    done = ActionRun(name="done", status=ActionStatus.SUCCEEDED, command_id="id-done", started_at=T0)
    unsent = ActionRun(name="unsent", status=ActionStatus.RUNNING, command_id=None, started_at=T0)
    refused = running("refused", run_id="not-started:refused")
    execution = with_runs(make_execution, done, unsent, refused)
    # WHEN the tick comes much later  THEN none of them is asked about
    assert actions_to_poll(execution, T0 + timedelta(hours=1)) == []


def test_waves_outside_an_action_phase_are_not_asked_about(make_execution: Callable[..., Execution]) -> None:
    # GIVEN a run recorded on a wave that has moved on to launching
    execution = with_runs(make_execution, running("a"))
    execution.waves["w"].status = WaveStatus.LAUNCHING
    # THEN the tick does not ask SSM about it
    assert actions_to_poll(execution, T0 + timedelta(hours=1)) == []
