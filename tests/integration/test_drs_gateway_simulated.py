"""DrsGateway against a real boto3 drs client served by the DRS simulator: pages, batches, tags, throttling."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.config import Config

from drwave.adapters import drs as drs_adapter
from drwave.adapters.drs import DrsError, DrsGateway, Job, ParticipatingServer, SourceServer
from drwave_local.runtime.clock import VirtualClock
from drwave_local.simulators.drs import DrsSimulator, SimulatedSourceServer

JOB_OVER = 5 + 60 + 240 + 120  # start delay + default phases: every job of the default timeline is done


def sid(n: int) -> str:
    return f"s-{n:017d}"


class Sleeps:
    """Records the backoff the gateway asks for instead of sleeping."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def sim(clock: VirtualClock) -> DrsSimulator:
    return DrsSimulator(clock)


@pytest.fixture
def client(sim: DrsSimulator) -> Any:
    """A real drs client; botocore's own retries are off so only the gateway retries, on no wall clock."""
    drs = boto3.client(
        "drs",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"total_max_attempts": 1}),
    )
    sim.attach(drs)
    return drs


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def gateway(client: Any, sleeps: Sleeps) -> DrsGateway:
    return DrsGateway(client, sleep=sleeps, rng=random.Random(3))


def add_servers(sim: DrsSimulator, count: int, start: int = 0, **fields: Any) -> list[str]:
    ids = [sid(n) for n in range(start, start + count)]
    for n, server_id in enumerate(ids, start=start):
        sim.add_source_server(SimulatedSourceServer(server_id, hostname=f"host-{n}", **fields))
    return ids


def finished_jobs(sim: DrsSimulator, clock: VirtualClock, gateway: DrsGateway, count: int, **tags: str) -> list[str]:
    """`count` completed single-server jobs, oldest first, on server 0."""
    ids = []
    for n in range(count):
        ids.append(gateway.start_recovery([sid(0)], is_drill=True, tags={**tags, "n": str(n)}).job_id)
        clock.advance_to(clock.now() + timedelta(seconds=JOB_OVER))
    return ids


# --- source servers -----------------------------------------------------------------------------------------


def test_discovery_reads_every_page_of_a_large_fleet(sim, client, gateway):
    # GIVEN 450 source servers and DRS pages of at most 100
    ids = add_servers(sim, 450)
    sim.max_page_size = 100
    # WHEN every source server is described
    servers = gateway.describe_source_servers()
    # THEN all 450 come back in order, over five DescribeSourceServers calls
    assert [s.source_server_id for s in servers] == ids
    assert sim.calls["DescribeSourceServers"] == 5


def test_discovered_servers_carry_tags_hostname_and_replication_state(sim, gateway):
    # GIVEN a tagged server that is replicating and one whose replication stalled
    sim.add_source_server(SimulatedSourceServer(sid(1), hostname="db-01", tags={"Tier": "database"}))
    sim.add_source_server(SimulatedSourceServer(sid(2), hostname="db-02", replication_state="STALLED"))
    # WHEN described THEN each becomes a SourceServer with the parts drwave uses
    assert gateway.describe_source_servers() == [
        SourceServer(sid(1), {"Tier": "database"}, "CONTINUOUS", "db-01"),
        SourceServer(sid(2), {}, "STALLED", "db-02"),
    ]


def test_describing_chosen_servers_batches_ids_by_the_api_limit_of_200(sim, gateway):
    # GIVEN 450 servers, of which 250 are wanted
    ids = add_servers(sim, 450)
    wanted = ids[100:350]
    # WHEN just those are described
    servers = gateway.describe_source_servers(wanted)
    # THEN exactly they come back, in two requests (200 + 50 ids)
    assert [s.source_server_id for s in servers] == wanted
    assert sim.calls["DescribeSourceServers"] == 2


def test_describing_no_chosen_servers_makes_no_call(sim, gateway):
    # GIVEN servers WHEN an empty selection is described THEN nothing is asked of DRS
    add_servers(sim, 3)
    assert gateway.describe_source_servers([]) == []
    assert sim.calls["DescribeSourceServers"] == 0


# --- jobs ---------------------------------------------------------------------------------------------------


def test_start_recovery_returns_the_pending_job_with_its_tags_and_servers(sim, gateway):
    # GIVEN two servers WHEN a drill is started with tags
    add_servers(sim, 2)
    job = gateway.start_recovery([sid(0), sid(1)], is_drill=True, tags={"drwave:execution-id": "exe-1"})
    # THEN the job is PENDING, tagged, with both servers pending and no instances yet
    assert job.job_id.startswith("drsjob-")
    assert job.status == "PENDING"
    assert job.tags == {"drwave:execution-id": "exe-1"}
    assert job.servers == (
        ParticipatingServer(sid(0), "PENDING", None),
        ParticipatingServer(sid(1), "PENDING", None),
    )
    assert sim.jobs[job.job_id].is_drill


