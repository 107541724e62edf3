"""DRS gateway: the only code that talks to the `drs` API."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from drwave.models.recovery import RecoveryPoint

THROTTLED = frozenset({"ThrottlingException", "TooManyRequestsException"})
MAX_JOB_IDS_PER_CALL = 1000  # DescribeJobs filters.jobIDs limit in the service model


class DrsError(Exception):
    """DRS refused a request; `code` is the service's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass(frozen=True)
class SourceServer:
    """The parts of a DRS source server drwave uses."""

    source_server_id: str
    tags: dict[str, str]
    replication_state: str | None
    hostname: str | None


@dataclass(frozen=True)
class ParticipatingServer:
    """One server of a DRS job."""

    source_server_id: str
    launch_status: str
    recovery_instance_id: str | None


@dataclass(frozen=True)
class Job:
    """The parts of a DRS job drwave uses."""

    job_id: str
    status: str
    tags: dict[str, str] = field(default_factory=dict)
    servers: tuple[ParticipatingServer, ...] = ()


@dataclass(frozen=True)
class RecoverySnapshot:
    """A point-in-time snapshot of a source server (what StartRecovery's recoverySnapshotID names)."""

    snapshot_id: str
    source_server_id: str
    taken_at: datetime


def _snapshot(item: dict[str, Any]) -> RecoverySnapshot:
    stamp = item.get("timestamp") or item["expectedTimestamp"]
    return RecoverySnapshot(item["snapshotID"], item["sourceServerID"], datetime.fromisoformat(stamp))


def _job(item: dict[str, Any]) -> Job:
    return Job(
        job_id=item["jobID"],
        status=item.get("status", "PENDING"),
        tags=item.get("tags") or {},
        servers=tuple(
            ParticipatingServer(
                source_server_id=p["sourceServerID"],
                launch_status=p.get("launchStatus", "PENDING"),
                recovery_instance_id=p.get("recoveryInstanceID"),
            )
            for p in item.get("participatingServers") or []
        ),
    )


