// The console's pages. Each returns a Page whose stop() ends its polling when the operator navigates away.
import { ApiError, Offline, call, get, post } from "./api";
import { badge, duration, h, replace, table, time } from "./dom";
import { waveGraph } from "./graph";
import { may } from "./identity";
import type { Page } from "./main";

const EXECUTION_POLL_MS = 1000;
const LIST_POLL_MS = 2000;
const MAX_BACKOFF_MS = 5000;
const STATUSES = ["PENDING", "RUNNING", "WAITING_APPROVAL", "PAUSED", "CANCELLING", "CANCELLED", "COMPLETED", "COMPLETED_WITH_WARNINGS", "FAILED"];

type Json = Record<string, any>;

// --- shared: connection banner, notices, polling --------------------------------------------------------------

function connection(ok: boolean, detail = ""): void {
  const banner = document.getElementById("connection") as HTMLElement;
  if (ok) {
    banner.hidden = true;
    banner.textContent = "";
  } else {
    banner.hidden = false;
    banner.textContent = `Connection to the drwave server lost${detail ? ` (${detail})` : ""}; retrying…`;
  }
}

export function notice(text: string, error = false): void {
  const box = document.getElementById("notice") as HTMLElement;
  box.setAttribute("role", error ? "alert" : "status");
  box.className = error ? "notice error" : "notice";
  box.textContent = text;
}

function describe(err: unknown): string {
  if (err instanceof ApiError) {
    const details = err.details.map((d) => d.message ?? `${d.field}: ${d.reason}`).filter(Boolean);
    return `${err.status} ${err.code}: ${err.message}${details.length ? ` (${details.join("; ")})` : ""}`;
  }
  return String(err);
}

/** Run `step` now and again every `interval` ms; a lost connection backs off and shows the banner until it is back. */
function poll(interval: number, step: () => Promise<void>): Page {
  let stopped = false;
  let timer: number | undefined;
  let delay = interval;
  const run = async (): Promise<void> => {
    if (stopped) return;
    try {
      await step();
      connection(true);
      delay = interval;
    } catch (err) {
      if (err instanceof Offline) {
        connection(false, err.message);
        delay = Math.min(delay * 2, MAX_BACKOFF_MS);
      } else {
        connection(true);
        throw err;
      }
    } finally {
      if (!stopped) timer = window.setTimeout(() => void run().catch(() => undefined), delay);
    }
  };
  void run().catch(() => undefined);
  return {
    stop() {
      stopped = true;
      window.clearTimeout(timer);
    },
  };
}

async function act(label: string, path: string, body: unknown = {}): Promise<Json | null> {
  try {
    const answer = await post<Json>(path, body);
    notice(`${label}: requested.`);
    return answer;
  } catch (err) {
    notice(`${label} refused: ${describe(err)}`, true);
    return null;
  }
}

function button(label: string, key: string, onClick: () => void, kind = ""): HTMLButtonElement {
  return h("button", { type: "button", class: kind, "data-key": key, onclick: () => onClick() }, label);
}

function heading(main: HTMLElement, title: string, ...rest: (Node | string)[]): HTMLElement {
  document.title = `${title} · drwave`;
  const h1 = h("h1", { tabindex: "-1" }, title);
  replace(main, h1, ...rest);
  return h1;
}

// --- executions list -----------------------------------------------------------------------------------------

