"""Evidence reports land in the stack's report bucket when an execution ends, and again after its drill cleanup."""

from __future__ import annotations

import json

from drwave_local.runtime.embedded import REPORT_BUCKET


def test_an_ended_drill_s_report_is_stored_in_three_formats_and_rewritten_after_its_cleanup(scenario):
    # GIVEN a plan whose drills are cleaned up 30 minutes after they end
    plan = scenario.plan("stored", {"id": "w", "servers": 2})
    plan.recovery_plan.drill_ttl_minutes = 30
    with scenario.run() as rt:
        # WHEN a drill runs to its end and its cleanup
        execution_id = rt.request_execution("stored")
        rt.run()
        prefix = f"reports/{execution_id}/"
        keys = {o["Key"] for o in rt.s3.list_objects_v2(Bucket=REPORT_BUCKET, Prefix=prefix)["Contents"]}
        versions = rt.s3.list_object_versions(Bucket=REPORT_BUCKET, Prefix=prefix + "report.json")["Versions"]
        latest = rt.s3.get_object(Bucket=REPORT_BUCKET, Key=prefix + "report.json")
        html = rt.s3.get_object(Bucket=REPORT_BUCKET, Key=prefix + "report.html")
    # THEN the HTML, Markdown and JSON reports are there, typed, and tagged with the content hash
    assert keys == {prefix + "report.json", prefix + "report.html", prefix + "report.md"}
    evidence = json.loads(latest["Body"].read())
    assert latest["Metadata"]["content-sha256"] == evidence["contentSha256"]
    assert html["ContentType"].startswith("text/html")
    # AND the report was written when the drill ended and again once it was cleaned up (two versions kept)
    assert len(versions) == 2
    assert evidence["cleanup"]["status"] == "DONE" and evidence["cleanup"]["terminated"] == 2
