"""A wave as wide as DRS allows (3,000 servers: 30 jobs, admitted 20 at a time) runs with every item small."""

from __future__ import annotations

import pytest

from drwave_local.bench.meter import item_size
from drwave_local.bench.shapes import fan_out
from drwave_local.runtime.embedded import TABLE_NAME, LocalRuntime

# DynamoDB refuses items over 400 KB; a chunk item (100 servers) is the largest an execution writes.
ITEM_LIMIT = 400 * 1024


def test_a_3000_server_wave_completes_in_30_jobs_and_no_item_nears_the_400_kb_limit(monkeypatch: pytest.MonkeyPatch):
    # GIVEN one wave of 3,000 servers in the local runtime, without the suites' per-save cross-checks: they re-lay the
    # whole execution out and re-validate every request on each of its 3,000 saves (minutes; the other suites keep them)
    monkeypatch.setenv("DRWAVE_STORE_CHECKS", "0")
    monkeypatch.setenv("DRWAVE_VALIDATION_CHECKS", "0")
    shape = fan_out(3000)
    with LocalRuntime(shape.environment) as rt:
        rt.install(shape.plans[0])
        # WHEN it is drilled
        execution_id = rt.request_execution(shape.plans[0].recovery_plan.id)
        rt.run()
        execution = rt.execution(execution_id)
        items = [
            item for page in rt.dynamodb.get_paginator("scan").paginate(TableName=TABLE_NAME) for item in page["Items"]
        ]
    # THEN it completes: every server launched, in 30 DRS jobs of 100
    wave = execution.waves["all"]
    assert str(execution.status) == "COMPLETED", wave.reason
    assert len(wave.chunks) == 30
    assert all(len(c.source_server_ids) == 100 and c.job_id for c in wave.chunks)
    assert rt.drs.calls["StartRecovery"] == 30
    # AND resolving the wave's servers did not turn into a storm of inventory calls
    assert rt.drs.calls["DescribeSourceServers"] <= 10
    # AND the largest item of the execution's state is far below DynamoDB's limit (a tenth of it); the snapshot of the
    # plan and its 3,000-server group, written once, fits too
    state = [i for i in items if i["pk"]["S"].startswith("EXEC#") and i["sk"]["S"] != "SNAPSHOT"]
    largest = max(item_size(item) for item in state)
    assert largest < ITEM_LIMIT / 10, f"largest item {largest} B"
    snapshot = next(i for i in items if i["pk"]["S"].startswith("EXEC#") and i["sk"]["S"] == "SNAPSHOT")
    assert item_size(snapshot) < ITEM_LIMIT / 2