export function executionsPage(main: HTMLElement, params: URLSearchParams): Page {
  const results = h("div", { "aria-live": "polite" });
  const filters = h("form", { class: "filters", "aria-label": "Filter executions" });
  heading(main, "Executions", filters, results);
  const planSelect = h("select", { id: "f-plan", name: "planId" }, h("option", { value: "" }, "any plan"));
  const typeSelect = h(
    "select",
    { id: "f-type", name: "executionType" },
    ...["", "DRILL", "RECOVERY"].map((t) => h("option", { value: t }, t || "any type")),
  );
  const statusSelect = h(
    "select",
    { id: "f-status", name: "status" },
    h("option", { value: "" }, "any status"),
    ...STATUSES.map((st) => h("option", { value: st }, st.replaceAll("_", " "))),
  );
  filters.append(
    h("label", { for: "f-plan" }, "Plan"),
    planSelect,
    h("label", { for: "f-type" }, "Type"),
    typeSelect,
    h("label", { for: "f-status" }, "Status"),
    statusSelect,
  );
  typeSelect.value = params.get("executionType") ?? "";
  statusSelect.value = params.get("status") ?? "";
  void get<{ items: Json[] }>("/recovery-plans")
    .then(({ items }) => {
      for (const plan of items) planSelect.append(h("option", { value: plan.id }, `${plan.name} (${plan.id})`));
      planSelect.value = params.get("planId") ?? "";
    })
    .catch(() => undefined);
  filters.addEventListener("change", () => {
    const query = new URLSearchParams();
    for (const select of [planSelect, typeSelect, statusSelect]) if (select.value) query.set(select.name, select.value);
    location.hash = `#/executions${query.size ? `?${query}` : ""}`;
  });
  let last = "";
  return poll(LIST_POLL_MS, async () => {
    const query = new URLSearchParams();
    for (const name of ["planId", "executionType", "status"]) if (params.get(name)) query.set(name, params.get(name)!);
    const page = (await call<{ items: Json[] }>("GET", `/console/executions?${query}`)).body!;
    const text = JSON.stringify(page);
    if (text === last) return;
    last = text;
    if (!page.items.length) {
      replace(results, h("p", {}, "No executions match. Start one from ", h("a", { href: "#/plans" }, "Plans"), "."));
      return;
    }
    const rows = page.items.map((item) => {
      const summary = item.summary ?? {};
      return [
        h("a", { href: `#/executions/${encodeURIComponent(item.executionId)}` }, item.executionId),
        item.planId,
        item.executionType,
        badge(summary.status ?? item.status),
        time(item.createdAt),
        summary.wavesTotal === undefined ? "—" : `${summary.wavesDone}/${summary.wavesTotal}`,
        summary.serversTotal === undefined ? "—" : `${summary.serversLaunched}/${summary.serversTotal} (${summary.serversFailed} failed)`,
      ];
    });
    replace(results, table("Executions, newest first", ["Execution", "Plan", "Type", "Status", "Created", "Waves done", "Servers launched"], rows, "executions"));
  });
}

// --- one execution, live --------------------------------------------------------------------------------------

