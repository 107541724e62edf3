"""The CLI commands that talk to a running stack over HTTP: groups, plans, preflight, servers, executions, invoke.

Readable tables by default, `--json` for the API's raw JSON. Exit codes: 0 done, 2 the API refused the request
(4xx) or a bad file/argument, 1 the service failed (5xx) or nothing answers at --url, 3 an execution watched to its
end did not complete (or a pre-flight check found problems).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from drwave.control.invoke import owner_of
from drwave.models.plan import ProtectionGroup, RecoveryPlan
from drwave_local.cli.auth import AuthError, TokenStore, bearer_token
from drwave_local.cli.client import (
    CLIENT_ERROR_CODES,
    ApiClient,
    ApiError,
    FileError,
    Unreachable,
    default_url,
    is_loopback,
    load_file,
)
from drwave_local.cli.report import duration_text

CLIENT_COMMANDS = frozenset({"groups", "plans", "preflight", "servers", "executions", "invoke"}) | frozenset(
    {"schedules", "triggers", "alarms", "events", "freshness"}  # drwave_local.cli.trigger_commands
)
# Commands backed by the local server's own routes (/_local/...): a deployed stack has no such thing.
LOCAL_ONLY_COMMANDS = frozenset({"invoke", "alarms", "events"})
OK_STATUSES = frozenset({"COMPLETED", "COMPLETED_WITH_WARNINGS"})
TERMINAL_STATUSES = OK_STATUSES | {"FAILED", "CANCELLED"}
FUNCTIONS = ("query", "execution", "data-management")
# How long `--watch` waits for a requested execution to appear before giving up (polls).
APPEAR_POLLS = 30

Handler = Callable[[ApiClient, argparse.Namespace], int]


# --- output helpers -----------------------------------------------------------------------------------------


def out(text: str = "") -> None:
    """One line (or block) on stdout, flushed: --watch output must appear as it happens."""
    print(text, flush=True)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns; `-` for empty cells."""
    cells = [[str(c) if c not in (None, "") else "-" for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def as_json(value: Any) -> str:
    """Indented JSON, as the API returned it."""
    return json.dumps(value, indent=2, sort_keys=False)


def _show(args: argparse.Namespace, value: Any, render: Callable[[Any], str]) -> int:
    out(as_json(value) if args.json else render(value))
    return 0


def _yaml(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True).rstrip()


def _tags(tags: dict[str, str] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in (tags or {}).items())


# --- protection groups ----------------------------------------------------------------------------------------


def _selection(group: dict[str, Any]) -> str:
    if group.get("sourceServerIds") is not None:
        return f"{len(group['sourceServerIds'])} server id(s)"
    return "tags " + ", ".join(f"{t['key']}={t['value']}" for t in group.get("serverSelectionTags") or [])


def groups_list(client: ApiClient, args: argparse.Namespace) -> int:
    """drwave groups list"""

    def render(body: dict[str, Any]) -> str:
        rows = [(g["id"], g["name"], g.get("accountId"), g.get("region"), _selection(g)) for g in body["items"]]
        return table(("id", "name", "account", "region", "selection"), rows)

    return _show(args, client.get("/protection-groups"), render)


def groups_get(client: ApiClient, args: argparse.Namespace) -> int:
    """drwave groups get ID"""
    return _show(args, client.get(f"/protection-groups/{args.id}"), _yaml)


def groups_create(client: ApiClient, args: argparse.Namespace) -> int:
    """drwave groups create -f FILE (one group, or a plan file's protectionGroups)."""
    body = load_file(args.file)
    if "protectionGroups" in body:
        return _create_groups(client, args, body["protectionGroups"])
    try:
        created = client.post("/protection-groups", body)
    except ApiError as err:
        raise err.in_file(args.file) from None
    return _show(args, created, lambda g: f"created protection group {g['id']} ({_selection(g)})")


def _create_groups(client: ApiClient, args: argparse.Namespace, groups: Any) -> int:
    """Create a plan file's groups, keeping any that already exist."""
    if not isinstance(groups, list):
        raise FileError(f"{args.file}: protectionGroups: must be a list")
    results = []
    for index, group in enumerate(groups):
        try:
            results.append({"id": client.post("/protection-groups", group)["id"], "result": "created"})
        except ApiError as err:
            if err.code != "CONFLICT" or not isinstance(group, dict):
                raise err.in_file(args.file, f"protectionGroups[{index}].") from None
            results.append({"id": group.get("id"), "result": "exists, kept"})
        if not args.json:
            assumed = _assumed_region(group, client)
            out(f"protection group {results[-1]['id']}: {results[-1]['result']}{assumed}")
    if args.json:
        out(as_json({"protectionGroups": results}))
    return 0


def groups_update(client: ApiClient, args: argparse.Namespace) -> int:
    """drwave groups update ID -f FILE"""
    body = load_file(args.file)
    try:
        updated = client.put(f"/protection-groups/{args.id}", body)
    except ApiError as err:
        raise err.in_file(args.file) from None
    return _show(args, updated, lambda g: f"updated protection group {g['id']}")


def groups_delete(client: ApiClient, args: argparse.Namespace) -> int:
    """drwave groups delete ID"""
    return _show(args, client.delete(f"/protection-groups/{args.id}"), lambda _: f"deleted protection group {args.id}")


def groups_preview(client: ApiClient, args: argparse.Namespace) -> int:
    """drwave groups preview ID"""

    def render(body: dict[str, Any]) -> str:
        head = f"protection group {body['groupId']} ({body['accountId']}, {body['region']}) resolves to:"
        servers = body["sourceServers"]
        rows = [(s["sourceServerId"], s["hostname"], s["replicationState"], _tags(s["tags"])) for s in servers]
        text = f"{head}\n{table(('server', 'hostname', 'replication', 'tags'), rows)}\n{len(servers)} server(s)"
        if body.get("missing"):
            text += f"; not found in DRS: {', '.join(body['missing'])}"
        return text

    return _show(args, client.get(f"/protection-groups/{args.id}/preview"), render)


# --- recovery plans -------------------------------------------------------------------------------------------


def _plan_line(plan: dict[str, Any]) -> str:
    waves = plan.get("waves") or []
    return f"{plan['id']} ({plan['name']}): {len(waves)} wave(s): {', '.join(w['id'] for w in waves)}"


def plans_list(client: ApiClient, args: argparse.Namespace) -> int:
    """drwave plans list"""

    def render(body: dict[str, Any]) -> str:
        rows = []
        for plan in body["items"]:
            groups = {g for w in plan["waves"] for g in w["protectionGroupIds"]}
            gates = sum(1 for w in plan["waves"] if w.get("pauseBeforeWave"))
            rows.append((plan["id"], plan["name"], len(plan["waves"]), len(groups), gates))
        return table(("id", "name", "waves", "groups", "gates"), rows)

    return _show(args, client.get("/recovery-plans"), render)


def plans_get(client: ApiClient, args: argparse.Namespace) -> int:
    """drwave plans get ID"""
    return _show(args, client.get(f"/recovery-plans/{args.id}"), _yaml)


def plans_create(client: ApiClient, args: argparse.Namespace) -> int:
    """drwave plans create -f FILE: a plan, or a plan document (protectionGroups + recoveryPlan)."""
    body = load_file(args.file)
    prefix = ""
    if "recoveryPlan" in body:
        _create_groups(client, args, body.get("protectionGroups") or [])
        body, prefix = body["recoveryPlan"], "recoveryPlan."
    try:
        created = client.post("/recovery-plans", body)
    except ApiError as err:
        raise err.in_file(args.file, prefix) from None
    return _show(args, created, lambda p: f"created recovery plan {_plan_line(p)}")


def plans_apply(client: ApiClient, args: argparse.Namespace) -> int:
    """drwave plans apply -f FILE: create or update a plan document's groups and plan; print what changed."""
    body = load_file(args.file)
    documents: list[tuple[str, str, Any, str]] = []  # (kind, path, body, where in the file)
    if isinstance(body, dict) and "recoveryPlan" in body:
        groups = body.get("protectionGroups") or []
        if not isinstance(groups, list):
            raise FileError(f"{args.file}: protectionGroups: must be a list")
        documents += [
            ("protection group", "/protection-groups", g, f"protectionGroups[{i}].") for i, g in enumerate(groups)
        ]
        documents.append(("recovery plan", "/recovery-plans", body["recoveryPlan"], "recoveryPlan."))
    else:
        documents.append(("recovery plan", "/recovery-plans", body, ""))
    results = []
    for kind, path, document, where in documents:
        try:
            result, changed = _apply_one(client, path, document)
        except ApiError as err:
            raise err.in_file(args.file, where) from None
        results.append({"kind": kind, "id": document.get("id"), "result": result, "changed": changed})
        if not args.json:
            fields = f" ({', '.join(changed)})" if changed else ""
            assumed = _assumed_region(document, client) if kind == "protection group" else ""
            out(f"{kind} {document.get('id')}: {result}{fields}{assumed}")
    if args.json:
        out(as_json({"applied": results}))
    return 0


def _assumed_region(group: Any, client: ApiClient) -> str:
    """A note when a file's group names no region: the stack put it in its own Region."""
    if not isinstance(group, dict) or "region" in group or not isinstance(group.get("id"), str):
        return ""
    try:
        region = client.get(f"/protection-groups/{group['id']}").get("region")
    except ApiError:
        return ""
    return f" (no region in the file: the stack's own Region, {region}, was assumed)"


def _apply_one(client: ApiClient, path: str, document: Any) -> tuple[str, list[str]]:
    """Create the definition, or replace it if it differs; ("created" | "updated" | "unchanged", changed fields)."""
    if not isinstance(document, dict) or not isinstance(document.get("id"), str):
        client.post(path, document)  # the API names what is wrong with it
        return "created", []
    try:
        current = client.get(f"{path}/{document['id']}")
    except ApiError as err:
        if err.code != "NOT_FOUND":
            raise
        client.post(path, document)
        return "created", []
    wanted, held = _normalized(path, document), _normalized(path, current)
    if wanted is None:  # the file's definition is invalid: the API's answer to the replace names the field
        client.put(f"{path}/{document['id']}", document)
        return "updated", []
    changed = sorted(k for k in set(wanted) | set(held or {}) if wanted.get(k) != (held or {}).get(k))
    if not changed:
        return "unchanged", []
    client.put(f"{path}/{document['id']}", document)
    return "updated", changed


def _normalized(path: str, document: dict[str, Any]) -> dict[str, Any] | None:
    """A definition as the model holds it (defaults filled in, server-side fields left out); None if invalid."""
    model = RecoveryPlan if path == "/recovery-plans" else ProtectionGroup
    fields = {f.alias or name for name, f in model.model_fields.items()} | set(model.model_fields)
    try:
        return model.model_validate({k: v for k, v in document.items() if k in fields}).to_wire()
    except ValidationError:
        return None


def plans_update(client: ApiClient, args: argparse.Namespace) -> int:
    """drwave plans update ID -f FILE (a plan, or a plan document's recoveryPlan)."""
    body = load_file(args.file)
    body, prefix = (body["recoveryPlan"], "recoveryPlan.") if "recoveryPlan" in body else (body, "")
    try:
        updated = client.put(f"/recovery-plans/{args.id}", body)
    except ApiError as err:
        raise err.in_file(args.file, prefix) from None
    return _show(args, updated, lambda p: f"updated recovery plan {_plan_line(p)}")


def plans_delete(client: ApiClient, args: argparse.Namespace) -> int:
    """drwave plans delete ID"""
    return _show(args, client.delete(f"/recovery-plans/{args.id}"), lambda _: f"deleted recovery plan {args.id}")


def preflight(client: ApiClient, args: argparse.Namespace) -> int:
    """drwave preflight PLAN: 0 when nothing blocks the plan, 3 when problems were found."""
    report = client.get(f"/recovery-plans/{args.plan}/preflight")

    def render(body: dict[str, Any]) -> str:
        servers = sum(len(w["sourceServerIds"]) for w in body["waves"])
        verdict = "OK" if body["ok"] else f"{len(body['problems'])} problem(s)"
        lines = [f"pre-flight of {args.plan}: {verdict} ({len(body['waves'])} waves, {servers} servers)"]
        lines += [f"  wave {w['waveId']}: {len(w['sourceServerIds'])} server(s)" for w in body["waves"]]
        for title, items in (("problems", body["problems"]), ("warnings", body["warnings"])):
            if items:
                rows = [
                    (p["code"], p.get("waveId"), p.get("groupId") or p.get("sourceServerId"), p["message"])
                    for p in items
                ]
                lines += [f"{title}:", table(("code", "wave", "group/server", "message"), rows)]
        return "\n".join(lines)

    _show(args, report, render)
    return 0 if report["ok"] else 3


def servers(client: ApiClient, args: argparse.Namespace) -> int:
    """drwave servers [--account-id] [--region]"""

    def render(body: dict[str, Any]) -> str:
        rows = [
            (s["sourceServerId"], s["hostname"], s["replicationState"], _tags(s["tags"])) for s in body["sourceServers"]
        ]
        footer = f"{len(rows)} source server(s) in {body['accountId']} {body['region']}"
        return f"{table(('server', 'hostname', 'replication', 'tags'), rows)}\n{footer}"

    return _show(args, client.get("/source-servers", {"accountId": args.account_id, "region": args.region}), render)


# --- executions -----------------------------------------------------------------------------------------------


def executions_list(client: ApiClient, args: argparse.Namespace) -> int:
    """drwave executions list [--status] [--plan] [--type] [--limit] [--all]"""
    query: dict[str, Any] = {"status": args.status, "planId": args.plan, "executionType": args.type}
    query["limit"] = args.limit
    items: list[dict[str, Any]] = []
    token = None
    while True:
        page = client.get("/executions", {**query, "nextToken": token})
        items += page["items"]
        token = page.get("nextToken")
        if not (args.all and token):
            break
    body = {"items": items, "nextToken": token}

    def render(body: dict[str, Any]) -> str:
        rows = [(e["executionId"], e["planId"], e["executionType"], e["status"], e["createdAt"]) for e in items]
        more = "\n(more: use --all or a larger --limit)" if body["nextToken"] else ""
        return table(("execution", "plan", "type", "status", "created"), rows) + more

    return _show(args, body, render)


def _waves_table(view: dict[str, Any]) -> str:
    rows: list[tuple[Any, ...]] = []
    for w in view["waves"]:
        counts = w["servers"]
        rows.append((w["waveId"], w["status"], counts["total"], counts["launched"], counts["failed"]))
        rows[-1] += (len(w["jobIds"]), w["reason"])
    return table(("wave", "status", "servers", "launched", "failed", "jobs", "reason"), rows)


def _elapsed(view: dict[str, Any]) -> str:
    start, end = view.get("startedAt"), view.get("endedAt")
    if not (start and end):
        return "-"
    return duration_text((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds())


def _execution_text(view: dict[str, Any]) -> str:
    progress = view["progress"]
    head = (
        f"execution {view['executionId']}: {view['executionType']} of {view['planId']} -> {view['status']}\n"
        f"started by {view['startedBy']} at {view['startedAt'] or '-'}; ended {view['endedAt'] or '-'} "
        f"(simulated {_elapsed(view)}); waves {progress['waves']}, servers {progress['servers']}"
    )
    return f"{head}\n{_waves_table(view)}"


def executions_get(client: ApiClient, args: argparse.Namespace) -> int:
    """drwave executions get ID"""
    return _show(args, client.get(f"/executions/{args.id}"), _execution_text)


def executions_start(client: ApiClient, args: argparse.Namespace) -> int:
    """drwave executions start PLAN [--type] [--force] [--watch]"""
    request: dict[str, Any] = {"planId": args.plan, "executionType": args.type, "force": args.force}
    if args.recover_to:
        request["recoveryPoint"] = {"mode": "POINT_IN_TIME", "at": args.recover_to}
    if args.drill_ttl_minutes is not None:
        request["drillTtlMinutes"] = args.drill_ttl_minutes
    started = client.post("/executions", request)
    if args.json and not args.watch:
        out(as_json(started))
        return 0
    out(f"requested {started['executionType']} {started['executionId']} of plan {started['planId']}")
    for warning in started.get("warnings") or []:
        out(f"  warning {warning['code']}: {warning['message']}")
    return watch(client, started["executionId"], args.interval, args.json) if args.watch else 0


def executions_watch(client: ApiClient, args: argparse.Namespace) -> int:
    """drwave executions watch ID"""
    return watch(client, args.id, args.interval, args.json)


def watch(client: ApiClient, execution_id: str, interval: float, raw: bool = False) -> int:
    """Poll the execution every `interval` wall seconds, print what changed; 0 if it completed, else 3."""
    seen: dict[str, Any] = {}
    misses = 0
    while True:
        try:
            view = client.get(f"/executions/{execution_id}")
        except ApiError as err:
            # The execution exists once start-execution has handled the request: wait for it, briefly.
            if err.code != "NOT_FOUND" or misses >= APPEAR_POLLS:
                raise
            misses += 1
            time.sleep(interval)
            continue
        _print_changes(view, seen)
        if view["status"] in TERMINAL_STATUSES:
            break
        time.sleep(interval)
    out("")
    out(as_json(view) if raw else _execution_text(view))
    ok = view["status"] in OK_STATUSES
    out(f"{'done' if ok else 'did not complete'}: {view['status']} after {_elapsed(view)} of simulated time")
    return 0 if ok else 3


def _print_changes(view: dict[str, Any], seen: dict[str, Any]) -> None:
    # The stack's clock (simulated locally, as the server's log lines are), not this machine's: one clock on screen.
    as_of = view.get("asOf")
    stamp = f"[{datetime.fromisoformat(as_of):%H:%M:%S}]" if as_of else datetime.now(UTC).strftime("[%H:%M:%S]")
    execution_id = view["executionId"]
    if seen.get("status") != view["status"]:
        progress = view["progress"]
        out(f"{stamp}  {execution_id} {view['status']} (waves {progress['waves']}, servers {progress['servers']})")
    for wave in view["waves"]:
        counts = wave["servers"]
        state = (wave["status"], counts["launched"], counts["failed"])
        if seen.get(wave["waveId"]) == state or (wave["waveId"] not in seen and wave["status"] == "PENDING"):
            seen[wave["waveId"]] = state
            continue
        seen[wave["waveId"]] = state
        line = f"{stamp}    {wave['waveId']:<14} {wave['status']:<24}"
        if counts["total"]:
            line += f" {counts['launched']}/{counts['total']} launched, {counts['failed']} failed"
        if wave["reason"]:
            line += f" ({wave['reason']})"
        if wave["status"] == "WAITING_APPROVAL":
            line += f"  -> drwave executions approve {execution_id} {wave['waveId']}"
        out(line)
    seen["status"] = view["status"]


def _command(action: str) -> Handler:
    def run(client: ApiClient, args: argparse.Namespace) -> int:
        done = client.post(f"/executions/{args.id}/{action}")
        return _show(args, done, lambda d: f"{d['requested']}: {d['status']} for {d['executionId']}")

    return run


def executions_approve(client: ApiClient, args: argparse.Namespace) -> int:
    """drwave executions approve ID WAVE"""
    done = client.post(f"/executions/{args.id}/waves/{args.wave}/approve")
    return _show(args, done, lambda d: f"{d['requested']}: {d['status']} for {d['executionId']}")


def executions_retry(client: ApiClient, args: argparse.Namespace) -> int:
    """drwave executions retry ID WAVE"""
    started = client.post(f"/executions/{args.id}/waves/{args.wave}/retry")
    if args.watch and not args.json:
        waves = ", ".join(started["waveIds"])
        out(f"retrying {waves} of {started['retryOf']} as {started['executionId']}")
        return watch(client, started["executionId"], args.interval)
    return _show(
        args,
        started,
        lambda d: f"{d['status']}: {d['executionId']} retries {', '.join(d['waveIds'])} of {d['retryOf']}",
    )


def executions_report(client: ApiClient, args: argparse.Namespace) -> int:
    """drwave executions report ID --format html -o FILE"""
    body = client.get_bytes(f"/executions/{args.id}/report", {"format": args.format})
    if args.output is None:
        sys.stdout.write(body.decode("utf-8"))
        return 0
    try:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_bytes(body)
    except OSError as err:
        raise FileError(f"{args.output}: cannot write: {err.strerror}") from err
    print(f"wrote {args.output} ({len(body)} bytes, {args.format})")
    return 0


def executions_timeline(client: ApiClient, args: argparse.Namespace) -> int:
    """drwave executions timeline ID"""

    def render(body: dict[str, Any]) -> str:
        rows = [(e["at"], e["event"], e.get("waveId"), e.get("detail")) for e in body["timeline"]]
        return table(("at", "event", "wave", "detail"), rows)

    return _show(args, client.get(f"/executions/{args.id}/timeline"), render)


def executions_instances(client: ApiClient, args: argparse.Namespace) -> int:
    """drwave executions instances ID"""

    def render(body: dict[str, Any]) -> str:
        rows = [
            (i["recoveryInstanceId"], i["sourceServerId"], i["waveId"], i["ec2InstanceId"], i["state"])
            for i in body["instances"]
        ]
        text = table(("recovery instance", "source server", "wave", "ec2 instance", "state"), rows)
        return f"{text}\n{body['count']} recovery instance(s)"

    return _show(args, client.get(f"/executions/{args.id}/recovery-instances"), render)


def executions_terminate(client: ApiClient, args: argparse.Namespace) -> int:
    """drwave executions terminate ID"""
    done = client.post(f"/executions/{args.id}/terminate-instances")

    def render(d: dict[str, Any]) -> str:
        return f"terminating {len(d['recoveryInstanceIds'])} recovery instance(s): DRS job {d['jobId']}"

    return _show(args, done, render)


# --- direct invocation ----------------------------------------------------------------------------------------


def invoke(client: ApiClient, args: argparse.Namespace) -> int:
    """drwave invoke '<json>' [--function]: like `aws lambda invoke`, routed to the operation's owner."""
    try:
        payload = json.loads(args.payload)
    except ValueError as err:
        raise FileError(f"payload: not valid JSON: {err}") from None
    operation = payload.get("operation") if isinstance(payload, dict) else None
    owner = owner_of(str(operation)) if operation else None
    function = args.function or (owner.value if owner else "query")
    result = client.invoke(function, payload)
    out(as_json(result))
    if isinstance(result, dict) and "error" in result:
        code = str(result["error"])
        print(f"drwave: error: {code} from the {function} function: {result.get('message', '')}", file=sys.stderr)
        return 2 if code in CLIENT_ERROR_CODES else 1
    return 0


# --- wiring ---------------------------------------------------------------------------------------------------


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url",
        "--api-url",
        dest="url",
        default=default_url(),
        help="the API: `drwave serve`'s, or a deployed stack's ApiUrl after `drwave login` "
        "(default $DRWAVE_API_URL, $DRWAVE_URL or %(default)s)",
    )
    common.add_argument(
        "--role", help="local identity switch (drwave serve only): admin, operator or viewer (X-Drwave-Role)"
    )
    common.add_argument("--user", help="local identity switch (drwave serve only): the caller's name (X-Drwave-User)")
    common.add_argument("--json", action="store_true", help="print the API's raw JSON")
    return common


class _Leaves:
    """Adds leaf commands that share the connection options."""

    def __init__(self) -> None:
        self.common = _common()

    def __call__(self, group: Any, name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = group.add_parser(name, parents=[self.common], help=help_text)
        parser.set_defaults(handler=handler)
        return parser


def file_arg(parser: argparse.ArgumentParser) -> None:
    """-f FILE."""
    parser.add_argument("-f", "--file", type=Path, required=True, help="YAML or JSON definition")


def add_client_commands(commands: Any) -> None:
    """Register the HTTP client commands on the `drwave` subparsers."""
    leaf = _Leaves()
    _definitions(commands, leaf)
    _executions(commands, leaf)
    direct = leaf(commands, "invoke", invoke, "direct invocation: '{\"operation\": ...}' to the function owning it")
    direct.add_argument("payload", help="JSON payload with an 'operation'")
    direct.add_argument("--function", choices=FUNCTIONS, help="send to this function instead of the owner")
    from drwave_local.cli.trigger_commands import add_trigger_commands  # noqa: PLC0415 - it imports this module

    add_trigger_commands(commands, leaf)


def _definitions(commands: Any, leaf: _Leaves) -> None:
    groups = commands.add_parser("groups", help="protection groups (talks to `drwave serve`)")
    sub = groups.add_subparsers(dest="action", required=True)
    leaf(sub, "list", groups_list, "list protection groups")
    leaf(sub, "get", groups_get, "show one group (YAML)").add_argument("id")
    file_arg(leaf(sub, "create", groups_create, "create a group (or a plan file's protectionGroups)"))
    update = leaf(sub, "update", groups_update, "replace a group")
    update.add_argument("id")
    file_arg(update)
    leaf(sub, "delete", groups_delete, "delete a group no plan uses").add_argument("id")
    leaf(sub, "preview", groups_preview, "the servers a group resolves to now").add_argument("id")

    plans = commands.add_parser("plans", help="recovery plans (talks to `drwave serve`)")
    sub = plans.add_subparsers(dest="action", required=True)
    leaf(sub, "list", plans_list, "list recovery plans")
    leaf(sub, "get", plans_get, "show one plan (YAML)").add_argument("id")
    file_arg(leaf(sub, "create", plans_create, "create a plan; a plan file also creates its missing groups"))
    file_arg(leaf(sub, "apply", plans_apply, "create or update a plan file's groups and plan (idempotent)"))
    update = leaf(sub, "update", plans_update, "replace a plan")
    update.add_argument("id")
    file_arg(update)
    leaf(sub, "delete", plans_delete, "delete a plan").add_argument("id")

    check = leaf(commands, "preflight", preflight, "pre-flight check of a plan (exit 3 if it finds problems)")
    check.add_argument("plan")
    inventory = leaf(commands, "servers", servers, "DRS source servers and their replication state")
    inventory.add_argument("--account-id")
    inventory.add_argument("--region")


def _executions(commands: Any, leaf: _Leaves) -> None:
    executions = commands.add_parser("executions", help="start, watch and control executions")
    sub = executions.add_subparsers(dest="action", required=True)
    listing = leaf(sub, "list", executions_list, "list executions, newest first")
    listing.add_argument("--status")
    listing.add_argument("--plan")
    listing.add_argument("--type", type=str.upper, choices=["DRILL", "RECOVERY"])
    listing.add_argument("--limit", type=int, default=50, help="page size (1-100)")
    listing.add_argument("--all", action="store_true", help="follow every page")
    leaf(sub, "get", executions_get, "an execution's status and waves").add_argument("id")
    start = leaf(sub, "start", executions_start, "start a plan (exit 3 with --watch if it does not complete)")
    start.add_argument("plan")
    start.add_argument("--type", type=str.upper, choices=["DRILL", "RECOVERY"], default="DRILL")
    start.add_argument("--force", action="store_true", help="admin: start although pre-flight found problems")
    start.add_argument("--watch", action="store_true", help="follow it to its end")
    start.add_argument("--recover-to", help="ISO 8601 instant: each server's newest PIT snapshot at or before it")
    start.add_argument("--drill-ttl-minutes", type=int, help="terminate the drill's instances this long after it ends")
    follow = leaf(sub, "watch", executions_watch, "follow an execution to its end (exit 3 if it does not complete)")
    follow.add_argument("id")
    retry = leaf(sub, "retry", executions_retry, "retry a failed wave and the waves it blocked, as a new execution")
    retry.add_argument("id")
    retry.add_argument("wave", help="the failed wave's id")
    retry.add_argument("--watch", action="store_true", help="follow the new execution to its end")
    for parser in (start, follow, retry):
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls (default 1)")
    for action in ("pause", "resume", "cancel"):
        leaf(sub, action, _command(action), f"{action} an execution").add_argument("id")
    approve = leaf(sub, "approve", executions_approve, "approve a wave's gate")
    approve.add_argument("id")
    approve.add_argument("wave", help="wave id (or 1-based wave number)")
    leaf(sub, "timeline", executions_timeline, "an execution's audit timeline").add_argument("id")
    leaf(sub, "instances", executions_instances, "recovery instances an execution launched").add_argument("id")
    report = leaf(sub, "report", executions_report, "save an execution's evidence report (html, md or json)")
    report.add_argument("id")
    report.add_argument("--format", choices=["html", "md", "json"], default="html")
    report.add_argument("-o", "--output", type=Path, help="file to write (default: print it)")
    leaf(sub, "terminate", executions_terminate, "terminate an ended execution's recovery instances").add_argument("id")


class RemoteRefused(Exception):
    """A command or option that works only against `drwave serve` was aimed at a deployed stack (or no login)."""


def connect(args: argparse.Namespace, store: TokenStore | None = None) -> ApiClient:
    """The client for --url: the local identity headers for `drwave serve`, the cached login's ID token for a
    deployed stack (any URL off this machine, or one `drwave login` signed in to)."""
    store = store or TokenStore()
    session = store.get(args.url)
    if session is None and is_loopback(args.url):
        return ApiClient(args.url, role=args.role, user=args.user)
    chosen = [name for name, value in (("--role", args.role), ("--user", args.user)) if value]
    if chosen:
        raise RemoteRefused(
            f"{'/'.join(chosen)}: the local identity switch works only against `drwave serve`; at {args.url} you act "
            "as the user `drwave login` signed in, with the groups Cognito gives them"
        )
    if args.command in LOCAL_ONLY_COMMANDS:
        raise RemoteRefused(
            f"`drwave {args.command}` works only against `drwave serve` (at {args.url}: use the AWS CLI, "
            "e.g. `aws lambda invoke`, `aws cloudwatch set-alarm-state`)"
        )
    if session is None:
        raise RemoteRefused(
            f"not signed in to {args.url}: run `drwave login --stack NAME` (or `drwave login --api-url {args.url} "
            "--user-pool-id ID --client-id ID`)"
        )
    return ApiClient(args.url, bearer=bearer_token(session, store))


def run_client_command(args: argparse.Namespace) -> int:
    """Run one client command; errors go to stderr with the exit codes in this module's docstring."""
    try:
        client = connect(args)
        code: int = args.handler(client, args)
    except (RemoteRefused, AuthError) as err:
        print(f"drwave: error: {err}", file=sys.stderr)
        return 2
    except ApiError as err:
        lines = err.lines()
        print(f"drwave: error: {lines[0]}", file=sys.stderr)
        for line in lines[1:]:
            print(line, file=sys.stderr)
        if err.status == 401 and not is_loopback(args.url):
            print(f"  the API did not accept the sign-in: run `drwave login` again for {args.url}", file=sys.stderr)
        return err.exit_code
    except FileError as err:
        print(f"drwave: error: {err}", file=sys.stderr)
        return 2
    except Unreachable as err:
        print(f"drwave: error: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `drwave ... | head`: the reader left; stay quiet at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("drwave: interrupted (a started execution keeps running on the server)", file=sys.stderr)
        return 130
    return code
