"""Status projection (pure): stored item images -> read-model rows."""

from __future__ import annotations

import json
from typing import Any

import pytest

from drwave.core.projection import changed_servers, percent, project_all, project_summary, project_wave
from drwave.models.execution import Chunk, LaunchStatus, ServerState, WaveState, WaveStatus


def header_image(version: int = 7, status: str = "RUNNING", **doc: Any) -> dict[str, Any]:
    body = {"executionId": "exe-1", "status": status, "executionType": "DRILL", "startedAt": "2026-01-05T09:00:00.000Z"}
    return {
        "pk": {"S": "EXEC#exe-1"},
        "sk": {"S": "STATE"},
        "version": {"N": str(version)},
        "planId": {"S": "plan-1"},
        "status": {"S": status},
        "doc": {"S": json.dumps({**body, **doc})},
    }


def wave_image(wave: WaveState) -> dict[str, Any]:
    return {
        "pk": {"S": "EXEC#exe-1"},
        "sk": {"S": f"WAVE#{wave.wave_id}"},
        "doc": {"S": wave.model_dump_json(by_alias=True)},
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


def test_summary_counts_waves_and_servers_and_reports_progress():
    # GIVEN a running execution with one wave done and one launching (4 of 6 servers have a final status)
    # WHEN the summary is projected
    row = project_summary(header_image(), [wave_image(DONE), wave_image(LAUNCHING)])
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


def test_wave_rows_carry_jobs_counts_and_one_row_per_server():
    # GIVEN a launching wave whose failed server has an error and launched one an instance
    wave = LAUNCHING.model_copy(deep=True)
    wave.servers["s3"].recovery_instance_id = "i-3"
    wave.servers["s4"].error = "no capacity"
    # WHEN the wave is projected
    wave_row, *server_rows = project_wave(header_image(version=9), wave_image(wave))
    # THEN the wave row has its jobs, counts and progress, labelled with the header version
    assert wave_row.sk == "WAVE#app"
    assert wave_row.source_version == 9
    assert wave_row.doc["jobIds"] == ["drsjob-2"]
    assert (wave_row.doc["serversLaunched"], wave_row.doc["serversFailed"], wave_row.doc["serversTotal"]) == (1, 1, 4)
    assert wave_row.doc["progressPercent"] == 50.0
    # AND each server has its own row with launch status, recovery instance and error
    assert [r.sk for r in server_rows] == ["SERVER#app#s3", "SERVER#app#s4", "SERVER#app#s5", "SERVER#app#s6"]
    assert {
        r.doc["sourceServerId"]: (r.doc["launchStatus"], r.doc["recoveryInstanceId"], r.doc["error"])
        for r in server_rows
    } == {
        "s3": ("LAUNCHED", "i-3", None),
        "s4": ("FAILED", None, "no capacity"),
        "s5": ("IN_PROGRESS", None, None),
        "s6": ("PENDING", None, None),
    }
    assert {r.source_version for r in server_rows} == {9}


def test_projecting_the_same_images_again_yields_identical_rows():
    # GIVEN the items of an execution
    items = [wave_image(LAUNCHING), wave_image(DONE)]
    # WHEN they are projected twice, in different orders
    first = project_all(header_image(), items)
    second = project_all(header_image(), list(reversed(items)))
    # THEN the rows are identical
    assert first == second
    assert [r.sk for r in first][:2] == ["SUMMARY", "WAVE#app"]


def test_nothing_to_launch_is_zero_percent_while_running_and_complete_once_terminal():
    # GIVEN a wave whose servers are not resolved yet
    empty = WaveState(wave_id="w")
    # WHEN the summary is projected before and after the execution ends
    running = project_summary(header_image(status="RUNNING"), [wave_image(empty)])
    ended = project_summary(
        header_image(status="CANCELLED"), [wave_image(empty.model_copy(update={"status": WaveStatus.CANCELLED}))]
    )
    # THEN progress does not claim completion until the execution is terminal
    assert running.doc["progressPercent"] == 0.0
    assert ended.doc["progressPercent"] == 100.0
    assert percent(1, 3) == 33.3


@pytest.mark.parametrize(
    "image",
    [
        {**header_image(), "doc": {"S": "not json"}},
        {**header_image(), "sk": {"S": "SNAPSHOT"}},
        {**header_image(), "pk": {"S": "PLAN#p"}},
        {k: v for k, v in header_image().items() if k != "version"},
    ],
    ids=["bad-doc", "not-state", "not-execution", "no-version"],
)
def test_a_malformed_header_is_rejected(image):
    # GIVEN an image that is not a well-formed execution header  WHEN projected  THEN ValueError
    with pytest.raises(ValueError):
        project_summary(image, [])


def test_a_malformed_wave_is_rejected():
    # GIVEN a wave item whose document is not a wave  WHEN projected  THEN ValueError
    bad = {"pk": {"S": "EXEC#exe-1"}, "sk": {"S": "WAVE#w"}, "doc": {"S": json.dumps({"status": "NOPE"})}}
    with pytest.raises(ValueError):
        project_wave(header_image(), bad)


def test_changed_servers_are_those_whose_state_differs_between_the_images():
    # GIVEN two images of a wave where one server launched in between
    after = LAUNCHING.model_copy(deep=True)
    after.servers["s5"].launch_status = LaunchStatus.LAUNCHED
    # WHEN compared  THEN only that server changed; without an old image (INSERT) every server counts
    assert changed_servers(wave_image(LAUNCHING), wave_image(after)) == {"s5"}
    assert changed_servers(None, wave_image(after)) is None
