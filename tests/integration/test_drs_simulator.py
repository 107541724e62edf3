"""The DRS simulator behind a real boto3 drs client: shapes, timeline, quotas, pagination, faults."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ParamValidationError
from moto import mock_aws

from drwave_local.runtime.clock import VirtualClock
from drwave_local.simulators.drs import (
    DrsSimulator,
    ServerTimeline,
    SimulatedSourceServer,
)

# Default timeline: job starts 5 s after creation, then 60 s snapshot, 240 s conversion, 120 s launch.
START = 5
SNAPSHOT_END = START + 60
CONVERSION_END = SNAPSHOT_END + 240
LAUNCH_END = CONVERSION_END + 120


def sid(n: int) -> str:
    """A valid source server id: s- and 17 alphanumerics."""
    return f"s-{n:017d}"


def new_client() -> Any:
    """A real boto3 drs client; retries off so injected faults surface and nothing sleeps."""
    return boto3.client(
        "drs",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"total_max_attempts": 1}),
    )


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def events() -> list[dict[str, Any]]:
    return []


@pytest.fixture
def make_sim(clock: VirtualClock, events: list[dict[str, Any]]) -> Callable[..., tuple[DrsSimulator, Any]]:
    """Build a simulator with `servers` plain source servers and a client attached to it."""

    def make(servers: int = 0, **kwargs: Any) -> tuple[DrsSimulator, Any]:
        sim = DrsSimulator(clock, emit_event=events.append, **kwargs)
        for n in range(servers):
            sim.add_source_server(SimulatedSourceServer(sid(n), hostname=f"host-{n}"))
        client = new_client()
        sim.attach(client)
        return sim, client

    return make


def at(clock: VirtualClock, t0: datetime, seconds: float) -> None:
    """Advance the virtual clock to `seconds` after `t0`."""
    clock.advance_to(t0 + timedelta(seconds=seconds))


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def start(client: Any, *ids: str, is_drill: bool = False) -> dict[str, Any]:
    """StartRecovery for the given servers; returns the job."""
    response = client.start_recovery(sourceServers=[{"sourceServerID": i} for i in ids], isDrill=is_drill)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 202
    job: dict[str, Any] = response["job"]
    return job


def job_now(client: Any, job_id: str) -> dict[str, Any]:
    job: dict[str, Any] = client.describe_jobs(filters={"jobIDs": [job_id]})["items"][0]
    return job


def statuses(job: dict[str, Any]) -> dict[str, str]:
    return {s["sourceServerID"]: s["launchStatus"] for s in job["participatingServers"]}


# --- request validation and transport ------------------------------------------------------------


def test_botocore_rejects_start_recovery_without_source_servers_before_the_simulator_sees_it(make_sim):
    # GIVEN a client attached to the simulator
    sim, client = make_sim(servers=1)
    # WHEN StartRecovery is called without the required sourceServers
    # THEN botocore's own validation raises and no request reaches the simulator
    with pytest.raises(ParamValidationError):
        client.start_recovery(isDrill=True)
    with pytest.raises(ParamValidationError):
        client.start_recovery(sourceServers=[])  # the model requires at least one
    assert sum(sim.calls.values()) == 0


def test_unsupported_operations_answer_validation_exception_without_network(make_sim):
    # GIVEN a client attached to the simulator
    sim, client = make_sim(servers=1)
    # WHEN operations the simulator does not implement are called
    # THEN each raises ValidationException naming the operation, and the call is counted
    with pytest.raises(client.exceptions.ValidationException) as error:
        client.get_replication_configuration(sourceServerID=sid(0))
    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert "operation not supported by the drwave DRS simulator: GetReplicationConfiguration" in str(error.value)
    assert error.value.response["reason"] == "unknownOperation"
    with pytest.raises(client.exceptions.ValidationException):
        client.list_tags_for_resource(resourceArn=f"arn:aws:drs:us-east-1:123456789012:source-server/{sid(0)}")
    assert sim.calls["GetReplicationConfiguration"] == 1
    assert sim.calls["ListTagsForResource"] == 1


def test_attach_twice_serves_each_call_once(make_sim):
    # GIVEN a simulator attached twice to the same client
    sim, client = make_sim(servers=1)
    sim.attach(client)
    # WHEN one call is made
    client.describe_jobs()
    # THEN the simulator counted it once
    assert sim.calls["DescribeJobs"] == 1


def test_simulator_answers_inside_moto_mock_aws(clock):
    # GIVEN moto's global before-send hook is active (it answers 404 for services it lacks, like drs)
    with mock_aws():
        sim = DrsSimulator(clock)
        sim.add_source_server(SimulatedSourceServer(sid(0)))
        client = boto3.client("drs", region_name="us-east-1")
        sim.attach(client)
        # WHEN a recovery is started and described
        job = start(client, sid(0))
        # THEN the simulator, not moto, answered
        assert job_now(client, job["jobID"])["status"] == "PENDING"
        assert sim.calls["StartRecovery"] == 1


def test_attach_refuses_a_client_of_another_region(clock):
    # GIVEN a simulator for us-east-1
    sim = DrsSimulator(clock)
    other = boto3.client("drs", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    # WHEN it is attached to a eu-west-1 client THEN it refuses rather than answer with wrong ARNs
    with pytest.raises(ValueError, match="region"):
        sim.attach(other)


# --- job timeline --------------------------------------------------------------------------------


def test_job_goes_pending_started_completed_as_virtual_time_advances(make_sim, clock):
    # GIVEN two servers with the default timeline
    _, client = make_sim(servers=2)
    t0 = clock.now()
    # WHEN a drill starts
    job = start(client, sid(0), sid(1), is_drill=True)
    # THEN it is PENDING with its identity in DRS's formats
    assert job["status"] == "PENDING"
    assert job["type"] == "LAUNCH"
    assert job["initiatedBy"] == "START_DRILL"
    assert job["jobID"].startswith("drsjob-")
    assert len(job["jobID"]) == 24
    assert job["arn"] == f"arn:aws:drs:us-east-1:123456789012:job/{job['jobID']}"
    assert job["creationDateTime"] == iso(t0)
    assert job["creationDateTime"].endswith("Z")
    assert set(statuses(job).values()) == {"PENDING"}
    assert "endDateTime" not in job
    # WHEN the start delay has passed THEN it is STARTED and its servers IN_PROGRESS
    at(clock, t0, START)
    job = job_now(client, job["jobID"])
    assert job["status"] == "STARTED"
    assert set(statuses(job).values()) == {"IN_PROGRESS"}
    # WHEN just before the launches end THEN it is still STARTED
    at(clock, t0, LAUNCH_END - 1)
    assert job_now(client, job["jobID"])["status"] == "STARTED"
    # WHEN the launches end THEN it is COMPLETED with an end time and recovery instances
    at(clock, t0, LAUNCH_END)
    job = job_now(client, job["jobID"])
    assert job["status"] == "COMPLETED"
    assert job["endDateTime"] == iso(t0 + timedelta(seconds=LAUNCH_END))
    assert set(statuses(job).values()) == {"LAUNCHED"}
    for server in job["participatingServers"]:
        assert server["recoveryInstanceID"].startswith("i-")
        assert len(server["recoveryInstanceID"]) == 19


def test_recovery_not_drill_is_initiated_by_start_recovery(make_sim):
    # GIVEN a server WHEN a real recovery (not a drill) starts THEN DRS records START_RECOVERY
    _, client = make_sim(servers=1)
    assert start(client, sid(0), is_drill=False)["initiatedBy"] == "START_RECOVERY"


def test_completed_job_contains_failed_servers_that_failed_in_their_phase(make_sim, clock):
    # GIVEN one healthy server and one failing in each phase
    sim, client = make_sim(servers=1)
    for n, phase in ((1, "SNAPSHOT"), (2, "CONVERSION"), (3, "LAUNCH")):
        sim.add_source_server(SimulatedSourceServer(sid(n), fail_at=phase))
    t0 = clock.now()
    job = start(client, sid(0), sid(1), sid(2), sid(3))
    # WHEN the snapshot phase ends THEN only the snapshot failure is final
    at(clock, t0, SNAPSHOT_END)
    assert statuses(job_now(client, job["jobID"])) == {
        sid(0): "IN_PROGRESS",
        sid(1): "FAILED",
        sid(2): "IN_PROGRESS",
        sid(3): "IN_PROGRESS",
    }
    # WHEN the conversion phase ends THEN the conversion failure is final too
    at(clock, t0, CONVERSION_END)
    assert statuses(job_now(client, job["jobID"]))[sid(2)] == "FAILED"
    # WHEN every server is done THEN the job is COMPLETED although three servers FAILED
    at(clock, t0, LAUNCH_END)
    done = job_now(client, job["jobID"])
    assert done["status"] == "COMPLETED"
    assert statuses(done) == {sid(0): "LAUNCHED", sid(1): "FAILED", sid(2): "FAILED", sid(3): "FAILED"}
    assert [s.get("recoveryInstanceID") is not None for s in done["participatingServers"]] == [
        True,
        False,
        False,
        False,
    ]
    assert sim.ground_truth() == {job["jobID"]: statuses(done)}


def test_job_completes_early_when_every_server_fails_early(make_sim, clock):
    # GIVEN a single server failing at snapshot
    sim, client = make_sim()
    sim.add_source_server(SimulatedSourceServer(sid(0), fail_at="SNAPSHOT"))
    t0 = clock.now()
    job = start(client, sid(0))
    # WHEN its snapshot phase ends THEN the job is COMPLETED at that time
    at(clock, t0, SNAPSHOT_END)
    done = job_now(client, job["jobID"])
    assert done["status"] == "COMPLETED"
    assert done["endDateTime"] == iso(t0 + timedelta(seconds=SNAPSHOT_END))


def test_per_server_timeline_overrides_the_default(make_sim, clock):
    # GIVEN a server with a short custom timeline next to a default one
    sim, client = make_sim(servers=1)
    sim.add_source_server(SimulatedSourceServer(sid(1), timeline=ServerTimeline(10, 20, 30)))
    t0 = clock.now()
    job = start(client, sid(0), sid(1))
    # WHEN the short timeline ends THEN that server is LAUNCHED while the other is still running
    at(clock, t0, START + 60)
    assert statuses(job_now(client, job["jobID"])) == {sid(0): "IN_PROGRESS", sid(1): "LAUNCHED"}


# --- job log -------------------------------------------------------------------------------------


def test_job_log_items_are_in_time_order_and_only_up_to_now(make_sim, clock):
    # GIVEN a job with a healthy server and one that fails at launch
    sim, client = make_sim(servers=1)
    sim.add_source_server(SimulatedSourceServer(sid(1), fail_at="LAUNCH"))
    t0 = clock.now()
    job_id = start(client, sid(0), sid(1))["jobID"]
    # WHEN nothing has started THEN the log is empty
    assert client.describe_job_log_items(jobID=job_id)["items"] == []
    # WHEN the snapshot phase is under way THEN only the start items are visible
    at(clock, t0, START + 30)
    items = client.describe_job_log_items(jobID=job_id)["items"]
    assert [i["event"] for i in items] == ["JOB_START", "SNAPSHOT_START", "SNAPSHOT_START"]
    # WHEN the job is over THEN the whole log is there, in time order
    at(clock, t0, LAUNCH_END)
    items = [i for page in client.get_paginator("describe_job_log_items").paginate(jobID=job_id) for i in page["items"]]
    times = [i["logDateTime"] for i in items]
    assert times == sorted(times)
    assert all(t.endswith("Z") for t in times)
    assert items[0]["event"] == "JOB_START"
    assert items[-1]["event"] == "JOB_END"
    assert items[-1]["logDateTime"] == iso(t0 + timedelta(seconds=LAUNCH_END))
    per_server = {s: [i["event"] for i in items if i["eventData"].get("sourceServerID") == s] for s in (sid(0), sid(1))}
    assert per_server[sid(0)] == [
        "SNAPSHOT_START",
        "SNAPSHOT_END",
        "CONVERSION_START",
        "CONVERSION_END",
        "LAUNCH_START",
    ]
    assert per_server[sid(1)] == [*per_server[sid(0)], "LAUNCH_FAILED"]
    by_event = {(i["event"], i["eventData"]["sourceServerID"]): i for i in items if i["eventData"]}
    assert by_event[("CONVERSION_START", sid(0))]["eventData"]["conversionServerID"].startswith("i-")
    launched = job_now(client, job_id)["participatingServers"][0]["recoveryInstanceID"]
    assert by_event[("LAUNCH_START", sid(0))]["eventData"]["targetInstanceID"] == launched
    assert by_event[("LAUNCH_FAILED", sid(1))]["eventData"]["rawError"]
    assert by_event[("LAUNCH_FAILED", sid(1))]["logDateTime"] == iso(t0 + timedelta(seconds=LAUNCH_END))


def test_job_log_items_paginate_with_max_results(make_sim, clock):
    # GIVEN a completed single-server job (7 log items)
    _, client = make_sim(servers=1)
    t0 = clock.now()
    job_id = start(client, sid(0))["jobID"]
    at(clock, t0, LAUNCH_END)
    # WHEN it is read two items at a time THEN the pages join into the full log
    first = client.describe_job_log_items(jobID=job_id, maxResults=2)
    assert len(first["items"]) == 2
    assert first["nextToken"]
    full = client.describe_job_log_items(jobID=job_id)["items"]
    pages = client.get_paginator("describe_job_log_items").paginate(jobID=job_id, PaginationConfig={"PageSize": 2})
    assert [i for page in pages for i in page["items"]] == full
    assert len(full) == 7


def test_job_log_items_of_an_unknown_job_are_not_found(make_sim):
    # GIVEN no jobs WHEN the log of an unknown job is read THEN ResourceNotFoundException
    _, client = make_sim()
    with pytest.raises(client.exceptions.ResourceNotFoundException) as error:
        client.describe_job_log_items(jobID="drsjob-00000000000000000")
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


# --- launch-result events ------------------------------------------------------------------------


def test_launch_result_events_have_aws_shape_and_fire_when_each_launch_ends(make_sim, clock, events):
    # GIVEN a drill with a healthy server and one failing at conversion
    sim, client = make_sim(servers=1)
    sim.add_source_server(SimulatedSourceServer(sid(1), fail_at="CONVERSION"))
    t0 = clock.now()
    job_id = start(client, sid(0), sid(1), is_drill=True)["jobID"]
    # WHEN time reaches just before the conversion ends THEN nothing was emitted
    at(clock, t0, CONVERSION_END - 1)
    assert events == []
    # WHEN the conversion ends THEN the failure event is emitted at that virtual time
    at(clock, t0, CONVERSION_END)
    assert len(events) == 1
    # WHEN the launch ends THEN the success event follows
    at(clock, t0, LAUNCH_END)
    assert len(events) == 2
    failed, succeeded = events
    for event, server, state, seconds in (
        (failed, sid(1), "RECOVERY_LAUNCH_FAILED", CONVERSION_END),
        (succeeded, sid(0), "RECOVERY_LAUNCH_SUCCEEDED", LAUNCH_END),
    ):
        assert event == {
            "version": "0",
            "id": event["id"],
            "detail-type": "DRS Source Server Launch Result",
            "source": "aws.drs",
            "account": "123456789012",
            "time": (t0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": "us-east-1",
            "resources": [f"arn:aws:drs:us-east-1:123456789012:source-server/{server}"],
            "detail": {"state": state, "job-id": job_id, "is-drill": "TRUE"},
        }
    assert failed["id"] != succeeded["id"]
    assert sim.launch_result_events_lost() == []


def test_recovery_events_say_is_drill_false(make_sim, clock, events):
    # GIVEN a real recovery WHEN it ends THEN its event carries the string "FALSE"
    _, client = make_sim(servers=1)
    start(client, sid(0), is_drill=False)
    at(clock, clock.now(), LAUNCH_END)
    assert events[0]["detail"]["is-drill"] == "FALSE"


def test_dropped_launch_result_events_are_recorded_instead_of_emitted(make_sim, clock, events):
    # GIVEN best-effort delivery that drops every event
    sim, client = make_sim(servers=3, lose_launch_results=1.0)
    t0 = clock.now()
    job_id = start(client, sid(0), sid(1), sid(2))["jobID"]
    # WHEN the launches end
    at(clock, t0, LAUNCH_END)
    # THEN nothing was emitted, every event is in the lost list, and the API still tells the truth
    assert events == []
    lost = sim.launch_result_events_lost()
    assert sorted(e["resources"][0].rsplit("/", 1)[1] for e in lost) == [sid(0), sid(1), sid(2)]
    assert {e["detail"]["job-id"] for e in lost} == {job_id}
    assert set(statuses(job_now(client, job_id)).values()) == {"LAUNCHED"}


def test_partial_event_loss_splits_events_between_emitted_and_lost(make_sim, clock, events):
    # GIVEN a 50 % loss rate over 40 servers
    sim, client = make_sim(servers=40, lose_launch_results=0.5)
    start(client, *(sid(n) for n in range(40)))
    # WHEN all launches end THEN each event is either emitted or lost, and both happen
    at(clock, clock.now(), LAUNCH_END)
    lost = sim.launch_result_events_lost()
    assert len(events) + len(lost) == 40
    assert events
    assert lost


# --- conflicts and quotas ------------------------------------------------------------------------


def test_server_in_an_active_job_conflicts_until_that_job_completes(make_sim, clock):
    # GIVEN a server in a running job
    sim, client = make_sim(servers=2)
    t0 = clock.now()
    start(client, sid(0))
    # WHEN it is recovered again while the job is active THEN ConflictException (409) and no job is created
    for seconds in (0, START + 1):
        at(clock, t0, seconds)
        with pytest.raises(client.exceptions.ConflictException) as error:
            start(client, sid(1), sid(0))
        assert error.value.response["Error"]["Code"] == "ConflictException"
        assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
        assert error.value.response["resourceId"] == sid(0)
    assert len(sim.jobs) == 1
    # WHEN the job has completed THEN the server can be recovered again
    at(clock, t0, LAUNCH_END)
    assert start(client, sid(0))["status"] == "PENDING"


def test_more_than_100_servers_in_one_job_exceed_the_quota(make_sim):
    # GIVEN 101 servers
    sim, client = make_sim(servers=101)
    # WHEN all are put in one job THEN ServiceQuotaExceededException (402), even though the shape allows 200
    with pytest.raises(client.exceptions.ServiceQuotaExceededException) as error:
        start(client, *(sid(n) for n in range(101)))
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 402
    # AND 100 servers are fine
    assert len(start(client, *(sid(n) for n in range(100)))["participatingServers"]) == 100
    assert len(sim.jobs) == 1


def test_server_count_quota_is_checked_before_unknown_servers(make_sim):
    # GIVEN no servers at all WHEN 101 unknown servers are requested THEN the quota error comes first
    _, client = make_sim()
    with pytest.raises(client.exceptions.ServiceQuotaExceededException):
        start(client, *(sid(n) for n in range(101)))


def test_unknown_source_server_is_a_validation_error_naming_source_servers(make_sim):
    # GIVEN one known server WHEN a job names an unknown one THEN ValidationException with fieldList
    sim, client = make_sim(servers=1)
    with pytest.raises(client.exceptions.ValidationException) as error:
        start(client, sid(0), sid(99))
    response = error.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["reason"] == "fieldValidationFailed"
    assert [f["name"] for f in response["fieldList"]] == ["sourceServers"]
    assert sim.jobs == {}


def test_twenty_first_concurrent_job_exceeds_the_quota_until_one_completes(make_sim, clock):
    # GIVEN 20 active single-server jobs
    _, client = make_sim(servers=21)
    t0 = clock.now()
    for n in range(20):
        start(client, sid(n))
    # WHEN a 21st job is started THEN ServiceQuotaExceededException
    with pytest.raises(client.exceptions.ServiceQuotaExceededException) as error:
        start(client, sid(20))
    assert "20" in error.value.response["Error"]["Message"]
    # WHEN the 20 jobs complete THEN it is accepted
    at(clock, t0, LAUNCH_END)
    start(client, sid(20))


def test_more_than_500_servers_across_active_jobs_exceed_the_quota(make_sim):
    # GIVEN five active jobs of 100 servers each
    _, client = make_sim(servers=501)
    for batch in range(5):
        start(client, *(sid(n) for n in range(batch * 100, batch * 100 + 100)))
    # WHEN one more server is started THEN ServiceQuotaExceededException
    with pytest.raises(client.exceptions.ServiceQuotaExceededException) as error:
        start(client, sid(500))
    assert "500" in error.value.response["Error"]["Message"]


# --- source servers ------------------------------------------------------------------------------


def test_describe_source_servers_pages_250_servers_100_at_a_time(make_sim):
    # GIVEN 250 servers
    _, client = make_sim(servers=250)
    # WHEN they are listed with maxResults 100, following nextToken
    sizes, seen, token = [], [], None
    while True:
        kwargs = {"maxResults": 100, **({"nextToken": token} if token else {})}
        page = client.describe_source_servers(**kwargs)
        sizes.append(len(page["items"]))
        seen += [s["sourceServerID"] for s in page["items"]]
        token = page.get("nextToken")
        if not token:
            break
    # THEN there are three pages and every server appears exactly once, in order
    assert sizes == [100, 100, 50]
    assert seen == [sid(n) for n in range(250)]


def test_describe_source_servers_paginator_collects_every_server(make_sim):
    # GIVEN 250 servers WHEN the botocore paginator walks them 100 at a time THEN all 250 come back
    _, client = make_sim(servers=250)
    pages = list(client.get_paginator("describe_source_servers").paginate(PaginationConfig={"PageSize": 100}))
    assert len(pages) == 3
    assert [s["sourceServerID"] for p in pages for s in p["items"]] == [sid(n) for n in range(250)]


def test_max_page_size_caps_pages_so_callers_must_follow_next_token(make_sim):
    # GIVEN a simulator whose pages hold at most 2 items and 5 servers
    sim, client = make_sim(servers=5)
    sim.max_page_size = 2
    # WHEN the servers are listed without maxResults THEN only the first page comes back
    page = client.describe_source_servers()
    assert len(page["items"]) == 2
    assert page["nextToken"]


def test_invalid_next_token_is_a_validation_error(make_sim):
    # GIVEN servers WHEN a made-up nextToken is sent THEN ValidationException naming nextToken
    _, client = make_sim(servers=3)
    with pytest.raises(client.exceptions.ValidationException) as error:
        client.describe_source_servers(nextToken="not-a-token")
    assert [f["name"] for f in error.value.response["fieldList"]] == ["nextToken"]


def test_source_server_shows_replication_state_and_last_launch(make_sim, clock):
    # GIVEN a tagged server that has never been launched
    sim, client = make_sim()
    server = SimulatedSourceServer(sid(0), hostname="web-1", tags={"wave": "1"})
    sim.add_source_server(server)

    def describe() -> dict[str, Any]:
        item: dict[str, Any] = client.describe_source_servers(filters={"sourceServerIDs": [sid(0)]})["items"][0]
        return item

    item = describe()
    # THEN it shows its identity, replication state and no launch yet
    assert item["arn"] == f"arn:aws:drs:us-east-1:123456789012:source-server/{sid(0)}"
    assert item["tags"] == {"wave": "1"}
    assert item["sourceProperties"]["identificationHints"]["hostname"] == "web-1"
    assert item["dataReplicationInfo"]["dataReplicationState"] == "CONTINUOUS"
    assert item["lastLaunchResult"] == "NOT_STARTED"
    assert "lastLaunch" not in item["lifeCycle"]
    # WHEN replication stalls THEN the new state is reported
    sim.set_replication_state(sid(0), "STALLED")
    assert describe()["dataReplicationInfo"]["dataReplicationState"] == "STALLED"
    # WHEN a drill is launched THEN the last launch is PENDING, then SUCCEEDED with its recovery instance
    t0 = clock.now()
    job = start(client, sid(0), is_drill=True)
    item = describe()
    assert item["lastLaunchResult"] == "PENDING"
    assert item["lifeCycle"]["lastLaunch"]["initiated"] == {
        "jobID": job["jobID"],
        "type": "DRILL",
        "apiCallDateTime": iso(t0),
    }
    at(clock, t0, LAUNCH_END)
    item = describe()
    assert item["lastLaunchResult"] == "SUCCEEDED"
    assert item["lifeCycle"]["lastLaunch"]["status"] == "LAUNCHED"
    assert item["recoveryInstanceId"] == job_now(client, job["jobID"])["participatingServers"][0]["recoveryInstanceID"]


def test_failed_launch_is_the_last_launch_result(make_sim, clock):
    # GIVEN a server that fails at launch WHEN its recovery ends THEN lastLaunchResult is FAILED
    sim, client = make_sim()
    sim.add_source_server(SimulatedSourceServer(sid(0), fail_at="LAUNCH"))
    start(client, sid(0))
    at(clock, clock.now(), LAUNCH_END)
    item = client.describe_source_servers()["items"][0]
    assert item["lastLaunchResult"] == "FAILED"
    assert "recoveryInstanceId" not in item


def test_source_servers_filter_by_id_and_staging_account(make_sim):
    # GIVEN two servers extended from staging accounts and one local
    sim, client = make_sim(servers=1)
    sim.add_source_server(SimulatedSourceServer(sid(1), staging_account_id="111111111111"))
    sim.add_source_server(SimulatedSourceServer(sid(2), staging_account_id="222222222222"))

    def ids(**filters: Any) -> list[str]:
        return [s["sourceServerID"] for s in client.describe_source_servers(filters=filters)["items"]]

    # WHEN filtered THEN only the matching servers come back; empty filters mean all
    assert ids(sourceServerIDs=[sid(0), sid(2)]) == [sid(0), sid(2)]
    assert ids(stagingAccountIDs=["222222222222"]) == [sid(2)]
    assert ids(sourceServerIDs=[], stagingAccountIDs=[]) == [sid(0), sid(1), sid(2)]


def test_adding_a_malformed_or_duplicate_server_is_refused(make_sim):
    # GIVEN a simulator WHEN bad servers are added THEN ValueError, before any API call could see them
    sim, _ = make_sim(servers=1)
    with pytest.raises(ValueError, match="17 alphanumerics"):
        sim.add_source_server(SimulatedSourceServer("s-123"))
    with pytest.raises(ValueError, match="duplicate"):
        sim.add_source_server(SimulatedSourceServer(sid(0)))
    with pytest.raises(ValueError, match="fail_at"):
        sim.add_source_server(SimulatedSourceServer(sid(1), fail_at="BOOT"))
    with pytest.raises(ValueError, match="replication state"):
        sim.set_replication_state(sid(0), "HEALTHY")


# --- jobs listing --------------------------------------------------------------------------------


def started_jobs(client: Any, clock: VirtualClock, count: int) -> list[str]:
    """Start `count` single-server jobs one minute apart; returns their ids oldest first."""
    ids = []
    for n in range(count):
        ids.append(start(client, sid(n))["jobID"])
        clock.advance_to(clock.now() + timedelta(minutes=1))
    return ids


def test_describe_jobs_lists_newest_first_and_paginates(make_sim, clock):
    # GIVEN five jobs created a minute apart
    _, client = make_sim(servers=5)
    created = started_jobs(client, clock, 5)
    # WHEN listed two at a time THEN pages come newest first and join into the full list
    first = client.describe_jobs(maxResults=2)
    assert [j["jobID"] for j in first["items"]] == created[::-1][:2]
    pages = client.get_paginator("describe_jobs").paginate(PaginationConfig={"PageSize": 2})
    assert [j["jobID"] for p in pages for j in p["items"]] == created[::-1]


def test_describe_jobs_pages_stay_stable_when_a_job_is_created_between_pages(make_sim, clock):
    # GIVEN three jobs and a first page of two
    _, client = make_sim(servers=4)
    created = started_jobs(client, clock, 3)
    first = client.describe_jobs(maxResults=2)
    # WHEN a new job is created before the next page is read
    start(client, sid(3))
    # THEN the next page continues with the oldest job, neither repeating nor skipping
    second = client.describe_jobs(maxResults=2, nextToken=first["nextToken"])
    assert [j["jobID"] for j in second["items"]] == [created[0]]
    assert "nextToken" not in second


def test_describe_jobs_filters_by_ids_and_creation_dates(make_sim, clock):
    # GIVEN three jobs created a minute apart
    _, client = make_sim(servers=3)
    t0 = clock.now()
    created = started_jobs(client, clock, 3)

    def ids(**filters: Any) -> list[str]:
        return [j["jobID"] for j in client.describe_jobs(filters=filters)["items"]]

    # WHEN filtered by id or by an inclusive date range THEN only those jobs come back
    assert ids(jobIDs=[created[0], created[2]]) == [created[2], created[0]]
    assert ids(fromDate=iso(t0 + timedelta(minutes=1))) == [created[2], created[1]]
    assert ids(toDate=iso(t0 + timedelta(minutes=1))) == [created[1], created[0]]
    assert ids(jobIDs=[]) == created[::-1]


# --- recovery instances --------------------------------------------------------------------------


def test_terminating_recovery_instances_runs_a_terminate_job_then_drops_them(make_sim, clock):
    # GIVEN two launched recovery instances
    sim, client = make_sim(servers=2)
    t0 = clock.now()
    start(client, sid(0), sid(1), is_drill=True)
    at(clock, t0, LAUNCH_END)
    instances = client.describe_recovery_instances()["items"]
    assert sorted(i["sourceServerID"] for i in instances) == [sid(0), sid(1)]
    assert {i["ec2InstanceState"] for i in instances} == {"RUNNING"}
    assert all(i["isDrill"] for i in instances)
    target = instances[0]["recoveryInstanceID"]
    # WHEN one is terminated THEN a TERMINATE job is created for it
    job = client.terminate_recovery_instances(recoveryInstanceIDs=[target])["job"]
    assert (job["type"], job["initiatedBy"], job["status"]) == ("TERMINATE", "TERMINATE_RECOVERY_INSTANCES", "PENDING")
    assert job["participatingServers"][0]["recoveryInstanceID"] == target
    # AND terminating it again conflicts
    with pytest.raises(client.exceptions.ConflictException):
        client.terminate_recovery_instances(recoveryInstanceIDs=[target])
    # WHEN the terminate job has started THEN the instance is shutting down
    at(clock, t0, LAUNCH_END + START)
    shutting = client.describe_recovery_instances(filters={"recoveryInstanceIDs": [target]})["items"]
    assert [i["ec2InstanceState"] for i in shutting] == ["SHUTTING-DOWN"]
    # WHEN the job has run THEN the server is TERMINATED and the instance is gone from DRS
    at(clock, t0, LAUNCH_END + 600)
    assert statuses(job_now(client, job["jobID"])) == {instances[0]["sourceServerID"]: "TERMINATED"}
    assert job_now(client, job["jobID"])["status"] == "COMPLETED"
    remaining = client.describe_recovery_instances()["items"]
    assert [i["recoveryInstanceID"] for i in remaining] == [instances[1]["recoveryInstanceID"]]
    assert client.describe_recovery_instances(filters={"recoveryInstanceIDs": [target]})["items"] == []
    assert sim.ground_truth()[job["jobID"]] == {instances[0]["sourceServerID"]: "TERMINATED"}


def test_recovery_instances_filter_by_source_server(make_sim, clock):
    # GIVEN two launched servers WHEN filtered by one source server THEN only its instance is returned
    _, client = make_sim(servers=2)
    start(client, sid(0), sid(1))
    at(clock, clock.now(), LAUNCH_END)
    items = client.describe_recovery_instances(filters={"sourceServerIDs": [sid(1)]})["items"]
    assert [i["sourceServerID"] for i in items] == [sid(1)]


# --- injected faults -----------------------------------------------------------------------------


def test_injected_throttling_raises_throttling_exception_then_recovers(make_sim):
    # GIVEN two throttled DescribeSourceServers calls
    sim, client = make_sim(servers=1)
    sim.inject_throttling("DescribeSourceServers", 2)
    # WHEN it is called THEN ThrottlingException (429) with Retry-After, twice
    for _ in range(2):
        with pytest.raises(client.exceptions.ThrottlingException) as error:
            client.describe_source_servers()
        response = error.value.response
        assert response["Error"]["Code"] == "ThrottlingException"
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 429
        assert response["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "1"
        assert response["retryAfterSeconds"] == "1"
    # THEN the third call succeeds, other operations were never throttled, and all calls are counted
    assert len(client.describe_source_servers()["items"]) == 1
    client.describe_jobs()
    assert sim.calls["DescribeSourceServers"] == 3
    assert sim.calls["DescribeJobs"] == 1


def test_injected_throttling_on_start_recovery_creates_no_job(make_sim):
    # GIVEN a throttled StartRecovery WHEN called THEN it raises and no job exists
    sim, client = make_sim(servers=1)
    sim.inject_throttling("StartRecovery", 1)
    with pytest.raises(client.exceptions.ThrottlingException):
        start(client, sid(0))
    assert sim.jobs == {}


def test_injected_internal_server_error_returns_500(make_sim):
    # GIVEN an injected InternalServerException WHEN the operation is called THEN boto3 raises it with 500
    sim, client = make_sim()
    sim.inject_error("DescribeJobs", "InternalServerException")
    with pytest.raises(client.exceptions.InternalServerException) as error:
        client.describe_jobs()
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert client.describe_jobs()["items"] == []


def test_injecting_an_unknown_error_code_is_refused(make_sim):
    # GIVEN a simulator WHEN a code that is not a DRS error shape is injected THEN ValueError
    sim, _ = make_sim()
    with pytest.raises(ValueError, match="not a drs error shape"):
        sim.inject_error("DescribeJobs", "TeapotException")


def test_default_client_retries_absorb_one_throttle(make_sim, monkeypatch):
    # GIVEN a client with botocore's default retries (its backoff sleep recorded, not slept) and one throttle
    delays: list[float] = []
    monkeypatch.setattr("botocore.endpoint.time", SimpleNamespace(sleep=delays.append))
    sim, _ = make_sim(servers=1)
    client = boto3.client("drs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    sim.attach(client)
    sim.inject_throttling("DescribeJobs", 1)
    # WHEN the operation is called THEN botocore retries and succeeds; the simulator saw both calls
    response = client.describe_jobs()
    assert response["ResponseMetadata"]["RetryAttempts"] == 1
    assert len(delays) == 1
    assert sim.calls["DescribeJobs"] == 2


# --- determinism ---------------------------------------------------------------------------------


def run_scenario(seed: int) -> tuple[list[str], list[tuple[str, str]], list[str], list[dict[str, Any]]]:
    """One jittered scenario on a fresh clock: job ids, log, instance ids and events."""
    clock = VirtualClock()
    events: list[dict[str, Any]] = []
    sim = DrsSimulator(clock, seed=seed, jitter=0.3, emit_event=events.append, lose_launch_results=0.3)
    for n in range(6):
        sim.add_source_server(SimulatedSourceServer(sid(n), fail_at="CONVERSION" if n == 2 else None))
    client = new_client()
    sim.attach(client)
    jobs = [start(client, sid(0), sid(1), sid(2))["jobID"], start(client, sid(3), sid(4), sid(5))["jobID"]]
    clock.advance_to(clock.now() + timedelta(hours=2))
    log = [(i["logDateTime"], i["event"]) for j in jobs for i in client.describe_job_log_items(jobID=j)["items"]]
    instances = [i["recoveryInstanceID"] for i in client.describe_recovery_instances()["items"]]
    return jobs, log, instances, events


def test_same_seed_reproduces_job_ids_timings_and_events():
    # GIVEN the same jittered scenario WHEN run twice with one seed THEN everything is identical
    assert run_scenario(seed=7) == run_scenario(seed=7)


def test_different_seeds_change_ids_and_jittered_timings():
    # GIVEN the same jittered scenario WHEN run with two seeds THEN ids and timings differ
    jobs_a, log_a, _, _ = run_scenario(seed=1)
    jobs_b, log_b, _, _ = run_scenario(seed=2)
    assert jobs_a != jobs_b
    assert [t for t, _ in log_a] != [t for t, _ in log_b]


def test_jitter_keeps_each_phase_within_its_bounds(clock):
    # GIVEN 30 % jitter on the default timeline
    sim = DrsSimulator(clock, seed=3, jitter=0.3)
    for n in range(20):
        sim.add_source_server(SimulatedSourceServer(sid(n)))
    client = new_client()
    sim.attach(client)
    # WHEN a job is planned THEN every phase lasts between 70 % and 130 % of its nominal duration
    job_id = start(client, *(sid(n) for n in range(20)))["jobID"]
    nominal = {"SNAPSHOT": 60.0, "CONVERSION": 240.0, "LAUNCH": 120.0}
    for run in sim.jobs[job_id].runs:
        for phase in run.phases:
            seconds = (phase.end - phase.start).total_seconds()
            assert 0.7 * nominal[phase.name] <= seconds <= 1.3 * nominal[phase.name]


def iter_all(client: Any, operation: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every item of a paginated operation."""
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page["items"]


def test_ground_truth_matches_what_the_api_reports(make_sim, clock):
    # GIVEN a mix of healthy and failing servers over two jobs
    sim, client = make_sim(servers=3)
    sim.add_source_server(SimulatedSourceServer(sid(3), fail_at="SNAPSHOT"))
    t0 = clock.now()
    start(client, sid(0), sid(3))
    start(client, sid(1), sid(2))
    # WHEN observed mid-run and at the end THEN ground truth equals the API's participating servers
    for seconds in (START + 100, LAUNCH_END):
        at(clock, t0, seconds)
        api = {j["jobID"]: statuses(j) for j in iter_all(client, "describe_jobs")}
        assert api == sim.ground_truth()