export function executionPage(main: HTMLElement, executionId: string): Page {
  const body = h("div", {});
  heading(main, `Execution ${executionId}`, body);
  const path = `/console/executions/${encodeURIComponent(executionId)}`;
  let etag: string | undefined;
  let view: Json | null = null;
  let timeline: Json[] = [];
  let page: Page | null = null;

  const refresh = (): void => {
    etag = undefined;
  };
  const command = (label: string, suffix: string) => async (): Promise<void> => {
    await act(label, `/executions/${encodeURIComponent(executionId)}${suffix}`);
    refresh();
  };

  const render = (): void => {
    if (!view) return;
    const summary: Json = view.summary ?? {};
    const actions: Json = view.actions;
    const started = summary.startedAt ? Date.parse(summary.startedAt) : NaN;
    const until = summary.endedAt ? Date.parse(summary.endedAt) : Date.parse(view.asOf);
    const rto = Number.isNaN(started) ? "—" : `${duration((until - started) / 1000)}${summary.endedAt ? "" : " so far"}`;
    const buttons: HTMLElement[] = [];
    if (actions.pause) buttons.push(button("Pause", "pause", command("Pause", "/pause")));
    if (actions.resume) buttons.push(button("Resume", "resume", command("Resume", "/resume")));
    if (actions.cancel)
      buttons.push(
        button("Cancel execution", "cancel", () => {
          if (confirm(`Cancel ${executionId}? No new wave will start.`)) void command("Cancel", "/cancel")();
        }, "danger"),
      );
    if (actions.terminate)
      buttons.push(
        button("Terminate recovery instances", "terminate", () => {
          if (confirm(`Terminate every recovery instance of ${executionId}?`)) void command("Terminate instances", "/terminate-instances")();
        }, "danger"),
      );
    const approvals = (actions.approve as string[]).map((waveId) => {
      const wave = view!.waves.find((w: Json) => w.waveId === waveId);
      return h(
        "div",
        { class: "gate", role: "group", "aria-label": `Approval gate of wave ${waveId}` },
        h("strong", {}, `Wave ${waveId} is waiting for approval. `),
        wave?.gate?.message ? h("span", {}, wave.gate.message, " ") : null,
        wave?.state?.gateOpenedAt ? h("span", {}, `Waiting since ${time(wave.state.gateOpenedAt)}; times out after ${wave.gate?.timeoutMinutes} min. `) : null,
        button(`Approve wave ${waveId}`, `approve-${waveId}`, command(`Approve ${waveId}`, `/waves/${encodeURIComponent(waveId)}/approve`), "primary"),
      );
    });
    const facts = h(
      "dl",
      { class: "facts" },
      ...fact(
        "Status",
        h("span", {}, badge(summary.status ?? "PENDING"), summary.status === "WAITING_APPROVAL" ? " an approval gate waits for an approver" : ""),
      ),
      ...fact("Plan", `${view.planName} (${view.planId})`),
      ...fact("Type", summary.executionType ?? "—"),
      ...fact("Started by", summary.startedBy ?? "—"),
      ...fact("Started", time(summary.startedAt)),
      ...fact("Ended", time(summary.endedAt)),
      ...fact("RTO", rto),
      ...fact("Waves", summary.wavesTotal === undefined ? "—" : `${summary.wavesDone}/${summary.wavesTotal} done`),
      ...fact(
        "Servers",
        summary.serversTotal === undefined ? "—" : `${summary.serversLaunched}/${summary.serversTotal} launched, ${summary.serversFailed} failed`,
      ),
      ...(summary.retryOf ? fact("Retry of", h("a", { href: `#/executions/${summary.retryOf}` }, summary.retryOf)) : []),
      ...(summary.pausedBy ? fact("Paused by", summary.pausedBy) : []),
    );
    const graph = waveGraph(
      view.waves.map((w: Json) => ({
        waveId: w.waveId,
        name: w.name,
        dependsOn: w.dependsOn,
        status: w.state?.status ?? "PENDING",
        gated: Boolean(w.gate),
      })),
    );
    const waves = view.waves.map((w: Json) => waveSection(w, actions.retry.includes(w.waveId), executionId));
    replace(
      body,
      h("section", { "aria-label": "Summary", class: "summary", "data-status": summary.status ?? "PENDING", id: "summary" }, facts,
        buttons.length ? h("div", { class: "actions", role: "group", "aria-label": "Execution actions" }, ...buttons) : null),
      ...approvals,
      h("section", { "aria-labelledby": "graph-h" }, h("h2", { id: "graph-h" }, "Wave graph"), h("div", { class: "graph-wrap" }, graph)),
      h("section", { "aria-labelledby": "waves-h" }, h("h2", { id: "waves-h" }, "Waves"), ...waves),
      h(
        "section",
        { "aria-labelledby": "timeline-h" },
        h("h2", { id: "timeline-h" }, "Timeline"),
        table("Audit timeline, oldest first", ["At", "Event", "Wave", "Detail"], timeline.map((e) => [time(e.at), e.event, e.waveId ?? "", e.detail ?? ""]), "timeline"),
      ),
    );
  };

  page = poll(EXECUTION_POLL_MS, async () => {
    try {
      const answer = await call<Json>("GET", path, undefined, etag);
      if (answer.status === 304) return;
      view = answer.body;
      etag = answer.etag ?? undefined;
      timeline = (await get<{ timeline: Json[] }>(`/executions/${encodeURIComponent(executionId)}/timeline`)).timeline;
      render();
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        view = null;
        etag = undefined;
        replace(body, h("p", { class: "error" }, `No execution ${executionId} on this server (a restarted local server starts empty). `,
          h("a", { href: "#/executions" }, "All executions")));
        return;
      }
      throw err;
    }
  });
  return page;
}

function fact(name: string, value: Node | string): HTMLElement[] {
  return [h("div", { class: "fact" }, h("dt", {}, name), h("dd", {}, value))];
}

