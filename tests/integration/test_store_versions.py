"""Definition versions on DynamoDB itself: conditional create, If-Match-style replace and delete (moto)."""

from __future__ import annotations

import pytest

from drwave.adapters.store import DynamoStore, VersionMismatch
from drwave.models.accounts import TargetAccount
from drwave.models.plan import ProtectionGroup, RecoveryPlan


def group(name: str = "web") -> ProtectionGroup:
    return ProtectionGroup(id="pg-web", name=name, source_server_ids=["s-00000000000000001"])


def test_a_create_of_an_existing_id_fails_in_dynamodb_even_without_a_prior_read(store: DynamoStore) -> None:
    # GIVEN two writers that both found no group pg-web (neither holds a lock)
    assert store.put_group(group("first"), create=True) == 1
    # WHEN the second creates it too
    with pytest.raises(VersionMismatch):
        store.put_group(group("second"), create=True)
    # THEN the first one's group stands
    assert store.get_group("pg-web") == group("first")


def test_every_write_bumps_the_version_and_a_stale_expectation_loses(store: DynamoStore) -> None:
    store.put_group(group(), create=True)
    assert store.put_group(group("v2"), expect=1) == 2
    with pytest.raises(VersionMismatch):
        store.put_group(group("stale"), expect=1)
    found = store.get_group_versioned("pg-web")
    assert found is not None
    assert (found.value.name, found.version) == ("v2", 2)


def test_a_replace_that_must_exist_does_not_resurrect_a_deleted_definition(store: DynamoStore) -> None:
    plan = RecoveryPlan.model_validate({"id": "p", "name": "p", "waves": [{"id": "a", "protectionGroupIds": ["g"]}]})
    store.put_plan(plan, create=True)
    store.delete_plan("p")
    with pytest.raises(VersionMismatch):
        store.put_plan(plan, must_exist=True)
    assert store.get_plan("p") is None


def test_a_delete_at_a_stale_version_keeps_the_item(store: DynamoStore) -> None:
    account = TargetAccount(account_id="444455556666", name="prod", regions=["us-east-1"])
    store.put_target_account(account, create=True)
    store.put_target_account(account, expect=1)
    with pytest.raises(VersionMismatch):
        store.delete_target_account("444455556666", expect=1)
    assert store.get_target_account("444455556666") == account
    assert store.delete_target_account("444455556666", expect=2)