def test_described_jobs_report_launch_status_and_recovery_instances(sim, clock, gateway):
    # GIVEN a job that has run to completion, one server launched and one failed
    sim.add_source_server(SimulatedSourceServer(sid(0)))
    sim.add_source_server(SimulatedSourceServer(sid(1), fail_at="LAUNCH"))
    job_id = gateway.start_recovery([sid(0), sid(1)], is_drill=False, tags={}).job_id
    clock.advance_to(clock.now() + timedelta(seconds=JOB_OVER))
    # WHEN it is described
    (job,) = gateway.describe_jobs([job_id])
    # THEN it is COMPLETED, the launched server has its instance and the failed one none
    assert job.status == "COMPLETED"
    launched, failed = job.servers
    assert (launched.launch_status, failed.launch_status) == ("LAUNCHED", "FAILED")
    assert launched.recovery_instance_id is not None
    assert launched.recovery_instance_id.startswith("i-")
    assert failed.recovery_instance_id is None


def test_describe_jobs_follows_pages_within_one_batch(sim, clock, gateway):
    # GIVEN five finished jobs and pages of two
    add_servers(sim, 1)
    ids = finished_jobs(sim, clock, gateway, 5)
    sim.max_page_size = 2
    sim.calls.clear()
    # WHEN all five are described
    jobs = gateway.describe_jobs(ids)
    # THEN every one comes back, over three pages
    assert sorted(j.job_id for j in jobs) == sorted(ids)
    assert sim.calls["DescribeJobs"] == 3


def test_describe_jobs_splits_ids_into_batches_of_the_api_limit(sim, clock, gateway, monkeypatch):
    # GIVEN the per-call id limit matches the service model, and is lowered to 2 to keep the fleet small
    model = botocore.session.get_session().get_service_model("drs")
    job_ids_shape = model.shape_for("DescribeJobsRequest").members["filters"].members["jobIDs"]
    assert job_ids_shape.metadata["max"] == drs_adapter.MAX_JOB_IDS_PER_CALL
    monkeypatch.setattr(drs_adapter, "MAX_JOB_IDS_PER_CALL", 2)
    add_servers(sim, 1)
    ids = finished_jobs(sim, clock, gateway, 5)
    sim.calls.clear()
    # WHEN the five jobs are described
    jobs = gateway.describe_jobs(ids)
    # THEN three requests (2 + 2 + 1 ids) return all of them
    assert sorted(j.job_id for j in jobs) == sorted(ids)
    assert sim.calls["DescribeJobs"] == 3


def test_describing_no_jobs_makes_no_call(sim, gateway):
    # GIVEN no ids WHEN jobs are described THEN nothing is asked (an empty filter would list every job)
    assert gateway.describe_jobs([]) == []
    assert sim.calls["DescribeJobs"] == 0


def test_find_job_by_tag_finds_the_job_carrying_the_launch_token_across_pages(sim, clock, gateway):
    # GIVEN five jobs, the oldest carrying our token, and pages of two (newest first)
    add_servers(sim, 1)
    since = clock.now()
    first = gateway.start_recovery([sid(0)], is_drill=True, tags={"drwave:launch-token": "tok-1"}).job_id
    clock.advance_to(clock.now() + timedelta(seconds=JOB_OVER))
    finished_jobs(sim, clock, gateway, 4, **{"drwave:launch-token": "someone-else"})
    sim.max_page_size = 2
    # WHEN the job is looked up by its token
    found = gateway.find_job_by_tag("drwave:launch-token", "tok-1", since)
    # THEN it is found, on the last page
    assert isinstance(found, Job)
    assert found.job_id == first
    assert found.tags["drwave:launch-token"] == "tok-1"


def test_find_job_by_tag_is_none_when_no_job_carries_the_token(sim, clock, gateway):
    # GIVEN jobs with other tokens WHEN our token is looked up THEN None
    add_servers(sim, 1)
    since = clock.now()
    finished_jobs(sim, clock, gateway, 2, **{"drwave:launch-token": "other"})
    assert gateway.find_job_by_tag("drwave:launch-token", "tok-1", since) is None


def test_find_job_by_tag_ignores_jobs_created_before_since(sim, clock, gateway):
    # GIVEN a job with our token created an hour before the lookup window
    add_servers(sim, 1)
    gateway.start_recovery([sid(0)], is_drill=True, tags={"drwave:launch-token": "tok-1"})
    clock.advance_to(clock.now() + timedelta(hours=1))
    # WHEN looked up since now THEN it is not adopted
    assert gateway.find_job_by_tag("drwave:launch-token", "tok-1", clock.now()) is None


def test_job_log_items_are_read_across_pages(sim, clock, gateway):
    # GIVEN a finished single-server job (7 log items) and pages of 3
    add_servers(sim, 1)
    (job_id,) = finished_jobs(sim, clock, gateway, 1)
    sim.max_page_size = 3
    sim.calls.clear()
    # WHEN its log is read THEN all items come back in order, over three pages
    items = gateway.describe_job_log_items(job_id)
    events = [i["event"] for i in items]
    assert (events[0], events[-1]) == ("JOB_START", "JOB_END")
    assert len(items) == 7
    assert sim.calls["DescribeJobLogItems"] == 3