function waveSection(wave: Json, retry: boolean, executionId: string): HTMLElement {
  const state: Json = wave.state ?? {};
  const servers: Json[] = wave.servers;
  const id = `wave-${wave.waveId}`;
  const title = wave.name && wave.name !== wave.waveId ? `${wave.waveNumber}. ${wave.waveId}: ${wave.name}` : `${wave.waveNumber}. ${wave.waveId}`;
  return h(
    "section",
    { class: "wave", id, "aria-labelledby": `${id}-h`, "data-status": state.status ?? "PENDING" },
    h("h3", { id: `${id}-h` }, title, " ", badge(state.status ?? "PENDING")),
    h(
      "p",
      { class: "meta" },
      wave.dependsOn.length ? `After ${wave.dependsOn.join(", ")}. ` : "First wave. ",
      wave.gate ? `Approval gate (${wave.gate.timeoutMinutes} min). ` : "",
      state.approvedBy ? `Approved by ${state.approvedBy}. ` : "",
      state.startedAt ? `Started ${time(state.startedAt)}. ` : "",
      state.endedAt ? `Ended ${time(state.endedAt)}. ` : "",
      state.jobIds?.length ? `DRS jobs: ${state.jobIds.join(", ")}.` : "",
    ),
    state.reason ? h("p", { class: "reason" }, `Reason: ${state.reason}`) : null,
    ...(state.warnings ?? []).map((w: string) => h("p", { class: "warning" }, `Warning: ${w}`)),
    retry
      ? button(`Retry wave ${wave.waveId}`, `retry-${wave.waveId}`, async () => {
          const answer = await act(`Retry ${wave.waveId}`, `/executions/${encodeURIComponent(executionId)}/waves/${encodeURIComponent(wave.waveId)}/retry`);
          if (answer?.executionId) location.hash = `#/executions/${encodeURIComponent(answer.executionId)}`;
        })
      : null,
    servers.length
      ? table(
          `Servers of wave ${wave.waveId}`,
          ["Source server", "Launch status", "DRS job", "Recovery instance", "Error"],
          servers.map((sv) => [sv.sourceServerId, badge(sv.launchStatus), sv.jobId ?? "—", sv.recoveryInstanceId ?? "—", sv.error ?? ""]),
          `servers-${wave.waveId}`,
        )
      : h("p", { class: "meta" }, "Servers are resolved when the wave starts."),
  );
}

// --- plans -----------------------------------------------------------------------------------------------------

export function plansPage(main: HTMLElement): Page {
  const list = h("div", {});
  heading(main, "Recovery plans", list);
  void get<{ items: Json[] }>("/recovery-plans").then(({ items }) => {
    if (!items.length) {
      replace(list, h("p", {}, "No recovery plans: create one with `drwave plans create -f PLAN.yaml`."));
      return;
    }
    replace(list, ...items.map(planCard));
  }).catch((err) => replace(list, h("p", { class: "error" }, describe(err))));
  return { stop() {} };
}

function planCard(plan: Json): HTMLElement {
  const result = h("div", { "aria-live": "polite" });
  const start = async (type: string): Promise<void> => {
    if (type === "RECOVERY" && !confirm(`Start a RECOVERY of ${plan.id}? This launches production recovery instances.`)) return;
    const answer = await act(`Start ${type} of ${plan.id}`, "/executions", { planId: plan.id, executionType: type });
    if (answer?.executionId) location.hash = `#/executions/${encodeURIComponent(answer.executionId)}`;
  };
  const preflight = async (): Promise<void> => {
    replace(result, h("p", {}, "Running pre-flight…"));
    try {
      const report = await get<Json>(`/recovery-plans/${encodeURIComponent(plan.id)}/preflight`);
      replace(
        result,
        h("p", { class: report.ok ? "ok" : "error" }, report.ok ? "Pre-flight passed." : `Pre-flight found ${report.problems.length} problem(s).`),
        report.problems.length ? h("ul", { class: "problems" }, ...report.problems.map((p: Json) => h("li", {}, `${p.code}: ${p.message}`))) : null,
        report.warnings.length ? h("ul", { class: "warnings" }, ...report.warnings.map((p: Json) => h("li", {}, `${p.code}: ${p.message}`))) : null,
        table(`Servers per wave of ${plan.id}`, ["Wave", "Source servers"], report.waves.map((w: Json) => [w.waveId, `${w.sourceServerIds.length}: ${w.sourceServerIds.join(", ")}`])),
      );
    } catch (err) {
      replace(result, h("p", { class: "error" }, describe(err)));
    }
  };
  return h(
    "section",
    { class: "card", "aria-labelledby": `plan-${plan.id}` },
    h("h2", { id: `plan-${plan.id}` }, `${plan.name} (${plan.id})`),
    plan.description ? h("p", {}, plan.description) : null,
    table(
      `Waves of ${plan.id}`,
      ["Wave", "After", "Protection groups", "Gate", "Failure policy"],
      plan.waves.map((w: Json) => [w.id, (w.dependsOn ?? []).join(", ") || "—", (w.protectionGroupIds ?? []).join(", "), w.pauseBeforeWave ? `${w.pauseBeforeWave.timeoutMinutes ?? 60} min` : "—", w.failurePolicy ?? "STOP"]),
    ),
    h(
      "div",
      { class: "actions", role: "group", "aria-label": `Actions on ${plan.id}` },
      button("Run pre-flight", `preflight-${plan.id}`, () => void preflight()),
      may("start_drill") ? button("Start DRILL", `drill-${plan.id}`, () => void start("DRILL"), "primary") : null,
      may("start_recovery") ? button("Start RECOVERY", `recovery-${plan.id}`, () => void start("RECOVERY"), "danger") : null,
      h("a", { href: `#/executions?planId=${encodeURIComponent(plan.id)}` }, "Executions of this plan"),
    ),
    result,
  );
}

