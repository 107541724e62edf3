"""Hypothesis strategies for fault schedules: random plans, fault mixes and operator actions, as plain data.

Everything drawn here is a small frozen dataclass whose repr is the Python call that rebuilds it, showing only
the fields that differ from their defaults, so a shrunk failure reads as a schedule and can be pasted into an
`@example(...)`. `Schedule.describe()` renders the same schedule as text for `note()`.

Shrinking goes towards the simplest schedule: one wave, one fast server that launches, no gate, no actions,
no faults, no operator action.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any

from hypothesis import strategies as st

MINUTE = 60
# Every wave of a drawn plan gets this timeout: long enough that no schedule below legitimately hits it
# (phases <= 60 s each, actions <= 3 min, a few DRS refusals retried by the 60 s tick, lapsed launch
# leases of 2 min and Lambda's async retries of 1 + 2 min), so a wave timing out means drwave lost track.
WAVE_TIMEOUT_MINUTES = 60
FAIL_PHASES = ("SNAPSHOT", "CONVERSION", "LAUNCH")
ACTION_OUTCOMES = ("Success", "Failed", "TimedOut", "Hang")


class _Data:
    """Repr as a constructor call listing only the non-default fields (also in Hypothesis's falsifying example)."""

    def _shown(self) -> list[tuple[str | None, Any]]:
        shown: list[tuple[str | None, Any]] = []
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if f.default is not MISSING:
                default = f.default
            elif f.default_factory is not MISSING:
                default = f.default_factory()
            else:
                shown.append((None, value))  # required fields go first, positionally
                continue
            if value != default:
                shown.append((f.name, value))
        return shown

    def __repr__(self) -> str:
        args = ", ".join(f"{name}={value!r}" if name else repr(value) for name, value in self._shown())
        return f"{type(self).__name__}({args})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """Hypothesis's pretty printer would otherwise list every dataclass field."""
        name = type(self).__name__
        with printer.group(len(name) + 1, f"{name}(", ")"):
            for i, (field_name, value) in enumerate(self._shown()):
                if i:
                    printer.text(",")
                    printer.breakable()
                if field_name:
                    printer.text(f"{field_name}=")
                printer.pretty(value)


@dataclass(frozen=True, repr=False)
class Server(_Data):
    """A simulated DRS source server: its launch phases (seconds) and the phase it fails at, if any."""

    n: int
    snapshot: int = 5
    conversion: int = 5
    launch: int = 5
    fail_at: str | None = None

    @property
    def id(self) -> str:
        return f"s-{self.n:017d}"

    def describe(self) -> str:
        fail = f", fails at {self.fail_at}" if self.fail_at else ""
        return f"{self.id} ({self.snapshot}/{self.conversion}/{self.launch} s{fail})"


@dataclass(frozen=True, repr=False)
class Action(_Data):
    """A pre/post-wave SSM document: how it ends in the simulator and what drwave does if it does not succeed."""

    name: str
    kind: str = "AUTOMATION"
    outcome: str = "Success"
    duration: int = 5
    timeout: int = 65  # always >= duration + 60 s: a successful run reports before drwave times it out
    on_failure: str = "STOP"

    @property
    def document(self) -> str:
        return f"Doc-{self.name}"

    def describe(self) -> str:
        return (
            f"{self.name} [{self.kind}, {self.outcome} after {self.duration} s, "
            f"timeout {self.timeout} s, onFailure {self.on_failure}]"
        )


@dataclass(frozen=True, repr=False)
class Gate(_Data):
    """An approval gate; the operator approves `approve_after` seconds after seeing it open, or never (None)."""

    timeout_minutes: int = 2
    approve_after: int | None = 0

    def describe(self) -> str:
        when = "never approved" if self.approve_after is None else f"approved {self.approve_after} s after it opens"
        return f"gate {self.timeout_minutes} min, {when}"


@dataclass(frozen=True, repr=False)
class Wave(_Data):
    """One wave: server numbers (into the schedule's servers), dependencies, impact, gate, policy, actions."""

    id: str
    servers: tuple[int, ...] = (1,)
    after: tuple[str, ...] = ()
    optional: tuple[int, ...] = ()  # servers whose impact is OPTIONAL (the others are CRITICAL)
    gate: Gate | None = None
    policy: str = "STOP"
    pre: tuple[Action, ...] = ()
    post: tuple[Action, ...] = ()

    def describe(self) -> str:
        parts = [f"servers {', '.join(_sid(n) + (' (optional)' if n in self.optional else '') for n in self.servers)}"]
        if self.after:
            parts.append(f"after {', '.join(self.after)}")
        if self.gate:
            parts.append(self.gate.describe())
        parts.append(f"policy {self.policy}")
        parts += [f"pre {a.describe()}" for a in self.pre] + [f"post {a.describe()}" for a in self.post]
        return f"{self.id}: " + "; ".join(parts)


@dataclass(frozen=True, repr=False)
class Plan(_Data):
    """A recovery plan: waves in an order where every dependency comes earlier."""

    id: str = "p"
    waves: tuple[Wave, ...] = (Wave("w1"),)

    def wave(self, wave_id: str) -> Wave:
        return next(w for w in self.waves if w.id == wave_id)


@dataclass(frozen=True, repr=False)
class Pause(_Data):
    """The operator pauses `at` s after the request and resumes `hold` s after the pause was accepted.

    Holds are drawn >= 30 s, longer than the random delivery delay (<= 20 s): a pause duplicated by EventBridge
    and redelivered after the resume re-pauses the execution for good (see the xfail regression test).
    """

    at: int
    hold: int


@dataclass(frozen=True, repr=False)
class Operator(_Data):
    """What the operator does to one execution (gate approvals live on the gates)."""

    start_at: int = 0  # when the execution is requested
    cancel_at: int | None = None  # seconds after the request
    pauses: tuple[Pause, ...] = ()

    def describe(self) -> str:
        parts = [f"request at {self.start_at} s"]
        parts += [f"pause at +{p.at} s, resume {p.hold} s after it was accepted" for p in self.pauses]
        if self.cancel_at is not None:
            parts.append(f"cancel at +{self.cancel_at} s")
        return "; ".join(parts)


# Routed events drwave publishes and consumes itself, and AWS's events it consumes (EventBridge may lose,
# repeat or delay any of them), and the operator's commands (accepted by the API only once PutEvents took them,
# so never lost, but still delivered at least once and in any order).
ENGINE_EVENTS = (
    "Wave Start Requested",
    "Wave Actions Requested",
    "Wave Completed",
    "Wave Failed",
    "DRS Job State Change",
)
DRS_RESULT = "DRS Source Server Launch Result"
SSM_RESULTS = ("EC2 Command Status-change Notification", "EC2 Automation Execution Status-change Notification")
OPERATOR_COMMANDS = ("Execution Requested", "Wave Gate Approved", "Execution Cancel Requested")
PAUSE_COMMANDS = ("Execution Pause Requested", "Execution Resume Requested")
PUBLISHED = (
    "Execution Started",
    "Wave Start Requested",
    "Wave Actions Requested",
    "Wave Gate Waiting",
    "DRS Job Started",
    "DRS Job State Change",
    "Wave Completed",
    "Wave Failed",
    "Execution Finished",
)


@dataclass(frozen=True, repr=False)
class Delivery(_Data):
    """The `nth` event of a detail-type is dropped, duplicated (second copy `seconds` later) or delayed."""

    detail_type: str
    nth: int = 1
    fault: str = "drop"  # drop | duplicate | delay
    seconds: int = 0

    def describe(self) -> str:
        extra = f" by {self.seconds} s" if self.fault != "drop" else ""
        return f"{self.fault} {self.detail_type!r} #{self.nth}{extra}"


@dataclass(frozen=True, repr=False)
class Crash(_Data):
    """A handler dies: after saving, before publishing the `nth` event of `detail_type`;
    or, with detail_type "StartRecovery", right after the `nth` successful StartRecovery, before recording the job."""

    detail_type: str
    nth: int = 1

    def describe(self) -> str:
        if self.detail_type == "StartRecovery":
            return f"crash after StartRecovery #{self.nth}, before the job is recorded"
        return f"crash after saving, before publishing {self.detail_type!r} #{self.nth}"


@dataclass(frozen=True, repr=False)
class Burst(_Data):
    """From `at` s on, the next `count` calls of a DRS operation fail with `code`."""

    at: int
    operation: str = "StartRecovery"
    code: str = "ThrottlingException"
    count: int = 1

    def describe(self) -> str:
        return f"at +{self.at} s the next {self.count} {self.operation} calls fail with {self.code}"


@dataclass(frozen=True, repr=False)
class FaultMix(_Data):
    """Random delivery faults (the router's, seeded), lost aws.drs launch results, and targeted faults."""

    duplicate: float = 0.0
    drop: float = 0.0
    max_delay: float = 0.0
    crash_after_save: float = 0.0
    publish_failure: float = 0.0
    lose_launch_results: float = 0.0
    seed: int = 0
    deliveries: tuple[Delivery, ...] = ()
    crashes: tuple[Crash, ...] = ()
    bursts: tuple[Burst, ...] = ()

    def describe(self) -> str:
        random = [f"{f.name}={getattr(self, f.name)}" for f in fields(self)[:6] if getattr(self, f.name)]
        lines = [("random: " + ", ".join([*random, f"seed={self.seed}"])) if random else "random: none"]
        targeted: tuple[Delivery | Crash | Burst, ...] = (*self.deliveries, *self.crashes, *self.bursts)
        lines += [x.describe() for x in targeted]
        return "\n  ".join(lines)


@dataclass(frozen=True, repr=False)
class Schedule(_Data):
    """One generated run: simulated servers, plans (one execution each), faults and operator actions."""

    servers: tuple[Server, ...] = (Server(1),)
    plans: tuple[Plan, ...] = (Plan(),)
    operators: tuple[Operator, ...] = (Operator(),)
    faults: FaultMix = field(default_factory=FaultMix)

    def server(self, n: int) -> Server:
        return next(s for s in self.servers if s.n == n)

    def describe(self) -> str:
        lines = ["servers: " + "; ".join(s.describe() for s in self.servers), f"faults: {self.faults.describe()}"]
        for plan, operator in zip(self.plans, self.operators, strict=True):
            lines.append(f"plan {plan.id} (operator: {operator.describe()})")
            lines += [f"  {w.describe()}" for w in plan.waves]
        return "\n".join(lines)


def _sid(n: int) -> str:
    return f"s-{n:017d}"


# --- strategies ------------------------------------------------------------------------------------------


def servers(first: int, count: int) -> st.SearchStrategy[tuple[Server, ...]]:
    """`count` servers numbered from `first`, 5-60 s per phase, some failing at a random phase."""
    one = st.builds(
        Server,
        n=st.just(0),
        snapshot=st.integers(5, 60),
        conversion=st.integers(5, 60),
        launch=st.integers(5, 60),
        fail_at=st.one_of(st.none(), st.none(), st.sampled_from(FAIL_PHASES)),
    )
    return st.lists(one, min_size=count, max_size=count).map(
        lambda drawn: tuple(
            Server(first + i, s.snapshot, s.conversion, s.launch, s.fail_at) for i, s in enumerate(drawn)
        )
    )


@st.composite
def actions(draw: st.DrawFn, name: str) -> Action:
    """An SSM action that succeeds, fails, times out in SSM, or hangs until drwave's timeout."""
    duration = draw(st.integers(5, 60))
    return Action(
        name=name,
        kind=draw(st.sampled_from(("AUTOMATION", "COMMAND"))),
        outcome=draw(st.sampled_from(ACTION_OUTCOMES)),
        duration=duration,
        timeout=duration + draw(st.integers(60, 120)),
        on_failure=draw(st.sampled_from(("STOP", "CONTINUE"))),
    )


@st.composite
def gates(draw: st.DrawFn) -> Gate:
    """A 2-5 min gate, approved well within its timeout (room for delivery delays and the 60 s tick) or never."""
    timeout = draw(st.sampled_from((2, 3, 5)))
    approve_after = draw(st.one_of(st.integers(0, timeout * MINUTE - 100), st.none()))
    return Gate(timeout, approve_after)


@st.composite
def plans(
    draw: st.DrawFn,
    plan_id: str = "p",
    pool: tuple[int, ...] | None = None,
    max_waves: int = 6,
    extras: bool = True,
) -> Plan:
    """1-`max_waves` waves, each depending on up to two earlier ones, with 1-4 servers.

    Without a pool every wave gets fresh server numbers (1, 2, ...); with a pool the waves pick distinct
    servers from it (so two plans drawn from one pool share servers). `extras` adds gates and actions.
    """
    count = draw(st.integers(1, max_waves))
    waves: list[Wave] = []
    unused = list(pool) if pool is not None else []
    next_server = 1
    for i in range(count):
        wave_id = f"w{i + 1}"
        earlier = [w.id for w in waves]
        after: tuple[str, ...] = ()
        depends = draw(st.integers(0, 3)) if earlier else 0  # 3 in 4 waves after the first depend on earlier ones
        if depends:
            after = tuple(draw(st.lists(st.sampled_from(earlier), min_size=1, max_size=2, unique=True)))
        if pool is None:
            size = draw(st.integers(1, 4))
            members = tuple(range(next_server, next_server + size))
            next_server += size
        else:
            if not unused:
                break
            members = tuple(
                draw(st.lists(st.sampled_from(unused), min_size=1, max_size=min(4, len(unused)), unique=True))
            )
            unused = [n for n in unused if n not in members]
        optional = tuple(n for n in members if draw(st.integers(0, 3)) == 3)  # 1 in 4; shrinks to CRITICAL
        gate = draw(st.one_of(st.none(), gates())) if extras else None
        pre = tuple(draw(st.lists(actions(f"{wave_id}-pre"), max_size=1))) if extras else ()
        post = tuple(draw(st.lists(actions(f"{wave_id}-post"), max_size=1))) if extras else ()
        policy = draw(st.sampled_from(("STOP", "CONTINUE")))
        waves.append(Wave(wave_id, members, after, optional, gate, policy, pre, post))
    return Plan(plan_id, tuple(waves))


@st.composite
def operators(draw: st.DrawFn, latest_start: int = 0) -> Operator:
    """A request up to `latest_start` s in; maybe (1 in 3) a cancel in its first 6 minutes, and up to two
    pause/resume pairs in its first 3 minutes (while a typical drawn plan is still running)."""
    return Operator(
        start_at=draw(st.integers(0, latest_start)),
        cancel_at=draw(st.one_of(st.none(), st.none(), st.integers(0, 6 * MINUTE))),
        pauses=tuple(
            draw(
                st.lists(st.builds(Pause, at=st.integers(0, 3 * MINUTE), hold=st.integers(30, 5 * MINUTE)), max_size=2)
            )
        ),
    )


def deliveries(droppable: tuple[str, ...], repeatable: tuple[str, ...]) -> st.SearchStrategy[Delivery]:
    """One targeted delivery fault: a drop of a droppable type, or a duplicate/delay (<= 30 s) of a repeatable one."""
    nth = st.integers(1, 4)
    return st.one_of(
        st.builds(Delivery, st.sampled_from(droppable), nth),
        st.builds(
            Delivery, st.sampled_from(repeatable), nth, st.sampled_from(("duplicate", "delay")), st.integers(1, 30)
        ),
    )


def fault_mixes(
    droppable: tuple[str, ...] = (*ENGINE_EVENTS, DRS_RESULT, *SSM_RESULTS),
    repeatable: tuple[str, ...] = (*ENGINE_EVENTS, DRS_RESULT, *SSM_RESULTS, *OPERATOR_COMMANDS, *PAUSE_COMMANDS),
) -> st.SearchStrategy[FaultMix]:
    """Each random fault off (what it shrinks to) or at one of a few strengths, plus up to 3 targeted faults of
    each kind: deliveries, crashes, and DRS ThrottlingException / ConflictException bursts."""
    crashes = st.builds(Crash, st.sampled_from(("StartRecovery", *PUBLISHED)), st.integers(1, 3))
    bursts = st.one_of(
        st.builds(
            Burst,
            st.integers(0, 600),
            st.just("StartRecovery"),
            st.sampled_from(("ThrottlingException", "ConflictException")),
            st.integers(1, 8),
        ),
        st.builds(
            Burst, st.integers(0, 600), st.just("DescribeJobs"), st.just("ThrottlingException"), st.integers(1, 8)
        ),
    )
    return st.builds(
        FaultMix,
        duplicate=st.sampled_from((0.0, 0.1, 0.3)),
        drop=st.sampled_from((0.0, 0.1, 0.2)),
        max_delay=st.sampled_from((0.0, 5.0, 20.0)),
        crash_after_save=st.sampled_from((0.0, 0.1, 0.2)),
        publish_failure=st.sampled_from((0.0, 0.1)),
        lose_launch_results=st.sampled_from((0.0, 0.5, 1.0)),
        seed=st.integers(0, 2**16),
        deliveries=st.lists(deliveries(droppable, repeatable), max_size=3).map(tuple),
        crashes=st.lists(crashes, max_size=3).map(tuple),
        bursts=st.lists(bursts, max_size=3).map(tuple),
    )


@st.composite
def single_plan_schedules(draw: st.DrawFn, max_waves: int = 6) -> Schedule:
    """One plan with its own servers, one execution, a fault mix and an operator."""
    plan = draw(plans(max_waves=max_waves))
    numbers = sorted({n for w in plan.waves for n in w.servers})
    fleet = draw(servers(1, len(numbers)))
    return Schedule(fleet, (plan,), (draw(operators()),), draw(fault_mixes()))


@st.composite
def shared_server_schedules(draw: st.DrawFn) -> Schedule:
    """Two plans drawn from one pool of 2-6 servers (so they share some), requested up to 2 minutes apart."""
    size = draw(st.integers(2, 6))
    pool = tuple(range(1, size + 1))
    first = draw(plans("a", pool, max_waves=3, extras=False))
    second = draw(plans("b", pool, max_waves=3, extras=False))
    shared = {n for w in first.waves for n in w.servers} & {n for w in second.waves for n in w.servers}
    if not shared:  # make them share at least one: the second plan's first wave takes one of the first's servers
        borrowed = first.waves[0].servers[0]
        head = second.waves[0]
        taken = {n for w in second.waves for n in w.servers}
        if borrowed not in taken:
            second = Plan("b", (replace(head, servers=(*head.servers, borrowed)), *second.waves[1:]))
    fleet = draw(servers(1, size))
    ops = (
        draw(operators()),
        draw(operators(latest_start=2 * MINUTE)),
    )
    return Schedule(fleet, (first, second), ops, draw(fault_mixes()))


@st.composite
def timing_free_schedules(draw: st.DrawFn, max_waves: int = 5) -> Schedule:
    """One plan whose fault-free outcome has no timing-dependent branch (no gates, actions, pauses, cancels or
    DRS refusal bursts), under heavy faults that always include crashes after a save and refused PutEvents.

    Every wave's failure policy is CONTINUE: under STOP, whether an independent branch's next wave opened before
    another branch failed and halted the execution depends on timing, which faults (crashes, retries) shift.
    """
    plan = draw(plans(max_waves=max_waves, extras=False))
    plan = replace(plan, waves=tuple(replace(w, policy="CONTINUE") for w in plan.waves))
    numbers = sorted({n for w in plan.waves for n in w.servers})
    fleet = draw(servers(1, len(numbers)))
    mix = draw(fault_mixes())
    mix = replace(
        mix,
        crash_after_save=draw(st.sampled_from((0.1, 0.2, 0.3))),
        publish_failure=draw(st.sampled_from((0.1, 0.2, 0.3))),
        bursts=(),
    )
    return Schedule(fleet, (plan,), (Operator(),), mix)