# --- throttling and errors ----------------------------------------------------------------------------------


def test_throttled_calls_are_retried_after_the_injected_sleep(sim, gateway, sleeps):
    # GIVEN DescribeSourceServers throttled twice
    add_servers(sim, 3)
    sim.inject_throttling("DescribeSourceServers", 2)
    # WHEN servers are described
    servers = gateway.describe_source_servers()
    # THEN the third attempt succeeds after two backoffs, each within its jittered exponential bound
    assert len(servers) == 3
    assert sim.calls["DescribeSourceServers"] == 3
    assert len(sleeps.seconds) == 2
    assert 0 <= sleeps.seconds[0] <= 0.5 * 2**1
    assert 0 <= sleeps.seconds[1] <= 0.5 * 2**2


def test_backoff_never_exceeds_the_maximum_delay(sim, client, sleeps):
    # GIVEN a gateway with a low cap and a throttle on every attempt but the last
    gateway = DrsGateway(client, sleep=sleeps, max_attempts=8, base_delay=1.0, max_delay=3.0, rng=random.Random(1))
    sim.inject_throttling("DescribeJobs", 7)
    # WHEN a call goes through THEN no sleep was longer than the cap
    gateway.describe_jobs(["drsjob-00000000000000000"])
    assert len(sleeps.seconds) == 7
    assert max(sleeps.seconds) <= 3.0


def test_throttling_gives_up_after_max_attempts_with_the_service_code(sim, client, sleeps):
    # GIVEN a gateway allowed three attempts and StartRecovery throttled three times
    add_servers(sim, 1)
    gateway = DrsGateway(client, sleep=sleeps, max_attempts=3, rng=random.Random(0))
    sim.inject_throttling("StartRecovery", 3)
    # WHEN a recovery is started
    with pytest.raises(DrsError) as error:
        gateway.start_recovery([sid(0)], is_drill=True, tags={})
    # THEN it fails with ThrottlingException after three calls and two sleeps, and no job exists
    assert error.value.code == "ThrottlingException"
    assert sim.calls["StartRecovery"] == 3
    assert len(sleeps.seconds) == 2
    assert sim.jobs == {}


def test_a_throttled_page_is_retried_alone_without_restarting_pagination(sim, client, gateway, sleeps):
    # GIVEN 250 servers in pages of 100, and the request for the second page throttled once
    ids = add_servers(sim, 250)
    sim.max_page_size = 100
    throttled: list[str] = []

    def throttle_second_page(params: dict[str, Any], **_: Any) -> None:
        if params.get("nextToken") and not throttled:
            throttled.append(params["nextToken"])
            sim.inject_throttling("DescribeSourceServers", 1)

    client.meta.events.register("provide-client-params.drs.DescribeSourceServers", throttle_second_page)
    # WHEN every server is described
    servers = gateway.describe_source_servers()
    # THEN no server is missing or repeated: 3 pages plus one retry of page two
    assert [s.source_server_id for s in servers] == ids
    assert sim.calls["DescribeSourceServers"] == 4
    assert len(sleeps.seconds) == 1


def test_conflict_is_surfaced_as_its_code_without_retrying(sim, gateway, sleeps):
    # GIVEN a server already in an active job
    add_servers(sim, 1)
    gateway.start_recovery([sid(0)], is_drill=True, tags={})
    # WHEN another job is started for it
    with pytest.raises(DrsError) as error:
        gateway.start_recovery([sid(0)], is_drill=True, tags={})
    # THEN DrsError carries ConflictException and the message, and nothing was retried
    assert error.value.code == "ConflictException"
    assert "already in active job" in str(error.value)
    assert sim.calls["StartRecovery"] == 2
    assert sleeps.seconds == []


def test_quota_refusal_is_surfaced_as_its_code(sim, gateway):
    # GIVEN 101 servers WHEN one job is started for all of them THEN ServiceQuotaExceededException
    ids = add_servers(sim, 101)
    with pytest.raises(DrsError) as error:
        gateway.start_recovery(ids, is_drill=True, tags={})
    assert error.value.code == "ServiceQuotaExceededException"


def test_unknown_job_log_is_resource_not_found(gateway):
    # GIVEN no jobs WHEN an unknown job's log is read THEN DrsError ResourceNotFoundException
    with pytest.raises(DrsError) as error:
        gateway.describe_job_log_items("drsjob-00000000000000000")
    assert error.value.code == "ResourceNotFoundException"


def test_internal_errors_are_not_retried_by_the_gateway(sim, gateway, sleeps):
    # GIVEN DescribeJobs failing once with a 500 WHEN jobs are described THEN the code surfaces, no backoff
    sim.inject_error("DescribeJobs", "InternalServerException")
    with pytest.raises(DrsError) as error:
        gateway.describe_jobs(["drsjob-00000000000000000"])
    assert error.value.code == "InternalServerException"
    assert sleeps.seconds == []
