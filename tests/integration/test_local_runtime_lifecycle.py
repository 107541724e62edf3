"""LocalRuntime as a context manager: each one starts from an empty simulated account, even after a failed start."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.models import MockAWS
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodbstreams.models import dynamodbstreams_backends

from drwave_local.bench import shapes
from drwave_local.runtime.embedded import TABLE_NAME, LocalRuntime
from drwave_local.simulators.environment import Environment


def environment() -> Environment:
    return Environment.model_validate({"sourceServers": [{"id": "s-00000000000000001"}]})


@pytest.fixture
def no_leaked_mocks() -> Iterator[None]:
    """Test hygiene: whatever moto mocks a test leaves started are stopped, so later tests see moto as before."""
    before = MockAWS._nested_count
    yield
    while MockAWS._nested_count > before:
        MockAWS().stop()


def test_consecutive_runtimes_each_start_from_an_empty_account():
    # GIVEN a runtime that stored something and ended
    with LocalRuntime(environment()) as first:
        first.deps.store.put_owner("JOB", "drsjob-1", {"executionId": "exe-1", "waveId": "w"})
    # WHEN another runtime starts in the same process
    with LocalRuntime(environment()) as second:
        # THEN it sees none of the first one's state
        assert second.deps.store.get_owner("JOB", "drsjob-1") is None


def test_a_runtime_that_failed_to_start_does_not_keep_later_runtimes_from_starting_empty(no_leaked_mocks):
    # GIVEN a runtime whose start failed (the simulator refuses a source server listed twice)
    broken = environment()
    broken.source_servers.append(broken.source_servers[0])
    with pytest.raises(ValueError, match="duplicate source server"), LocalRuntime(broken):
        pass
    # AND then a runtime that stored something and ended
    with LocalRuntime(environment()) as first:
        first.deps.store.put_owner("JOB", "drsjob-1", {"executionId": "exe-1", "waveId": "w"})
    # WHEN another runtime starts
    # THEN it starts on an empty account, as if the failed start never happened
    with LocalRuntime(environment()) as second:
        assert second.deps.store.get_owner("JOB", "drsjob-1") is None


def test_stream_records_delivered_to_the_consumers_are_not_retained():
    # GIVEN a rehearsal of a small chain plan, whose every write goes through the table's stream
    shape = shapes.chain(servers_per_wave=2)
    with LocalRuntime(shape.environment) as rt:
        rt.install(shape.plans[0])
        execution_id = rt.request_execution(shape.plans[0].recovery_plan.id)
        shard = dynamodb_backends[DEFAULT_ACCOUNT_ID][shape.environment.region].tables[TABLE_NAME].stream_shard
        first = shard.starting_sequence_number
        # WHEN it runs to the end
        rt.run()
        # THEN it completed, its writes went through the stream (the execution's: the read model's own writes, which
        # no consumer takes, make no record), and moto holds no record or used iterator of it
        iterators = dynamodbstreams_backends[DEFAULT_ACCOUNT_ID][shape.environment.region].shard_iterators
        assert rt.execution(execution_id).status == "COMPLETED"
        assert shard.starting_sequence_number > first + 50
        assert shard.items == []
        assert len(iterators) <= 1
