"""Live progress lines, in simulated time, from the events flowing through the local bus."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from drwave_local.cli.report import duration_text

ICONS = {"COMPLETED": "✔", "COMPLETED_WITH_WARNINGS": "⚠", "FAILED": "✘", "SKIPPED": "↷", "CANCELLED": "■"}


class ProgressPrinter:
    """Turns bus events into one readable line each; per-server lines only for small plans."""

    def __init__(
        self,
        start: datetime,
        hostnames: Mapping[str, str],
        out: Callable[[str], None] = print,
        per_server: bool = True,
    ) -> None:
        self._start = start
        self._hostnames = hostnames
        self._out = out
        self._per_server = per_server
        self._job_wave: dict[str, str] = {}
        self.now: Callable[[], datetime] = lambda: start
        # (execution id, wave id) -> (server, why it failed) for each failed server; set by whoever can read state.
        self.failures: Callable[[str, str], list[tuple[str, str]]] | None = None

    def __call__(self, bus: str, event: dict[str, Any]) -> None:
        detail = event["detail"]
        line = self._line(event["detail-type"], detail, event.get("resources") or [])
        if line:
            stamp = "T+" + duration_text((self.now() - self._start).total_seconds())
            self._out(f"  {stamp:>10}  {line}")
            if event["detail-type"] in ("Wave Failed", "Wave Completed") and self.failures is not None:
                for server, why in self.failures(detail["executionId"], detail["waveId"]):
                    self._out(f"  {'':>10}    ✘ {self._hostnames.get(server, server)}: {why}")

    def _line(self, kind: str, d: dict[str, Any], resources: list[str]) -> str | None:
        wave = f"{d.get('waveId', ''):<12}"
        match kind:
            case "Execution Started":
                what = f"{d['executionType']} of {d['planId']} ({d['waveCount']} waves)"
                return f"▶ execution {d['executionId']} started: {what}"
            case "Wave Gate Waiting":
                return f"⏸ {wave} waiting for approval{': ' + d['message'] if d.get('message') else ''}"
            case "Wave Gate Approved":
                return f"▶ {wave} gate approved by {d.get('approvedBy', '?')}"
            case "Wave Actions Requested":
                return f"⚙ {wave} {d['phase']}-wave actions started"
            case "DRS Job Started":
                self._job_wave[d["jobId"]] = d["waveId"]
                return f"🚀 {wave} DRS job {d['jobId']} launching {d['serverCount']} server(s)"
            case "DRS Source Server Launch Result" if self._per_server:
                server = str(resources[0]).rsplit("/", 1)[-1] if resources else "?"
                wave_id = self._job_wave.get(d.get("job-id", ""), "?")
                outcome = "launched" if d.get("state") == "RECOVERY_LAUNCH_SUCCEEDED" else "FAILED to launch"
                return f"  {wave_id:<12} {self._hostnames.get(server, server)} {outcome}"
            case "Wave Completed":
                return f"{ICONS[d['status']]} {wave} {d['status']} ({d['launched']} launched, {d['failed']} failed)"
            case "Wave Failed":
                return f"{ICONS.get(d['status'], '✘')} {wave} {d['status']}: {d['reason']}"
            case "Execution Cancel Requested":
                return f"■ cancel requested by {d.get('requestedBy', '?')}"
            case "Execution Finished":
                return f"■ execution {d['executionId']} finished: {d['status']}"
        return None