// --- protection groups -----------------------------------------------------------------------------------------

export function groupsPage(main: HTMLElement): Page {
  const list = h("div", {});
  heading(main, "Protection groups", list);
  void get<{ items: Json[] }>("/protection-groups").then(({ items }) => {
    replace(list, ...(items.length ? items.map(groupCard) : [h("p", {}, "No protection groups.")]));
  }).catch((err) => replace(list, h("p", { class: "error" }, describe(err))));
  return { stop() {} };
}

function groupCard(group: Json): HTMLElement {
  const preview = h("div", { "aria-live": "polite" });
  const selection = group.sourceServerIds
    ? `${group.sourceServerIds.length} explicit servers`
    : `servers tagged ${Object.entries(group.serverSelectionTags ?? {}).map(([k, v]) => `${k}=${v}`).join(" and ")}`;
  const load = async (): Promise<void> => {
    try {
      const answer = await get<Json>(`/protection-groups/${encodeURIComponent(group.id)}/preview`);
      replace(
        preview,
        table(
          `Members of ${group.id} right now (${answer.sourceServers.length})`,
          ["Source server", "Hostname", "Replication", "Tags"],
          answer.sourceServers.map((sv: Json) => [sv.sourceServerId, sv.hostname ?? "", badge(sv.replicationState), Object.entries(sv.tags ?? {}).map(([k, v]) => `${k}=${v}`).join(", ")]),
        ),
        answer.missing.length ? h("p", { class: "error" }, `Not DRS source servers here: ${answer.missing.join(", ")}`) : null,
      );
    } catch (err) {
      replace(preview, h("p", { class: "error" }, describe(err)));
    }
  };
  return h(
    "section",
    { class: "card", "aria-labelledby": `group-${group.id}` },
    h("h2", { id: `group-${group.id}` }, `${group.name} (${group.id})`),
    h("p", { class: "meta" }, `${selection}; account ${group.accountId ?? "(the stack's)"}, ${group.region}.`),
    button("Preview membership", `preview-${group.id}`, () => void load()),
    preview,
  );
}

// --- DRS capacity ------------------------------------------------------------------------------------------------

export function capacityPage(main: HTMLElement): Page {
  const body = h("div", {});
  heading(main, "DRS capacity", body);
  return poll(LIST_POLL_MS, async () => {
    const { items } = (await call<{ items: Json[] }>("GET", "/console/capacity")).body!;
    replace(
      body,
      table(
        "Capacity in use per account and Region",
        ["Account", "Region", "Active jobs", "Servers in active jobs", "Waves waiting for capacity"],
        items.map((c) => [c.accountId, c.region, `${c.activeJobs} / ${c.maxActiveJobs}`, `${c.serversInActiveJobs} / ${c.maxServersInActiveJobs}`, String(c.wavesWaiting)]),
        "capacity",
      ),
    );
  });
}