class DrsGateway:
    """DRS calls with pagination and jittered exponential backoff on throttling."""

    def __init__(
        self,
        client: Any,
        *,
        sleep: Callable[[float], None] = time.sleep,
        max_attempts: int = 6,
        base_delay: float = 0.5,
        max_delay: float = 20.0,
        rng: random.Random | None = None,
    ) -> None:
        self._drs = client
        self._sleep = sleep
        self._max_attempts = max_attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._rng = rng or random.Random()

    def describe_source_servers(self, server_ids: list[str] | None = None) -> list[SourceServer]:
        """Every source server (all pages), optionally only these ids (200 per request)."""
        if server_ids is None:
            return [self._server(i) for i in self._pages("describe_source_servers", filters={})]
        found: list[SourceServer] = []
        for start in range(0, len(server_ids), 200):
            batch = server_ids[start : start + 200]
            found.extend(
                self._server(i) for i in self._pages("describe_source_servers", filters={"sourceServerIDs": batch})
            )
        return found

    def start_recovery(
        self,
        server_ids: list[str],
        *,
        is_drill: bool,
        tags: dict[str, str],
        snapshot_ids: dict[str, str] | None = None,
    ) -> Job:
        """Start one LAUNCH job for these servers (from these PIT snapshots where given, else the latest data)."""
        chosen = snapshot_ids or {}
        response = self._call(
            self._drs.start_recovery,
            sourceServers=[
                {"sourceServerID": s, **({"recoverySnapshotID": chosen[s]} if s in chosen else {})} for s in server_ids
            ],
            isDrill=is_drill,
            tags=tags,
        )
        return _job(response["job"])

    def latest_snapshot_at_or_before(self, server_id: str, when: datetime) -> RecoverySnapshot | None:
        """The server's newest point-in-time snapshot taken at or before `when` (one call)."""
        response = self._call(
            self._drs.describe_recovery_snapshots,
            sourceServerID=server_id,
            filters={"toDateTime": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")},
            order="DESC",
            maxResults=1,
        )
        items = response.get("items") or []
        return _snapshot(items[0]) if items else None

    def snapshots_for(self, point: RecoveryPoint, server_ids: list[str]) -> dict[str, RecoverySnapshot | None]:
        """Each server's snapshot for this recovery point (None: it has none); empty for LATEST."""
        if point.latest:
            return {}
        found: dict[str, RecoverySnapshot | None] = {}
        for sid in server_ids:
            if point.at is not None:
                found[sid] = self.latest_snapshot_at_or_before(sid, point.at)
            else:
                chosen = point.snapshot_ids.get(sid)
                found[sid] = self.find_snapshot(sid, chosen) if chosen else None
        return found

    def find_snapshot(self, server_id: str, snapshot_id: str) -> RecoverySnapshot | None:
        """The server's snapshot with this id, newest pages first (None when it has no such snapshot)."""
        for item in self._pages("describe_recovery_snapshots", sourceServerID=server_id, order="DESC"):
            if item["snapshotID"] == snapshot_id:
                return _snapshot(item)
        return None

    def describe_jobs(self, job_ids: list[str]) -> list[Job]:
        """These jobs' current state, in as few calls as the API allows."""
        jobs: list[Job] = []
        for start in range(0, len(job_ids), MAX_JOB_IDS_PER_CALL):
            batch = job_ids[start : start + MAX_JOB_IDS_PER_CALL]
            jobs.extend(_job(i) for i in self._pages("describe_jobs", filters={"jobIDs": batch}))
        return jobs

    def find_job_by_tag(self, key: str, value: str, since: datetime) -> Job | None:
        """The job created since `since` that carries this tag (to adopt a job whose start we lost)."""
        filters = {"fromDate": since.strftime("%Y-%m-%dT%H:%M:%SZ")}
        for item in self._pages("describe_jobs", filters=filters):
            if (item.get("tags") or {}).get(key) == value:
                return _job(item)
        return None

    def get_launch_configuration(self, server_id: str) -> dict[str, Any]:
        """The server's launch configuration (GetLaunchConfiguration's response, wire names)."""
        response = self._call(self._drs.get_launch_configuration, sourceServerID=server_id)
        response.pop("ResponseMetadata", None)
        return response

    def update_launch_configuration(self, server_id: str, changes: dict[str, Any]) -> None:
        """UpdateLaunchConfiguration with these members (wire names); fields not given stay as they are."""
        self._call(self._drs.update_launch_configuration, sourceServerID=server_id, **changes)

    def describe_job_log_items(self, job_id: str) -> list[dict[str, Any]]:
        """The job's log items (all pages), oldest first."""
        return list(self._pages("describe_job_log_items", jobID=job_id))

    def describe_recovery_instances(self, instance_ids: list[str]) -> list[dict[str, Any]]:
        """These recovery instances as DRS describes them (wire names; all pages, 200 ids per request)."""
        found: list[dict[str, Any]] = []
        for start in range(0, len(instance_ids), 200):
            batch = instance_ids[start : start + 200]
            found.extend(self._pages("describe_recovery_instances", filters={"recoveryInstanceIDs": batch}))
        return found

    def terminate_recovery_instances(self, instance_ids: list[str]) -> Job:
        """Start a TERMINATE job for these recovery instances."""
        response = self._call(self._drs.terminate_recovery_instances, recoveryInstanceIDs=instance_ids)
        return _job(response["job"])

    # --- plumbing ------------------------------------------------------------------------------------

    @staticmethod
    def _server(item: dict[str, Any]) -> SourceServer:
        return SourceServer(
            source_server_id=item["sourceServerID"],
            tags=item.get("tags") or {},
            replication_state=(item.get("dataReplicationInfo") or {}).get("dataReplicationState"),
            hostname=((item.get("sourceProperties") or {}).get("identificationHints") or {}).get("hostname"),
        )

    def _pages(self, operation: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Items of every page; each page request gets its own throttling backoff."""
        method = getattr(self._drs, operation)
        token: str | None = None
        while True:
            response = self._call(method, **kwargs, **({"nextToken": token} if token else {}))
            yield from response.get("items", [])
            token = response.get("nextToken")
            if not token:
                return

    def _call(self, method: Callable[..., dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
        for attempt in range(1, self._max_attempts + 1):
            try:
                return method(**kwargs)
            except ClientError as err:
                code = err.response["Error"]["Code"]
                if code not in THROTTLED or attempt == self._max_attempts:
                    raise DrsError(code, err.response["Error"].get("Message", "")) from err
                # Full jitter keeps many concurrent handlers from retrying in lockstep.
                self._sleep(self._rng.uniform(0, min(self._max_delay, self._base_delay * 2**attempt)))
        raise AssertionError("unreachable")
