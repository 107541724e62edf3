// Calls to the drwave API. Served by `drwave serve`: the page's own origin, with the local identity (role) kept in
// localStorage and sent as X-Drwave-Role, which only the local server honours. Deployed (config.json): the stack's
// API URL, with the hosted UI sign-in's ID token as `Authorization: Bearer`, and no local identity at all.
import { deployed, idToken, signIn } from "./auth";

export const ROLE_KEY = "drwave.role";
export const ROLE_HEADER = "X-Drwave-Role";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: { field?: string; reason?: string; message?: string }[] = [],
  ) {
    super(message);
  }
}

/** The connection failed (server down or restarting), as opposed to an answer the API refused. */
export class Offline extends Error {}

export interface Answer<T> {
  status: number;
  etag: string | null;
  body: T | null;
}

export function chosenRole(): string {
  return localStorage.getItem(ROLE_KEY) ?? "";
}

export function chooseRole(role: string): void {
  if (role) localStorage.setItem(ROLE_KEY, role);
  else localStorage.removeItem(ROLE_KEY);
}

/** The caller is signed out (deployed console): the page sends them to the hosted UI. */
export class SignedOut extends Error {}

export async function call<T>(method: string, path: string, body?: unknown, ifNoneMatch?: string): Promise<Answer<T>> {
  const headers: Record<string, string> = { Accept: "application/json" };
  const config = deployed();
  if (config) {
    const token = await idToken();
    if (!token) {
      await signIn();
      throw new SignedOut("signing in");
    }
    headers.Authorization = `Bearer ${token}`;
  } else {
    const role = chosenRole();
    if (role) headers[ROLE_HEADER] = role;
  }
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (ifNoneMatch) headers["If-None-Match"] = ifNoneMatch;
  let response: Response;
  try {
    response = await fetch(config ? config.apiUrl + path : path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: config ? "omit" : "same-origin", // the token is the credential; no cookie goes cross-site
    });
  } catch (err) {
    throw new Offline(String(err));
  }
  const etag = response.headers.get("ETag");
  if (response.status === 304) return { status: 304, etag, body: null };
  const text = await response.text();
  let parsed: any = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    if (response.status >= 500) throw new Offline(`HTTP ${response.status}`);
  }
  if (!response.ok) {
    const code = parsed?.error ?? `HTTP_${response.status}`;
    throw new ApiError(response.status, code, parsed?.message ?? text, parsed?.details ?? []);
  }
  return { status: response.status, etag, body: parsed as T };
}

export async function get<T>(path: string): Promise<T> {
  return (await call<T>("GET", path)).body as T;
}

export async function post<T>(path: string, body: unknown = {}): Promise<T> {
  return (await call<T>("POST", path, body)).body as T;
}
