"""`drwave schedules|triggers|alarms|events|plans freshness`: drill schedules, failover triggers, local alarms and the
bus's live events, against `drwave serve` (or the deployed API for schedules and triggers)."""

from __future__ import annotations

import argparse
import time
from typing import Any

from drwave_local.cli.client import ApiClient, load_file
from drwave_local.cli.commands import _show, as_json, file_arg, out, table

TRIGGER_COMMANDS = frozenset({"schedules", "triggers", "alarms", "events", "freshness"})


def schedules_list(client: ApiClient, args: argparse.Namespace) -> int:
    def render(body: dict[str, Any]) -> str:
        rows = [
            (s["id"], s["planId"], s["scheduleExpression"], s["timezone"], s["enabled"], s.get("nextFireAt") or "-")
            for s in body["items"]
        ]
        return table(["ID", "PLAN", "EXPRESSION", "TIME ZONE", "ENABLED", "NEXT"], rows)

    return _show(args, client.get("/drill-schedules"), render)


def schedules_get(client: ApiClient, args: argparse.Namespace) -> int:
    return _show(args, client.get(f"/drill-schedules/{args.id}"), as_json)


def schedules_create(client: ApiClient, args: argparse.Namespace) -> int:
    return _show(args, client.post("/drill-schedules", load_file(args.file)), as_json)


def schedules_update(client: ApiClient, args: argparse.Namespace) -> int:
    return _show(args, client.put(f"/drill-schedules/{args.id}", load_file(args.file)), as_json)


def schedules_delete(client: ApiClient, args: argparse.Namespace) -> int:
    return _show(args, client.delete(f"/drill-schedules/{args.id}"), as_json)


def triggers_list(client: ApiClient, args: argparse.Namespace) -> int:
    def render(body: dict[str, Any]) -> str:
        rows = [
            (
                t["id"],
                t["planId"],
                t["mode"],
                "ARMED" if t["armed"] else "disarmed",
                f"{t['quorum']}/{len(t['alarmArns'])}",
                f"{t['sustainMinutes']} min",
                t.get("lastExecutionId") or "-",
            )
            for t in body["items"]
        ]
        return table(["ID", "PLAN", "MODE", "STATE", "QUORUM", "SUSTAIN", "LAST EXECUTION"], rows)

    return _show(args, client.get("/failover-triggers"), render)


def triggers_get(client: ApiClient, args: argparse.Namespace) -> int:
    return _show(args, client.get(f"/failover-triggers/{args.id}"), as_json)


def triggers_create(client: ApiClient, args: argparse.Namespace) -> int:
    return _show(args, client.post("/failover-triggers", load_file(args.file)), as_json)


def triggers_delete(client: ApiClient, args: argparse.Namespace) -> int:
    return _show(args, client.delete(f"/failover-triggers/{args.id}"), as_json)


def _arming(action: str) -> Any:
    def run(client: ApiClient, args: argparse.Namespace) -> int:
        view = client.post(f"/failover-triggers/{args.id}/{action}")
        return _show(args, view, lambda v: f"{v['id']}: {'ARMED' if v['armed'] else 'disarmed'} ({v['mode']})")

    return run


def triggers_audit(client: ApiClient, args: argparse.Namespace) -> int:
    def render(body: dict[str, Any]) -> str:
        rows = [(e["at"], e["actor"], e["action"], e["target"], e.get("detail", "")) for e in body["items"]]
        return table(["AT", "ACTOR", "ACTION", "TARGET", "DETAIL"], rows)

    return _show(args, client.get("/trigger-audit"), render)


def freshness(client: ApiClient, args: argparse.Namespace) -> int:
    def render(v: dict[str, Any]) -> str:
        age = "never drilled" if v.get("ageDays") is None else f"{v['ageDays']} days"
        target = f"every {v['drillEveryDays']} days" if v.get("drillEveryDays") else "no target"
        return f"{v['planId']}: last successful drill {age} ({target}){' OVERDUE' if v['overdue'] else ''}"

    return _show(args, client.get(f"/recovery-plans/{args.plan}/drill-freshness"), render)


