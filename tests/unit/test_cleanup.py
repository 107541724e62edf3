"""Drill cleanup decisions (pure): which instances, in which batches, and the operator's changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from drwave.core import cleanup as rules
from drwave.models.cleanup import BatchStatus, CleanupStatus, DrillCleanup

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _cleanup(count: int) -> DrillCleanup:
    return DrillCleanup(
        execution_id="e",
        account_id="111122223333",
        region="us-east-1",
        ttl_minutes=60,
        notice_minutes=15,
        ended_at=T0,
        expires_at=T0 + timedelta(minutes=60),
        instance_ids=[f"i-{n:017x}" for n in range(count)],
    )


def test_450_drill_instances_are_terminated_in_batches_of_at_most_200():
    # GIVEN 450 instances DRS describes as this drill's
    cleanup = _cleanup(450)
    described = [{"recoveryInstanceID": i, "isDrill": True, "jobID": "drsjob-a"} for i in cleanup.instance_ids]
    # WHEN the batches are planned
    planned = rules.plan_batches(cleanup, described, {"drsjob-a"})
    # THEN three calls of 200, 200 and 50 are due
    assert [len(b.recovery_instance_ids) for b in planned.batches] == [200, 200, 50]
    assert planned.status is CleanupStatus.TERMINATING and planned.skipped == {}


def test_only_instances_drs_calls_drills_of_this_execution_s_jobs_are_chosen():
    # GIVEN four recorded instances: one a drill of ours, one not a drill, one of another job, one gone
    cleanup = _cleanup(4)
    ours, not_drill, other_job, gone = cleanup.instance_ids
    described = [
        {"recoveryInstanceID": ours, "isDrill": True, "jobID": "drsjob-a"},
        {"recoveryInstanceID": not_drill, "isDrill": False, "jobID": "drsjob-a"},
        {"recoveryInstanceID": other_job, "isDrill": True, "jobID": "drsjob-z"},
    ]
    # WHEN the batches are planned
    planned = rules.plan_batches(cleanup, described, {"drsjob-a"})
    # THEN only ours is terminated; each other one is skipped with its reason
    assert [b.recovery_instance_ids for b in planned.batches] == [[ours]]
    assert set(planned.skipped) == {not_drill, other_job, gone}
    assert "not a drill" in planned.skipped[not_drill]


def test_the_notice_and_the_termination_fall_due_in_order():
    cleanup = _cleanup(1)
    assert not rules.notice_due(cleanup, T0 + timedelta(minutes=44))
    assert rules.notice_due(cleanup, T0 + timedelta(minutes=45))
    assert not rules.termination_due(cleanup, T0 + timedelta(minutes=59))
    assert rules.termination_due(cleanup, T0 + timedelta(minutes=60))


def test_an_extension_pushes_the_expiry_and_rearms_the_notice_and_keep_stops_everything():
    # GIVEN a notified cleanup
    cleanup = _cleanup(1).model_copy(update={"notified_at": T0 + timedelta(minutes=45)})
    # WHEN bob extends it by 2 hours at minute 50, and then alice keeps it
    extended = rules.extend(cleanup, 120, "bob", T0 + timedelta(minutes=50))
    kept = rules.keep(extended, "alice")
    # THEN it expires 2 hours after the old expiry, will be warned again, and once kept is never due
    assert extended.expires_at == T0 + timedelta(minutes=180) and extended.notified_at is None
    assert extended.extensions and "bob +120 min" in extended.extensions[0]
    assert kept.status is CleanupStatus.KEPT and not rules.termination_due(kept, T0 + timedelta(days=30))
    with pytest.raises(ValueError, match="KEPT"):
        rules.extend(kept, 10, "carl", T0)


def test_a_refused_batch_fails_for_good_after_its_attempts_and_the_cleanup_ends():
    planned = rules.plan_batches(
        _cleanup(1), [{"recoveryInstanceID": "i-00000000000000000", "isDrill": True, "jobID": "j"}], {"j"}
    )
    for _ in range(rules.MAX_ATTEMPTS):
        planned = rules.record_batch(planned, 0, T0, error="AccessDeniedException: no")
    assert planned.batches[0].status is BatchStatus.FAILED and planned.status is CleanupStatus.DONE
    assert rules.summary(planned)["failed"] == 1
