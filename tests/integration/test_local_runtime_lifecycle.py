"""LocalRuntime as a context manager: each one starts from an empty simulated account, even after a failed start."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto.core.models import MockAWS

from drwave_local.runtime.embedded import LocalRuntime
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
