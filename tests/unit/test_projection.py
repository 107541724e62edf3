"""Status projection (pure): stored item images -> read-model rows, one item at a time."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from drwave.core.projection import (
    ViewRow,
    newest_rows,
    percent,
    project_all,
    project_item,
    project_servers,
    project_summary,
    project_wave,
)
from drwave.models.execution import Chunk, LaunchStatus, ServerState, WaveState, WaveStatus


def header_image(
    version: int = 7,
    status: str = "RUNNING",
    waves: dict[str, str] | None = None,
    servers: tuple = (3, 1, 4, 6),
    listed: bool = False,
    **doc: Any,
) -> dict[str, Any]:
    """A header as the store writes it (waves counted by status), or `listed` as headers were once written."""
    body = {"executionId": "exe-1", "status": status, "executionType": "DRILL", "startedAt": "2026-01-05T09:00:00.000Z"}
    statuses = waves if waves is not None else {"db": "COMPLETED", "app": "LAUNCHING"}
    progress: dict[str, Any] = {"servers": list(servers)}
    if listed:
        progress["waves"] = statuses
    else:
        progress["wavesByStatus"] = dict(Counter(statuses.values()))
    return {
        "pk": {"S": "EXEC#exe-1"},
        "sk": {"S": "STATE"},
        "version": {"N": str(version)},
        "planId": {"S": "plan-1"},
        "status": {"S": status},
        "doc": {"S": json.dumps({**body, **doc})},
        "progress": {"S": json.dumps(progress)},
    }


def _counts(wave: WaveState) -> list[int]:
    statuses = [s.launch_status for s in wave.servers.values()]
    return [
        statuses.count(LaunchStatus.LAUNCHED),
        statuses.count(LaunchStatus.FAILED),
        sum(s.final for s in statuses),
        len(statuses),
    ]


def wave_image(wave: WaveState, version: int = 7) -> dict[str, Any]:
    return {
        "pk": {"S": "EXEC#exe-1"},
        "sk": {"S": f"WAVE#{wave.wave_id}"},
        "doc": {"S": wave.model_dump_json(by_alias=True, exclude={"chunks", "servers"})},
        "counts": {"S": json.dumps(_counts(wave))},
        "jobIds": {"S": json.dumps([c.job_id for c in wave.chunks if c.job_id])},
        "v": {"N": str(version)},
    }


def chunk_image(wave: WaveState, index: int = 0, version: int = 7) -> dict[str, Any]:
    chunk = wave.chunks[index]
    servers = [json.loads(wave.servers[s].model_dump_json(by_alias=True)) for s in chunk.source_server_ids]
    return {
        "pk": {"S": "EXEC#exe-1"},
        "sk": {"S": f"CHUNK#{wave.wave_id}#{index:04d}"},
        "doc": {"S": chunk.model_dump_json(by_alias=True)},
        "servers": {"S": json.dumps(servers)},
        "v": {"N": str(version)},
    }


def server_image(wave_id: str, server: ServerState, version: int) -> dict[str, Any]:
    return {
        "pk": {"S": "EXEC#exe-1"},
        "sk": {"S": f"SERVER#{wave_id}#{server.source_server_id}"},
        "doc": {"S": server.model_dump_json(by_alias=True)},
        "chunk": {"N": "0"},
        "v": {"N": str(version)},
    }


def servers(**statuses: LaunchStatus) -> dict[str, ServerState]:
    return {sid: ServerState(source_server_id=sid, launch_status=status) for sid, status in statuses.items()}


DONE = WaveState(
    wave_id="db",
    status=WaveStatus.COMPLETED,
    chunks=[Chunk(index=0, source_server_ids=["s1", "s2"], job_id="drsjob-1")],
    servers=servers(s1=LaunchStatus.LAUNCHED, s2=LaunchStatus.LAUNCHED),
)
LAUNCHING = WaveState(
    wave_id="app",
    status=WaveStatus.LAUNCHING,
    chunks=[Chunk(index=0, source_server_ids=["s3", "s4", "s5", "s6"], job_id="drsjob-2")],
    servers=servers(
        s3=LaunchStatus.LAUNCHED, s4=LaunchStatus.FAILED, s5=LaunchStatus.IN_PROGRESS, s6=LaunchStatus.PENDING
    ),
)


def test_summary_comes_from_the_header_alone_with_wave_statuses_and_server_counts():
    # GIVEN a running execution's header: one wave done, one launching, 4 of 6 servers final (3 launched, 1 failed)
    # WHEN the summary is projected
    row = project_summary(header_image())
    # THEN it counts waves by status and servers by outcome, and progress is final servers / total
    assert row.sk == "SUMMARY"
    assert row.source_version == 7
    assert row.doc == {
        "executionId": "exe-1",
        "planId": "plan-1",
        "executionType": "DRILL",
        "status": "RUNNING",
        "startedAt": "2026-01-05T09:00:00.000Z",
        "endedAt": None,
        "startedBy": None,
        "pausedBy": None,
        "retryOf": None,
        "wavesByStatus": {"COMPLETED": 1, "LAUNCHING": 1},
        "wavesDone": 1,
        "wavesTotal": 2,
        "serversLaunched": 3,
        "serversFailed": 1,
        "serversTotal": 6,
        "progressPercent": 66.7,
        "wavesPercent": 50.0,
    }


def test_a_wave_row_carries_jobs_and_counts_labelled_with_the_version_that_wrote_it():
    # GIVEN a launching wave's item written at version 9
    # WHEN it is projected
    row = project_wave(wave_image(LAUNCHING, version=9))
    # THEN the wave row has its jobs, counts and progress
    assert row.sk == "WAVE#app"
    assert row.source_version == 9
    assert row.doc["jobIds"] == ["drsjob-2"]
    assert (row.doc["serversLaunched"], row.doc["serversFailed"], row.doc["serversTotal"]) == (1, 1, 4)
    assert row.doc["progressPercent"] == 50.0


def test_a_chunk_item_gives_one_row_per_server_and_only_changed_ones_against_its_old_image():
    # GIVEN a chunk whose failed server has an error and launched one an instance
    wave = LAUNCHING.model_copy(deep=True)
    wave.servers["s3"].recovery_instance_id = "i-3"
    wave.servers["s4"].error = "no capacity"
    # WHEN its item is projected as an INSERT
    rows = project_servers(chunk_image(wave, version=9))
    # THEN each server has its own row with launch status, recovery instance and error
    assert [r.sk for r in rows] == ["SERVER#app#s3", "SERVER#app#s4", "SERVER#app#s5", "SERVER#app#s6"]
    assert {
        r.doc["sourceServerId"]: (r.doc["launchStatus"], r.doc["recoveryInstanceId"], r.doc["error"]) for r in rows
    } == {
        "s3": ("LAUNCHED", "i-3", None),
        "s4": ("FAILED", None, "no capacity"),
        "s5": ("IN_PROGRESS", None, None),
        "s6": ("PENDING", None, None),
    }
    assert {r.source_version for r in rows} == {9}
    # AND against the previous image of the item only the server that changed gets a row
    after = wave.model_copy(deep=True)
    after.servers["s5"].launch_status = LaunchStatus.LAUNCHED
    changed = project_servers(chunk_image(after, version=10), chunk_image(wave, version=9))
    assert [r.doc["sourceServerId"] for r in changed] == ["s5"]


def test_a_newer_server_item_stands_over_its_chunk_and_an_older_one_does_not():
    # GIVEN a chunk written at version 9 and server items for s5 written before (8) and after (11) it
    launched = LAUNCHING.servers["s5"].model_copy(update={"launch_status": LaunchStatus.LAUNCHED})
    stale = LAUNCHING.servers["s6"].model_copy(update={"launch_status": LaunchStatus.FAILED})
    items = [
        header_image(),
        wave_image(LAUNCHING),
        chunk_image(LAUNCHING, version=9),
        server_image("app", launched, 11),
        server_image("app", stale, 8),
    ]
    # WHEN the whole read model is projected
    rows = {r.sk: r for r in project_all(items)}
    # THEN s5 is what its newer item says, s6 what the chunk says
    assert rows["SERVER#app#s5"].doc["launchStatus"] == "LAUNCHED"
    assert rows["SERVER#app#s6"].doc["launchStatus"] == "PENDING"


def test_projecting_the_same_images_again_yields_identical_rows():
    # GIVEN the items of an execution
    items = [header_image(), wave_image(LAUNCHING), chunk_image(LAUNCHING), wave_image(DONE), chunk_image(DONE)]
    # WHEN they are projected twice, in different orders
    first = project_all(items)
    second = project_all(list(reversed(items)))
    # THEN the rows are identical
    assert first == second
    assert [r.sk for r in first][:1] == ["SERVER#app#s3"]
    assert {"SUMMARY", "WAVE#app", "WAVE#db"} <= {r.sk for r in first}


def test_nothing_to_launch_is_zero_percent_while_running_and_complete_once_terminal():
    # GIVEN an execution whose wave has no servers resolved yet
    # WHEN the summary is projected before and after the execution ends
    running = project_summary(header_image(status="RUNNING", waves={"w": "LAUNCHING"}, servers=(0, 0, 0, 0)))
    ended = project_summary(header_image(status="CANCELLED", waves={"w": "CANCELLED"}, servers=(0, 0, 0, 0)))
    # THEN progress does not claim completion until the execution is terminal
    assert running.doc["progressPercent"] == 0.0
    assert ended.doc["progressPercent"] == 100.0
    assert percent(1, 3) == 33.3


@pytest.mark.parametrize(
    "image",
    [
        {**header_image(), "doc": {"S": "not json"}},
        {**header_image(), "pk": {"S": "PLAN#p"}},
        {k: v for k, v in header_image().items() if k != "version"},
        {k: v for k, v in header_image().items() if k != "progress"},
    ],
    ids=["bad-doc", "not-execution", "no-version", "no-progress"],
)
def test_a_malformed_header_is_rejected(image):
    # GIVEN an image that is not a well-formed execution header  WHEN projected  THEN ValueError
    with pytest.raises(ValueError):
        project_summary(image)


def test_a_malformed_wave_is_rejected_and_the_snapshot_projects_nothing():
    # GIVEN a wave item whose document is not a wave  WHEN projected  THEN ValueError
    bad = {**wave_image(DONE), "doc": {"S": json.dumps({"status": "NOPE"})}}
    with pytest.raises(ValueError):
        project_wave(bad)
    # AND a wave item without its version is rejected too; the snapshot item has no rows
    with pytest.raises(ValueError):
        project_wave({k: v for k, v in wave_image(DONE).items() if k != "v"})
    assert project_item({"pk": {"S": "EXEC#exe-1"}, "sk": {"S": "SNAPSHOT"}, "doc": {"S": "{}"}}) == []


def test_a_header_written_with_each_wave_listed_projects_the_same_summary():
    # GIVEN the same execution's header as the store writes it now and as it once listed every wave's status
    waves = {"db": "COMPLETED", "app": "LAUNCHING", "web": "PENDING", "cache": "COMPLETED"}
    counted, listed = header_image(waves=waves), header_image(waves=waves, listed=True)
    # WHEN both are projected
    # THEN the summary is the same: the waves by status, done and total
    assert project_summary(counted) == project_summary(listed)
    doc = project_summary(counted).doc
    assert doc["wavesByStatus"] == {"COMPLETED": 2, "LAUNCHING": 1, "PENDING": 1}
    assert (doc["wavesDone"], doc["wavesTotal"], doc["wavesPercent"]) == (2, 4, 50.0)


def test_a_batch_writes_each_key_s_newest_row_with_the_first_record_that_had_one():
    # GIVEN rows of four records: two executions share sort keys, one key gets a newer row later, one a tie
    row = lambda sk, v: ViewRow(sk, {"v": v}, v)  # noqa: E731
    projected = [
        ("exe-1", [row("SUMMARY", 3), row("WAVE#db", 3)]),
        ("exe-2", [row("SUMMARY", 9)]),
        ("exe-1", [row("SUMMARY", 5)]),
        ("exe-1", [row("WAVE#db", 3), row("SERVER#db#s-1", 4)]),
    ]
    # WHEN the batch's writes are chosen
    writes = newest_rows(projected)
    # THEN each execution's key is written once, at its newest version (the later record on a tie), by the first
    # record that had a row for it; other executions' keys are their own
    assert [[(r.sk, r.source_version, r.doc) for r in rows] for rows in writes] == [
        [("SUMMARY", 5, {"v": 5}), ("WAVE#db", 3, {"v": 3})],
        [("SUMMARY", 9, {"v": 9})],
        [],
        [("SERVER#db#s-1", 4, {"v": 4})],
    ]
    assert writes[0][1] is projected[3][1][0]  # the tie went to the later record
