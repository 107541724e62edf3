"""Renderings of the evidence document (core.evidence): self-contained HTML with an SVG Gantt chart, and Markdown.

Pure string building; every value from the document is escaped. The HTML has no script and no external resource,
so it opens offline and prints to PDF from any browser.
"""

from __future__ import annotations

import json
from datetime import datetime
from html import escape
from typing import Any

MAX_GANTT_SERVERS = 300  # rows beyond this are summarised, so a 1,000-server plan still renders quickly
_COLOURS = {
    "COMPLETED": "#2e7d32",
    "LAUNCHED": "#2e7d32",
    "COMPLETED_WITH_WARNINGS": "#f9a825",
    "FAILED": "#c62828",
    "CANCELLED": "#757575",
    "SKIPPED": "#9e9e9e",
}
_LABEL_WIDTH, _CHART_WIDTH, _ROW, _AXIS = 260, 720, 18, 28


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds / 60:.1f} min"


def _verdict(met: bool | None) -> str:
    return {True: "PASS", False: "FAIL"}.get(met, "-")  # type: ignore[arg-type]


def gantt_rows(doc: dict[str, Any]) -> list[tuple[str, datetime, datetime, str, bool]]:
    """(label, start, end, status, is_wave) per wave and per server that ran, in plan order."""
    rows = []
    servers_drawn = 0
    for wave in doc["waves"]:
        start, end = _time(wave["startedAt"]), _time(wave["endedAt"])
        if start is None:
            continue
        rows.append((f"wave {wave['id']}", start, end or start, wave["status"], True))
        for server in wave["servers"]:
            s_start, s_end = _time(server["jobStartedAt"]), _time(server["endedAt"])
            if s_start is None or servers_drawn >= MAX_GANTT_SERVERS:
                continue
            servers_drawn += 1
            label = server["hostname"] or server["sourceServerId"]
            rows.append((f"  {label}", s_start, s_end or end or s_start, server["launchStatus"], False))
    return rows


