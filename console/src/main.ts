// drwave web console: hash-routed pages over the console's read-model routes, polled for live updates.
import { ApiError, Offline, SignedOut, chooseRole, chosenRole } from "./api";
import { completeSignIn, deployed, loadConfig, signOut } from "./auth";
import { Identity, loadIdentity } from "./identity";
import { capacityPage, executionPage, executionsPage, groupsPage, plansPage } from "./pages";

export interface Page {
  stop(): void;
}

let current: Page | null = null;

function route(): void {
  current?.stop();
  const main = document.getElementById("main") as HTMLElement;
  const [path, query = ""] = (location.hash.replace(/^#/, "") || "/executions").split("?");
  const params = new URLSearchParams(query);
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  for (const link of document.querySelectorAll<HTMLAnchorElement>("nav a")) {
    const here = link.getAttribute("href") === `#/${parts[0] ?? "executions"}`;
    if (here) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (parts[0] === "executions" && parts[1]) current = executionPage(main, parts[1]);
  else if (parts[0] === "plans") current = plansPage(main);
  else if (parts[0] === "groups") current = groupsPage(main);
  else if (parts[0] === "capacity") current = capacityPage(main);
  else current = executionsPage(main, params);
}

async function showIdentity(): Promise<void> {
  const who = document.getElementById("whoami") as HTMLElement;
  try {
    const me: Identity = await loadIdentity();
    who.textContent = `${me.identity} (${me.role})`;
  } catch (err) {
    if (err instanceof SignedOut) who.textContent = "signing in…";
    else if (err instanceof Offline) who.textContent = "server unreachable";
    else who.textContent = err instanceof ApiError ? err.message : String(err);
  }
}

/** Deployed (config.json): finish a hosted UI sign-in if this load is its callback, swap the local identity switch
 * for a sign-out button. Locally: nothing to do. */
async function setUpSignIn(): Promise<void> {
  if (!(await loadConfig()) || !deployed()) return;
  (document.getElementById("local-identity") as HTMLElement).hidden = true;
  const out = document.getElementById("signout") as HTMLButtonElement;
  out.hidden = false;
  out.addEventListener("click", signOut);
  try {
    await completeSignIn();
  } catch (err) {
    (document.getElementById("whoami") as HTMLElement).textContent = String(err instanceof Error ? err.message : err);
  }
}

async function start(): Promise<void> {
  await setUpSignIn();
  const select = document.getElementById("role") as HTMLSelectElement;
  select.value = chosenRole();
  select.addEventListener("change", () => {
    chooseRole(select.value);
    void showIdentity().then(route);
  });
  window.addEventListener("hashchange", route);
  void showIdentity().then(route);
}

void start();
