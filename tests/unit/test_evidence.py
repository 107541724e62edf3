"""The evidence document and its renderings (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from drwave.core.create import new_execution
from drwave.core.evidence import build_evidence, content_hash
from drwave.core.evidence_render import gantt_svg, render, to_html, to_markdown
from drwave.models.execution import (
    Chunk,
    ChunkStatus,
    ExecutionStatus,
    ExecutionType,
    LaunchStatus,
    ServerState,
    TimelineEntry,
)
from drwave.models.plan import ProtectionGroup, RecoveryPlan

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SID = "s-00000000000000001"


def _execution(name: str = "Shop <DR> & more"):
    plan = RecoveryPlan.model_validate(
        {"id": "p", "name": name, "targetRtoMinutes": 30, "waves": [{"id": "w", "protectionGroupIds": ["g"]}]}
    )
    exe = new_execution(
        "e-1",
        plan,
        {"g": ProtectionGroup(id="g", name="G", source_server_ids=[SID])},
        ExecutionType.DRILL,
        default_account_id="111122223333",
        started_by="ann",
        now=T0,
    )
    exe.status, exe.started_at, exe.ended_at = ExecutionStatus.COMPLETED, T0, T0 + timedelta(minutes=20)
    wave = exe.waves["w"]
    wave.started_at, wave.ended_at = T0, T0 + timedelta(minutes=20)
    wave.chunks = [Chunk(index=0, source_server_ids=[SID], status=ChunkStatus.ENDED, job_id="drsjob-1", started_at=T0)]
    wave.servers[SID] = ServerState(
        source_server_id=SID,
        launch_status=LaunchStatus.LAUNCHED,
        job_id="drsjob-1",
        recovery_instance_id="i-1",
        updated_at=T0 + timedelta(minutes=9),
    )
    exe.timeline = [
        TimelineEntry(
            at=T0 + timedelta(minutes=1), event="EXECUTION_PAUSED", detail="by bob: in-flight work continues"
        ),
        TimelineEntry(at=T0 + timedelta(minutes=2), event="EXECUTION_RESUMED", detail="by carol"),
    ]
    return exe


def test_the_content_hash_is_stable_and_changes_with_the_content():
    # GIVEN the same execution reported twice at different times, and once with another status
    first = build_evidence(_execution(), generated_at=T0)
    again = build_evidence(_execution(), generated_at=T0 + timedelta(hours=1))
    changed = _execution()
    changed.status = ExecutionStatus.FAILED
    # THEN the hash ignores when it was rendered but not what it says
    assert first["contentSha256"] == again["contentSha256"] == content_hash(first)
    assert build_evidence(changed)["contentSha256"] != first["contentSha256"]


def test_people_and_their_decisions_come_from_the_timeline():
    # GIVEN an execution started by ann, paused by bob and resumed by carol
    people = build_evidence(_execution())["people"]
    # THEN each is named with what they did
    assert [(p["who"], p["action"]) for p in people] == [
        ("ann", "started the DRILL"),
        ("bob", "paused the execution"),
        ("carol", "resumed the execution"),
    ]


def test_html_escapes_every_value_and_draws_a_bar_per_wave_and_server():
    # GIVEN a plan whose name contains markup
    doc = build_evidence(_execution(), hostnames={SID: "web-01"})
    html = to_html(doc)
    # THEN the markup is escaped, the chart has two bars, and the objective verdict is shown
    assert "Shop &lt;DR&gt; &amp; more" in html and "<DR>" not in html
    assert gantt_svg(doc).count('class="bar"') == 2
    assert "web-01" in html and "PASS" in html
    assert render(doc, "md")[1] == to_markdown(doc) and render(doc, "json")[0] == "application/json"
