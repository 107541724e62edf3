"""DescribeRecoverySnapshots in the DRS simulator, the gateway's look-ups and StartRecovery's recoverySnapshotID."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from drwave.adapters.drs import DrsGateway
from drwave.models.recovery import RecoveryPoint, RecoveryPointMode
from drwave_local.runtime.clock import VirtualClock
from drwave_local.simulators.drs import DrsSimulator, SimulatedSourceServer
from drwave_local.simulators.snapshots import SnapshotCadence

SERVER = "s-00000000000000001"
NEW_SERVER = "s-00000000000000002"


def _client() -> Any:
    return boto3.client(
        "drs",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"total_max_attempts": 1}),
    )


@pytest.fixture
def world() -> tuple[VirtualClock, DrsSimulator, Any]:
    """A server snapshotted every 10 minutes for the last 2 hours, and one replicating only since the start."""
    clock = VirtualClock()
    sim = DrsSimulator(clock, seed=3, snapshot_cadence=SnapshotCadence(cadence_minutes=10, history_minutes=120))
    sim.add_source_server(SimulatedSourceServer(SERVER))
    sim.add_source_server(SimulatedSourceServer(NEW_SERVER, snapshots=SnapshotCadence(10, history_minutes=0)))
    client = _client()
    sim.attach(client)
    return clock, sim, client


def test_snapshots_are_listed_every_cadence_oldest_first_by_default(world):
    # GIVEN a server snapshotted every 10 minutes for the last 2 hours
    _clock, _, client = world
    # WHEN its recovery snapshots are described
    items = client.describe_recovery_snapshots(sourceServerID=SERVER)["items"]
    # THEN about 12 snapshots come back oldest first, 10 minutes apart, with pit- ids and EBS snapshots
    assert 11 <= len(items) <= 12
    times = [i["expectedTimestamp"] for i in items]
    assert times == sorted(times)
    assert all(i["snapshotID"].startswith("pit-") and len(i["snapshotID"]) == 21 for i in items)
    assert all(i["sourceServerID"] == SERVER and i["ebsSnapshots"] for i in items)


def test_descending_order_with_a_time_filter_and_pages_returns_the_window_newest_first(world):
    # GIVEN a server with two hours of snapshots
    clock, sim, client = world
    sim.max_page_size = 2
    everything = client.describe_recovery_snapshots(sourceServerID=SERVER, maxResults=100)
    start = clock.now()
    # WHEN the last hour is listed newest first, two per page
    window = {"fromDateTime": (start - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    pages, token = [], None
    while True:
        extra = {"nextToken": token} if token else {}
        page = client.describe_recovery_snapshots(sourceServerID=SERVER, filters=window, order="DESC", **extra)
        pages.append(page["items"])
        token = page.get("nextToken")
        if not token:
            break
    got = [i["timestamp"] for page in pages for i in page]
    # THEN every snapshot of the last hour comes back once, newest first, over several pages
    assert len(pages) >= 3
    assert got == sorted(got, reverse=True)
    assert len(got) == len(set(got)) and 5 <= len(got) <= 6
    assert all(t >= window["fromDateTime"] for t in got)
    assert len(everything["items"]) == 2 and "nextToken" in everything  # the page size caps maxResults


def test_new_snapshots_appear_as_virtual_time_passes(world):
    # GIVEN a server that has replicated only since the simulation started
    clock, _, client = world
    before = len(client.describe_recovery_snapshots(sourceServerID=NEW_SERVER)["items"])
    # WHEN 35 minutes pass
    clock.advance_to(clock.now() + timedelta(minutes=35))
    # THEN three or four more snapshots exist
    after = len(client.describe_recovery_snapshots(sourceServerID=NEW_SERVER)["items"])
    assert 3 <= after - before <= 4


def test_an_unknown_source_server_is_a_validation_error(world):
    # GIVEN the simulator
    _, _, client = world
    # WHEN the snapshots of a server it does not know are asked for
    with pytest.raises(ClientError) as err:
        client.describe_recovery_snapshots(sourceServerID="s-99999999999999999")
    # THEN DRS answers ValidationException (the operation models no ResourceNotFoundException)
    assert err.value.response["Error"]["Code"] == "ValidationException"


def test_gateway_finds_the_newest_snapshot_at_or_before_an_instant(world):
    # GIVEN two hours of snapshots
    clock, _, client = world
    gateway = DrsGateway(client)
    instant = clock.now() - timedelta(minutes=47)
    # WHEN the gateway looks for the snapshot at or before 47 minutes ago
    found = gateway.latest_snapshot_at_or_before(SERVER, instant)
    # THEN it is taken at most one cadence before that instant, never after it
    assert found is not None
    assert instant - timedelta(minutes=10) < found.taken_at <= instant
    # AND a server with no snapshot that old has none
    assert gateway.latest_snapshot_at_or_before(NEW_SERVER, instant) is None


def test_gateway_resolves_explicit_snapshot_ids_and_reports_unknown_ones(world):
    # GIVEN one real snapshot id of the server
    _, _, client = world
    gateway = DrsGateway(client)
    real = client.describe_recovery_snapshots(sourceServerID=SERVER)["items"][3]
    point = RecoveryPoint(
        mode=RecoveryPointMode.SNAPSHOTS, snapshot_ids={SERVER: real["snapshotID"], NEW_SERVER: "pit-00000000000000000"}
    )
    # WHEN both servers' snapshots are resolved
    found = gateway.snapshots_for(point, [SERVER, NEW_SERVER])
    # THEN the real one is found with its time, the invented one is not
    assert found[SERVER] is not None and found[SERVER].snapshot_id == real["snapshotID"]
    assert found[NEW_SERVER] is None


def test_start_recovery_from_a_snapshot_records_it_on_the_recovery_instance(world):
    # GIVEN a snapshot of the server from an hour ago
    clock, _sim, client = world
    gateway = DrsGateway(client)
    snap = gateway.latest_snapshot_at_or_before(SERVER, clock.now() - timedelta(hours=1))
    assert snap is not None
    # WHEN a drill starts from it and runs to the end
    job = gateway.start_recovery([SERVER], is_drill=True, tags={}, snapshot_ids={SERVER: snap.snapshot_id})
    clock.advance_to(clock.now() + timedelta(minutes=30))
    # THEN the recovery instance reports that snapshot's time as its point in time
    (instance,) = client.describe_recovery_instances(filters={})["items"]
    assert instance["jobID"] == job.job_id
    assert instance["pointInTimeSnapshotDateTime"].startswith(snap.taken_at.strftime("%Y-%m-%dT%H:%M:%S"))


def test_start_recovery_with_a_snapshot_the_server_does_not_have_is_refused(world):
    # GIVEN the simulator
    _, sim, client = world
    # WHEN StartRecovery names a snapshot id the server never had
    with pytest.raises(ClientError) as err:
        client.start_recovery(sourceServers=[{"sourceServerID": SERVER, "recoverySnapshotID": "pit-0000000000000000x"}])
    # THEN it is a ValidationException and no job is created
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert sim.jobs == {}


# ------------------------------------------------------------------------------ "DRS PIT Snapshot Taken" events


def _pit_world(emitted: list[dict[str, Any]]) -> tuple[VirtualClock, DrsSimulator]:
    clock = VirtualClock()
    sim = DrsSimulator(clock, seed=3, emit_event=emitted.append, snapshot_cadence=SnapshotCadence(10, 120))
    sim.add_source_server(SimulatedSourceServer(SERVER))
    sim.add_source_server(SimulatedSourceServer(NEW_SERVER))
    return clock, sim


def test_the_simulator_announces_each_pit_snapshot_in_the_shape_of_the_aws_sample():
    # GIVEN two servers snapshotted every 10 minutes, and AWS's sample of the event (events/aws)
    from drwave_local.contracts.events import ROOT  # noqa: PLC0415

    sample = json.loads((ROOT / "events" / "aws" / "drs-pit-snapshot-taken.json").read_text())
    emitted: list[dict[str, Any]] = []
    clock, sim = _pit_world(emitted)
    clock.call_later(35 * 60, lambda: None)  # other work keeps the clock running for 35 minutes
    # WHEN the clock runs
    while clock.step():
        pass
    # THEN each server announced the 3 or 4 snapshots it took meanwhile (and at most one more, the round that
    # found the clock idle), in time order, with the shape of the sample
    assert 6 <= len(emitted) <= 10
    assert [e["time"] for e in emitted] == sorted(e["time"] for e in emitted)
    for event in emitted:
        assert event.keys() == sample.keys() and event["detail"].keys() == sample["detail"].keys()
        assert (event["source"], event["detail-type"]) == (sample["source"], sample["detail-type"])
        assert all(isinstance(event["detail"][k], str) for k in sample["detail"])
    # AND each names a snapshot DescribeRecoverySnapshots lists for its server, with the same EBS snapshots
    client = _client()
    sim.attach(client)
    for event in emitted:
        sid = event["resources"][0].rsplit("/", 1)[1]
        listed = {i["snapshotID"]: i for i in client.describe_recovery_snapshots(sourceServerID=sid)["items"]}
        snapshot = listed[event["detail"]["DrsSnapshotID"]]
        assert event["detail"]["EbsSnapshotIDs"].split(",") == snapshot["ebsSnapshots"]
        assert event["time"] == snapshot["timestamp"][:19] + "Z"


def test_pit_announcements_alone_never_keep_the_clock_running():
    # GIVEN a simulator announcing PIT snapshots and nothing else scheduled
    emitted: list[dict[str, Any]] = []
    clock, _ = _pit_world(emitted)
    # WHEN the clock runs  THEN it stops after at most one announcement round: the announcements do not re-arm alone
    steps = 0
    while clock.step():
        steps += 1
        assert steps < 5
    assert len(emitted) <= 2
