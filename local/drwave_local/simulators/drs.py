"""Simulated AWS Elastic Disaster Recovery behind a real boto3 ``drs`` client, driven by the virtual clock.

The simulator hooks botocore's ``before-send`` event, so botocore still validates every request and
parses every response in the service model's shapes; only the HTTP round trip is replaced.
"""

from __future__ import annotations

import base64
import collections
import heapq
import io
import json
import random
import re
import string
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache, partial
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import botocore.session
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.model import NoShapeFoundError, ServiceModel

from drwave_local.runtime.clock import TimerHandle, VirtualClock
from drwave_local.simulators.snapshots import PitSnapshot, SnapshotCadence, SnapshotSchedule

if TYPE_CHECKING:
    from mypy_boto3_drs import DrsClient

# Quotas from the DRS User Guide, "Disaster recovery at scale".
MAX_SERVERS_PER_JOB = 100
MAX_ACTIVE_JOBS = 20
MAX_SERVERS_IN_ACTIVE_JOBS = 500
DEFAULT_MAX_PAGE_SIZE = 1000
TERMINATE_SECONDS = 60.0
THROTTLE_RETRY_AFTER_SECONDS = 1
# Label of the clock timers that deliver launch-result events, so idle checks can ignore them.
LAUNCH_RESULT_TIMER_LABEL = "drs:launch-result"
# Label of the timer that announces PIT snapshots ("DRS PIT Snapshot Taken"): it never keeps the runtime busy.
PIT_SNAPSHOT_TIMER_LABEL = "drs:pit-snapshot"
FAIL_PHASES = ("SNAPSHOT", "CONVERSION", "LAUNCH")
# Job log events per phase: (start, successful end, failure); a successful launch has no end event.
_PHASE_EVENTS: dict[str, tuple[str, str | None, str]] = {
    "SNAPSHOT": ("SNAPSHOT_START", "SNAPSHOT_END", "SNAPSHOT_FAIL"),
    "CONVERSION": ("CONVERSION_START", "CONVERSION_END", "CONVERSION_FAIL"),
    "LAUNCH": ("LAUNCH_START", None, "LAUNCH_FAILED"),
    "CLEANUP": ("CLEANUP_START", "CLEANUP_END", "CLEANUP_FAIL"),
}
_SOURCE_SERVER_ID = re.compile(r"s-[0-9a-zA-Z]{17}")
_ALPHANUMERIC = string.ascii_letters + string.digits
_T = TypeVar("_T")


def _access_key(request: AWSPreparedRequest) -> str | None:
    """The access key id a SigV4-signed request was signed with (Credential=<key>/<date>/...)."""
    match = re.search(r"Credential=([^/,\s]+)/", str(request.headers.get("Authorization") or ""))
    return match.group(1) if match else None


@cache
def _drs_model() -> ServiceModel:
    """The botocore service model for drs, loaded once."""
    return botocore.session.get_session().get_service_model("drs")


def _iso(when: datetime) -> str:
    """DRS timestamp format: ISO 8601 in UTC ending in Z."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class ServerTimeline:
    """Seconds of virtual time for each phase of one server in a LAUNCH job."""

    snapshot_seconds: float = 60.0
    conversion_seconds: float = 240.0
    launch_seconds: float = 120.0


@dataclass
class SimulatedSourceServer:
    """A source server replicating into DRS, with the behaviour its launches will have."""

    source_server_id: str
    hostname: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    replication_state: str = "CONTINUOUS"
    timeline: ServerTimeline | None = None
    fail_at: str | None = None
    staging_account_id: str | None = None
    snapshots: SnapshotCadence | None = None  # PIT snapshot cadence; None: the simulator's default


@dataclass
class Phase:
    """One timed step of a server in a job: SNAPSHOT, CONVERSION, LAUNCH or CLEANUP."""

    name: str
    start: datetime
    end: datetime


@dataclass
class ServerRun:
    """Ground truth for one source server in one job, fixed when the job is created."""

    source_server_id: str
    phases: list[Phase]  # the phases that run, in order; when `failed`, the last one fails
    failed: bool
    instance_id: str  # recovery instance launched (LAUNCH job) or terminated (TERMINATE job)
    conversion_server_id: str = ""
    snapshot: PitSnapshot | None = None  # the PIT snapshot StartRecovery named (recoverySnapshotID), if any

    @property
    def end(self) -> datetime:
        """When this server's part of the job is over."""
        return self.phases[-1].end


@dataclass
class SimulatedJob:
    """Ground truth for one DRS job; statuses are derived from the clock, never stored."""

    job_id: str
    arn: str
    seq: int  # creation order, the key for newest-first listing
    job_type: str  # LAUNCH | TERMINATE
    initiated_by: str
    is_drill: bool
    tags: dict[str, str]
    created: datetime
    started: datetime
    runs: list[ServerRun] = field(default_factory=list)

    @property
    def ended(self) -> datetime:
        """When the last participating server finishes."""
        return max((run.end for run in self.runs), default=self.started)

    def status(self, now: datetime) -> str:
        """JobStatus at virtual time `now`."""
        if now < self.started:
            return "PENDING"
        return "STARTED" if now < self.ended else "COMPLETED"

    def launch_status(self, run: ServerRun, now: datetime) -> str:
        """LaunchStatus of one participating server at virtual time `now`."""
        if now < self.started:
            return "PENDING"
        if now < run.end:
            return "IN_PROGRESS"
        if self.job_type == "TERMINATE":
            return "TERMINATED"
        return "FAILED" if run.failed else "LAUNCHED"


