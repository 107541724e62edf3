"""Cross-account: the target-account registry, STS AssumeRole sessions (moto STS), and a wave in another account."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from moto.sts.models import sts_backends

from drwave.adapters.sessions import AccountAccessError, AccountSessions, Credentials, acting_for
from drwave.models.accounts import TargetAccount
from drwave.models.execution import WaveStatus

HOME, OTHER = "111122223333", "222233334444"


def target(**kw: Any) -> TargetAccount:
    return TargetAccount.model_validate({"accountId": OTHER, "name": "Prod", "regions": ["us-east-1"], **kw})


def assumed_roles(account: str) -> list[Any]:
    """What moto's STS recorded about AssumeRole calls into `account` (role, session name, external id)."""
    return list(sts_backends[account]["aws"].assumed_roles)


def refuse_assume_role(sts: Any) -> None:
    """Make this STS client's AssumeRole fail as IAM does when the role's trust policy does not allow us."""

    def denied(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        error = {"Code": "AccessDenied", "Message": "not authorized to perform: sts:AssumeRole"}
        return AWSResponse("https://sts.amazonaws.com/", 403, {}, None), {"Error": error}  # type: ignore[arg-type]

    sts.meta.events.register("before-call.sts.AssumeRole", denied)


class Clock:
    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def sessions(aws, store) -> tuple[AccountSessions, list[tuple[str, str, Credentials | None]], Clock]:
    made: list[tuple[str, str, Credentials | None]] = []
    clock = Clock()

    def make_client(service: str, region: str, credentials: Credentials | None, config: Any) -> Any:
        made.append((service, region, credentials))
        keys = {"aws_access_key_id": credentials.access_key_id, "aws_secret_access_key": "x"} if credentials else {}
        return aws.client(service, region_name=region, **keys)

    factory = AccountSessions(
        aws.client("sts"),
        home_account_id=HOME,
        lookup=store.get_target_account,
        default_role_name="drwave-drs-execution",
        make_client=make_client,
        now=clock,
    )
    return factory, made, clock


# --- registry ------------------------------------------------------------------------------------------------


def test_target_accounts_are_stored_listed_and_deleted(store):
    # GIVEN two registered accounts
    store.put_target_account(target(externalId="ext-123"))
    store.put_target_account(target(accountId="333344445555", name="DR", roleName="dr-role", regions=["eu-west-1"]))
    # THEN each reads back as registered, and the list holds both by account id
    assert store.get_target_account(OTHER) == target(externalId="ext-123")
    assert [a.account_id for a in store.list_target_accounts()] == [OTHER, "333344445555"]
    # WHEN one is deleted THEN it is gone, and deleting it again says so
    assert store.delete_target_account(OTHER) is True
    assert store.get_target_account(OTHER) is None
    assert store.delete_target_account(OTHER) is False
    assert [a.account_id for a in store.list_target_accounts()] == ["333344445555"]


# --- sessions --------------------------------------------------------------------------------------------------


def test_the_stacks_own_account_uses_the_function_role_without_assuming_anything(sessions):
    factory, made, _ = sessions
    factory.client("drs", HOME, "us-east-1")
    assert made == [("drs", "us-east-1", None)]
    assert assumed_roles(HOME) == []


def test_another_account_is_reached_through_its_registered_role_with_the_external_id(sessions, store):
    # GIVEN a registered account with an external id
    factory, made, _ = sessions
    store.put_target_account(target(externalId="ext-123"))
    # WHEN a client for it is asked for while working on an execution
    with acting_for("exe-0001"):
        client = factory.client("sts", OTHER, "us-east-1")
    # THEN the stack's default role in that account was assumed with the external id, naming drwave and the execution
    (role,) = assumed_roles(OTHER)
    assert role.role_arn == f"arn:aws:iam::{OTHER}:role/drwave-drs-execution"
    assert (role.external_id, role.session_name) == ("ext-123", "drwave-exe-0001")
    # AND the client acts as that role in that account
    assert client.get_caller_identity()["Account"] == OTHER
    assert made[-1][2] is not None and made[-1][2].access_key_id == role.access_key_id


def test_assumed_credentials_are_reused_until_shortly_before_they_expire(sessions, store):
    factory, _, clock = sessions
    store.put_target_account(target())
    # GIVEN a client made through an assumed role
    first = factory.client("drs", OTHER, "us-east-1")
    # WHEN clients are asked for again within the hour THEN the same one serves, with no new AssumeRole
    clock.at += timedelta(minutes=50)
    assert factory.client("drs", OTHER, "us-east-1") is first
    assert len(assumed_roles(OTHER)) == 1
    # WHEN the credentials are within minutes of expiring THEN the role is assumed again
    clock.at += timedelta(minutes=6)
    assert factory.client("drs", OTHER, "us-east-1") is not first
    assert len(assumed_roles(OTHER)) == 2


@pytest.mark.parametrize(
    ("registered", "reason"),
    [
        (None, "the account is not a registered target account"),
        (target(regions=["eu-west-1"]), "region us-east-1 is not registered for it (registered: eu-west-1)"),
    ],
)
def test_unregistered_accounts_and_regions_are_refused_without_calling_sts(sessions, store, registered, reason):
    factory, _, _ = sessions
    if registered:
        store.put_target_account(registered)
    with pytest.raises(AccountAccessError) as err:
        factory.client("drs", OTHER, "us-east-1")
    assert (
        str(err.value) == f"cannot act in account {OTHER} as arn:aws:iam::{OTHER}:role/drwave-drs-execution: {reason}"
    )
    assert assumed_roles(OTHER) == []


def test_a_refused_assume_role_is_a_clear_non_retryable_access_error(aws, store):
    # GIVEN an STS that refuses the role
    sts = aws.client("sts")
    refuse_assume_role(sts)
    store.put_target_account(target(roleName="dr-role"))
    factory = AccountSessions(
        sts,
        home_account_id=HOME,
        lookup=store.get_target_account,
        default_role_name="drwave-drs-execution",
        make_client=lambda *_: pytest.fail("no client without credentials"),
        now=Clock(),
    )
    # WHEN a client is asked for THEN the error names account, role and IAM's reason
    with pytest.raises(AccountAccessError) as err:
        factory.client("drs", OTHER, "us-east-1")
    assert err.value.account_id == OTHER
    assert err.value.role == f"arn:aws:iam::{OTHER}:role/dr-role"
    assert err.value.reason == "AccessDenied: not authorized to perform: sts:AssumeRole"
    assert err.value.retryable is False


# --- a wave in another account (local runtime: moto STS + DRS simulator) --------------------------------------


def other_account_plan(servers: list[str]) -> dict[str, Any]:
    return {
        "protectionGroups": [
            {
                "id": "pg-app",
                "name": "App",
                "accountId": OTHER,
                "serverSelectionTags": [{"key": "Tier", "value": "app"}],
            }
        ],
        "recoveryPlan": {
            "id": "plan-it",
            "name": "Other account",
            "waves": [{"id": "app", "protectionGroupIds": ["pg-app"]}],
        },
    }


def test_a_group_in_another_account_resolves_and_launches_through_the_assumed_role(harness, sid):
    # GIVEN a tag-selected group in a registered target account
    h = harness(other_account_plan([]), servers=2, tags={sid(1): {"Tier": "app"}, sid(2): {"Tier": "app"}})
    h.rt.deps.store.put_target_account(target(externalId="ext-123"))
    # WHEN its execution launches the wave
    h.request("exe-0001")
    h.start_wave("exe-0001", "app")
    # THEN DRS was asked, for the inventory and the job, only with the assumed role's credentials
    (role,) = assumed_roles(OTHER)
    assert (role.external_id, role.session_name) == ("ext-123", "drwave-exe-0001")
    assert h.rt.drs.callers[("DescribeSourceServers", role.access_key_id)] == 1
    assert h.rt.drs.callers[("StartRecovery", role.access_key_id)] == 1
    assert {key for _, key in h.rt.drs.callers} == {role.access_key_id}
    wave = h.execution("exe-0001").waves["app"]
    assert sorted(wave.servers) == [sid(1), sid(2)]
    assert wave.chunks[0].job_id is not None


def test_a_refused_role_fails_the_wave_with_the_reason_in_the_timeline(harness, sid):
    # GIVEN a group in a registered account whose role refuses drwave
    h = harness(other_account_plan([]), servers=1, tags={sid(1): {"Tier": "app"}})
    h.rt.deps.store.put_target_account(target())
    refuse_assume_role(h.rt.sts)
    h.request("exe-0001")
    # WHEN the wave is asked to start, twice (at-least-once delivery)
    h.start_wave("exe-0001", "app")
    h.start_wave("exe-0001", "app")
    # THEN the wave failed once, saying why, and nothing reached DRS
    execution = h.execution("exe-0001")
    reason = (
        f"cannot act in account {OTHER} as arn:aws:iam::{OTHER}:role/drwave-drs-execution: "
        "AccessDenied: not authorized to perform: sts:AssumeRole"
    )
    assert execution.waves["app"].status is WaveStatus.FAILED
    assert execution.waves["app"].reason == reason
    assert [(e.event, e.detail) for e in execution.timeline if e.event == "WAVE_FAILED"] == [("WAVE_FAILED", reason)]
    assert [d["reason"] for d in h.bus.of("Wave Failed")] == [reason]
    assert sum(h.rt.drs.calls.values()) == 0


def test_an_unregistered_account_fails_the_wave_instead_of_retrying_forever(harness, sid):
    h = harness(other_account_plan([]), servers=1, tags={sid(1): {"Tier": "app"}})
    h.request("exe-0001")
    h.start_wave("exe-0001", "app")
    wave = h.execution("exe-0001").waves["app"]
    assert wave.status is WaveStatus.FAILED
    assert wave.reason is not None and wave.reason.endswith("the account is not a registered target account")