def alarms_set(client: ApiClient, args: argparse.Namespace) -> int:
    result = client.post(f"/_local/alarms/{args.name}", {"state": args.state})
    return _show(args, result, lambda r: f"{r['alarmArn']} -> {r['state']} at {r['time']}")


def events_tail(client: ApiClient, args: argparse.Namespace) -> int:
    """Print drwave's bus events as they pass, until interrupted (or --count events)."""
    after = int(client.get("/_local/events", {"after": 10**12})["last"]) if not args.from_start else 0
    printed = 0
    while True:
        page = client.request("GET", "/_local/events", query={"after": after})
        for item in page["items"]:
            after = item["sequence"]
            event = item["event"]
            hidden_aws = item["bus"] == "default" and not args.aws
            if hidden_aws or (args.detail_type and event["detail-type"] not in args.detail_type):
                continue
            detail = event.get("detail") or {}
            if args.json:
                out(as_json(event))
            else:
                keys = ("executionId", "waveId", "status", "reason", "triggerId", "scheduleId")
                shown = " ".join(f"{k}={detail[k]}" for k in keys if detail.get(k))
                out(f"{event['time']}  {event['source']:<14} {event['detail-type']:<28} {shown}")
            printed += 1
            if args.count and printed >= args.count:
                return 0
        time.sleep(args.interval)


def add_trigger_commands(commands: Any, leaf: Any) -> None:
    """Register the commands on the `drwave` subparsers."""
    schedules = commands.add_parser("schedules", help="drill schedules (EventBridge Scheduler; DRILL only)")
    sub = schedules.add_subparsers(dest="action", required=True)
    leaf(sub, "list", schedules_list, "list drill schedules and their next firing")
    leaf(sub, "get", schedules_get, "show one drill schedule").add_argument("id")
    file_arg(leaf(sub, "create", schedules_create, "create a drill schedule from a YAML/JSON file"))
    update = leaf(sub, "update", schedules_update, "replace a drill schedule")
    update.add_argument("id")
    file_arg(update)
    leaf(sub, "delete", schedules_delete, "delete a drill schedule").add_argument("id")

    triggers = commands.add_parser("triggers", help="failover triggers (CloudWatch alarms -> failover)")
    sub = triggers.add_subparsers(dest="action", required=True)
    leaf(sub, "list", triggers_list, "list failover triggers")
    leaf(sub, "get", triggers_get, "show one trigger and its alarms' last seen states").add_argument("id")
    file_arg(leaf(sub, "create", triggers_create, "create a trigger (always disarmed)"))
    leaf(sub, "delete", triggers_delete, "delete a trigger").add_argument("id")
    leaf(sub, "arm", _arming("arm"), "arm a trigger (admin; audited)").add_argument("id")
    leaf(sub, "disarm", _arming("disarm"), "disarm a trigger (admin; audited)").add_argument("id")
    leaf(sub, "audit", triggers_audit, "who created, changed, armed or disarmed what")

    check = leaf(commands, "freshness", freshness, "age of a plan's last successful drill against drillEveryDays")
    check.add_argument("plan")

    alarms = commands.add_parser("alarms", help="local CloudWatch alarms (drwave serve only)")
    sub = alarms.add_subparsers(dest="action", required=True)
    setting = leaf(sub, "set", alarms_set, "set an alarm's state; AWS's state-change event goes to the bus")
    setting.add_argument("name")
    setting.add_argument("state", type=str.upper, choices=["OK", "ALARM", "INSUFFICIENT_DATA"])

    events = commands.add_parser("events", help="the local bus's events (drwave serve only)")
    sub = events.add_subparsers(dest="action", required=True)
    tail = leaf(sub, "tail", events_tail, "print drwave's bus events live (Ctrl-C to stop)")
    tail.add_argument("--detail-type", action="append", help="only this detail-type (repeatable)")
    tail.add_argument("--aws", action="store_true", help="also AWS's events on the default bus (aws.drs, alarms)")
    tail.add_argument("--from-start", action="store_true", help="start with the events already kept")
    tail.add_argument("--count", type=int, help="stop after this many events")
    tail.add_argument("--interval", type=float, default=0.5, help="seconds between polls")