@dataclass
class _RecoveryInstance:
    """A recovery instance a successful LAUNCH run creates; DRS forgets it once its termination ends."""

    job: SimulatedJob
    run: ServerRun
    termination: Phase | None = None  # the CLEANUP phase of the TERMINATE job, once requested

    def state(self, now: datetime) -> str | None:
        """EC2 instance state at `now`, or None when DRS does not (or no longer) know the instance."""
        if now < self.run.end or (self.termination is not None and now >= self.termination.end):
            return None
        return "SHUTTING-DOWN" if self.termination is not None and now >= self.termination.start else "RUNNING"


class DrsError(Exception):
    """A DRS error response; the HTTP status comes from the error shape in the service model."""

    def __init__(self, code: str, message: str, **members: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.members = members


def _validation_error(message: str, field_name: str | None = None, reason: str = "") -> DrsError:
    """A ValidationException naming the offending request field."""
    fields = [{"name": field_name, "message": message}] if field_name else []
    reason = reason or ("fieldValidationFailed" if field_name else "other")
    return DrsError("ValidationException", message, reason=reason, fieldList=fields)


def _conflict_error(message: str, resource_id: str, resource_type: str) -> DrsError:
    """A ConflictException about one resource."""
    return DrsError("ConflictException", message, resourceId=resource_id, resourceType=resource_type)


def _quota_error(message: str, resource_type: str) -> DrsError:
    """A ServiceQuotaExceededException for one of the DRS scale quotas."""
    return DrsError("ServiceQuotaExceededException", message, serviceCode="drs", resourceType=resource_type)


class _RawBody(io.BytesIO):
    """The raw-stream interface AWSResponse reads a body through."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        """Yield the whole body in one chunk."""
        yield self.read()


class DrsSimulator:
    """Answers a boto3 drs client's calls from simulated state that evolves with a VirtualClock.

    `jobs` maps job id to SimulatedJob (its ServerRuns hold the planned phase times and outcomes);
    `calls` counts API calls per operation, failed ones included.
    """

    def __init__(
        self,
        clock: VirtualClock,
        *,
        account_id: str = "123456789012",
        region: str = "us-east-1",
        seed: int = 0,
        default_timeline: ServerTimeline | None = None,
        jitter: float = 0.0,
        job_start_delay_seconds: float = 5.0,
        emit_event: Callable[[dict[str, Any]], None] | None = None,
        lose_launch_results: float = 0.0,
        launch_template_for: Callable[[str, str | None], str] | None = None,
        snapshot_cadence: SnapshotCadence | None = None,
        pit_snapshot_events: bool = True,
    ) -> None:
        if not 0.0 <= jitter < 1.0:
            raise ValueError("jitter must be in [0, 1) so phase durations stay positive")
        self._clock = clock
        self._account_id = account_id
        self._region = region
        self._rng = random.Random(seed)
        self._seed = seed
        self._default_timeline = default_timeline or ServerTimeline()
        self._jitter = jitter
        self._job_start_delay = timedelta(seconds=job_start_delay_seconds)
        self._emit_event = emit_event
        self._lose_launch_results = lose_launch_results
        self._model = _drs_model()
        self._servers: dict[str, SimulatedSourceServer] = {}
        self._last_launch: dict[str, tuple[SimulatedJob, ServerRun]] = {}
        self._instances: dict[str, _RecoveryInstance] = {}
        self._injected: dict[str, collections.deque[str]] = collections.defaultdict(collections.deque)
        self._lost_events: list[dict[str, Any]] = []
        # (source server id, caller's access key id) -> EC2 launch template id, made when first asked for;
        # without one the simulator invents ids (no EC2 behind them).
        self._launch_template_for = launch_template_for
        self._caller: str | None = None
        self._snapshot_cadence = snapshot_cadence or SnapshotCadence()
        self._schedules: dict[str, SnapshotSchedule] = {}
        # "DRS PIT Snapshot Taken" announcements: (taken, server id, snapshot index) of each server's next one.
        self._pit_events = pit_snapshot_events and emit_event is not None
        self._pit_due: list[tuple[datetime, str, int]] = []
        self._pit_timer: TimerHandle | None = None
        self._operations: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "StartRecovery": self._start_recovery,
            "DescribeJobs": self._describe_jobs,
            "DescribeJobLogItems": self._describe_job_log_items,
            "DescribeSourceServers": self._describe_source_servers,
            "DescribeRecoveryInstances": self._describe_recovery_instances,
            "TerminateRecoveryInstances": self._terminate_recovery_instances,
            "GetLaunchConfiguration": self._get_launch_configuration,
            "UpdateLaunchConfiguration": self._update_launch_configuration,
            "DescribeRecoverySnapshots": self._describe_recovery_snapshots,
        }
        self.calls: collections.Counter[str] = collections.Counter()
        # (operation, access key id that signed the request): shows which credentials (e.g. an assumed role) acted.
        self.callers: collections.Counter[tuple[str, str | None]] = collections.Counter()
        # Source server id -> its launch configuration (GetLaunchConfiguration shape), made on first use.
        self.launch_configurations: dict[str, dict[str, Any]] = {}
        # Every UpdateLaunchConfiguration request body, in order, for tests to assert on.
        self.launch_configuration_updates: list[dict[str, Any]] = []
        self.jobs: dict[str, SimulatedJob] = {}
        # Largest page any Describe* call returns; lower it to make small fleets span several pages.
        self.max_page_size = DEFAULT_MAX_PAGE_SIZE

    def attach(self, client: DrsClient) -> None:
        """Serve every request of this boto3 drs client from the simulator (idempotent per client)."""
        if client.meta.service_model.service_name != "drs":
            raise ValueError(f"not a drs client: {client.meta.service_model.service_name}")
        if client.meta.region_name != self._region:
            raise ValueError(f"client region {client.meta.region_name} != simulator region {self._region}")
        # A handler on the more specific "before-send.drs" runs before moto's global "before-send" one,
        # whose 404 "Not yet implemented" for drs is then ignored (the first non-None response wins).
        # botocore-stubs types handlers as returning None, but before-send handlers may return a response.
        client.meta.events.register_first(
            "before-send.drs",
            self._handle,  # type: ignore[arg-type]
            unique_id=f"drwave-drs-simulator-{id(self)}",
        )

    def add_source_server(self, server: SimulatedSourceServer) -> None:
        """Register a source server as replicating into this account."""
        if not _SOURCE_SERVER_ID.fullmatch(server.source_server_id):
            raise ValueError(f"source server id must be s- and 17 alphanumerics: {server.source_server_id}")
        if server.source_server_id in self._servers:
            raise ValueError(f"duplicate source server {server.source_server_id}")
        if server.fail_at not in (None, *FAIL_PHASES):
            raise ValueError(f"fail_at must be None or one of {FAIL_PHASES}: {server.fail_at}")
        self._check_replication_state(server.replication_state)
        self._servers[server.source_server_id] = server
        cadence = server.snapshots or self._snapshot_cadence
        schedule = self._schedules[server.source_server_id] = SnapshotSchedule(
            self._seed, server.source_server_id, self._clock.now(), cadence
        )
        if self._pit_events:
            upcoming = schedule.snapshot(schedule.next_index(self._clock.now()))
            heapq.heappush(self._pit_due, (upcoming.taken, server.source_server_id, upcoming.index))
            self._arm_pit_announcements()

    def set_replication_state(self, source_server_id: str, state: str) -> None:
        """Change a server's DataReplicationState (e.g. to STALLED) from now on."""
        self._check_replication_state(state)
        self._servers[source_server_id].replication_state = state

    def inject_throttling(self, operation: str, count: int) -> None:
        """Make the next `count` calls of `operation` fail with ThrottlingException."""
        self.inject_error(operation, "ThrottlingException", count)

    def inject_error(self, operation: str, code: str, count: int = 1) -> None:
        """Make the next `count` calls of `operation` fail with the modelled error `code`."""
        try:
            shape = self._model.shape_for(code)
        except NoShapeFoundError:
            shape = None
        if shape is None or not shape.metadata.get("exception"):
            raise ValueError(f"not a drs error shape: {code}")
        self._injected[operation].extend([code] * count)

    def ground_truth(self) -> dict[str, dict[str, str]]:
        """Job id -> {source server id -> launchStatus now}, for every job ever created."""
        now = self._clock.now()
        return {
            job_id: {run.source_server_id: job.launch_status(run, now) for run in job.runs}
            for job_id, job in self.jobs.items()
        }

    def launch_result_events_lost(self) -> list[dict[str, Any]]:
        """The launch-result events dropped so far (EventBridge delivery is best effort)."""
        return list(self._lost_events)

    def _handle(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        """botocore before-send hook: answer the request without any network."""
        operation = self._operation_name(request)
        self._caller = _access_key(request)
        self.callers[(operation, self._caller)] += 1
        body = request.body  # botocore always serializes rest-json input as a JSON object
        try:
            payload = self.call(operation, json.loads(body) if isinstance(body, bytes | str) and body else {})
            status = self._model.operation_model(operation).http.get("responseCode", 200)
            return self._response(request.url, status, payload, {})
        except DrsError as error:
            return self._error_response(request.url, error)

    def call(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        """One DRS operation on a request body, in the service's JSON shapes, without HTTP or botocore.

        What a boto3 client's request reaches (the prediction harness calls it directly); raises DrsError.
        """
        self.calls[operation] += 1
        self._arm_pit_announcements()
        injected = self._injected.get(operation)
        if injected:
            code = injected.popleft()
            raise DrsError(code, f"injected {code} for {operation}")
        handler = self._operations.get(operation)
        if handler is None:
            raise _validation_error(
                f"operation not supported by the drwave DRS simulator: {operation}", reason="unknownOperation"
            )
        return handler(body)

    @staticmethod
    def _operation_name(request: AWSPreparedRequest) -> str:
        """rest-json routes by path: /<Operation>, except the three tag operations on /tags/{arn}."""
        path = urlsplit(request.url).path
        if path.startswith("/tags/"):
            return {"GET": "ListTagsForResource", "DELETE": "UntagResource"}.get(request.method, "TagResource")
        return path.strip("/")

    @staticmethod
    def _response(url: str, status: int, payload: dict[str, Any], headers: dict[str, str]) -> AWSResponse:
        """An HTTP response botocore parses as if DRS had sent it."""
        body = json.dumps(payload).encode()
        all_headers = {"content-type": "application/json", "content-length": str(len(body)), **headers}
        return AWSResponse(url, status, all_headers, _RawBody(body))  # type: ignore[arg-type]

    def _error_response(self, url: str, error: DrsError) -> AWSResponse:
        """An error response: x-amzn-ErrorType picks the exception class boto3 raises."""
        status = int(self._model.shape_for(error.code).metadata["error"]["httpStatusCode"])
        headers = {"x-amzn-ErrorType": error.code}
        payload: dict[str, Any] = {"message": error.message, **error.members}
        if error.code == "ThrottlingException":
            headers["Retry-After"] = str(THROTTLE_RETRY_AFTER_SECONDS)
            payload["retryAfterSeconds"] = str(THROTTLE_RETRY_AFTER_SECONDS)
        return self._response(url, status, payload, headers)

    def _page(
        self,
        operation: str,
        keyed: list[tuple[int, _T]],
        body: dict[str, Any],
        render: Callable[[_T], dict[str, Any]],
    ) -> dict[str, Any]:
        """One page of `keyed` (in response order, keys increasing): the token names the last key served.

        Resuming after a key rather than an offset keeps pages stable while new jobs are created.
        """
        limit = min(int(body.get("maxResults") or self.max_page_size), self.max_page_size)
        token = body.get("nextToken")
        if token:
            try:
                decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
                if decoded["op"] != operation:
                    raise ValueError(decoded["op"])
                after = int(decoded["after"])
            except (ValueError, KeyError, TypeError) as exc:
                raise _validation_error("invalid nextToken", "nextToken") from exc
            keyed = [(key, item) for key, item in keyed if key > after]
        page: dict[str, Any] = {"items": [render(item) for _, item in keyed[:limit]]}
        if len(keyed) > limit:
            cursor = json.dumps({"op": operation, "after": keyed[limit - 1][0]})
            page["nextToken"] = base64.urlsafe_b64encode(cursor.encode()).decode()
        return page

    def _start_recovery(self, body: dict[str, Any]) -> dict[str, Any]:
        """StartRecovery: check quotas and conflicts, then plan a LAUNCH job."""
        requested = [entry["sourceServerID"] for entry in body["sourceServers"]]
        if len(requested) > MAX_SERVERS_PER_JOB:
            raise _quota_error(
                f"a recovery job can include at most {MAX_SERVERS_PER_JOB} source servers, got {len(requested)}",
                "SOURCE_SERVER",
            )
        unknown = [sid for sid in requested if sid not in self._servers]
        if unknown:
            raise _validation_error(f"unknown source servers: {', '.join(unknown)}", "sourceServers")
        if len(set(requested)) != len(requested):
            raise _validation_error("a source server is listed more than once", "sourceServers")
        snapshots = self._requested_snapshots(body["sourceServers"])
        self._check_capacity(requested)
        is_drill = bool(body.get("isDrill", False))
        job = self._new_job("LAUNCH", "START_DRILL" if is_drill else "START_RECOVERY", is_drill, body)
        for sid in requested:
            run = self._plan_launch(job, self._servers[sid])
            run.snapshot = snapshots.get(sid)
            job.runs.append(run)
            self._last_launch[sid] = (job, run)
        return {"job": self._job_json(job, self._clock.now())}

    def _requested_snapshots(self, entries: list[dict[str, Any]]) -> dict[str, PitSnapshot]:
        """The PIT snapshots StartRecovery names; an id the server does not have is a ValidationException."""
        now = self._clock.now()
        found: dict[str, PitSnapshot] = {}
        for entry in entries:
            snapshot_id = entry.get("recoverySnapshotID")
            if not snapshot_id:
                continue
            sid = entry["sourceServerID"]
            snapshot = self._schedules[sid].find(snapshot_id, now)
            if snapshot is None:
                message = f"recovery snapshot {snapshot_id} not found for source server {sid}"
                raise _validation_error(message, "sourceServers.recoverySnapshotID")
            found[sid] = snapshot
        return found

    def _describe_recovery_snapshots(self, body: dict[str, Any]) -> dict[str, Any]:
        """DescribeRecoverySnapshots: one server's PIT snapshots taken by now, by time, ASC or DESC."""
        sid = body["sourceServerID"]
        schedule = self._schedules.get(sid)
        if schedule is None:
            # The service model lists no ResourceNotFoundException for this operation.
            raise _validation_error(f"source server {sid} not found", "sourceServerID")
        filters = body.get("filters") or {}
        since = self._parse_date(filters.get("fromDateTime"), "filters.fromDateTime")
        until = self._parse_date(filters.get("toDateTime"), "filters.toDateTime")
        chosen = [
            s
            for s in schedule.taken_by(self._clock.now())
            if (since is None or s.taken >= since) and (until is None or s.taken <= until)
        ]
        descending = body.get("order") == "DESC"
        keyed = [(-s.index if descending else s.index, s) for s in (reversed(chosen) if descending else chosen)]
        return self._page("DescribeRecoverySnapshots", keyed, body, self._snapshot_json)

    @staticmethod
    def _snapshot_json(snapshot: PitSnapshot) -> dict[str, Any]:
        """A RecoverySnapshot shape."""
        return {
            "snapshotID": snapshot.snapshot_id,
            "sourceServerID": snapshot.source_server_id,
            "expectedTimestamp": _iso(snapshot.expected),
            "timestamp": _iso(snapshot.taken),
            "ebsSnapshots": list(snapshot.ebs_snapshots),
        }

    def _terminate_recovery_instances(self, body: dict[str, Any]) -> dict[str, Any]:
        """TerminateRecoveryInstances: a TERMINATE job after which the instances leave DRS."""
        now = self._clock.now()
        instances = []
        for instance_id in body["recoveryInstanceIDs"]:
            instance = self._instances.get(instance_id)
            if instance is None or instance.state(now) is None:
                raise _validation_error(f"unknown recovery instance {instance_id}", "recoveryInstanceIDs")
            if instance.termination is not None:
                message = f"recovery instance {instance_id} is already being terminated"
                raise _conflict_error(message, instance_id, "RECOVERY_INSTANCE")
            instances.append(instance)
        self._check_capacity([instance.run.source_server_id for instance in instances])
        job = self._new_job("TERMINATE", "TERMINATE_RECOVERY_INSTANCES", False, {})
        for instance in instances:
            instance.termination = Phase("CLEANUP", job.started, job.started + timedelta(seconds=TERMINATE_SECONDS))
            job.runs.append(
                ServerRun(instance.run.source_server_id, [instance.termination], False, instance.run.instance_id)
            )
        return {"job": self._job_json(job, now)}

    def _describe_jobs(self, body: dict[str, Any]) -> dict[str, Any]:
        """DescribeJobs: newest first, filtered by id and creation date."""
        filters = body.get("filters") or {}
        wanted = set(filters.get("jobIDs") or [])
        from_date = self._parse_date(filters.get("fromDate"), "filters.fromDate")
        to_date = self._parse_date(filters.get("toDate"), "filters.toDate")
        keyed = [
            (-job.seq, job)
            for job in reversed(self.jobs.values())
            if (not wanted or job.job_id in wanted)
            and (from_date is None or job.created >= from_date)
            and (to_date is None or job.created <= to_date)
        ]
        now = self._clock.now()
        return self._page("DescribeJobs", keyed, body, lambda job: self._job_json(job, now))

    def _describe_job_log_items(self, body: dict[str, Any]) -> dict[str, Any]:
        """DescribeJobLogItems: the job's log up to now, oldest first."""
        job = self.jobs.get(body["jobID"])
        if job is None:
            raise DrsError(
                "ResourceNotFoundException",
                f"job {body['jobID']} not found",
                resourceId=body["jobID"],
                resourceType="JOB",
            )
        now = self._clock.now()
        keyed = [(index, item) for index, (when, item) in enumerate(self._job_log(job)) if when <= now]
        return self._page("DescribeJobLogItems", keyed, body, lambda item: item)

    def _describe_source_servers(self, body: dict[str, Any]) -> dict[str, Any]:
        """DescribeSourceServers: in registration order, filtered by id and staging account."""
        filters = body.get("filters") or {}
        wanted = set(filters.get("sourceServerIDs") or [])
        staging = set(filters.get("stagingAccountIDs") or [])
        keyed = [
            (index, server)
            for index, server in enumerate(self._servers.values())
            if (not wanted or server.source_server_id in wanted)
            and (not staging or server.staging_account_id in staging)
        ]
        now = self._clock.now()
        latest = {instance.run.source_server_id: instance.run.instance_id for instance in self._live_instances(now)}
        return self._page("DescribeSourceServers", keyed, body, lambda server: self._server_json(server, now, latest))

    def _get_launch_configuration(self, body: dict[str, Any]) -> dict[str, Any]:
        """GetLaunchConfiguration: DRS's defaults until updated; the EC2 launch template is made on first ask."""
        return dict(self._launch_configuration(body["sourceServerID"]))

    def _update_launch_configuration(self, body: dict[str, Any]) -> dict[str, Any]:
        """UpdateLaunchConfiguration: the members given replace the current ones."""
        config = self._launch_configuration(body["sourceServerID"])
        self.launch_configuration_updates.append(dict(body))
        config.update({k: v for k, v in body.items() if k != "sourceServerID"})
        return dict(config)

    def _launch_configuration(self, source_server_id: str) -> dict[str, Any]:
        server = self._servers.get(source_server_id)
        if server is None:
            raise DrsError(
                "ResourceNotFoundException",
                f"source server {source_server_id} not found",
                resourceId=source_server_id,
                resourceType="SOURCE_SERVER",
            )
        config = self.launch_configurations.get(source_server_id)
        if config is None:
            template_id = (
                self._launch_template_for(source_server_id, self._caller)
                if self._launch_template_for
                else f"lt-{len(self.launch_configurations) + 1:017x}"
            )
            # The defaults DRS gives a newly replicating server (DRS User Guide, "Default DRS launch settings").
            config = self.launch_configurations[source_server_id] = {
                "sourceServerID": source_server_id,
                "name": server.hostname or source_server_id,
                "ec2LaunchTemplateID": template_id,
                "launchDisposition": "STARTED",
                "targetInstanceTypeRightSizingMethod": "BASIC",
                "copyPrivateIp": False,
                "copyTags": False,
                "licensing": {"osByol": True},
                "postLaunchEnabled": False,
            }
        return config

    def _describe_recovery_instances(self, body: dict[str, Any]) -> dict[str, Any]:
        """DescribeRecoveryInstances: the instances DRS knows now, filtered by id and source server."""
        filters = body.get("filters") or {}
        wanted = set(filters.get("recoveryInstanceIDs") or [])
        servers = set(filters.get("sourceServerIDs") or [])
        now = self._clock.now()
        keyed = [
            (index, instance)
            for index, instance in enumerate(self._live_instances(now))
            if (not wanted or instance.run.instance_id in wanted)
            and (not servers or instance.run.source_server_id in servers)
        ]
        return self._page("DescribeRecoveryInstances", keyed, body, lambda instance: self._instance_json(instance, now))

    def _check_capacity(self, source_server_ids: list[str]) -> None:
        """Enforce one active job per source server, then the concurrent job and server quotas."""
        now = self._clock.now()
        active = [job for job in self.jobs.values() if job.status(now) != "COMPLETED"]
        busy = {run.source_server_id: job.job_id for job in active for run in job.runs}
        for sid in source_server_ids:
            if sid in busy:
                message = f"source server {sid} is already in active job {busy[sid]}"
                raise _conflict_error(message, sid, "SOURCE_SERVER")
        if len(active) + 1 > MAX_ACTIVE_JOBS:
            raise _quota_error(f"at most {MAX_ACTIVE_JOBS} jobs can be active at once", "JOB")
        in_flight = sum(len(job.runs) for job in active)
        if in_flight + len(source_server_ids) > MAX_SERVERS_IN_ACTIVE_JOBS:
            raise _quota_error(
                f"at most {MAX_SERVERS_IN_ACTIVE_JOBS} source servers can be in active jobs, {in_flight} already are",
                "SOURCE_SERVER",
            )

    def _new_job(self, job_type: str, initiated_by: str, is_drill: bool, body: dict[str, Any]) -> SimulatedJob:
        """Create and record an empty job that starts after the configured delay."""
        job_id = "drsjob-" + "".join(self._rng.choices(_ALPHANUMERIC, k=17))
        now = self._clock.now()
        job = SimulatedJob(
            job_id=job_id,
            arn=f"arn:aws:drs:{self._region}:{self._account_id}:job/{job_id}",
            seq=len(self.jobs),
            job_type=job_type,
            initiated_by=initiated_by,
            is_drill=is_drill,
            tags=dict(body.get("tags") or {}),
            created=now,
            started=now + self._job_start_delay,
        )
        self.jobs[job_id] = job
        return job

    def phase_factors(self, source_server_id: str) -> list[float]:
        """Jitter factors of a server's three phases: a function of (seed, server) alone, so two
        orchestrators launching the same server in different orders see the same DRS timeline."""
        rng = random.Random(f"{self._seed}|{source_server_id}")
        return [1 + rng.uniform(-self._jitter, self._jitter) for _ in range(3)]

    def planned_seconds(self, source_server_id: str) -> float:
        """How long this server's launch takes once its job has started (the ideal-schedule input)."""
        server = self._servers[source_server_id]
        timeline = server.timeline or self._default_timeline
        base = (timeline.snapshot_seconds, timeline.conversion_seconds, timeline.launch_seconds)
        phases = list(zip(FAIL_PHASES, base, self.phase_factors(source_server_id), strict=True))
        total = 0.0
        for name, seconds, factor in phases:
            total += seconds * factor
            if name == server.fail_at:
                break
        return total

    @property
    def job_start_delay_seconds(self) -> float:
        """Seconds between StartRecovery and the job starting."""
        return self._job_start_delay.total_seconds()

    def _plan_launch(self, job: SimulatedJob, server: SimulatedSourceServer) -> ServerRun:
        """Draw one server's phase times and ids now, so a seed fixes the whole run."""
        timeline = server.timeline or self._default_timeline
        base = (timeline.snapshot_seconds, timeline.conversion_seconds, timeline.launch_seconds)
        # Every draw happens whatever the outcome, so fail_at never shifts the ids of later jobs.
        factors = self.phase_factors(server.source_server_id)
        instance_id = f"i-{self._rng.getrandbits(68):017x}"
        conversion_server_id = f"i-{self._rng.getrandbits(68):017x}"
        event_id = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        lost = self._rng.random() < self._lose_launch_results
        phases: list[Phase] = []
        start = job.started
        for name, seconds, factor in zip(FAIL_PHASES, base, factors, strict=True):
            phases.append(Phase(name, start, start + timedelta(seconds=seconds * factor)))
            start = phases[-1].end
            if name == server.fail_at:
                break
        run = ServerRun(server.source_server_id, phases, server.fail_at is not None, instance_id, conversion_server_id)
        if not run.failed:
            self._instances[instance_id] = _RecoveryInstance(job, run)
        event = self._launch_result_event(job, run, event_id)
        self._clock.call_at(run.end, partial(self._deliver, event, lost), LAUNCH_RESULT_TIMER_LABEL)
        return run

    def _arm_pit_announcements(self) -> None:
        """Schedule the next "DRS PIT Snapshot Taken" announcement, unless one is scheduled or there are none.

        The announcements run only while the clock has other work (they never keep a runtime busy on their own);
        after an idle stretch they resume from the next snapshot (the ones taken meanwhile go unannounced: AWS
        delivers its events best effort, and nothing in drwave consumes these).
        """
        if not self._pit_events or self._pit_timer is not None or not self._pit_due:
            return
        now = self._clock.now()
        if self._pit_due[0][0] < now:  # idle meanwhile: skip what was taken while nothing ran
            self._pit_due = [self._next_pit(sid, now) for _, sid, _ in self._pit_due]
            heapq.heapify(self._pit_due)
        self._pit_timer = self._clock.call_at(self._pit_due[0][0], self._announce_pit, PIT_SNAPSHOT_TIMER_LABEL)

    def _next_pit(self, source_server_id: str, now: datetime) -> tuple[datetime, str, int]:
        schedule = self._schedules[source_server_id]
        snapshot = schedule.snapshot(schedule.next_index(now))
        return snapshot.taken, source_server_id, snapshot.index

    def _announce_pit(self) -> None:
        """Clock callback: publish every PIT snapshot taken by now, then re-arm while the clock has other work."""
        self._pit_timer = None
        now = self._clock.now()
        while self._pit_due and self._pit_due[0][0] <= now:
            _, sid, index = heapq.heappop(self._pit_due)
            schedule = self._schedules[sid]
            if self._emit_event is not None:
                self._emit_event(self._pit_snapshot_event(schedule.snapshot(index)))
            upcoming = schedule.snapshot(index + 1)
            heapq.heappush(self._pit_due, (upcoming.taken, sid, upcoming.index))
        if self._clock.pending(ignore_labels=frozenset({PIT_SNAPSHOT_TIMER_LABEL, "tick"})):
            self._arm_pit_announcements()

    def _pit_snapshot_event(self, snapshot: PitSnapshot) -> dict[str, Any]:
        """The EventBridge event DRS publishes when it takes a point-in-time snapshot (DRS User Guide, "PIT
        Snapshot Taken"): the snapshot id and its EBS snapshot ids, comma-separated, on the source server."""
        # Its own generator: announcing snapshots must not shift the ids of jobs and instances.
        event_id = uuid.UUID(int=random.Random(f"{snapshot.snapshot_id}|event").getrandbits(128), version=4)
        return {
            "version": "0",
            "id": str(event_id),
            "detail-type": "DRS PIT Snapshot Taken",
            "source": "aws.drs",
            "account": self._account_id,
            "time": snapshot.taken.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self._region,
            "resources": [self._source_server_arn(snapshot.source_server_id)],
            "detail": {"DrsSnapshotID": snapshot.snapshot_id, "EbsSnapshotIDs": ",".join(snapshot.ebs_snapshots)},
        }

    def _launch_result_event(self, job: SimulatedJob, run: ServerRun, event_id: str) -> dict[str, Any]:
        """The EventBridge event DRS publishes when one server's launch ends."""
        return {
            "version": "0",
            "id": event_id,
            "detail-type": "DRS Source Server Launch Result",
            "source": "aws.drs",
            "account": self._account_id,
            "time": run.end.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self._region,
            "resources": [self._source_server_arn(run.source_server_id)],
            "detail": {
                "state": "RECOVERY_LAUNCH_FAILED" if run.failed else "RECOVERY_LAUNCH_SUCCEEDED",
                "job-id": job.job_id,
                "is-drill": "TRUE" if job.is_drill else "FALSE",
            },
        }

    def _deliver(self, event: dict[str, Any], lost: bool) -> None:
        """Clock callback: publish a launch-result event, unless best-effort delivery drops it."""
        if lost:
            self._lost_events.append(event)
        elif self._emit_event is not None:
            self._emit_event(event)

    def _job_log(self, job: SimulatedJob) -> list[tuple[datetime, dict[str, Any]]]:
        """The job's complete log, future items included, in time order."""
        entries: list[tuple[datetime, int, str, dict[str, str]]] = [(job.started, 0, "JOB_START", {})]
        for run in job.runs:
            for phase in run.phases:
                start_event, end_event, fail_event = _PHASE_EVENTS[phase.name]
                data = {"sourceServerID": run.source_server_id}
                if phase.name == "CONVERSION":
                    data["conversionServerID"] = run.conversion_server_id
                if phase.name in ("LAUNCH", "CLEANUP"):
                    data["targetInstanceID"] = run.instance_id
                entries.append((phase.start, 1, start_event, data))
                if run.failed and phase is run.phases[-1]:
                    error = f"simulated {phase.name} failure for {run.source_server_id}"
                    entries.append((phase.end, 1, fail_event, {**data, "rawError": error}))
                elif end_event is not None:
                    entries.append((phase.end, 1, end_event, data))
        entries.append((job.ended, 2, "JOB_END", {}))
        # Stable sort: at equal times JOB_START leads, JOB_END trails, a phase's end precedes the next start.
        entries.sort(key=lambda entry: (entry[0], entry[1]))
        return [
            (when, {"logDateTime": _iso(when), "event": event, "eventData": data}) for when, _, event, data in entries
        ]

    def _live_instances(self, now: datetime) -> list[_RecoveryInstance]:
        """Recovery instances DRS knows at `now`, oldest launch first."""
        return [instance for instance in self._instances.values() if instance.state(now) is not None]

    def _job_json(self, job: SimulatedJob, now: datetime) -> dict[str, Any]:
        """A Job shape at virtual time `now`."""
        servers = []
        for run in job.runs:
            status = job.launch_status(run, now)
            server: dict[str, Any] = {"sourceServerID": run.source_server_id, "launchStatus": status}
            if job.job_type == "TERMINATE" or status == "LAUNCHED":
                server["recoveryInstanceID"] = run.instance_id
            servers.append(server)
        rendered: dict[str, Any] = {
            "jobID": job.job_id,
            "arn": job.arn,
            "type": job.job_type,
            "initiatedBy": job.initiated_by,
            "creationDateTime": _iso(job.created),
            "status": job.status(now),
            "participatingServers": servers,
            "tags": job.tags,
        }
        if rendered["status"] == "COMPLETED":
            rendered["endDateTime"] = _iso(job.ended)
        return rendered

    def _server_json(
        self, server: SimulatedSourceServer, now: datetime, latest_instance: dict[str, str]
    ) -> dict[str, Any]:
        """A SourceServer shape at virtual time `now`."""
        sid = server.source_server_id
        rendered: dict[str, Any] = {
            "sourceServerID": sid,
            "arn": self._source_server_arn(sid),
            "tags": server.tags,
            "sourceProperties": {"identificationHints": {"hostname": server.hostname}},
            "dataReplicationInfo": {"dataReplicationState": server.replication_state},
            "lastLaunchResult": "NOT_STARTED",
            "lifeCycle": {},
        }
        if sid in self._last_launch:
            job, run = self._last_launch[sid]
            status = job.launch_status(run, now)
            rendered["lastLaunchResult"] = {"LAUNCHED": "SUCCEEDED", "FAILED": "FAILED"}.get(status, "PENDING")
            rendered["lifeCycle"]["lastLaunch"] = {
                "initiated": {
                    "jobID": job.job_id,
                    "type": "DRILL" if job.is_drill else "RECOVERY",
                    "apiCallDateTime": _iso(job.created),
                },
                "status": status,
            }
        if sid in latest_instance:
            rendered["recoveryInstanceId"] = latest_instance[sid]
        if server.staging_account_id is not None:
            rendered["stagingArea"] = {"status": "EXTENDED", "stagingAccountID": server.staging_account_id}
        return rendered

    def _instance_json(self, instance: _RecoveryInstance, now: datetime) -> dict[str, Any]:
        """A RecoveryInstance shape at virtual time `now`."""
        instance_id = instance.run.instance_id
        return {
            "recoveryInstanceID": instance_id,
            "ec2InstanceID": instance_id,
            "ec2InstanceState": instance.state(now),
            "arn": f"arn:aws:drs:{self._region}:{self._account_id}:recovery-instance/{instance_id}",
            "jobID": instance.job.job_id,
            "sourceServerID": instance.run.source_server_id,
            "isDrill": instance.job.is_drill,
            "pointInTimeSnapshotDateTime": _iso(
                instance.run.snapshot.taken if instance.run.snapshot else instance.run.phases[0].end
            ),
            "tags": {},
        }

    def _source_server_arn(self, source_server_id: str) -> str:
        """ARN of a source server in this account and region."""
        return f"arn:aws:drs:{self._region}:{self._account_id}:source-server/{source_server_id}"

    def _check_replication_state(self, state: str) -> None:
        """Reject values outside the model's DataReplicationState enum."""
        allowed = self._model.shape_for("DataReplicationState").metadata["enum"]
        if state not in allowed:
            raise ValueError(f"replication state must be one of {allowed}: {state}")

    @staticmethod
    def _parse_date(value: str | None, field_name: str) -> datetime | None:
        """Parse an ISO 8601 date filter; naive values are taken as UTC."""
        if value is None:
            return None
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as exc:
            raise _validation_error(f"{field_name} is not an ISO 8601 date: {value}", field_name) from exc
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