def gantt_svg(doc: dict[str, Any]) -> str:
    """An SVG Gantt chart: one bar per wave (bold) and per server launch, on a minutes-since-start axis."""
    rows = gantt_rows(doc)
    origin = _time(doc["startedAt"]) or (rows[0][1] if rows else None)
    if not rows or origin is None:
        return (
            '<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Gantt chart" width="400" height="30">'
            '<text x="4" y="20">Nothing ran.</text></svg>'
        )
    finish = max(end for _, _, end, _, _ in rows)
    span = max((finish - origin).total_seconds(), 60.0)
    scale = _CHART_WIDTH / span
    height = _AXIS + _ROW * len(rows) + 10
    width = _LABEL_WIDTH + _CHART_WIDTH + 20
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="gantt" role="img" aria-label="Gantt chart of waves and servers" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        "<title>Waves and servers on the time axis (minutes since the execution started)</title>",
    ]
    step = _tick_minutes(span / 60)
    minute = 0
    while minute * 60 <= span:
        x = _LABEL_WIDTH + minute * 60 * scale
        parts.append(f'<line x1="{x:.1f}" y1="{_AXIS - 6}" x2="{x:.1f}" y2="{height - 6}" stroke="#ddd"/>')
        parts.append(f'<text x="{x:.1f}" y="{_AXIS - 10}" text-anchor="middle" fill="#555">{minute}m</text>')
        minute += step
    for index, (label, start, end, status, is_wave) in enumerate(rows):
        y = _AXIS + index * _ROW
        x = _LABEL_WIDTH + max((start - origin).total_seconds(), 0) * scale
        w = max((end - start).total_seconds() * scale, 2.0)
        colour = _COLOURS.get(status, "#1565c0")
        weight = ' font-weight="bold"' if is_wave else ""
        parts.append(f'<text x="4" y="{y + 13}"{weight}>{escape(label[:40])}</text>')
        bar_height = _ROW - 4 if is_wave else _ROW - 8
        bar_y = y + 2 if is_wave else y + 4
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{bar_y}" width="{w:.1f}" height="{bar_height}" fill="{colour}">'
            f"<title>{escape(label.strip())}: {escape(status)}, "
            f"{_minutes((end - start).total_seconds())}</title></rect>"
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _tick_minutes(total_minutes: float) -> int:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 240, 480):
        if total_minutes / step <= 12:
            return step
    return 1440


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers) if any(headers) else ""
    body = "".join(
        "<tr>" + "".join(f"<td>{escape('' if v is None else str(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    thead = f"<thead><tr>{head}</tr></thead>" if head else ""
    return f"<table>{thead}<tbody>{body}</tbody></table>"


def _objective_rows(doc: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for o in doc["objectives"]:
        subject = "execution" if o["kind"] == "RTO" else "execution (worst server)"
        target = f"{o['targetMinutes']:g} min" if "targetMinutes" in o else "none"
        rows.append([o["kind"], subject, _minutes(o.get("measuredSeconds")), target, _verdict(o.get("met"))])
    for wave in doc["waves"]:
        o = wave["rto"]
        target = f"{o['targetMinutes']:g} min" if "targetMinutes" in o else "none"
        rows.append(["RTO", f"wave {wave['id']}", _minutes(o.get("measuredSeconds")), target, _verdict(o.get("met"))])
    return rows


def _server_rows(wave: dict[str, Any]) -> list[list[Any]]:
    return [
        [
            s["sourceServerId"],
            s["hostname"],
            s["launchStatus"],
            s["drsJobId"],
            s["recoveryInstanceId"],
            s["recoverySnapshotId"] or "latest",
            s["snapshotTakenAt"],
            _minutes(s["dataLossSeconds"]),
            _minutes(s["rtoSeconds"]),
            f"{_verdict(s['rtoMet'])} / {_verdict(s['rpoMet'])}",
        ]
        for s in wave["servers"]
    ]


_SERVER_HEADERS = [
    "source server",
    "hostname",
    "launch",
    "DRS job",
    "recovery instance",
    "recovery point",
    "snapshot taken",
    "data-loss window",
    "RTO",
    "RTO / RPO",
]
_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0;font-size:.85em}
th,td{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#f2f2f2}.hash{font-family:monospace;font-size:.8em;word-break:break-all}
@media print{body{margin:0}h2{page-break-after:avoid}table,svg{page-break-inside:avoid}}
"""


def to_html(doc: dict[str, Any]) -> str:
    """A self-contained HTML report (inline CSS and SVG, no script) that prints well to PDF."""
    title = f"drwave evidence: {doc['executionType']} {doc['executionId']} of {doc['planName']}"
    facts = [
        ["Execution", doc["executionId"]],
        ["Plan", f"{doc['planName']} ({doc['planId']})"],
        ["Type", doc["executionType"]],
        ["Status", doc["status"]],
        ["Account / Region", f"{doc['accountId']} / {doc['region']}"],
        ["Started by", doc["startedBy"]],
        ["Created", doc["createdAt"]],
        ["Started", doc["startedAt"]],
        ["Ended", doc["endedAt"]],
        ["RTO", _minutes(doc["rtoSeconds"])],
        ["Recovery point", doc["recoveryPoint"]["description"]],
    ]
    sections = [
        f"<h1>{escape(title)}</h1>",
        _table(["", ""], facts),
        "<h2>Objectives</h2>",
        _table(["kind", "subject", "measured", "target", "verdict"], _objective_rows(doc)),
        "<h2>Timeline chart</h2>",
        f'<figure id="chart">{gantt_svg(doc)}</figure>',
        "<h2>People</h2>",
        _table(
            ["at", "who", "action", "wave"], [[p["at"], p["who"], p["action"], p.get("waveId")] for p in doc["people"]]
        ),
        "<h2>Pre-flight</h2>",
        _table(
            ["severity", "code", "message", "wave", "server"],
            [
                [f["severity"], f["code"], f["message"], f.get("waveId"), f.get("sourceServerId")]
                for f in doc["preflight"]
            ],
        )
        if doc["preflight"]
        else "<p>Pre-flight found nothing.</p>",
        "<h2>Waves</h2>",
    ]
    for wave in doc["waves"]:
        sections.append(f"<h3>Wave {escape(wave['id'])} {escape(wave['name'] or '')}: {escape(wave['status'])}</h3>")
        detail = [
            ["depends on", ", ".join(wave["dependsOn"]) or "-"],
            ["gate opened / approved by", f"{wave['gateOpenedAt'] or '-'} / {wave['approvedBy'] or '-'}"],
            ["started / ended", f"{wave['startedAt'] or '-'} / {wave['endedAt'] or '-'}"],
            ["DRS jobs", ", ".join(wave["drsJobIds"]) or "-"],
            ["reason", wave["reason"] or "-"],
        ]
        sections.append(_table(["", ""], detail))
        if wave["actions"]:
            actions = [
                [a["phase"], a["name"], a["status"], a.get("commandId"), a.get("error")] for a in wave["actions"]
            ]
            sections.append(_table(["phase", "action", "status", "command", "error"], actions))
        if wave["servers"]:
            sections.append(_table(_SERVER_HEADERS, _server_rows(wave)))
    sections += [
        "<h2>Cleanup</h2>",
        _table(["", ""], _cleanup_rows(doc["cleanup"])),
        "<h2>Audit timeline</h2>",
        _table(
            ["at", "event", "wave", "detail"],
            [[e["at"], e["event"], e.get("waveId"), e.get("detail")] for e in doc["timeline"]],
        ),
        "<h2>Plan snapshot</h2>",
        f"<pre>{escape(json.dumps(doc['planSnapshot'], indent=2))}</pre>",
        f'<p class="hash">Content SHA-256: {escape(doc["contentSha256"])}</p>',
    ]
    body = "\n".join(sections)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{_CSS}</style></head><body>\n{body}\n</body></html>\n"
    )


def _cleanup_rows(cleanup: dict[str, Any]) -> list[list[Any]]:
    """The cleanup's outcome as label/value rows, then one row per batch and per skipped instance."""
    rows: list[list[Any]] = [["status", cleanup["status"]]]
    if "reason" in cleanup:
        return [*rows, ["reason", cleanup["reason"]]]
    rows += [
        ["TTL", f"{cleanup['ttlMinutes']} min after {cleanup['endedAt']} (expires {cleanup['expiresAt']})"],
        ["warned at", cleanup.get("notifiedAt") or "-"],
        ["kept by", cleanup.get("keptBy") or "-"],
        ["extensions", "; ".join(cleanup.get("extensions") or []) or "-"],
        ["terminated / failed / skipped", f"{cleanup['terminated']} / {cleanup['failed']} / {cleanup['skippedCount']}"],
        ["finished at", cleanup.get("finishedAt") or "-"],
    ]
    for batch in cleanup.get("batches") or []:
        outcome = f"{batch['status']} {batch.get('jobId') or ''} {batch.get('error') or ''}".strip()
        rows.append([f"batch {batch['index']} ({len(batch['recoveryInstanceIds'])} instances)", outcome])
    rows += [[f"skipped {i}", why] for i, why in (cleanup.get("skipped") or {}).items()]
    return rows


def _md_cell(value: Any) -> str:
    return ("" if value is None else str(value)).replace("|", "\\|").replace("\n", " ")


def _md_table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


def to_markdown(doc: dict[str, Any]) -> str:
    """The report in Markdown (a Mermaid gantt of the waves where the viewer renders Mermaid)."""
    lines = [
        f"# drwave evidence: {doc['executionType']} {doc['executionId']} of {doc['planName']}",
        "",
        f"- Plan: {doc['planName']} ({doc['planId']}); account {doc['accountId']}, {doc['region']}",
        f"- Status: **{doc['status']}**; started by {doc['startedBy']}",
        f"- Created {doc['createdAt']}, started {doc['startedAt']}, ended {doc['endedAt']}; "
        f"RTO {_minutes(doc['rtoSeconds'])}",
        f"- Recovery point: {doc['recoveryPoint']['description']}",
        "",
        "## Objectives",
        "",
        *_md_table(["kind", "subject", "measured", "target", "verdict"], _objective_rows(doc)),
        "## Gantt",
        "",
        "```mermaid",
        "gantt",
        "    dateFormat YYYY-MM-DDTHH:mm:ss",
        "    axisFormat %H:%M",
    ]
    for wave in doc["waves"]:
        if wave["startedAt"] and wave["endedAt"]:
            seconds = max(1, round((_time(wave["endedAt"]) - _time(wave["startedAt"])).total_seconds()))  # type: ignore[operator]
            lines.append(f"    wave {wave['id']} ({wave['status']}) : {wave['startedAt'][:19]}, {seconds}s")
    lines += ["```", "", "## People", ""]
    lines += _md_table(
        ["at", "who", "action", "wave"], [[p["at"], p["who"], p["action"], p.get("waveId")] for p in doc["people"]]
    )
    lines += ["## Pre-flight", ""]
    if doc["preflight"]:
        lines += _md_table(
            ["severity", "code", "message"], [[f["severity"], f["code"], f["message"]] for f in doc["preflight"]]
        )
    else:
        lines += ["Pre-flight found nothing.", ""]
    lines += ["## Waves", ""]
    for wave in doc["waves"]:
        lines += [
            f"### Wave {wave['id']}: {wave['status']}",
            "",
            f"Started {wave['startedAt'] or '-'}, ended {wave['endedAt'] or '-'}; DRS jobs "
            f"{', '.join(wave['drsJobIds']) or '-'}; approved by {wave['approvedBy'] or '-'}; "
            f"reason {wave['reason'] or '-'}",
            "",
        ]
        if wave["servers"]:
            lines += _md_table(_SERVER_HEADERS, _server_rows(wave))
    lines += ["## Cleanup", ""]
    lines += _md_table(["", ""], _cleanup_rows(doc["cleanup"]))
    lines += ["## Audit timeline", ""]
    lines += _md_table(
        ["at", "event", "wave", "detail"],
        [[e["at"], e["event"], e.get("waveId"), e.get("detail")] for e in doc["timeline"]],
    )
    lines += [f"Content SHA-256: `{doc['contentSha256']}`", ""]
    return "\n".join(lines)


def render(doc: dict[str, Any], fmt: str) -> tuple[str, str]:
    """(content type, body) of the document in one of the formats html, md, json."""
    if fmt == "html":
        return "text/html; charset=utf-8", to_html(doc)
    if fmt == "md":
        return "text/markdown; charset=utf-8", to_markdown(doc)
    if fmt == "json":
        return "application/json", json.dumps(doc, indent=2, sort_keys=True) + "\n"
    raise ValueError(f"format: one of html, md, json, not {fmt!r}")
